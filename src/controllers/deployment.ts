/**
 * The Deployment controller: Deployment → ReplicaSets, as Kubernetes' deployment controller does
 * it. A reconcile runs these ordered steps on a working copy of the Deployment and writes the
 * Deployment (revision annotation + status) once at the end:
 *
 * 1. claim ReplicaSets (adopt matching orphans, release non-matching);
 * 2. paused condition;
 * 3. one of: scale (paused, or replicas changed: proportional across active ReplicaSets),
 *    RollingUpdate (scale the new ReplicaSet up within maxSurge, old ones down within
 *    maxUnavailable, gated on availability), Recreate (old to 0, wait for their pods to be gone,
 *    new up);
 * 4. revision history cleanup once complete;
 * 5. status and conditions (Available, Progressing with progressDeadlineSeconds).
 *
 * The new ReplicaSet's template is the Deployment's own. A config content change rolls out new
 * pods because the sync stamps a digest of the referenced ConfigMaps and Secrets on the
 * Deployment's template (model/config-hash.ts) in the same transaction as the config change:
 * the controller never mixes a template with config it was not committed with.
 */
import { GantryError, isGantryError } from '../errors.js';
import { objectKey, objectRef, parseKey } from '../model/keys.js';
import { matchesSelector } from '../model/selectors.js';
import type { Deployment, Pod, PodTemplateSpec, ReplicaSet } from '../model/types.js';
import type { CacheEvent, CacheReader } from './cache.js';
import { POD_TEMPLATE_HASH_LABEL, podTemplateHash, templatesEqualIgnoringHash } from './deployment/hash.js';
import {
  byCreation, DEPLOYMENT_DEFAULTS, DESIRED_REPLICAS_ANNOTATION, desiredReplicas, intAnnotation, isRolling, keptAvailable,
  MAX_REPLICAS_ANNOTATION, maxSurge, maxUnavailable, newRSNewReplicas, proportion, REVISION_ANNOTATION, revisionOf,
  specReplicas, sum,
} from './deployment/replicas.js';
import {
  calculateStatus, deploymentComplete, deploymentProgressing, deploymentTimedOut, getCondition, newCondition,
  progressDeadline, removeCondition, setCondition, type DeploymentStatus,
} from './deployment/status.js';
import { copy, sameJson, updateIfChanged } from './objects.js';
import { claim, controllerReferenceTo, validateSelector } from './ownership.js';
import { controllerOwnerKeys, controllerRef, type Controller, type ReconcileContext, type Result, type Watch } from './runtime.js';

/** Working state of one reconcile. */
interface State {
  d: Deployment;
  next: Deployment & { status: DeploymentStatus };
  ctx: ReconcileContext;
  template: PodTemplateSpec;
  rss: ReplicaSet[];
  newRS?: ReplicaSet;
  oldRSs: ReplicaSet[];
}

/** Rolls Deployments out through ReplicaSets. */
export class DeploymentController implements Controller {
  readonly name = 'deployment';
  readonly kinds = ['Deployment'] as const;
  readonly watches: readonly Watch[] = [
    { kind: 'ReplicaSet', keys: replicaSetToDeployments },
    { kind: 'Pod', keys: podToDeployment },
  ];

  async reconcile(key: string, ctx: ReconcileContext): Promise<Result | void> {
    const d = ctx.cache.get<Deployment>(parseKey(key));
    if (!d || d.metadata.deletionTimestamp) return;
    validateSelector(d, 'roll out');
    const ns = d.metadata.namespace;
    const candidates = ctx.cache.list<ReplicaSet>('ReplicaSet', { namespace: ns });
    const rss = await claim(d, candidates, { selector: d.spec.selector, store: ctx.store, origin: ctx.origin });
    const next = copy(d) as State['next'];
    next.status = next.status ?? {};
    const state: State = { d, next, ctx, template: d.spec.template, rss, oldRSs: [] };
    split(state);

    checkPausedConditions(state);
    let result: Result | void = undefined;
    try {
      if (d.spec.paused) {
        await syncScale(state);
      } else {
        await syncRevision(state, false);
        if (isScalingEvent(state)) await syncScale(state);
        else if (isRolling(d)) result = await rolloutRolling(state);
        else result = await rolloutRecreate(state);
      }
    } catch (err) {
      // A hash collision is recorded in status before retrying with the next hash.
      if (isGantryError(err, 'AlreadyExists')) await writeDeployment(state);
      throw err;
    }
    await writeDeployment(state);
    return result;
  }
}

