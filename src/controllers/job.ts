/**
 * The Job controller: runs pods from a Job's template until enough of them succeed, as
 * Kubernetes' job controller does. One reconcile runs these ordered steps and writes status once
 * at the end:
 *
 * 1. identity: a generated selector and pod labels from the Job's uid (what Kubernetes' API
 *    server adds on create), unless `manualSelector`;
 * 2. finished Jobs: only ttlSecondsAfterFinished (delete the Job; GC removes its pods);
 * 3. claim pods; count succeeded and failed (restarts count as failures for OnFailure), each
 *    failed pod judged by the `podFailurePolicy` first (job-policy.ts: FailJob, FailIndex,
 *    Ignore — not counted —, Count); with `backoffLimitPerIndex`, an index that failed more
 *    often than that (or by a FailIndex rule) fails for good and gets no more pods;
 * 4. failure (a FailJob rule, backoffLimit, activeDeadlineSeconds, more failed indexes than
 *    `maxFailedIndexes`, or every index done with some failed) → delete active pods, conditions
 *    FailureTarget and Failed; success (completions, or work-queue semantics, or every index for
 *    Indexed, or a `successPolicy` rule) → conditions SuccessCriteriaMet and Complete, delete
 *    leftover active pods;
 * 5. suspend → delete active pods, condition Suspended;
 * 6. otherwise keep min(parallelism, remaining) pods active, waiting out the pod failure
 *    backoff (10 s doubling, capped at 6 min) before replacing failed pods;
 * 7. status (active, ready, succeeded, failed, startTime, completionTime, completedIndexes,
 *    failedIndexes, conditions), and a requeue at the next deadline.
 *
 * Counting: succeeded and failed come from the Job's pods (Kubernetes keeps them until the Job
 * is deleted) and never decrease below what status already shows, so a pod removed behind the
 * Job's back does not undo its count.
 */
import { errorMessage, GantryError, isGantryError } from '../errors.js';
import { objectKey, objectRef, parseKey } from '../model/keys.js';
import { matchesSelector, selectorRequirements } from '../model/selectors.js';
import type { Condition, Job, JobSpec, LabelSelector, Pod } from '../model/types.js';
import type { CacheEvent } from './cache.js';
import { Expectations } from './expectations.js';
import { copy, updateIfChanged } from './objects.js';
import { claim, controllerReferenceTo } from './ownership.js';
import { deletePod, isPodActive, isPodReady } from './pods.js';
import { podsToDelete } from './replicaset.js';
import { controllerOwnerKeys, controllerRef, type Controller, type ReconcileContext, type Result, type Watch } from './runtime.js';
import { k8sTime } from '../model/time.js';
import { admissionWatches, createAdmittedPod } from './admission.js';
import { formatIndexes } from '../model/indexes.js';
import { judgeFailedPod, successRuleMet } from './job-policy.js';
import { randomSuffix } from '../model/generate-name.js';

export { formatIndexes } from '../model/indexes.js';

/** Label (and legacy label) with the Job's uid on its pods; the generated selector matches it. */
export const JOB_CONTROLLER_UID_LABEL = 'batch.kubernetes.io/controller-uid';
/** Label with the Job's name on its pods. */
export const JOB_NAME_LABEL = 'batch.kubernetes.io/job-name';
/** Pre-1.27 spellings Kubernetes still sets. */
export const LEGACY_CONTROLLER_UID_LABEL = 'controller-uid';
export const LEGACY_JOB_NAME_LABEL = 'job-name';
/** Annotation and label with an Indexed Job pod's completion index. */
export const JOB_COMPLETION_INDEX = 'batch.kubernetes.io/job-completion-index';
/** Environment variable with the completion index in each container of an Indexed Job pod. */
export const JOB_COMPLETION_INDEX_ENV = 'JOB_COMPLETION_INDEX';

/** Kubernetes' defaults for the Job fields this controller reads. */
export const JOB_DEFAULTS = { completions: 1, parallelism: 1, backoffLimit: 6 } as const;
/** First delay before a failed pod is replaced; doubles per consecutive failure. */
export const POD_FAILURE_BACKOFF_MS = 10_000;
/** Cap of the pod failure backoff (Kubernetes documents six minutes). */
export const MAX_POD_FAILURE_BACKOFF_MS = 6 * 60_000;

