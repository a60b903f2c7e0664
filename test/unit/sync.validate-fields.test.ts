/**
 * Validation of the pod, Service and Job fields real repositories use beyond the basics: gRPC
 * probes, lifecycle hooks, sidecars, downward API and projected volumes, security contexts,
 * scheduling gates, service links, Service IP families and appProtocol, Job failure and success
 * policies; and null meaning unset, and generateName, in manifests loaded from Git.
 */
import assert from 'node:assert/strict';
import { load } from 'js-yaml';
import { applyDefaults } from '../../src/model/defaults.js';
import type { Job, Pod, Service } from '../../src/model/types.js';
import { loadManifests } from '../../src/sync/loader.js';
import type { ManifestIssue } from '../../src/sync/types.js';
import { validateObject } from '../../src/sync/validate.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const pod = `
apiVersion: v1
kind: Pod
metadata: { name: app, labels: { app: shop } }
spec:
  enableServiceLinks: false
  hostPID: true
  hostIPC: true
  terminationGracePeriodSeconds: 20
  securityContext:
    runAsUser: 1000
    runAsGroup: 3000
    fsGroup: 2000
    fsGroupChangePolicy: OnRootMismatch
    supplementalGroups: [4000, 5000]
    seccompProfile: { type: RuntimeDefault }
  schedulingGates: [{ name: example.com/quota }]
  initContainers:
    - name: migrate
      image: busybox
    - name: log-shipper
      image: busybox
      restartPolicy: Always
      startupProbe: { exec: { command: [cat, /tmp/up] } }
      readinessProbe: { grpc: { port: 9090 } }
      lifecycle:
        preStop: { sleep: { seconds: 5 } }
  containers:
    - name: web
      image: busybox
      ports: [{ name: http, containerPort: 8080 }]
      livenessProbe: { grpc: { port: 9090, service: liveness } }
      lifecycle:
        postStart: { exec: { command: [sh, -c, "echo started > /tmp/started"] } }
        preStop: { httpGet: { path: /quit, port: http } }
      env:
        - { name: POD_IP, valueFrom: { fieldRef: { fieldPath: status.podIP } } }
        - { name: NODE, valueFrom: { fieldRef: { fieldPath: spec.nodeName } } }
        - { name: SA, valueFrom: { fieldRef: { fieldPath: spec.serviceAccountName } } }
        - { name: APP, valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } }
        - { name: MEM_MI, valueFrom: { resourceFieldRef: { resource: limits.memory, divisor: 1Mi } } }
        - { name: SIDECAR_CPU, valueFrom: { resourceFieldRef: { containerName: log-shipper, resource: requests.cpu, divisor: 1m } } }
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        runAsNonRoot: true
        capabilities: { drop: [ALL], add: [NET_BIND_SERVICE, CAP_CHOWN] }
        seccompProfile: { type: Localhost, localhostProfile: profiles/web.json }
      volumeMounts:
        - { name: podinfo, mountPath: /etc/podinfo }
        - { name: all-in-one, mountPath: /etc/all }
  volumes:
    - name: podinfo
      downwardAPI:
        defaultMode: 292
        items:
          - { path: name, fieldRef: { fieldPath: metadata.name } }
          - { path: labels, fieldRef: { fieldPath: metadata.labels } }
          - { path: cpu_limit, resourceFieldRef: { containerName: web, resource: limits.cpu, divisor: 1m } }
    - name: all-in-one
      projected:
        sources:
          - configMap: { name: web-config, items: [{ key: app.ini, path: config/app.ini }] }
          - secret: { name: web-tls, optional: true }
          - downwardAPI: { items: [{ path: ns, fieldRef: { fieldPath: metadata.namespace } }] }
`;

const service = `
apiVersion: v1
kind: Service
metadata: { name: web }
spec:
  selector: { app: shop }
  ipFamilies: [IPv4]
  ipFamilyPolicy: PreferDualStack
  ports:
    - { name: http, port: 80, targetPort: 8080, appProtocol: http }
    - { name: grpc, port: 9090, appProtocol: kubernetes.io/h2c }