/** Splits the claimed ReplicaSets into the new one (oldest with the desired template) and old ones. */
function split(state: State): void {
  const sorted = [...state.rss].sort(byCreation);
  state.newRS = sorted.find((rs) => templatesEqualIgnoringHash(rs.spec.template, state.template));
  state.oldRSs = sorted.filter((rs) => rs !== state.newRS);
}

function replace(state: State, rs: ReplicaSet): void {
  const i = state.rss.findIndex((r) => r.metadata.uid === rs.metadata.uid);
  if (i >= 0) state.rss[i] = rs;
  else state.rss.push(rs);
  split(state);
}

function active(rss: readonly (ReplicaSet | undefined)[]): ReplicaSet[] {
  return rss.filter((rs): rs is ReplicaSet => !!rs && specReplicas(rs) > 0);
}

function origin(state: State, reason: string): ReconcileContext['origin'] {
  return { ...state.ctx.origin, reason };
}

/**
 * Finds (and with `create`, creates) the new ReplicaSet and brings revisions up to date:
 * max(old revisions) + 1 for the new one, so a rollback to an old template bumps it.
 */
async function syncRevision(state: State, create: boolean): Promise<void> {
  const { d, ctx, next } = state;
  const maxOld = Math.max(0, ...state.oldRSs.map(revisionOf));
  const newRevision = maxOld + 1;
  const deadline = progressDeadline(d);
  if (state.newRS) {
    const rs = state.newRS;
    const updated = copy(rs);
    updated.metadata.annotations = { ...(updated.metadata.annotations ?? {}) };
    if (revisionOf(rs) < newRevision) updated.metadata.annotations[REVISION_ANNOTATION] = String(newRevision);
    if ((updated.spec.minReadySeconds ?? 0) !== (d.spec.minReadySeconds ?? 0)) updated.spec.minReadySeconds = d.spec.minReadySeconds ?? 0;
    const stored = await updateIfChanged(ctx.store, rs, updated, { origin: origin(state, `revision ${revisionOf(updated)} of ${d.metadata.name}`) });
    replace(state, stored);
    setRevision(next, revisionOf(stored));
    if (deadline !== undefined && !getCondition(next.status, 'Progressing')) {
      setCondition(next.status, newCondition(d, 'Progressing', 'True', 'FoundNewReplicaSet', `Found new replica set "${stored.metadata.name}"`, ctx.now()));
    }
    return;
  }
  if (!create) return;
  const rs = await createReplicaSet(state, newRevision);
  replace(state, rs);
  setRevision(next, newRevision);
  if (deadline !== undefined) {
    setCondition(next.status, newCondition(d, 'Progressing', 'True', 'NewReplicaSetCreated', `Created new replica set "${rs.metadata.name}"`, ctx.now()));
  }
}

function setRevision(d: Deployment, revision: number): void {
  d.metadata.annotations = { ...(d.metadata.annotations ?? {}), [REVISION_ANNOTATION]: String(revision) };
}

