/**
 * The sync loop: a Git revision becomes validated desired state, a plan, and one store
 * transaction. Level-triggered: every pass compares the whole desired set with the whole live
 * set, so objects changed or deleted behind gantry's back are put back too.
 *
 * A revision is applied whole or not at all: if any manifest is invalid, nothing from it is
 * applied and the last good revision stays in force.
 */
import type { Logger } from 'pino';
import { makePlan } from '../diff/plan.js';
import { planIsEmpty, type Plan } from '../diff/types.js';
import { errorMessage, isGantryError } from '../errors.js';
import { DECLARABLE_KINDS } from '../model/kinds.js';
import type { KubeObject } from '../model/types.js';
import type { Recorder, SyncRecord } from '../audit/types.js';
import type { Store, WriteOrigin } from '../store/types.js';
import { admitPlan } from './admission.js';
import { applyPlan } from './apply.js';
import { loadRevision } from './load-revision.js';
import { ManifestCache } from './loader.js';
import { SYNC_NAME, SyncReasons, type SyncObject } from './status.js';
import { writeSyncStatus, type DescribedSpec, type StatusUpdate } from './status-writer.js';
import { holdFor, type PassRequest } from './gate.js';
import { formatSyncWindow, type SyncWindow } from './windows.js';
import type { ManifestIssue, Revision, Source } from './types.js';
import { validateObject } from './validate.js';
import type { Metrics } from '../metrics/index.js';
import type { Decryption } from './sops/decryptor.js';
import type { Verdict } from './signatures/verifier.js';

/** Checks the signature of a commit (see signatures/verifier.ts). */
export interface CommitCheck {
  verify(id: string, read: () => Promise<Uint8Array>): Promise<Verdict>;
}

/** Options for {@link SyncLoop}. */
export interface SyncLoopOptions {
  source: Source;
  store: Store;
  logger: Logger;
  recorder?: Recorder;
  /** Branch, tag or commit to follow; the source's default when omitted. */
  ref?: string;
  /** Poll interval; 0 disables polling (webhook or manual triggers only). Default 30 s. */
  intervalMs?: number;
  /**
   * Also run a pass as soon as the source's refs move, when the source can watch them (a local
   * repository). The poll stays as the fallback. Default true.
   */
  watchSource?: boolean;
  /** Delete objects gantry applied earlier that the repo no longer declares. Default true. */
  prune?: boolean;
  /** What the Sync object shows as the source. */
  describe: { repo: string; ref?: string; path?: string };
  metrics?: Metrics;
  /**
   * A watch-fed view of the live objects (an informer cache over the declarable kinds). With it a
   * pass reads live state from memory instead of listing the store; a stale view is caught by the
   * store's resourceVersion checks and the pass re-plans.
   */
  live?: LiveView;
  /**
   * Told when a revision is applied (as the audit trail records it: once per revision, and for
   * every pass that changed something) or rejected (once per revision). Must not block: it runs
   * inside the pass (outbound notifications queue and return).
   */
  onEvent?: (e: SyncEvent) => void;
  /** Argo CD-style sync windows (windows.ts): outside an allow window or inside a deny window, passes apply nothing. */
  syncWindows?: SyncWindow[];
  /** What passes reuse of earlier ones (parses, renders, validation). Default: a cache of the loop's own. */
  cache?: ManifestCache;
  /** Decrypts the SOPS-encrypted files of a revision before its manifests load. */
  decryptor?: Decryption;
  /**
   * With it (`--verify-commits`), a revision whose commit is unsigned, badly signed or signed by
   * a key that is not trusted is rejected whole, before any of its files is read.
   */
  verifier?: CommitCheck;
}

/** What {@link SyncLoopOptions.onEvent} hears. */
export type SyncEvent =
  | { type: 'applied'; revision: Revision; summary: { created: number; updated: number; pruned: number; unchanged: number } }
  | { type: 'rejected'; revision: Revision; issues: ManifestIssue[]; message: string };

/** Read access to a watch-fed cache of live objects. */
export interface LiveView {
  list(kind: string): readonly KubeObject[];
  /** Resolves once the view reflects store revision `rev`. */
  waitForRevision(rev: number, signal?: AbortSignal): Promise<void>;
}

