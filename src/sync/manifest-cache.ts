/**
 * What the manifest loader keeps between loads: parses by content id, plain YAML values of
 * kustomization and patch files, what kustomizations reference, and kustomization renders with
 * the file answers they depended on. Least recently used entries go first.
 */
import type { RenderResult } from './kustomize/build.js';
import type { KustomizationReference, ReferenceMemo } from './kustomize/references.js';
import type { RenderMemo } from './kustomize/repository.js';
import type { CacheEntry, ParsedValues } from './loader.js';

/** A map that drops its least recently used entries beyond a bound. */
class Lru<V> {
  private readonly entries = new Map<string, V>();

  constructor(private readonly max: number) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string): V | undefined {
    const e = this.entries.get(key);
    if (e !== undefined) {
      // Re-insert so iteration order is least recently used first.
      this.entries.delete(key);
      this.entries.set(key, e);
    }
    return e;
  }

  set(key: string, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value as string);
  }

  clear(): void {
    this.entries.clear();
  }
}

/** A kustomization's render with the answers it got from the file tree (see FileTree.withReadLog). */
type RenderEntry = { reads: ReadonlyMap<string, string>; result: RenderResult };

/**
 * Parse results by content id, and kustomization renders by the files they read, least
 * recently used dropped first. Objects held here are shared by every load that hits the cache:
 * treat loaded objects as read-only (copy before changing).
 */
export class ManifestCache {
  private readonly entries: Lru<CacheEntry>;
  private readonly values: Lru<ParsedValues>;
  private readonly renders: Lru<RenderEntry>;
  private readonly references: Lru<readonly KustomizationReference[]>;
  private readonly reuseRenders: boolean;

  /**
   * `reuseRenders: false` renders every kustomization on every load, as if nothing had been
   * seen before (parses are still reused): for measuring what reusing renders saves.
   */
  constructor(opts: { maxEntries?: number; reuseRenders?: boolean } = {}) {
    const max = opts.maxEntries ?? 50_000;
    this.entries = new Lru(max);
    this.values = new Lru(max);
    this.renders = new Lru(Math.max(1, Math.ceil(max / 10)));
    this.references = new Lru(Math.max(1, Math.ceil(max / 10)));
    this.reuseRenders = opts.reuseRenders ?? true;
  }

  /** Number of cached files. */
  get size(): number {
    return this.entries.size;
  }

  /** @internal */
  get(key: string): CacheEntry | undefined {
    return this.entries.get(key);
  }

  /** @internal */
  set(key: string, entry: CacheEntry): void {
    this.entries.set(key, entry);
  }

  /** @internal Plain YAML values of a kustomization or patch file, by content id and rules. */
  getValues(key: string): ParsedValues | undefined {
    return this.values.get(key);
  }

  /** @internal */
  setValues(key: string, values: ParsedValues): void {
    this.values.set(key, values);
  }

  /** @internal The render memo the kustomize renderer consults, keyed by kustomization file and limits. */
  renderMemo(limitsKey: string): RenderMemo | undefined {
    if (!this.reuseRenders) return undefined;
    return {
      get: (file) => this.renders.get(`${file}|${limitsKey}`),
      set: (file, entry) => this.renders.set(`${file}|${limitsKey}`, entry),
    };
  }

  /** @internal What kustomization files reference, by content id (see readReferencedFiles). */
  referenceMemo(): ReferenceMemo {
    return { get: (oid) => this.references.get(oid), set: (oid, refs) => this.references.set(oid, refs) };
  }

  /** Drops everything. */
  clear(): void {
    this.references.clear();
    this.entries.clear();
    this.values.clear();
    this.renders.clear();
  }
}
