/**
 * Object types, spelled as Kubernetes spells them, for the kinds gantry supports.
 *
 * These describe the shapes after validation: the JSON Schemas in `schemas/` are the gate that
 * guarantees an object from a repo has no field outside these types. Optional everywhere that
 * Kubernetes defaults a field; `applyDefaults` (src/model/defaults.ts) fills them.
 */

/** A map of string to string (labels, annotations, ConfigMap data). */
export type StringMap = Record<string, string>;

/** Points from a dependent object to the object that owns it (garbage collection). */
export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** Standard object metadata. Server-owned fields are set by the store, never by a repo. */
export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: StringMap;
  annotations?: StringMap;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  generateName?: string;
  // server-owned
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  /**
   * Seconds the node agent gives the pod's containers after `deletionTimestamp`, when a deletion
   * (an eviction with `gracePeriodSeconds`) asked for other than `spec.terminationGracePeriodSeconds`.
   */
  deletionGracePeriodSeconds?: number;
}

/** Any object gantry stores. Kind-specific shapes extend this. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: unknown;
  status?: unknown;
  [extra: string]: unknown;
}

/** A label selector as Kubernetes defines it. */
export interface LabelSelector {
  matchLabels?: StringMap;
  matchExpressions?: LabelSelectorRequirement[];
}

/** One requirement of a {@link LabelSelector}. */
export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

/** A condition as every Kubernetes status reports it. */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  lastUpdateTime?: string;
  lastProbeTime?: string | null;
  /** Node conditions: when the node agent last reported this condition. */
  lastHeartbeatTime?: string;
  observedGeneration?: number;
}

// ---------------------------------------------------------------- core/v1

export interface Namespace extends KubeObject {
  kind: 'Namespace';
  spec?: { finalizers?: string[] };
  status?: { phase?: 'Active' | 'Terminating' };
}

export interface ConfigMap extends KubeObject {
  kind: 'ConfigMap';
  data?: StringMap;
  binaryData?: StringMap;
  immutable?: boolean;
}

export interface Secret extends KubeObject {
  kind: 'Secret';
  type?: string;
  /** Base64-encoded values. */
  data?: StringMap;
  /** Plain values; folded into `data` by defaulting, as the Kubernetes API server does. */
  stringData?: StringMap;
  immutable?: boolean;
}

/** A resource quantity such as "500m" or "128Mi" (or a bare number). */
export type Quantity = string | number;

export interface ResourceRequirements {
  limits?: Record<string, Quantity>;
  requests?: Record<string, Quantity>;
}

/** A field of the pod (`metadata.name`, `metadata.labels['app']`, `status.podIP`, …). */
export interface ObjectFieldSelector { apiVersion?: string; fieldPath: string }
/** A container's limit or request (`limits.cpu`, `requests.memory`), scaled by `divisor`. */
export interface ResourceFieldSelector { containerName?: string; resource: string; divisor?: Quantity }

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    fieldRef?: ObjectFieldSelector;
    resourceFieldRef?: ResourceFieldSelector;
  };
}

export interface EnvFromSource {
  prefix?: string;
  configMapRef?: { name: string; optional?: boolean };
  secretRef?: { name: string; optional?: boolean };
}

export interface ContainerPort {
  name?: string;
  containerPort: number;
  hostPort?: number;
  hostIP?: string;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
}

export interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
  subPath?: string;
  /**
   * How mounts under the volume travel between host and container: None (rprivate, the
   * default), HostToContainer (rslave) or Bidirectional (rshared; privileged containers only).
   */
  mountPropagation?: 'None' | 'HostToContainer' | 'Bidirectional';
}

export interface ExecAction { command: string[] }
export interface HTTPGetAction {
  path?: string;
  port: number | string;
  host?: string;
  scheme?: 'HTTP' | 'HTTPS';
  httpHeaders?: { name: string; value: string }[];
}
export interface TCPSocketAction { port: number | string; host?: string }
/** gRPC health checking (grpc.health.v1.Health/Check) against the pod IP. */
export interface GRPCAction { port: number; service?: string }
/** A lifecycle hook that waits. */
export interface SleepAction { seconds: number }

export interface Probe {
  exec?: ExecAction;
  httpGet?: HTTPGetAction;
  tcpSocket?: TCPSocketAction;
  grpc?: GRPCAction;
  initialDelaySeconds?: number;
  timeoutSeconds?: number;
  periodSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
  terminationGracePeriodSeconds?: number;
}

/** A container lifecycle hook: one handler (tcpSocket is accepted and fails, as in Kubernetes). */
export interface LifecycleHandler {
  exec?: ExecAction;
  httpGet?: HTTPGetAction;
  tcpSocket?: TCPSocketAction;
  sleep?: SleepAction;
}

