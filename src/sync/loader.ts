/**
 * Manifest loading: source files → desired objects with their origin (file, line, document).
 *
 * Parsing is safe and bounded: js-yaml with plain data types only (no functions, no classes),
 * duplicate keys are errors, and each file is limited in size, document count and alias use.
 * js-yaml shares an aliased node instead of copying it, so even a "billion laughs" document
 * parses in linear time; aliases are counted while parsing, and a document that uses any has
 * its expanded size measured (a walk that visits each shared node once) before it is accepted.
 *
 * Scalars resolve as Kubernetes resolves them (sigs.k8s.io/yaml, YAML 1.1): `0644` is octal,
 * `yes`/`no`/`on`/`off` are booleans, and merge keys (`<<: *base`) work. Timestamps stay
 * strings (there is no date type in a manifest). A null field is unset, as the API server
 * decodes it (nulls.ts); an object named only by `generateName` is refused, saying why.
 */
import { FAILSAFE_SCHEMA, Type, YAMLException, loadAll, type EventType, type Schema, type State } from 'js-yaml';
import { objectKey } from '../model/keys.js';
import type { KubeObject } from '../model/types.js';
import type { RenderResult } from './kustomize/build.js';
import { symlinkDestination } from './kustomize/model.js';
import { renderKustomizations } from './kustomize/repository.js';
import { ManifestCache } from './manifest-cache.js';
import { SourceMap, parseFieldPath } from './locate.js';
import { dropNullFields } from './nulls.js';
import type { EncryptedFiles } from './sops/decryptor.js';
import type { DesiredObject, ManifestIssue, ReferencedFiles, SourceFile } from './types.js';

// YAML 1.1 scalars (https://yaml.org/type/), the set sigs.k8s.io/yaml resolves. Each resolver
// looks at the first character before any regular expression: it runs on every plain scalar.

const BOOLS = new Map<string, boolean>([
  ...['y', 'Y', 'yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON'].map((s) => [s, true] as const),
  ...['n', 'N', 'no', 'No', 'NO', 'false', 'False', 'FALSE', 'off', 'Off', 'OFF'].map((s) => [s, false] as const),
]);

const bool11 = new Type('tag:yaml.org,2002:bool', {
  kind: 'scalar',
  resolve: (data: string | null) => data !== null && BOOLS.has(data),
  construct: (data: string) => BOOLS.get(data),
});

const null11 = new Type('tag:yaml.org,2002:null', {
  kind: 'scalar',
  resolve: (data: string | null) => data === null || data === '' || data === '~' || data === 'null' || data === 'Null' || data === 'NULL',
  construct: () => null,
});

/** First characters a YAML 1.1 number can start with. */
function mayBeNumber(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || c === 0x2d /* - */ || c === 0x2b /* + */ || c === 0x2e; /* . */
}

const INT11 = /^(?:[-+]?0b[01_]+|[-+]?0[0-7_]+|[-+]?0x[0-9a-fA-F_]+|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+|[-+]?(?:0|[1-9][0-9_]*))$/;

/** Sign and digits of a number written with `_` separators. */
function splitSign(text: string): [number, string] {
  const digits = text.replace(/_/g, '');
  if (digits[0] === '-') return [-1, digits.slice(1)];
  if (digits[0] === '+') return [1, digits.slice(1)];
  return [1, digits];
}

/** Base-60 value of `1:30:15` style text. */
function sexagesimal(digits: string): number {
  let out = 0;
  for (const part of digits.split(':')) out = out * 60 + Number(part);
  return out;
}

function intValue(text: string): number {
  const [sign, digits] = splitSign(text);
  if (digits.startsWith('0b')) return sign * parseInt(digits.slice(2), 2);
  if (digits.startsWith('0x')) return sign * parseInt(digits.slice(2), 16);
  if (digits.includes(':')) return sign * sexagesimal(digits);
  // A leading zero means octal in YAML 1.1 (`0644`), as Kubernetes reads file modes.
  if (digits.length > 1 && digits[0] === '0') return sign * parseInt(digits, 8);
  return sign * parseInt(digits, 10);
}

