/**
 * Delivery: each sink has its own bounded queue and one sender, so notifications to a sink
 * arrive in order (a commit's `pending` before its `success`), a slow or dead receiver never
 * delays another sink, and {@link Notifier.notify} never waits: the sync loop and the health
 * watcher hand a notification over and go on.
 *
 * A failed delivery (network error, timeout, 408, 429, 5xx) is retried with exponential backoff
 * and jitter, a bounded number of times; other 4xx answers are the receiver refusing it for good
 * (a bad token, an unknown repo) and are logged, not retried.
 */
import type { Logger } from 'pino';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../errors.js';
import type { Notification, OutboundRequest, Sink } from './types.js';

/** Retry and queue limits. */
export interface DeliveryOptions {
  /** Tries per notification, the first included; default 5. */
  attempts?: number;
  /** First retry delay; doubled each time up to `maxDelayMs`. Default 1 s. */
  baseDelayMs?: number;
  /** Default 30 s. */
  maxDelayMs?: number;
  /** Per request; default 10 s. */
  timeoutMs?: number;
  /** Notifications waiting per sink before the oldest are dropped; default 100. */
  queueLimit?: number;
}

/** Sends notifications to sinks in the background. */
export class Notifier {
  private readonly queues: SinkQueue[];
  private readonly abort = new AbortController();

  constructor(sinks: readonly Sink[], private readonly opts: { logger: Logger } & DeliveryOptions) {
    this.queues = sinks.map((s) => new SinkQueue(s, opts, this.abort.signal));
  }

  /** Whether any sink is configured. */
  get enabled(): boolean {
    return this.queues.length > 0;
  }

  /** Queues `n` for every sink and returns at once. */
  notify(n: Notification): void {
    this.opts.logger.debug({ type: n.type, revision: n.revision?.slice(0, 7) }, 'notification queued');
    for (const q of this.queues) q.push(n);
  }

  /**
   * Stops: waits up to `graceMs` (default 2 s) for queued notifications to go out, then abandons
   * the rest (a retry sleeping or a request under way is cut short).
   */
  async stop(graceMs = 2000): Promise<void> {
    const drained = Promise.all(this.queues.map((q) => q.idle()));
    await Promise.race([drained, sleep(graceMs, undefined, { ref: false })]);
    this.abort.abort();
    await drained;
  }
}

class SinkQueue {
  private readonly pending: Notification[] = [];
  private running: Promise<void> | undefined;

  constructor(private readonly sink: Sink, private readonly opts: { logger: Logger } & DeliveryOptions, private readonly signal: AbortSignal) {}

  push(n: Notification): void {
    if (this.signal.aborted) return;
    const limit = this.opts.queueLimit ?? 100;
    this.pending.push(n);
    if (this.pending.length > limit) {
      const dropped = this.pending.splice(0, this.pending.length - limit);
      this.opts.logger.warn({ sink: this.sink.name, dropped: dropped.length }, 'notification receiver is behind; dropped the oldest notifications');
    }
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
    });
  }

  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0 && !this.signal.aborted) {
      const n = this.pending.shift()!;
      const req = this.sink.request(n);
      if (req) await this.deliver(req, n);
    }
  }

  private async deliver(req: OutboundRequest, n: Notification): Promise<void> {
    const attempts = Math.max(1, this.opts.attempts ?? 5);
    const log = this.opts.logger.child({ sink: this.sink.name, type: n.type, revision: n.revision?.slice(0, 7) });
    for (let attempt = 1; ; attempt++) {
      let retryAfterMs: number | undefined;
      let problem: string;
      try {
        const res = await fetch(req.url, {
          method: req.method,
          headers: req.headers,
          body: req.body,
          signal: AbortSignal.any([this.signal, AbortSignal.timeout(this.opts.timeoutMs ?? 10_000)]),
        });
        // The body is not needed; reading it frees the connection.
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) {
          log.debug({ status: res.status, attempt }, 'notification delivered');
          return;
        }
        problem = `HTTP ${res.status}`;
        if (!retryable(res.status)) {
          log.warn({ status: res.status }, `notification refused by the receiver (${problem}); not retried`);
          return;
        }
        retryAfterMs = retryAfter(res.headers.get('retry-after'));
      } catch (err) {
        if (this.signal.aborted) return;
        problem = errorMessage(err);
      }
      if (attempt >= attempts) {
        log.warn({ attempts }, `notification not delivered after ${attempts} attempts: ${problem}`);
        return;
      }
      const base = Math.min(this.opts.maxDelayMs ?? 30_000, (this.opts.baseDelayMs ?? 1000) * 2 ** (attempt - 1));
      // Full jitter on the upper half: receivers coming back are not hit by every gantry at once.
      const delay = Math.min(this.opts.maxDelayMs ?? 30_000, Math.max(retryAfterMs ?? 0, base / 2 + Math.random() * (base / 2)));
      log.info({ attempt, retryInMs: Math.round(delay) }, `notification delivery failed (${problem}); retrying`);
      try {
        await sleep(delay, undefined, { signal: this.signal });
      } catch {
        return;
      }
    }
  }
}

function retryable(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

function retryAfter(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return seconds * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}
