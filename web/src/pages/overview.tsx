/**
 * The overview: the source and the revision in force, the last attempt and its problems, what is
 * out of sync (the followed ref planned against the live state), the nodes with their capacity,
 * what pods request of it and what they use (metrics.k8s.io, refreshed at its resolution), and
 * the workloads with their health.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { Link } from 'wouter-preact';
import type { PlanResponse } from '../../../src/api/plan-types.js';
import type { Node, Pod } from '../../../src/model/types.js';
import type { SyncObject } from '../../../src/sync/status.js';
import { GANTRY, getJson } from '../api';
import { useCluster } from '../cluster';
import { HealthOf } from '../components/health';
import { age, firstLine, shortSha } from '../lib/format';
import { healthOf, worstHealth } from '../lib/health';
import { formatCpu, formatMemory, nodeLiveUsage, nodeUsage, percent, type NodeLiveUsage, type NodeMetricsList } from '../lib/resources';
import { appOf } from '../lib/tree';
import { namespaceHref, objectHref } from '../links';
import { podStatus } from '../../../src/model/columns.js';

const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet', 'CronJob', 'Job'] as const;

/** How often the nodes' usage is read again: the agents' default report period (metrics-server's resolution). */
const USAGE_REFRESH_MS = 15_000;
/** How soon it is read again while no node has figures yet (an agent's first report comes soon after it starts). */
const USAGE_FIRST_REFRESH_MS = 3_000;

/**
 * The nodes' usage from metrics.k8s.io, read now and every {@link USAGE_REFRESH_MS}; undefined
 * until the first answer, and an empty map when the server has no figures (none reported yet, or
 * a server without node agents).
 */
function useNodeMetrics(): Map<string, NodeLiveUsage> | undefined {
  const [live, setLive] = useState<Map<string, NodeLiveUsage>>();
  useEffect(() => {
    const ac = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const read = (): void => {
      void getJson<NodeMetricsList>('/apis/metrics.k8s.io/v1beta1/nodes', { signal: ac.signal })
        .then(nodeLiveUsage, () => new Map<string, NodeLiveUsage>())
        .then((figures) => {
          if (ac.signal.aborted) return;
          setLive(figures);
          timer = setTimeout(read, figures.size > 0 ? USAGE_REFRESH_MS : USAGE_FIRST_REFRESH_MS);
        });
    };
    read();
    return () => {
      clearTimeout(timer);
      ac.abort();
    };
  }, []);
  return live;
}

