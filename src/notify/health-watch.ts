/**
 * Turns the app's health over time into notifications: `degraded` when it becomes Degraded,
 * `recovered` when it is healthy again after that, and `healthy` when the revision last applied
 * has finished rolling out (so a commit status goes from pending to success). Re-evaluated a
 * second after the store changes (and every `resyncMs` regardless), never more often.
 */
import type { Logger } from 'pino';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../errors.js';
import { readAppHealth } from '../health/read.js';
import type { AppHealth } from '../health/types.js';
import { DECLARABLE_KINDS } from '../model/kinds.js';
import type { ReadStore } from '../store/types.js';
import type { Notification } from './types.js';

/** Options of {@link HealthNotifications}. */
export interface HealthNotificationOptions {
  /** Watched for changes (and read, unless `assess` is given). */
  store: Pick<ReadStore, 'get' | 'list' | 'watch'>;
  /** How to assess the app; default {@link readAppHealth} on the store (a watch-fed cache is cheaper). */
  assess?: () => Promise<AppHealth>;
  notify: (n: Notification) => void;
  logger: Logger;
  repo?: string;
  /** Quiet time after a change before looking; default 1 s. */
  debounceMs?: number;
  /** Look at least this often; default 10 s. */
  resyncMs?: number;
}

/** Watches the app's health and notifies its transitions. */
export class HealthNotifications {
  /** A `degraded` notification went out and no `recovered` since. */
  private degraded = false;
  /** `degraded` was told for the revision in force (a crash loop flaps Degraded ↔ Progressing: told once). */
  private announced = false;
  /** The revision applied last whose rollout has not been reported healthy yet. */
  private awaiting: string | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly opts: HealthNotificationOptions) {}

  /** A revision was applied: its rollout is watched afresh (Degraded again counts again). */
  applied(revision: string): void {
    this.awaiting = revision;
    this.announced = false;
    this.wake?.();
  }

  /** Runs until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    void this.follow(signal);
    while (!signal.aborted) {
      const started = performance.now();
      try {
        this.observe(await (this.opts.assess ? this.opts.assess() : readAppHealth(this.opts.store)));
      } catch (err) {
        this.opts.logger.warn({ err: errorMessage(err) }, 'cannot assess the app\'s health for notifications');
      }
      // One timer per round, cancelled when a change comes first (no sleeps pile up).
      const round = new AbortController();
      const stopRound = (): void => round.abort();
      signal.addEventListener('abort', stopRound, { once: true });
      const changed = new Promise<void>((resolve) => (this.wake = resolve));
      try {
        await Promise.race([changed, sleep(this.opts.resyncMs ?? 10_000, undefined, { signal: round.signal }).catch(() => undefined)]);
        round.abort();
        // Quiet time, and at least four times what an assessment costs: a big cluster in the
        // middle of a rollout keeps this to a fifth of a core.
        await sleep(Math.max(this.opts.debounceMs ?? 1000, 4 * (performance.now() - started)), undefined, { signal });
      } catch {
        return;
      } finally {
        signal.removeEventListener('abort', stopRound);
      }
    }
  }

  /** Store changes wake the loop; a broken watch is started again. */
  private async follow(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        for await (const _ of this.opts.store.watch({ kinds: [...DECLARABLE_KINDS, 'Sync'], signal })) this.wake?.();
      } catch (err) {
        if (signal.aborted) return;
        this.opts.logger.debug({ err: errorMessage(err) }, 'health watch ended; watching again');
      }
      await sleep(1000, undefined, { signal }).catch(() => undefined);
    }
  }

  private observe(app: AppHealth): void {
    const status = app.health.status;
    const fine = status === 'Healthy' || status === 'Suspended';
    const base = { at: new Date().toISOString(), ...(app.sync.revision ? { revision: app.sync.revision } : {}), ...(this.opts.repo ? { repo: this.opts.repo } : {}) };
    if (status === 'Degraded' && !this.announced) {
      this.degraded = true;
      this.announced = true;
      this.opts.notify({ ...base, type: 'degraded', message: `degraded: ${app.health.message ?? ''}`.trim(), health: healthOf(app) });
    } else if (fine && this.degraded) {
      // Recovered, through a new revision or on its own (a crash loop that stopped).
      this.degraded = false;
      this.announced = false;
      this.awaiting = undefined;
      this.opts.notify({ ...base, type: 'recovered', message: 'recovered: every object is healthy', health: healthOf(app) });
    } else if (fine && this.awaiting !== undefined && this.awaiting === app.sync.revision) {
      this.awaiting = undefined;
      this.opts.notify({ ...base, type: 'healthy', message: `revision ${base.revision?.slice(0, 7)} rolled out: every object is healthy`, health: healthOf(app) });
    }
  }
}

function healthOf(app: AppHealth): NonNullable<Notification['health']> {
  const objects = app.objects
    .filter((o) => o.health && o.health.status !== 'Healthy')
    .slice(0, 20)
    .map((o) => ({ key: o.key, status: o.health!.status, ...(o.health!.reason ? { reason: o.health!.reason } : {}), ...(o.health!.message ? { message: o.health!.message } : {}) }));
  return { status: app.health.status, ...(app.health.reason ? { reason: app.health.reason } : {}), ...(app.health.message ? { message: app.health.message } : {}), objects };
}
