/**
 * Kustomizations in a repository, the way a GitOps user lays them out: every directory with a
 * kustomization file is rendered by it, and its files (below it, at any depth) are no longer
 * manifests of their own. A kustomization another one uses (a base, `resources: [../../base]`)
 * is rendered only as part of the ones using it, so a repository holding `base/`,
 * `overlays/dev/` and `overlays/prod/` deploys the two overlays, never the bare base.
 */
import path from 'node:path';
import type { SourceFile } from '../types.js';
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

/** Finds and renders the kustomizations among `files` (paths relative to the source root). */
export function renderKustomizations(files: readonly SourceFile[], parsers: { parseYaml: YamlParser; parseManifests: ManifestParser }): RenderedRepository {
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

  const tree = new FileTree(files);
  const results: RenderedRepository['results'] = [];
  const used = new Set<string>();
  const failed = new Map<string, RenderResult>();
  for (const [dir, found] of dirs) {
    if (found.length > 1) {
      failed.set(dir, { ok: false, issue: { file: found[0]!, message: `${dir || '.'} has more than one kustomization file (${found.map((f) => path.posix.basename(f)).join(', ')}); keep one of ${KUSTOMIZATION_FILE_NAMES.join(', ')}` } });
      continue;
    }
    try {
      const k = readKustomization(tree.file(found[0]!)!, dir, parsers.parseYaml);
      for (const r of k.resources) {
        const target = resolveIn(dir, r.path);
        if (target !== undefined && target !== dir && dirs.has(target)) used.add(target);
      }
    } catch (err) {
      if (!(err instanceof KustomizeError)) throw err;
      failed.set(dir, { ok: false, issue: err.issue });
    }
  }
  const sortedDirs = [...dirs.keys()].sort();
  for (const dir of sortedDirs) {
    // A base, or a kustomization inside another one's directory, renders only through the one that uses it.
    if (used.has(dir) || sortedDirs.some((other) => other !== dir && inside(dir, other))) continue;
    const file = dirs.get(dir)![0]!;
    results.push({ kustomization: file, result: failed.get(dir) ?? renderKustomization(dir, { tree, ...parsers }) });
  }
  // A broken base would otherwise surface only through the overlays using it: report it once here too.
  for (const [dir, result] of failed) {
    if (used.has(dir) && !results.some((r) => r.result === result)) results.push({ kustomization: dirs.get(dir)![0]!, result });
  }
  return { covers, results };
}
