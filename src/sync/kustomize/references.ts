/**
 * The async step before loading: the files that kustomizations of the synced directory read
 * from elsewhere in the repository, at the same commit. `resources: [../../base]` in
 * `overlays/prod` (synced with `--path overlays/prod`) brings in `base/kustomization.yaml`, then
 * what that one names, and so on; nothing else outside the synced directory is read.
 *
 * This step only gathers: a reference it cannot follow (a kustomization that does not parse,
 * a path leading out of the repository, a symlink) is left for the renderer, which refuses it
 * with an error naming the file and field. The loader stays a pure function of the files.
 */
import path from 'node:path';
import type { ReferencedFiles, Source, SourceFile } from '../types.js';
import { readKustomization, type YamlParser } from './kustomization.js';
import { KUSTOMIZATION_FILE_NAMES, KustomizeError, isKustomizationFile, resolveIn } from './model.js';

/** A path a kustomization names, relative to its directory; `resource` when it may be a directory. */
export interface KustomizationReference {
  path: string;
  resource: boolean;
}

/** Remembered references by kustomization content id (they do not depend on where the file sits). */
export interface ReferenceMemo {
  get(oid: string): readonly KustomizationReference[] | undefined;
  set(oid: string, refs: readonly KustomizationReference[]): void;
}

/**
 * The paths a kustomization file names: resources and bases, patch files, generator files and
 * env files. Empty when the kustomization cannot be read (the renderer says why).
 */
export function kustomizationReferences(file: SourceFile, parseKustomization: YamlParser): KustomizationReference[] {
  let k;
  try {
    k = readKustomization(file, path.posix.dirname(file.path), parseKustomization);
  } catch (err) {
    if (err instanceof KustomizeError) return [];
    throw err;
  }
  const out: KustomizationReference[] = k.resources.map((r) => ({ path: r.path, resource: true }));
  for (const p of [...k.patches, ...k.patchesStrategicMerge, ...k.patchesJson6902]) if (p.path !== undefined) out.push({ path: p.path, resource: false });
  for (const g of [...k.configMapGenerator, ...k.secretGenerator]) {
    // `key=path` or a bare path; a malformed entry is the renderer's to refuse.
    for (const f of g.files) out.push({ path: f.includes('=') ? f.slice(f.indexOf('=') + 1) : f, resource: false });
    for (const e of g.envs) out.push({ path: e, resource: false });
  }
  return out;
}

/** Options for {@link readReferencedFiles}. */
export interface ReadReferencedOptions {
  /** The commit `files` were read from. */
  commit: string;
  parseKustomization: YamlParser;
  memo?: ReferenceMemo;
  signal?: AbortSignal;
}

/**
 * The files outside `files` (the synced directory's) that its kustomizations reach, directly
 * or through other kustomizations, read from `source` at `opts.commit`; one `readPaths` call per
 * level of nesting.
 */
export async function readReferencedFiles(source: Pick<Source, 'readPaths'>, files: readonly SourceFile[], opts: ReadReferencedOptions): Promise<ReferencedFiles> {
  const known = new Map(files.map((f) => [f.path, f]));
  const knownDirs = new Set<string>();
  for (const f of files) {
    for (let d = path.posix.dirname(f.path); d !== '.' && !knownDirs.has(d); d = path.posix.dirname(d)) knownDirs.add(d);
  }
  const isKustomization = (f: SourceFile): boolean => f.symlinkTarget === undefined && isKustomizationFile(path.posix.basename(f.path));
  const out: SourceFile[] = [];
  const directories = new Set<string>();
  const asked = new Set<string>();
  let pending = files.filter(isKustomization);
  while (pending.length > 0) {
    const wanted: string[] = [];
    const want = (p: string): void => {
      if (known.has(p) || knownDirs.has(p) || asked.has(p)) return;
      asked.add(p);
      wanted.push(p);
    };
    for (const k of pending) {
      let refs = k.oid !== undefined ? opts.memo?.get(k.oid) : undefined;
      if (!refs) {
        refs = kustomizationReferences(k, opts.parseKustomization);
        if (k.oid !== undefined) opts.memo?.set(k.oid, refs);
      }
      const dir = path.posix.dirname(k.path) === '.' ? '' : path.posix.dirname(k.path);
      for (const ref of refs) {
        const p = resolveIn(dir, ref.path);
        // Out of the repository: the renderer refuses it.
        if (p === undefined) continue;
        if (p !== '') want(p);
        if (ref.resource && !known.has(p)) for (const name of KUSTOMIZATION_FILE_NAMES) want(p ? `${p}/${name}` : name);
      }
    }
    pending = [];
    if (wanted.length === 0) break;
    const found = await source.readPaths(opts.commit, wanted, { signal: opts.signal });
    for (const [p, entry] of found) {
      if (entry.kind === 'directory') directories.add(p);
      if (entry.kind !== 'file' || known.has(entry.file.path)) continue;
      known.set(entry.file.path, entry.file);
      out.push(entry.file);
      if (!entry.through && isKustomization(entry.file)) pending.push(entry.file);
    }
  }
  return { files: out, directories: [...directories].sort() };
}
