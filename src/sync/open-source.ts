/**
 * Picks and builds the Source for a configuration.
 */
import type { Logger } from 'pino';
import type { Metrics } from '../metrics/index.js';
import { dataPaths, type GantryConfig } from '../config.js';
import { GitSource } from './git-source.js';
import type { Source } from './types.js';

/** True for http(s) remotes; anything else is a local path. */
export function isRemoteUrl(repo: string): boolean {
  return /^https?:\/\//i.test(repo);
}

/** The Source for `config.repo`, and how to show it (credentials stripped, paths absolute). */
export async function openSource(
  config: Pick<GantryConfig, 'repo' | 'ref' | 'path' | 'auth' | 'dataDir'>,
  opts: { logger?: Logger; metrics?: Metrics } = {},
): Promise<{ source: Source; display: string }> {
  // GitSource resolves local paths and file:// URLs and strips credentials from the URL it shows.
  const source = new GitSource({
    url: config.repo,
    cacheDir: dataPaths(config.dataDir).sourceCache,
    ref: config.ref,
    path: config.path,
    auth: config.auth,
    logger: opts.logger,
    ...(opts.metrics ? { metrics: opts.metrics.sync } : {}),
  });
  return { source, display: source.displayUrl };
}
