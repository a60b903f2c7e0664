/**
 * Kustomizations in a repository, the way a GitOps user lays them out: every directory with a
 * kustomization file is rendered by it, and its files (below it, at any depth) are no longer
 * manifests of their own. A kustomization another one uses (a base, `resources: [../../base]`)
 * is rendered only as part of the ones using it, so a repository holding `base/`,
 * `overlays/dev/` and `overlays/prod/` deploys the two overlays, never the bare base. With
 * `--path overlays/prod` the base lies outside the synced directory: it comes in as a
 * referenced file (see references.ts) and is only ever rendered through the overlay.
 */
import path from 'node:path';
import type { ReferencedFiles, SourceFile } from '../types.js';
import { renderKustomization, type ManifestParser, type RenderResult } from './build.js';
import { readKustomization, type YamlParser } from './kustomization.js';
import { FileTree, KUSTOMIZATION_FILE_NAMES, KustomizeError, isKustomizationFile, resolveIn } from './model.js';

/** The kustomizations of a source, rendered. */
export interface RenderedRepository {
  /** True for a file inside a directory with a kustomization: it is read only through it. */
  covers(file: string): boolean;
  /** Each top-level kustomization file and its render, in path order. */
  results: Array<{ kustomization: string; result: RenderResult }>;
}

/**
 * Earlier renders, by kustomization file, with the answers each got from its file tree: one is
 * reused while the tree gives the same answers (the same blob ids for every file it read, the
 * same files absent), so an unchanged kustomization is not rendered again.
 */
export interface RenderMemo {
  get(kustomization: string): { reads: ReadonlyMap<string, string>; result: RenderResult } | undefined;
  set(kustomization: string, entry: { reads: ReadonlyMap<string, string>; result: RenderResult }): void;
}

/** What {@link renderKustomizations} reads with. */
export interface RenderRepositoryInput {
  parseKustomization: YamlParser;
  parseYaml: YamlParser;
  parseManifests: ManifestParser;
  /** Files outside the synced directory its kustomizations read: readable, never rendered on their own. */
  referenced?: ReferencedFiles;
  memo?: RenderMemo;
}

/** Finds and renders the kustomizations among `files` (paths relative to the repository root). */
export function renderKustomizations(files: readonly SourceFile[], input: RenderRepositoryInput): RenderedRepository {
  const dirs = new Map<string, string[]>();
  for (const f of files) {
    const base = path.posix.basename(f.path);
    if (f.symlinkTarget !== undefined || !isKustomizationFile(base)) continue;
    const dir = path.posix.dirname(f.path) === '.' ? '' : path.posix.dirname(f.path);
    dirs.set(dir, [...(dirs.get(dir) ?? []), f.path]);
  }
  if (dirs.size === 0) return { covers: () => false, results: [] };

  const inside = (p: string, dir: string): boolean => dir === '' || p === dir || p.startsWith(`${dir}/`);
  const covers = (file: string): boolean => {
    for (let d = path.posix.dirname(file); ; d = path.posix.dirname(d)) {
      const dir = d === '.' ? '' : d;
      if (dirs.has(dir)) return true;
      if (dir === '') return false;
    }
  };

  const tree = new FileTree(input.referenced ? [...files, ...input.referenced.files] : files, input.referenced?.directories);
  const results: RenderedRepository['results'] = [];
  const used = new Set<string>();
  const failed = new Map<string, RenderResult>();
  for (const [dir, found] of dirs) {
    if (found.length > 1) {
      failed.set(dir, { ok: false, issue: { file: found[0]!, message: `${dir || '.'} has more than one kustomization file (${found.map((f) => path.posix.basename(f)).join(', ')}); keep one of ${KUSTOMIZATION_FILE_NAMES.join(', ')}` } });
      continue;
    }
    try {
      const k = readKustomization(tree.file(found[0]!)!, dir, input.parseKustomization);
      for (const r of k.resources) {
        const target = resolveIn(dir, r.path);
        if (target !== undefined && target !== dir && dirs.has(target)) used.add(target);
      }
    } catch (err) {
      if (!(err instanceof KustomizeError)) throw err;
      failed.set(dir, { ok: false, issue: err.issue });
    }
  }
  const render = (dir: string, file: string): RenderResult => {
    const earlier = input.memo?.get(file);
    if (earlier && tree.answersAsIn(earlier.reads)) return earlier.result;
    const reads = new Map<string, string>();
    const result = renderKustomization(dir, { ...input, tree: tree.withReadLog(reads) });
    input.memo?.set(file, { reads, result });
    return result;
  };
  const sortedDirs = [...dirs.keys()].sort();
  for (const dir of sortedDirs) {
    // A base, or a kustomization inside another one's directory, renders only through the one that uses it.
    if (used.has(dir) || sortedDirs.some((other) => other !== dir && inside(dir, other))) continue;
    const file = dirs.get(dir)![0]!;
    results.push({ kustomization: file, result: failed.get(dir) ?? render(dir, file) });
  }
  // A broken base would otherwise surface only through the overlays using it: report it once here too.
  for (const [dir, result] of failed) {
    if (used.has(dir) && !results.some((r) => r.result === result)) results.push({ kustomization: dirs.get(dir)![0]!, result });
  }
  return { covers, results };
}