const int11 = new Type('tag:yaml.org,2002:int', {
  kind: 'scalar',
  resolve: (data: string | null) => data !== null && data !== '' && mayBeNumber(data.charCodeAt(0)) && INT11.test(data) && Number.isFinite(intValue(data)),
  construct: (data: string) => intValue(data),
});

const FLOAT11 = /^(?:[-+]?(?:[0-9][0-9_]*)?\.[0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;

function floatValue(text: string): number {
  const [sign, digits] = splitSign(text.toLowerCase());
  if (digits === '.inf') return sign * Infinity;
  if (digits === '.nan') return NaN;
  return sign * (digits.includes(':') ? sexagesimal(digits) : parseFloat(digits));
}

const float11 = new Type('tag:yaml.org,2002:float', {
  kind: 'scalar',
  resolve: (data: string | null) => {
    if (data === null || data === '' || !mayBeNumber(data.charCodeAt(0)) || !FLOAT11.test(data)) return false;
    const v = floatValue(data);
    // `.` alone matches the pattern but is no number: it stays a string.
    return Number.isFinite(v) || /^[-+]?\.(?:inf|nan)$/i.test(data);
  },
  construct: (data: string) => floatValue(data),
});

const merge = new Type('tag:yaml.org,2002:merge', {
  kind: 'scalar',
  resolve: (data: string | null) => data === '<<' || data === null,
});

/**
 * The kind of node the last unknown tag was put on. js-yaml reports an unknown tag it found in
 * a catch-all type as "cannot resolve"; this lets the message say "unknown ... tag" instead.
 */
let unknownTagKind: string | undefined;

/** Catch-all types (a `multi` type with an empty prefix matches any tag) that refuse every tag. */
const unknownTags = (['scalar', 'sequence', 'mapping'] as const).map(
  (kind) =>
    new Type('', {
      kind,
      multi: true,
      resolve: () => {
        unknownTagKind = kind;
        return false;
      },
    }),
);

/** Kubernetes-compatible YAML: YAML 1.1 scalars and merge keys, nothing executable. */
const MANIFEST_SCHEMA: Schema = FAILSAFE_SCHEMA.extend({ implicit: [null11, bool11, int11, float11, merge], explicit: unknownTags });

/**
 * Files a kustomization renders (resources, patches): Kustomize parses them as YAML 1.2 (kyaml), where only `true` and
 * `false` are booleans and `yes`, `on`, `y` stay strings (it writes them back quoted), so a
 * rendered object carries them as strings. Numbers, octal modes and merge keys as above.
 */
const bool12 = new Type('tag:yaml.org,2002:bool', {
  kind: 'scalar',
  resolve: (data: string | null) => data === 'true' || data === 'True' || data === 'TRUE' || data === 'false' || data === 'False' || data === 'FALSE',
  construct: (data: string) => data.toLowerCase() === 'true',
});
const KUSTOMIZE_SCHEMA: Schema = FAILSAFE_SCHEMA.extend({ implicit: [null11, bool12, int11, float11, merge], explicit: unknownTags });
// JSON files: JSON's own scalars only (js-yaml's JSON_SCHEMA also reads `0x1F`, `True`, `.inf`).
const JSON_INT = /^-?(?:0|[1-9][0-9]*)$/;
const JSON_FLOAT = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?$/;
const jsonScalars = [
  new Type('tag:yaml.org,2002:null', { kind: 'scalar', resolve: (data: string | null) => data === null || data === 'null', construct: () => null }),
  new Type('tag:yaml.org,2002:bool', { kind: 'scalar', resolve: (data: string | null) => data === 'true' || data === 'false', construct: (data: string) => data === 'true' }),
  new Type('tag:yaml.org,2002:int', { kind: 'scalar', resolve: (data: string | null) => data !== null && JSON_INT.test(data) && Number.isFinite(Number(data)), construct: Number }),
  new Type('tag:yaml.org,2002:float', { kind: 'scalar', resolve: (data: string | null) => data !== null && JSON_FLOAT.test(data) && Number.isFinite(Number(data)), construct: Number }),
];
const JSON_MANIFEST_SCHEMA: Schema = FAILSAFE_SCHEMA.extend({ implicit: jsonScalars, explicit: unknownTags });

/** The YAML documents of a file as plain values with their lines, or why it cannot be read. */
export type ParsedValues = { values: Array<{ value: unknown; line: number }> } | { error: { line?: number; message: string } };

/** Validation of a render's objects (in its order), by validator. */
const renderValidation = new WeakMap<RenderResult, { validator: ManifestValidator; issues: ReturnType<ManifestValidator>[] }>();

/**
 * A kustomization file's YAML, read as Kustomize reads it (YAML 1.1 scalars, see above), with
 * the default limits: for the step that finds what kustomizations reference before loading.
 */
export function parseKustomizationYaml(file: SourceFile): ParsedValues {
  return parseYamlValues(file, DEFAULTS, MANIFEST_SCHEMA);
}

/** Kept here too: callers load and cache through this module. */
export { ManifestCache };

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
  /**
   * Reuses parse (and validation) results of files whose `oid` was seen before, and a
   * kustomization's render (and its validation) while every file it read is unchanged.
   */
  cache?: ManifestCache;
  /**
   * Files outside the synced directory that its kustomizations read (see
   * `readReferencedFiles`): reached through those kustomizations only, never loaded as
   * manifests or rendered on their own.
   */
  referenced?: ReferencedFiles;
  /**
   * SOPS-encrypted files, decrypted beforehand (see sops/decryptor.ts). Without it, an
   * encrypted file is an issue; with it, an encrypted file loads as the Secrets it decrypts to
   * (lines still point into the encrypted file, whose keys sit where the plain ones would).
   */
  encrypted?: EncryptedFiles;
}

/** Result of {@link loadManifests}: the objects, and every problem found (empty when valid). */
export interface LoadResult {
  objects: DesiredObject[];
  issues: ManifestIssue[];
}

/** One object of a parsed file, before file names are attached. */
export interface ParsedObject {
  object: KubeObject;
  key: string;
  line: number;
  document: number;
  /** Offset where the document's root node starts, to find it again for positions. */
  start: number;
  /** Path prefix inside the document (`['items', 3]` for an item of a List). */
  prefix: Array<string | number>;
}

/** A problem in a file, before the file's name is attached. */
export type FileIssue = Omit<ManifestIssue, 'file'>;

/** The result of parsing one file's content, independent of where the file sits. */
export interface ParsedFile {
  objects: ParsedObject[];
  issues: FileIssue[];
}

/** What the cache keeps of one file: its parse, and its validation by the last validator used. */
export interface CacheEntry {
  parsed: ParsedFile;
  validator?: ManifestValidator;
  /** Validation issues per object (same order as `parsed.objects`), for `validator`. */
  validation?: FileIssue[][];
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

/** 1-based line of an offset in `text`. */
function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

/** Where a document's root starts, past a tag (`--- !!map`): the line of its content, not of its tag. */
function rootStart(text: string, position: number): number {
  if (text.charCodeAt(position) !== 0x21 /* ! */) return position;
  const m = /^!\S*(?:[ \t]*(?:#[^\n]*)?\r?\n)*[ \t]*/.exec(text.slice(position, position + 1000));
  return m && position + m[0].length < text.length ? position + m[0].length : position;
}

function yamlIssue(err: unknown): FileIssue {
  if (err instanceof YAMLException) {
    // js-yaml checks for NUL before it counts lines: count them here.
    const line = err.mark ? (/^null byte/.test(err.reason) ? lineOf(err.mark.buffer, err.mark.position) : err.mark.line + 1) : undefined;
    let message = err.reason || err.message;
    const unknown = /^cannot resolve a node with (!<[^>]*>) explicit tag/.exec(message);
    if (unknown && unknownTagKind !== undefined) message = `unknown ${unknownTagKind} tag ${unknown[1]}`;
    if (err.mark && /duplicated mapping key/.test(message)) {
      const key = keyAt(err.mark.buffer, err.mark.position);
      message = key !== undefined ? `duplicate key "${key}"` : 'duplicate key';
    }
    return { line, message: `invalid YAML: ${message}` };
  }
  return { message: `invalid YAML: ${err instanceof Error ? err.message : String(err)}` };
}

/** What the parse recorded about one document. */
interface DocInfo {
  /** Offset where the document's root node starts (its anchor or tag, if any). */
  start: number;
  /** 1-based line of `start`. */
  line: number;
  /** Aliases (`*name`) used in the document. */
  aliases: number;
}

/** Thrown out of the parse to stop it as soon as a limit is crossed. */
class LimitCrossed {
  constructor(readonly issue: FileIssue) {}
}

/** js-yaml's parser state as its listener sees it (the typings leave out these fields). */
interface ParserState extends State {
  depth: number;
  tag: string | null;
}

/**
 * A listener for js-yaml's parse: records where each document's root starts and counts each
 * document's aliases, refusing a file with too many documents or a document with too many
 * aliases on the spot.
 */
function watchParse(docs: DocInfo[], limits: Required<LoaderLimits>): (this: State, type: EventType, state: State) => void {
  // End offsets of the aliases counted in the current document: js-yaml may report one alias
  // node twice (once as a would-be mapping key, once as the node itself), at the same offset.
  let aliasEnds: Set<number> | undefined;
  let doc: DocInfo | undefined;
  return (type, raw) => {
    const state = raw as ParserState;
    if (type === 'open') {
      if (state.depth !== 1) return;
      if (docs.length >= limits.maxDocuments) {
        throw new LimitCrossed({ message: `too many documents: more than ${limits.maxDocuments} in one file` });
      }
      const start = rootStart(state.input, state.position);
      let line = state.line + 1;
      for (let i = state.input.indexOf('\n', state.position); i >= 0 && i < start; i = state.input.indexOf('\n', i + 1)) line++;
      doc = { start, line, aliases: 0 };
      docs.push(doc);
      aliasEnds = undefined;
      return;
    }
    // An alias is the one node that closes with a value but neither a kind nor a tag.
    if (state.kind !== null || state.tag !== null || state.result === null || state.result === undefined || !doc) return;
    aliasEnds ??= new Set();
    if (aliasEnds.has(state.position)) return;
    aliasEnds.add(state.position);
    if (++doc.aliases > limits.maxAliases) {
      throw new LimitCrossed({ line: doc.line, message: `too many aliases: more than ${limits.maxAliases} in one document` });
    }
  };
}

/**
 * Number of nodes `root` stands for when every shared node is counted wherever it appears
 * (mapping keys count one each), as a consumer walking the data would see it. Stops counting
 * past `limit`; Infinity when the data contains itself (a recursive alias).
 */
function expandedSize(root: unknown, limit: number): number {
  const done = new Map<object, number>();
  const open = new Set<object>();
  // Explicit stack: shared nodes can chain deeper than the call stack allows.
  const stack: Array<{ node: object; children: unknown[]; next: number; size: number }> = [];
  let result = 0;
  const enter = (value: unknown): number | undefined => {
    if (typeof value !== 'object' || value === null) return 1;
    const known = done.get(value);
    if (known !== undefined) return known;
    if (open.has(value)) return Infinity;
    open.add(value);
    const children = Array.isArray(value) ? value : Object.values(value);
    // Each mapping key is a node of its own.
    stack.push({ node: value, children, next: 0, size: 1 + (Array.isArray(value) ? 0 : children.length) });
    return undefined;
  };
  const first = enter(root);
  if (first !== undefined) return first;
  while (stack.length > 0) {
    const top = stack[stack.length - 1] as (typeof stack)[number];
    if (top.next < top.children.length && top.size <= limit) {
      const size = enter(top.children[top.next++]);
      if (size !== undefined) top.size += size;
      continue;
    }
    stack.pop();
    open.delete(top.node);
    done.set(top.node, top.size);
    const parent = stack[stack.length - 1];
    if (parent) parent.size += top.size;
    else result = top.size;
  }
  return result;
}

/**
 * Why objects applied from Git cannot use `generateName`: a level-triggered sync pairs each
 * declared object with the live one by name, and a name made up at every apply would create a
 * new object on every sync and never prune the old ones (`kubectl apply` refuses it for the
 * same reason).
 */
export const GENERATE_NAME_MESSAGE =
  'metadata.generateName is not supported for objects applied from Git: gantry pairs each declared object with the live one by its name, so a generated name would make a new object at every sync; set metadata.name';

/**
 * A list of objects: `kind: List`, or a typed list such as `ConfigMapList` or `RoleBindingList`
 * (what `kubectl get -o yaml` writes for one kind), with its `items` — kubectl applies each.
 */
function isListKind(doc: Record<string, unknown>): doc is Record<string, unknown> & { items: unknown[] } {
  return typeof doc.kind === 'string' && doc.kind.endsWith('List') && Array.isArray(doc.items);
}

/** Checks the identity fields every manifest needs; returns a problem or undefined. */
function identityProblem(doc: Record<string, unknown>): string | undefined {
  const meta = doc.metadata;
  if (isRecord(meta) && (meta.name === undefined || meta.name === '' || meta.name === null) && typeof meta.generateName === 'string' && meta.generateName !== '') {
    return GENERATE_NAME_MESSAGE;
  }
  const missing: string[] = [];
  if (typeof doc.apiVersion !== 'string' || doc.apiVersion === '') missing.push('apiVersion');
  if (typeof doc.kind !== 'string' || doc.kind === '') missing.push('kind');
  if (!isRecord(meta) || typeof meta.name !== 'string' || meta.name === '') missing.push('metadata.name');
  return missing.length ? `not a manifest: ${missing.join(', ')} missing or not a string` : undefined;
}

/**
 * Parses one file's text. Pure: the result depends only on the content and extension (and, for
 * a SOPS file, `decrypted`: the plain documents that stand in for the encrypted ones).
 */
function parseFile(text: string, isJson: boolean, limits: Required<LoaderLimits>, how: { kustomized?: boolean; decrypted?: unknown[] } = {}): ParsedFile {
  const { kustomized = false, decrypted } = how;
  const issues: FileIssue[] = [];
  const objects: ParsedObject[] = [];
  const docs: DocInfo[] = [];
  let values: unknown[];
  try {
    unknownTagKind = undefined;
    values = loadAll(text, null, { schema: isJson ? JSON_MANIFEST_SCHEMA : kustomized ? KUSTOMIZE_SCHEMA : MANIFEST_SCHEMA, listener: watchParse(docs, limits) });
  } catch (err) {
    return { objects, issues: [err instanceof LimitCrossed ? err.issue : yamlIssue(err)] };
  }
  if (isJson && values.length > 1) return { objects, issues: [{ message: 'a JSON file holds one document' }] };
  if (decrypted) {
    const plain = decrypted.filter((d) => d !== null && d !== undefined);
    if (plain.length !== values.filter((v) => v !== null && v !== undefined).length) {
      return { objects, issues: [{ message: 'the decrypted documents do not line up with the file\'s documents' }] };
    }
    let next = 0;
    values = values.map((v) => (v === null || v === undefined ? v : plain[next++]));
  }
  for (const [document, info] of docs.entries()) {
    if (info.aliases === 0) continue;
    const size = expandedSize(values[document], limits.maxExpandedNodes);
    if (size === Infinity) return { objects, issues: [{ line: info.line, message: 'an alias refers to a node that contains it (refused: it would expand forever)' }] };
    if (size > limits.maxExpandedNodes) {
      return { objects, issues: [{ line: info.line, message: `aliases expand this document beyond ${limits.maxExpandedNodes} nodes (refused as an alias bomb)` }] };
    }
  }

  // Lines of List items come from a second, position-keeping parse; Lists are rare.
  let sourceMap: SourceMap | undefined;
  values.forEach((value, document) => {
    const info = docs[document];
    if (value === null || value === undefined) return;
    const line = info?.line ?? 1;
    const start = info?.start ?? 0;
    if (!isRecord(value)) {
      issues.push({ line, message: `document ${document + 1} is not a mapping (found ${Array.isArray(value) ? 'a sequence' : typeof value})` });
      return;
    }
    if (isListKind(value)) {
      let itemLines: Array<number | undefined> = [];
      try {
        itemLines = (sourceMap ??= new SourceMap(text)).itemLines(start, ['items']);
      } catch {
        // Keep the document's line for every item.
      }
      value.items.forEach((item, idx) => {
        const itemLine = itemLines[idx] ?? line;
        const problem = !isRecord(item) ? 'not a mapping' : isListKind(item) ? 'a List inside a List' : identityProblem(item);
        if (problem) {
          issues.push({ line: itemLine, field: `items[${idx}]`, message: `List item ${idx}: ${problem}` });
          return;
        }
        const object = dropNullFields(item as unknown as KubeObject);
        objects.push({ object, key: objectKey(object), line: itemLine, document, start, prefix: ['items', idx] });
      });
      return;
    }
    if (isSopsDocument(value)) {
      issues.push({
        line,
        message: kustomized
          ? 'this file is SOPS-encrypted, and gantry decrypts SOPS files only outside kustomizations: keep it beside the kustomization directory, not among its resources'
          : 'this file is SOPS-encrypted and was not decrypted (no decryption configured)',
      });
      return;
    }
    const problem = identityProblem(value);
    if (problem) {
      issues.push({ line, message: problem, ...(problem === GENERATE_NAME_MESSAGE ? { field: 'metadata.generateName' } : {}) });
      return;
    }
    // null means unset, as the API server decodes it (see nulls.ts).
    const object = dropNullFields(value as unknown as KubeObject);
    objects.push({ object, key: objectKey(object), line, document, start, prefix: [] });
  });
  return { objects, issues };
}

/** A document with sops's metadata block (no manifest has a top-level `sops`): an encrypted file read as it is. */
function isSopsDocument(doc: Record<string, unknown>): boolean {
  return isRecord(doc.sops);
}

/**
 * Only Secrets may come from encrypted files: gantry hides the values of Secrets (in plans, the
 * status and the audit trail), and would show those of any other kind.
 */
function notSecretIssues(parsed: ParsedFile): FileIssue[] {
  return parsed.objects
    .filter((p) => p.object.kind !== 'Secret')
    .map((p) => ({
      line: p.line,
      object: p.key,
      message: `only Secrets may be SOPS-encrypted, this is a ${p.object.kind}: gantry hides Secret values in plans, status and history, and would show these`,
    }));
}

/** Lines for validator issues: parses the file for positions only when there are issues. */
function placeIssues(parsed: ParsedObject, raw: ReturnType<ManifestValidator>, sourceMap: () => SourceMap): FileIssue[] {
  return raw.map((issue) => {
    const out: FileIssue = { ...issue, object: issue.object ?? parsed.key };
    delete (out as { file?: string }).file;
    if (out.line === undefined) {
      out.line = parsed.line;
      if (issue.field) {
        try {
          out.line = sourceMap().fieldLine(parsed.start, [...parsed.prefix, ...parseFieldPath(issue.field)]) ?? parsed.line;
        } catch {
          // Keep the object's line: the text parsed once already, so this is not expected.
        }
      }
    }
    return out;
  });
}

/**
 * Loads manifests from source files: `*.yaml`/`*.yml` (multi-document) and `*.json`, with
 * Kubernetes `List` objects expanded into their items. Returns every object with its origin,
 * and every problem found; a caller applies the objects only when `issues` is empty.
 *
 * Paths are relative to the repository root. Symlinks: one leading out of the repository
 * (absolute, or `..` past the root) is an issue;
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

  /** The parse (cached by content id) of a manifest file, or the reason it cannot be parsed. */
  const parsedEntry = (file: SourceFile, kustomized = false): { entry: CacheEntry; getText: () => string } | { issue: FileIssue } => {
    const isJson = file.path.toLowerCase().endsWith('.json');
    const content = file.content ?? new Uint8Array();
    if (content.byteLength > limits.maxFileBytes) {
      return { issue: { message: `file is too large: ${content.byteLength} bytes, the limit is ${limits.maxFileBytes}` } };
    }
    // Files a kustomization renders are never SOPS files (kustomize has no decryption).
    const sops = kustomized ? undefined : opts.encrypted?.lookup(file);
    if (sops && 'error' in sops) return { issue: { message: `cannot decrypt this SOPS file: ${sops.error}` } };
    // A decrypted file is cached under its own key: its blob id fixes its plain text too (the MAC
    // vouches for every value), so the entry holds as long as the blob does.
    const cacheKey = file.oid !== undefined && opts.cache ? `${file.oid}:${isJson ? 'json' : kustomized ? 'kyaml' : 'yaml'}${sops ? ':sops' : ''}:${limitsKey}` : undefined;
    let entry = cacheKey !== undefined ? opts.cache?.get(cacheKey) : undefined;
    let text: string | undefined;
    const getText = (): string => (text ??= decodeText(content));
    if (!entry) {
      let parsed: ParsedFile;
      try {
        parsed = parseFile(getText(), isJson, limits, { kustomized, decrypted: sops?.documents });
        if (sops) {
          const refused = notSecretIssues(parsed);
          if (refused.length > 0) parsed = { objects: [], issues: [...parsed.issues, ...refused] };
        }
      } catch (err) {
        parsed = { objects: [], issues: [{ message: err instanceof Error ? err.message : String(err) }] };
      }
      entry = { parsed };
      if (cacheKey !== undefined) opts.cache?.set(cacheKey, entry);
    }
    return { entry, getText };
  };

  /** Records a declared object unless its key was declared before; true when recorded. */
  const declare = (key: string, where: { file: string; line: number; shown: string }): boolean => {
    const prior = seen.get(key);
    if (prior) {
      issues.push({ file: where.file, line: where.line, object: key, message: `${key} is declared twice: ${prior.file} line ${prior.line} and ${where.shown} line ${where.line}` });
      return false;
    }
    seen.set(key, { file: where.shown, line: where.line });
    return true;
  };

  /** Plain YAML values of a file, cached by content id and rules. */
  const yamlValues = (file: SourceFile, schema: 'kyaml' | 'yaml11'): ParsedValues => {
    const key = file.oid !== undefined && opts.cache ? `${file.oid}:${schema}:${limitsKey}` : undefined;
    const hit = key !== undefined ? opts.cache?.getValues(key) : undefined;
    if (hit) return hit;
    const parsed = parseYamlValues(file, limits, schema === 'kyaml' ? KUSTOMIZE_SCHEMA : MANIFEST_SCHEMA);
    if (key !== undefined) opts.cache?.setValues(key, parsed);
    return parsed;
  };

  const kustomize = renderKustomizations(sorted, {
    referenced: opts.referenced,
    memo: opts.cache?.renderMemo(limitsKey),
    // Kustomize reads a kustomization file as sigs.k8s.io/yaml does (YAML 1.1: `yes` is a
    // boolean), and the files it renders with kyaml (YAML 1.2).
    parseKustomization: (file) => yamlValues(file, 'yaml11'),
    parseYaml: (file) => yamlValues(file, 'kyaml'),
    parseManifests: (file) => {
      const got = parsedEntry(file, true);
      if ('issue' in got) return { objects: [], issues: [got.issue] };
      return { objects: got.entry.parsed.objects, issues: got.entry.parsed.issues };
    },
  });

  for (const file of sorted) {
    if (file.symlinkTarget !== undefined) {
      if (symlinkDestination(file.path, file.symlinkTarget) === undefined) {
        issues.push({ file: file.path, message: `${file.path} is a symlink leading out of the repository (to ${file.symlinkTarget}); refused` });
      }
      continue;
    }
    const lower = file.path.toLowerCase();
    if (!lower.endsWith('.json') && !lower.endsWith('.yaml') && !lower.endsWith('.yml')) continue;
    // A kustomization renders the files of its directory: they are not manifests on their own.
    if (kustomize.covers(file.path)) continue;
    const got = parsedEntry(file);
    if ('issue' in got) {
      issues.push({ file: file.path, ...got.issue });
      continue;
    }
    const { entry, getText } = got;
    for (const issue of entry.parsed.issues) issues.push({ file: file.path, ...issue });

    if (opts.validate && entry.parsed.objects.length > 0 && (entry.validator !== opts.validate || !entry.validation)) {
      let sourceMap: SourceMap | undefined;
      const validate = opts.validate;
      entry.validation = entry.parsed.objects.map((p) => {
        const raw = validate(p.object, { file: file.path, line: p.line, document: p.document, key: p.key });
        if (raw.length === 0) return [];
        return placeIssues(p, raw, () => (sourceMap ??= new SourceMap(getText())));
      });
      entry.validator = validate;
    }

    entry.parsed.objects.forEach((p, idx) => {
      if (!declare(p.key, { file: file.path, line: p.line, shown: file.path })) return;
      objects.push({ object: p.object, source: { file: file.path, line: p.line, document: p.document } });
      for (const issue of entry.validation?.[idx] ?? []) issues.push({ ...issue, file: file.path });
    });
  }

  for (const rendered of kustomize.results) {
    if (!rendered.result.ok) {
      const issue = rendered.result.issue;
      issues.push(issue.file === rendered.kustomization ? issue : { ...issue, kustomization: rendered.kustomization });
      continue;
    }
    const result = rendered.result;
    // A render reused from an earlier load was validated then: validation is a pure function of it.
    let validation = renderValidation.get(result);
    if (opts.validate && validation?.validator !== opts.validate) {
      const validate = opts.validate;
      validation = {
        validator: validate,
        issues: result.objects.map(({ object, origin }) => validate(object, { file: origin.file, line: origin.line, document: origin.document, key: objectKey(object) })),
      };
      renderValidation.set(result, validation);
    }
    result.objects.forEach(({ object, origin }, idx) => {
      const source = { ...origin, ...(origin.file !== rendered.kustomization ? { kustomization: rendered.kustomization } : {}) };
      const shown = source.kustomization ? `${source.kustomization} → ${origin.file}` : origin.file;
      const key = objectKey(object);
      if (!declare(key, { file: origin.file, line: origin.line, shown })) return;
      objects.push({ object, source });
      for (const raw of (opts.validate && validation?.issues[idx]) || []) {
        issues.push({ ...raw, object: raw.object ?? key, file: origin.file, line: raw.line ?? origin.line, ...(source.kustomization ? { kustomization: source.kustomization } : {}) });
      }
    });
  }
  return { objects, issues };
}

/**
 * The YAML documents of a file (a kustomization, a patch) as plain values with their lines,
 * parsed by the same rules and limits as manifests.
 */
function parseYamlValues(file: SourceFile, limits: Required<LoaderLimits>, schema: Schema): ParsedValues {
  const content = file.content ?? new Uint8Array();
  if (content.byteLength > limits.maxFileBytes) return { error: { message: `file is too large: ${content.byteLength} bytes, the limit is ${limits.maxFileBytes}` } };
  const docs: DocInfo[] = [];
  let values: unknown[];
  try {
    unknownTagKind = undefined;
    values = loadAll(decodeText(content), null, { schema, listener: watchParse(docs, limits) });
  } catch (err) {
    if (err instanceof LimitCrossed) return { error: err.issue };
    if (err instanceof YAMLException) return { error: yamlIssue(err) };
    return { error: { message: err instanceof Error ? err.message : String(err) } };
  }
  for (const [document, info] of docs.entries()) {
    if (info.aliases > 0 && expandedSize(values[document], limits.maxExpandedNodes) > limits.maxExpandedNodes) {
      return { error: { line: info.line, message: `aliases expand this document beyond ${limits.maxExpandedNodes} nodes (refused as an alias bomb)` } };
    }
  }
  return { values: values.map((value, i) => ({ value, line: docs[i]?.line ?? 1 })) };
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
