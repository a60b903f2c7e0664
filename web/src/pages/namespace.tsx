/**
 * Namespaces: the list, and one namespace's apps drawn as trees (Deployment → ReplicaSet → Pods,
 * CronJob → Job → Pods, beside Services, Ingresses, ConfigMaps and Secrets), each object with
 * its health, redrawn as the watch brings changes.
 */
import { useMemo, useState } from 'preact/hooks';
import { Link } from 'wouter-preact';
import type { KubeObject, Pod } from '../../../src/model/types.js';
import { useCluster } from '../cluster';
import { HealthBadge, HealthOf } from '../components/health';
import { age } from '../lib/format';
import { worstHealth } from '../lib/health';
import { buildTrees, groupApps, TREE_KINDS, type TreeNode } from '../lib/tree';
import { namespaceHref, objectHref } from '../links';

function namespaceObjects(cache: ReturnType<typeof useCluster>['cache'], namespace: string): KubeObject[] {
  return TREE_KINDS.flatMap((k) => cache.list(k, namespace));
}

/** Every namespace with its object count and health. */
export function Namespaces() {
  const feed = useCluster();
  const rows = useMemo(() => feed.cache.namespaces().map((ns) => {
    const trees = buildTrees(namespaceObjects(feed.cache, ns));
    return { ns, objects: trees.length, health: worstHealth(trees.map((t) => t.rollup)) };
  }), [feed.version]);
  return (
    <div>
      <h1>Namespaces</h1>
      <table class="grid">
        <thead><tr><th>Namespace</th><th>Health</th><th>Top-level objects</th></tr></thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.ns}>
              <td><Link href={namespaceHref(r.ns)} data-row>{r.ns}</Link></td>
              <td><HealthBadge status={r.health} /></td>
              <td>{r.objects}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** One namespace, app by app. */
export function NamespaceView({ namespace }: { namespace: string }) {
  const feed = useCluster();
  const [filter, setFilter] = useState('');
  const apps = useMemo(() => groupApps(buildTrees(namespaceObjects(feed.cache, namespace))), [feed.version, namespace]);
  const f = filter.trim().toLowerCase();
  const visible = f ? apps.filter((a) => a.name.toLowerCase().includes(f) || a.roots.some((r) => matchesDeep(r, f))) : apps;
  const now = Date.now();
  return (
    <div>
      <h1>Namespace {namespace} <span class="sub">{apps.length} app{apps.length === 1 ? '' : 's'}</span></h1>
      <input type="search" class="filter" placeholder="Filter by app or object name (/)" aria-label="Filter apps and objects" data-filter value={filter} onInput={(e) => setFilter((e.target as HTMLInputElement).value)} />
      {visible.length === 0 && <p class="muted">{apps.length === 0 ? 'Nothing runs in this namespace.' : 'Nothing matches the filter.'}</p>}
      {visible.map((app) => (
        <section key={app.name} class="app" aria-label={`app ${app.name}`} data-app={app.name}>
          <h2>{app.name} <HealthBadge status={app.health} /></h2>
          <ul class="tree" role="tree" aria-label={`objects of ${app.name}`}>
            {app.roots.map((r) => <Branch key={r.obj.metadata.uid ?? `${r.obj.kind}/${r.obj.metadata.name}`} node={r} now={now} />)}
          </ul>
        </section>
      ))}
    </div>
  );
}

function matchesDeep(n: TreeNode, f: string): boolean {
  return n.obj.metadata.name.toLowerCase().includes(f) || n.children.some((c) => matchesDeep(c, f));
}

function detail(obj: KubeObject, now: number): string {
  if (obj.kind === 'Pod') {
    const p = obj as Pod;
    const restarts = (p.status?.containerStatuses ?? []).reduce((n, c) => n + (c.restartCount ?? 0), 0);
    return [p.status?.podIP, p.spec.nodeName && `on ${p.spec.nodeName}`, restarts > 0 && `${restarts} restart${restarts === 1 ? '' : 's'}`, age(p.metadata.creationTimestamp, now)].filter(Boolean).join(' · ');
  }
  if (obj.kind === 'ReplicaSet') {
    const rev = obj.metadata.annotations?.['deployment.kubernetes.io/revision'];
    return [rev && `revision ${rev}`, age(obj.metadata.creationTimestamp, now)].filter(Boolean).join(' · ');
  }
  if (obj.kind === 'ConfigMap' || obj.kind === 'Secret') {
    const keys = Object.keys((obj.data as Record<string, unknown> | undefined) ?? {});
    return `${keys.length} key${keys.length === 1 ? '' : 's'}`;
  }
  return age(obj.metadata.creationTimestamp, now);
}

function Branch({ node, now }: { node: TreeNode; now: number }) {
  const o = node.obj;
  return (
    <li role="treeitem" aria-expanded={node.children.length > 0 ? true : undefined} class={node.idle ? 'idle' : ''} data-kind={o.kind} data-name={o.metadata.name} data-health={node.health.status}>
      <div class="node">
        <span class="kind">{o.kind}</span>
        <Link href={objectHref(o)} data-row>{o.metadata.name}</Link>
        <HealthOf health={node.health} />
        {node.health.message && <span class="msg">{node.health.message}</span>}
        {node.note && <span class="note">{node.note}</span>}
        <span class="muted detail">{detail(o, now)}</span>
      </div>
      {node.children.length > 0 && (
        <ul role="group">{node.children.map((c) => <Branch key={c.obj.metadata.uid ?? `${c.obj.kind}/${c.obj.metadata.name}`} node={c} now={now} />)}</ul>
      )}
    </li>
  );
}