/** Condition types a Job reports. */
export const JobConditionTypes = ['SuccessCriteriaMet', 'Complete', 'FailureTarget', 'Failed', 'Suspended'] as const;
/** One of {@link JobConditionTypes}. */
export type JobConditionType = (typeof JobConditionTypes)[number];
/** Reasons of Job conditions. */
export const JobReasons = [
  'CompletionsReached', 'SuccessPolicy', 'BackoffLimitExceeded', 'DeadlineExceeded', 'PodFailurePolicy', 'FailedIndexes', 'MaxFailedIndexesExceeded', 'JobSuspended', 'JobResumed',
] as const;
/** One of {@link JobReasons}. */
export type JobReason = (typeof JobReasons)[number];

/** Job status as this controller writes it (Kubernetes' fields beyond gantry's base type included). */
export type JobStatus = NonNullable<Job['status']> & { ready?: number; completedIndexes?: string };

const messages: Record<JobReason, string> = {
  CompletionsReached: 'Reached expected number of succeeded pods',
  SuccessPolicy: 'Matched rules of the success policy',
  PodFailurePolicy: 'A pod failure matched a FailJob rule of the pod failure policy',
  FailedIndexes: 'Job has failed indexes',
  MaxFailedIndexesExceeded: 'Job has exceeded the specified maximal number of failed indexes',
  BackoffLimitExceeded: 'Job has reached the specified backoff limit',
  DeadlineExceeded: 'Job was active longer than specified deadline',
  JobSuspended: 'Job suspended',
  JobResumed: 'Job resumed',
};

/** Options for {@link JobController}. */
export interface JobControllerOptions {
  expectationsTtlMs?: number;
}

/** Runs Jobs to completion. */
export class JobController implements Controller {
  readonly name = 'job';
  readonly kinds = ['Job'] as const;
  readonly watches: readonly Watch[] = [{ kind: 'Pod', keys: controllerOwnerKeys('Job') }, ...admissionWatches('Job')];
  readonly expectations: Expectations;

  constructor(opts: JobControllerOptions = {}) {
    this.expectations = new Expectations({ ttlMs: opts.expectationsTtlMs });
  }

  observe(ev: CacheEvent): void {
    this.expectations.observePod(ev, 'Job');
  }

