/**
 * The CronJob controller: creates Jobs on a cron schedule, as Kubernetes' cronjob controller
 * does. One reconcile:
 *
 * 1. reads the Jobs this CronJob controls (by controller reference; CronJobs adopt nothing);
 * 2. status: `active` lists unfinished Jobs, `lastSuccessfulTime` the latest completion;
 * 3. history: deletes the oldest finished Jobs beyond successfulJobsHistoryLimit (3) and
 *    failedJobsHistoryLimit (1) (GC then removes their pods);
 * 4. unless suspended: finds the most recent unmet schedule time since `lastScheduleTime` (or
 *    creation), within `startingDeadlineSeconds` when set. More than 100 missed start times
 *    start nothing (Kubernetes' rule: "too many missed start times"; set or lower
 *    startingDeadlineSeconds). A start later than the deadline is skipped. `Forbid` skips while
 *    a Job is active (the Job finishing wakes the CronJob, which then starts the missed run if
 *    still within the deadline); `Replace` deletes the active Jobs first;
 * 5. creates Job `<cronjob>-<scheduled time in minutes since the epoch>` with annotation
 *    `batch.kubernetes.io/cronjob-scheduled-timestamp`, and records `lastScheduleTime`;
 * 6. writes status once and requeues at the next schedule time.
 *
 * Time zone: `spec.timeZone` (IANA) when set, else the zone of the gantry process (Kubernetes
 * uses the kube-controller-manager's zone). Schedules go through `expandSchedule` because
 * cron-parser knows neither `@midnight` nor `@annually`.
 */
import { GantryError, isGantryError } from '../errors.js';
import { applyDefaults } from '../model/defaults.js';
import { objectKey, objectRef, parseKey } from '../model/keys.js';
import type { CronJob, Job } from '../model/types.js';
import { expandSchedule, parser, validateSchedule, validateTimeZone } from '../model/cron.js';
import { finishedType, finishTime } from './job.js';
import { copy, updateIfChanged } from './objects.js';
import { controllerReferenceTo } from './ownership.js';
import { controllerOwnerKeys, controllerRef, type Controller, type ReconcileContext, type Result, type Watch } from './runtime.js';
import { k8sTime } from '../model/time.js';

/** Annotation on created Jobs with the schedule time they were created for (RFC 3339). */
export const SCHEDULED_TIMESTAMP_ANNOTATION = 'batch.kubernetes.io/cronjob-scheduled-timestamp';
/** More missed start times than this start nothing. */
export const MAX_MISSED_SCHEDULES = 100;
/** Kubernetes' defaults for the fields this controller reads. */
export const CRONJOB_DEFAULTS = { concurrencyPolicy: 'Allow', successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 1 } as const;


/** The zone schedules use when a CronJob sets none: the gantry process's local zone. */
export function localTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** Schedule times of a CronJob between two instants. */
export interface ScheduleWindow {
  /** The latest schedule time in (from, to], or undefined. */
  mostRecent?: number;
  /** How many schedule times fall in (from, to] (counting stops after {@link MAX_MISSED_SCHEDULES} + 1). */
  missed: number;
  /** The first schedule time after `to`. */
  next: number;
}

/** Schedule times of `schedule` in the zone, in (from, to], and the next one after `to`. */
export function scheduleWindow(schedule: string, timeZone: string, from: number, to: number): ScheduleWindow {
  const it = parser().parse(expandSchedule(schedule), { currentDate: new Date(from), tz: timeZone });
  let missed = 0;
  let mostRecent: number | undefined;
  for (;;) {
    const t = it.next().getTime();
    if (t > to) {
      const next = missed > MAX_MISSED_SCHEDULES ? parser().parse(expandSchedule(schedule), { currentDate: new Date(to), tz: timeZone }).next().getTime() : t;
      return { mostRecent, missed, next };
    }
    missed++;
    mostRecent = t;
    if (missed > MAX_MISSED_SCHEDULES) {
      // Only the count matters now; the latest time comes from walking back from `to`.
      mostRecent = parser().parse(expandSchedule(schedule), { currentDate: new Date(to + 1), tz: timeZone }).prev().getTime();
      const next = parser().parse(expandSchedule(schedule), { currentDate: new Date(to), tz: timeZone }).next().getTime();
      return { mostRecent, missed, next };
    }
  }
}