/** The overview page. */
export function Overview() {
  const feed = useCluster();
  const cache = feed.cache;
  const now = Date.now();
  const sync = cache.get<SyncObject>('Sync', undefined, 'default');
  const nodes = cache.list<Node>('Node');
  const pods = cache.list<Pod>('Pod');
  const live = useNodeMetrics();
  const [filter, setFilter] = useState('');
  const workloads = useMemo(() => WORKLOAD_KINDS.flatMap((k) => cache.list(k))
    // A CronJob's runs are shown under it, not as workloads of their own.
    .filter((o) => !o.metadata.ownerReferences?.some((r) => r.kind === 'CronJob')), [feed.version]);
  const shown = workloads.filter((w) => !filter || `${w.metadata.namespace}/${w.metadata.name} ${w.kind} ${appOf(w)}`.toLowerCase().includes(filter.toLowerCase()));
  const podCounts = new Map<string, number>();
  for (const p of pods) podCounts.set(podStatus(p), (podCounts.get(podStatus(p)) ?? 0) + 1);
  const overall = worstHealth(workloads.map((w) => healthOf(w).status));

  return (
    <div class="overview">
      <h1>Overview <span class="sub">{workloads.length} workloads, {pods.length} pods, {nodes.length} node{nodes.length === 1 ? '' : 's'}</span></h1>
      <div class="cards">
        <SourceCard sync={sync} now={now} />
        <OutOfSync sync={sync} />
      </div>

      <section aria-labelledby="nodes-h">
        <h2 id="nodes-h">Nodes</h2>
        <table class="grid">
          <thead><tr><th>Node</th><th>Health</th><th>CPU used</th><th>Memory used</th><th>CPU requested</th><th>Memory requested</th><th>Pods</th><th>Age</th></tr></thead>
          <tbody>
            {nodes.map((n) => {
              const use = nodeUsage(n, pods);
              const used = live?.get(n.metadata.name);
              return (
                <tr key={n.metadata.name} data-node={n.metadata.name}>
                  <td><Link href={objectHref(n)} data-row>{n.metadata.name}</Link></td>
                  <td><HealthOf health={healthOf(n)} /></td>
                  <td data-usage="cpu">{used ? <Meter amount={used.cpu} of={use.cpu.allocatable} format={formatCpu} /> : <NoUsage loading={!live} />}</td>
                  <td data-usage="memory">{used ? <Meter amount={used.memory} of={use.memory.allocatable} format={formatMemory} /> : <NoUsage loading={!live} />}</td>
                  <td><Meter amount={use.cpu.requested} of={use.cpu.allocatable} format={formatCpu} /></td>
                  <td><Meter amount={use.memory.requested} of={use.memory.allocatable} format={formatMemory} /></td>
                  <td><Meter amount={use.pods.requested} of={use.pods.allocatable} format={String} /></td>
                  <td>{age(n.metadata.creationTimestamp, now)}</td>
                </tr>
              );
            })}
            {nodes.length === 0 && <tr><td colSpan={8} class="muted">No node has registered.</td></tr>}
          </tbody>
        </table>
      </section>

      <section aria-labelledby="workloads-h">
        <h2 id="workloads-h">Workloads <span class="sub">overall <HealthOf health={{ status: overall, message: '' }} /></span></h2>
        <p class="podcounts">Pods: {[...podCounts].sort(([a], [b]) => a.localeCompare(b)).map(([s, n]) => `${n} ${s}`).join(', ') || 'none'}</p>
        <input type="search" class="filter" placeholder="Filter workloads (/)" aria-label="Filter workloads" data-filter value={filter} onInput={(e) => setFilter((e.target as HTMLInputElement).value)} />
        <table class="grid" data-testid="workloads">
          <thead><tr><th>Workload</th><th>Kind</th><th>Namespace</th><th>App</th><th>Health</th><th>Status</th></tr></thead>
          <tbody>
            {shown.map((w) => {
              const h = healthOf(w);
              return (
                <tr key={`${w.kind}/${w.metadata.namespace}/${w.metadata.name}`} data-workload={`${w.kind}/${w.metadata.namespace}/${w.metadata.name}`}>
                  <td><Link href={objectHref(w)} data-row>{w.metadata.name}</Link></td>
                  <td>{w.kind}</td>
                  <td><Link href={namespaceHref(w.metadata.namespace ?? 'default')}>{w.metadata.namespace}</Link></td>
                  <td>{appOf(w)}</td>
                  <td><HealthOf health={h} /></td>
                  <td class="msg">{h.message}</td>
                </tr>
              );
            })}
            {shown.length === 0 && <tr><td colSpan={6} class="muted">{workloads.length === 0 ? 'No workloads yet.' : 'No workload matches the filter.'}</td></tr>}
          </tbody>
        </table>
      </section>
    </div>
  );
}

/** `amount` of the node's `of`, as a bar and figures. */
function Meter({ amount, of, format }: { amount: number; of: number; format: (n: number) => string }) {
  const pct = percent({ requested: amount, allocatable: of });
  return (
    <span class="meter" title={`${format(amount)} of ${format(of)} (${pct}%)`}>
      <span class="bar" aria-hidden="true"><span class={pct >= 90 ? 'hot' : ''} style={{ width: `${Math.min(100, pct)}%` }} /></span>
      {format(amount)} / {format(of)} <span class="muted">({pct}%)</span>
    </span>
  );
}

/** A node without usage figures: still loading, or none reported (yet). */
function NoUsage({ loading }: { loading: boolean }) {
  return loading
    ? <span class="muted">…</span>
    : <span class="muted" title="No usage reported for this node yet: its agent reports every 15 s by default">not reported</span>;
}

