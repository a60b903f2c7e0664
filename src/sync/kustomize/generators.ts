/**
 * `configMapGenerator` and `secretGenerator`: ConfigMaps and Secrets made from literals, files
 * and env files, with `generatorOptions`, combined with a base's object of the same name by
 * `behavior` (create, merge, replace), and named with Kustomize's content hash at the end of a
 * build — computed exactly as Kustomize computes it, so names match what `kustomize build` makes.
 */
import { createHash } from 'node:crypto';
import type { KubeObject } from '../../model/types.js';
import type { GeneratorArgs, GeneratorOptions, Kustomization } from './kustomization.js';
import { KustomizeError, allIds, curId, isRec, sameId, type FileTree, type Rec, type Res, type ResId } from './model.js';
import { kustomizationFile } from './patches.js';
import { refKey } from '../../model/keys.js';
import { canonicalJson, goHtmlEscape } from '../../model/json.js';

const CONFIG_MAP_KEY = /^[-._a-zA-Z0-9]+$/;
const ENV_VAR_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A key and its value; `bytes` when the value came from a file (it may not be text). */
interface Pair {
  key: string;
  value: string;
  bytes?: Uint8Array;
}

/** Options of one generator: its own, with the kustomization's `generatorOptions` filling gaps. */
function mergedOptions(local: GeneratorOptions | undefined, global: GeneratorOptions | undefined): GeneratorOptions {
  const out: GeneratorOptions = { ...local };
  if (global?.labels) out.labels = { ...global.labels, ...local?.labels };
  if (global?.annotations) out.annotations = { ...global.annotations, ...local?.annotations };
  if (global?.disableNameSuffixHash) out.disableNameSuffixHash = true;
  if (global?.immutable) out.immutable = true;
  return out;
}

function pairs(g: GeneratorArgs, k: Kustomization, tree: FileTree): Pair[] {
  const out: Pair[] = [];
  const fail = (field: string, message: string): never => {
    throw new KustomizeError({ file: k.file, line: k.lineOf(field), field, message: `${field}: ${message}` });
  };
  g.envs.forEach((rel, i) => {
    const field = `${g.field}.envs[${i}]`;
    const f = kustomizationFile(k, tree, rel, field);
    let text: string;
    try {
      text = strictUtf8.decode(f.content);
    } catch {
      return fail(field, `${f.path} is not UTF-8 text`);
    }
    text.split('\n').forEach((raw, n) => {
      let line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
      if (n === 0 && line.charCodeAt(0) === 0xfeff) line = line.slice(1);
      line = line.replace(/^\s+/, '');
      if (line === '' || line.startsWith('#')) return;
      const eq = line.indexOf('=');
      const key = eq < 0 ? line : line.slice(0, eq);
      if (!ENV_VAR_NAME.test(key)) fail(field, `${f.path} line ${n + 1}: ${JSON.stringify(key)} is not a valid environment variable name`);
      out.push({ key, value: eq < 0 ? '' : line.slice(eq + 1) });
    });
  });
  g.literals.forEach((lit, i) => {
    const eq = lit.indexOf('=');
    if (eq <= 0) fail(`${g.field}.literals[${i}]`, `${JSON.stringify(lit)} is not key=value`);
    let value = lit.slice(eq + 1);
    if (value.length >= 2 && value[0] === value[value.length - 1] && (value[0] === '"' || value[0] === "'")) value = value.slice(1, -1);
    out.push({ key: lit.slice(0, eq), value });
  });
  g.files.forEach((src, i) => {
    const field = `${g.field}.files[${i}]`;
    const seps = src.split('=').length - 1;
    if (seps > 1) fail(field, `${JSON.stringify(src)}: the key or the path contains '='`);
    if (seps === 1 && (src.startsWith('=') || src.endsWith('='))) fail(field, `${JSON.stringify(src)} needs both a key and a path (key=path)`);
    const [key, rel] = seps === 1 ? (src.split('=') as [string, string]) : [src.slice(src.lastIndexOf('/') + 1), src];
    const f = kustomizationFile(k, tree, rel, field);
    const bytes = f.content ?? new Uint8Array();
    let value: string;
    try {
      value = strictUtf8.decode(bytes);
    } catch {
      value = '';
    }
    out.push({ key, value, bytes });
  });
  const seen = new Set<string>();
  for (const p of out) {
    if (!CONFIG_MAP_KEY.test(p.key)) fail(g.field, `${JSON.stringify(p.key)} is not a valid key (letters, digits, '-', '_' and '.')`);
    if (seen.has(p.key)) fail(g.field, `${g.name} has the key ${p.key} twice`);
    seen.add(p.key);
  }
  return out;
}

/**
 * Base64 as Kustomize writes generated values: in lines of 70 characters, each ending in a
 * newline once the text is 70 characters or longer (the API server's decoder skips them; the
 * content hash covers them, so they must match).
 */
export function wrappedBase64(bytes: Uint8Array): string {
  const b64 = Buffer.from(bytes).toString('base64');
  if (b64.length < 70) return b64;
  let out = '';
  for (let i = 0; i < b64.length; i += 70) out += `${b64.slice(i, i + 70)}\n`;
  return out;
}