`;

const job = `
apiVersion: batch/v1
kind: Job
metadata: { name: shards }
spec:
  completionMode: Indexed
  completions: 5
  parallelism: 5
  backoffLimitPerIndex: 1
  maxFailedIndexes: 2
  podFailurePolicy:
    rules:
      - action: FailJob
        onExitCodes: { containerName: main, operator: In, values: [42] }
      - action: Ignore
        onPodConditions: [{ type: DisruptionTarget }]
      - action: FailIndex
        onExitCodes: { operator: In, values: [3, 4] }
      - action: Count
        onExitCodes: { operator: NotIn, values: [0, 1] }
  successPolicy:
    rules:
      - { succeededIndexes: "0,2-3", succeededCount: 2 }
      - { succeededCount: 4 }
  template:
    spec:
      restartPolicy: Never
      containers: [{ name: main, image: busybox }]
`;

const manifests: Record<string, string> = { Pod: pod, Service: service, Job: job };

function manifest(kind: string): Obj {
  return load(manifests[kind]!) as Obj;
}

function validate(obj: unknown): ManifestIssue[] {
  return validateObject(obj, { file: 'app.yaml', line: 1 });
}

const web = (o: Obj): Obj => o.spec.containers[0];
const sidecar = (o: Obj): Obj => o.spec.initContainers[1];

/** A failing case: start from a valid manifest, break one field, expect one issue naming it. */
interface Case {
  name: string;
  kind: string;
  mutate: (o: Obj) => void;
  field: string;
  message: RegExp;
}

const cases: Case[] = [
  // probes
  { name: 'a gRPC probe without a port', kind: 'Pod', mutate: (o) => { delete web(o).livenessProbe.grpc.port; }, field: 'spec.containers[0].livenessProbe.grpc.port', message: /is required/ },
  { name: 'a gRPC probe port out of range', kind: 'Pod', mutate: (o) => { web(o).livenessProbe.grpc.port = 0; }, field: 'spec.containers[0].livenessProbe.grpc.port', message: /must be between 1 and 65535/ },
  { name: 'a gRPC probe port given by name', kind: 'Pod', mutate: (o) => { web(o).livenessProbe.grpc.port = 'grpc'; }, field: 'spec.containers[0].livenessProbe.grpc.port', message: /must be an integer/ },
  { name: 'a probe with gRPC and exec', kind: 'Pod', mutate: (o) => { web(o).livenessProbe.exec = { command: ['true'] }; }, field: 'spec.containers[0].livenessProbe', message: /may not specify more than 1 handler type/ },
  // lifecycle
  { name: 'a hook without a handler', kind: 'Pod', mutate: (o) => { web(o).lifecycle.postStart = {}; }, field: 'spec.containers[0].lifecycle.postStart', message: /must specify a handler type \(exec, httpGet or sleep\)/ },
  { name: 'a hook with two handlers', kind: 'Pod', mutate: (o) => { web(o).lifecycle.preStop.sleep = { seconds: 1 }; }, field: 'spec.containers[0].lifecycle.preStop', message: /may not specify more than 1 handler type/ },
  { name: 'a sleep longer than the grace period', kind: 'Pod', mutate: (o) => { web(o).lifecycle.preStop = { sleep: { seconds: 25 } }; }, field: 'spec.containers[0].lifecycle.preStop.sleep.seconds', message: /must be greater than 0 and less than terminationGracePeriodSeconds \(20\)/ },
  { name: 'a sleep of zero seconds', kind: 'Pod', mutate: (o) => { web(o).lifecycle.preStop = { sleep: { seconds: 0 } }; }, field: 'spec.containers[0].lifecycle.preStop.sleep.seconds', message: /must be greater than 0/ },
  { name: 'an httpGet hook port name that is not one', kind: 'Pod', mutate: (o) => { web(o).lifecycle.preStop.httpGet.port = 'Quit_Port'; }, field: 'spec.containers[0].lifecycle.preStop.httpGet.port', message: /must contain only alpha-numeric characters/ },
  { name: 'an unknown lifecycle hook', kind: 'Pod', mutate: (o) => { web(o).lifecycle.stopSignal = 'SIGINT'; }, field: 'spec.containers[0].lifecycle.stopSignal', message: /is not supported/ },
  // sidecars
  { name: 'restartPolicy on an app container', kind: 'Pod', mutate: (o) => { web(o).restartPolicy = 'Always'; }, field: 'spec.containers[0].restartPolicy', message: /forbidden: may not be set for non-init containers/ },
  { name: 'an init container restartPolicy other than Always', kind: 'Pod', mutate: (o) => { sidecar(o).restartPolicy = 'OnFailure'; }, field: 'spec.initContainers[1].restartPolicy', message: /must be "Always"|must be one of "Always"/ },
  { name: 'a probe on a run-to-completion init container', kind: 'Pod', mutate: (o) => { o.spec.initContainers[0].readinessProbe = { exec: { command: ['true'] } }; }, field: 'spec.initContainers[0].readinessProbe', message: /may not be set for init containers without restartPolicy=Always/ },
  { name: 'a hook on a run-to-completion init container', kind: 'Pod', mutate: (o) => { o.spec.initContainers[0].lifecycle = { postStart: { exec: { command: ['true'] } } }; }, field: 'spec.initContainers[0].lifecycle', message: /may not be set for init containers without restartPolicy=Always/ },
  { name: 'a sidecar startup probe successThreshold above 1', kind: 'Pod', mutate: (o) => { sidecar(o).startupProbe.successThreshold = 2; }, field: 'spec.initContainers[1].startupProbe.successThreshold', message: /must be 1/ },
  // env downward API
  { name: 'an env fieldRef the downward API does not offer', kind: 'Pod', mutate: (o) => { web(o).env[0].valueFrom.fieldRef.fieldPath = 'status.phase'; }, field: 'spec.containers[0].env[0].valueFrom.fieldRef.fieldPath', message: /invalid value "status.phase": supported values: "metadata.name", .*"status.podIP"/ },
  { name: 'all the labels in an env var', kind: 'Pod', mutate: (o) => { web(o).env[0].valueFrom.fieldRef.fieldPath = 'metadata.labels'; }, field: 'spec.containers[0].env[0].valueFrom.fieldRef.fieldPath', message: /supported values/ },
  { name: 'a label subscript with an invalid key', kind: 'Pod', mutate: (o) => { web(o).env[3].valueFrom.fieldRef.fieldPath = "metadata.labels['-x']"; }, field: 'spec.containers[0].env[3].valueFrom.fieldRef.fieldPath', message: /invalid key: name part must consist of/ },
  { name: 'a fieldRef apiVersion other than v1', kind: 'Pod', mutate: (o) => { web(o).env[1].valueFrom.fieldRef.apiVersion = 'v2'; }, field: 'spec.containers[0].env[1].valueFrom.fieldRef.apiVersion', message: /supported values: "v1"/ },
  { name: 'an unknown resourceFieldRef resource', kind: 'Pod', mutate: (o) => { web(o).env[4].valueFrom.resourceFieldRef.resource = 'limits.gpu'; }, field: 'spec.containers[0].env[4].valueFrom.resourceFieldRef.resource', message: /supported values: "limits.cpu"/ },
  { name: 'a CPU divisor Kubernetes refuses', kind: 'Pod', mutate: (o) => { web(o).env[5].valueFrom.resourceFieldRef.divisor = '10m'; }, field: 'spec.containers[0].env[5].valueFrom.resourceFieldRef.divisor', message: /only divisor's values 1m and 1 are supported with the cpu resource/ },
  { name: 'a memory divisor Kubernetes refuses', kind: 'Pod', mutate: (o) => { web(o).env[4].valueFrom.resourceFieldRef.divisor = '2Mi'; }, field: 'spec.containers[0].env[4].valueFrom.resourceFieldRef.divisor', message: /only divisor's values 1, 1k, .* are supported with the memory resource/ },
  { name: 'a resourceFieldRef naming another pod\'s container', kind: 'Pod', mutate: (o) => { web(o).env[5].valueFrom.resourceFieldRef.containerName = 'db'; }, field: 'spec.containers[0].env[5].valueFrom.resourceFieldRef.containerName', message: /not found: "db"/ },
  // downwardAPI and projected volumes
  { name: 'a status field in a downwardAPI volume', kind: 'Pod', mutate: (o) => { o.spec.volumes[0].downwardAPI.items[0].fieldRef.fieldPath = 'status.podIP'; }, field: 'spec.volumes[0].downwardAPI.items[0].fieldRef.fieldPath', message: /supported values: "metadata.name", "metadata.namespace", "metadata.uid", "metadata.labels", "metadata.annotations"/ },
  { name: 'a downwardAPI file with both references', kind: 'Pod', mutate: (o) => { o.spec.volumes[0].downwardAPI.items[0].resourceFieldRef = { containerName: 'web', resource: 'limits.cpu' }; }, field: 'spec.volumes[0].downwardAPI.items[0]', message: /can not be specified simultaneously/ },
  { name: 'a downwardAPI file with no reference', kind: 'Pod', mutate: (o) => { delete o.spec.volumes[0].downwardAPI.items[0].fieldRef; }, field: 'spec.volumes[0].downwardAPI.items[0]', message: /is required: one of `fieldRef` or `resourceFieldRef`/ },
  { name: 'a downwardAPI resource file without a container', kind: 'Pod', mutate: (o) => { delete o.spec.volumes[0].downwardAPI.items[2].resourceFieldRef.containerName; }, field: 'spec.volumes[0].downwardAPI.items[2].resourceFieldRef.containerName', message: /is required/ },
  { name: 'a downwardAPI path leaving the volume', kind: 'Pod', mutate: (o) => { o.spec.volumes[0].downwardAPI.items[0].path = '../name'; }, field: 'spec.volumes[0].downwardAPI.items[0].path', message: /must not contain '\.\.'/ },
  { name: 'a downwardAPI path starting with ..', kind: 'Pod', mutate: (o) => { o.spec.volumes[0].downwardAPI.items[0].path = '..name'; }, field: 'spec.volumes[0].downwardAPI.items[0].path', message: /must not start with '\.\.'/ },
  { name: 'two downwardAPI files at one path', kind: 'Pod', mutate: (o) => { o.spec.volumes[0].downwardAPI.items[1].path = 'name'; }, field: 'spec.volumes[0].downwardAPI.items[1].path', message: /conflicting duplicate paths/ },
  { name: 'a file mode above 0777', kind: 'Pod', mutate: (o) => { o.spec.volumes[0].downwardAPI.defaultMode = 1000; }, field: 'spec.volumes[0].downwardAPI.defaultMode', message: /must be between 0 and 511/ },
  { name: 'a projected source of two kinds', kind: 'Pod', mutate: (o) => { o.spec.volumes[1].projected.sources[1].configMap = { name: 'x' }; }, field: 'spec.volumes[1].projected.sources[1]', message: /may not specify more than 1 volume type per source/ },
  { name: 'an empty projected source', kind: 'Pod', mutate: (o) => { o.spec.volumes[1].projected.sources[1] = {}; }, field: 'spec.volumes[1].projected.sources[1]', message: /is required: one of `configMap`, `secret`, `downwardAPI` or `serviceAccountToken`/ },
  { name: 'projected sources colliding on a path', kind: 'Pod', mutate: (o) => { o.spec.volumes[1].projected.sources[2].downwardAPI.items[0].path = 'config/app.ini'; }, field: 'spec.volumes[1].projected.sources[2].downwardAPI.items[0].path', message: /conflicting duplicate paths/ },
  { name: 'a projected serviceAccountToken living under 10 minutes', kind: 'Pod', mutate: (o) => { o.spec.volumes[1].projected.sources[1] = { serviceAccountToken: { path: 'token', expirationSeconds: 60 } }; }, field: 'spec.volumes[1].projected.sources[1].serviceAccountToken.expirationSeconds', message: /600/ },
  { name: 'a downwardAPI volume beside another source', kind: 'Pod', mutate: (o) => { o.spec.volumes[0].emptyDir = {}; }, field: 'spec.volumes[0]', message: /may not specify more than 1 volume type/ },
  // security
  { name: 'an unknown capability', kind: 'Pod', mutate: (o) => { web(o).securityContext.capabilities.add[0] = 'NET_ADMN'; }, field: 'spec.containers[0].securityContext.capabilities.add[0]', message: /not a Linux capability/ },
  { name: 'privileged without privilege escalation', kind: 'Pod', mutate: (o) => { web(o).securityContext.privileged = true; }, field: 'spec.containers[0].securityContext.allowPrivilegeEscalation', message: /cannot set `allowPrivilegeEscalation` to false and `privileged` to true/ },
  { name: 'CAP_SYS_ADMIN without privilege escalation', kind: 'Pod', mutate: (o) => { web(o).securityContext.capabilities.add.push('SYS_ADMIN'); }, field: 'spec.containers[0].securityContext.allowPrivilegeEscalation', message: /cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN/ },
  { name: 'a Localhost seccomp profile without its file', kind: 'Pod', mutate: (o) => { delete web(o).securityContext.seccompProfile.localhostProfile; }, field: 'spec.containers[0].securityContext.seccompProfile.localhostProfile', message: /must be set when seccomp type is Localhost/ },
  { name: 'a localhostProfile with RuntimeDefault', kind: 'Pod', mutate: (o) => { o.spec.securityContext.seccompProfile.localhostProfile = 'x.json'; }, field: 'spec.securityContext.seccompProfile.localhostProfile', message: /can only be set when seccomp type is Localhost/ },
  { name: 'a localhostProfile outside the seccomp directory', kind: 'Pod', mutate: (o) => { web(o).securityContext.seccompProfile.localhostProfile = '../etc/x.json'; }, field: 'spec.containers[0].securityContext.seccompProfile.localhostProfile', message: /must not contain '\.\.'/ },
  { name: 'an unknown seccomp profile type', kind: 'Pod', mutate: (o) => { o.spec.securityContext.seccompProfile.type = 'Strict'; }, field: 'spec.securityContext.seccompProfile.type', message: /must be one of "RuntimeDefault", "Unconfined", "Localhost"/ },
  { name: 'an unknown fsGroupChangePolicy', kind: 'Pod', mutate: (o) => { o.spec.securityContext.fsGroupChangePolicy = 'Never'; }, field: 'spec.securityContext.fsGroupChangePolicy', message: /must be one of "OnRootMismatch", "Always"/ },
  { name: 'a negative supplemental group', kind: 'Pod', mutate: (o) => { o.spec.securityContext.supplementalGroups[1] = -1; }, field: 'spec.securityContext.supplementalGroups[1]', message: /must be greater than or equal to 0/ },
  { name: 'hostPID given as a string', kind: 'Pod', mutate: (o) => { o.spec.hostPID = 'yes please'; }, field: 'spec.hostPID', message: /must be a boolean/ },
  { name: 'enableServiceLinks given as a string', kind: 'Pod', mutate: (o) => { o.spec.enableServiceLinks = 'false'; }, field: 'spec.enableServiceLinks', message: /must be a boolean/ },
  // scheduling gates
  { name: 'a scheduling gate that is not a qualified name', kind: 'Pod', mutate: (o) => { o.spec.schedulingGates[0].name = 'a/b/c'; }, field: 'spec.schedulingGates[0].name', message: /a qualified name must consist of/ },
  { name: 'a scheduling gate given twice', kind: 'Pod', mutate: (o) => { o.spec.schedulingGates.push({ name: 'example.com/quota' }); }, field: 'spec.schedulingGates[1].name', message: /duplicate value "example.com\/quota"/ },
  { name: 'a node name on a gated pod', kind: 'Pod', mutate: (o) => { o.spec.nodeName = 'node-a'; }, field: 'spec.nodeName', message: /cannot be set until all schedulingGates have been cleared/ },
  // Service
  { name: 'an IPv6 family on the IPv4 network', kind: 'Service', mutate: (o) => { o.spec.ipFamilies = ['IPv6']; }, field: 'spec.ipFamilies[0]', message: /gantry's service network is IPv4 only/ },
  { name: 'RequireDualStack on the IPv4 network', kind: 'Service', mutate: (o) => { o.spec.ipFamilyPolicy = 'RequireDualStack'; }, field: 'spec.ipFamilyPolicy', message: /IPv4 only, so a Service cannot get the two address families RequireDualStack demands/ },
  { name: 'an unknown ipFamilyPolicy', kind: 'Service', mutate: (o) => { o.spec.ipFamilyPolicy = 'DualStack'; }, field: 'spec.ipFamilyPolicy', message: /must be one of "SingleStack", "PreferDualStack", "RequireDualStack"/ },
  { name: 'a family given twice', kind: 'Service', mutate: (o) => { o.spec.ipFamilies = ['IPv4', 'IPv4']; }, field: 'spec.ipFamilies[1]', message: /duplicate value "IPv4"/ },
  { name: 'an appProtocol that is no qualified name', kind: 'Service', mutate: (o) => { o.spec.ports[0].appProtocol = 'HTTP 1.1'; }, field: 'spec.ports[0].appProtocol', message: /name part must consist of/ },
  { name: 'ipFamilies on an ExternalName Service', kind: 'Service', mutate: (o) => { o.spec = { type: 'ExternalName', externalName: 'db.example.com', ipFamilies: ['IPv4'] }; }, field: 'spec.ipFamilies', message: /may not be set when `type` is 'ExternalName'/ },
  // Job
  { name: 'podFailurePolicy with restartPolicy OnFailure', kind: 'Job', mutate: (o) => { o.spec.template.spec.restartPolicy = 'OnFailure'; }, field: 'spec.template.spec.restartPolicy', message: /only "Never" is supported when `podFailurePolicy` is specified/ },
  { name: 'a rule on both exit codes and conditions', kind: 'Job', mutate: (o) => { o.spec.podFailurePolicy.rules[1].onExitCodes = { operator: 'In', values: [1] }; }, field: 'spec.podFailurePolicy.rules[1]', message: /may not specify both `onExitCodes` and `onPodConditions`/ },
  { name: 'a rule on neither', kind: 'Job', mutate: (o) => { delete o.spec.podFailurePolicy.rules[1].onPodConditions; }, field: 'spec.podFailurePolicy.rules[1]', message: /is required: one of `onExitCodes` or `onPodConditions`/ },
  { name: 'exit code 0 with In', kind: 'Job', mutate: (o) => { o.spec.podFailurePolicy.rules[0].onExitCodes.values = [0, 42]; }, field: 'spec.podFailurePolicy.rules[0].onExitCodes.values[0]', message: /must not be 0 for the In operator/ },
  { name: 'exit codes out of order', kind: 'Job', mutate: (o) => { o.spec.podFailurePolicy.rules[2].onExitCodes.values = [4, 3]; }, field: 'spec.podFailurePolicy.rules[2].onExitCodes.values[1]', message: /must be ordered/ },
  { name: 'an exit code given twice', kind: 'Job', mutate: (o) => { o.spec.podFailurePolicy.rules[2].onExitCodes.values = [3, 3]; }, field: 'spec.podFailurePolicy.rules[2].onExitCodes.values[1]', message: /duplicate value 3/ },
  { name: 'a rule naming a container the template lacks', kind: 'Job', mutate: (o) => { o.spec.podFailurePolicy.rules[0].onExitCodes.containerName = 'worker'; }, field: 'spec.podFailurePolicy.rules[0].onExitCodes.containerName', message: /not found: "worker"/ },
  { name: 'an unknown action', kind: 'Job', mutate: (o) => { o.spec.podFailurePolicy.rules[0].action = 'Retry'; }, field: 'spec.podFailurePolicy.rules[0].action', message: /must be one of "FailJob", "FailIndex", "Ignore", "Count"/ },
  { name: 'FailIndex without backoffLimitPerIndex', kind: 'Job', mutate: (o) => { delete o.spec.backoffLimitPerIndex; delete o.spec.maxFailedIndexes; }, field: 'spec.podFailurePolicy.rules[2].action', message: /FailIndex is only supported when `backoffLimitPerIndex` is set/ },
  { name: 'maxFailedIndexes above completions', kind: 'Job', mutate: (o) => { o.spec.maxFailedIndexes = 6; }, field: 'spec.maxFailedIndexes', message: /must be less than or equal to completions/ },
  { name: 'maxFailedIndexes without backoffLimitPerIndex', kind: 'Job', mutate: (o) => { delete o.spec.backoffLimitPerIndex; o.spec.podFailurePolicy.rules.splice(2, 1); }, field: 'spec.backoffLimitPerIndex', message: /is required: when `maxFailedIndexes` is set/ },
  { name: 'backoffLimitPerIndex on a NonIndexed Job', kind: 'Job', mutate: (o) => { delete o.spec.completionMode; delete o.spec.successPolicy; delete o.spec.maxFailedIndexes; o.spec.podFailurePolicy.rules.splice(2, 1); }, field: 'spec.backoffLimitPerIndex', message: /forbidden: requires `completionMode` 'Indexed'/ },
  { name: 'a successPolicy on a NonIndexed Job', kind: 'Job', mutate: (o) => { o.spec.completionMode = 'NonIndexed'; delete o.spec.backoffLimitPerIndex; delete o.spec.maxFailedIndexes; o.spec.podFailurePolicy.rules.splice(2, 1); }, field: 'spec.successPolicy', message: /forbidden: requires `completionMode` 'Indexed'/ },
  { name: 'a success rule with neither field', kind: 'Job', mutate: (o) => { o.spec.successPolicy.rules[1] = {}; }, field: 'spec.successPolicy.rules[1]', message: /at least one of `succeededIndexes` or `succeededCount`/ },
  { name: 'succeededIndexes beyond completions', kind: 'Job', mutate: (o) => { o.spec.successPolicy.rules[0].succeededIndexes = '0,4-5'; }, field: 'spec.successPolicy.rules[0].succeededIndexes', message: /index 5 must be less than completions \(5\)/ },
  { name: 'succeededIndexes out of order', kind: 'Job', mutate: (o) => { o.spec.successPolicy.rules[0].succeededIndexes = '3,1'; }, field: 'spec.successPolicy.rules[0].succeededIndexes', message: /ascending order/ },
  { name: 'succeededIndexes that are not indexes', kind: 'Job', mutate: (o) => { o.spec.successPolicy.rules[0].succeededIndexes = 'first'; }, field: 'spec.successPolicy.rules[0].succeededIndexes', message: /is not an index or a range of indexes/ },
  { name: 'a succeededCount above the indexes it counts', kind: 'Job', mutate: (o) => { o.spec.successPolicy.rules[0].succeededCount = 4; }, field: 'spec.successPolicy.rules[0].succeededCount', message: /must be less than or equal to the number of succeededIndexes \(3\)/ },
  { name: 'a succeededCount above completions', kind: 'Job', mutate: (o) => { o.spec.successPolicy.rules[1].succeededCount = 6; }, field: 'spec.successPolicy.rules[1].succeededCount', message: /must be less than or equal to completions \(5\)/ },
];

describe('validateObject() on the fields real repositories use', () => {
  for (const kind of Object.keys(manifests)) {
    it(`accepts a ${kind} using them all`, () => {
      assert.deepEqual(validate(manifest(kind)), []);
    });
  }

  it('accepts a projected serviceAccountToken source with an audience and a lifetime', () => {
    const p = manifest('Pod');
    p.spec.volumes[1].projected.sources[1] = { serviceAccountToken: { path: 'vault-token', audience: 'vault', expirationSeconds: 7200 } };
    assert.deepEqual(validate(p), []);
  });

  it('accepts the same fields in workload templates (they share the pod spec)', () => {
    const p = manifest('Pod');
    delete p.spec.schedulingGates;
    const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { selector: { matchLabels: { app: 'shop' } }, template: { metadata: { labels: { app: 'shop' } }, spec: { ...p.spec, restartPolicy: 'Always' } } } };
    assert.deepEqual(validate(deployment), []);
    const cronjob = { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'c' }, spec: { schedule: '@daily', jobTemplate: { spec: manifest('Job').spec } } };
    assert.deepEqual(validate(cronjob), []);
  });

  for (const c of cases) {
    it(`names ${c.field} for ${c.name} (${c.kind})`, () => {
      const obj = manifest(c.kind);
      c.mutate(obj);
      const issues = validate(obj);
      assert.equal(issues.length, 1, `expected one issue, got ${JSON.stringify(issues, null, 2)}`);
      assert.equal(issues[0]!.field, c.field);
      assert.match(issues[0]!.message, c.message);
      assert.ok(issues[0]!.object, 'the issue names the object');
    });
  }
});

describe('defaults of these fields (as the API server sets them)', () => {
  it('a Pod gets enableServiceLinks true; a template does not', () => {
    const p = applyDefaults({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'a', image: 'x' }] } } as Pod);
    assert.equal(p.spec.enableServiceLinks, true);
    const d = applyDefaults({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { selector: {}, template: { spec: { containers: [{ name: 'a', image: 'x' }] } } } } as never) as Obj;
    assert.equal(d.spec.template.spec.enableServiceLinks, undefined);
  });

  it('downwardAPI and projected volumes get defaultMode 420 and fieldRef apiVersion v1; lifecycle httpGet gets path and scheme', () => {
    const p = applyDefaults(load(pod) as Pod);
    const vols = p.spec.volumes!;
    assert.equal(vols[0]!.downwardAPI!.defaultMode, 292, 'a given mode stays');
    assert.equal(vols[1]!.projected!.defaultMode, 420);
    assert.equal(vols[0]!.downwardAPI!.items![0]!.fieldRef!.apiVersion, 'v1');
    assert.equal(vols[1]!.projected!.sources![2]!.downwardAPI!.items![0]!.fieldRef!.apiVersion, 'v1');
    assert.equal(vols[1]!.emptyDir, undefined, 'a projected volume is no emptyDir');
    assert.deepEqual(p.spec.containers[0]!.lifecycle!.preStop!.httpGet, { path: '/quit', port: 'http', scheme: 'HTTP' });
  });

  it('a Service gets SingleStack IPv4; ExternalName gets no families', () => {
    const s = applyDefaults({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: 80 }] } } as Service);
    assert.equal(s.spec.ipFamilyPolicy, 'SingleStack');
    assert.deepEqual(s.spec.ipFamilies, ['IPv4']);
    const preferred = applyDefaults({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ipFamilyPolicy: 'PreferDualStack', ports: [{ port: 80 }] } } as Service);
    assert.deepEqual(preferred.spec.ipFamilies, ['IPv4']);
    const ext = applyDefaults({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { type: 'ExternalName', externalName: 'x.example' } } as Service);
    assert.equal(ext.spec.ipFamilyPolicy, undefined);
    assert.equal(ext.spec.ipFamilies, undefined);
  });

  it('a Job with backoffLimitPerIndex gets no Job-wide backoff limit to speak of; pod condition patterns default to True', () => {
    const j = applyDefaults(load(job) as Job);
    assert.equal(j.spec.backoffLimit, 2147483647);
    assert.equal(j.spec.podFailurePolicy!.rules[1]!.onPodConditions![0]!.status, 'True');
    const plain = applyDefaults({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'j' }, spec: { template: { spec: { containers: [] } } } } as unknown as Job);
    assert.equal(plain.spec.backoffLimit, 6);
  });
});

describe('manifests loaded from Git: null means unset, generateName is refused', () => {
  const file = (path: string, text: string) => ({ path, content: Buffer.from(text) });
  const check = (obj: unknown) => validateObject(obj, { file: 'x.yaml' });

  it('drops null struct fields anywhere (empty annotations, rollingUpdate: null, resources: ~) and defaults them as if absent', () => {
    const text = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
  labels: { app: web }
spec:
  strategy:
    type: RollingUpdate
    rollingUpdate: null
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web }, annotations: }
    spec:
      securityContext:
      containers:
        - name: web
          image: busybox
          resources: ~
          env:
            - { name: A, value: null }
`;
    const { objects, issues } = loadManifests([file('web.yaml', text)], { validate: validateObject });
    assert.deepEqual(issues, []);
    const d = objects[0]!.object as Obj;
    assert.equal('annotations' in d.metadata, false);
    assert.equal('rollingUpdate' in d.spec.strategy, false);
    assert.equal('resources' in d.spec.template.spec.containers[0], false);
    assert.deepEqual(d.spec.template.spec.containers[0].env, [{ name: 'A' }]);
    assert.deepEqual((applyDefaults(d as never) as Obj).spec.strategy.rollingUpdate, { maxUnavailable: '25%', maxSurge: '25%' });
  });

  it('reads a null label or data value as the empty string, as Go decodes it into a string map', () => {
    const text = 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: c, labels: { tier: } }\ndata:\n  EMPTY:\n  SET: "1"\n';
    const { objects, issues } = loadManifests([file('c.yaml', text)], { validate: validateObject });
    assert.deepEqual(issues, []);
    assert.deepEqual((objects[0]!.object as Obj).data, { EMPTY: '', SET: '1' });
    assert.deepEqual(objects[0]!.object.metadata.labels, { tier: '' });
  });

  it('still refuses a null where a value is required, naming the field', () => {
    const text = 'apiVersion: v1\nkind: Pod\nmetadata: { name: p }\nspec:\n  containers:\n    - name: a\n      image: null\n';
    const { issues } = loadManifests([file('p.yaml', text)], { validate: validateObject });
    assert.equal(issues.length, 1);
    assert.equal(issues[0]!.field, 'spec.containers[0].image');
    assert.match(issues[0]!.message, /spec\.containers\[0\]\.image is required/);
    assert.equal(issues[0]!.line, 7, 'the line of the null field');
  });

  it('refuses generateName with a message naming it and why, in files and in the validator', () => {
    const text = 'apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: migrate-\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{ name: m, image: busybox }]\n';
    const { objects, issues } = loadManifests([file('hooks/migrate.yaml', text)], { validate: validateObject });
    assert.equal(objects.length, 0);
    assert.equal(issues.length, 1);
    assert.equal(issues[0]!.file, 'hooks/migrate.yaml');
    assert.equal(issues[0]!.field, 'metadata.generateName');
    assert.match(issues[0]!.message, /metadata\.generateName is not supported for objects applied from Git: .*set metadata\.name/);
    const direct = check(load(text));
    assert.equal(direct[0]!.field, 'metadata.generateName');
    const named = load(text) as Obj;
    named.metadata.name = 'migrate';
    assert.deepEqual(check(named), [], 'generateName beside a name is ignored, as Kubernetes ignores it');
  });
});
