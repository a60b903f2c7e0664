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
import type { Store } from '../store/types.js';
import { applyPlan } from './apply.js';
import { loadManifests, ManifestCache } from './loader.js';
import { newSyncObject, setCondition, SYNC_NAME, SyncReasons, type SyncObject, type SyncReason, type SyncStatus } from './status.js';
import type { ManifestIssue, Revision, Source } from './types.js';
import { validateObject } from './validate.js';
import type { Metrics } from '../api/metrics.js';
import type { Decryption } from './sops/decryptor.js';
import type { Verdict } from './signatures/verifier.js';

/** Checks the signature of a commit (see signatures/verifier.ts). */
export interface CommitCheck {
  verify(id: string, raw: Uint8Array): Promise<Verdict>;
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
  /** Decrypts the SOPS-encrypted files of a revision before its manifests load. */
  decryptor?: Decryption;
  /**
   * With it (`--verify-commits`), a revision whose commit is unsigned, badly signed or signed by
   * a key that is not trusted is rejected whole, before any of its files is read.
   */
  verifier?: CommitCheck;
}

/** Read access to a watch-fed cache of live objects. */
export interface LiveView {
  list(kind: string): readonly KubeObject[];
  /** Resolves once the view reflects store revision `rev`. */
  waitForRevision(rev: number, signal?: AbortSignal): Promise<void>;
}

/** The result of one pass. */
export interface SyncOutcome {
  outcome: 'applied' | 'unchanged' | 'rejected' | 'failed';
  revision?: Revision;
  plan?: Plan;
  issues?: ManifestIssue[];
  error?: string;
}

/** Number of times a pass re-plans after a store conflict before giving up until next time. */
const CONFLICT_RETRIES = 3;

/** Runs sync passes on a timer and on demand, one at a time. */
export class SyncLoop {
  private readonly opts: SyncLoopOptions;
  private readonly cache = new ManifestCache();
  private running: Promise<SyncOutcome> | undefined;
  private pending: { reason: string; promise: Promise<SyncOutcome> } | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Revision last reported as rejected, so a bad commit is recorded once, not every poll. */
  private lastRejected: string | undefined;
  private lastRecordedApplied: string | undefined;
  private last: SyncOutcome | undefined;
  /** Revision whose good signature was last logged, so it is logged once. */
  private lastVerified: string | undefined;