/** A container's hooks: after its start, before its stop. */
export interface Lifecycle {
  postStart?: LifecycleHandler;
  preStop?: LifecycleHandler;
}

/** Which seccomp filter a container runs under. */
export interface SeccompProfile {
  type: 'RuntimeDefault' | 'Unconfined' | 'Localhost';
  /** Localhost only: a path under the node's seccomp directory. */
  localhostProfile?: string;
}

export interface SecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  readOnlyRootFilesystem?: boolean;
  privileged?: boolean;
  allowPrivilegeEscalation?: boolean;
  capabilities?: { add?: string[]; drop?: string[] };
  seccompProfile?: SeccompProfile;
  /** Accepted only empty (validation refuses a label: gantry's nodes run without SELinux). */
  seLinuxOptions?: SELinuxOptions;
}

/** An SELinux label; see {@link SecurityContext.seLinuxOptions}. */
export interface SELinuxOptions { user?: string; role?: string; type?: string; level?: string }

/** A kernel parameter set in the pod's namespaces (the kubelet's safe set only). */
export interface Sysctl { name: string; value: string }

/** Security settings of every container of a pod, and of its volumes (fsGroup). */
export interface PodSecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  fsGroup?: number;
  fsGroupChangePolicy?: 'OnRootMismatch' | 'Always';
  supplementalGroups?: number[];
  seccompProfile?: SeccompProfile;
  /** Accepted only empty, as on {@link SecurityContext}. */
  seLinuxOptions?: SELinuxOptions;
  /** Namespaced kernel parameters for the pod (net.* in its network namespace, kernel.shm* in IPC). */
  sysctls?: Sysctl[];
}

export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  ports?: ContainerPort[];
  env?: EnvVar[];
  envFrom?: EnvFromSource[];
  resources?: ResourceRequirements;
  volumeMounts?: VolumeMount[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: Lifecycle;
  /** Init containers only: `Always` makes a sidecar (started in order, kept running, stopped last). */
  restartPolicy?: 'Always';
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  securityContext?: SecurityContext;
  terminationMessagePath?: string;
  terminationMessagePolicy?: 'File' | 'FallbackToLogsOnError';
  stdin?: boolean;
  tty?: boolean;
}

export interface KeyToPath { key: string; path: string; mode?: number }

/** One file of a downwardAPI volume (or projection): a pod field or a container resource. */
export interface DownwardAPIVolumeFile {
  path: string;
  fieldRef?: ObjectFieldSelector;
  resourceFieldRef?: ResourceFieldSelector;
  mode?: number;
}

/** A ConfigMap or Secret projected into a `projected` volume. */
export interface KeyProjection { name: string; items?: KeyToPath[]; optional?: boolean }

/** One source of a `projected` volume. */
export interface VolumeProjection {
  configMap?: KeyProjection;
  secret?: KeyProjection;
  downwardAPI?: { items?: DownwardAPIVolumeFile[] };
  /** A bound service-account token, refreshed by the node agent before it expires. */
  serviceAccountToken?: { path: string; audience?: string; expirationSeconds?: number };
}

/** A `projected` volume: the files of several sources in one directory (`kube-api-access-…` too). */
export interface ProjectedVolumeSource {
  sources?: VolumeProjection[];
  /** Mode of the files (default 0644, 420). */
  defaultMode?: number;
}

export interface Volume {
  name: string;
  emptyDir?: { medium?: '' | 'Memory'; sizeLimit?: Quantity };
  hostPath?: { path: string; type?: string };
  configMap?: { name: string; items?: KeyToPath[]; defaultMode?: number; optional?: boolean };
  secret?: { secretName: string; items?: KeyToPath[]; defaultMode?: number; optional?: boolean };
  persistentVolumeClaim?: { claimName: string; readOnly?: boolean };
  downwardAPI?: { items?: DownwardAPIVolumeFile[]; defaultMode?: number };
  projected?: ProjectedVolumeSource;
}

export interface Toleration {
  key?: string;
  operator?: 'Exists' | 'Equal';
  value?: string;
  effect?: '' | 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  tolerationSeconds?: number;
}

export interface Taint {
  key: string;
  value?: string;
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  timeAdded?: string;
}

export interface NodeSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Gt' | 'Lt';
  values?: string[];
}
export interface NodeSelectorTerm {
  matchExpressions?: NodeSelectorRequirement[];
  matchFields?: NodeSelectorRequirement[];
}

export interface PodAffinityTerm {
  labelSelector?: LabelSelector;
  namespaces?: string[];
  topologyKey: string;
}

