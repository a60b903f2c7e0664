/**
 * Read-only commands over the data directory: `gantry status`, `gantry get`, `gantry history`.
 * They open the store and the audit repo directly, so they work whether or not gantry runs.
 */
import { existsSync } from 'node:fs';
import { dump } from 'js-yaml';
import pc from 'picocolors';
import { openRecorder } from '../../audit/recorder.js';
import { dataPaths, parseDuration } from '../../config.js';
import { GantryError } from '../../errors.js';
import { KINDS, resolveKind } from '../../model/kinds.js';
import type { KubeObject } from '../../model/types.js';
import { openSqliteStore } from '../../store/sqlite.js';
import type { ReadStore } from '../../store/types.js';
import { RemoteStore } from '../../api/client.js';
import type { HistoryEntry } from '../../audit/types.js';
import { personName } from '../../audit/message.js';
import { remoteClient, type RemoteOptions } from '../remote.js';
import { formatIssue } from '../../sync/loop.js';
import { SYNC_NAME, type SyncObject } from '../../sync/status.js';
import { humanDuration, renderTable } from '../printers.js';
import { sortEvents } from '../describe.js';
import type { KubeEvent } from '../../events/recorder.js';
import { watchTable } from './watch.js';
import type { ControlPlaneStatus } from '../../api/server.js';
import { clusterSummary } from '../summary.js';
import { describeKey } from '../../health/app.js';
import { HealthExit, healthExitCode } from '../../health/read.js';
import type { AppHealth, HealthStatus, ObjectHealth, SyncState } from '../../health/types.js';

/** Where a read command reads: a data directory, or a remote gantry (see ../remote.ts). */
export type ReadTarget = { dataDir: string } & RemoteOptions;

/**
 * Opens the store a read command reads: the remote gantry's API when `--server`/`--kubeconfig`
 * name one, else the data directory's store, read-only; a clear error when there is none.
 */
