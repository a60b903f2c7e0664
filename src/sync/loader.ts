/**
 * Manifest loading: source files → desired objects with their origin (file, line, document).
 *
 * Parsing is safe and bounded: js-yaml with plain data types only (no functions, no classes),
 * duplicate keys are errors, and each file is limited in size, document count and alias use
 * (aliases are counted and their expansion is measured before anything is constructed, so a
 * "billion laughs" document is refused after one linear pass over its events).
 *
 * Scalars resolve as Kubernetes resolves them (sigs.k8s.io/yaml, YAML 1.1): `0644` is octal,
 * `yes`/`no`/`on`/`off` are booleans, and merge keys (`<<: *base`) work. Timestamps stay
 * strings (there is no date type in a manifest).
 */
import {
  EVENT_ID,
  JSON_SCHEMA,
  Schema,
  YAMLException,
  boolYaml11Tag,
  constructFromEvents,
  floatYaml11Tag,
  intYaml11Tag,
  mapTag,
  mergeTag,
  nullYaml11Tag,
  parseEvents,
  seqTag,
  strTag,
  type Event,
} from 'js-yaml';
import path from 'node:path';
import { objectKey } from '../model/keys.js';
import type { KubeObject } from '../model/types.js';
import { LineIndex, documentRoot, locatePath, nodeStart, parseFieldPath, sequenceItemStarts } from './locate.js';
import type { DesiredObject, ManifestIssue, SourceFile } from './types.js';

/** Kubernetes-compatible YAML: YAML 1.1 scalars and merge keys, nothing executable. */
const MANIFEST_SCHEMA = new Schema([strTag, seqTag, mapTag, nullYaml11Tag, boolYaml11Tag, intYaml11Tag, floatYaml11Tag, mergeTag]);

/** Limits applied per file. */
export interface LoaderLimits {
  /** Largest file accepted, in bytes. Default 1 MiB. */
  maxFileBytes?: number;
  /** Most documents in one file. Default 1000. */
  maxDocuments?: number;
  /** Most aliases (`*name`) in one document. Default 100. */
  maxAliases?: number;
  /**
   * Most nodes a document that uses aliases may expand to (each alias counts as the size of
   * what it points at). Default 100,000. Documents without aliases are bounded by
   * `maxFileBytes` instead.
   */
  maxExpandedNodes?: number;
}

/** What a validator is told about the object it checks. */
export interface ValidateContext {
  file: string;
  /** 1-based line where the object starts. */
  line: number;
  /** 0-based document index in the file. */
  document: number;
  /** The object's key, `Kind/namespace/name`. */
  key: string;
}

/**
 * Checks one object. Issues may leave `file`, `line` and `object` unset: the loader fills them,
 * mapping `field` (a dotted path such as `spec.template.spec.containers[0].image`) to the line
 * of that field in the file. Must be a pure function of the object: results are cached by
 * content id together with the validator's identity.
 */
export type ManifestValidator = (obj: KubeObject, ctx: ValidateContext) => Array<Omit<ManifestIssue, 'file'> & { file?: string }>;

/** Options for {@link loadManifests}. */
export interface LoadManifestsOptions {
  limits?: LoaderLimits;
  validate?: ManifestValidator;
  /** Reuses parse (and validation) results of files whose `oid` was seen before. */
  cache?: ManifestCache;
}

/** Result of {@link loadManifests}: the objects, and every problem found (empty when valid). */
export interface LoadResult {
  objects: DesiredObject[];
  issues: ManifestIssue[];
}

/** One object of a parsed file, before file names are attached. */
interface ParsedObject {
  object: KubeObject;
  key: string;
  line: number;
  document: number;
  /** Path prefix inside the document (`['items', 3]` for an item of a List). */
  prefix: Array<string | number>;
}

type FileIssue = Omit<ManifestIssue, 'file'>;

/** The result of parsing one file's content, independent of where the file sits. */
interface ParsedFile {
  objects: ParsedObject[];
  issues: FileIssue[];
}

interface CacheEntry {
  parsed: ParsedFile;
  validator?: ManifestValidator;
  /** Validation issues per object (same order as `parsed.objects`), for `validator`. */
  validation?: FileIssue[][];
}

/**
 * Parse results by content id, least recently used dropped first. Objects held here are shared
 * by every load that hits the cache: treat loaded objects as read-only (copy before changing).
 */
export class ManifestCache {
  private readonly entries = new Map<string, CacheEntry>();
  private readonly maxEntries: number;