/** The name Kubernetes gives the Job of a schedule time: `<cronjob>-<minutes since the epoch>`. */
export function jobNameFor(cronJobName: string, scheduledMs: number): string {
  return `${cronJobName}-${Math.floor(scheduledMs / 60_000)}`;
}

/** Creates Jobs on schedule. */
export class CronJobController implements Controller {
  readonly name = 'cronjob';
  readonly kinds = ['CronJob'] as const;
  readonly watches: readonly Watch[] = [{ kind: 'Job', keys: controllerOwnerKeys('CronJob') }];

  async reconcile(key: string, ctx: ReconcileContext): Promise<Result | void> {
    const cj = ctx.cache.get<CronJob>(parseKey(key));
    if (!cj || cj.metadata.deletionTimestamp) return;
    const now = ctx.now();
    const jobs = ctx.cache.list<Job>('Job', { namespace: cj.metadata.namespace })
      .filter((j) => controllerRef(j)?.uid === cj.metadata.uid && !j.metadata.deletionTimestamp);
    const status: NonNullable<CronJob['status']> = copy(cj.status ?? {});

    syncActive(status, jobs);
    await cleanupHistory(cj, jobs, ctx);

    let result: Result | void = undefined;
    if (!cj.spec.suspend) result = await this.schedule(cj, status, jobs, ctx, now);

    if (status.active?.length === 0) delete status.active;
    await updateIfChanged(ctx.store, cj, { ...copy(cj), status }, { origin: { ...ctx.origin, reason: `status of CronJob ${cj.metadata.name}` } });
    return result;
  }

  private async schedule(cj: CronJob, status: NonNullable<CronJob['status']>, jobs: Job[], ctx: ReconcileContext, now: number): Promise<Result | void> {
    const where = `CronJob ${cj.metadata.namespace}/${cj.metadata.name}`;
    const why = validateSchedule(cj.spec.schedule);
    if (why) throw new GantryError('InvalidManifest', `cannot schedule ${where}: spec.schedule ${JSON.stringify(cj.spec.schedule)}: ${why}`, { object: objectKey(cj), field: 'spec.schedule' });
    const zone = cj.spec.timeZone ?? localTimeZone();
    if (cj.spec.timeZone) {
      const bad = validateTimeZone(cj.spec.timeZone);
      if (bad) throw new GantryError('InvalidManifest', `cannot schedule ${where}: spec.timeZone: ${bad}`, { object: objectKey(cj), field: 'spec.timeZone' });
    }
    let earliest = Date.parse(cj.status?.lastScheduleTime ?? cj.metadata.creationTimestamp ?? new Date(now).toISOString());
    const deadline = cj.spec.startingDeadlineSeconds;
    if (deadline !== undefined) earliest = Math.max(earliest, now - deadline * 1000);
    const win = scheduleWindow(cj.spec.schedule, zone, earliest, now);
    const requeue: Result = { requeueAfter: Math.max(0, win.next - now) };
    if (win.mostRecent === undefined) return requeue;
    if (win.missed > MAX_MISSED_SCHEDULES) {
      ctx.log.warn(
        { cronjob: objectKey(cj), missed: win.missed },
        `too many missed start times (> ${MAX_MISSED_SCHEDULES}) for ${where}: no Job started; set or decrease .spec.startingDeadlineSeconds or check clock skew`,
      );
      return requeue;
    }
    const scheduled = win.mostRecent;
    if (deadline !== undefined && scheduled + deadline * 1000 < now) {
      ctx.log.info({ cronjob: objectKey(cj), scheduled: k8sTime(scheduled) }, 'missed scheduled time to start a job');
      return requeue;
    }
    const name = jobNameFor(cj.metadata.name, scheduled);
    const unfinished = jobs.filter((j) => !finishedType(j));
    if (unfinished.some((j) => j.metadata.name === name)) return requeue;
    const policy = cj.spec.concurrencyPolicy ?? CRONJOB_DEFAULTS.concurrencyPolicy;
    if (policy === 'Forbid' && unfinished.length > 0) return requeue;
    if (policy === 'Replace') {
      for (const j of unfinished) {
        await deleteJob(j, ctx, `concurrencyPolicy Replace: ${where} starts its run of ${k8sTime(scheduled)}`);
        status.active = (status.active ?? []).filter((r) => r.uid !== j.metadata.uid);
      }
    }
    const created = await createJob(cj, name, scheduled, ctx);
    if (created && !finishedType(created)) {
      status.active = [...(status.active ?? []).filter((r) => r.uid !== created.metadata.uid), jobRef(created)];
    }
    status.lastScheduleTime = k8sTime(scheduled);
    return requeue;
  }
}

