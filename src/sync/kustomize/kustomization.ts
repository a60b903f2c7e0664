/**
 * Reading a kustomization file: the fields gantry renders, checked for type, and a clear error
 * naming the file and the field for anything else — a field Kustomize has that gantry does not
 * render, or one Kustomize does not know either. Nothing is silently ignored.
 */
import { parseFieldPath } from '../locate.js';
import { SourceMap } from '../locate.js';
import type { SourceFile } from '../types.js';
import { KustomizeError, fileText, isRec, type Rec } from './model.js';

/** A target selector of a patch (`patches[].target`). */
export interface Selector {
  group?: string;
  version?: string;
  kind?: string;
  name?: string;
  namespace?: string;
  labelSelector?: string;
  annotationSelector?: string;
}

/** One `patches` entry (also what `patchesStrategicMerge` and `patchesJson6902` entries become). */
export interface PatchEntry {
  path?: string;
  patch?: string;
  target?: Selector;
  options?: { allowNameChange?: boolean; allowKindChange?: boolean };
  /** The field it was written in, for messages: `patches[2]`. */
  field: string;
}

/** `generatorOptions`, or a generator's `options`. */
export interface GeneratorOptions {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  disableNameSuffixHash?: boolean;
  immutable?: boolean;
}

/** One `configMapGenerator` or `secretGenerator` entry. */
export interface GeneratorArgs {
  name: string;
  namespace?: string;
  behavior: 'create' | 'merge' | 'replace';
  literals: string[];
  files: string[];
  envs: string[];
  options?: GeneratorOptions;
  /** Secrets only. */
  type?: string;
  field: string;
}

/** One `labels` entry. */
export interface LabelEntry {
  pairs: Record<string, string>;
  includeSelectors: boolean;
  includeTemplates: boolean;
}

/** One `images` entry. */
export interface ImageEntry {
  name: string;
  newName?: string;
  newTag?: string;
  digest?: string;
  field: string;
}

/** A parsed, checked kustomization. */
export interface Kustomization {
  /** Path of the kustomization file. */
  file: string;
  /** Its directory ('' for the source root). */
  dir: string;
  resources: Array<{ path: string; field: string }>;
  namespace?: string;
  namePrefix?: string;
  nameSuffix?: string;
  commonLabels?: Record<string, string>;
  labels: LabelEntry[];
  commonAnnotations?: Record<string, string>;
  images: ImageEntry[];
  replicas: Array<{ name: string; count: number; field: string }>;
  patchesStrategicMerge: PatchEntry[];
  patches: PatchEntry[];
  patchesJson6902: PatchEntry[];
  configMapGenerator: GeneratorArgs[];
  secretGenerator: GeneratorArgs[];
  generatorOptions?: GeneratorOptions;
  /** 1-based line of a field, for messages. */
  lineOf(field: string): number | undefined;
}

/** Fields gantry renders. `sortOptions` only orders Kustomize's printed output, which gantry does not print. */
const SUPPORTED = new Set([
  'apiVersion', 'kind', 'metadata', 'resources', 'bases', 'namespace', 'namePrefix', 'nameSuffix', 'commonLabels',
  'labels', 'commonAnnotations', 'images', 'replicas', 'patches', 'patchesStrategicMerge', 'patchesJson6902',
  'configMapGenerator', 'secretGenerator', 'generatorOptions', 'sortOptions',
]);

/** Fields of Kustomize's own that gantry does not render (yet). */
const UNSUPPORTED = new Set([
  'components', 'crds', 'configurations', 'generators', 'transformers', 'validators', 'replacements', 'vars',
  'helmCharts', 'helmGlobals', 'helmChartInflationGenerator', 'openapi', 'buildMetadata', 'imageTags',
]);

/** Parsed YAML values of a file, each document with its line; supplied by the manifest loader. */
export type YamlParser = (file: SourceFile) => { values: Array<{ value: unknown; line: number }> } | { error: { line?: number; message: string } };

/**
 * Why a value that should be a string is not, with the fix when YAML 1.1 made it a boolean or
 * a number: the text it was written as is lost, so the common spellings are named.
 */
