/**
 * The controllers gantry runs, wired into one manager. The lead's `gantry up` / `gantry server`
 * call {@link createControllerManager} and `start()` it; more controllers (Job, CronJob, …) are
 * added here as they are written.
 */
import type { Store } from '../store/types.js';
import { DeploymentController } from './deployment.js';
import { GarbageCollector } from './gc.js';
import { ReplicaSetController } from './replicaset.js';
import { ControllerManager, type Controller, type ManagerOptions } from './runtime.js';

export { ControllerManager, type Controller, type ManagerOptions, type ReconcileContext, type Result, type Watch } from './runtime.js';
export { deletePod } from './pods.js';

/** A manager with the Deployment, ReplicaSet and garbage-collector controllers (plus `extra`). */
export function createControllerManager(store: Store, opts: ManagerOptions & { extra?: Controller[] } = {}): ControllerManager {
  const manager = new ControllerManager(store, opts);
  manager.add(new DeploymentController());
  manager.add(new ReplicaSetController());
  manager.add(new GarbageCollector());
  for (const c of opts.extra ?? []) manager.add(c);
  return manager;
}