/** The result of one pass. */
export interface SyncOutcome {
  /** `held`: nothing applied, the sync being suspended or held by a sync window (see `message`). */
  outcome: 'applied' | 'unchanged' | 'rejected' | 'failed' | 'held';
  revision?: Revision;
  plan?: Plan;
  issues?: ManifestIssue[];
  error?: string;
  /** Why a pass was held. */
  message?: string;
  /** When a window holding it closes (ISO). */
  until?: string;
}

/** Number of times a pass re-plans after a store conflict before giving up until next time. */
const CONFLICT_RETRIES = 3;

/** Runs sync passes on a timer and on demand, one at a time. */
export class SyncLoop {
  private readonly opts: SyncLoopOptions;
  private readonly cache: ManifestCache;
  private running: Promise<SyncOutcome> | undefined;
  private pending: { reason: string; request: PassRequest; promise: Promise<SyncOutcome> } | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** A pass at the end of the window holding the last one. */
  private windowTimer: NodeJS.Timeout | undefined;
  private signal: AbortSignal | undefined;
  /** Revision last reported as rejected, so a bad commit is recorded once, not every poll. */
  private lastRejected: string | undefined;
  private lastRecordedApplied: string | undefined;
  private last: SyncOutcome | undefined;
  /** Revision whose good signature was last logged, so it is logged once. */
  private lastVerified: string | undefined;

  constructor(opts: SyncLoopOptions) {
    this.opts = opts;
    this.cache = opts.cache ?? new ManifestCache();
  }

  /** The outcome of the most recent pass. */
  get lastOutcome(): SyncOutcome | undefined {
    return this.last;
  }

  /** Starts polling (first pass at once unless `immediate` is false). Stops when the signal aborts. */
  start(signal: AbortSignal, opts: { immediate?: boolean } = {}): void {
    const interval = this.opts.intervalMs ?? 30_000;
    const tick = (): void => {
      void this.trigger('poll').finally(() => {
        if (!signal.aborted && interval > 0) this.timer = setTimeout(tick, interval);
      });
    };
    this.signal = signal;
    signal.addEventListener('abort', () => {
      clearTimeout(this.timer);
      clearTimeout(this.windowTimer);
    }, { once: true });
    const { source, logger } = this.opts;
    if (source.watch && this.opts.watchSource !== false) {
      source.watch(() => void this.trigger('ref change'), signal).then(
        (watching) => { if (watching) logger.debug('watching the repository: commits are applied as they land'); },
        (err: unknown) => logger.warn({ err: errorMessage(err) }, 'cannot watch the repository; polling only'),
      );
    }
    if (opts.immediate ?? true) tick();
    else if (interval > 0) this.timer = setTimeout(tick, interval);
  }

  /**
   * Asks for a pass. If one is running, one more pass runs after it (several triggers while
   * busy collapse into that one, forced if any of them was), so a push seen mid-pass is never
   * missed.
   */
  trigger(reason: string, request: PassRequest = {}): Promise<SyncOutcome> {
    if (this.pending) {
      if (request.force) this.pending.request.force = true;
      if (request.manual) this.pending.request.manual = true;
      return this.pending.promise;
    }
    if (!this.running) {
      this.running = this.runPass(reason, request);
      return this.running;
    }
    const pending = { reason, request: { ...request } };
    const after = this.running.catch(() => undefined).then(() => {
      this.pending = undefined;
      this.running = this.runPass(pending.reason, pending.request);
      return this.running;
    });
    this.pending = { ...pending, promise: after };
    return after;
  }

