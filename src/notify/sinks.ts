/**
 * The sinks: a generic JSON webhook (optionally signed, GitHub-style, with HMAC-SHA256 of the
 * body), and commit statuses on GitHub-shaped (`POST /repos/{owner}/{repo}/statuses/{sha}`) and
 * GitLab-shaped (`POST /projects/{id}/statuses/{sha}`) APIs.
 */
import { createHmac, randomUUID } from 'node:crypto';
import type { Notification, OutboundRequest, Sink } from './types.js';

/** Header carrying `sha256=<hex HMAC-SHA256 of the body>` when the webhook has a secret. */
export const SIGNATURE_HEADER = 'x-gantry-signature-256';
/** Header naming the notification type. */
export const EVENT_HEADER = 'x-gantry-event';

/** The signature a receiver checks: `sha256=` and the hex HMAC-SHA256 of the raw body. */
export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** POSTs every notification as JSON to `url`. */
export class WebhookSink implements Sink {
  readonly name: string;
  constructor(private readonly opts: { url: string; secret?: string }) {
    this.name = `webhook ${new URL(opts.url).origin}`;
  }

  request(n: Notification): OutboundRequest {
    const body = JSON.stringify(n);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'gantry',
      [EVENT_HEADER]: n.type,
      'x-gantry-delivery': randomUUID(),
    };
    if (this.opts.secret) headers[SIGNATURE_HEADER] = signBody(body, this.opts.secret);
    return { url: this.opts.url, method: 'POST', headers, body };
  }
}

/** A Git host's commit status API. */
export type CommitStatusProvider = 'github' | 'gitlab';

/** Options of {@link CommitStatusSink}. */
export interface CommitStatusOptions {
  provider: CommitStatusProvider;
  /** API base: `https://api.github.com`, `https://gitlab.example/api/v4`, a GitHub Enterprise `…/api/v3`. */
  apiUrl: string;
  /** GitHub `owner/name`; GitLab a project id or `group/project` path. */
  repo: string;
  token: string;
  /** The status's name on the commit; default `gantry`. */
  context?: string;
}

/** Default API bases. */
export const DEFAULT_COMMIT_STATUS_URL: Record<CommitStatusProvider, string> = {
  github: 'https://api.github.com',
  gitlab: 'https://gitlab.com/api/v4',
};

type State = 'pending' | 'success' | 'failure';

/** What each notification sets on its commit: pending while rolling out, then success or failure. */
const STATES: Record<Notification['type'], State> = {
  applied: 'pending',
  healthy: 'success',
  recovered: 'success',
  degraded: 'failure',
  rejected: 'failure',
};

/** Sets a commit status on the revision a notification concerns. */
export class CommitStatusSink implements Sink {
  readonly name: string;
  constructor(private readonly opts: CommitStatusOptions) {
    this.name = `${opts.provider} commit status ${opts.repo}`;
  }

  request(n: Notification): OutboundRequest | undefined {
    if (!n.revision || !/^[0-9a-f]{7,64}$/i.test(n.revision)) return undefined;
    const state = STATES[n.type];
    const context = this.opts.context ?? 'gantry';
    // Both hosts cap the description (GitHub at 140 characters).
    const description = n.message.length > 140 ? `${n.message.slice(0, 139)}…` : n.message;
    const base = this.opts.apiUrl.replace(/\/+$/, '');
    if (this.opts.provider === 'github') {
      return {
        url: `${base}/repos/${this.opts.repo.split('/').map(encodeURIComponent).join('/')}/statuses/${n.revision}`,
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/vnd.github+json', authorization: `Bearer ${this.opts.token}`, 'user-agent': 'gantry' },
        body: JSON.stringify({ state, description, context }),
      };
    }
    const gitlabState = state === 'failure' ? 'failed' : state === 'pending' ? 'running' : 'success';
    return {
      url: `${base}/projects/${encodeURIComponent(this.opts.repo)}/statuses/${n.revision}`,
      method: 'POST',
      headers: { 'content-type': 'application/json', 'private-token': this.opts.token, 'user-agent': 'gantry' },
      body: JSON.stringify({ state: gitlabState, description, name: context }),
    };
  }
}

/**
 * The repository a commit status goes to, from the followed repo's URL:
 * `https://github.com/team/deploy.git` → `team/deploy`. Undefined for a local path.
 */
export function repoFromUrl(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
  const path = decodeURIComponent(u.pathname).replace(/^\/+|\/+$/g, '').replace(/\.git$/, '');
  return path.includes('/') ? path : undefined;
}
