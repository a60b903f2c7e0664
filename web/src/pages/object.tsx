/**
 * One object: its YAML (Secret values come hidden from the server), its events, its logs (pods,
 * followed as they are written), and its history from the audit trail as a timeline, each change
 * with its diff and the desired commit that caused it.
 */
import { dump } from 'js-yaml';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { Link, useLocation } from 'wouter-preact';
import type { HistoryEntry, ObjectChange } from '../../../src/audit/types.js';
import { refKey } from '../../../src/model/keys.js';
import type { KubeObject, Pod } from '../../../src/model/types.js';
import { ApiError, GANTRY, getJson, streamLines } from '../api';
import { useCluster } from '../cluster';
import { FileDiffView } from '../components/diff';
import { HealthOf } from '../components/health';
import { age, shortSha } from '../lib/format';
import { healthOf } from '../lib/health';
import { objectHref, namespaceHref, refHref } from '../links';

const ALL_TABS = ['yaml', 'events', 'logs', 'history'] as const;
type Tab = (typeof ALL_TABS)[number];
/** Kinds with logs: pods, and the workloads whose pods the Logs tab lists. */
const WITH_LOGS = new Set(['Pod', 'Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet', 'Job']);
const TAB_LABEL: Record<Tab, string> = { yaml: 'YAML', events: 'Events', logs: 'Logs', history: 'History' };