  async reconcile(key: string, ctx: ReconcileContext): Promise<Result | void> {
    let job = ctx.cache.get<Job>(parseKey(key));
    if (!job) {
      this.expectations.delete(key);
      return;
    }
    if (job.metadata.deletionTimestamp) return;
    job = await ensureIdentity(job, ctx);
    const selector = jobSelector(job);
    const now = ctx.now();
    const status: JobStatus = copy(job.status ?? {});
    status.conditions = status.conditions ?? [];

    if (isFinished(job)) return finishedJob(job, ctx, now);

    const candidates = ctx.cache.list<Pod>('Pod', { namespace: job.metadata.namespace });
    const pods = await claim(job, candidates, { selector, store: ctx.store, origin: ctx.origin });
    const active = pods.filter(isPodActive);
    const counts = countPods(job, pods);
    status.succeeded = Math.max(counts.succeeded, job.status?.succeeded ?? 0);
    status.failed = Math.max(counts.failed, job.status?.failed ?? 0);
    if (job.spec.completionMode === 'Indexed') status.completedIndexes = formatIndexes(counts.succeededIndexes);
    if (job.spec.backoffLimitPerIndex !== undefined) status.failedIndexes = formatIndexes(counts.failedIndexes);

    const spec = withDefaults(job.spec);
    let requeue: number | undefined;
    const canAct = this.expectations.satisfied(key);

    if (spec.suspend) {
      if (canAct) await this.deleteAll(key, active, ctx, `Job ${job.metadata.name} is suspended`);
      setCondition(status, 'Suspended', 'True', 'JobSuspended', now);
    } else {
      if (findCondition(status, 'Suspended')?.status === 'True') {
        setCondition(status, 'Suspended', 'False', 'JobResumed', now);
        // Kubernetes restarts the activeDeadlineSeconds clock on resume.
        status.startTime = k8sTime(now);
      }
      status.startTime = status.startTime ?? k8sTime(now);
      const failure = failureReason(spec, status, { pods, counts, now });
      const complete = failure ? undefined : completion(spec, counts, active.length);
      if (failure) {
        if (canAct) await this.deleteAll(key, active, ctx, `Job ${job.metadata.name} failed: ${failure.reason}`);
        setCondition(status, 'FailureTarget', 'True', failure.reason, now, failure.message);
        setCondition(status, 'Failed', 'True', failure.reason, now, failure.message);
      } else if (complete) {
        if (canAct) await this.deleteAll(key, active, ctx, `Job ${job.metadata.name} is complete`);
        setCondition(status, 'SuccessCriteriaMet', 'True', complete.reason, now, complete.message);
        setCondition(status, 'Complete', 'True', complete.reason, now, complete.message);
        status.completionTime = k8sTime(now);
      } else if (canAct) {
        requeue = await this.manageActive(key, job, spec, pods, active, counts, ctx, now);
      }
      if (!failure && !complete && spec.activeDeadlineSeconds !== undefined) {
        const left = Date.parse(status.startTime) + spec.activeDeadlineSeconds * 1000 - now;
        requeue = minDefined(requeue, Math.max(0, left) + 1);
      }
    }

    const stillActive = ctx.cache.list<Pod>('Pod', { namespace: job.metadata.namespace })
      .filter((p) => controllerRef(p)?.uid === job!.metadata.uid && isPodActive(p));
    status.active = stillActive.length;
    status.ready = stillActive.filter(isPodReady).length;
    if (status.conditions.length === 0) delete status.conditions;
    await updateIfChanged(ctx.store, job, { ...copy(job), status }, { origin: { ...ctx.origin, reason: `status of Job ${job.metadata.name}` } });
    if (isFinishedStatus(status) && job.spec.ttlSecondsAfterFinished !== undefined) {
      requeue = minDefined(requeue, job.spec.ttlSecondsAfterFinished * 1000 + 1);
    }
    return requeue !== undefined ? { requeueAfter: requeue } : undefined;
  }

  private async manageActive(
    key: string, job: Job, spec: ResolvedSpec, pods: Pod[], active: Pod[], counts: Counts, ctx: ReconcileContext, now: number,
  ): Promise<number | undefined> {
    const want = wantActive(spec, counts, active);
    if (active.length > want.count) {
      await this.deleteSome(key, podsToDelete(active, active.length - want.count), ctx, `Job ${job.metadata.name} needs ${want.count} active pods`);
      return undefined;
    }
    const missing = want.count - active.length;
    if (missing <= 0) return undefined;
    const counted = pods.filter((p) => !counts.ignored.has(p));
    let indexes: (number | undefined)[];
    let wait = 0;
    if (spec.completionMode === 'Indexed' && spec.backoffLimitPerIndex !== undefined) {
      // Each index backs off on its own failures: one failing index never holds up the others.
      const ready = want.indexes.filter((i) => {
        const left = failureBackoffRemaining(counted.filter((p) => completionIndex(p) === i), now);
        if (left > 0) wait = wait === 0 ? left : Math.min(wait, left);
        return left === 0;
      });
      indexes = ready.slice(0, missing);
      if (indexes.length === 0) return wait > 0 ? wait + 1 : undefined;
    } else {
      wait = failureBackoffRemaining(counted, now);
      if (wait > 0) return wait + 1;
      indexes = spec.completionMode === 'Indexed' ? want.indexes.slice(0, missing) : Array.from({ length: missing }, () => undefined);
    }
    this.expectations.expectCreations(key, indexes.length);
    const results = await Promise.allSettled(indexes.map((i) => createJobPod(job, i, ctx)));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length > 0) {
      this.expectations.creationObserved(key, failed.length);
      ctx.events.emit(job, 'Warning', 'FailedCreate', `Error creating: ${errorMessage(failed[0]!.reason)}`);
      throw failed[0]!.reason;
    }
    return undefined;
  }

  private async deleteAll(key: string, pods: Pod[], ctx: ReconcileContext, why: string): Promise<void> {
    if (pods.length > 0) await this.deleteSome(key, pods, ctx, why);
  }

  private async deleteSome(key: string, pods: Pod[], ctx: ReconcileContext, why: string): Promise<void> {
    this.expectations.expectDeletions(key, pods.map((p) => objectKey(p)));
    for (const pod of pods) {
      try {
        const outcome = await deletePod(ctx.store, pod, { origin: { ...ctx.origin, reason: why }, now: ctx.now });
        if (outcome === 'gone') this.expectations.deletionObserved(key, objectKey(pod));
      } catch (err) {
        this.expectations.deletionObserved(key, objectKey(pod));
        throw err;
      }
    }
  }
}

