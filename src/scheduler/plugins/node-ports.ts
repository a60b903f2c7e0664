/**
 * NodePorts: a host port may be used once per protocol and address on a node; 0.0.0.0
 * conflicts with every address.
 */
import type { NodeInfo } from '../cache.js';
import type { HostPort } from '../podinfo.js';
import type { FilterPlugin } from './types.js';

const REASON = ["node(s) didn't have free ports for the requested pod ports"] as const;

/** True when the wanted host port is already taken on the node. */
export function portConflicts(node: NodeInfo, hp: HostPort): boolean {
  const base = `${hp.protocol}/${hp.port}`;
  if (hp.ip === '0.0.0.0') return (node.ports.get(base) ?? 0) > 0;
  return (node.ports.get(`${base}/${hp.ip}`) ?? 0) > 0 || (node.ports.get(`${base}/0.0.0.0`) ?? 0) > 0;
}

/** The NodePorts filter. */
export const nodePortsFilter: FilterPlugin = {
  name: 'NodePorts',
  preFilter(state) {
    return state.pod.hostPorts.length > 0;
  },
  filter(state, node) {
    if (node.ports.size === 0) return null;
    for (const hp of state.pod.hostPorts) if (portConflicts(node, hp)) return REASON;
    return null;
  },
};