function isUtf8(bytes: Uint8Array): boolean {
  try {
    strictUtf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** Makes the object of one generator entry. */
function generate(kind: 'ConfigMap' | 'Secret', g: GeneratorArgs, k: Kustomization, tree: FileTree): Res {
  const options = mergedOptions(g.options, k.generatorOptions);
  const obj: Rec = { apiVersion: 'v1', kind };
  const metadata: Rec = { name: g.name };
  if (g.namespace) metadata.namespace = g.namespace;
  if (options.labels && Object.keys(options.labels).length) metadata.labels = { ...options.labels };
  if (options.annotations && Object.keys(options.annotations).length) metadata.annotations = { ...options.annotations };
  obj.metadata = metadata;
  if (kind === 'Secret') obj.type = g.type ?? 'Opaque';
  const data: Record<string, string> = {};
  const binary: Record<string, string> = {};
  for (const p of pairs(g, k, tree).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    const bytes = p.bytes ?? new TextEncoder().encode(p.value);
    if (kind === 'Secret') data[p.key] = wrappedBase64(bytes);
    else if (p.bytes && !isUtf8(p.bytes)) binary[p.key] = wrappedBase64(p.bytes);
    else data[p.key] = p.value;
  }
  // Kustomize always gives a generated Secret a data map, a ConfigMap only when it has data.
  if (Object.keys(data).length || kind === 'Secret') obj.data = data;
  if (Object.keys(binary).length) obj.binaryData = binary;
  if (options.immutable) obj.immutable = true;
  return {
    obj: obj as unknown as KubeObject,
    origin: { file: k.file, line: k.lineOf(g.field) ?? 1, document: 0 },
    prev: [],
    prefixes: [],
    suffixes: [],
    hash: options.disableNameSuffixHash !== true,
    behavior: g.behavior,
  };
}

/**
 * Runs the kustomization's generators and adds their objects to `resources` (in place): a
 * `create` must not meet an object of the same identity; `merge` and `replace` must.
 */
export function runGenerators(resources: Res[], k: Kustomization, tree: FileTree): void {
  const all: Array<[GeneratorArgs, Res]> = [
    ...k.configMapGenerator.map((g): [GeneratorArgs, Res] => [g, generate('ConfigMap', g, k, tree)]),
    ...k.secretGenerator.map((g): [GeneratorArgs, Res] => [g, generate('Secret', g, k, tree)]),
  ];
  for (const [g, res] of all) {
    const id: ResId = curId(res);
    const matches = resources.filter((r) => allIds(r).some((x) => sameId(x, id)));
    const fail = (message: string): never => {
      throw new KustomizeError({ file: k.file, line: k.lineOf(`${g.field}.behavior`) ?? k.lineOf(g.field), field: g.field, message: `${g.field}: ${message}` });
    };
    if (matches.length === 0) {
      if (res.behavior !== 'create') fail(`behavior ${res.behavior} needs a ${refKey(id)} from the resources to ${res.behavior} with; there is none`);
      resources.push(res);
      continue;
    }
    if (matches.length > 1) fail(`${refKey(id)} matches ${matches.length} objects`);
    const old = matches[0]!;
    if (res.behavior === 'create') fail(`${refKey(id)} already exists (from ${old.origin.file}); use behavior merge or replace`);
    combine(res, old);
    resources[resources.indexOf(old)] = res;
  }
}

/** A generated object taking the place of `old`: its name, history and metadata, and for `merge` its data. */
function combine(res: Res, old: Res): void {
  const meta = res.obj.metadata;
  const oldMeta = old.obj.metadata;
  const labels = { ...oldMeta.labels, ...meta.labels };
  const annotations = { ...oldMeta.annotations, ...meta.annotations };
  if (Object.keys(labels).length) meta.labels = labels;
  if (Object.keys(annotations).length) meta.annotations = annotations;
  meta.name = oldMeta.name;
  if (oldMeta.namespace !== undefined) meta.namespace = oldMeta.namespace;
  else delete meta.namespace;
  res.prev = old.prev;
  res.prefixes = old.prefixes;
  res.suffixes = old.suffixes;
  res.hash = old.hash && res.hash;
  if (res.behavior === 'merge') {
    const obj = res.obj as unknown as Rec;
    const oldObj = old.obj as unknown as Rec;
    for (const field of ['data', 'binaryData']) {
      const merged = { ...(isRec(oldObj[field]) ? oldObj[field] : {}), ...(isRec(obj[field]) ? obj[field] : {}) };
      if (Object.keys(merged).length) obj[field] = merged;
    }
    res.origin = old.origin;
  }
  res.behavior = old.behavior;
}

/** JSON as Go's encoding/json writes it: map keys sorted, `<`, `>`, `&`, U+2028 and U+2029 escaped. */
export function goJson(value: unknown): string {
  return goHtmlEscape(canonicalJson(value));
}

/**
 * Kustomize's name suffix for a ConfigMap or Secret: ten characters of the SHA-256 of its kind,
 * type and data. The name is in the hashed document but always empty: Kustomize (v5) looks it
 * up as one field literally called `metadata/name`, which no object has — matched here so that
 * names agree with `kustomize build`'s.
 */
export function contentHash(obj: KubeObject): string {
  const o = obj as unknown as Rec;
  const orEmpty = (v: unknown): unknown => (v === undefined || v === null ? '' : v);
  const doc: Rec = obj.kind === 'Secret'
    ? { kind: 'Secret', type: orEmpty(o.type), name: '', data: orEmpty(o.data) }
    : { kind: 'ConfigMap', name: '', data: orEmpty(o.data) };
  if (obj.kind === 'Secret' && isRec(o.stringData)) doc.stringData = o.stringData;
  if (obj.kind !== 'Secret' && isRec(o.binaryData)) doc.binaryData = o.binaryData;
  const hex = createHash('sha256').update(goJson(doc)).digest('hex');
  const swap: Record<string, string> = { 0: 'g', 1: 'h', 3: 'k', a: 'm', e: 't' };
  return [...hex.slice(0, 10)].map((c) => swap[c] ?? c).join('');
}