/** Spec fields with Kubernetes' defaults (completions stays undefined for work-queue Jobs). */
interface ResolvedSpec {
  completions: number | undefined;
  parallelism: number;
  backoffLimit: number;
  backoffLimitPerIndex?: number;
  maxFailedIndexes?: number;
  successPolicy?: JobSpec['successPolicy'];
  activeDeadlineSeconds?: number;
  completionMode: 'NonIndexed' | 'Indexed';
  suspend: boolean;
  restartPolicy: string;
}

function withDefaults(spec: JobSpec): ResolvedSpec {
  const bothAbsent = spec.completions == null && spec.parallelism == null;
  return {
    completions: spec.completions ?? (bothAbsent ? JOB_DEFAULTS.completions : undefined),
    parallelism: spec.parallelism ?? JOB_DEFAULTS.parallelism,
    backoffLimit: spec.backoffLimit ?? (spec.backoffLimitPerIndex !== undefined ? 2147483647 : JOB_DEFAULTS.backoffLimit),
    backoffLimitPerIndex: spec.backoffLimitPerIndex,
    maxFailedIndexes: spec.maxFailedIndexes,
    successPolicy: spec.successPolicy,
    activeDeadlineSeconds: spec.activeDeadlineSeconds,
    completionMode: spec.completionMode ?? 'NonIndexed',
    suspend: spec.suspend ?? false,
    restartPolicy: spec.template.spec.restartPolicy ?? 'Never',
  };
}

/** The selector of a Job: its own when manual, else the generated one on its uid. */
export function jobSelector(job: Job): LabelSelector {
  if (job.spec.manualSelector || job.spec.selector) {
    if (!job.spec.selector || selectorRequirements(job.spec.selector).length === 0) {
      throw invalid(job, 'spec.selector', 'manualSelector is set but spec.selector is empty');
    }
    return job.spec.selector;
  }
  return { matchLabels: { [JOB_CONTROLLER_UID_LABEL]: job.metadata.uid ?? '' } };
}

/**
 * Adds the generated selector and the identifying template labels, as Kubernetes' API server
 * does when a Job is created (gantry's diff ignores them, see src/diff/normalize.ts).
 */
async function ensureIdentity(job: Job, ctx: ReconcileContext): Promise<Job> {
  const uid = job.metadata.uid ?? '';
  const next = copy(job);
  const labels = { ...(next.spec.template.metadata?.labels ?? {}) };
  labels[JOB_CONTROLLER_UID_LABEL] = uid;
  labels[LEGACY_CONTROLLER_UID_LABEL] = uid;
  labels[JOB_NAME_LABEL] = job.metadata.name;
  labels[LEGACY_JOB_NAME_LABEL] = job.metadata.name;
  if (job.spec.manualSelector) {
    if (!matchesSelector(jobSelector(job), job.spec.template.metadata?.labels)) {
      throw invalid(job, 'spec.selector', 'spec.selector does not match spec.template.metadata.labels');
    }
    return job;
  }
  next.spec.template.metadata = { ...(next.spec.template.metadata ?? {}), labels };
  if (!next.spec.selector) next.spec.selector = { matchLabels: { [JOB_CONTROLLER_UID_LABEL]: uid } };
  else if (!matchesSelector(next.spec.selector, labels)) {
    throw invalid(job, 'spec.selector', 'spec.selector is set without manualSelector and does not match the generated pod labels');
  }
  return updateIfChanged(ctx.store, job, next, { origin: { ...ctx.origin, reason: `generated selector for Job ${job.metadata.name}` } });
}