/** `active` lists the unfinished Jobs this CronJob controls; lastSuccessfulTime follows completions. */
function syncActive(status: NonNullable<CronJob['status']>, jobs: readonly Job[]): void {
  const unfinished = jobs.filter((j) => !finishedType(j));
  status.active = unfinished.sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1)).map(jobRef);
  for (const j of jobs) {
    if (finishedType(j) !== 'Complete') continue;
    const t = finishTime(j);
    if (t === undefined) continue;
    if (!status.lastSuccessfulTime || Date.parse(status.lastSuccessfulTime) < t) status.lastSuccessfulTime = k8sTime(t);
  }
}

function jobRef(j: Job): { kind: string; namespace: string; name: string; uid?: string } {
  return { kind: 'Job', namespace: j.metadata.namespace ?? 'default', name: j.metadata.name, ...(j.metadata.uid ? { uid: j.metadata.uid } : {}) };
}

/** Deletes the oldest finished Jobs beyond the history limits. */
async function cleanupHistory(cj: CronJob, jobs: readonly Job[], ctx: ReconcileContext): Promise<void> {
  const limits = {
    Complete: cj.spec.successfulJobsHistoryLimit ?? CRONJOB_DEFAULTS.successfulJobsHistoryLimit,
    Failed: cj.spec.failedJobsHistoryLimit ?? CRONJOB_DEFAULTS.failedJobsHistoryLimit,
  };
  for (const type of ['Complete', 'Failed'] as const) {
    const finished = jobs.filter((j) => finishedType(j) === type).sort((a, b) => startOf(a) - startOf(b));
    const excess = finished.length - limits[type];
    for (const j of finished.slice(0, Math.max(0, excess))) {
      await deleteJob(j, ctx, `history limit of CronJob ${cj.metadata.name}: keep ${limits[type]} ${type === 'Complete' ? 'successful' : 'failed'} Jobs`);
    }
  }
}

/** Sort key of a Job's run: its scheduled time, else its start or creation time. */
function startOf(j: Job): number {
  const s = j.metadata.annotations?.[SCHEDULED_TIMESTAMP_ANNOTATION] ?? j.status?.startTime ?? j.metadata.creationTimestamp;
  return s ? Date.parse(s) : 0;
}

async function deleteJob(j: Job, ctx: ReconcileContext, reason: string): Promise<void> {
  try {
    await ctx.store.delete(objectRef(j), { origin: { ...ctx.origin, reason }, resourceVersion: j.metadata.resourceVersion });
  } catch (err) {
    if (!isGantryError(err, 'NotFound')) throw err;
  }
}

/** Creates the Job of a schedule time; an existing Job of this CronJob with that name counts as created. */
async function createJob(cj: CronJob, name: string, scheduled: number, ctx: ReconcileContext): Promise<Job | undefined> {
  const tpl = cj.spec.jobTemplate;
  const job: Job = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name,
      namespace: cj.metadata.namespace,
      ...(tpl.metadata?.labels ? { labels: { ...tpl.metadata.labels } } : {}),
      annotations: { ...(tpl.metadata?.annotations ?? {}), [SCHEDULED_TIMESTAMP_ANNOTATION]: k8sTime(scheduled) },
      ownerReferences: [controllerReferenceTo(cj)],
    },
    spec: copy(tpl.spec),
  };
  try {
    // The Kubernetes API server defaults a created Job; gantry's store does not, so do it here.
    return await ctx.store.create(applyDefaults(job), { origin: { ...ctx.origin, reason: `CronJob ${cj.metadata.name} scheduled at ${k8sTime(scheduled)}` } });
  } catch (err) {
    if (!isGantryError(err, 'AlreadyExists')) throw err;
    const existing = await ctx.store.get<Job>(objectRef(job));
    if (existing && controllerRef(existing)?.uid === cj.metadata.uid) return existing;
    throw new GantryError('AlreadyExists', `cannot start Job ${cj.metadata.namespace}/${name} for CronJob ${cj.metadata.name}: a Job of that name exists and is not owned by the CronJob`, { object: objectKey(cj) });
  }
}