export interface Affinity {
  nodeAffinity?: {
    requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms: NodeSelectorTerm[] };
    preferredDuringSchedulingIgnoredDuringExecution?: { weight: number; preference: NodeSelectorTerm }[];
  };
  podAffinity?: {
    requiredDuringSchedulingIgnoredDuringExecution?: PodAffinityTerm[];
    preferredDuringSchedulingIgnoredDuringExecution?: { weight: number; podAffinityTerm: PodAffinityTerm }[];
  };
  podAntiAffinity?: {
    requiredDuringSchedulingIgnoredDuringExecution?: PodAffinityTerm[];
    preferredDuringSchedulingIgnoredDuringExecution?: { weight: number; podAffinityTerm: PodAffinityTerm }[];
  };
}

export interface TopologySpreadConstraint {
  maxSkew: number;
  topologyKey: string;
  whenUnsatisfiable: 'DoNotSchedule' | 'ScheduleAnyway';
  labelSelector?: LabelSelector;
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  restartPolicy?: 'Always' | 'OnFailure' | 'Never';
  terminationGracePeriodSeconds?: number;
  activeDeadlineSeconds?: number;
  nodeName?: string;
  nodeSelector?: StringMap;
  affinity?: Affinity;
  tolerations?: Toleration[];
  topologySpreadConstraints?: TopologySpreadConstraint[];
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  hostname?: string;
  subdomain?: string;
  serviceAccountName?: string;
  /** Deprecated alias of serviceAccountName, still accepted and set by Kubernetes. */
  serviceAccount?: string;
  /** Whether the service account token is mounted (overrides the ServiceAccount's). */
  automountServiceAccountToken?: boolean;
  /** The `<SVC>_SERVICE_HOST` and link variables of the namespace's Services (default true). */
  enableServiceLinks?: boolean;
  securityContext?: PodSecurityContext;
  imagePullSecrets?: { name: string }[];
  /** Resolved by priority admission from {@link priorityClassName} (or the global default class). */
  priority?: number;
  /** A PriorityClass's name; admission writes its value into `priority`. */
  priorityClassName?: string;
  /** Whether this pod may preempt lower-priority pods; admission copies it from the class. */
  preemptionPolicy?: PreemptionPolicy;
  schedulerName?: string;
  dnsPolicy?: string;
  dnsConfig?: PodDnsConfig;
  hostAliases?: { ip: string; hostnames?: string[] }[];
  /** While any gate is left the scheduler leaves the pod alone (PodScheduled=False, SchedulingGated). */
  schedulingGates?: { name: string }[];
}

/** `spec.dnsConfig`: merged into the generated resolv.conf (all of it with dnsPolicy None). */
export interface PodDnsConfig {
  nameservers?: string[];
  searches?: string[];
  options?: { name: string; value?: string }[];
}

export interface ContainerStateWaiting { reason?: string; message?: string }
export interface ContainerStateRunning { startedAt?: string }
export interface ContainerStateTerminated {
  exitCode: number;
  signal?: number;
  reason?: string;
  message?: string;
  startedAt?: string;
  finishedAt?: string;
  containerID?: string;
}
export interface ContainerState {
  waiting?: ContainerStateWaiting;
  running?: ContainerStateRunning;
  terminated?: ContainerStateTerminated;
}

export interface ContainerStatus {
  name: string;
  state: ContainerState;
  lastState: ContainerState;
  ready: boolean;
  started?: boolean;
  restartCount: number;
  image: string;
  imageID: string;
  containerID?: string;
}

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

export interface PodStatus {
  phase?: PodPhase;
  conditions?: Condition[];
  message?: string;
  reason?: string;
  hostIP?: string;
  podIP?: string;
  podIPs?: { ip: string }[];
  startTime?: string;
  initContainerStatuses?: ContainerStatus[];
  containerStatuses?: ContainerStatus[];
  /** The node a preempting pod expects to run on once its victims are gone (the scheduler's). */
  nominatedNodeName?: string;
}

/**
 * The metadata of a template. `namespace` and `creationTimestamp` are accepted and kept as
 * Kubernetes keeps them, and ignored as it ignores them: what a template makes lives in its
 * owner's namespace and gets its own timestamp.
 */
export interface TemplateMeta { labels?: StringMap; annotations?: StringMap; name?: string; namespace?: string; creationTimestamp?: string }

export interface PodTemplateSpec {
  metadata?: TemplateMeta;
  spec: PodSpec;
}

export interface Pod extends KubeObject {
  kind: 'Pod';
  spec: PodSpec;
  status?: PodStatus;
}

