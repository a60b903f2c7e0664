/**
 * The SOPS tree: a document as sops sees it — ordered mappings, sequences and typed scalars —
 * read from YAML or JSON text, and turned into plain data for a manifest.
 *
 * sops reads YAML with go-yaml v3 into its own ordered tree, so scalar types (which decide the
 * bytes the MAC covers) follow go-yaml v3's resolver here, not the YAML 1.1 rules the manifest
 * loader uses: `yes` is the string "yes", `0o17` and `1e3` are numbers, a quoted or block scalar
 * is a string. Keys keep their order, since the MAC covers values in document order (a plain
 * object would move integer-like keys first). JSON numbers are ints when they fit int64, floats
 * otherwise, as sops's JSON store reads them. `yaml` (already a dependency) gives the syntax tree
 * with each scalar's style; it is loaded on first use, as only repositories with encrypted files
 * need it.
 */
import type { Document, Node as YamlNode, Scalar } from 'yaml';
import { GantryError } from '../../errors.js';
import type { SopsScalar } from './values.js';
import { lazyYaml } from '../locate.js';

/** A mapping, keys in document order. */
export interface SopsMap {
  t: 'map';
  items: Array<[string, SopsNode]>;
}

/** A sequence. */
export interface SopsSeq {
  t: 'seq';
  items: SopsNode[];
}

/** Any node of a SOPS tree. */
export type SopsNode = SopsScalar | SopsMap | SopsSeq;

/** Most nodes one document may expand to through aliases. */
const MAX_NODES = 100_000;


/** A problem with the text of a SOPS file (a bad document, an unsupported construct). */
export class SopsFormatError extends GantryError {
  constructor(message: string) {
    super('DecryptionFailed', message);
  }
}

const YAML_TAG = 'tag:yaml.org,2002:';

/** `strconv.ParseInt(s, 0, bits)` / `ParseUint` of Go: sign (ints only), base prefix, digits. */
function goParseInt(text: string, signed: boolean): bigint | undefined {
  const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|0[0-7]*|[1-9][0-9]*)$/.exec(text);
  if (!m) return undefined;
  const [, sign, body] = m as unknown as [string, string, string];
  if (!signed && sign !== '') return undefined;
  let v: bigint;
  const prefix = body.slice(0, 2).toLowerCase();
  if (prefix === '0x' || prefix === '0b' || prefix === '0o') v = BigInt(`0${prefix[1]}${body.slice(2)}`);
  else if (body.length > 1 && body[0] === '0') v = BigInt(`0o${body.slice(1)}`);
  else v = BigInt(body);
  if (sign === '-') v = -v;
  const [min, max] = signed ? [-(2n ** 63n), 2n ** 63n - 1n] : [0n, 2n ** 64n - 1n];
  return v >= min && v <= max ? v : undefined;
}

const YAML_STYLE_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;

/** Go's `strconv.ParseFloat` for text already known to be a decimal float; undefined when out of range. */
function finiteFloat(text: string): number | undefined {
  const v = Number(text);
  return Number.isFinite(v) ? v : undefined;
}

/** go-yaml v3's resolution of a plain scalar (`resolve("", text)`), as decoded into interface{}. */
export function resolvePlainV3(text: string): SopsScalar {
  switch (text) {
    case '': case '~': case 'null': case 'Null': case 'NULL':
      return { t: 'null' };
    case 'true': case 'True': case 'TRUE':
      return { t: 'bool', v: true };
    case 'false': case 'False': case 'FALSE':
      return { t: 'bool', v: false };
    case '.nan': case '.NaN': case '.NAN':
      return { t: 'float', v: NaN };
    case '.inf': case '.Inf': case '.INF': case '+.inf': case '+.Inf': case '+.INF':
      return { t: 'float', v: Infinity };
    case '-.inf': case '-.Inf': case '-.INF':
      return { t: 'float', v: -Infinity };
  }
  const c = text[0]!;
  if (c === '.') {
    const v = /^\.[0-9]+(?:[eE][-+]?[0-9]+)?$/.test(text) ? finiteFloat(text) : undefined;
    return v === undefined ? { t: 'str', v: text } : { t: 'float', v };
  }
  if ((c >= '0' && c <= '9') || c === '+' || c === '-') {
    // Timestamps resolve to strings when decoded into interface{}, as sops decodes them.
    const plain = text.replace(/_/g, '');
    const i = goParseInt(plain, true) ?? goParseInt(plain, false);
    if (i !== undefined) return { t: 'int', v: i };
    if (YAML_STYLE_FLOAT.test(plain)) {
      const f = finiteFloat(plain);
      if (f !== undefined) return { t: 'float', v: f };
    }
  }
  return { t: 'str', v: text };
}

/** A JSON scalar as sops's JSON store reads it (json.Number → int64 if it fits, else float64). */
function resolveJson(text: string): SopsScalar {
  if (text === 'true' || text === 'false') return { t: 'bool', v: text === 'true' };
  if (text === 'null') return { t: 'null' };
  if (/^-?(?:0|[1-9][0-9]*)$/.test(text)) {
    const v = BigInt(text);
    if (v >= -(2n ** 63n) && v <= 2n ** 63n - 1n) return { t: 'int', v };
  }
  if (/^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?$/.test(text)) {
    const f = finiteFloat(text);
    if (f !== undefined) return { t: 'float', v: f };
  }
  return { t: 'str', v: text };
}

