/**
 * Patches in a kustomization: strategic merge (by the patched object's own identity, or by a
 * target selector) and JSON 6902 (by target), from `patches`, `patchesStrategicMerge` and
 * `patchesJson6902`. Strategic merge uses gantry's one implementation (src/model/patch.ts) with
 * the kind's merge keys; JSON 6902 uses its JSON patch.
 */
import { PatchError, jsonPatch, strategicMergePatch } from '../../model/patch.js';
import type { KubeObject } from '../../model/types.js';
import { matchesRequirements, parseSelector } from '../../model/selectors.js';
import { patchMetaFor } from '../patch-meta.js';
import type { SourceFile } from '../types.js';
import type { Kustomization, PatchEntry, Selector, YamlParser } from './kustomization.js';
import {
  KustomizeError, allIds, curId, effectiveNamespace, groupVersion, isRec, orgId, resolveIn, sameId, storePreviousId,
  symlinkProblem, type FileTree, type Rec, type Res, type ResId,
} from './model.js';
import { refKey } from '../../model/keys.js';

/** What a patch entry holds once read. */
type LoadedPatch = { kind: 'strategic'; docs: Rec[] } | { kind: 'json6902'; ops: unknown[] };

/** Where a patch's text comes from, for messages. */
interface PatchContext {
  k: Kustomization;
  tree: FileTree;
  parseYaml: YamlParser;
}

/** A file a kustomization reads (patch, generator source): inside its directory, as Kustomize's default load restrictor requires. */
export function kustomizationFile(k: Kustomization, tree: FileTree, rel: string, field: string): SourceFile {
  const fail = (message: string): never => {
    throw new KustomizeError({ file: k.file, line: k.lineOf(field), field, message: `${field}: ${message}` });
  };
  const p = resolveIn(k.dir, rel);
  if (p === undefined || (k.dir !== '' && p !== k.dir && !p.startsWith(`${k.dir}/`))) {
    fail(`${rel} is outside the kustomization's directory ${k.dir || '.'}; Kustomize reads files only from there`);
  }
  const link = tree.symlinkOn(p!);
  if (link) fail(symlinkProblem(p!, link));
  const f = tree.file(p!);
  if (!f || f.content === undefined) fail(`file ${p} not found`);
  return f!;
}

function load(entry: PatchEntry, ctx: PatchContext): LoadedPatch {
  const { k } = ctx;
  const fail = (message: string, line?: number): never => {
    throw new KustomizeError({ file: k.file, line: line ?? k.lineOf(entry.field), field: entry.field, message: `${entry.field}: ${message}` });
  };
  const file: SourceFile = entry.path !== undefined
    ? kustomizationFile(k, ctx.tree, entry.path, `${entry.field}.path`)
    : { path: k.file, content: new TextEncoder().encode(entry.patch ?? '') };
  const parsed = ctx.parseYaml(file);
  if ('error' in parsed) {
    if (entry.path !== undefined) throw new KustomizeError({ file: file.path, line: parsed.error.line, message: `patch: ${parsed.error.message}` });
    fail(`the patch is not valid YAML: ${parsed.error.message}`);
  }
  // A copy: parses are shared between loads, and a JSON patch's `add` puts its value into the object as is.
  const values = structuredClone((parsed as { values: Array<{ value: unknown }> }).values.map((d) => d.value).filter((v) => v !== null && v !== undefined));
  if (values.length === 1 && Array.isArray(values[0])) return { kind: 'json6902', ops: values[0] as unknown[] };
  if (values.length === 0) fail('the patch is empty');
  for (const v of values) if (!isRec(v)) fail('a patch is a strategic merge patch (a mapping) or a JSON 6902 patch (a list of operations)');
  return { kind: 'strategic', docs: values as Rec[] };
}

/** The resources a selector picks, as Kustomize's `Select`: original or current name and namespace. */
export function select(resources: Res[], s: Selector, where: { k: Kustomization; field: string }): Res[] {
  const rx = (p: string | undefined): RegExp | undefined => {
    if (!p) return undefined;
    try {
      return new RegExp(`^(?:${p})$`);
    } catch {
      throw new KustomizeError({ file: where.k.file, line: where.k.lineOf(where.field), field: where.field, message: `${where.field}: ${JSON.stringify(p)} is not a valid regular expression` });
    }
  };
  const [group, version, kind, name, namespace] = [rx(s.group), rx(s.version), rx(s.kind), rx(s.name), rx(s.namespace)];
  let labels: ReturnType<typeof parseSelector> | undefined;
  let annotations: ReturnType<typeof parseSelector> | undefined;
  try {
    labels = s.labelSelector ? parseSelector(s.labelSelector) : undefined;
    annotations = s.annotationSelector ? parseSelector(s.annotationSelector) : undefined;
  } catch (err) {
    throw new KustomizeError({ file: where.k.file, line: where.k.lineOf(where.field), field: where.field, message: `${where.field}: ${err instanceof Error ? err.message : String(err)}` });
  }
  return resources.filter((r) => {
    const org = orgId(r);
    const cur = curId(r);
    if (namespace && !namespace.test(effectiveNamespace(org)) && !namespace.test(effectiveNamespace(cur))) return false;
    if (name && !name.test(org.name) && !name.test(cur.name)) return false;
    const [g, v] = groupVersion(r.obj.apiVersion);
    if ((group && !group.test(g)) || (version && !version.test(v)) || (kind && !kind.test(r.obj.kind))) return false;
    if (labels && !matchesRequirements(labels, r.obj.metadata.labels)) return false;
    if (annotations && !matchesRequirements(annotations, r.obj.metadata.annotations)) return false;
    return true;
  });
}