async function createReplicaSet(state: State, revision: number): Promise<ReplicaSet> {
  const { d, ctx } = state;
  const collisionCount = state.next.status.collisionCount;
  const hash = podTemplateHash(state.template, collisionCount);
  const template = copy(state.template);
  template.metadata = { ...(template.metadata ?? {}), labels: { ...(template.metadata?.labels ?? {}), [POD_TEMPLATE_HASH_LABEL]: hash } };
  const selector = copy(d.spec.selector);
  selector.matchLabels = { ...(selector.matchLabels ?? {}), [POD_TEMPLATE_HASH_LABEL]: hash };
  const replicas = newRSNewReplicas(d, state.rss, undefined);
  const rs: ReplicaSet = {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name: `${d.metadata.name}-${hash}`,
      namespace: d.metadata.namespace,
      labels: { ...template.metadata.labels! },
      annotations: {
        [REVISION_ANNOTATION]: String(revision),
        [DESIRED_REPLICAS_ANNOTATION]: String(desiredReplicas(d)),
        [MAX_REPLICAS_ANNOTATION]: String(desiredReplicas(d) + maxSurge(d)),
      },
      ownerReferences: [controllerReferenceTo(d)],
    },
    spec: { replicas, selector, template, minReadySeconds: d.spec.minReadySeconds ?? 0 },
  };
  try {
    const created = await ctx.store.create(rs, { origin: origin(state, `rollout of ${d.metadata.name} to revision ${revision}`) });
    if (replicas > 0) ctx.events.emit(d, 'Normal', 'ScalingReplicaSet', `Scaled up replica set ${rs.metadata.name} from 0 to ${replicas}`);
    return created;
  } catch (err) {
    if (!isGantryError(err, 'AlreadyExists')) throw err;
    const existing = await ctx.store.get<ReplicaSet>(objectRef(rs));
    // Ours with the same template: the cache had not shown it yet.
    if (existing && controllerRef(existing)?.uid === d.metadata.uid && templatesEqualIgnoringHash(existing.spec.template, state.template)) {
      return existing;
    }
    state.next.status.collisionCount = (collisionCount ?? 0) + 1;
    throw new GantryError('AlreadyExists', `cannot create ReplicaSet ${rs.metadata.namespace}/${rs.metadata.name} for Deployment ${d.metadata.name}: the name is taken by another template (hash collision); retrying with collisionCount ${state.next.status.collisionCount}`, { object: objectKey(rs), disposition: 'transient' });
  }
}

/** Scales a ReplicaSet and stamps the replicas annotations; false when nothing changed. */
async function scaleRS(state: State, rs: ReplicaSet, replicas: number): Promise<boolean> {
  const { d, ctx } = state;
  const updated = copy(rs);
  updated.spec.replicas = replicas;
  updated.metadata.annotations = {
    ...(updated.metadata.annotations ?? {}),
    [DESIRED_REPLICAS_ANNOTATION]: String(desiredReplicas(d)),
    [MAX_REPLICAS_ANNOTATION]: String(desiredReplicas(d) + maxSurge(d)),
  };
  if (sameJson(rs, updated)) return false;
  const verb = replicas > specReplicas(rs) ? 'up' : 'down';
  const stored = await ctx.store.update(updated, { origin: origin(state, `scale ${verb} ${rs.metadata.name} from ${specReplicas(rs)} to ${replicas}`) });
  replace(state, stored);
  if (specReplicas(rs) !== replicas) ctx.events.emit(d, 'Normal', 'ScalingReplicaSet', `Scaled ${verb} replica set ${rs.metadata.name} from ${specReplicas(rs)} to ${replicas}`);
  return specReplicas(rs) !== replicas;
}

function isScalingEvent(state: State): boolean {
  const r = desiredReplicas(state.d);
  for (const rs of active([state.newRS, ...state.oldRSs])) {
    const desired = intAnnotation(rs, DESIRED_REPLICAS_ANNOTATION);
    if (desired !== undefined && desired !== r) return true;
  }
  return false;
}

