/**
 * gantry's Kustomize renderer: `kustomize build` of a directory of the source, in process, over
 * the files the source already read (no file system, no network).
 *
 * Rendered as Kustomize renders it (its order of steps, field specs and name-reference rules):
 * `resources` (files, and directories with their own kustomization, recursively; `bases` is the
 * older name), `namespace`, `namePrefix`/`nameSuffix` with name references updated,
 * `commonLabels` (also into selectors and templates) and `labels` (`includeSelectors`,
 * `includeTemplates`), `commonAnnotations`, `images` (`newName`, `newTag`, `digest`),
 * `replicas`, `patches` (strategic merge and JSON 6902, by identity or `target` selector,
 * `options.allowNameChange/allowKindChange`), `patchesStrategicMerge`, `patchesJson6902`,
 * `configMapGenerator` and `secretGenerator` (`literals`, `files`, `envs`/`env`, `behavior`
 * create/merge/replace, `type`, `options`) with `generatorOptions` (`labels`, `annotations`,
 * `disableNameSuffixHash`, `immutable`) and Kustomize's content-hash name suffixes, references
 * to generated names updated; objects annotated `config.kubernetes.io/local-config: "true"` are
 * left out. `sortOptions` is accepted (it orders printed output only).
 *
 * Not rendered, and refused with an error naming the file and field: remote resources (URLs,
 * Git repositories: gantry reaches no network from here), `components`, `replacements`, `vars`,
 * `helmCharts`, `generators`, `transformers`, `validators`, `configurations`, `crds`, `openapi`,
 * `buildMetadata`, `imageTags`, `labels[].fields`, `includeVolumeClaimTemplates`, `images[].tagSuffix`.
 * Files a kustomization reads must lie in its own directory (Kustomize's default load
 * restriction), and so must resource files; a resource directory with its own kustomization
 * may lie anywhere in the repository (a base beside the synced directory, as Argo CD and Flux
 * allow), never outside it. Nothing is reached through a symlink. Paths are relative to the repository root.
 */
import type { KubeObject } from '../../model/types.js';
import type { ManifestIssue, SourceFile } from '../types.js';
import { runGenerators, contentHash } from './generators.js';
import { readKustomization, type Kustomization, type YamlParser } from './kustomization.js';
import { KUSTOMIZATION_FILE_NAMES, KustomizeError, type FileTree, curId, resolveIn, storePreviousId, symlinkProblem, type Origin, type Res } from './model.js';
import { fixNameReferences } from './nameref.js';
import { applyPatches } from './patches.js';
import { setAnnotations, setImages, setLabels, setNameAffixes, setNamespace, setReplicas } from './transform.js';
import { refKey } from '../../model/keys.js';

/** Parsed manifests of a file with their lines; supplied by the manifest loader (same YAML rules and limits). */
export type ManifestParser = (file: SourceFile) => {
  objects: Array<{ object: KubeObject; line: number; document: number }>;
  issues: Array<Omit<ManifestIssue, 'file'>>;
};

/** What {@link renderKustomization} reads with. */
export interface RenderInput {
  tree: FileTree;
  /** Kustomization files (YAML 1.1, as Kustomize reads them). */
  parseKustomization: YamlParser;
  /** Patches (YAML 1.2, kyaml). */
  parseYaml: YamlParser;
  parseManifests: ManifestParser;
}

/** One rendered object and the file (and line) its content came from. */
export interface RenderedObject {
  object: KubeObject;
  origin: Origin;
}

/** The outcome of a render: the objects, or the problem that stopped it (as Kustomize, the first one). */
export type RenderResult = { ok: true; objects: RenderedObject[]; kustomization: string } | { ok: false; issue: ManifestIssue };

const REMOTE = /^(?:[a-z][a-z0-9+.-]*:\/\/|git@|github\.com\/|gitlab\.com\/|bitbucket\.org\/)/i;
const LOCAL_CONFIG = 'config.kubernetes.io/local-config';

/** Renders the kustomization of directory `dir` (a path relative to the repository root, '' for the root). */
export function renderKustomization(dir: string, input: RenderInput): RenderResult {
  const file = input.tree.kustomizationIn(dir);
  if (!file) return { ok: false, issue: { file: dir || '.', message: `${dir || '.'} has no kustomization file` } };
  try {
    const resources = accumulate(dir, input, []);
    for (const r of resources) {
      if (!r.hash) continue;
      storePreviousId(r);
      r.obj.metadata.name = `${r.obj.metadata.name}-${contentHash(r.obj)}`;
    }
    fixNameReferences(resources, { file: file.path });
    const objects = resources
      .filter((r) => r.obj.metadata.annotations?.[LOCAL_CONFIG] !== 'true')
      .map((r) => ({ object: r.obj, origin: r.origin }));
    return { ok: true, objects, kustomization: file.path };
  } catch (err) {
    if (err instanceof KustomizeError) return { ok: false, issue: err.issue };
    throw err;
  }
}