export interface ServicePort {
  name?: string;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  port: number;
  targetPort?: number | string;
  nodePort?: number;
  appProtocol?: string;
}

export interface Service extends KubeObject {
  kind: 'Service';
  spec: {
    type?: 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';
    selector?: StringMap;
    ports?: ServicePort[];
    clusterIP?: string;
    clusterIPs?: string[];
    /** gantry's network is IPv4 only: `[IPv4]`. */
    ipFamilies?: ('IPv4' | 'IPv6')[];
    ipFamilyPolicy?: 'SingleStack' | 'PreferDualStack' | 'RequireDualStack';
    sessionAffinity?: 'None' | 'ClientIP';
    sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: number } };
    externalTrafficPolicy?: 'Cluster' | 'Local';
    internalTrafficPolicy?: 'Cluster' | 'Local';
    externalName?: string;
    publishNotReadyAddresses?: boolean;
  };
  status?: { loadBalancer?: Record<string, unknown> };
}

export interface EndpointAddress {
  ip: string;
  nodeName?: string;
  hostname?: string;
  targetRef?: { kind: string; namespace?: string; name: string; uid?: string };
}
export interface EndpointPort { name?: string; port: number; protocol?: 'TCP' | 'UDP' | 'SCTP'; appProtocol?: string }
export interface EndpointSubset {
  addresses?: EndpointAddress[];
  notReadyAddresses?: EndpointAddress[];
  ports?: EndpointPort[];
}
/**
 * Endpoints: written by gantry's endpoints controller for Services with a selector; a repo
 * declares them by hand for Services without one.
 */
export interface Endpoints extends KubeObject {
  kind: 'Endpoints';
  subsets?: EndpointSubset[];
}

export interface NodeStatus {
  capacity?: Record<string, Quantity>;
  allocatable?: Record<string, Quantity>;
  conditions?: Condition[];
  addresses?: { type: string; address: string }[];
  /** Where the node's agent serves logs, exec and port-forward (the kubelet's port, on the node's addresses). */
  daemonEndpoints?: { kubeletEndpoint?: { Port: number } };
  nodeInfo?: Record<string, string>;
}
/** Nodes are registered by node agents, never taken from a repo. */
export interface Node extends KubeObject {
  kind: 'Node';
  spec: { unschedulable?: boolean; taints?: Taint[]; podCIDR?: string; podCIDRs?: string[] };
  status?: NodeStatus;
}

// ---------------------------------------------------------------- core/v1 storage

/** How a volume may be mounted: by one node read-write, by many read-only, by many read-write, by one pod. */
export type PersistentVolumeAccessMode = 'ReadWriteOnce' | 'ReadOnlyMany' | 'ReadWriteMany' | 'ReadWriteOncePod';

/** What a claim asks for (also the spec of a StatefulSet's volumeClaimTemplates). */
export interface PersistentVolumeClaimSpec {
  accessModes?: PersistentVolumeAccessMode[];
  /** Only the claim's PVs with these labels can bind it. */
  selector?: LabelSelector;
  resources?: ResourceRequirements;
  /** The PV bound (or to bind) to this claim; set by the binder unless the claim names one. */
  volumeName?: string;
  /** Unset: the default StorageClass (assigned by the PV controller); "": only PVs without a class. */
  storageClassName?: string;
  volumeMode?: 'Filesystem' | 'Block';
}

/** The phases a claim goes through. */
export type PersistentVolumeClaimPhase = 'Pending' | 'Bound' | 'Lost';

/** core/v1 PersistentVolumeClaim: a request for storage, bound to one PersistentVolume. */
export interface PersistentVolumeClaim extends KubeObject {
  kind: 'PersistentVolumeClaim';
  spec: PersistentVolumeClaimSpec;
  status?: {
    phase?: PersistentVolumeClaimPhase;
    /** The bound volume's access modes and capacity (not what was asked). */
    accessModes?: PersistentVolumeAccessMode[];
    capacity?: Record<string, Quantity>;
    conditions?: Condition[];
  };
}

/** The phases a volume goes through. */
export type PersistentVolumePhase = 'Pending' | 'Available' | 'Bound' | 'Released' | 'Failed';

/** core/v1 PersistentVolume: a piece of storage (here a directory on a node) that claims bind. */
export interface PersistentVolume extends KubeObject {
  kind: 'PersistentVolume';
  spec: {
    capacity?: Record<string, Quantity>;
    accessModes?: PersistentVolumeAccessMode[];
    persistentVolumeReclaimPolicy?: 'Retain' | 'Delete' | 'Recycle';
    storageClassName?: string;
    volumeMode?: 'Filesystem' | 'Block';
    claimRef?: ObjectReference;
    nodeAffinity?: { required?: { nodeSelectorTerms: NodeSelectorTerm[] } };
    hostPath?: { path: string; type?: string };
    local?: { path: string; fsType?: string };
  };
  status?: { phase?: PersistentVolumePhase; message?: string; reason?: string; lastPhaseTransitionTime?: string };
}

