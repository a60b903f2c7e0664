/**
 * The agent's in-memory view of the pods it runs: per pod its network and, per container, the
 * current containerd instance and what Kubernetes reports about it. Rebuilt from containerd's
 * labels and task states (plus the last status in the store) when the agent restarts.
 */
import type { Container, ContainerStateTerminated, ContainerStateWaiting, Condition, Pod } from '../../model/types.js';
import type { ContainerKind } from './labels.js';

/** One container of a pod, as the agent tracks it. */
export interface ContainerRuntime {
  name: string;
  kind: ContainerKind;
  /** An init container with `restartPolicy: Always`: started in order, kept running, stopped last. */
  sidecar?: boolean;
  /** Restarts so far; also the suffix of the current instance's containerd id. */
  restartCount: number;
  /** containerd id of the current instance, when one exists. */
  id?: string;
  /** What the current instance is doing: none yet, running, or exited (`terminated`). */
  phase: 'none' | 'running' | 'exited';
  startedAt?: string;
  /** Exit of the current instance, when `phase` is exited. */
  terminated?: ContainerStateTerminated;
  /** The previous instance's exit (Kubernetes' lastState). */
  lastTerminated?: ContainerStateTerminated;
  /** Why the container is not running (image pull, config error, back-off). */
  waiting?: ContainerStateWaiting;
  /** Set when a probe (`liveness`, `startup`) or a failed postStart hook asked for a restart. */
  killRequested?: 'liveness' | 'startup' | 'postStart';
  /** A graceful stop of the current instance under way (deletion or a probe's kill); see termination.ts. */
  stopping?: import('./termination.js').StopProgress;
  /** The kernel OOM-killed the current instance. */
  oomKilled?: boolean;
  /** Readiness (probe result, or running without a readiness probe). */
  ready: boolean;
  /** The startup probe succeeded (or there is none) while running. */
  started: boolean;
  /** Image as the spec names it, and its resolved id (`name@digest`). */
  image: string;
  imageID: string;
  /** Signal that stops it gracefully (the image's STOPSIGNAL; SIGTERM when unset). */
  stopSignal?: number;
  /** PID 1 of the current instance on the host (for tests and adoption checks). */
  pid?: number;
  /** The current instance's OCI process, which exec probes and hooks run as. */
  process?: Record<string, unknown>;
  /**
   * The current instance's postStart hook is still running: the container is not started (nor
   * ready, nor probed) until it succeeds, and the pod's next containers wait, as in the kubelet.
   */
  postStartRunning?: boolean;
}

/** One pod, as the agent tracks it. */
export interface PodRuntime {
  uid: string;
  namespace: string;
  name: string;
  podIP?: string;
  /** The network namespace path once the sandbox is up. */
  netnsPath?: string;
  /** CNI setup of that namespace while it runs in the background (containers are created meanwhile). */
  networkSetup?: Promise<void>;
  startTime?: string;
  init: Map<string, ContainerRuntime>;
  app: Map<string, ContainerRuntime>;
  /** Per container name, the OCI mounts of its volumes (from the VolumeManager). */
  mounts?: Map<string, import('../containerd/spec.js').SpecMount[]>;
  /** resourceVersions of the ConfigMaps/Secrets/claims the volumes were last prepared from. */
  refsVersion?: string;
  /** A pod-level condition problem (e.g. CreateContainerConfigError for volumes). */
  configError?: string;
  /** Why the volumes cannot be mounted yet (reported once per message as a FailedMount event). */
  mountError?: string;
  /** Conditions as last written, to keep their lastTransitionTime. */
  conditions: Condition[];
  /** The pod reached Succeeded/Failed: nothing runs any more. */
  terminal?: 'Succeeded' | 'Failed';
  /** Machine-readable reason of a terminal pod (e.g. DeadlineExceeded). */
  reason?: string;
  /** Failure message of a terminal pod. */
  message?: string;
  /** The sandbox was released after the pod finished. */
  released?: boolean;
  /**
   * Every init container completed (sidecars: started) once: from then on app containers run,
   * and a sidecar's restart never holds them back.
   */
  initialized?: boolean;
  /** When the pod's sidecars must be gone (epoch ms), once its app containers finished for good. */
  sidecarsDeadline?: number;
  /** Start milestones already observed for the start latency metrics (start-latency.ts). */
  startSeen?: import('./start-latency.js').StartMilestones;
}

/** A fresh container entry. */
export function newContainer(name: string, kind: ContainerKind, image: string, sidecar = false): ContainerRuntime {
  return { name, kind, restartCount: 0, phase: 'none', ready: false, started: false, image, imageID: '', ...(sidecar ? { sidecar } : {}) };
}

/** The runtime entry of a container of `rt`, created on first sight. */
export function containerEntry(rt: PodRuntime, kind: ContainerKind, spec: { name: string; image: string; restartPolicy?: string }): ContainerRuntime {
  const map = kind === 'init' ? rt.init : rt.app;
  let c = map.get(spec.name);
  if (!c) {
    c = newContainer(spec.name, kind, spec.image, kind === 'init' && spec.restartPolicy === 'Always');
    map.set(spec.name, c);
  }
  return c;
}

/** The pod's sidecars (init containers with `restartPolicy: Always`), in their order. */
export function sidecars(rt: PodRuntime): ContainerRuntime[] {
  return [...rt.init.values()].filter((c) => c.sidecar);
}

/** The pod's spec of a container entry. */
export function specOf(pod: Pod, c: { kind: ContainerKind; name: string }): Container | undefined {
  return (c.kind === 'init' ? pod.spec.initContainers ?? [] : pod.spec.containers).find((s) => s.name === c.name);
}

/** Every container entry of the pod, init containers first. */
export function allContainers(rt: PodRuntime): ContainerRuntime[] {
  return [...rt.init.values(), ...rt.app.values()];
}

/** The Event field path of a container, as the kubelet names it (`spec.containers{web}`). */
export function fieldPath(c: { kind: 'init' | 'app'; name: string }): string {
  return `spec.${c.kind === 'init' ? 'initContainers' : 'containers'}{${c.name}}`;
}

/** The pod a runtime stands for, as far as an Event's involvedObject needs it. */
export function podObject(rt: { name: string; namespace: string; uid: string }): { apiVersion: string; kind: string; metadata: { name: string; namespace: string; uid: string } } {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: rt.name, namespace: rt.namespace, uid: rt.uid } };
}
