/**
 * Describes a store change in words, for the first line of an audit commit message:
 * "Deployment default/web: replicas 2 → 3", "Pod default/web-abc: phase Pending → Running",
 * "Secret default/db: data.password changed".
 *
 * Pure and deterministic. Values that may be sensitive (Secret and ConfigMap data, env values,
 * annotations) are never shown: only that a key was added, changed or removed.
 */
import { kindInfo } from '../model/kinds.js';
import type { KubeObject } from '../model/types.js';

/** A store change as {@link summarizeChange} takes it (a `WatchEvent` fits). */
export interface ChangeEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: KubeObject;
  prevObject?: KubeObject;
}

/** Options for {@link summarizeChange}. */
export interface SummaryOptions {
  /** How many phrases to show before "and N more". Default 4. */
  maxPhrases?: number;
  /** The change's phrases when the caller has them already ({@link describeChanges} of the same event). */
  phrases?: readonly string[];
}

/** The arrow between an old and a new value. */
const ARROW = '→';

/** Longest scalar value shown verbatim; longer ones are reported as "changed". */
const MAX_VALUE_LENGTH = 60;

/**
 * How an object is named in a summary: `Kind namespace/name`, or `Kind name` for cluster-scoped
 * kinds.
 */
export function describeObject(obj: KubeObject): string {
  const info = kindInfo(obj.kind);
  const namespaced = info ? info.namespaced : obj.metadata.namespace !== undefined;
  const ns = namespaced ? obj.metadata.namespace || 'default' : undefined;
  return ns === undefined ? `${obj.kind} ${obj.metadata.name}` : `${obj.kind} ${ns}/${obj.metadata.name}`;
}

/**
 * The first line of a commit message for a change, e.g. "Deployment default/web: replicas 2 → 3;
 * image web:1.0 → web:1.1 (container web)". At most `maxPhrases` phrases, then "and N more".
 */
export function summarizeChange(event: ChangeEvent, opts: SummaryOptions = {}): string {
  const name = describeObject(event.object);
  if (event.type === 'ADDED') return `${name} created`;
  if (event.type === 'DELETED') return `${name} deleted`;
  const phrases = opts.phrases ?? describeChanges(event);
  const max = Math.max(1, opts.maxPhrases ?? 4);
  if (phrases.length === 0) return `${name} updated`;
  const shown = phrases.slice(0, max).join('; ');
  const more = phrases.length - max;
  return more > 0 ? `${name}: ${shown}; and ${more} more` : `${name}: ${shown}`;
}

/**
 * Every phrase describing a MODIFIED change, most important first (uncapped). Empty for ADDED and
 * DELETED, and when nothing but server bookkeeping (resourceVersion, timestamps) changed.
 */
export function describeChanges(event: ChangeEvent): string[] {
  if (event.type !== 'MODIFIED' || !event.prevObject) return [];
  const leaves: Leaf[] = [];
  diffValues(event.prevObject, event.object, [], leaves);
  const phrases: Phrase[] = [];
  const seen = new Set<string>();
  const ctx: PhraseContext = { kind: event.object.kind, after: event.object, push: (rank, text) => {
    if (seen.has(text)) return;
    seen.add(text);
    phrases.push({ rank, text, order: phrases.length });
  } };
  for (const leaf of leaves) phraseFor(leaf, ctx);
  phrases.sort((a, b) => a.rank - b.rank || a.order - b.order);
  return phrases.map((p) => p.text);
}

// ------------------------------------------------------------------ structural diff

/** A path segment: an object key, or an array element identified by its name/type key. */
type Segment = { key: string } | { item: string };

/** One difference between the two objects, at the deepest level that is meaningful. */
interface Leaf {
  path: Segment[];
  before: unknown;
  after: unknown;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The key that identifies elements of an array of objects (`name`, `type`), if all have one. */
function identityKey(a: unknown[], b: unknown[]): string | undefined {
  for (const k of ['name', 'type']) {
    const all = [...a, ...b].every((e) => isPlainObject(e) && typeof e[k] === 'string');
    if (all && a.length + b.length > 0) {
      const ids = (arr: unknown[]) => new Set(arr.map((e) => (e as Record<string, string>)[k]));
      // Duplicated identities would pair elements wrongly; compare such arrays whole.
      if (ids(a).size === a.length && ids(b).size === b.length) return k;
    }
  }
  return undefined;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((v, i) => deepEqual(v, b[i]));
  }
  if (isPlainObject(a)) {
    if (!isPlainObject(b)) return false;
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    if (ka.length !== kb.length) return false;
    return ka.every((k) => deepEqual(a[k], b[k]));
  }
  return false;
}