// ---------------------------------------------------------------- storage.k8s.io/v1

/** storage.k8s.io/v1 StorageClass: how claims of a class get their volumes. Its fields sit at the top level. */
export interface StorageClass extends KubeObject {
  kind: 'StorageClass';
  provisioner: string;
  parameters?: StringMap;
  reclaimPolicy?: 'Delete' | 'Retain';
  volumeBindingMode?: 'Immediate' | 'WaitForFirstConsumer';
  allowVolumeExpansion?: boolean;
  allowedTopologies?: { matchLabelExpressions?: { key: string; values: string[] }[] }[];
}

// ---------------------------------------------------------------- apps/v1

export interface RollingUpdateDeployment {
  maxSurge?: number | string;
  maxUnavailable?: number | string;
}

export interface Deployment extends KubeObject {
  kind: 'Deployment';
  spec: {
    replicas?: number;
    selector: LabelSelector;
    template: PodTemplateSpec;
    strategy?: { type?: 'RollingUpdate' | 'Recreate'; rollingUpdate?: RollingUpdateDeployment };
    minReadySeconds?: number;
    revisionHistoryLimit?: number;
    progressDeadlineSeconds?: number;
    paused?: boolean;
  };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    unavailableReplicas?: number;
    conditions?: Condition[];
    collisionCount?: number;
  };
}

export interface ReplicaSet extends KubeObject {
  kind: 'ReplicaSet';
  spec: {
    replicas?: number;
    selector: LabelSelector;
    template: PodTemplateSpec;
    minReadySeconds?: number;
  };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    fullyLabeledReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    conditions?: Condition[];
  };
}

/** One of a StatefulSet's volumeClaimTemplates: each pod gets a claim `<name>-<sts>-<ordinal>` made from it. */
export interface PersistentVolumeClaimTemplate {
  apiVersion?: 'v1';
  kind?: 'PersistentVolumeClaim';
  /** `namespace` and `creationTimestamp` are ignored as Kubernetes ignores them (see {@link TemplateMeta}). */
  metadata: TemplateMeta & { name: string };
  spec: PersistentVolumeClaimSpec;
}

export interface StatefulSet extends KubeObject {
  kind: 'StatefulSet';
  spec: {
    replicas?: number;
    selector: LabelSelector;
    template: PodTemplateSpec;
    serviceName?: string;
    podManagementPolicy?: 'OrderedReady' | 'Parallel';
    updateStrategy?: { type?: 'RollingUpdate' | 'OnDelete'; rollingUpdate?: { partition?: number; maxUnavailable?: number | string } };
    volumeClaimTemplates?: PersistentVolumeClaimTemplate[];
    revisionHistoryLimit?: number;
    minReadySeconds?: number;
    persistentVolumeClaimRetentionPolicy?: { whenDeleted?: 'Retain' | 'Delete'; whenScaled?: 'Retain' | 'Delete' };
  };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    readyReplicas?: number;
    currentReplicas?: number;
    updatedReplicas?: number;
    availableReplicas?: number;
    currentRevision?: string;
    updateRevision?: string;
    conditions?: Condition[];
  };
}

export interface DaemonSet extends KubeObject {
  kind: 'DaemonSet';
  spec: {
    selector: LabelSelector;
    template: PodTemplateSpec;
    updateStrategy?: { type?: 'RollingUpdate' | 'OnDelete'; rollingUpdate?: { maxUnavailable?: number | string; maxSurge?: number | string } };
    minReadySeconds?: number;
    revisionHistoryLimit?: number;
  };
  status?: {
    observedGeneration?: number;
    currentNumberScheduled?: number;
    numberMisscheduled?: number;
    desiredNumberScheduled?: number;
    numberReady?: number;
    updatedNumberScheduled?: number;
    numberAvailable?: number;
    numberUnavailable?: number;
    conditions?: Condition[];
  };
}

// ---------------------------------------------------------------- batch/v1

/** What a rule of a Job's podFailurePolicy does with a failed pod it matches. */
export type PodFailurePolicyAction = 'FailJob' | 'FailIndex' | 'Ignore' | 'Count';

/** A rule of a Job's podFailurePolicy: an action for failed pods matching exit codes or conditions. */
export interface PodFailurePolicyRule {
  action: PodFailurePolicyAction;
  onExitCodes?: { containerName?: string; operator: 'In' | 'NotIn'; values: number[] };
  onPodConditions?: { type: string; status?: 'True' | 'False' | 'Unknown' }[];
}

