/**
 * The ReplicaSet controller: the shared replica logic (./replicas.ts) for apps/v1 ReplicaSets,
 * whose selector is a full label selector.
 */
import type { ReplicaSet } from '../model/types.js';
import { ReplicaController, type ReplicaControllerOptions, type ReplicaKind } from './replicas.js';

export { podsToDelete } from './replicas.js';

/** Where a ReplicaSet keeps its selector, template and scale. */
export const REPLICA_SET: ReplicaKind<ReplicaSet> = {
  kind: 'ReplicaSet',
  selector: (rs) => rs.spec.selector,
  template: (rs) => rs.spec.template,
  replicas: (rs) => rs.spec.replicas ?? 1,
  minReadySeconds: (rs) => rs.spec.minReadySeconds ?? 0,
};

/** Keeps the pods of every ReplicaSet. */
export class ReplicaSetController extends ReplicaController<ReplicaSet> {
  constructor(opts: ReplicaControllerOptions = {}) {
    super('replicaset', REPLICA_SET, opts);
  }
}
