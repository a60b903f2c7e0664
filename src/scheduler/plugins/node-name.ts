/**
 * NodeName: a pod that names its node (`spec.nodeName`) fits only there.
 */
import type { FilterPlugin } from './types.js';

const REASON = ["node(s) didn't match the requested node name"] as const;

/** The NodeName filter. */
export const nodeNameFilter: FilterPlugin = {
  name: 'NodeName',
  preFilter(state) {
    return Boolean(state.pod.pod.spec.nodeName);
  },
  filter(state, node) {
    return state.pod.pod.spec.nodeName === node.name ? null : REASON;
  },
};
