/**
 * The controllers gantry runs, wired into one manager. The lead's `gantry up` / `gantry server`
 * call {@link createControllerManager} and `start()` it.
 */
import type { Store } from '../store/types.js';
import { CronJobController } from './cronjob.js';
import { DaemonSetController } from './daemonset.js';
import { DeploymentController } from './deployment.js';
import { DisruptionController } from './disruption.js';
import { EndpointsController } from './endpoints.js';
import { EndpointSliceController } from './endpointslices.js';
import { GarbageCollector } from './gc.js';
import { JobController } from './job.js';
import { NodeLifecycleController, type NodeLifecycleOptions } from './nodelifecycle.js';
import { NodeIpamController, type NodeIpamOptions } from './nodeipam.js';
import { ReplicaSetController } from './replicaset.js';
import { ReplicationControllerController } from './replicationcontroller.js';
import { ResourceQuotaController } from './quota.js';
import { PriorityClassBootstrapController } from './priorityclasses.js';
import { ServiceIpAllocator } from './serviceip.js';
import { ControllerManager, type Controller, type ManagerOptions } from './runtime.js';
import { StatefulSetController } from './statefulset.js';
import { PersistentVolumeBinder } from './storage/binder.js';
import { LocalPathProvisioner } from './storage/local-path.js';
import { StorageProtectionController } from './storage/protection.js';
import { ApiServiceController } from './apiservice.js';
import { BootstrapRbacController, ClusterRoleAggregationController } from './rbac.js';
import { ServiceAccountController } from './serviceaccounts.js';
import { HorizontalPodAutoscalerController, type HpaControllerOptions } from './hpa/controller.js';
import type { ResourceMetricsReader } from '../model/metrics.js';

export { ControllerManager, type Controller, type ManagerOptions, type ReconcileContext, type Result, type Watch } from './runtime.js';
export { deletePod } from './pods.js';
export { NODE_HEARTBEAT_CONTRACT, type NodeLifecycleOptions } from './nodelifecycle.js';
export { DEFAULT_CLUSTER_CIDR, type NodeIpamOptions } from './nodeipam.js';
export { claimName } from './statefulset.js';
export { ensureDefaultStorageClass } from './storage/local-path.js';
export { NODE_PORT_MAX, NODE_PORT_MIN } from './serviceip.js';
export { ApiServiceController } from './apiservice.js';

/** Options of {@link createControllerManager}. */
export type ControllerManagerOptions = ManagerOptions & NodeLifecycleOptions & NodeIpamOptions & {
  /** Cluster IPs come from here; default 10.96.0.0/16. */
  serviceCidr?: string;
  /** The API server's CA (PEM), published in every namespace as `kube-root-ca.crt`. */
  rootCA?: string;
  /** Where pods reach the API: the `kubernetes` Service's endpoint. */
  apiEndpoint?: { ip: string; port: number };
  /** Pod usage (the agents' reports); with it the horizontal pod autoscaler controller runs. */
  resourceMetrics?: ResourceMetricsReader;
  /** The autoscaler controller's settings (Kubernetes' `--horizontal-pod-autoscaler-*` flags). */
  horizontalPodAutoscaler?: Omit<HpaControllerOptions, 'metrics'>;
  /** More controllers to run alongside gantry's own. */
  extra?: Controller[];
};

/**
 * A manager with every controller gantry has: Deployment, ReplicaSet, ReplicationController, StatefulSet, DaemonSet,
 * Job, CronJob, Endpoints and their EndpointSlices, the Service address allocator, PodDisruptionBudget status, the
 * persistent volume binder, the local-path provisioner, storage in-use protection, the node
 * pod-CIDR allocator (`clusterCidr`, default 10.244.0.0/16), node lifecycle, the garbage
 * collector, service accounts (`default` and `kube-root-ca.crt` per namespace), the `kubernetes`
 * Service, the bootstrap RBAC policy and ClusterRole aggregation, resource quota usage, the
 * built-in PriorityClasses, and — given `resourceMetrics` — the horizontal pod autoscaler (plus
 * `extra`).
 * `nodeMonitorGracePeriodMs` (default 50 s) and `podEvictionTimeoutMs` (default 300 s)
 * configure node lifecycle.
 */
export function createControllerManager(store: Store, opts: ControllerManagerOptions = {}): ControllerManager {
  const manager = new ControllerManager(store, opts);
  manager.add(new DeploymentController());
  manager.add(new ReplicaSetController());
  manager.add(new ReplicationControllerController());
  manager.add(new StatefulSetController());
  manager.add(new DaemonSetController());
  manager.add(new JobController());
  manager.add(new CronJobController());
  manager.add(new EndpointsController());
  manager.add(new EndpointSliceController());
  manager.add(new ServiceIpAllocator({ serviceCidr: opts.serviceCidr }));
  manager.add(new DisruptionController());
  manager.add(new PersistentVolumeBinder());
  manager.add(new LocalPathProvisioner());
  manager.add(new StorageProtectionController());
  manager.add(new NodeIpamController({ clusterCidr: opts.clusterCidr, nodeCidrMaskSize: opts.nodeCidrMaskSize }));
  manager.add(new NodeLifecycleController({ nodeMonitorGracePeriodMs: opts.nodeMonitorGracePeriodMs, podEvictionTimeoutMs: opts.podEvictionTimeoutMs }));
  manager.add(new GarbageCollector());
  manager.add(new ServiceAccountController({ rootCA: opts.rootCA }));
  manager.add(new ApiServiceController({ serviceCidr: opts.serviceCidr, apiEndpoint: opts.apiEndpoint }));
  manager.add(new BootstrapRbacController());
  manager.add(new ClusterRoleAggregationController());
  if (opts.resourceMetrics) manager.add(new HorizontalPodAutoscalerController({ ...opts.horizontalPodAutoscaler, metrics: opts.resourceMetrics }));
  manager.add(new ResourceQuotaController());
  manager.add(new PriorityClassBootstrapController());
  for (const c of opts.extra ?? []) manager.add(c);
  return manager;
}