  /**
   * For a server taking over from another leader, before its first pass: continues the audit
   * trail's sync records where the old leader's ended. The revision the trail last records as
   * applied is not recorded again (the first pass would otherwise add an "applied" record for the
   * revision in force); a revision the old leader applied (the Sync object says so) but whose
   * record it never pushed before it died is recorded now, with the old leader's time and counts.
   */
  async resumeRecord(): Promise<void> {
    const recorder = this.opts.recorder;
    if (!recorder) return;
    const entries = await recorder.history({ limit: 5000 }).catch(() => []);
    const recorded = entries.find((e) => e.object === undefined && e.actor === 'sync' && / applied\b/.test(e.summary))?.desiredRevision;
    this.lastRecordedApplied = recorded;
    const status = (await this.opts.store.get<SyncObject>({ kind: 'Sync', name: SYNC_NAME }).catch(() => undefined))?.status;
    const applied = status?.lastAppliedRevision;
    if (!applied || applied === recorded) return;
    const summary = status.summary && { created: status.summary.created, updated: status.summary.updated, pruned: status.summary.pruned, unchanged: status.summary.unchanged };
    recorder.recordSync({
      revision: { commit: applied, ref: this.opts.ref ?? 'HEAD' },
      outcome: 'applied',
      ...(summary ? { summary } : {}),
      at: status.lastAppliedTime ?? new Date().toISOString(),
    });
    this.lastRecordedApplied = applied;
  }

  /** Resolves when no pass is running or queued (for a clean shutdown). */
  async idle(): Promise<void> {
    while (this.running || this.pending) {
      await (this.pending?.promise ?? this.running)?.catch(() => undefined);
    }
  }

  private async runPass(reason: string, request: PassRequest): Promise<SyncOutcome> {
    const started = process.hrtime.bigint();
    try {
      const outcome = await this.syncOnce(reason, request);
      this.last = outcome;
      this.opts.metrics?.sync.pass(outcome.outcome, Number(process.hrtime.bigint() - started) / 1e9);
      return outcome;
    } finally {
      this.running = undefined;
    }
  }

  /** One pass: resolve, load, validate, plan, apply, report. Never throws. */
  async syncOnce(reason = 'manual', request: PassRequest = {}): Promise<SyncOutcome> {
    const { source, logger } = this.opts;
    let revision: Revision | undefined;
    try {
      revision = await source.resolve(this.opts.ref);
    } catch (err) {
      logger.error({ err: errorMessage(err), reason }, 'cannot read the source');
      await this.writeStatus({ reason: SyncReasons.SourceFailed, message: errorMessage(err), ready: false });
      return { outcome: 'failed', error: errorMessage(err) };
    }
    const short = revision.commit.slice(0, 7);
    let lastPlan: Plan | undefined;
    const held = await this.hold(revision, request);
    if (held) return held;
    try {
      if (this.opts.verifier) {
        const verdict = await this.verifyRevision(revision);
        if (!verdict.ok) return await this.rejectUnverified(revision, verdict.reason);
      }
      const loaded = await loadRevision(source, revision.commit, { validate: validateObject, cache: this.cache, decryptor: this.opts.decryptor });
      if (loaded.issues.length > 0) return await this.reject(revision, loaded.issues);
      this.opts.metrics?.sync.desiredObjects(loaded.objects.length);

      for (let attempt = 0; ; attempt++) {
        const live = await this.listLive();
        const plan = makePlan({ revision, objects: loaded.objects }, live, {
          revision: revision.commit,
          prune: this.opts.prune ?? true,
        });
        lastPlan = plan;
        const admission = admitPlan(plan, live);
        if (admission.issues.length > 0) return await this.reject(revision, admission.issues);
        try {
          await applyPlan(this.opts.store, plan, {
            origin: { ...syncOrigin(revision), reason: `sync ${short} (${reason})` },
            extraOps: admission.ops,
          });
          await this.recordApplied(revision, plan, loaded.objects.length);
          this.lastRejected = undefined;
          return { outcome: planIsEmpty(plan) ? 'unchanged' : 'applied', revision, plan };
        } catch (err) {
          // A conflict, or an object that appeared or vanished since the live state was read:
          // the plan is stale, so plan again from fresh live state.
          const stale = isGantryError(err, 'Conflict') || isGantryError(err, 'AlreadyExists') || isGantryError(err, 'NotFound');
          if (stale && attempt < CONFLICT_RETRIES) {
            logger.debug({ err: errorMessage(err) }, 'store changed while applying; planning again');
            continue;
          }
          throw err;
        }
      }
    } catch (err) {
      const message = errorMessage(err);
      logger.error({ revision: short, err: message }, 'sync failed');
      const outOfSync = lastPlan && [...lastPlan.create, ...lastPlan.update, ...lastPlan.prune].slice(0, 1000).map((e) => e.key);
      await this.writeStatus({ revision, reason: SyncReasons.ApplyFailed, message, ready: false, ...(outOfSync ? { outOfSync } : {}) });
      this.opts.recorder?.recordSync({ revision, outcome: 'failed', error: message, at: new Date().toISOString() });
      return { outcome: 'failed', revision, error: message };
    }
  }