/** The kustomization of `dir` with its resources gathered, generated and transformed (everything but the final hash and references). */
function accumulate(dir: string, input: RenderInput, stack: string[]): Res[] {
  const file = input.tree.kustomizationIn(dir)!;
  if (stack.includes(dir)) {
    throw new KustomizeError({ file: file.path, message: `kustomizations include each other in a cycle: ${[...stack, dir].map((d) => d || '.').join(' → ')}` });
  }
  const k = readKustomization(file, dir, input.parseKustomization);
  let resources: Res[] = [];
  for (const entry of k.resources) add(resources, gather(k, entry, input, [...stack, dir]), k, entry.field);
  runGenerators(resources, k, input.tree);
  const ctx = { k, tree: input.tree, parseYaml: input.parseYaml };
  resources = applyPatches(resources, k.patchesStrategicMerge, ctx, { json6902StoresIds: false });
  resources = applyPatches(resources, k.patches, ctx, { json6902StoresIds: true });
  setNamespace(resources, k);
  setNameAffixes(resources, k);
  setLabels(resources, k);
  setAnnotations(resources, k);
  resources = applyPatches(resources, k.patchesJson6902, ctx, { json6902StoresIds: false });
  setReplicas(resources, k);
  setImages(resources, k);
  return resources;
}

/** The objects one `resources` entry stands for: a manifest file's, or a directory's rendered kustomization. */
function gather(k: Kustomization, entry: { path: string; field: string }, input: RenderInput, stack: string[]): Res[] {
  const fail = (message: string): never => {
    throw new KustomizeError({ file: k.file, line: k.lineOf(entry.field), field: entry.field, message: `${entry.field}: ${message}` });
  };
  if (REMOTE.test(entry.path)) fail(`${entry.path} is a remote resource; gantry renders kustomizations from the repository alone (no network), so vendor it into the repository`);
  const p = resolveIn(k.dir, entry.path);
  if (p === undefined) fail(`${entry.path} leads out of the repository; a kustomization reads only files of its own repository`);
  const link = input.tree.symlinkOn(p!);
  if (link) fail(symlinkProblem(p!, link));
  const f = input.tree.file(p!);
  if (f) {
    // Kustomize's load restriction: a resource file lies in or below its kustomization's
    // directory; only a directory with a kustomization of its own may lie elsewhere.
    if (k.dir !== '' && !p!.startsWith(`${k.dir}/`)) fail(`${p} is a file outside the kustomization's directory ${k.dir}; Kustomize reads resource files only from there (a directory with its own kustomization may lie anywhere in the repository)`);
    const parsed = input.parseManifests(f);
    const first = parsed.issues[0];
    if (first) throw new KustomizeError({ ...first, file: f.path });
    return parsed.objects.map((o) => ({
      obj: structuredClone(o.object),
      origin: { file: f.path, line: o.line, document: o.document },
      prev: [],
      prefixes: [],
      suffixes: [],
      hash: false,
      behavior: 'create' as const,
    }));
  }
  if (input.tree.isDir(p!)) {
    const names = KUSTOMIZATION_FILE_NAMES.filter((n) => input.tree.file(p ? `${p}/${n}` : n));
    if (names.length === 0) fail(`directory ${p} has no kustomization file (kustomization.yaml, kustomization.yml or Kustomization)`);
    if (names.length > 1) fail(`directory ${p} has more than one kustomization file (${names.join(', ')}); keep one`);
    return accumulate(p!, input, stack);
  }
  return fail(`${p} not found`);
}

/** Appends `more` to `resources`; two objects of one identity are an error naming both origins. */
function add(resources: Res[], more: Res[], k: Kustomization, field: string): void {
  const key = (r: Res): string => {
    const id = curId(r);
    return `${id.apiVersion}|${id.kind}|${id.name}|${id.namespace === 'default' ? '' : id.namespace}`;
  };
  const have = new Map(resources.map((r) => [key(r), r]));
  for (const r of more) {
    const prior = have.get(key(r));
    if (prior) {
      throw new KustomizeError({
        file: k.file, line: k.lineOf(field), field,
        message: `${refKey(curId(r))} is declared twice: ${prior.origin.file} line ${prior.origin.line} and ${r.origin.file} line ${r.origin.line}`,
      });
    }
    have.set(key(r), r);
    resources.push(r);
  }
}