function patchId(doc: Rec): ResId {
  const meta = isRec(doc.metadata) ? doc.metadata : {};
  return {
    apiVersion: typeof doc.apiVersion === 'string' ? doc.apiVersion : '',
    kind: typeof doc.kind === 'string' ? doc.kind : '',
    name: typeof meta.name === 'string' ? meta.name : '',
    namespace: typeof meta.namespace === 'string' ? meta.namespace : '',
  };
}

/**
 * Applies one strategic merge patch to `r`. Name, namespace and kind stay the target's unless
 * the entry allows a change; `$patch: delete` at the top removes the object (returns false).
 */
function applyStrategic(r: Res, doc: Rec, entry: PatchEntry, fail: (m: string) => never): boolean {
  if (doc.$patch === 'delete') return false;
  const { name, namespace } = r.obj.metadata;
  const kind = r.obj.kind;
  const allowName = entry.options?.allowNameChange === true;
  const allowKind = entry.options?.allowKindChange === true;
  if (allowName || allowKind) storePreviousId(r);
  const patch = { ...doc, apiVersion: r.obj.apiVersion };
  let out: Rec;
  try {
    out = strategicMergePatch(r.obj, patch, patchMetaFor(kind), { listOrder: 'patch' });
  } catch (err) {
    fail(`cannot patch ${refKey(curId(r))}: ${err instanceof PatchError ? err.message : String(err)}`);
    throw err;
  }
  const obj = out as unknown as KubeObject;
  if (!isRec(obj.metadata)) obj.metadata = { name };
  if (!allowKind) obj.kind = kind;
  if (!allowName) obj.metadata.name = name;
  if (namespace === undefined) delete obj.metadata.namespace;
  else obj.metadata.namespace = namespace;
  r.obj = obj;
  return true;
}

/**
 * Runs the patch entries of one list in order over `resources` (changed in place; an object a
 * patch deletes is dropped). `json6902StoresIds` is true for `patches`, whose JSON patches may
 * rename, and false for the older `patchesJson6902`.
 */
export function applyPatches(resources: Res[], entries: PatchEntry[], ctx: PatchContext, opts: { json6902StoresIds: boolean }): Res[] {
  let list = resources;
  for (const entry of entries) {
    const fail = (message: string): never => {
      throw new KustomizeError({ file: ctx.k.file, line: ctx.k.lineOf(entry.field), field: entry.field, message: `${entry.field}: ${message}` });
    };
    const loaded = load(entry, ctx);
    if (loaded.kind === 'json6902') {
      if (!entry.target) fail('a JSON 6902 patch needs a target');
      for (const r of select(list, entry.target!, { k: ctx.k, field: `${entry.field}.target` })) {
        if (opts.json6902StoresIds) storePreviousId(r);
        try {
          r.obj = jsonPatch(r.obj, loaded.ops) as KubeObject;
        } catch (err) {
          fail(`cannot patch ${refKey(curId(r))}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      continue;
    }
    if (entry.target) {
      if (loaded.docs.length > 1) fail('a patch with a target holds one strategic merge patch');
      const doc = loaded.docs[0]!;
      const selected = new Set(select(list, entry.target, { k: ctx.k, field: `${entry.field}.target` }));
      list = list.filter((r) => !selected.has(r) || applyStrategic(r, doc, entry, fail));
      continue;
    }
    for (const doc of loaded.docs) {
      const id = patchId(doc);
      if (!id.kind || !id.name) fail('a strategic merge patch without a target names the object it patches: apiVersion, kind and metadata.name');
      const matches = list.filter((r) => allIds(r).some((x) => sameId(x, id)));
      if (matches.length !== 1) {
        fail(matches.length === 0
          ? `no object matches the patch for ${refKey(id)} (${id.apiVersion}); a patch names the object as its resources declare it`
          : `the patch for ${refKey(id)} matches ${matches.length} objects`);
      }
      const target = matches[0]!;
      if (!applyStrategic(target, doc, entry, fail)) list = list.filter((r) => r !== target);
    }
  }
  return list;
}
