/**
 * Labels gantry puts on its containerd containers, and the deterministic container ids built from
 * them. The labels are how a restarted agent finds (and adopts) what it started before; the ids
 * make creation idempotent: one (pod uid, container, restart count) is one containerd id, so a
 * retried or repeated start can never produce a duplicate.
 */

/** Label keys on every containerd container the agent creates. */
export const ContainerLabels = {
  podUid: 'gantry.dev/pod-uid',
  podName: 'gantry.dev/pod-name',
  podNamespace: 'gantry.dev/pod-namespace',
  container: 'gantry.dev/container',
  restartCount: 'gantry.dev/restart-count',
  kind: 'gantry.dev/kind',
} as const;

/** Init or app container. */
export type ContainerKind = 'init' | 'app';

/** What the labels of one containerd container say. */
export interface LabelledContainer {
  id: string;
  podUid: string;
  podName: string;
  podNamespace: string;
  container: string;
  restartCount: number;
  kind: ContainerKind;
}

/** containerd's id rule, which gantry's ids must satisfy. */
const ID_RULE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,75}$/;

/**
 * The containerd id of a pod container instance: `<podUid>-<container>-<restartCount>`, with
 * characters outside containerd's id alphabet replaced and the container part shortened so the
 * whole fits 76 characters. A short hash of the full name keeps shortened names distinct.
 */
export function containerIdFor(podUid: string, container: string, restartCount: number): string {
  const uid = podUid.replace(/[^A-Za-z0-9_.-]/g, '_');
  let name = container.replace(/[^A-Za-z0-9_.-]/g, '_');
  const tail = `-${restartCount}`;
  const room = 76 - uid.length - 1 - tail.length;
  if (name.length > room) name = `${name.slice(0, Math.max(1, room - 9))}.${fnv(container)}`.slice(0, Math.max(1, room));
  const id = `${uid}-${name}${tail}`;
  return ID_RULE.test(id) ? id : `g${id}`.slice(0, 76);
}

/** 8 hex digits of FNV-1a, enough to tell shortened names apart. */
function fnv(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/** The labels for a container instance. */
export function containerLabels(opts: { podUid: string; podName: string; podNamespace: string; container: string; restartCount: number; kind: ContainerKind }): Record<string, string> {
  return {
    [ContainerLabels.podUid]: opts.podUid,
    [ContainerLabels.podName]: opts.podName,
    [ContainerLabels.podNamespace]: opts.podNamespace,
    [ContainerLabels.container]: opts.container,
    [ContainerLabels.restartCount]: String(opts.restartCount),
    [ContainerLabels.kind]: opts.kind,
  };
}

/** Reads gantry's labels back; undefined for containers gantry's agent did not create. */
export function parseContainerLabels(id: string, labels: Record<string, string> | undefined): LabelledContainer | undefined {
  const l = labels ?? {};
  const podUid = l[ContainerLabels.podUid];
  const container = l[ContainerLabels.container];
  if (!podUid || !container) return undefined;
  const restartCount = Number(l[ContainerLabels.restartCount] ?? '0');
  return {
    id,
    podUid,
    podName: l[ContainerLabels.podName] ?? '',
    podNamespace: l[ContainerLabels.podNamespace] ?? '',
    container,
    restartCount: Number.isInteger(restartCount) && restartCount >= 0 ? restartCount : 0,
    kind: l[ContainerLabels.kind] === 'init' ? 'init' : 'app',
  };
}
