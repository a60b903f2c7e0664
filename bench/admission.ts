/**
 * Admission costs, through the pure paths the sync loop and the scheduler take:
 *
 * - a revision of 10,000 objects (2,000 bare Pods among them) in 50 namespaces, each with a
 *   LimitRange and a ResourceQuota: admitting it whole (defaults, priority, quota charged), a
 *   one-Pod change to it, and a resync that changes nothing;
 * - preemption on 1,000 nodes full of low-priority pods: finding the node and victims for one
 *   high-priority pod, and a pod for which no preemption helps (nothing of lower priority), the
 *   case the scheduler meets again and again for pods that fit nowhere.
 */
import { makePlan } from '../src/diff/plan.js';
import type { KubeObject, Node, Pod } from '../src/model/types.js';
import { cacheFrom } from '../src/scheduler/cache.js';
import { findPreemption } from '../src/scheduler/preemption.js';
import { admitPlan } from '../src/sync/admission.js';
import type { DesiredObject } from '../src/sync/types.js';
import { percentile } from './stats.js';

const NAMESPACES = 50;

function revision(count: number, variant = 0): DesiredObject[] {
  const out: DesiredObject[] = [];
  const at = (object: KubeObject, i: number): DesiredObject => ({ object, source: { file: `${object.metadata.namespace ?? 'cluster'}/objects.yaml`, line: i + 1, document: i } });
  for (let n = 0; n < NAMESPACES; n++) {
    const ns = `team-${n}`;
    out.push(at({ apiVersion: 'v1', kind: 'LimitRange', metadata: { name: 'defaults', namespace: ns }, spec: { limits: [{ type: 'Container', default: { cpu: '200m', memory: '64Mi' }, defaultRequest: { cpu: '100m', memory: '32Mi' }, max: { cpu: '2' } }] } }, out.length));
    out.push(at({ apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'compute', namespace: ns }, spec: { hard: { pods: '1000', 'requests.cpu': '100', 'requests.memory': '100Gi', configmaps: '1000' } } }, out.length));
  }
  for (let i = out.length; i < count; i++) {
    const ns = `team-${i % NAMESPACES}`;
    const object: KubeObject = i % 5 === 0
      ? { apiVersion: 'v1', kind: 'Pod', metadata: { name: `p-${i}`, namespace: ns }, spec: { containers: [{ name: 'c', image: `busybox:${i === 1000 ? 1 + variant : 1}` }] } }
      : { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `c-${i}`, namespace: ns }, data: { k: String(i) } };
    out.push(at(object, i));
  }
  return out;
}

function timed(fn: () => void, runs: number): number {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    fn();
    ms.push(performance.now() - t);
  }
  return Math.round(percentile(ms, 50) * 100) / 100;
}

/** The figures (milliseconds, medians). */
export async function benchAdmission(): Promise<Record<string, number | string>> {
  const desired = revision(10_000);
  // A first revision against an empty cluster (a fresh plan per run: admission fills in its Pods).
  const firstRuns: number[] = [];
  for (let i = 0; i < 5; i++) {
    const plan = makePlan({ objects: desired }, []);
    const t = performance.now();
    const r = admitPlan(plan, []);
    firstRuns.push(performance.now() - t);
    if (r.issues.length) throw new Error(r.issues[0]!.message);
  }
  const first = Math.round(percentile(firstRuns, 50) * 100) / 100;
  // The cluster as that revision left it, then a change of one Pod's image, and a resync.
  const plan = makePlan({ objects: desired }, []);
  admitPlan(plan, []);
  const live: KubeObject[] = plan.create.map((e, i) => ({ ...e.desired!, metadata: { ...e.desired!.metadata, uid: `u${i}`, resourceVersion: String(i + 1) } }));
  const changePlan = makePlan({ objects: revision(10_000, 1) }, live);
  const resyncPlan = makePlan({ objects: desired }, live);
  const oneChange = timed(() => void admitPlan(changePlan, live), 5);
  const resync = timed(() => void admitPlan(resyncPlan, live), 5);
  const planOnly = timed(() => void makePlan({ objects: desired }, live), 5);

  // Preemption: 1,000 nodes of 4 cores, each full with 4 low-priority pods of 1 core.
  const nodes: Node[] = Array.from({ length: 1000 }, (_, i) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name: `n${String(i).padStart(4, '0')}` }, spec: {}, status: { allocatable: { cpu: '4', memory: '16Gi', pods: '110' } } }));
  const pods: Pod[] = nodes.flatMap((n, i) => Array.from({ length: 4 }, (_, j) => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: `low-${i}-${j}`, namespace: 'default', uid: `l${i}-${j}`, labels: { app: 'low' } },
    spec: { nodeName: n.metadata.name, priority: j === 0 ? 10 : 100, containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu: '1' } } }] },
    status: { phase: 'Running' },
  } as Pod)));
  const cache = cacheFrom(nodes, pods);
  const high: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'high', namespace: 'default' }, spec: { priority: 1000, containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu: '1' } } }] } };
  const equal: Pod = { ...high, metadata: { name: 'same', namespace: 'default' }, spec: { ...high.spec, priority: 10 } };
  const preempt = timed(() => {
    if (!findPreemption(high, cache, { budgets: [] }).candidate) throw new Error('no candidate');
  }, 5);
  const hopeless = timed(() => void findPreemption(equal, cache, { budgets: [] }), 5);
  return {
    'objects (pods, in namespaces with a LimitRange and a quota)': `10000 (2000, ${NAMESPACES})`,
    'admit a first revision (ms)': first,
    'admit a one-pod change (ms)': oneChange,
    'admit a resync that changes nothing (ms)': resync,
    'plan of the same resync, for scale (ms)': planOnly,
    'preemption, 1,000 full nodes, 4,000 pods: find node and victims (ms)': preempt,
    'preemption that cannot help (nothing of lower priority) (ms)': hopeless,
  };
}