  constructor(opts: { maxEntries?: number } = {}) {
    this.maxEntries = opts.maxEntries ?? 50_000;
  }

  /** Number of cached files. */
  get size(): number {
    return this.entries.size;
  }

  /** @internal */
  get(key: string): CacheEntry | undefined {
    const e = this.entries.get(key);
    if (e) {
      // Re-insert so iteration order is least recently used first.
      this.entries.delete(key);
      this.entries.set(key, e);
    }
    return e;
  }

  /** @internal */
  set(key: string, entry: CacheEntry): void {
    this.entries.delete(key);
    this.entries.set(key, entry);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  /** Drops everything. */
  clear(): void {
    this.entries.clear();
  }
}

const DEFAULTS: Required<LoaderLimits> = {
  maxFileBytes: 1024 * 1024,
  maxDocuments: 1000,
  maxAliases: 100,
  maxExpandedNodes: 100_000,
};

const decoder = new TextDecoder('utf-8', { fatal: true });

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The key named at a duplicate-key error position, for a friendlier message. */
function keyAt(text: string, pos: number): string | undefined {
  const m = /^(?:"((?:[^"\\\n]|\\.)*)"|'((?:[^'\n]|'')*)'|([^:\n#{}[\],]+?))\s*:/.exec(text.slice(pos, pos + 300));
  return m ? (m[1] ?? m[2]?.replace(/''/g, "'") ?? m[3]) : undefined;
}

function yamlIssue(err: unknown): FileIssue {
  if (err instanceof YAMLException) {
    const line = err.mark ? err.mark.line + 1 : undefined;
    let message = err.reason || err.message;
    if (err.mark && /duplicated mapping key/.test(message)) {
      const key = keyAt(err.mark.buffer, err.mark.position);
      message = key !== undefined ? `duplicate key "${key}"` : 'duplicate key';
    }
    return { line, message: `invalid YAML: ${message}` };
  }
  return { message: `invalid YAML: ${err instanceof Error ? err.message : String(err)}` };
}

interface DocInfo {
  /** Index of the document's root node event. */
  root: number;
  /** Offset where the document's content starts (-1 when empty). */
  start: number;
}

/**
 * One pass over the events: splits documents, and refuses a file with too many documents or a
 * document with too many aliases or too large an expansion. Returns an issue or the documents.
 */
function scanEvents(events: Event[], text: string, limits: Required<LoaderLimits>, lines: () => LineIndex): FileIssue | DocInfo[] {
  const docs: DocInfo[] = [];
  // Expanded size of each open container, and its anchor name.
  const sizes: number[] = [];
  const anchors: Array<string | undefined> = [];
  let anchorSizes = new Map<string, number>();
  let aliases = 0;
  let docStart = -1;
  for (let i = 0; i < events.length; i++) {
    const ev = events[i] as Event;
    switch (ev.type) {
      case EVENT_ID.DOCUMENT:
        if (docs.length >= limits.maxDocuments) {
          return { message: `too many documents: more than ${limits.maxDocuments} in one file` };
        }
        docs.push({ root: i + 1, start: nodeStart(events[i + 1] as Event) });
        docStart = docs[docs.length - 1]?.start ?? -1;
        sizes.length = 0;
        anchors.length = 0;
        sizes.push(0);
        anchors.push(undefined);
        anchorSizes = new Map();
        aliases = 0;
        break;
      case EVENT_ID.MAPPING:
      case EVENT_ID.SEQUENCE:
        sizes.push(1);
        anchors.push(ev.anchorStart >= 0 ? text.slice(ev.anchorStart, ev.anchorEnd) : undefined);
        break;
      case EVENT_ID.SCALAR:
        if (ev.anchorStart >= 0) anchorSizes.set(text.slice(ev.anchorStart, ev.anchorEnd), 1);
        sizes[sizes.length - 1] = (sizes[sizes.length - 1] ?? 0) + 1;
        break;
      case EVENT_ID.ALIAS: {
        const where = docStart >= 0 ? lines().lineOf(docStart) : undefined;
        if (++aliases > limits.maxAliases) {
          return { line: where, message: `too many aliases: more than ${limits.maxAliases} in one document` };
        }
        const size = anchorSizes.get(text.slice(ev.anchorStart, ev.anchorEnd)) ?? 1;
        const total = (sizes[sizes.length - 1] ?? 0) + size;
        sizes[sizes.length - 1] = total;
        if (total > limits.maxExpandedNodes) {
          return { line: where, message: `aliases expand this document beyond ${limits.maxExpandedNodes} nodes (refused as an alias bomb)` };
        }
        break;
      }
      case EVENT_ID.POP: {
        const size = sizes.pop() ?? 0;
        const anchor = anchors.pop();
        if (anchor !== undefined) anchorSizes.set(anchor, size);
        if (sizes.length > 0) {
          const total = (sizes[sizes.length - 1] ?? 0) + size;
          sizes[sizes.length - 1] = total;
          if (aliases > 0 && total > limits.maxExpandedNodes) {
            const where = docStart >= 0 ? lines().lineOf(docStart) : undefined;
            return { line: where, message: `aliases expand this document beyond ${limits.maxExpandedNodes} nodes (refused as an alias bomb)` };
          }
        }
        break;
      }
    }
  }
  return docs;
}

