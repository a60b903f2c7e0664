/**
 * Tolerations Kubernetes gives every daemon pod, so that daemons run on troubled nodes. Shared
 * by the DaemonSet controller (which sets them) and the plan's capacity check (which predicts
 * where daemons would run).
 */
import type { Toleration } from './types.js';

/** Tolerations the DaemonSet controller adds to every daemon pod. */
export const DAEMON_TOLERATIONS: readonly Toleration[] = [
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
];
