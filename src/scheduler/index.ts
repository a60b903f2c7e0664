/**
 * The scheduler's public surface: the process ({@link Scheduler}), one decision
 * ({@link schedulePod}) and the capacity check of `gantry plan` ({@link checkCapacity}).
 */
export { Scheduler, DEFAULT_SCHEDULER_NAME, SCHEDULER_ACTOR, isPendingFor, type SchedulerOptions } from './scheduler.js';
export {
  schedulePod, isUnschedulable, formatUnschedulableMessage, numFeasibleNodesToFind,
  type ScheduleOptions, type ScheduleResult, type Scheduled, type Unschedulable,
} from './schedule.js';
export { SchedulerCache, cacheFrom, nodeAllocatable, type NodeInfo } from './cache.js';
export { checkCapacity, podsForWorkload, type CapacityResult, type CapacityOptions, type WorkloadPods } from './capacity.js';
export { boundCopy, effectiveRequests, podInfo } from './podinfo.js';
