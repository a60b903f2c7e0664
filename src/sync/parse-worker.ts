/**
 * Worker thread of {@link prefillCache}: parses and validates batches of manifest files and
 * sends back their cache entries. It runs the same code as the main thread's loader.
 */
import { parentPort } from 'node:worker_threads';
import { buildEntry, resolveLimits, type CacheEntry, type LoaderLimits } from './loader.js';
import { validateObject } from './validate.js';

/** A batch sent to the worker. */
export interface ParseRequest {
  id: number;
  limits: LoaderLimits;
  files: { path: string; key: string; isJson: boolean; content: Uint8Array }[];
}

/** The worker's answer: one entry per file, in order. The validator is always validateObject. */
export interface ParseResponse {
  id: number;
  entries: { key: string; entry: Omit<CacheEntry, 'validator'> }[];
}

parentPort?.on('message', (req: ParseRequest) => {
  const limits = resolveLimits(req.limits);
  const entries = req.files.map((f) => {
    const { parsed, validation } = buildEntry(f.path, f.content, { isJson: f.isJson, limits, validate: validateObject });
    return { key: f.key, entry: { parsed, validation } };
  });
  parentPort!.postMessage({ id: req.id, entries } satisfies ParseResponse);
});