interface Counts {
  succeeded: number;
  /** Failed pods that count (a podFailurePolicy Ignore rule keeps a failure out). */
  failed: number;
  /** Indexes with a succeeded pod (Indexed only). */
  succeededIndexes: Set<number>;
  /** Indexes that failed for good (Indexed with backoffLimitPerIndex). */
  failedIndexes: Set<number>;
  /** Failed pods a podFailurePolicy Ignore rule matched. */
  ignored: Set<Pod>;
  /** The first failed pod a FailJob rule matched, in Kubernetes' words. */
  failJob?: string;
}

/**
 * Succeeded and failed pods, each failed one judged by the podFailurePolicy first; restarts of
 * active pods count as failures for OnFailure (see {@link failureReason}).
 */
function countPods(job: Job, pods: readonly Pod[]): Counts {
  const indexed = job.spec.completionMode === 'Indexed';
  const completions = job.spec.completions ?? 0;
  const perIndex = job.spec.backoffLimitPerIndex;
  const succeededIndexes = new Set<number>();
  const failedIndexes = new Set<number>();
  const failuresByIndex = new Map<number, number>();
  const ignored = new Set<Pod>();
  let failJob: string | undefined;
  let succeeded = 0;
  let failed = 0;
  for (const p of pods) {
    const phase = p.status?.phase;
    const i = indexed ? completionIndex(p) : undefined;
    if (phase === 'Succeeded') {
      if (indexed) {
        if (i !== undefined && i < completions) succeededIndexes.add(i);
      } else succeeded++;
      continue;
    }
    if (phase !== 'Failed') continue;
    const verdict = judgeFailedPod(job.spec, p);
    if (verdict?.action === 'Ignore') {
      ignored.add(p);
      continue;
    }
    failed++;
    if (verdict?.action === 'FailJob') failJob ??= verdict.message;
    if (perIndex === undefined || i === undefined || i >= completions) continue;
    if (verdict?.action === 'FailIndex') failedIndexes.add(i);
    const n = (failuresByIndex.get(i) ?? 0) + 1;
    failuresByIndex.set(i, n);
    if (n > perIndex) failedIndexes.add(i);
  }
  for (const i of succeededIndexes) failedIndexes.delete(i);
  return { succeeded: indexed ? succeededIndexes.size : succeeded, failed, succeededIndexes, failedIndexes, ignored, ...(failJob ? { failJob } : {}) };
}

/** Restart counts of a pod's containers (init and app). */
function restartCount(p: Pod): number {
  let n = 0;
  for (const c of [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]) n += c.restartCount ?? 0;
  return n;
}

/** Why the Job failed now (with a message when Kubernetes has a particular one), or undefined. */
function failureReason(spec: ResolvedSpec, status: JobStatus, facts: { pods: readonly Pod[]; counts: Counts; now: number }): { reason: JobReason; message?: string } | undefined {
  const { pods, counts, now } = facts;
  if (counts.failJob) return { reason: 'PodFailurePolicy', message: counts.failJob };
  if (spec.maxFailedIndexes !== undefined && counts.failedIndexes.size > spec.maxFailedIndexes) return { reason: 'MaxFailedIndexesExceeded' };
  const failed = status.failed ?? 0;
  if (failed > spec.backoffLimit) return { reason: 'BackoffLimitExceeded' };
  if (spec.backoffLimitPerIndex !== undefined && spec.completions !== undefined && counts.failedIndexes.size > 0
    && counts.failedIndexes.size + counts.succeededIndexes.size >= spec.completions) {
    return { reason: 'FailedIndexes' };
  }
  const simple = timeOrRestartFailure(spec, status, pods, now);
  return simple ? { reason: simple } : undefined;
}

/** A failure by OnFailure restarts or by the active deadline. */
function timeOrRestartFailure(spec: ResolvedSpec, status: JobStatus, pods: readonly Pod[], now: number): JobReason | undefined {
  if (spec.restartPolicy === 'OnFailure') {
    // Kubernetes' pastBackoffLimitOnFailure: container restarts of running and pending pods.
    let restarts = 0;
    for (const p of pods) if (p.status?.phase === 'Running' || p.status?.phase === 'Pending' || !p.status?.phase) restarts += restartCount(p);
    if (spec.backoffLimit === 0 ? restarts > 0 : restarts >= spec.backoffLimit) return 'BackoffLimitExceeded';
  }
  if (spec.activeDeadlineSeconds !== undefined && status.startTime) {
    if (now - Date.parse(status.startTime) >= spec.activeDeadlineSeconds * 1000) return 'DeadlineExceeded';
  }
  return undefined;
}

