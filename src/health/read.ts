/**
 * Reading what {@link assessApp} needs from a store (local SQLite, etcd, or a remote gantry's
 * API through `RemoteStore`), and the exit codes scripts wait on.
 */
import { DECLARABLE_KINDS } from '../model/kinds.js';
import type { KubeObject } from '../model/types.js';
import type { ReadStore } from '../store/types.js';
import { SYNC_NAME, type SyncObject } from '../sync/status.js';
import { assessApp } from './app.js';
import type { AppHealth, Health, Sync } from './types.js';

/** Lists the declarable kinds (workloads, their ReplicaSets, Pods and Jobs included) and assesses the app. */
export async function readAppHealth(store: Pick<ReadStore, 'get' | 'list'>): Promise<AppHealth> {
  return (await readAppState(store)).health;
}

/**
 * {@link readAppHealth}, with what it was assessed from: the Sync object (undefined before the
 * first sync) and the objects of every declarable kind, kind by kind in the store's order.
 */
export async function readAppState(store: Pick<ReadStore, 'get' | 'list'>): Promise<{ sync: SyncObject | undefined; objects: KubeObject[]; health: AppHealth }> {
  const [sync, ...lists] = await Promise.all([
    store.get<SyncObject>({ kind: 'Sync', name: SYNC_NAME }),
    ...DECLARABLE_KINDS.map((k) => store.list(k)),
  ]);
  const objects = lists.flatMap((l) => l.items);
  return { sync: sync ?? undefined, objects, health: assessApp({ sync: sync ?? undefined, objects }) };
}

/**
 * Exit codes of `gantry status` and `gantry wait`: 0 healthy (or suspended) and synced;
 * 1 an error (no state, cannot reach the server, bad arguments); 2 degraded or rejected: a
 * person must act; 3 not there yet: progressing, missing or out of sync.
 */
export const HealthExit = { Ok: 0, Error: 1, Degraded: 2, Waiting: 3 } as const;

/** The exit code for a sync and health. */
export function healthExitCode(s: { sync: Sync; health?: Health }): number {
  const health = s.health?.status ?? 'Healthy';
  if (health === 'Degraded' || s.sync.status === 'Rejected') return HealthExit.Degraded;
  if ((health === 'Healthy' || health === 'Suspended') && s.sync.status === 'Synced') return HealthExit.Ok;
  return HealthExit.Waiting;
}