/** A YAML scalar node → a typed value, by its style and tag as go-yaml v3 decodes it. */
function scalarOf(node: Scalar, json: boolean): SopsScalar {
  const text = node.value === null || node.value === undefined ? '' : String(node.value);
  const quoted = node.type !== undefined && node.type !== 'PLAIN';
  if (json) return quoted ? { t: 'str', v: text } : resolveJson(text);
  const tag = node.tag;
  if (tag === undefined) return quoted ? { t: 'str', v: text } : resolvePlainV3(text);
  if (!tag.startsWith(YAML_TAG)) return { t: 'str', v: text };
  const short = tag.slice(YAML_TAG.length);
  if (short === 'str' || short === 'timestamp') return { t: 'str', v: text };
  const resolved = resolvePlainV3(text);
  const fits = (short === 'int' && resolved.t === 'int') || (short === 'bool' && resolved.t === 'bool') ||
    (short === 'null' && resolved.t === 'null') || (short === 'float' && (resolved.t === 'float' || resolved.t === 'int'));
  if (!fits) throw new SopsFormatError(`cannot read "${short === 'binary' ? '(binary data)' : text}" as !!${short}`);
  return short === 'float' && resolved.t === 'int' ? { t: 'float', v: Number(resolved.v) } : resolved;
}

/** Converts a `yaml` node into a SOPS node, following aliases (each use is a copy, as sops makes one). */
function convert(doc: Document, node: unknown, json: boolean, budget: { left: number }, open: Set<unknown>): SopsNode {
  const y = lazyYaml();
  if (--budget.left < 0) throw new SopsFormatError(`a document expands to more than ${MAX_NODES} nodes`);
  if (node === null || node === undefined) return { t: 'null' };
  if (y.isAlias(node)) {
    const target = node.resolve(doc);
    if (!target) throw new SopsFormatError(`alias *${node.source} has no anchor`);
    if (open.has(target)) throw new SopsFormatError(`alias *${node.source} refers to a node that contains it`);
    return convert(doc, target, json, budget, open);
  }
  if (y.isScalar(node)) return scalarOf(node, json);
  open.add(node);
  try {
    if (y.isMap(node)) {
      const items: Array<[string, SopsNode]> = [];
      for (const pair of node.items) {
        const keyNode = y.isAlias(pair.key) ? pair.key.resolve(doc) : pair.key;
        const key = y.isScalar(keyNode) ? scalarOf(keyNode, json) : undefined;
        // sops walks only string keys ("Tree contains a non-string key").
        if (!key || key.t !== 'str') throw new SopsFormatError(`a mapping key that is not a string (${y.isScalar(keyNode) ? String(keyNode.value) : 'a collection'})`);
        items.push([key.v, convert(doc, pair.value, json, budget, open)]);
      }
      return { t: 'map', items };
    }
    if (y.isSeq(node)) return { t: 'seq', items: node.items.map((item) => convert(doc, item, json, budget, open)) };
  } finally {
    open.delete(node);
  }
  throw new SopsFormatError('an unsupported YAML node');
}

/** One document of a SOPS file: its tree (a mapping; empty for an empty document) and where it starts. */
export interface SopsDocument {
  root: SopsMap;
  /** True for an empty document (`---` with nothing after it). */
  empty: boolean;
}

/**
 * Reads the documents of a YAML (multi-document) or JSON file into SOPS trees. Each document
 * must be a mapping, as sops requires; duplicate keys are refused, as sops refuses them.
 */
export function parseSopsText(text: string, format: 'yaml' | 'json'): SopsDocument[] {
  const y = lazyYaml();
  const json = format === 'json';
  const docs = y.parseAllDocuments(text, { version: '1.2', schema: 'failsafe', uniqueKeys: true, merge: false, prettyErrors: false });
  const list = Array.isArray(docs) ? docs : [docs];
  if (json && list.length !== 1) throw new SopsFormatError('a JSON file holds one document');
  return list.map((doc) => {
    const err = doc.errors[0];
    if (err) throw new SopsFormatError(`invalid ${format.toUpperCase()}: ${err.message.split('\n')[0]}`);
    const contents = doc.contents as YamlNode | null;
    if (contents === null || (y.isScalar(contents) && (contents.value === null || contents.value === '') && contents.type === 'PLAIN' && !contents.tag)) {
      return { root: { t: 'map', items: [] }, empty: true };
    }
    const root = convert(doc as Document, contents, json, { left: MAX_NODES }, new Set());
    if (root.t !== 'map') throw new SopsFormatError(`a document that is not a mapping (sops encrypts mappings only)`);
    return { root, empty: false };
  });
}

/** Plain data for a manifest: ints as numbers, bytes as UTF-8 text. */
export function toPlain(node: SopsNode): unknown {
  switch (node.t) {
    case 'map': {
      const out: Record<string, unknown> = {};
      for (const [k, v] of node.items) out[k] = toPlain(v);
      return out;
    }
    case 'seq':
      return node.items.map(toPlain);
    case 'null':
      return null;
    case 'int':
      return Number(node.v);
    case 'bytes':
      return Buffer.from(node.v).toString('utf8');
    default:
      return node.v;
  }
}

/** The value under `key` of a mapping. */
export function mapGet(map: SopsMap, key: string): SopsNode | undefined {
  return map.items.find(([k]) => k === key)?.[1];
}