/** Kubernetes' sync(): scale only (paused, or a replicas change), then status. */
async function syncScale(state: State): Promise<void> {
  await syncRevision(state, false);
  await scale(state);
  if (state.d.spec.paused) await cleanup(state);
  const { d, ctx } = state;
  state.next.status = calculateStatus(d, state.rss, state.newRS, state.next.status, ctx.now());
}

async function scale(state: State): Promise<void> {
  const { d } = state;
  const r = desiredReplicas(d);
  const target = activeOrLatest(state);
  if (target) {
    if (specReplicas(target) !== r) await scaleRS(state, target, r);
    return;
  }
  const newRS = state.newRS;
  if (newRS && specReplicas(newRS) === r && intAnnotation(newRS, DESIRED_REPLICAS_ANNOTATION) === r && (newRS.status?.availableReplicas ?? 0) === r) {
    for (const old of active(state.oldRSs)) await scaleRS(state, old, 0);
    return;
  }
  if (!isRolling(d)) return;
  const all = active([state.newRS, ...state.oldRSs]);
  const allowed = r > 0 ? r + maxSurge(d) : 0;
  const toAdd = allowed - sum(all, specReplicas);
  if (toAdd === 0) return;
  // Scaling up favours the largest then newest; scaling down the largest then oldest.
  all.sort((a, b) => specReplicas(b) - specReplicas(a) || (toAdd > 0 ? byCreation(b, a) : byCreation(a, b)));
  const sizes = new Map<ReplicaSet, number>();
  let added = 0;
  for (const rs of all) {
    const p = proportion(d, rs, toAdd, added);
    sizes.set(rs, specReplicas(rs) + p);
    added += p;
  }
  const first = all[0]!;
  sizes.set(first, Math.max(0, sizes.get(first)! + toAdd - added));
  for (const rs of all) await scaleRS(state, rs, sizes.get(rs)!);
}

/** The only active ReplicaSet, or the newest one when none is active. */
function activeOrLatest(state: State): ReplicaSet | undefined {
  const olds = [...state.oldRSs].sort((a, b) => byCreation(b, a));
  if (!state.newRS && olds.length === 0) return undefined;
  const act = active([...olds, state.newRS]);
  if (act.length === 0) return state.newRS ?? olds[0];
  if (act.length === 1) return act[0];
  return undefined;
}

async function rolloutRolling(state: State): Promise<Result | void> {
  await syncRevision(state, true);
  const scaledUp = await reconcileNewReplicaSet(state);
  if (scaledUp) return syncRolloutStatus(state);
  const scaledDown = await reconcileOldReplicaSets(state);
  if (scaledDown) return syncRolloutStatus(state);
  if (deploymentComplete(state.d, state.d.status)) await cleanup(state);
  return syncRolloutStatus(state);
}

async function reconcileNewReplicaSet(state: State): Promise<boolean> {
  const newRS = state.newRS!;
  const r = desiredReplicas(state.d);
  if (specReplicas(newRS) === r) return false;
  if (specReplicas(newRS) > r) return scaleRS(state, newRS, r);
  return scaleRS(state, newRS, newRSNewReplicas(state.d, state.rss, newRS));
}

async function reconcileOldReplicaSets(state: State): Promise<boolean> {
  const { d } = state;
  const olds = active(state.oldRSs);
  if (sum(olds, specReplicas) === 0) return false;
  const minAvailable = desiredReplicas(d) - maxUnavailable(d);
  const newRS = state.newRS;
  const newUnavailable = specReplicas(newRS) - (newRS?.status?.availableReplicas ?? 0);
  const maxScaledDown = sum(state.rss, specReplicas) - minAvailable - newUnavailable;
  if (maxScaledDown <= 0) return false;

  // First old pods that are not available anyway: removing them costs no availability.
  let cleaned = 0;
  for (const rs of [...olds].sort(byCreation)) {
    if (cleaned >= maxScaledDown) break;
    const unavailable = specReplicas(rs) - (rs.status?.availableReplicas ?? 0);
    if (specReplicas(rs) === 0 || unavailable <= 0) continue;
    const n = Math.min(maxScaledDown - cleaned, unavailable);
    await scaleRS(state, rs, specReplicas(rs) - n);
    cleaned += n;
  }

  // Then available old pods, as far as availability allows.
  let scaledDown = 0;
  const available = sum(state.rss, keptAvailable);
  if (available > minAvailable) {
    const total = available - minAvailable;
    for (const rs of active(state.oldRSs).sort(byCreation)) {
      if (scaledDown >= total) break;
      const n = Math.min(specReplicas(rs), total - scaledDown);
      await scaleRS(state, rs, specReplicas(rs) - n);
      scaledDown += n;
    }
  }
  return cleaned + scaledDown > 0;
}

