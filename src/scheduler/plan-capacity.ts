/**
 * The capacity check of `gantry plan`: which pods a plan would add, and whether they fit on
 * the nodes next to what already runs.
 */
import type { Plan } from '../diff/types.js';
import type { Node, Pod } from '../model/types.js';
import { checkCapacity, podsForWorkload, type CapacityResult } from './capacity.js';

/** The outcome of {@link planCapacity}. */
export interface PlanCapacity extends CapacityResult {
  /** Pods the plan adds (replicas of created workloads, extra replicas of scaled-up ones). */
  added: number;
  /** Of those, DaemonSet pods (one per eligible node). */
  daemonPods: number;
  nodes: number;
}

/**
 * Counts the pods a plan adds and simulates scheduling them. A created workload adds all its
 * pods; an updated one adds the difference in pod count (a template change replaces pods one
 * for one during a rollout, so only growth needs room). Pruned workloads free room, but the
 * check does not count on it: it answers "does the new state fit alongside the current one".
 */
export function planCapacity(plan: Plan, nodes: Node[], existingPods: Pod[]): PlanCapacity {
  const added: Pod[] = [];
  let daemonPods = 0;
  for (const e of [...plan.create, ...plan.update]) {
    if (!e.desired) continue;
    const next = podsForWorkload(e.desired, { nodes });
    const before = e.action === 'update' && e.live ? podsForWorkload(e.live, { nodes }).pods.length : 0;
    const extra = next.pods.slice(before);
    if (next.perNode) daemonPods += extra.length;
    added.push(...extra);
  }
  const result = checkCapacity(added, nodes, existingPods);
  return { ...result, added: added.length, daemonPods, nodes: nodes.length };
}

/** A short report for the text and Markdown renderings of a plan. */
export function renderCapacity(c: PlanCapacity, format: 'text' | 'markdown'): string {
  const head = format === 'markdown' ? '### Capacity\n\n' : 'Capacity: ';
  if (c.added === 0) return `${head}the plan adds no pods.`;
  const where = Object.entries(c.placements).sort(([a], [b]) => a.localeCompare(b)).map(([n, k]) => `${n}: ${k}`).join(', ');
  const daemon = c.daemonPods > 0 ? ` (${c.daemonPods} DaemonSet pod${c.daemonPods === 1 ? '' : 's'})` : '';
  if (c.fits) return `${head}${c.added} new pod${c.added === 1 ? '' : 's'}${daemon} fit on ${c.nodes} node${c.nodes === 1 ? '' : 's'} (${where}).`;
  const lines = c.unschedulable.map((u) => `${format === 'markdown' ? '- ' : '  '}${u.pod}: ${u.message}`);
  return `${head}${c.unschedulable.length} of ${c.added} new pods would not fit${daemon}:\n${lines.join('\n')}`;
}