/** Checks the identity fields every manifest needs; returns a problem or undefined. */
function identityProblem(doc: Record<string, unknown>): string | undefined {
  const missing: string[] = [];
  if (typeof doc.apiVersion !== 'string' || doc.apiVersion === '') missing.push('apiVersion');
  if (typeof doc.kind !== 'string' || doc.kind === '') missing.push('kind');
  const meta = doc.metadata;
  if (!isRecord(meta) || typeof meta.name !== 'string' || meta.name === '') missing.push('metadata.name');
  return missing.length ? `not a manifest: ${missing.join(', ')} missing or not a string` : undefined;
}

/** Parses one file's text. Pure: the result depends only on the content and extension. */
function parseFile(text: string, isJson: boolean, limits: Required<LoaderLimits>): ParsedFile {
  const issues: FileIssue[] = [];
  const objects: ParsedObject[] = [];
  let lineIndex: LineIndex | undefined;
  const lines = (): LineIndex => (lineIndex ??= new LineIndex(text));

  let events: Event[];
  let values: unknown[];
  let docs: DocInfo[];
  try {
    events = parseEvents(text, {});
    const scanned = scanEvents(events, text, limits, lines);
    if (!Array.isArray(scanned)) return { objects, issues: [scanned] };
    docs = scanned;
    if (isJson && docs.length > 1) return { objects, issues: [{ message: 'a JSON file holds one document' }] };
    values = constructFromEvents(events, { source: text, schema: isJson ? JSON_SCHEMA : MANIFEST_SCHEMA, maxAliases: limits.maxAliases });
  } catch (err) {
    return { objects, issues: [yamlIssue(err)] };
  }

  values.forEach((value, document) => {
    const info = docs[document];
    if (value === null || value === undefined || !info) return;
    const line = info.start >= 0 ? lines().lineOf(info.start) : 1;
    if (!isRecord(value)) {
      issues.push({ line, message: `document ${document + 1} is not a mapping (found ${Array.isArray(value) ? 'a sequence' : typeof value})` });
      return;
    }
    if (value.kind === 'List' && Array.isArray(value.items)) {
      const starts = sequenceItemStarts(events, text, info.root, ['items']);
      value.items.forEach((item, idx) => {
        const start = starts[idx];
        const itemLine = start !== undefined && start >= 0 ? lines().lineOf(start) : line;
        const problem = !isRecord(item) ? 'not a mapping' : item.kind === 'List' ? 'a List inside a List' : identityProblem(item);
        if (problem) {
          issues.push({ line: itemLine, field: `items[${idx}]`, message: `List item ${idx}: ${problem}` });
          return;
        }
        const object = item as unknown as KubeObject;
        objects.push({ object, key: objectKey(object), line: itemLine, document, prefix: ['items', idx] });
      });
      return;
    }
    const problem = identityProblem(value);
    if (problem) {
      issues.push({ line, message: problem });
      return;
    }
    const object = value as unknown as KubeObject;
    objects.push({ object, key: objectKey(object), line, document, prefix: [] });
  });
  return { objects, issues };
}

/** Lines for validator issues: re-parses the file's events only when there are issues. */
function placeIssues(text: string, parsed: ParsedObject, raw: ReturnType<ManifestValidator>, events: () => Event[], lines: () => LineIndex): FileIssue[] {
  return raw.map((issue) => {
    const out: FileIssue = { ...issue, object: issue.object ?? parsed.key };
    delete (out as { file?: string }).file;
    if (out.line === undefined) {
      out.line = parsed.line;
      if (issue.field) {
        try {
          const ev = events();
          const root = documentRoot(ev, parsed.document);
          if (root >= 0) {
            const offset = locatePath(ev, text, root, [...parsed.prefix, ...parseFieldPath(issue.field)]);
            if (offset >= 0) out.line = lines().lineOf(offset);
          }
        } catch {
          // Keep the object's line: the text parsed once already, so this is not expected.
        }
      }
    }
    return out;
  });
}