async function rolloutRecreate(state: State): Promise<Result | void> {
  let scaledDown = false;
  for (const rs of active(state.oldRSs)) if (await scaleRS(state, rs, 0)) scaledDown = true;
  if (scaledDown) return syncRolloutStatus(state);
  if (oldPodsRunning(state)) return syncRolloutStatus(state);
  if (!state.newRS) await syncRevision(state, true);
  await scaleRS(state, state.newRS!, desiredReplicas(state.d));
  if (deploymentComplete(state.d, state.d.status)) await cleanup(state);
  return syncRolloutStatus(state);
}

/** True while any pod of an old ReplicaSet exists and has not finished (terminating included). */
function oldPodsRunning(state: State): boolean {
  if (sum(state.oldRSs, (rs) => rs.status?.replicas ?? 0) > 0) return true;
  const oldUids = new Set(state.oldRSs.map((rs) => rs.metadata.uid));
  for (const pod of state.ctx.cache.list<Pod>('Pod', { namespace: state.d.metadata.namespace })) {
    const ref = controllerRef(pod);
    if (!ref || !oldUids.has(ref.uid)) continue;
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') continue;
    return true;
  }
  return false;
}

/** Deletes the oldest fully scaled-down ReplicaSets beyond revisionHistoryLimit. */
async function cleanup(state: State): Promise<void> {
  const { d, ctx } = state;
  const limit = d.spec.revisionHistoryLimit ?? DEPLOYMENT_DEFAULTS.revisionHistoryLimit;
  const cleanable = state.oldRSs.filter((rs) => !rs.metadata.deletionTimestamp);
  const diff = cleanable.length - limit;
  if (diff <= 0) return;
  cleanable.sort((a, b) => revisionOf(a) - revisionOf(b) || byCreation(a, b));
  for (const rs of cleanable.slice(0, diff)) {
    if ((rs.status?.replicas ?? 0) !== 0 || specReplicas(rs) !== 0) continue;
    if ((rs.metadata.generation ?? 0) > (rs.status?.observedGeneration ?? 0)) continue;
    await ctx.store.delete(objectRef(rs), {
      origin: origin(state, `revision history limit ${limit} of ${d.metadata.name}`),
      resourceVersion: rs.metadata.resourceVersion,
    });
    state.rss = state.rss.filter((r) => r.metadata.uid !== rs.metadata.uid);
    split(state);
  }
}

/** Kubernetes' checkPausedConditions: Progressing Unknown while paused, and on resume. */
function checkPausedConditions(state: State): void {
  const { d, next } = state;
  if (progressDeadline(d) === undefined) return;
  const cond = getCondition(next.status, 'Progressing');
  if (cond?.reason === 'ProgressDeadlineExceeded') return;
  const pausedCond = cond?.reason === 'DeploymentPaused';
  if (d.spec.paused && !pausedCond) {
    setCondition(next.status, newCondition(d, 'Progressing', 'Unknown', 'DeploymentPaused', 'Deployment is paused', state.ctx.now()));
  } else if (!d.spec.paused && pausedCond) {
    setCondition(next.status, newCondition(d, 'Progressing', 'Unknown', 'DeploymentResumed', 'Deployment is resumed', state.ctx.now()));
  }
}