/** Indexed Jobs: succeed early once one rule holds. */
export interface SuccessPolicyRule {
  /** Indexes as Kubernetes writes them ("0,2-4"). */
  succeededIndexes?: string;
  succeededCount?: number;
}

export interface JobSpec {
  completions?: number;
  parallelism?: number;
  backoffLimit?: number;
  /** Indexed Jobs: failures allowed per index before the index fails. */
  backoffLimitPerIndex?: number;
  /** Indexed Jobs with backoffLimitPerIndex: failed indexes allowed before the Job fails. */
  maxFailedIndexes?: number;
  podFailurePolicy?: { rules: PodFailurePolicyRule[] };
  successPolicy?: { rules: SuccessPolicyRule[] };
  activeDeadlineSeconds?: number;
  ttlSecondsAfterFinished?: number;
  completionMode?: 'NonIndexed' | 'Indexed';
  suspend?: boolean;
  selector?: LabelSelector;
  manualSelector?: boolean;
  template: PodTemplateSpec;
}

export interface Job extends KubeObject {
  kind: 'Job';
  spec: JobSpec;
  status?: {
    active?: number;
    succeeded?: number;
    failed?: number;
    ready?: number;
    /** Indexed Jobs: the succeeded indexes, as Kubernetes writes them ("0-2,5"). */
    completedIndexes?: string;
    /** Indexed Jobs with backoffLimitPerIndex: the indexes that failed for good. */
    failedIndexes?: string;
    startTime?: string;
    completionTime?: string;
    conditions?: Condition[];
  };
}

export interface CronJob extends KubeObject {
  kind: 'CronJob';
  spec: {
    schedule: string;
    timeZone?: string;
    concurrencyPolicy?: 'Allow' | 'Forbid' | 'Replace';
    startingDeadlineSeconds?: number;
    suspend?: boolean;
    successfulJobsHistoryLimit?: number;
    failedJobsHistoryLimit?: number;
    jobTemplate: { metadata?: TemplateMeta; spec: JobSpec };
  };
  status?: {
    active?: { kind: string; namespace: string; name: string; uid?: string }[];
    lastScheduleTime?: string;
    lastSuccessfulTime?: string;
  };
}

// ---------------------------------------------------------------- networking.k8s.io/v1

export interface IngressBackend {
  service?: { name: string; port: { number?: number; name?: string } };
}

/** A NetworkPolicy peer: pods (in the policy's namespace, or in selected namespaces) or addresses. */
export interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}
export interface NetworkPolicyPort {
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  port?: number | string;
  endPort?: number;
}
/** networking.k8s.io/v1 NetworkPolicy. */
export interface NetworkPolicy extends KubeObject {
  kind: 'NetworkPolicy';
  spec: {
    podSelector: LabelSelector;
    policyTypes?: ('Ingress' | 'Egress')[];
    ingress?: { from?: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] }[];
    egress?: { to?: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] }[];
  };
}

/** An IngressClass: which controller serves Ingresses that name it. */
export interface IngressClass extends KubeObject {
  kind: 'IngressClass';
  spec?: {
    controller?: string;
    /** Controller-specific settings in another object (gantry's own controller takes none). */
    parameters?: { apiGroup?: string; kind: string; name: string; scope?: 'Cluster' | 'Namespace'; namespace?: string };
  };
}

export interface Ingress extends KubeObject {
  kind: 'Ingress';
  spec: {
    ingressClassName?: string;
    defaultBackend?: IngressBackend;
    tls?: { hosts?: string[]; secretName?: string }[];
    rules?: {
      host?: string;
      http?: { paths: { path?: string; pathType: 'Exact' | 'Prefix' | 'ImplementationSpecific'; backend: IngressBackend }[] };
    }[];
  };
  status?: { loadBalancer?: Record<string, unknown> };
}

// ---------------------------------------------------------------- policy/v1

/** When pods that are not Ready may be evicted (policy/v1 `unhealthyPodEvictionPolicy`). */
export type UnhealthyPodEvictionPolicy = 'IfHealthyBudget' | 'AlwaysAllow';

/** policy/v1 PodDisruptionBudget: how many of the selected pods voluntary disruptions must leave. */
export interface PodDisruptionBudget extends KubeObject {
  kind: 'PodDisruptionBudget';
  spec: {
    /** An empty selector selects every pod of the namespace; none selects none (policy/v1). */
    selector?: LabelSelector;
    minAvailable?: number | string;
    maxUnavailable?: number | string;
    unhealthyPodEvictionPolicy?: UnhealthyPodEvictionPolicy;
  };
  status?: PodDisruptionBudgetStatus;
}

