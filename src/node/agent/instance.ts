/**
 * Creating and starting one instance of a pod's container: its image (pulled or found), its OCI
 * spec, the containerd container and task, the start. Failures before the process runs become
 * the container's waiting reason (ImagePullBackOff, CreateContainerConfigError,
 * CreateContainerError); the caller turns the outcome into the container's state.
 */
import { errorMessage, isGantryError } from '../../errors.js';
import type { Container } from '../../model/types.js';
import { createContainer, deleteContainer, startTask } from '../containerd/run.js';
import type { LocalImage } from '../images/image-store.js';
import { stopSignal } from './container-config.js';
import { buildContainerSpec, type BuiltContainer } from './container-spec.js';
import type { ContainerTarget, SyncContext } from './context.js';
import { credentialsFromSecrets } from './images.js';
import { containerIdFor, containerLabels } from './labels.js';
import { fieldPath } from './runtime.js';
import type { Sandbox } from './sandbox.js';

/** What became of a start. */
export type StartOutcome =
  | {
      kind: 'started';
      id: string;
      restartCount: number;
      built: BuiltContainer;
      pid: number;
      /** Started now (false: an instance already running under this id was taken over). */
      fresh: boolean;
    }
  /** The process could not start (the instance exists, its task failed). */
  | { kind: 'startError'; id: string; message: string }
  /** Not created: the container's waiting reason says why, and a retry is queued. */
  | { kind: 'waiting' };

/**
 * Creates and starts instance `restartCount` of a container, removing the previous instance.
 * @param parts.forget called with the previous instance's id before it is deleted (its probes).
 */
export async function createInstance(ctx: SyncContext, parts: { sandbox: Sandbox; forget: (id: string) => void }, t: ContainerTarget, restartCount: number): Promise<StartOutcome> {
  const { pod, rt, c, spec } = t;
  const { o } = ctx;
  const client = o.client;
  const refs = await parts.sandbox.references(pod);
  const pullSecrets = [...refs.secrets.values()].filter((s) => (pod.spec.imagePullSecrets ?? []).some((r) => r.name === s.metadata.name));
  const image = await o.images.ensure(rt.uid, spec, {
    auth: credentialsFromSecrets(pullSecrets),
    report: (ev) => o.api.events.emit(pod, ev.type, ev.reason, ev.message, { fieldPath: fieldPath(c) }),
  });
  if (!('chainId' in image)) {
    // After the image's own event, the container's, as the kubelet: "Error: ImagePullBackOff".
    o.api.events.emit(pod, 'Warning', 'Failed', `Error: ${image.reason}`, { fieldPath: fieldPath(c) });
    c.waiting = { reason: image.reason, message: image.message };
    if (image.retryAfterMs !== undefined) o.requeue(rt.uid, image.retryAfterMs);
    return { kind: 'waiting' };
  }
  c.imageID = imageId(image);
  c.stopSignal = stopSignal(image.config);
  // The env may name the pod IP (fieldRef status.podIP): then the spec waits for the network.
  if (usesPodIP(spec)) await parts.sandbox.waitNetwork(rt);
  let built: BuiltContainer;
  try {
    built = await buildContainerSpec(o, t, { image, refs });
  } catch (err) {
    if (isGantryError(err, 'RuntimeUnavailable')) throw err;
    c.waiting = { reason: 'CreateContainerConfigError', message: errorMessage(err) };
    o.requeue(rt.uid, 10_000);
    return { kind: 'waiting' };
  }
  const id = containerIdFor(rt.uid, spec.name, restartCount);
  if (c.id && c.id !== id) {
    parts.forget(c.id);
    ctx.containerIndex.delete(c.id);
    await deleteContainer(client, c.id);
  }
  // Deterministic ids make this idempotent: an instance that already exists is taken over,
  // never created twice.
  const existing = await client.getContainerRecord(id);
  if (existing) {
    const task = await client.getTask(id);
    if (task && (task.status === 'RUNNING' || task.status === 'PAUSED')) return { kind: 'started', id, restartCount, built, pid: task.pid, fresh: false };
    await deleteContainer(client, id);
  }
  const logPath = o.logs.pathFor(rt.uid, spec.name, restartCount);
  try {
    await o.startLimit(() => createContainer(client, {
      id,
      image,
      spec: built.spec,
      labels: containerLabels({ podUid: rt.uid, podName: rt.name, podNamespace: rt.namespace, container: spec.name, restartCount, kind: c.kind }),
      stdoutPath: logPath,
      stderrPath: logPath,
      runcRoot: o.runcRoot,
    }));
  } catch (err) {
    if (isGantryError(err, 'RuntimeUnavailable')) throw err;
    o.images.forgetImage(image.digest);
    c.waiting = { reason: 'CreateContainerError', message: errorMessage(err) };
    o.requeue(rt.uid, o.backoffBaseMs);
    return { kind: 'waiting' };
  }
  ctx.containerIndex.set(id, rt.uid);
  o.api.events.emit(pod, 'Normal', 'Created', `Created container: ${spec.name}`, { fieldPath: fieldPath(c) });
  // The process must find its interfaces up.
  await parts.sandbox.waitNetwork(rt);
  try {
    const pid = await o.startLimit(() => startTask(client, id));
    o.api.events.emit(pod, 'Normal', 'Started', `Started container ${spec.name}`, { fieldPath: fieldPath(c) });
    return { kind: 'started', id, restartCount, built, pid, fresh: true };
  } catch (err) {
    if (isGantryError(err, 'RuntimeUnavailable')) throw err;
    return { kind: 'startError', id, message: errorMessage(err) };
  }
}

/** `name@digest` as Kubernetes reports imageID. */
function imageId(image: LocalImage): string {
  return `${image.name.replace(/[:@][^/]*$/, '')}@${image.digest}`;
}

/** True when the container's env takes the pod IP from the downward API. */
function usesPodIP(spec: Container): boolean {
  return (spec.env ?? []).some((e) => e.valueFrom?.fieldRef?.fieldPath === 'status.podIP' || e.valueFrom?.fieldRef?.fieldPath === 'status.podIPs');
}