function diffValues(before: unknown, after: unknown, path: Segment[], out: Leaf[]): void {
  if (before === after) return;
  // A map or list that appears or vanishes is described by its members ("label tier front").
  if (before === undefined && (isPlainObject(after) || Array.isArray(after))) before = Array.isArray(after) ? [] : {};
  if (after === undefined && (isPlainObject(before) || Array.isArray(before))) after = Array.isArray(before) ? [] : {};
  if (isPlainObject(before) && isPlainObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    for (const k of keys) diffValues(before[k], after[k], [...path, { key: k }], out);
    return;
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    const id = identityKey(before, after);
    if (id) {
      const byId = (arr: unknown[]) => new Map(arr.map((e) => [(e as Record<string, string>)[id]!, e]));
      const b = byId(before);
      const a = byId(after);
      const ids = [...new Set([...b.keys(), ...a.keys()])].sort();
      for (const i of ids) {
        const bi = b.get(i);
        const ai = a.get(i);
        // An element added or removed is one change ("container sidecar added"), not one per field.
        if (bi === undefined || ai === undefined) out.push({ path: [...path, { item: i }], before: bi, after: ai });
        else diffValues(bi, ai, [...path, { item: i }], out);
      }
      return;
    }
    if (deepEqual(before, after)) return;
    out.push({ path, before, after });
    return;
  }
  if (deepEqual(before, after)) return;
  out.push({ path, before, after });
}

// ------------------------------------------------------------------ phrasing

interface Phrase {
  rank: number;
  text: string;
  order: number;
}

interface PhraseContext {
  kind: string;
  /** The object after the change, to describe a container's whole state. */
  after: KubeObject;
  push(rank: number, text: string): void;
}

/** Ranks: what a reader looks for first. */
const RANK = { spec: 0, schedule: 1, phase: 2, condition: 3, container: 4, other: 5, data: 6, meta: 7 } as const;

/** Server bookkeeping that changes on every write and says nothing to a reader. */
const IGNORED_METADATA = new Set(['resourceVersion', 'generation', 'uid', 'creationTimestamp', 'managedFields', 'selfLink']);

/** Fields whose values are timestamps or opaque ids: their churn is not worth a phrase. */
const NOISE_FIELDS = new Set([
  'lastTransitionTime', 'lastUpdateTime', 'lastProbeTime', 'lastHeartbeatTime', 'startedAt',
  'finishedAt', 'startTime', 'containerID', 'imageID', 'observedGeneration', 'lastScheduleTime',
  'lastSuccessfulTime', 'message',
]);

/** Top-level fields holding user data whose values must never appear. */
const DATA_FIELDS = new Set(['data', 'stringData', 'binaryData']);

function isKey(seg: Segment | undefined, key: string): boolean {
  return seg !== undefined && 'key' in seg && seg.key === key;
}

function segName(seg: Segment | undefined): string | undefined {
  if (seg === undefined) return undefined;
  return 'key' in seg ? seg.key : seg.item;
}

function formatPath(path: Segment[]): string {
  let s = '';
  for (const seg of path) s += 'key' in seg ? (s ? `.${seg.key}` : seg.key) : `[${seg.item}]`;
  return s;
}