/** The object page. */
export function ObjectPage({ kind, namespace, name, tab }: { kind: string; namespace?: string; name: string; tab?: string }) {
  const feed = useCluster();
  const [, navigate] = useLocation();
  const obj = feed.cache.get(kind, namespace, name);
  const TABS: readonly Tab[] = WITH_LOGS.has(kind) ? ALL_TABS : ALL_TABS.filter((t) => t !== 'logs');
  const current: Tab = (TABS as readonly string[]).includes(tab ?? '') ? (tab as Tab) : 'yaml';
  const key = refKey({ kind, namespace, name });
  const go = (t: Tab): void => navigate(refHref(kind, namespace, name, t), { replace: true });

  useEffect(() => {
    const onKey = (e: KeyboardEvent): void => {
      const el = e.target as HTMLElement;
      if (e.ctrlKey || e.metaKey || e.altKey || el.tagName === 'INPUT' || el.tagName === 'SELECT' || el.tagName === 'TEXTAREA') return;
      // Fixed keys whatever the kind (1 YAML … 4 History), so the hands learn them once.
      const want = ALL_TABS[Number(e.key) - 1];
      if (want && TABS.includes(want)) go(want);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [kind, namespace, name, TABS]);

  const onTabKey = (e: KeyboardEvent): void => {
    const i = TABS.indexOf(current);
    const next = e.key === 'ArrowRight' ? (i + 1) % TABS.length : e.key === 'ArrowLeft' ? (i - 1 + TABS.length) % TABS.length : -1;
    if (next < 0) return;
    e.preventDefault();
    go(TABS[next]!);
    requestAnimationFrame(() => document.getElementById(`tab-${TABS[next]}`)?.focus());
  };

  return (
    <div class="object">
      <nav class="crumbs" aria-label="Breadcrumb">
        {namespace ? <Link href={namespaceHref(namespace)}>{namespace}</Link> : <Link href="/">cluster</Link>} / {kind}
      </nav>
      <h1>
        {name} {obj ? <HealthOf health={healthOf(obj)} /> : <span class="bad">not in the cluster now</span>}
      </h1>
      {obj && <Owners obj={obj} />}
      <div role="tablist" aria-label="Object views" onKeyDown={onTabKey}>
        {TABS.map((t) => (
          <button key={t} type="button" role="tab" id={`tab-${t}`} aria-selected={t === current} aria-controls={`panel-${t}`} tabIndex={t === current ? 0 : -1} onClick={() => go(t)}>
            {TAB_LABEL[t]}
          </button>
        ))}
      </div>
      <section role="tabpanel" id={`panel-${current}`} aria-labelledby={`tab-${current}`} tabIndex={0}>
        {current === 'yaml' && <YamlView obj={obj} />}
        {current === 'events' && <Events kind={kind} namespace={namespace} name={name} />}
        {current === 'logs' && <Logs obj={obj} />}
        {current === 'history' && <History objectKey={key} version={obj?.metadata.resourceVersion} />}
      </section>
    </div>
  );
}

function Owners({ obj }: { obj: KubeObject }) {
  const owners = obj.metadata.ownerReferences ?? [];
  if (owners.length === 0) return null;
  return <p class="muted">Owned by {owners.map((o, i) => <span key={o.uid ?? i}>{i > 0 && ', '}<Link href={refHref(o.kind, obj.metadata.namespace, o.name)}>{o.kind} {o.name}</Link></span>)}</p>;
}

function YamlView({ obj }: { obj?: KubeObject }) {
  const text = useMemo(() => (obj ? dump(obj, { noRefs: true, lineWidth: -1, sortKeys: false }) : ''), [obj]);
  if (!obj) return <p class="muted">The object is not in the cluster (it was deleted, or never created); its history may still tell its story.</p>;
  return (
    <>
      {obj.kind === 'Secret' && <p class="muted">Secret values are hidden: the server sends only their keys.</p>}
      <pre class="yaml" data-testid="yaml">{text}</pre>
    </>
  );
}

interface EventObject extends KubeObject {
  involvedObject?: { kind?: string; name?: string; namespace?: string; uid?: string };
  reason?: string;
  message?: string;
  type?: string;
  count?: number;
  lastTimestamp?: string;
  eventTime?: string;
  source?: { component?: string };
}

function Events({ kind, namespace, name }: { kind: string; namespace?: string; name: string }) {
  const feed = useCluster();
  const now = Date.now();
  const events = feed.cache.list<EventObject>('Event', namespace)
    .filter((e) => e.involvedObject?.kind === kind && e.involvedObject.name === name)
    .sort((a, b) => (b.lastTimestamp ?? b.metadata.creationTimestamp ?? '').localeCompare(a.lastTimestamp ?? a.metadata.creationTimestamp ?? ''));
  if (events.length === 0) return <p class="muted">No events (events are kept an hour).</p>;
  return (
    <table class="grid">
      <thead><tr><th>Last seen</th><th>Type</th><th>Reason</th><th>From</th><th>Message</th></tr></thead>
      <tbody>
        {events.map((e) => (
          <tr key={e.metadata.name} class={e.type === 'Warning' ? 'warn' : ''}>
            <td>{age(e.lastTimestamp ?? e.metadata.creationTimestamp, now)}{(e.count ?? 1) > 1 ? ` (×${e.count})` : ''}</td>
            <td>{e.type ?? 'Normal'}</td>
            <td>{e.reason}</td>
            <td>{e.source?.component}</td>
            <td class="msg">{e.message}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Lines kept in the log view; older ones scroll away. */
const MAX_LOG_LINES = 5000;

function Logs({ obj }: { obj?: KubeObject }) {
  const feed = useCluster();
  if (!obj) return <p class="muted">No pod to read logs from.</p>;
  if (obj.kind !== 'Pod') {
    // A workload's logs are its pods' logs: list them (owned directly, or through a ReplicaSet or Job).
    const owned = new Set([obj.metadata.uid]);
    for (const k of ['ReplicaSet', 'Job']) for (const o of feed.cache.list(k, obj.metadata.namespace)) if (o.metadata.ownerReferences?.some((r) => owned.has(r.uid))) owned.add(o.metadata.uid);
    const pods = feed.cache.list<Pod>('Pod', obj.metadata.namespace).filter((p) => p.metadata.ownerReferences?.some((r) => owned.has(r.uid)));
    if (pods.length === 0) return <p class="muted">Logs are read per pod, and this {obj.kind} has none.</p>;
    return <ul class="plain">{pods.map((p) => <li key={p.metadata.name}><Link href={objectHref(p, 'logs')} data-row>{p.metadata.name}</Link> <HealthOf health={healthOf(p)} /></li>)}</ul>;
  }
  return <PodLogs pod={obj as Pod} />;
}

function PodLogs({ pod }: { pod: Pod }) {
  const containers = pod.spec.containers.map((c) => c.name);
  const [container, setContainer] = useState(containers[0] ?? '');
  const [lines, setLines] = useState<string[]>([]);
  const [state, setState] = useState<'connecting' | 'following' | 'ended' | string>('connecting');
  const box = useRef<HTMLPreElement>(null);
  const ns = pod.metadata.namespace ?? 'default';
  useEffect(() => {
    const ac = new AbortController();
    let buffer: string[] = [];
    let flush = 0;
    setLines([]);
    setState('connecting');
    const url = `/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(pod.metadata.name)}/log?follow=true&tailLines=1000&container=${encodeURIComponent(container)}`;
    streamLines(url, (line) => {
      buffer.push(line);
      // Batch the lines of one burst into one redraw.
      if (!flush) flush = requestAnimationFrame(() => {
        flush = 0;
        const add = buffer;
        buffer = [];
        setLines((old) => [...old, ...add].slice(-MAX_LOG_LINES));
      });
      setState('following');
    }, { signal: ac.signal }).then(() => setState('ended'), (err: unknown) => {
      if (!ac.signal.aborted) setState(err instanceof ApiError ? err.message : String(err));
    });
    setState('following');
    return () => {
      ac.abort();
      if (flush) cancelAnimationFrame(flush);
    };
  }, [ns, pod.metadata.name, pod.metadata.uid, container]);
  useEffect(() => {
    const el = box.current;
    // Keep following the end unless the reader scrolled up.
    if (el && el.scrollHeight - el.scrollTop - el.clientHeight < 80) el.scrollTop = el.scrollHeight;
  }, [lines]);
  return (
    <div class="logs">
      <div class="toolbar">
        {containers.length > 1 && (
          <label>Container{' '}
            <select value={container} onChange={(e) => setContainer((e.target as HTMLSelectElement).value)}>
              {containers.map((c) => <option key={c} value={c}>{c}</option>)}
            </select>
          </label>
        )}
        <span class="muted" role="status">{state === 'following' ? `following ${container}` : state === 'ended' ? 'the log ended (the container stopped)' : state === 'connecting' ? 'connecting…' : `cannot read the log: ${state}`}</span>
      </div>
      <pre ref={box} class="logtext" data-testid="logs" tabIndex={0} aria-label={`log of ${container}`}>{lines.join('\n')}</pre>
    </div>
  );
}

type Change = HistoryEntry & ObjectChange;

/** Entries drawn open (and every change the repo made); older ones open on demand. */
const OPEN_ENTRIES = 5;

function History({ objectKey, version }: { objectKey: string; version?: string }) {
  const [entries, setEntries] = useState<Change[]>();
  const [error, setError] = useState<string>();
  const [desiredOnly, setDesiredOnly] = useState(false);
  useEffect(() => {
    const ac = new AbortController();
    // The audit trail is written in the background: read it a moment after the object changed.
    const t = setTimeout(() => {
      getJson<Change[]>(`${GANTRY}/history?object=${encodeURIComponent(objectKey)}&diff=true&limit=50`, { signal: ac.signal })
        .then((list) => { setEntries(list); setError(undefined); }, (err: unknown) => {
          if (!ac.signal.aborted) setError(err instanceof Error ? err.message : String(err));
        });
    }, entries ? 700 : 0);
    return () => {
      clearTimeout(t);
      ac.abort();
    };
  }, [objectKey, version]);
  if (error) return <p class="error">{error}</p>;
  if (!entries) return <p class="muted">Reading the audit trail…</p>;
  if (entries.length === 0) return <p class="muted">No recorded change yet.</p>;
  const shown = desiredOnly ? entries.filter((e) => e.actor === 'sync') : entries;
  return (
    <>
    <label class="toolbar">
      <input type="checkbox" checked={desiredOnly} onChange={(e) => setDesiredOnly((e.target as HTMLInputElement).checked)} />
      Only changes from the repository (hide what controllers and nodes wrote)
    </label>
    <ol class="timeline" data-testid="timeline">
      {shown.map((e, i) => (
        <li key={e.commit} data-commit={e.commit}>
          <details open={i < OPEN_ENTRIES || e.actor === 'sync'}>
            <summary data-row>
              <time dateTime={e.at} title={e.at}>{new Date(e.at).toLocaleString()}</time>
              <span class="actor">{e.actor}</span>
              <span class="summary">{e.summary}</span>
              {e.desiredRevision && <span class="mono desired" title={`desired revision ${e.desiredRevision}`}>desired {shortSha(e.desiredRevision)}</span>}
              <span class="mono muted" title={`status commit ${e.commit}`}>{shortSha(e.commit)}</span>
            </summary>
            {e.body && <pre class="body">{e.body}</pre>}
            <FileDiffView before={e.before} after={e.after} />
          </details>
        </li>
      ))}
    </ol>
    </>
  );
}