  /**
   * The outcome of a pass that must apply nothing (gate.ts), recorded on the Sync object; when a
   * window holds it, a pass is set for the window's end so the revision lands then without
   * waiting for a poll or a push.
   */
  private async hold(revision: Revision, request: PassRequest): Promise<SyncOutcome | undefined> {
    const sync = await this.opts.store.get<SyncObject>({ kind: 'Sync', name: SYNC_NAME }).catch(() => undefined);
    const held = holdFor(sync, this.opts.syncWindows ?? [], revision.commit, request);
    if (!held) return undefined;
    if (sync?.status?.heldBack?.message !== held.message) this.opts.logger.warn({ revision: revision.commit.slice(0, 7) }, held.message);
    await this.writeStatus({ held });
    if (held.until && this.signal && !this.signal.aborted) {
      clearTimeout(this.windowTimer);
      const wait = Math.min(2 ** 31 - 1, Math.max(0, Date.parse(held.until) - Date.now()) + 1000);
      this.windowTimer = setTimeout(() => void this.trigger('sync window closed'), wait);
      this.windowTimer.unref();
    }
    return { outcome: 'held', revision, message: held.message, ...(held.until ? { until: held.until } : {}) };
  }

  /** Every live object of a kind a repo may declare. */
  private async listLive(): Promise<KubeObject[]> {
    const view = this.opts.live;
    if (view) {
      // Everything committed before this pass began is in the view: a pass never plans from
      // state older than its own start.
      await view.waitForRevision(await this.opts.store.revision());
      return DECLARABLE_KINDS.flatMap((k) => view.list(k));
    }
    const lists = await Promise.all(DECLARABLE_KINDS.map((k) => this.opts.store.list(k)));
    return lists.flatMap((l) => l.items);
  }

  /** The verdict on the revision's commit signature. */
  private async verifyRevision(revision: Revision): Promise<Verdict> {
    const { source, verifier, logger } = this.opts;
    if (!source.commitObject) return { ok: false, reason: 'this source has no commits whose signatures could be verified' };
    const verdict = await verifier!.verify(revision.commit, () => source.commitObject!(revision.commit));
    if (verdict.ok && this.lastVerified !== revision.commit) {
      this.lastVerified = revision.commit;
      logger.info({ revision: revision.commit.slice(0, 7), signer: verdict.signer }, 'commit signature verified');
    }
    return verdict;
  }

  /** Rejects a revision whose commit signature does not verify: nothing of it is read or applied. */
  private async rejectUnverified(revision: Revision, reason: string): Promise<SyncOutcome> {
    const short = revision.commit.slice(0, 7);
    if (this.lastRejected !== revision.commit) {
      this.lastRejected = revision.commit;
      this.opts.logger.error({ revision: short, reason }, 'revision rejected: its commit signature does not verify; the last good revision stays in force');
      this.opts.recorder?.recordSync({ revision, outcome: 'rejected', error: reason, at: new Date().toISOString() });
    }
    await this.writeStatus({ revision, reason: SyncReasons.VerificationFailed, message: `revision ${short} rejected: ${reason}`, ready: false });
    return { outcome: 'rejected', revision, error: reason };
  }

  private async reject(revision: Revision, issues: ManifestIssue[]): Promise<SyncOutcome> {
    const short = revision.commit.slice(0, 7);
    const first = issues[0]!;
    const message = `revision ${short} rejected, ${issues.length} problem${issues.length === 1 ? '' : 's'}; ` +
      `first: ${formatIssue(first)}`;
    if (this.lastRejected !== revision.commit) {
      this.lastRejected = revision.commit;
      for (const issue of issues) this.opts.logger.error({ revision: short, ...issue }, `invalid manifest: ${formatIssue(issue)}`);
      this.opts.logger.warn({ revision: short }, 'revision rejected; the last good revision stays in force');
      this.opts.recorder?.recordSync({ revision, outcome: 'rejected', issues, at: new Date().toISOString() });
      this.emit({ type: 'rejected', revision, issues, message });
    }
    await this.writeStatus({ revision, reason: SyncReasons.ValidationFailed, message, ready: false, issues });
    return { outcome: 'rejected', revision, issues };
  }

