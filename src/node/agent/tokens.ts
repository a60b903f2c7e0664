/**
 * The service-account tokens of this node's pods, as the kubelet's token manager keeps them: one
 * per pod and (audience, lifetime), fetched through the node API when first needed and again once
 * 80% of its lifetime has passed (or a day, for long-lived ones), a few seconds early at random so
 * a node's pods do not all ask at once. A refresh that fails while the old token is still valid
 * keeps the old one and tries again later, as the kubelet does.
 */
import type { Logger } from '../../log.js';
import { DEFAULT_TOKEN_EXPIRATION_SECONDS } from '../../model/serviceaccount.js';
import type { Pod, VolumeProjection } from '../../model/types.js';
import type { NodeApi } from '../api.js';
import { tokenSourceKey } from '../volumes/projected.js';

/** Refresh once this share of the lifetime has passed. */
const REFRESH_AT = 0.8;
/** Tokens living longer than this are refreshed after it anyway (the kubelet's maximum TTL). */
const MAX_TTL_MS = 24 * 3600_000;
/** Up to this much earlier, at random. */
const MAX_JITTER_MS = 10_000;
/** A failed refresh is tried again after this (while the old token lasts). */
const RETRY_MS = 10_000;

interface Held {
  token: string;
  expiresAt: number;
  refreshAt: number;
}

/** What {@link PodTokens.tokensFor} gives: the tokens by source key, and when to come back. */
export interface PodTokenSet {
  tokens: Map<string, string>;
  /** Milliseconds since the epoch when the earliest one wants refreshing (undefined: no tokens). */
  refreshAt?: number;
}

/** Options of {@link PodTokens}. */
export interface PodTokensOptions {
  api: NodeApi;
  now: () => number;
  logger: Logger;
}

/** Tokens of the pods of one node. */
export class PodTokens {
  /** pod uid → source key → token. */
  private readonly held = new Map<string, Map<string, Held>>();

  constructor(private readonly o: PodTokensOptions) {}

  /**
   * The tokens of every `serviceAccountToken` source of `sources`, fetched or refreshed as needed.
   * @throws what the node API throws when a token cannot be had (the account is missing: NotFound).
   */
  async tokensFor(pod: Pod, sources: readonly NonNullable<VolumeProjection['serviceAccountToken']>[]): Promise<PodTokenSet> {
    const uid = pod.metadata.uid!;
    const mine = this.held.get(uid) ?? new Map<string, Held>();
    this.held.set(uid, mine);
    const out: PodTokenSet = { tokens: new Map() };
    for (const src of sources) {
      const key = tokenSourceKey(src);
      let h = mine.get(key);
      if (!h || this.o.now() >= h.refreshAt) {
        h = await this.fetch(pod, src, h);
        mine.set(key, h);
      }
      out.tokens.set(key, h.token);
      out.refreshAt = Math.min(out.refreshAt ?? Infinity, h.refreshAt);
    }
    return out;
  }

  /** Drops what is kept of a pod. */
  forget(uid: string): void {
    this.held.delete(uid);
  }

  private async fetch(pod: Pod, src: NonNullable<VolumeProjection['serviceAccountToken']>, old: Held | undefined): Promise<Held> {
    const seconds = src.expirationSeconds ?? DEFAULT_TOKEN_EXPIRATION_SECONDS;
    const now = this.o.now();
    try {
      const issued = await this.o.api.requestServiceAccountToken(pod, { ...(src.audience ? { audience: src.audience } : {}), expirationSeconds: seconds });
      const expiresAt = Date.parse(issued.expirationTimestamp);
      const issuedAt = expiresAt - seconds * 1000;
      const jitter = Math.random() * MAX_JITTER_MS;
      const refreshAt = Math.min(issuedAt + seconds * 1000 * REFRESH_AT, issuedAt + MAX_TTL_MS) - jitter;
      return { token: issued.token, expiresAt, refreshAt: Math.max(refreshAt, now + 1000) };
    } catch (err) {
      if (!old || old.expiresAt <= now) throw err;
      this.o.logger.warn({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, err: (err as Error).message }, 'service account token refresh failed; the current one is kept while it lasts');
      return { ...old, refreshAt: Math.min(now + RETRY_MS, old.expiresAt) };
    }
  }
}
