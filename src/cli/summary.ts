/**
 * A few lines on what runs: nodes, workloads and their readiness (with their health when it is
 * not Healthy), pods by phase. Shown by `gantry status` and at the end of `gantry up`'s start-up.
 */
import { readAppState } from '../health/read.js';
import type { AppHealth, Health } from '../health/types.js';
import { objectKey } from '../model/keys.js';
import type { Deployment, DaemonSet, Job, KubeObject, Node, Pod, StatefulSet } from '../model/types.js';
import type { ReadStore } from '../store/types.js';
import { podStatus } from './printers.js';

/**
 * What the summary reports; `settled` is true when the app is healthy (every workload has its
 * pods ready, every Job done) — never while a workload is Progressing or Degraded.
 */
export interface ClusterSummary {
  lines: string[];
  settled: boolean;
  /** The app's sync and health, as `gantry status` reports them. */
  app: AppHealth;
}

function nodeReady(n: Node): boolean {
  return n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

function ns(o: KubeObject): string {
  return o.metadata.namespace && o.metadata.namespace !== 'default' ? `${o.metadata.namespace}/` : '';
}

/** Reads the store and summarises it. */
export async function clusterSummary(store: ReadStore): Promise<ClusterSummary> {
  const [nodeList, state] = await Promise.all([store.list<Node>('Node'), readAppState(store)]);
  const nodes = nodeList.items;
  // One listing of the declarable kinds serves the health and the lines.
  const ofKind = <T extends KubeObject>(kind: string): T[] => state.objects.filter((o) => o.kind === kind) as T[];
  const deployments = ofKind<Deployment>('Deployment');
  const statefulSets = ofKind<StatefulSet>('StatefulSet');
  const daemonSets = ofKind<DaemonSet>('DaemonSet');
  const jobs = ofKind<Job>('Job');
  const pods = ofKind<Pod>('Pod');
  const app = state.health;
  const healthOf = new Map(app.objects.map((o) => [o.key, o.health]));
  // "web 0/4 ready" says how far; the health says why, when it is not Healthy.
  const why = (o: KubeObject): string => note(healthOf.get(objectKey(o)));
  const lines: string[] = [];
  let settled = app.health.status === 'Healthy' || app.health.status === 'Suspended';

  lines.push(`Nodes:      ${nodes.length === 0 ? 'none registered' : nodes.map((n) => `${n.metadata.name} ${nodeReady(n) ? 'Ready' : 'NotReady'}`).join(', ')}`);
  const workloads: string[] = [];
  for (const d of deployments) {
    const want = d.spec.replicas ?? 1;
    const ready = d.status?.readyReplicas ?? 0;
    const upToDate = d.status?.updatedReplicas ?? 0;
    if (ready < want || upToDate < want) settled = false;
    workloads.push(`deployment ${ns(d)}${d.metadata.name} ${ready}/${want} ready${why(d)}`);
  }
  for (const s of statefulSets) {
    const want = s.spec.replicas ?? 1;
    const ready = s.status?.readyReplicas ?? 0;
    if (ready < want) settled = false;
    workloads.push(`statefulset ${ns(s)}${s.metadata.name} ${ready}/${want} ready${why(s)}`);
  }
  for (const d of daemonSets) {
    const want = d.status?.desiredNumberScheduled ?? 0;
    const ready = d.status?.numberReady ?? 0;
    if (ready < want) settled = false;
    workloads.push(`daemonset ${ns(d)}${d.metadata.name} ${ready}/${want} ready${why(d)}`);
  }
  for (const j of jobs) {
    const done = j.status?.conditions?.find((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
    workloads.push(`job ${ns(j)}${j.metadata.name} ${done ? done.type.toLowerCase() : `${j.status?.succeeded ?? 0}/${j.spec.completions ?? 1} done`}${why(j)}`);
  }
  if (workloads.length > 0) lines.push(`Workloads:  ${workloads.join(', ')}`);
  const byStatus = new Map<string, number>();
  for (const p of pods) byStatus.set(podStatus(p), (byStatus.get(podStatus(p)) ?? 0) + 1);
  if (pods.length > 0) {
    lines.push(`Pods:       ${[...byStatus].sort(([a], [b]) => a.localeCompare(b)).map(([s, n]) => `${n} ${s}`).join(', ')}`);
  }
  if (nodes.length === 0 && pods.length > 0) settled = false;
  return { lines, settled, app };
}

/** ` (Degraded: CrashLoopBackOff)` for a workload that is not Healthy, else nothing. */
function note(h: Health | undefined): string {
  if (!h || h.status === 'Healthy') return '';
  return ` (${h.status}${h.reason ? `: ${h.reason}` : ''})`;
}
