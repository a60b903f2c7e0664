/**
 * NodeUnschedulable: a cordoned node (`spec.unschedulable`) takes no new pods, unless the pod
 * tolerates the `node.kubernetes.io/unschedulable:NoSchedule` taint.
 */
import type { FilterPlugin } from './types.js';
import { tolerated } from './taint-toleration.js';

const REASON = ['node(s) were unschedulable'] as const;
const UNSCHEDULABLE_TAINT = { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' } as const;

/** The NodeUnschedulable filter. */
export const nodeUnschedulableFilter: FilterPlugin = {
  name: 'NodeUnschedulable',
  filter(state, node) {
    if (!node.unschedulable) return null;
    return tolerated(state.pod.tolerations, UNSCHEDULABLE_TAINT) ? null : REASON;
  },
};