/** What the disruption controller (and the Eviction API, for disruptedPods) writes. */
export interface PodDisruptionBudgetStatus {
  observedGeneration?: number;
  /** Pods evicted but not yet seen terminating by the controller: name → eviction time. */
  disruptedPods?: Record<string, string>;
  disruptionsAllowed: number;
  currentHealthy: number;
  desiredHealthy: number;
  expectedPods: number;
  conditions?: Condition[];
}

// ---------------------------------------------------------------- autoscaling/v2

/** What an autoscaler scales: a workload with a replica count (autoscaling/v2 CrossVersionObjectReference). */
export interface CrossVersionObjectReference {
  apiVersion?: string;
  kind: string;
  name: string;
}

/** A metric's target: a utilization percent of the pods' requests, or an average value per pod. */
export interface MetricTarget {
  type: 'Utilization' | 'Value' | 'AverageValue';
  value?: Quantity;
  averageValue?: Quantity;
  averageUtilization?: number;
}

/** One metric an autoscaler follows; gantry measures `Resource` metrics (cpu, memory) of the pods. */
export interface MetricSpec {
  type: 'Resource' | 'ContainerResource' | 'Pods' | 'Object' | 'External';
  resource?: { name: string; target: MetricTarget };
}

/** A metric's current value, as the autoscaler last measured it. */
export interface MetricValueStatus {
  value?: Quantity;
  averageValue?: Quantity;
  averageUtilization?: number;
}

/** One entry of `status.currentMetrics`, in the order of `spec.metrics`. */
export interface MetricStatus {
  type: MetricSpec['type'];
  resource?: { name: string; current: MetricValueStatus };
}

/** A scaling policy: at most `value` pods (or percent) per `periodSeconds`. */
export interface HPAScalingPolicy {
  type: 'Pods' | 'Percent';
  value: number;
  periodSeconds: number;
}

/** How fast one direction may scale. */
export interface HPAScalingRules {
  stabilizationWindowSeconds?: number;
  selectPolicy?: 'Max' | 'Min' | 'Disabled';
  policies?: HPAScalingPolicy[];
}

/** autoscaling/v2 HorizontalPodAutoscaler: scales a workload's replicas to keep its pods' usage at a target. */
export interface HorizontalPodAutoscaler extends KubeObject {
  kind: 'HorizontalPodAutoscaler';
  spec: {
    scaleTargetRef: CrossVersionObjectReference;
    minReplicas?: number;
    maxReplicas: number;
    metrics?: MetricSpec[];
    behavior?: { scaleUp?: HPAScalingRules; scaleDown?: HPAScalingRules };
  };
  status?: HorizontalPodAutoscalerStatus;
}

/** What the autoscaler controller writes. */
export interface HorizontalPodAutoscalerStatus {
  observedGeneration?: number;
  lastScaleTime?: string;
  currentReplicas: number;
  desiredReplicas: number;
  currentMetrics?: MetricStatus[];
  conditions?: Condition[];
}

// ---------------------------------------------------------------- service accounts and RBAC

/** A reference to another object: ServiceAccount `secrets`, a PV's `claimRef` (the claim it is bound or pre-bound to). */
export interface ObjectReference {
  kind?: string;
  namespace?: string;
  name?: string;
  uid?: string;
  apiVersion?: string;
  resourceVersion?: string;
  fieldPath?: string;
}

/** core/v1 ServiceAccount: an identity for the processes of pods. */
export interface ServiceAccount extends KubeObject {
  /** Whether pods of this account get its token mounted (a pod's own setting wins). */
  automountServiceAccountToken?: boolean;
  secrets?: ObjectReference[];
  /** Added to every pod of this account that names none of them. */
  imagePullSecrets?: { name: string }[];
}

/** One rule of a Role or ClusterRole: verbs on resources (or non-resource URLs). */
export interface PolicyRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

/** rbac.authorization.k8s.io/v1 Role: rules within one namespace. */
export interface Role extends KubeObject {
  rules?: PolicyRule[];
}

/** rbac.authorization.k8s.io/v1 ClusterRole: rules cluster-wide, or within a namespace through a RoleBinding. */
export interface ClusterRole extends KubeObject {
  rules?: PolicyRule[];
  /** The rules are the union of those of the ClusterRoles these selectors match. */
  aggregationRule?: { clusterRoleSelectors?: LabelSelector[] };
}

/** The role a binding grants. */
export interface RoleRef {
  apiGroup: string;
  kind: 'Role' | 'ClusterRole';
  name: string;
}