/** Kubernetes' syncRolloutStatus: status, Progressing, and a requeue at the deadline. */
function syncRolloutStatus(state: State): Result | void {
  const { d, ctx } = state;
  const now = ctx.now();
  const status = calculateStatus(d, state.rss, state.newRS, state.next.status, now);
  const deadline = progressDeadline(d);
  if (deadline === undefined) removeCondition(status, 'Progressing');
  const cur = getCondition(status, 'Progressing');
  const complete = status.replicas === status.updatedReplicas && cur?.reason === 'NewReplicaSetAvailable';
  const subject = state.newRS ? `ReplicaSet "${state.newRS.metadata.name}"` : `Deployment "${d.metadata.name}"`;
  if (deadline !== undefined && !complete) {
    if (deploymentComplete(d, status)) {
      setCondition(status, newCondition(d, 'Progressing', 'True', 'NewReplicaSetAvailable', `${subject} has successfully progressed.`, now));
    } else if (deploymentProgressing(d.status, status)) {
      const c = newCondition(d, 'Progressing', 'True', 'ReplicaSetUpdated', `${subject} is progressing.`, now);
      // Progress refreshes lastUpdateTime even with the same reason: the deadline restarts.
      if (cur?.status === 'True') c.lastTransitionTime = cur.lastTransitionTime;
      removeCondition(status, 'Progressing');
      setCondition(status, c);
    } else if (deploymentTimedOut(d, status, now)) {
      setCondition(status, newCondition(d, 'Progressing', 'False', 'ProgressDeadlineExceeded', `${subject} has timed out progressing.`, now));
    }
  }
  state.next.status = status;
  // Come back when the deadline passes, to report ProgressDeadlineExceeded.
  const c = getCondition(status, 'Progressing');
  if (deadline === undefined || !c || c.reason === 'NewReplicaSetAvailable' || c.reason === 'ProgressDeadlineExceeded') return;
  if (deploymentComplete(d, status)) return;
  const from = Date.parse(c.lastUpdateTime ?? c.lastTransitionTime ?? '');
  if (Number.isNaN(from)) return;
  return { requeueAfter: Math.max(0, from + deadline * 1000 - now) + 10 };
}

async function writeDeployment(state: State): Promise<void> {
  await updateIfChanged(state.ctx.store, state.d, state.next, { origin: origin(state, `status of ${state.d.metadata.name}`) });
}

// ------------------------------------------------------------------ event mapping

/** A ReplicaSet wakes its controlling Deployment; an orphan wakes Deployments that select it. */
function replicaSetToDeployments(ev: CacheEvent, cache: CacheReader): Iterable<string> {
  const keys = new Set<string>(controllerOwnerKeys('Deployment')(ev, cache));
  for (const rs of [ev.object, ev.prevObject]) {
    if (!rs || controllerRef(rs)) continue;
    for (const d of cache.list<Deployment>('Deployment', { namespace: rs.metadata.namespace })) {
      if (matchesSelector(d.spec.selector, rs.metadata.labels)) keys.add(objectKey(d));
    }
  }
  return keys;
}

/** A pod gone wakes the Deployment of its ReplicaSet (a Recreate rollout waits for that). */
function podToDeployment(ev: CacheEvent, cache: CacheReader): Iterable<string> {
  if (ev.type !== 'DELETED') return [];
  const ref = controllerRef(ev.object);
  if (!ref || ref.kind !== 'ReplicaSet') return [];
  const rs = cache.get<ReplicaSet>({ kind: 'ReplicaSet', namespace: ev.object.metadata.namespace, name: ref.name });
  const dref = rs && controllerRef(rs);
  return dref && dref.kind === 'Deployment' ? [`Deployment/${ev.object.metadata.namespace}/${dref.name}`] : [];
}