/** A scalar for display, or undefined when it should not be shown verbatim. */
function show(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v.length <= MAX_VALUE_LENGTH && !v.includes('\n') ? v : undefined;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

/** "a → b", "set to b", "removed" or "changed", by what can be shown. */
function transition(label: string, before: unknown, after: unknown): string {
  const b = show(before);
  const a = show(after);
  if (before === undefined && after !== undefined) return a !== undefined ? `${label} ${a}` : `${label} added`;
  if (after === undefined) return `${label} removed`;
  if (a !== undefined && b !== undefined) return `${label} ${b} ${ARROW} ${a}`;
  return `${label} changed`;
}

/** added / removed / changed, never the value. */
function presence(label: string, before: unknown, after: unknown): string {
  if (before === undefined) return `${label} added`;
  if (after === undefined) return `${label} removed`;
  return `${label} changed`;
}

/** The index where a pod spec starts in a path, for any kind that carries one. */
function podSpecStart(kind: string, path: Segment[]): number | undefined {
  const names = path.map(segName);
  const prefixes: string[][] = kind === 'Pod'
    ? [['spec']]
    : kind === 'CronJob'
      ? [['spec', 'jobTemplate', 'spec', 'template', 'spec']]
      : [['spec', 'template', 'spec']];
  for (const p of prefixes) {
    if (p.every((n, i) => names[i] === n && 'key' in path[i]!)) return p.length;
  }
  return undefined;
}

function phraseFor(leaf: Leaf, ctx: PhraseContext): void {
  const { path, before, after } = leaf;
  const top = segName(path[0]);
  if (top === undefined) return;

  if (top === 'metadata') return metadataPhrase(leaf, ctx);
  if (DATA_FIELDS.has(top) && path.length >= 1) {
    const key = segName(path[1]);
    // data as a whole appeared or vanished: name its keys without values.
    if (key === undefined) {
      const keys = [...new Set([...Object.keys(isPlainObject(before) ? before : {}), ...Object.keys(isPlainObject(after) ? after : {})])].sort();
      for (const k of keys) {
        const b = isPlainObject(before) ? before[k] : undefined;
        const a = isPlainObject(after) ? after[k] : undefined;
        ctx.push(RANK.data, presence(`${top}.${k}`, b, a));
      }
      if (keys.length === 0) ctx.push(RANK.data, `${top} changed`);
      return;
    }
    return ctx.push(RANK.data, presence(`${top}.${key}`, before, after));
  }
  // Kinds gantry does not know may carry secrets anywhere: never show their values.
  if (ctx.kind === 'Secret') return ctx.push(RANK.data, presence(formatPath(path), before, after));

  if (top === 'spec') return specPhrase(leaf, ctx);
  if (top === 'status') return statusPhrase(leaf, ctx);
  ctx.push(RANK.other, transition(formatPath(path), before, after));
}

function metadataPhrase(leaf: Leaf, ctx: PhraseContext): void {
  const { path, before, after } = leaf;
  const field = segName(path[1]);
  if (field === undefined || IGNORED_METADATA.has(field)) return;
  if (field === 'deletionTimestamp') {
    if (after !== undefined) ctx.push(RANK.schedule, 'marked for deletion');
    return;
  }
  if (field === 'labels') {
    const key = segName(path[2]);
    if (key === undefined) return ctx.push(RANK.meta, 'labels changed');
    return ctx.push(RANK.meta, transition(`label ${key}`, before, after));
  }
  if (field === 'annotations') {
    const key = segName(path[2]);
    if (key === undefined) return ctx.push(RANK.meta, 'annotations changed');
    return ctx.push(RANK.meta, presence(`annotation ${key}`, before, after));
  }
  if (field === 'ownerReferences') return ctx.push(RANK.meta, 'owner references changed');
  if (field === 'finalizers') return ctx.push(RANK.meta, 'finalizers changed');
  ctx.push(RANK.meta, transition(`metadata.${field}`, before, after));
}

function specPhrase(leaf: Leaf, ctx: PhraseContext): void {
  const { path, before, after } = leaf;
  if (path.length === 2 && isKey(path[1], 'replicas')) {
    return ctx.push(RANK.spec, transition('replicas', before, after));
  }
  const start = podSpecStart(ctx.kind, path);
  if (start !== undefined) {
    const rest = path.slice(start);
    const field = segName(rest[0]);
    if (ctx.kind === 'Pod' && rest.length === 1 && field === 'nodeName') {
      if (before === undefined && typeof after === 'string') return ctx.push(RANK.schedule, `scheduled to ${after}`);
      return ctx.push(RANK.schedule, transition('nodeName', before, after));
    }
    if ((field === 'containers' || field === 'initContainers') && rest[1] && 'item' in rest[1]) {
      const container = rest[1].item;
      const what = field === 'containers' ? 'container' : 'init container';
      if (rest.length === 2) {
        return ctx.push(RANK.spec, `${what} ${container} ${before === undefined ? 'added' : after === undefined ? 'removed' : 'changed'}`);
      }
      const prop = segName(rest[2]);
      if (prop === 'image' && rest.length === 3) {
        return ctx.push(RANK.spec, `${transition('image', before, after)} (${what} ${container})`);
      }
      if (prop === 'env') {
        const name = segName(rest[3]);
        const label = name === undefined ? 'env' : `env ${name}`;
        return ctx.push(RANK.spec, `${presence(label, rest.length > 4 ? true : before, rest.length > 4 ? true : after)} (${what} ${container})`);
      }
      const sub = formatPath(rest.slice(2));
      return ctx.push(RANK.spec, `${transition(sub, before, after)} (${what} ${container})`);
    }
  }
  ctx.push(RANK.spec, transition(formatPath(path.slice(1)), before, after));
}

function statusPhrase(leaf: Leaf, ctx: PhraseContext): void {
  const { path, before, after } = leaf;
  const field = segName(path[1]);
  if (field === undefined) return ctx.push(RANK.other, before === undefined ? 'status set' : 'status changed');
  const last = segName(path[path.length - 1]);
  if (last !== undefined && NOISE_FIELDS.has(last)) return;

  if (field === 'phase' && path.length === 2) return ctx.push(RANK.phase, transition('phase', before, after));

  if (field === 'conditions') {
    const type = segName(path[2]);
    if (type === undefined) return ctx.push(RANK.condition, 'conditions changed');
    if (path.length === 3) {
      const status = (c: unknown) => (isPlainObject(c) ? c.status : undefined);
      if (before === undefined) return ctx.push(RANK.condition, `${type} ${show(status(after)) ?? 'added'}`);
      if (after === undefined) return ctx.push(RANK.condition, `${type} condition removed`);
      return ctx.push(RANK.condition, transition(type, status(before), status(after)));
    }
    const prop = segName(path[3]);
    if (prop === 'status') return ctx.push(RANK.condition, transition(type, before, after));
    if (prop === 'reason') return ctx.push(RANK.condition, transition(`${type} reason`, before, after));
    return;
  }

  if ((field === 'containerStatuses' || field === 'initContainerStatuses') && path[2] && 'item' in path[2]) {
    const name = path[2].item;
    const what = field === 'containerStatuses' ? 'container' : 'init container';
    if (path.length === 3) {
      const state = isPlainObject(after) ? describeState(after.state) : undefined;
      if (after !== undefined && state) return ctx.push(RANK.container, `${what} ${name} ${state}`);
      return ctx.push(RANK.container, `${what} ${name} status ${after === undefined ? 'removed' : 'changed'}`);
    }
    const prop = segName(path[3]);
    if (prop === 'state') {
      // Several leaves change together (running appears, waiting goes): describe the new state once.
      const statuses = isPlainObject(ctx.after.status) ? ctx.after.status[field] : undefined;
      const current = Array.isArray(statuses)
        ? statuses.find((s) => isPlainObject(s) && s.name === name)
        : undefined;
      const state = isPlainObject(current) ? describeState(current.state) : undefined;
      return ctx.push(RANK.container, `${what} ${name} ${state ?? 'state changed'}`);
    }
    if (prop === 'lastState') return;
    if (prop === 'restartCount') return ctx.push(RANK.container, `${transition('restarts', before, after)} (${what} ${name})`);
    if (prop === 'ready') return ctx.push(RANK.container, `${transition('ready', before, after)} (${what} ${name})`);
    return ctx.push(RANK.container, `${transition(formatPath(path.slice(3)), before, after)} (${what} ${name})`);
  }

  ctx.push(RANK.other, transition(formatPath(path.slice(1)), before, after));
}

/** "running", "waiting (CrashLoopBackOff)", "terminated (exit 1, Error)". */
function describeState(state: unknown): string | undefined {
  if (!isPlainObject(state)) return undefined;
  if (isPlainObject(state.running)) return 'running';
  if (isPlainObject(state.waiting)) {
    const reason = show(state.waiting.reason);
    return reason ? `waiting (${reason})` : 'waiting';
  }
  if (isPlainObject(state.terminated)) {
    const parts: string[] = [];
    if (typeof state.terminated.exitCode === 'number') parts.push(`exit ${state.terminated.exitCode}`);
    const reason = show(state.terminated.reason);
    if (reason) parts.push(reason);
    return parts.length ? `terminated (${parts.join(', ')})` : 'terminated';
  }
  return undefined;
}
