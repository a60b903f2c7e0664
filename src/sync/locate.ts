/**
 * Positions inside YAML/JSON text, from js-yaml's event stream (which carries source offsets).
 *
 * Used only when something must be reported: the loader's fast path never calls these.
 */
import { EVENT_ID, getScalarValue, type Event, type ScalarEvent } from 'js-yaml';

/** One segment of a field path: a mapping key or a sequence index. */
export type PathSegment = string | number;

/**
 * Parses a field path such as `spec.template.spec.containers[0].image`,
 * `metadata.labels["app.kubernetes.io/name"]` or a JSON Pointer (`/spec/replicas`).
 */
export function parseFieldPath(field: string): PathSegment[] {
  if (field.startsWith('/')) {
    return field
      .slice(1)
      .split('/')
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
      .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
  }
  const out: PathSegment[] = [];
  const re = /\[(\d+)\]|\[\s*"((?:[^"\\]|\\.)*)"\s*\]|\[\s*'([^']*)'\s*\]|([^.[\]]+)/g;
  for (let m = re.exec(field); m; m = re.exec(field)) {
    if (m[1] !== undefined) out.push(Number(m[1]));
    else if (m[2] !== undefined) out.push(m[2].replace(/\\(.)/g, '$1'));
    else if (m[3] !== undefined) out.push(m[3]);
    else if (m[4] !== undefined) out.push(m[4]);
  }
  return out;
}

/** Maps offsets in `text` to 1-based line numbers. */
export class LineIndex {
  private readonly starts: number[] = [0];

  constructor(text: string) {
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) this.starts.push(i + 1);
  }

  /** 1-based line of a 0-based offset. */
  lineOf(offset: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.starts[mid] as number) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  }
}

/** Source offset where a node's text begins, or -1 when it has none (an empty value). */
export function nodeStart(ev: Event): number {
  switch (ev.type) {
    case EVENT_ID.MAPPING:
    case EVENT_ID.SEQUENCE:
      return ev.anchorStart >= 0 ? Math.min(ev.anchorStart, ev.start) : ev.start;
    case EVENT_ID.SCALAR:
      return ev.valueStart >= 0 ? ev.valueStart : Math.max(ev.anchorStart, ev.tagStart);
    case EVENT_ID.ALIAS:
      return ev.anchorStart - 1;
    default:
      return -1;
  }
}

/** Index of the event after the node starting at `i`. */
export function skipNode(events: Event[], i: number): number {
  const ev = events[i];
  if (!ev || (ev.type !== EVENT_ID.MAPPING && ev.type !== EVENT_ID.SEQUENCE && ev.type !== EVENT_ID.DOCUMENT)) return i + 1;
  let depth = 0;
  for (let k = i; k < events.length; k++) {
    const t = (events[k] as Event).type;
    if (t === EVENT_ID.MAPPING || t === EVENT_ID.SEQUENCE || t === EVENT_ID.DOCUMENT) depth++;
    else if (t === EVENT_ID.POP && --depth === 0) return k + 1;
  }
  return events.length;
}

/** Index of the root node event of document `doc` (0-based), or -1. */
export function documentRoot(events: Event[], doc: number): number {
  let seen = -1;
  for (let i = 0; i < events.length; i = skipNode(events, i)) {
    if ((events[i] as Event).type === EVENT_ID.DOCUMENT && ++seen === doc) return i + 1;
  }
  return -1;
}

/**
 * Offset of the node at `path` below the node at event index `root`: the key's offset for a
 * mapping entry, the item's for a sequence element. When the path leads somewhere that is
 * not in the text (a missing field, a value from a merge key or an alias), the offset of the
 * deepest part that exists.
 */
export function locatePath(events: Event[], text: string, root: number, path: PathSegment[]): number {
  let i = root;
  let best = nodeStart(events[i] as Event);
  for (const seg of path) {
    const ev = events[i];
    if (!ev) break;
    let next = -1;
    if (ev.type === EVENT_ID.MAPPING) {
      for (let k = i + 1; k < events.length && (events[k] as Event).type !== EVENT_ID.POP; ) {
        const key = events[k] as Event;
        const value = skipNode(events, k);
        if (key.type === EVENT_ID.SCALAR && getScalarValue(text, key as ScalarEvent) === String(seg)) {
          const start = nodeStart(key);
          if (start >= 0) best = start;
          next = value;
          break;
        }
        k = skipNode(events, value);
      }
    } else if (ev.type === EVENT_ID.SEQUENCE && typeof seg === 'number') {
      let k = i + 1;
      for (let n = 0; n < seg && k < events.length && (events[k] as Event).type !== EVENT_ID.POP; n++) k = skipNode(events, k);
      if (k < events.length && (events[k] as Event).type !== EVENT_ID.POP) {
        const start = nodeStart(events[k] as Event);
        if (start >= 0) best = start;
        next = k;
      }
    }
    if (next < 0) break;
    i = next;
  }
  return best;
}

/** Offsets of the items of the sequence at `path` (e.g. a `List`'s `items`), in order. */
export function sequenceItemStarts(events: Event[], text: string, root: number, path: PathSegment[]): number[] {
  // Walk to the sequence through its parent key, then list the children.
  let i = root;
  for (const seg of path) {
    const ev = events[i];
    if (!ev || ev.type !== EVENT_ID.MAPPING) return [];
    let next = -1;
    for (let k = i + 1; k < events.length && (events[k] as Event).type !== EVENT_ID.POP; ) {
      const key = events[k] as Event;
      const value = skipNode(events, k);
      if (key.type === EVENT_ID.SCALAR && getScalarValue(text, key as ScalarEvent) === String(seg)) {
        next = value;
        break;
      }
      k = skipNode(events, value);
    }
    if (next < 0) return [];
    i = next;
  }
  const seq = events[i];
  if (!seq || seq.type !== EVENT_ID.SEQUENCE) return [];
  const out: number[] = [];
  for (let k = i + 1; k < events.length && (events[k] as Event).type !== EVENT_ID.POP; k = skipNode(events, k)) {
    out.push(nodeStart(events[k] as Event));
  }
  return out;
}
