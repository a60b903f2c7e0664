/**
 * Webhook verification and push-event parsing (pure: no server). GitHub signs the raw body
 * with HMAC-SHA256 (`X-Hub-Signature-256: sha256=<hex>`); GitLab sends the shared secret in
 * `X-Gitlab-Token`. Anything else, or a missing/forged signature, is refused.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The parts of an HTTP request verification needs. Header names may be in any case. */
export interface WebhookRequest {
  headers: Record<string, string | string[] | undefined>;
  /** The raw body exactly as received: signatures are over bytes, not over parsed JSON. */
  body: Buffer;
}

/** Which kind of sender a verified webhook came from. */
export type WebhookProvider = 'github' | 'gitlab' | 'generic';

/** Outcome of {@link verifyWebhook}. */
export type WebhookVerdict =
  | { ok: true; provider: WebhookProvider; event?: string }
  | { ok: false; reason: string };

/** What a push event says, as far as a sync needs it. */
export interface PushEvent {
  /** Full ref, e.g. `refs/heads/main`. */
  ref?: string;
  /** Branch name when `ref` is a branch. */
  branch?: string;
  /** Commit id the ref now points at. */
  after?: string;
  /** Repository name or URL as the sender spells it. */
  repository?: string;
  /** True for GitHub's `ping` (sent when a hook is created): verified, but nothing to sync. */
  ping?: boolean;
}

function header(headers: WebhookRequest['headers'], name: string): string | undefined {
  const want = name.toLowerCase();
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() !== want || v === undefined) continue;
    return Array.isArray(v) ? v[0] : v;
  }
  return undefined;
}

/** Constant-time comparison that does not leak lengths through an early exception. */
function safeEqual(a: Buffer, b: Buffer): boolean {
  if (a.length !== b.length) {
    // Compare anyway so a wrong length costs the same as a wrong value.
    timingSafeEqual(a, a);
    return false;
  }
  return timingSafeEqual(a, b);
}

/**
 * Verifies a webhook against the shared secret: GitHub's HMAC signature when
 * `X-Hub-Signature-256` is present, GitLab's token when `X-Gitlab-Token` is, and a generic
 * sender signing like GitHub (`X-Hub-Signature-256`, e.g. Gitea) without GitHub's event header.
 */
export function verifyWebhook(req: WebhookRequest, secret: string): WebhookVerdict {
  if (!secret) return { ok: false, reason: 'no webhook secret is configured' };
  const signature = header(req.headers, 'x-hub-signature-256');
  const gitlabToken = header(req.headers, 'x-gitlab-token');
  if (signature !== undefined) {
    const m = /^sha256=([0-9a-f]{64})$/i.exec(signature.trim());
    if (!m?.[1]) return { ok: false, reason: 'X-Hub-Signature-256 is not of the form sha256=<64 hex digits>' };
    const expected = createHmac('sha256', secret).update(req.body).digest();
    if (!safeEqual(Buffer.from(m[1], 'hex'), expected)) return { ok: false, reason: 'X-Hub-Signature-256 does not match the body (wrong secret or altered payload)' };
    const githubEvent = header(req.headers, 'x-github-event');
    const giteaEvent = header(req.headers, 'x-gitea-event');
    if (githubEvent !== undefined) return { ok: true, provider: 'github', event: githubEvent };
    return { ok: true, provider: 'generic', event: giteaEvent };
  }
  if (gitlabToken !== undefined) {
    if (!safeEqual(Buffer.from(gitlabToken), Buffer.from(secret))) return { ok: false, reason: 'X-Gitlab-Token does not match the configured secret' };
    return { ok: true, provider: 'gitlab', event: header(req.headers, 'x-gitlab-event') };
  }
  return { ok: false, reason: 'unsigned request: neither X-Hub-Signature-256 nor X-Gitlab-Token is present' };
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/**
 * Reads a push event from a verified webhook body: GitHub (and Gitea) `push`, GitLab
 * `Push Hook`, and GitHub's `ping`. Returns undefined for other events or unreadable bodies.
 * `event` is the verdict's event header, when known.
 */
export function parsePushEvent(provider: WebhookProvider, body: Buffer | string, event?: string): PushEvent | undefined {
  let payload: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
    payload = parsed as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const repo = (payload.repository ?? payload.project) as Record<string, unknown> | undefined;
  const repository = repo && typeof repo === 'object' ? (str(repo.full_name) ?? str(repo.path_with_namespace) ?? str(repo.clone_url) ?? str(repo.git_http_url) ?? str(repo.name)) : undefined;

  if (event === 'ping' || (event === undefined && provider === 'github' && 'zen' in payload && 'hook_id' in payload)) {
    return { ping: true, repository };
  }
  if (event !== undefined && !/^(push|Push Hook|Tag Push Hook)$/.test(event)) return undefined;
  const ref = str(payload.ref);
  if (!ref) return undefined;
  const after = provider === 'gitlab' ? (str(payload.checkout_sha) ?? str(payload.after)) : str(payload.after);
  const branch = ref.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : undefined;
  return { ref, branch, after, repository };
}