/** Why the Job succeeded now (a success policy rule, or its completions), or undefined. */
function completion(spec: ResolvedSpec, counts: Counts, active: number): { reason: JobReason; message?: string } | undefined {
  if (spec.completionMode === 'Indexed' && spec.successPolicy) {
    const rule = successRuleMet(spec, counts.succeededIndexes);
    if (rule !== undefined) return { reason: 'SuccessPolicy', message: `Matched rules at index ${rule}` };
  }
  if (spec.completions === undefined) return counts.succeeded > 0 && active === 0 ? { reason: 'CompletionsReached' } : undefined;
  return counts.succeeded >= spec.completions ? { reason: 'CompletionsReached' } : undefined;
}

/** How many pods should be active, and for Indexed Jobs which indexes still need one. */
function wantActive(spec: ResolvedSpec, counts: Counts, active: readonly Pod[]): { count: number; indexes: number[] } {
  if (spec.completions === undefined) {
    // Work queue: once any pod succeeded, no new pods start; the rest finish on their own.
    return { count: counts.succeeded > 0 ? Math.min(active.length, spec.parallelism) : spec.parallelism, indexes: [] };
  }
  const remaining = Math.max(0, spec.completions - counts.succeeded);
  if (spec.completionMode !== 'Indexed') return { count: Math.min(spec.parallelism, remaining), indexes: [] };
  const running = new Set<number>();
  for (const p of active) {
    const i = completionIndex(p);
    if (i !== undefined) running.add(i);
  }
  const pending: number[] = [];
  for (let i = 0; i < spec.completions; i++) if (!counts.succeededIndexes.has(i) && !counts.failedIndexes.has(i) && !running.has(i)) pending.push(i);
  const count = Math.min(spec.parallelism, active.length + pending.length);
  return { count, indexes: pending };
}

/** When a pod finished (its containers' latest finishedAt, else its last condition change). */
function finishedAt(p: Pod): number | undefined {
  let t: number | undefined;
  for (const c of p.status?.containerStatuses ?? []) {
    const f = c.state.terminated?.finishedAt;
    if (f) t = Math.max(t ?? 0, Date.parse(f));
  }
  if (t === undefined) {
    for (const c of p.status?.conditions ?? []) if (c.lastTransitionTime) t = Math.max(t ?? 0, Date.parse(c.lastTransitionTime));
  }
  return t;
}

/**
 * Milliseconds left of the pod failure backoff: 10 s × 2^(n-1), capped at 6 min, after the last
 * of n consecutive failures (failures since the last success), as Kubernetes' backoff record.
 */
export function failureBackoffRemaining(pods: readonly Pod[], now: number): number {
  const finished = pods
    .filter((p) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed')
    .map((p) => ({ p, at: finishedAt(p) ?? 0 }))
    .sort((a, b) => a.at - b.at);
  let n = 0;
  let last = 0;
  for (const { p, at } of finished) {
    if (p.status?.phase === 'Succeeded') n = 0;
    else {
      n++;
      last = at;
    }
  }
  if (n === 0 || last === 0) return 0;
  const delay = Math.min(POD_FAILURE_BACKOFF_MS * 2 ** (n - 1), MAX_POD_FAILURE_BACKOFF_MS);
  return Math.max(0, last + delay - now);
}

function completionIndex(p: Pod): number | undefined {
  const v = p.metadata.annotations?.[JOB_COMPLETION_INDEX] ?? p.metadata.labels?.[JOB_COMPLETION_INDEX];
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

async function createJobPod(job: Job, index: number | undefined, ctx: ReconcileContext): Promise<Pod> {
  const tpl = job.spec.template;
  for (let attempt = 0; ; attempt++) {
    const spec = copy(tpl.spec);
    const labels = { ...(tpl.metadata?.labels ?? {}) };
    const annotations = { ...(tpl.metadata?.annotations ?? {}) };
    let name = `${job.metadata.name}-${randomSuffix()}`;
    if (index !== undefined) {
      name = `${job.metadata.name}-${index}-${randomSuffix()}`;
      labels[JOB_COMPLETION_INDEX] = String(index);
      annotations[JOB_COMPLETION_INDEX] = String(index);
      spec.hostname = spec.hostname ?? `${job.metadata.name}-${index}`;
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
        c.env = [...(c.env ?? []).filter((e) => e.name !== JOB_COMPLETION_INDEX_ENV), { name: JOB_COMPLETION_INDEX_ENV, value: String(index) }];
      }
    }
    const pod: Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: job.metadata.namespace,
        labels,
        ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
        ownerReferences: [controllerReferenceTo(job)],
      },
      spec,
    };
    try {
      return await createAdmittedPod(pod, ctx, { nameForMessage: `${job.metadata.name}-`, reason: `create pod for Job ${job.metadata.name}${index !== undefined ? ` index ${index}` : ''}` });
    } catch (err) {
      if (!isGantryError(err, 'AlreadyExists') || attempt >= 3) throw err;
    }
  }
}

