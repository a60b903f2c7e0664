/**
 * Cold loads on two cores: parses and validates the files the cache does not hold yet, half in
 * a worker thread and half here, and puts the results in the cache, so that the loader that
 * runs next finds every file cached. A warm resync (nothing missing) costs nothing here.
 *
 * The worker lives only for one prefill: a long-running gantry does not keep a second heap for
 * the rare cold load.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { errorMessage } from '../errors.js';
import { buildEntry, cacheKeyOf, manifestKind, resolveLimits, type LoaderLimits, type ManifestCache } from './loader.js';
import type { ParseRequest, ParseResponse } from './parse-worker.js';
import type { SourceFile } from './types.js';
import { validateObject } from './validate.js';

/** Below this many uncached files a worker's start-up costs more than it saves. */
export const PREFILL_MIN_FILES = 1000;
/** Files per batch: small enough that both threads finish together. */
const BATCH = 250;

type Item = ParseRequest['files'][number];

/** How many files each thread parsed (the rest, if any, is left to the loader). */
export interface PrefillStats {
  here: number;
  worker: number;
}

/** A parse worker, and whether it is still usable. */
export interface ParseWorker {
  worker: Worker;
  /** Set when the worker failed or exited: nothing more will come from it. */
  dead: boolean;
}

/**
 * Starts a parse worker ahead of {@link prefillCache}, so that its start-up (loading the
 * validators) overlaps reading the files; undefined on a single core or when it cannot start.
 */
export function startParseWorker(opts: { logger?: Logger } = {}): ParseWorker | undefined {
  if (availableParallelism() < 2) return undefined;
  let worker: Worker;
  try {
    if (import.meta.url.endsWith('.ts')) {
      // Running from source (tests, benchmarks under tsx): a worker does not inherit tsx's
      // loader, so it registers tsx before importing the worker module.
      const url = new URL('./parse-worker.ts', import.meta.url).href;
      worker = new Worker(`import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(url)}); });`, { eval: true });
    } else {
      worker = new Worker(new URL('./parse-worker.js', import.meta.url));
    }
  } catch (err) {
    opts.logger?.debug({ err: errorMessage(err) }, 'no parse worker; loading on one thread');
    return undefined;
  }
  const handle: ParseWorker = { worker, dead: false };
  worker.on('error', (err) => {
    handle.dead = true;
    opts.logger?.warn({ err: errorMessage(err) }, 'parse worker failed; the loader parses on one thread');
  });
  worker.on('exit', () => {
    handle.dead = true;
  });
  return handle;
}

/**
 * Fills `cache` with entries (validated by `validateObject`) for `files` it does not hold.
 * Uses `worker` when given (and always terminates it), else starts one when there is enough to
 * do. Never fails: on any worker trouble the remaining files are left to the loader.
 */
export async function prefillCache(
  files: SourceFile[],
  opts: { cache: ManifestCache; limits?: LoaderLimits; logger?: Logger; worker?: ParseWorker },
): Promise<PrefillStats> {
  let started: ParseWorker | undefined;
  try {
    return await prefill(files, opts, (w) => (started = w));
  } finally {
    await opts.worker?.worker.terminate();
    await started?.worker.terminate();
  }
}

async function prefill(
  files: SourceFile[],
  opts: { cache: ManifestCache; limits?: LoaderLimits; logger?: Logger; worker?: ParseWorker },
  onStart: (w: ParseWorker) => void,
): Promise<PrefillStats> {
  const stats: PrefillStats = { here: 0, worker: 0 };
  const limits = resolveLimits(opts.limits);
  const missing: Item[] = [];
  for (const f of files) {
    const kind = manifestKind(f.path);
    const key = cacheKeyOf(f, limits);
    if (kind === undefined || key === undefined || f.content === undefined || f.content.byteLength > limits.maxFileBytes) continue;
    if (opts.cache.get(key)) continue;
    missing.push({ path: f.path, key, isJson: kind === 'json', content: f.content });
  }
  if (missing.length < PREFILL_MIN_FILES) return stats;
  let handle = opts.worker;
  if (!handle) {
    handle = startParseWorker({ logger: opts.logger });
    if (handle) onStart(handle);
  }
  if (!handle || handle.dead) return stats;
  const { worker } = handle;

  const batches: Item[][] = [];
  for (let i = 0; i < missing.length; i += BATCH) batches.push(missing.slice(i, i + BATCH));
  const here = (batch: Item[]): void => {
    for (const f of batch) {
      opts.cache.set(f.key, buildEntry(f.path, f.content, { isJson: f.isJson, limits, validate: validateObject }));
    }
    stats.here += batch.length;
  };

  const inFlight = new Map<number, Item[]>();
  let nextId = 0;
  let failed = false;
  const send = (): void => {
    const batch = batches.shift();
    if (!batch) return;
    const id = nextId++;
    inFlight.set(id, batch);
    worker.postMessage({ id, limits, files: batch } satisfies ParseRequest);
  };
  const drained = new Promise<void>((resolve) => {
    const settle = (): void => {
      if (inFlight.size === 0 && (batches.length === 0 || failed)) resolve();
    };
    worker.on('message', (res: ParseResponse) => {
      inFlight.delete(res.id);
      for (const { key, entry } of res.entries) opts.cache.set(key, { ...entry, validator: validateObject });
      stats.worker += res.entries.length;
      send();
      settle();
    });
    // A failed or exited worker answers nothing more: what it held is left to the loader.
    const lost = (): void => {
      failed = true;
      inFlight.clear();
      settle();
    };
    worker.on('error', lost);
    worker.on('exit', lost);
    // Two batches queued, so the worker never waits for this thread between batches.
    send();
    send();
  });
  // This thread takes batches too, yielding between them so the worker's answers get in.
  while (batches.length > 0) {
    here(batches.shift()!);
    await new Promise((r) => setImmediate(r));
  }
  await drained;
  return stats;
}
