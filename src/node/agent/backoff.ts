/**
 * Restart back-off as the kubelet does it (CrashLoopBackOff, ImagePullBackOff): the first failure
 * is retried at once and arms a delay of `base`; each failure seen while armed doubles the delay
 * up to `max`; an entry untouched for 2 × max (10 minutes with Kubernetes' 300 s) is forgotten, so
 * a container that ran cleanly that long starts over at `base`.
 */

/** Kubernetes' back-off figures. */
export const KUBERNETES_BACKOFF = { baseMs: 10_000, maxMs: 300_000 } as const;

interface Entry {
  delayMs: number;
  /** When the delay was last armed or raised. */
  lastUpdate: number;
}

/** Per-key exponential back-off (client-go's `flowcontrol.Backoff` semantics). */
export class Backoff {
  private entries = new Map<string, Entry>();

  constructor(
    readonly baseMs: number = KUBERNETES_BACKOFF.baseMs,
    readonly maxMs: number = KUBERNETES_BACKOFF.maxMs,
  ) {}

  /**
   * Milliseconds still to wait before retrying `key` after a failure at `failedAt`, or 0 when the
   * retry may go ahead now. Does not change anything.
   */
  remaining(key: string, failedAt: number, now: number): number {
    const e = this.live(key, failedAt);
    if (!e) return 0;
    return Math.max(0, failedAt + e.delayMs - now);
  }

  /** The delay currently armed for `key` (0 when none). */
  current(key: string): number {
    return this.entries.get(key)?.delayMs ?? 0;
  }

  /** Records a retry of `key` at `now`: arms `base`, or doubles the armed delay up to `max`. */
  next(key: string, now: number): number {
    const e = this.live(key, now);
    const delayMs = e ? Math.min(e.delayMs * 2, this.maxMs) : this.baseMs;
    this.entries.set(key, { delayMs, lastUpdate: now });
    return delayMs;
  }

  /** Forgets `key`. */
  reset(key: string): void {
    this.entries.delete(key);
  }

  /** Forgets every key starting with `prefix` (a pod's). */
  resetPrefix(prefix: string): void {
    for (const k of this.entries.keys()) if (k.startsWith(prefix)) this.entries.delete(k);
  }

  private live(key: string, at: number): Entry | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (at - e.lastUpdate > 2 * this.maxMs) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }
}