/** A finished Job: delete it once ttlSecondsAfterFinished has passed. */
async function finishedJob(job: Job, ctx: ReconcileContext, now: number): Promise<Result | void> {
  // A finished Job keeps no running pods (a failed delete in the finishing reconcile lands here).
  const leftovers = ctx.cache.list<Pod>('Pod', { namespace: job.metadata.namespace })
    .filter((p) => controllerRef(p)?.uid === job.metadata.uid && isPodActive(p));
  for (const pod of leftovers) await deletePod(ctx.store, pod, { origin: { ...ctx.origin, reason: `Job ${job.metadata.name} is finished` }, now: ctx.now });
  const ttl = job.spec.ttlSecondsAfterFinished;
  if (ttl === undefined) return;
  const finished = finishTime(job);
  if (finished === undefined) return;
  const left = finished + ttl * 1000 - now;
  if (left > 0) return { requeueAfter: left + 1 };
  try {
    await ctx.store.delete(objectRef(job), {
      origin: { ...ctx.origin, reason: `ttlSecondsAfterFinished (${ttl}s) of Job ${job.metadata.name} expired` },
      resourceVersion: job.metadata.resourceVersion,
    });
  } catch (err) {
    if (!isGantryError(err, 'NotFound')) throw err;
  }
}

/** When the Job finished: completionTime, else the transition time of its Complete/Failed condition. */
export function finishTime(job: Job): number | undefined {
  if (job.status?.completionTime) return Date.parse(job.status.completionTime);
  const c = job.status?.conditions?.find((x) => (x.type === 'Complete' || x.type === 'Failed') && x.status === 'True');
  return c?.lastTransitionTime ? Date.parse(c.lastTransitionTime) : undefined;
}

/** True when the Job has a Complete or Failed condition that is True. */
export function isFinished(job: Job): boolean {
  return isFinishedStatus(job.status);
}

/** The finished condition type of a Job, if any. */
export function finishedType(job: Job): 'Complete' | 'Failed' | undefined {
  const c = job.status?.conditions?.find((x) => (x.type === 'Complete' || x.type === 'Failed') && x.status === 'True');
  return c?.type as 'Complete' | 'Failed' | undefined;
}

function isFinishedStatus(status: Job['status'] | undefined): boolean {
  return !!status?.conditions?.some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
}

function findCondition(status: JobStatus, type: JobConditionType): Condition | undefined {
  return status.conditions?.find((c) => c.type === type);
}

/** Sets a condition; the transition time changes only when the status does. */
function setCondition(status: JobStatus, type: JobConditionType, s: Condition['status'], reason: JobReason, now: number, message?: string): void {
  const conds = status.conditions ?? [];
  const cur = conds.find((c) => c.type === type);
  if (cur && cur.status === s && cur.reason === reason) return;
  const t = k8sTime(now);
  const next: Condition = { type, status: s, reason, message: message ?? messages[reason], lastProbeTime: t, lastTransitionTime: cur && cur.status === s ? cur.lastTransitionTime : t };
  status.conditions = [...conds.filter((c) => c.type !== type), next];
}


function minDefined(a: number | undefined, b: number): number {
  return a === undefined ? b : Math.min(a, b);
}

function invalid(job: Job, field: string, message: string): GantryError {
  return new GantryError('InvalidManifest', `cannot run Job ${job.metadata.namespace}/${job.metadata.name}: ${message}`, { object: objectKey(job), field });
}
