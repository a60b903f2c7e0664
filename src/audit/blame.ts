/**
 * `gantry blame`: for each field of an object, the change that gave it its current value — the
 * desired commit (and its author) when the sync loop set it, or the controller or node that did —
 * found by walking the object's versions on the status branch, oldest first, as `git blame` walks
 * a file's. Pure: the recorder reads the versions, this attributes them.
 */
import type { KubeObject } from '../model/types.js';
import type { HistoryEntry } from './types.js';

/** One field of an object and the change that set its value. */
export interface BlameLine {
  /** `spec.replicas`, `metadata.labels.app`, `spec.template.spec.containers[0].image`. */
  path: string;
  /** The value (Secret values as their digests). */
  value: unknown;
  /** Who set it: `sync`, `controller/deployment`, `node/vm`, …; `unrecorded` when the history has not caught up. */
  actor: string;
  /** The desired commit that set it, when the sync loop did. */
  desiredRevision?: string;
  /** That commit's author, `Name <email>`. */
  desiredAuthor?: string;
  /** The status-branch commit that recorded it. */
  statusCommit?: string;
  /** When it was recorded (ISO). */
  at?: string;
}

/** One recorded version of the object: the history entry and the object as then (absent: deleted). */
export interface ObjectVersion {
  entry: HistoryEntry;
  object: KubeObject | undefined;
}

/** Actor of a live field that no recorded version holds yet (the recorder lags, or was off). */
export const UNRECORDED = 'unrecorded';

/** Metadata fields a user or a controller sets; the rest (uid, resourceVersion, …) is bookkeeping. */
const BLAMED_METADATA = ['labels', 'annotations', 'ownerReferences', 'finalizers', 'deletionTimestamp'];

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

function join(base: string, key: string): string {
  if (PLAIN_KEY.test(key)) return base ? `${base}.${key}` : key;
  return `${base}[${JSON.stringify(key)}]`;
}

function walk(value: unknown, path: string, out: Map<string, unknown>): void {
  if (Array.isArray(value)) {
    if (value.length === 0) out.set(path, []);
    value.forEach((v, i) => walk(v, `${path}[${i}]`, out));
    return;
  }
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value);
    if (entries.length === 0) out.set(path, {});
    for (const [k, v] of entries) walk(v, join(path, k), out);
    return;
  }
  if (value !== undefined) out.set(path, value);
}

/**
 * The blamed fields of an object and their values, in the object's order: every leaf of its
 * content (spec, data, status, …) and of the metadata a user or controller sets (labels,
 * annotations, owner references, finalizers); never apiVersion, kind or server bookkeeping.
 */
export function blamedFields(obj: KubeObject): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const key of BLAMED_METADATA) {
    const v = (obj.metadata as unknown as Record<string, unknown>)[key];
    if (v !== undefined) walk(v, `metadata.${key}`, out);
  }
  for (const [key, v] of Object.entries(obj)) {
    if (key === 'apiVersion' || key === 'kind' || key === 'metadata') continue;
    walk(v, join('', key), out);
  }
  return out;
}

function same(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

function lineFrom(path: string, value: unknown, entry: HistoryEntry): BlameLine {
  return {
    path, value, actor: entry.actor,
    ...(entry.desiredRevision ? { desiredRevision: entry.desiredRevision } : {}),
    ...(entry.desiredAuthor ? { desiredAuthor: entry.desiredAuthor } : {}),
    statusCommit: entry.commit, at: entry.at,
  };
}

/**
 * Attributes each field to the oldest version since which it has held its current value. A
 * deletion starts the attribution afresh (a recreated object owes nothing to the old one).
 * With `live` (redacted as the history is), the fields are the live object's, and a field whose
 * live value no version holds yet is `unrecorded`; without it, the newest version's.
 */
export function blame(versions: readonly ObjectVersion[], live?: KubeObject): BlameLine[] {
  let prev = new Map<string, unknown>();
  let setBy = new Map<string, HistoryEntry>();
  for (const { entry, object } of versions) {
    if (!object) {
      prev = new Map();
      setBy = new Map();
      continue;
    }
    const cur = blamedFields(object);
    const next = new Map<string, HistoryEntry>();
    for (const [path, value] of cur) {
      const kept = setBy.get(path);
      next.set(path, kept && prev.has(path) && same(prev.get(path), value) ? kept : entry);
    }
    prev = cur;
    setBy = next;
  }
  const fields = live ? blamedFields(live) : prev;
  const lines: BlameLine[] = [];
  for (const [path, value] of fields) {
    const entry = setBy.get(path);
    if (entry && same(prev.get(path), value)) lines.push(lineFrom(path, value, entry));
    else lines.push({ path, value, actor: UNRECORDED });
  }
  return lines;
}