  private async recordApplied(revision: Revision, plan: Plan, objects: number): Promise<void> {
    const summary = {
      created: plan.create.length,
      updated: plan.update.length,
      pruned: plan.prune.length,
      unchanged: plan.unchanged.length,
    };
    const changed = !planIsEmpty(plan);
    this.opts.metrics?.sync.inForce({ revision: revision.commit, ref: revision.ref, repo: this.opts.describe.repo });
    // A pass that changes nothing records nothing unless it puts a new revision in force: after a
    // restart the Sync object (not this process's memory) says what already is.
    if (!changed && this.lastRecordedApplied === undefined) {
      const status = (await this.opts.store.get<SyncObject>({ kind: 'Sync', name: SYNC_NAME }).catch(() => undefined))?.status;
      if (status?.lastAppliedRevision === revision.commit) this.lastRecordedApplied = revision.commit;
    }
    if (changed || this.lastRecordedApplied !== revision.commit) {
      this.lastRecordedApplied = revision.commit;
      this.opts.logger.info({ revision: revision.commit.slice(0, 7), ...summary }, changed ? 'applied revision' : 'revision in force, nothing to change');
      const record: SyncRecord = { revision, outcome: 'applied', summary, at: new Date().toISOString() };
      this.opts.recorder?.recordSync(record);
      this.emit({ type: 'applied', revision, summary });
    }
    await this.writeStatus({
      revision,
      applied: true,
      reason: SyncReasons.Applied,
      message: `revision ${revision.commit.slice(0, 7)} applied: ${summary.created} created, ${summary.updated} updated, ${summary.pruned} pruned, ${summary.unchanged} unchanged`,
      ready: true,
      summary: { ...summary, objects },
    });
  }

  /** Tells the listener; a listener's failure never fails a pass. */
  private emit(e: SyncEvent): void {
    try {
      this.opts.onEvent?.(e);
    } catch (err) {
      this.opts.logger.warn({ err: errorMessage(err) }, 'sync event listener failed');
    }
  }

  /**
   * Writes the Sync object (status-writer.ts). Never throws: the status is a report, and a store
   * that cannot take it must not turn a pass into a rejection nobody handles (passes run from
   * timers and webhooks).
   */
  private async writeStatus(s: StatusUpdate): Promise<void> {
    const described: DescribedSpec = {
      ...this.opts.describe,
      intervalSeconds: Math.round((this.opts.intervalMs ?? 30_000) / 1000),
      ...(this.opts.syncWindows?.length ? { syncWindows: this.opts.syncWindows.map(formatSyncWindow) } : {}),
    };
    try {
      await writeSyncStatus(this.opts.store, described, s);
    } catch (err) {
      this.opts.logger.warn({ err: errorMessage(err) }, 'cannot write sync status');
    }
  }
}

/** The origin of the sync loop's writes for a revision: actor, desired revision, its author and committer. */
export function syncOrigin(revision: Revision): WriteOrigin {
  const person = (p: { name: string; email: string } | undefined): string | undefined => (p ? `${p.name} <${p.email}>` : undefined);
  const origin: WriteOrigin = { actor: 'sync', desiredRevision: revision.commit };
  const author = person(revision.author);
  const committer = person(revision.committer);
  if (author) origin.desiredAuthor = author;
  if (committer) origin.desiredCommitter = committer;
  return origin;
}

/** "deploy/web.yaml line 12: Deployment default/web: spec.replicas must be an integer" */
export function formatIssue(i: ManifestIssue): string {
  const file = i.kustomization ? `${i.kustomization} → ${i.file}` : i.file;
  const where = i.line ? `${file} line ${i.line}` : file;
  return [where, i.object, i.message].filter(Boolean).join(': ');
}