/** Where a symlink inside the source points, or undefined when it leads out of it. */
function symlinkDestination(file: string, target: string): string | undefined {
  if (target.startsWith('/') || /^[A-Za-z]:[\\/]/.test(target)) return undefined;
  const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(file), target.replace(/\\/g, '/')));
  if (resolved === '..' || resolved.startsWith('../')) return undefined;
  return resolved;
}

/**
 * Loads manifests from source files: `*.yaml`/`*.yml` (multi-document) and `*.json`, with
 * Kubernetes `List` objects expanded into their items. Returns every object with its origin,
 * and every problem found; a caller applies the objects only when `issues` is empty.
 *
 * Symlinks: one leading out of the source root (absolute, or `..` past the root) is an issue;
 * one inside it is not loaded under its own name, because its target is loaded from its own
 * path when it is a manifest (loading both would declare every object twice).
 */
export function loadManifests(files: SourceFile[], opts: LoadManifestsOptions = {}): LoadResult {
  const limits: Required<LoaderLimits> = { ...DEFAULTS, ...stripUndefined(opts.limits ?? {}) };
  const limitsKey = `${limits.maxFileBytes}/${limits.maxDocuments}/${limits.maxAliases}/${limits.maxExpandedNodes}`;
  const objects: DesiredObject[] = [];
  const issues: ManifestIssue[] = [];
  const seen = new Map<string, { file: string; line: number }>();
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

  for (const file of sorted) {
    if (file.symlinkTarget !== undefined) {
      if (symlinkDestination(file.path, file.symlinkTarget) === undefined) {
        issues.push({ file: file.path, message: `${file.path} is a symlink leading out of the repository (to ${file.symlinkTarget}); refused` });
      }
      continue;
    }
    const lower = file.path.toLowerCase();
    const isJson = lower.endsWith('.json');
    if (!isJson && !lower.endsWith('.yaml') && !lower.endsWith('.yml')) continue;
    const content = file.content ?? new Uint8Array();
    if (content.byteLength > limits.maxFileBytes) {
      issues.push({ file: file.path, message: `file is too large: ${content.byteLength} bytes, the limit is ${limits.maxFileBytes}` });
      continue;
    }

    const cacheKey = file.oid !== undefined && opts.cache ? `${file.oid}:${isJson ? 'json' : 'yaml'}:${limitsKey}` : undefined;
    let entry = cacheKey !== undefined ? opts.cache?.get(cacheKey) : undefined;
    let text: string | undefined;
    const getText = (): string => (text ??= decodeText(content));
    if (!entry) {
      let parsed: ParsedFile;
      try {
        parsed = parseFile(getText(), isJson, limits);
      } catch (err) {
        parsed = { objects: [], issues: [{ message: err instanceof Error ? err.message : String(err) }] };
      }
      entry = { parsed };
      if (cacheKey !== undefined) opts.cache?.set(cacheKey, entry);
    }
    for (const issue of entry.parsed.issues) issues.push({ file: file.path, ...issue });

    if (opts.validate && entry.parsed.objects.length > 0 && (entry.validator !== opts.validate || !entry.validation)) {
      let events: Event[] | undefined;
      let lineIndex: LineIndex | undefined;
      const validate = opts.validate;
      entry.validation = entry.parsed.objects.map((p) => {
        const raw = validate(p.object, { file: file.path, line: p.line, document: p.document, key: p.key });
        if (raw.length === 0) return [];
        return placeIssues(getText(), p, raw, () => (events ??= parseEvents(getText(), {})), () => (lineIndex ??= new LineIndex(getText())));
      });
      entry.validator = validate;
    }

    entry.parsed.objects.forEach((p, idx) => {
      const prior = seen.get(p.key);
      if (prior) {
        issues.push({
          file: file.path,
          line: p.line,
          object: p.key,
          message: `${p.key} is declared twice: ${prior.file} line ${prior.line} and ${file.path} line ${p.line}`,
        });
        return;
      }
      seen.set(p.key, { file: file.path, line: p.line });
      objects.push({ object: p.object, source: { file: file.path, line: p.line, document: p.document } });
      for (const issue of entry.validation?.[idx] ?? []) issues.push({ ...issue, file: file.path });
    });
  }
  return { objects, issues };
}

function decodeText(content: Uint8Array): string {
  let text: string;
  try {
    text = decoder.decode(content);
  } catch {
    throw new Error('file is not valid UTF-8 text');
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