export async function withStore<T>(target: string | ReadTarget, fn: (store: ReadStore) => Promise<T>): Promise<T> {
  const o = typeof target === 'string' ? { dataDir: target } : target;
  const client = await remoteClient(o);
  if (client) return fn(new RemoteStore(client));
  const path = dataPaths(o.dataDir).store;
  if (!existsSync(path)) {
    throw new GantryError('NotFound', `no gantry state in ${o.dataDir} (looked for ${path}); run gantry up first, pass --data-dir, or read a server with --kubeconfig / --server`);
  }
  const store = openSqliteStore(path, { readonly: true });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** `gantry status`: the source, the revision in force, sync and health (per app and object), object counts. */
export async function runStatus(o: ReadTarget & { output?: string }): Promise<{ output: string; exitCode: number }> {
  const client = await remoteClient(o);
  // Servers on etcd report who leads; a data directory (one process) always leads itself.
  const controlPlane = client
    ? (await client.json<{ controlPlane?: ControlPlaneStatus }>('/apis/gantry.dev/v1/status').catch(() => undefined))?.controlPlane
    : undefined;
  return withStore(o, async (store) => {
    const sync = await store.get<SyncObject>({ kind: 'Sync', name: SYNC_NAME });
    const counts: Record<string, number> = {};
    for (const k of KINDS) {
      if (k.kind === 'Sync') continue;
      const n = (await store.list(k.kind)).items.length;
      if (n > 0) counts[k.kind] = n;
    }
    const summary = await clusterSummary(store);
    const app = summary.app;
    const exitCode = sync ? healthExitCode(app) : HealthExit.Error;
    if (o.output === 'json') {
      const doc = { sync: sync ?? null, app: { sync: app.sync, health: app.health, counts: app.counts }, namespaces: app.namespaces, resources: app.objects, objects: counts, ...(controlPlane ? { controlPlane } : {}) };
      return { output: JSON.stringify(doc, null, 2), exitCode };
    }
    const now = Date.now();
    const ago = (t?: string): string => (t ? `${humanDuration(now - Date.parse(t))} ago` : 'never');
    const lines: string[] = [];
    if (!sync) {
      lines.push('No sync has run yet in this data directory.');
      return { output: lines.join('\n'), exitCode: HealthExit.Error };
    }
    const st = sync.status ?? {};
    lines.push(`Source:     ${sync.spec.repo}${sync.spec.ref ? ` @ ${sync.spec.ref}` : ''}${sync.spec.path ? ` (path ${sync.spec.path})` : ''}`);
    if (controlPlane) {
      const role = controlPlane.leading ? 'this server leads' : `this server (${controlPlane.identity}) stands by`;
      lines.push(`Leader:     ${controlPlane.leader ?? pc.red('none (no server leads: is etcd reachable?)')}; ${role}`);
    }
    lines.push(`In force:   ${st.lastAppliedRevision ? `${st.lastAppliedRevision.slice(0, 7)}, applied ${ago(st.lastAppliedTime)}` : 'nothing applied yet'}`);
    if (st.summary) {
      lines.push(`            ${st.summary.objects} objects; last change: ${st.summary.created} created, ${st.summary.updated} updated, ${st.summary.pruned} pruned`);
    }
    if (sync.spec.suspend) {
      lines.push(`Suspended:  ${pc.yellow('yes')}${sync.spec.suspendedBy ? `, by ${sync.spec.suspendedBy}` : ''}${sync.spec.suspendedAt ? ` ${ago(sync.spec.suspendedAt)} (${sync.spec.suspendedAt})` : ''}; gantry resume applies the repo again`);
    }
    if (sync.spec.syncWindows?.length) lines.push(`Windows:    ${sync.spec.syncWindows.join('; ')}`);
    if (st.heldBack) {
      lines.push(`Waiting:    ${pc.yellow(st.heldBack.reason)} since ${st.heldBack.since}${st.heldBack.until ? `, until ${st.heldBack.until}` : ''}`);
      lines.push(`            ${st.heldBack.message}`);
    }
    lines.push(`Sync:       ${paintSync(app.sync.status)}${app.sync.status !== 'Synced' && app.sync.reason ? ` (${app.sync.reason})` : ''}, last attempt ${st.lastAttemptedRevision?.slice(0, 7) ?? '?'} ${ago(st.lastAttemptTime)}`);
    if (app.sync.status !== 'Synced' && app.sync.message) lines.push(`            ${app.sync.message}`);
    if (st.issues && st.issues.length > 0) {
      lines.push(`Problems in ${st.lastAttemptedRevision?.slice(0, 7)} (not applied; ${st.lastAppliedRevision ? st.lastAppliedRevision.slice(0, 7) : 'nothing'} stays in force):`);
      for (const i of st.issues) lines.push(`  ${formatIssue(i)}`);
    }
    lines.push(`Health:     ${paintHealth(app.health.status)}${app.health.status === 'Healthy' ? '' : ` (${healthCounts(app.counts)})`}`);
    for (const obj of notFine(app.objects)) lines.push(`  ${objectLine(obj)}`);
    const nsNames = Object.keys(app.namespaces);
    if (nsNames.length > 1) {
      lines.push(`Namespaces: ${nsNames.map((n) => `${n} ${paintHealth(app.namespaces[n]!.health.status)}`).join(', ')}`);
    }
    lines.push(`Objects:    ${Object.entries(counts).map(([k, n]) => `${n} ${k}`).join(', ') || 'none'}`);
    lines.push(...summary.lines);
    return { output: lines.join('\n'), exitCode };
  });
}

/** Objects that are not Healthy (or Suspended) or not Synced, worst first. */
export function notFine(objects: readonly ObjectHealth[]): ObjectHealth[] {
  const rank = (o: ObjectHealth): number => (o.health?.status === 'Degraded' || o.sync.status === 'Rejected' ? 0 : o.health?.status === 'Missing' ? 1 : 2);
  return objects
    .filter((o) => o.sync.status !== 'Synced' || (o.health && o.health.status !== 'Healthy' && o.health.status !== 'Suspended'))
    .sort((a, b) => rank(a) - rank(b) || a.key.localeCompare(b.key));
}

/** `Deployment default/web  Degraded (CrashLoopBackOff): pod web-…: …` */
export function objectLine(o: ObjectHealth): string {
  const parts: string[] = [];
  if (o.health && o.health.status !== 'Healthy') parts.push(`${paintHealth(o.health.status)}${o.health.reason ? ` (${o.health.reason})` : ''}`);
  if (o.sync.status !== 'Synced') parts.push(paintSync(o.sync.status));
  const message = [o.health?.status !== 'Healthy' ? o.health?.message : undefined, o.sync.status !== 'Synced' ? o.sync.message : undefined].filter(Boolean).join('; ');
  return `${describeKey(o)}  ${parts.join(', ')}${message ? `: ${message}` : ''}`;
}

function healthCounts(counts: AppHealth['counts']): string {
  return Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(', ');
}

function paintHealth(s: HealthStatus): string {
  return s === 'Healthy' ? pc.green(s) : s === 'Degraded' || s === 'Missing' ? pc.red(s) : s === 'Suspended' ? pc.cyan(s) : pc.yellow(s);
}

function paintSync(s: SyncState): string {
  return s === 'Synced' ? pc.green(s) : s === 'Rejected' ? pc.red(s) : pc.yellow(s);
}

/** Options of `gantry get`. */
export interface GetOptions extends RemoteOptions {
  dataDir: string;
  namespace?: string;
  allNamespaces?: boolean;
  selector?: string;
  output?: string;
  /** `-w`: after the table, a row per change until `signal` aborts (needs `write` and `signal`). */
  watch?: boolean;
  /** `--watch-only`: only the changes. */
  watchOnly?: boolean;
  /** Where a watch prints its lines. */
  write?: (text: string) => void;
  /** Ends a watch (SIGINT). */
  signal?: AbortSignal;
}

/**
 * `gantry get KIND[,KIND…] [NAME]`: kubectl-style table, or yaml / json / name. Several kinds
 * print one table each, as kubectl does. Events are listed by when they were last seen. With
 * `watch`, the table is followed by a row per change (see ./watch.ts).
 */
export async function runGet(kindText: string, name: string | undefined, o: GetOptions): Promise<{ output: string; exitCode: number }> {
  const kinds = kindText.split(',').filter((k) => k !== '');
  if (o.watch || o.watchOnly) return runGetWatch(kindText, name, o);
  if (kinds.length > 1) {
    const results = [];
    for (const k of kinds) results.push(await runGetOne(k, name, o));
    return { output: results.map((r) => r.output).join('\n\n'), exitCode: Math.max(...results.map((r) => r.exitCode)) };
  }
  return runGetOne(kindText, name, o);
}

async function runGetOne(kindText: string, name: string | undefined, o: GetOptions): Promise<{ output: string; exitCode: number }> {
  const info = resolveKind(kindText);
  if (!info) {
    throw new GantryError('InvalidArgument', `unknown kind "${kindText}"; known: ${KINDS.map((k) => k.plural).join(', ')}`);
  }
  const namespace = info.namespaced ? (o.allNamespaces ? undefined : o.namespace ?? 'default') : undefined;
  return withStore(o, async (store) => {
    let items: KubeObject[];
    if (name) {
      const obj = await store.get({ kind: info.kind, namespace, name });
      if (!obj) {
        return { output: `Error: ${info.plural} "${name}" not found${namespace ? ` in namespace ${namespace}` : ''}`, exitCode: 1 };
      }
      items = [obj];
    } else {
      items = (await store.list(info.kind, { namespace, labelSelector: o.selector })).items;
    }
    if (info.kind === 'Event') items = sortEvents(items as KubeEvent[]);
    switch (o.output) {
      case 'yaml':
        return { output: items.map((i) => dump(i, { noRefs: true, lineWidth: -1 })).join('---\n').trimEnd(), exitCode: 0 };
      case 'json':
        return { output: JSON.stringify(name ? items[0] : { apiVersion: 'v1', kind: 'List', items }, null, 2), exitCode: 0 };
      case 'name':
        return { output: items.map((i) => `${info.kind.toLowerCase()}/${i.metadata.name}`).join('\n'), exitCode: 0 };
      case undefined:
      case 'wide':
        if (items.length === 0) {
          return { output: namespace ? `No resources found in ${namespace} namespace.` : 'No resources found', exitCode: 0 };
        }
        return { output: renderTable(info.kind, items, { allNamespaces: o.allNamespaces && info.namespaced, wide: o.output === 'wide' }), exitCode: 0 };
      default:
        throw new GantryError('InvalidArgument', `-o ${o.output}: expected yaml, json, wide or name`);
    }
  });
}

/** `gantry get KIND [NAME] -w`: one kind, a table then a row per change, until the signal aborts. */
async function runGetWatch(kindText: string, name: string | undefined, o: GetOptions): Promise<{ output: string; exitCode: number }> {
  const info = resolveKind(kindText);
  if (!info) {
    throw new GantryError('InvalidArgument', `unknown kind "${kindText}"; known: ${KINDS.map((k) => k.plural).join(', ')}`);
  }
  if (o.output !== undefined && o.output !== 'wide') throw new GantryError('InvalidArgument', `-w prints tables: -o ${o.output} is not supported with it (only wide)`);
  if (!o.write || !o.signal) throw new GantryError('InvalidArgument', 'a watch needs somewhere to write and a signal to stop it');
  const namespace = info.namespaced ? (o.allNamespaces ? undefined : o.namespace ?? 'default') : undefined;
  await withStore(o, (store) => watchTable(store, info, {
    namespace, name, selector: o.selector, allNamespaces: o.allNamespaces, wide: o.output === 'wide', watchOnly: o.watchOnly,
    write: o.write!, signal: o.signal!, order: info.kind === 'Event' ? (items) => sortEvents(items as KubeEvent[]) : undefined,
  }));
  return { output: '', exitCode: 0 };
}

/** Options of `gantry history`. */
export interface HistoryOptions extends RemoteOptions {
  dataDir: string;
  namespace?: string;
  since?: string;
  limit?: string;
  output?: string;
}

/** Turns `deploy/web`, `Deployment/web` or `Deployment/prod/web` into an object key. */
export function historyKey(text: string, namespace: string | undefined): string {
  const parts = text.split('/');
  const info = resolveKind(parts[0] ?? '');
  if (!info || parts.length < 2 || parts.length > 3) {
    throw new GantryError('InvalidArgument', `"${text}" is not KIND/NAME (e.g. deployment/web or Deployment/default/web)`);
  }
  if (parts.length === 3) return `${info.kind}/${parts[1]}/${parts[2]}`;
  return info.namespaced ? `${info.kind}/${namespace ?? 'default'}/${parts[1]}` : `${info.kind}/${parts[1]}`;
}

/** `--since 2h` or `--since 2026-11-22T10:00:00Z`. */
export function parseSince(text: string): Date {
  if (/^\d+(\.\d+)?(ms|s|m|h)$/.test(text)) return new Date(Date.now() - parseDuration(text, '--since'));
  if (/^\d+d$/.test(text)) return new Date(Date.now() - Number(text.slice(0, -1)) * 86_400_000);
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new GantryError('InvalidArgument', `--since: "${text}" is neither a duration (2h, 3d) nor a date`);
  return new Date(t);
}

/** `--limit N`: a positive whole number, not whatever Number() makes of the text. */
function parseLimit(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new GantryError('InvalidArgument', `--limit: "${text}" is not a positive whole number`);
  return n;
}

/** `gantry history [KIND/NAME]`: who changed what, newest first. */
export async function runHistory(target: string | undefined, o: HistoryOptions): Promise<{ output: string; exitCode: number }> {
  const query = {
    object: target ? historyKey(target, o.namespace) : undefined,
    since: o.since ? parseSince(o.since) : undefined,
    limit: o.limit ? parseLimit(o.limit) : 50,
  };
  const client = await remoteClient(o);
  if (client) {
    const q = new URLSearchParams({ limit: String(query.limit) });
    if (query.object) q.set('object', query.object);
    if (query.since) q.set('since', query.since.toISOString());
    return printHistory(await client.json<HistoryEntry[]>(`/apis/gantry.dev/v1/history?${q}`), o);
  }
  const path = dataPaths(o.dataDir).history;
  if (!existsSync(path)) throw new GantryError('NotFound', `no audit history in ${o.dataDir}; run gantry up first, pass --data-dir, or read a server with --kubeconfig / --server`);
  const recorder = await openRecorder(path, { readonly: true });
  try {
    return printHistory(await recorder.history(query), o);
  } finally {
    await recorder.close();
  }
}

function printHistory(entries: HistoryEntry[], o: HistoryOptions): { output: string; exitCode: number } {
  if (o.output === 'json') return { output: JSON.stringify(entries, null, 2), exitCode: 0 };
  if (entries.length === 0) return { output: 'No history recorded yet.', exitCode: 0 };
  const lines = entries.map((e) => {
    const when = e.at.replace('T', ' ').replace(/\.\d+Z$|Z$/, '');
    const rev = e.desiredRevision ? e.desiredRevision.slice(0, 7) : '       ';
    // Who pushed the desired change, beside what acted on it: "sync (Alice Smith)".
    const who = e.desiredAuthor ? `${e.actor} (${personName(e.desiredAuthor)})` : e.actor;
    return `${pc.dim(when)}  ${pc.cyan(who.padEnd(30))} ${pc.yellow(rev)}  ${e.summary}`;
  });
  return { output: lines.join('\n'), exitCode: 0 };
}
