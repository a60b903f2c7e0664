/**
 * Picks and builds the Source for a configuration.
 */
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { dataPaths, type GantryConfig } from '../config.js';
import { GitSource } from './git-source.js';
import { redactUrl } from './status.js';
import type { Source } from './types.js';

/** True for http(s) remotes; anything else is a local path. */
export function isRemoteUrl(repo: string): boolean {
  return /^https?:\/\//i.test(repo);
}

/** The Source for `config.repo`, and how to show it (credentials stripped, paths absolute). */
export async function openSource(
  config: Pick<GantryConfig, 'repo' | 'ref' | 'path' | 'auth' | 'dataDir'>,
  opts: { logger?: Logger } = {},
): Promise<{ source: Source; display: string }> {
  const remote = isRemoteUrl(config.repo);
  const url = remote ? config.repo : resolve(config.repo);
  const source = new GitSource({
    url,
    cacheDir: dataPaths(config.dataDir).sourceCache,
    ref: config.ref,
    path: config.path,
    auth: config.auth,
    logger: opts.logger,
  });
  return { source, display: remote ? redactUrl(url) : url };
}
