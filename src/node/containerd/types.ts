/**
 * TypeScript shapes of the containerd messages gantry uses, as @grpc/proto-loader produces them
 * with `keepCase: true, longs: Number, enums: String, defaults: true` (snake_case field names).
 */
import type { AnyValue } from './proto.js';

export type { AnyValue } from './proto.js';

/** `google.protobuf.Timestamp` on the wire. */
export interface Timestamp {
  seconds: number;
  nanos: number;
}

/** `containerd.types.Descriptor`: a content-addressed blob. */
export interface Descriptor {
  media_type: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

/** `containerd.types.Mount`. */
export interface Mount {
  type: string;
  source: string;
  target?: string;
  options: string[];
}

/** `containerd.services.content.v1.Info`. */
export interface ContentInfo {
  digest: string;
  size: number;
  created_at?: Timestamp;
  updated_at?: Timestamp;
  labels: Record<string, string>;
}

/** `containerd.services.images.v1.Image`. */
export interface ImageRecord {
  name: string;
  labels: Record<string, string>;
  target: Descriptor;
  created_at?: Timestamp;
  updated_at?: Timestamp;
}

/** `containerd.services.snapshots.v1.Info`. */
export interface SnapshotInfo {
  name: string;
  parent: string;
  kind: 'UNKNOWN' | 'VIEW' | 'ACTIVE' | 'COMMITTED';
  labels: Record<string, string>;
}

/** `containerd.services.containers.v1.Container`. */
export interface ContainerRecord {
  id: string;
  labels: Record<string, string>;
  image: string;
  runtime: { name: string; options?: AnyValue | null };
  spec: AnyValue;
  snapshotter: string;
  snapshot_key: string;
  created_at?: Timestamp;
  updated_at?: Timestamp;
}

/** Task status as containerd reports it. */
export type TaskStatus = 'UNKNOWN' | 'CREATED' | 'RUNNING' | 'STOPPED' | 'PAUSED' | 'PAUSING';

/** `containerd.v1.types.Process`, with `exited_at` converted to a Date. */
export interface ProcessState {
  container_id: string;
  id: string;
  pid: number;
  status: TaskStatus;
  exit_status: number;
  exited_at?: Date;
}

/** The result of a task/process exit (Wait or Delete). */
export interface ExitResult {
  exitStatus: number;
  exitedAt?: Date;
}

/** A lease as returned by Leases.Create. */
export interface LeaseRecord {
  id: string;
  labels: Record<string, string>;
}

/** Payload of `/tasks/exit` (`containerd.events.TaskExit`). */
export interface TaskExitEvent {
  container_id: string;
  /** The process id: equals container_id for the init process, the exec id otherwise. */
  id: string;
  pid: number;
  exit_status: number;
  exited_at?: Date;
}

/** Payload of `/tasks/start`. */
export interface TaskStartEvent {
  container_id: string;
  pid: number;
}

/** Payload of `/tasks/oom`. */
export interface TaskOOMEvent {
  container_id: string;
}

/** Payload of `/tasks/delete`. */
export interface TaskDeleteEvent {
  container_id: string;
  id: string;
  pid: number;
  exit_status: number;
  exited_at?: Date;
}

/**
 * One event from Events.Subscribe with its payload decoded. `kind` narrows the payload for the
 * events gantry models; everything else is `kind: 'other'` with the decoded payload (or undefined
 * when gantry's protos do not know the type).
 */
export type ContainerdEvent = EventBase &
  (
    | { kind: 'TaskExit'; event: TaskExitEvent }
    | { kind: 'TaskStart'; event: TaskStartEvent }
    | { kind: 'TaskOOM'; event: TaskOOMEvent }
    | { kind: 'TaskDelete'; event: TaskDeleteEvent }
    | { kind: 'other'; event: Record<string, unknown> | undefined }
  );

/** Fields every event carries. */
export interface EventBase {
  /** Bare payload type name, e.g. `containerd.events.TaskExit`. */
  type: string;
  timestamp?: Date;
  namespace: string;
  /** e.g. `/tasks/exit`, `/containers/create`, `/images/create`. */
  topic: string;
}

/** One entry of Tasks.Metrics: a task's cgroup statistics, still encoded (see cgroup-metrics.ts). */
export interface TaskMetric {
  /** The container id. */
  id: string;
  /** When the shim read the statistics. */
  timestamp?: Date;
  /** `io.containerd.cgroups.v1.Metrics` or `io.containerd.cgroups.v2.Metrics`. */
  data?: import('./proto.js').AnyValue;
}
