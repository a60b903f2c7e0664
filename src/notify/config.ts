/**
 * Notification settings, and the sinks and notifier they make.
 */
import type { Logger } from 'pino';
import { GantryError } from '../errors.js';
import { Notifier, type DeliveryOptions } from './notifier.js';
import { CommitStatusSink, DEFAULT_COMMIT_STATUS_URL, repoFromUrl, WebhookSink, type CommitStatusProvider } from './sinks.js';
import type { Sink } from './types.js';

/** Where notifications go (none configured: none are sent). */
export interface NotifyConfig {
  /** A JSON webhook, signed with HMAC-SHA256 when `secret` is set. */
  webhook?: { url: string; secret?: string };
  /** Commit statuses on a GitHub- or GitLab-shaped API. `repo` defaults to the followed repo URL's path. */
  commitStatus?: { provider: CommitStatusProvider; apiUrl?: string; repo?: string; token: string; context?: string };
  delivery?: DeliveryOptions;
}

/** Checks a notification setting's URL: http(s) only, named by its flag when wrong. */
export function checkNotifyUrl(url: string, flag: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new GantryError('InvalidArgument', `${flag}: "${url}" is not a URL`, { field: flag });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new GantryError('InvalidArgument', `${flag}: "${url}" must be an http(s) URL`, { field: flag });
  return url;
}

/** The notifier for `config`, following `repo` (undefined when nothing is configured). */
export function createNotifier(config: NotifyConfig | undefined, opts: { repo: string; logger: Logger }): Notifier | undefined {
  if (!config) return undefined;
  const sinks: Sink[] = [];
  if (config.webhook) sinks.push(new WebhookSink({ url: checkNotifyUrl(config.webhook.url, '--notify-webhook'), ...(config.webhook.secret ? { secret: config.webhook.secret } : {}) }));
  const cs = config.commitStatus;
  if (cs) {
    const repo = cs.repo ?? repoFromUrl(opts.repo);
    if (!repo) {
      throw new GantryError('InvalidArgument', `--commit-status ${cs.provider}: cannot tell the repository from --repo ${opts.repo}; pass --commit-status-repo (owner/name, or a GitLab project id)`, { field: '--commit-status-repo' });
    }
    if (!cs.token) throw new GantryError('InvalidArgument', `--commit-status ${cs.provider} needs a token in GANTRY_COMMIT_STATUS_TOKEN`, { field: 'GANTRY_COMMIT_STATUS_TOKEN' });
    const apiUrl = checkNotifyUrl(cs.apiUrl ?? DEFAULT_COMMIT_STATUS_URL[cs.provider], '--commit-status-url');
    sinks.push(new CommitStatusSink({ provider: cs.provider, apiUrl, repo, token: cs.token, ...(cs.context ? { context: cs.context } : {}) }));
  }
  if (sinks.length === 0) return undefined;
  return new Notifier(sinks, { logger: opts.logger, ...config.delivery });
}