function SourceCard({ sync, now }: { sync?: SyncObject; now: number }) {
  const [cp, setCp] = useState<{ identity: string; leading: boolean; leader?: string }>();
  useEffect(() => {
    void getJson<{ controlPlane?: typeof cp }>(`${GANTRY}/status`).then((s) => setCp(s.controlPlane), () => undefined);
  }, []);
  if (!sync) return <section class="card"><h2>Source</h2><p class="muted">This server follows no repository.</p></section>;
  const st = sync.status ?? {};
  const ready = st.conditions?.find((c) => c.type === 'Ready');
  const rejected = st.lastAttemptedRevision && st.lastAttemptedRevision !== st.lastAppliedRevision;
  return (
    <section class="card" aria-labelledby="source-h" data-testid="source">
      <h2 id="source-h">Source</h2>
      <dl>
        <dt>Repository</dt><dd class="mono">{sync.spec.repo}</dd>
        <dt>Ref</dt><dd class="mono">{sync.spec.ref ?? '(default branch)'}{sync.spec.path ? `, path ${sync.spec.path}` : ''}</dd>
        <dt>In force</dt><dd><span class="mono" data-testid="revision">{shortSha(st.lastAppliedRevision)}</span> {st.lastAppliedTime && <span class="muted">applied {age(st.lastAppliedTime, now)} ago</span>}</dd>
        <dt>Last attempt</dt>
        <dd>
          <span class="mono">{shortSha(st.lastAttemptedRevision)}</span> {st.lastAttemptTime && <span class="muted">{age(st.lastAttemptTime, now)} ago</span>}{' '}
          {ready && <span class={ready.status === 'True' ? 'ok' : 'bad'}>{ready.reason}{ready.status !== 'True' && ready.message ? `: ${ready.message}` : ''}</span>}
        </dd>
        {cp && <><dt>Control plane</dt><dd>{cp.leading ? `${cp.identity} leads` : `standby; ${cp.leader ?? 'no server'} leads`}</dd></>}
      </dl>
      {rejected && (st.issues?.length ?? 0) > 0 && (
        <div class="problems" role="alert">
          <h3>Revision {shortSha(st.lastAttemptedRevision)} was rejected; {shortSha(st.lastAppliedRevision)} stays in force</h3>
          <ul>{st.issues!.map((i, n) => <li key={n}><span class="mono">{i.file}{i.line ? `:${i.line}` : ''}</span>{i.object ? ` ${i.object}` : ''}: {i.message}</li>)}</ul>
        </div>
      )}
    </section>
  );
}

/** What the followed ref would still change: planned again whenever the sync attempts a revision. */
function OutOfSync({ sync }: { sync?: SyncObject }) {
  const [plan, setPlan] = useState<PlanResponse>();
  const [error, setError] = useState<string>();
  const [tick, setTick] = useState(0);
  const attempted = sync?.status?.lastAttemptedRevision;
  const applied = sync?.status?.lastAppliedRevision;
  useEffect(() => {
    if (!sync) return;
    const ac = new AbortController();
    getJson<PlanResponse>(`${GANTRY}/plan`, { signal: ac.signal }).then((p) => { setPlan(p); setError(undefined); }, (err: unknown) => {
      if (!ac.signal.aborted) setError(err instanceof Error ? err.message : String(err));
    });
    return () => ac.abort();
  }, [sync === undefined, attempted, applied, tick]);
  if (!sync) return null;
  let body;
  if (error) body = <p class="error">Cannot plan the followed ref: {error}</p>;
  else if (!plan) body = <p class="muted">Planning {sync.spec.ref ?? 'the followed ref'} against the live state…</p>;
  else if (!plan.valid) {
    body = (
      <>
        <p class="bad">{plan.desired.ref}@{shortSha(plan.desired.commit)} is invalid, so nothing of it is applied:</p>
        <ul>{plan.issues.map((i, n) => <li key={n}><span class="mono">{i.file}{i.line ? `:${i.line}` : ''}</span>{i.object ? ` ${i.object}` : ''}: {i.message}</li>)}</ul>
      </>
    );
  } else if (!plan.changes) {
    body = <p class="ok" data-testid="in-sync">In sync: the live state matches {plan.desired.ref}@{shortSha(plan.desired.commit)} <span class="muted">({firstLine(plan.desired.message)})</span>.</p>;
  } else {
    body = (
      <>
        <p class="bad">{plan.summary.create + plan.summary.update + plan.summary.prune} object(s) differ from {plan.desired.ref}@{shortSha(plan.desired.commit)}:</p>
        <ul class="plain">{plan.entries.map((e) => <li key={e.key} class={`act-${e.action}`}><Link href={`/plan/${encodeURIComponent(plan.desired.commit)}`} data-row>{e.header}</Link></li>)}</ul>
      </>
    );
  }
  return (
    <section class="card" aria-labelledby="oos-h" data-testid="out-of-sync">
      <h2 id="oos-h">Sync <button type="button" class="ghost small" onClick={() => setTick((t) => t + 1)} title="Plan again">Refresh</button></h2>
      {body}
    </section>
  );
}