function unquoted(v: unknown): string {
  if (typeof v === 'boolean') return `must be a string, not the boolean ${v}: Kustomize reads yes, no, on, off, true and false unquoted as booleans, so quote the value (e.g. "${v ? 'yes' : 'no'}")`;
  if (typeof v === 'number') return `must be a string, not the number ${v}: quote it ("${v}")`;
  return 'must be a string';
}

/**
 * Reads and checks the kustomization file `file` of directory `dir`. `parseYaml` must read it
 * as Kustomize does, with YAML 1.1 scalars (`yes` is a boolean), so the same values are refused.
 */
export function readKustomization(file: SourceFile, dir: string, parseYaml: YamlParser): Kustomization {
  const parsed = parseYaml(file);
  if ('error' in parsed) throw new KustomizeError({ file: file.path, line: parsed.error.line, message: parsed.error.message });
  const docs = parsed.values.filter((d) => d.value !== null && d.value !== undefined);
  if (docs.length !== 1) throw new KustomizeError({ file: file.path, message: `a kustomization file holds one YAML document, found ${docs.length}` });
  const doc = docs[0]!.value;
  if (!isRec(doc)) throw new KustomizeError({ file: file.path, line: docs[0]!.line, message: 'a kustomization must be a mapping' });

  let sourceMap: SourceMap | undefined;
  const lineOf = (field: string): number | undefined => {
    try {
      return (sourceMap ??= new SourceMap(fileText(file))).fieldLine(0, parseFieldPath(field));
    } catch {
      return undefined;
    }
  };
  const fail = (field: string, message: string): never => {
    throw new KustomizeError({ file: file.path, line: lineOf(field), field, message: `${field}: ${message}` });
  };

  for (const key of Object.keys(doc)) {
    if (UNSUPPORTED.has(key)) {
      fail(key, key === 'imageTags'
        ? 'not supported (the deprecated form of images): write it as images'
        : `not supported by gantry's Kustomize renderer; see the README for the fields it renders`);
    }
    if (!SUPPORTED.has(key)) fail(key, 'unknown kustomization field');
  }
  const kind = doc.kind ?? 'Kustomization';
  if (kind === 'Component') fail('kind', 'Kustomize components are not supported by gantry\'s renderer');
  if (kind !== 'Kustomization') fail('kind', `must be Kustomization, not ${JSON.stringify(kind)}`);
  if (doc.apiVersion !== undefined && doc.apiVersion !== 'kustomize.config.k8s.io/v1beta1') {
    fail('apiVersion', `must be kustomize.config.k8s.io/v1beta1, not ${JSON.stringify(doc.apiVersion)}`);
  }

  const str = (field: string, v: unknown): string | undefined => {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') fail(field, unquoted(v));
    return v as string;
  };
  const strList = (field: string, v: unknown): string[] => {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) fail(field, 'must be a list of strings');
    return (v as unknown[]).map((x, i) => (typeof x === 'string' ? x : fail(`${field}[${i}]`, unquoted(x))));
  };
  const strMap = (field: string, v: unknown): Record<string, string> | undefined => {
    if (v === undefined || v === null) return undefined;
    if (!isRec(v)) fail(field, 'must be a map of strings');
    const out: Record<string, string> = {};
    for (const [k, x] of Object.entries(v as Rec)) {
      // The parser turns a key read as a boolean (`y`, `n`, `on`, `off`…) into "true"/"false".
      if (k === 'true' || k === 'false') fail(`${field}["${k}"]`, `the key is the boolean ${k} in YAML 1.1 (an unquoted y, yes, on, n, no, off…), which Kustomize refuses: quote the key`);
      // Label and annotation values are strings, and Kustomize reads this file with YAML 1.1
      // rules: `yes`, `on`, `true` are booleans and `1` a number there, which it refuses.
      if (typeof x === 'string') out[k] = x;
      else if (x === null) out[k] = '';
      else fail(`${field}["${k}"]`, unquoted(x));
    }
    return out;
  };
  const bool = (field: string, v: unknown): boolean => {
    if (v === undefined || v === null) return false;
    if (typeof v !== 'boolean') fail(field, 'must be true or false');
    return v as boolean;
  };
  const list = (field: string, v: unknown): unknown[] => {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) fail(field, 'must be a list');
    return v as unknown[];
  };
  const only = (field: string, v: Rec, keys: string[]): void => {
    for (const k of Object.keys(v)) if (!keys.includes(k)) fail(`${field}.${k}`, `unknown field (known: ${keys.join(', ')})`);
  };
  const entry = (field: string, v: unknown, keys: string[]): Rec => {
    if (!isRec(v)) fail(field, 'must be a mapping');
    only(field, v as Rec, keys);
    return v as Rec;
  };

  const selector = (field: string, v: unknown): Selector | undefined => {
    if (v === undefined || v === null) return undefined;
    const s = entry(field, v, ['group', 'version', 'kind', 'name', 'namespace', 'labelSelector', 'annotationSelector']);
    const out: Selector = {};
    for (const k of ['group', 'version', 'kind', 'name', 'namespace', 'labelSelector', 'annotationSelector'] as const) {
      const x = str(`${field}.${k}`, s[k]);
      if (x !== undefined && x !== '') out[k] = x;
    }
    return out;
  };
  const patchEntry = (field: string, v: unknown): PatchEntry => {
    const p = entry(field, v, ['path', 'patch', 'target', 'options']);
    const out: PatchEntry = { field };
    const pathV = str(`${field}.path`, p.path);
    const patchV = str(`${field}.patch`, p.patch);
    if (pathV) out.path = pathV;
    if (patchV?.trim()) out.patch = patchV;
    if (!out.path && !out.patch) fail(field, 'needs a path or a patch');
    if (out.path && out.patch) fail(field, 'has both a path and a patch; give one');
    const target = selector(`${field}.target`, p.target);
    if (target) out.target = target;
    if (p.options !== undefined && p.options !== null) {
      const o = entry(`${field}.options`, p.options, ['allowNameChange', 'allowKindChange']);
      out.options = { allowNameChange: bool(`${field}.options.allowNameChange`, o.allowNameChange), allowKindChange: bool(`${field}.options.allowKindChange`, o.allowKindChange) };
    }
    return out;
  };
  const genOptions = (field: string, v: unknown): GeneratorOptions | undefined => {
    if (v === undefined || v === null) return undefined;
    const o = entry(field, v, ['labels', 'annotations', 'disableNameSuffixHash', 'immutable']);
    const out: GeneratorOptions = {};
    const labels = strMap(`${field}.labels`, o.labels);
    const annotations = strMap(`${field}.annotations`, o.annotations);
    if (labels) out.labels = labels;
    if (annotations) out.annotations = annotations;
    if (bool(`${field}.disableNameSuffixHash`, o.disableNameSuffixHash)) out.disableNameSuffixHash = true;
    if (bool(`${field}.immutable`, o.immutable)) out.immutable = true;
    return out;
  };
  const generators = (field: string, v: unknown, secret: boolean): GeneratorArgs[] =>
    list(field, v).map((raw, i) => {
      const at = `${field}[${i}]`;
      const keys = ['name', 'namespace', 'behavior', 'literals', 'files', 'envs', 'env', 'options', ...(secret ? ['type'] : [])];
      const g = entry(at, raw, keys);
      const name = str(`${at}.name`, g.name);
      if (!name) fail(`${at}.name`, 'a generator needs a name');
      const behavior = str(`${at}.behavior`, g.behavior) ?? 'create';
      if (behavior !== 'create' && behavior !== 'merge' && behavior !== 'replace') fail(`${at}.behavior`, `must be create, merge or replace, not ${JSON.stringify(behavior)}`);
      const env = str(`${at}.env`, g.env);
      const out: GeneratorArgs = {
        name: name!,
        behavior: behavior as GeneratorArgs['behavior'],
        literals: strList(`${at}.literals`, g.literals),
        files: strList(`${at}.files`, g.files),
        envs: [...strList(`${at}.envs`, g.envs), ...(env ? [env] : [])],
        field: at,
      };
      const ns = str(`${at}.namespace`, g.namespace);
      if (ns) out.namespace = ns;
      const options = genOptions(`${at}.options`, g.options);
      if (options) out.options = options;
      const type = secret ? str(`${at}.type`, g.type) : undefined;
      if (type) out.type = type;
      return out;
    });

  const dirOf = dir;
  const k: Kustomization = {
    file: file.path,
    dir: dirOf,
    resources: [
      ...strList('resources', doc.resources).map((p, i) => ({ path: p, field: `resources[${i}]` })),
      ...strList('bases', doc.bases).map((p, i) => ({ path: p, field: `bases[${i}]` })),
    ],
    labels: list('labels', doc.labels).map((raw, i) => {
      const at = `labels[${i}]`;
      const l = entry(at, raw, ['pairs', 'includeSelectors', 'includeTemplates', 'includeVolumeClaimTemplates', 'fields']);
      if (l.fields !== undefined) fail(`${at}.fields`, 'custom label field specs are not supported by gantry\'s renderer');
      if (l.includeVolumeClaimTemplates !== undefined) fail(`${at}.includeVolumeClaimTemplates`, 'not supported by gantry\'s renderer');
      return { pairs: strMap(`${at}.pairs`, l.pairs) ?? {}, includeSelectors: bool(`${at}.includeSelectors`, l.includeSelectors), includeTemplates: bool(`${at}.includeTemplates`, l.includeTemplates) };
    }),
    images: list('images', doc.images).map((raw, i) => {
      const at = `images[${i}]`;
      const m = entry(at, raw, ['name', 'newName', 'newTag', 'digest']);
      const name = str(`${at}.name`, m.name);
      if (!name) fail(`${at}.name`, 'an image entry needs the name of the image it changes');
      const out: ImageEntry = { name: name!, field: at };
      const newName = str(`${at}.newName`, m.newName);
      // An unquoted tag such as 1.20 reads as a number, which Kustomize refuses too.
      if (typeof m.newTag === 'number') fail(`${at}.newTag`, `must be a string: quote it ("${m.newTag}")`);
      const newTag = str(`${at}.newTag`, m.newTag);
      const digest = str(`${at}.digest`, m.digest);
      if (newName) out.newName = newName;
      if (newTag) out.newTag = newTag;
      if (digest) out.digest = digest;
      return out;
    }),
    replicas: list('replicas', doc.replicas).map((raw, i) => {
      const at = `replicas[${i}]`;
      const r = entry(at, raw, ['name', 'count']);
      const name = str(`${at}.name`, r.name);
      if (!name) fail(`${at}.name`, 'a replicas entry needs the name of the workload it scales');
      if (typeof r.count !== 'number' || !Number.isInteger(r.count) || r.count < 0) fail(`${at}.count`, 'must be a whole number, 0 or more');
      return { name: name!, count: r.count as number, field: at };
    }),
    patchesStrategicMerge: list('patchesStrategicMerge', doc.patchesStrategicMerge).map((raw, i) => {
      const at = `patchesStrategicMerge[${i}]`;
      if (typeof raw !== 'string') fail(at, 'must be a file path or an inline patch');
      // Kustomize takes an entry that parses as a patch for an inline patch, else a path.
      return /\n|^\s*(apiVersion|kind|metadata)\s*:/.test(raw as string) ? { patch: raw as string, field: at } : { path: raw as string, field: at };
    }),
    patches: list('patches', doc.patches).map((raw, i) => patchEntry(`patches[${i}]`, raw)),
    patchesJson6902: list('patchesJson6902', doc.patchesJson6902).map((raw, i) => {
      const at = `patchesJson6902[${i}]`;
      const p = patchEntry(at, raw);
      if (!p.target?.name) fail(`${at}.target.name`, 'a patchesJson6902 entry needs a target with a name');
      return p;
    }),
    configMapGenerator: generators('configMapGenerator', doc.configMapGenerator, false),
    secretGenerator: generators('secretGenerator', doc.secretGenerator, true),
    lineOf,
  };
  const ns = str('namespace', doc.namespace);
  if (ns) k.namespace = ns;
  const prefix = str('namePrefix', doc.namePrefix);
  if (prefix) k.namePrefix = prefix;
  const suffix = str('nameSuffix', doc.nameSuffix);
  if (suffix) k.nameSuffix = suffix;
  const cl = strMap('commonLabels', doc.commonLabels);
  if (cl && Object.keys(cl).length) k.commonLabels = cl;
  const ca = strMap('commonAnnotations', doc.commonAnnotations);
  if (ca && Object.keys(ca).length) k.commonAnnotations = ca;
  const go = genOptions('generatorOptions', doc.generatorOptions);
  if (go) k.generatorOptions = go;
  return k;
}