  constructor(opts: SyncLoopOptions) {
    this.opts = opts;
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
    signal.addEventListener('abort', () => clearTimeout(this.timer), { once: true });
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
   * busy collapse into that one), so a push seen mid-pass is never missed.
   */
  trigger(reason: string): Promise<SyncOutcome> {
    if (this.pending) return this.pending.promise;
    if (!this.running) {
      this.running = this.runPass(reason);
      return this.running;
    }
    const after = this.running.catch(() => undefined).then(() => {
      this.pending = undefined;
      this.running = this.runPass(reason);
      return this.running;
    });
    this.pending = { reason, promise: after };
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

  private async runPass(reason: string): Promise<SyncOutcome> {
    const started = process.hrtime.bigint();
    try {
      const outcome = await this.syncOnce(reason);
      this.last = outcome;
      this.opts.metrics?.syncs.inc({ outcome: outcome.outcome });
      this.opts.metrics?.syncDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
      return outcome;
    } finally {
      this.running = undefined;
    }
  }

  /** One pass: resolve, load, validate, plan, apply, report. Never throws. */
  async syncOnce(reason = 'manual'): Promise<SyncOutcome> {
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
    try {
      if (this.opts.verifier) {
        const verdict = await this.verifyRevision(revision);
        if (!verdict.ok) return await this.rejectUnverified(revision, verdict.reason);
      }
      const files = await source.files(revision.commit);
      await this.opts.decryptor?.prepare(files);
      const loaded = loadManifests(files, { validate: validateObject, cache: this.cache, encrypted: this.opts.decryptor });
      if (loaded.issues.length > 0) return await this.reject(revision, loaded.issues);
      this.opts.metrics?.objects.set(loaded.objects.length);

      for (let attempt = 0; ; attempt++) {
        const live = await this.listLive();
        const plan = makePlan({ revision, objects: loaded.objects }, live, {
          revision: revision.commit,
          prune: this.opts.prune ?? true,
        });
        try {
          await applyPlan(this.opts.store, plan, {
            origin: { actor: 'sync', desiredRevision: revision.commit, reason: `sync ${short} (${reason})` },
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
      await this.writeStatus({ revision, reason: SyncReasons.ApplyFailed, message, ready: false });
      this.opts.recorder?.recordSync({ revision, outcome: 'failed', error: message, at: new Date().toISOString() });
      return { outcome: 'failed', revision, error: message };
    }
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
    const verdict = await verifier!.verify(revision.commit, await source.commitObject(revision.commit));
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
    if (changed || this.lastRecordedApplied !== revision.commit) {
      this.lastRecordedApplied = revision.commit;
      this.opts.logger.info({ revision: revision.commit.slice(0, 7), ...summary }, changed ? 'applied revision' : 'revision in force, nothing to change');
      const record: SyncRecord = { revision, outcome: 'applied', summary, at: new Date().toISOString() };
      this.opts.recorder?.recordSync(record);
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

  /**
   * Writes the Sync object, only when something a reader would see changed. Never throws: the
   * status is a report, and a store that cannot take it must not turn a pass into a rejection
   * nobody handles (passes run from timers and webhooks).
   */
  private async writeStatus(s: StatusUpdate): Promise<void> {
    try {
      await this.tryWriteStatus(s);
    } catch (err) {
      this.opts.logger.warn({ err: errorMessage(err) }, 'cannot write sync status');
    }
  }

  private async tryWriteStatus(s: StatusUpdate): Promise<void> {
    const { store } = this.opts;
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const spec = { ...this.opts.describe, intervalSeconds: Math.round((this.opts.intervalMs ?? 30_000) / 1000) };
    const origin = { actor: 'sync', desiredRevision: s.revision?.commit };
    for (let attempt = 0; attempt < 3; attempt++) {
      const current = await store.get<SyncObject>({ kind: 'Sync', name: SYNC_NAME });
      const prev: SyncStatus = current?.status ?? {};
      const appliedNew = s.applied && s.revision &&
        (prev.lastAppliedRevision !== s.revision.commit || (s.summary && s.summary.created + s.summary.updated + s.summary.pruned > 0));
      const next: SyncStatus = {
        lastAppliedRevision: s.applied ? s.revision?.commit : prev.lastAppliedRevision,
        lastAttemptedRevision: s.revision?.commit ?? prev.lastAttemptedRevision,
        lastAppliedTime: appliedNew ? now : prev.lastAppliedTime,
        lastAttemptTime: now,
        conditions: setCondition(prev.conditions, {
          type: 'Ready', status: s.ready ? 'True' : 'False', reason: s.reason, message: s.message,
        }, now),
        issues: s.issues && s.issues.length > 0 ? s.issues : undefined,
        // The counts describe the last pass that changed something, not every no-op pass.
        summary: appliedNew ? s.summary : prev.summary,
      };
      if (current && visibleStatus(prev) === visibleStatus(next) && JSON.stringify(current.spec) === JSON.stringify(spec)) return;
      const obj: SyncObject = current ? { ...structuredClone(current), spec, status: dropUndefined(next) } : { ...newSyncObject(spec), status: dropUndefined(next) };
      try {
        if (current) await store.update(obj, { origin });
        else await store.create(obj, { origin });
        return;
      } catch (err) {
        if (isGantryError(err, 'Conflict') || isGantryError(err, 'AlreadyExists')) continue;
        throw err;
      }
    }
  }
}

/** What a pass reports on the Sync object. */
interface StatusUpdate {
  revision?: Revision;
  applied?: boolean;
  reason: SyncReason;
  message: string;
  ready: boolean;
  issues?: ManifestIssue[];
  summary?: SyncStatus['summary'];
}

/** A status as a reader compares it: timestamps aside. */
function visibleStatus(st: SyncStatus): string {
  return JSON.stringify(dropUndefined({
    ...st,
    lastAppliedTime: undefined,
    lastAttemptTime: undefined,
    conditions: st.conditions?.map((c) => ({ ...c, lastTransitionTime: undefined })),
  }));
}

function dropUndefined<T extends object>(o: T): T {
  return JSON.parse(JSON.stringify(o)) as T;
}

/** "deploy/web.yaml line 12: Deployment default/web: spec.replicas must be an integer" */
export function formatIssue(i: ManifestIssue): string {
  const where = i.line ? `${i.file} line ${i.line}` : i.file;
  return [where, i.object, i.message].filter(Boolean).join(': ');
}