/** Who a binding grants its role to. */
export interface RbacSubject {
  kind: 'ServiceAccount' | 'User' | 'Group';
  name: string;
  /** A ServiceAccount's namespace (in a RoleBinding, the binding's when empty). */
  namespace?: string;
  apiGroup?: string;
}

/** rbac.authorization.k8s.io/v1 RoleBinding: a Role or ClusterRole granted within the binding's namespace. */
export interface RoleBinding extends KubeObject {
  roleRef: RoleRef;
  subjects?: RbacSubject[];
}

/** rbac.authorization.k8s.io/v1 ClusterRoleBinding: a ClusterRole granted cluster-wide. */
export interface ClusterRoleBinding extends KubeObject {
  roleRef: RoleRef;
  subjects?: RbacSubject[];
}

// ---------------------------------------------------------------- core/v1 ReplicationController

/** core/v1 ReplicationController: the older ReplicaSet, selecting its pods by an equality map. */
export interface ReplicationController extends KubeObject {
  kind: 'ReplicationController';
  spec: {
    replicas?: number;
    /** Equality-based: pods with all these labels. Defaults to the template's labels. */
    selector?: StringMap;
    template?: PodTemplateSpec;
    minReadySeconds?: number;
  };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    fullyLabeledReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    conditions?: Condition[];
  };
}

// ---------------------------------------------------------------- core/v1 LimitRange, ResourceQuota

/** What a LimitRange item constrains. */
export type LimitType = 'Container' | 'Pod' | 'PersistentVolumeClaim';

/** One item of a LimitRange: bounds and defaults for one type of object. */
export interface LimitRangeItem {
  type: LimitType;
  max?: Record<string, Quantity>;
  min?: Record<string, Quantity>;
  /** Containers without a limit get this one (defaulted from `max`). */
  default?: Record<string, Quantity>;
  /** Containers without a request get this one (defaulted from `default`, then `min`). */
  defaultRequest?: Record<string, Quantity>;
  maxLimitRequestRatio?: Record<string, Quantity>;
}

/** core/v1 LimitRange: per-namespace bounds and defaults for containers, pods and claims. */
export interface LimitRange extends KubeObject {
  kind: 'LimitRange';
  spec: { limits: LimitRangeItem[] };
}

/** A quota scope: which pods a scoped quota counts. */
export type ResourceQuotaScope = 'Terminating' | 'NotTerminating' | 'BestEffort' | 'NotBestEffort' | 'PriorityClass' | 'CrossNamespacePodAffinity';

/** One term of a quota's scopeSelector. */
export interface ScopedResourceSelectorRequirement {
  scopeName: ResourceQuotaScope;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

/** core/v1 ResourceQuota: per-namespace limits on compute resources and object counts. */
export interface ResourceQuota extends KubeObject {
  kind: 'ResourceQuota';
  spec?: {
    hard?: Record<string, Quantity>;
    scopes?: ResourceQuotaScope[];
    scopeSelector?: { matchExpressions?: ScopedResourceSelectorRequirement[] };
  };
  /** Kept by the quota controller (and by admission as it charges new objects). */
  status?: { hard?: Record<string, Quantity>; used?: Record<string, Quantity> };
}

// ---------------------------------------------------------------- scheduling.k8s.io/v1

/** Whether a pod may preempt lower-priority pods. */
export type PreemptionPolicy = 'PreemptLowerPriority' | 'Never';

/** scheduling.k8s.io/v1 PriorityClass: a named priority value pods refer to. Fields at the top level. */
export interface PriorityClass extends KubeObject {
  kind: 'PriorityClass';
  value: number;
  globalDefault?: boolean;
  description?: string;
  preemptionPolicy?: PreemptionPolicy;
}

// ---------------------------------------------------------------- discovery.k8s.io/v1

/** One endpoint of an EndpointSlice. */
export interface SliceEndpoint {
  addresses: string[];
  conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
  hostname?: string;
  nodeName?: string;
  zone?: string;
  targetRef?: ObjectReference;
  hints?: { forZones?: { name: string }[] };
}

/** One port of an EndpointSlice (every endpoint of the slice has it). */
export interface SlicePort {
  name?: string;
  port?: number;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  appProtocol?: string;
}

/** discovery.k8s.io/v1 EndpointSlice: a set of endpoints of a Service (label kubernetes.io/service-name). */
export interface EndpointSlice extends KubeObject {
  kind: 'EndpointSlice';
  addressType: 'IPv4' | 'IPv6' | 'FQDN';
  endpoints?: SliceEndpoint[];
  ports?: SlicePort[];
}
