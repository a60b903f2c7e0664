/**
 * The ReplicationController controller: the shared replica logic (./replicas.ts) for core/v1
 * ReplicationControllers, the older ReplicaSet. Its selector is an equality-based label map
 * (defaulted from the template's labels, as the API server does), used as `matchLabels`.
 */
import type { LabelSelector, ReplicationController } from '../model/types.js';
import { invalidReplicaOwner, ReplicaController, type ReplicaControllerOptions, type ReplicaKind } from './replicas.js';

/** A ReplicationController's selector as a label selector: its map, or else its template's labels. */
export function replicationControllerSelector(rc: ReplicationController): LabelSelector {
  const map = rc.spec.selector && Object.keys(rc.spec.selector).length > 0 ? rc.spec.selector : rc.spec.template?.metadata?.labels;
  // An empty map would select every pod of the namespace; validation refuses it, and a selector
  // that matches nothing keeps a broken object from adopting strangers.
  return map && Object.keys(map).length > 0 ? { matchLabels: { ...map } } : { matchExpressions: [{ key: 'gantry.dev/no-selector', operator: 'Exists' }] };
}

/** Where a ReplicationController keeps its selector, template and scale. */
export const REPLICATION_CONTROLLER: ReplicaKind<ReplicationController> = {
  kind: 'ReplicationController',
  selector: replicationControllerSelector,
  template: (rc) => {
    if (!rc.spec.template) throw invalidReplicaOwner(rc, 'spec.template is required');
    return rc.spec.template;
  },
  replicas: (rc) => rc.spec.replicas ?? 1,
  minReadySeconds: (rc) => rc.spec.minReadySeconds ?? 0,
};

/** Keeps the pods of every ReplicationController. */
export class ReplicationControllerController extends ReplicaController<ReplicationController> {
  constructor(opts: ReplicaControllerOptions = {}) {
    // Named as Kubernetes names it, so its Events come from replication-controller.
    super('replication', REPLICATION_CONTROLLER, opts);
  }
}
