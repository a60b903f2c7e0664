import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { load } from 'js-yaml';
import { supportedKinds, validateObject } from '../../src/sync/validate.js';
import { COMPILED_MODULE_PATH, generateValidatorModule } from '../../src/sync/validate-codegen.js';
import { expandSchedule } from '../../src/model/cron.js';
import type { ManifestIssue } from '../../src/sync/types.js';
import { kindInfo } from '../../src/model/kinds.js';

/** Realistic manifests, one per kind, as a Kubernetes user would write them. */
const valid: Record<string, string> = {
  ServiceAccount: `
apiVersion: v1
kind: ServiceAccount
metadata:
  name: reader
  namespace: shop
automountServiceAccountToken: false
imagePullSecrets:
  - name: registry
`,
  Role: `
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: pod-reader
  namespace: shop
rules:
  - apiGroups: [""]
    resources: ["pods", "pods/log"]
    verbs: ["get", "list", "watch"]
  - apiGroups: [""]
    resources: ["configmaps"]
    resourceNames: ["web-config"]
    verbs: ["get"]
`,
  ClusterRole: `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: "monitoring:scraper"
  labels:
    rbac.authorization.k8s.io/aggregate-to-view: "true"
rules:
  - apiGroups: [""]
    resources: ["nodes", "endpoints"]
    verbs: ["get", "list", "watch"]
  - nonResourceURLs: ["/metrics"]
    verbs: ["get"]
`,
  RoleBinding: `
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: read-pods
  namespace: shop
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: view
subjects:
  - kind: ServiceAccount
    name: reader
  - kind: User
    name: jane
    apiGroup: rbac.authorization.k8s.io
  - kind: Group
    name: "system:serviceaccounts:ci"
    apiGroup: rbac.authorization.k8s.io
`,
  ClusterRoleBinding: `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: scraper
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: "monitoring:scraper"
subjects:
  - kind: ServiceAccount
    name: prometheus
    namespace: monitoring
`,
  Namespace: `
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels:
    team: payments
`,
  ConfigMap: `
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: shop
data:
  index.html: "<h1>hello</h1>"
  LOG_LEVEL: info
binaryData:
  logo.png: iVBORw0KGgo=
`,
  Secret: `
apiVersion: v1
kind: Secret
metadata:
  name: db-credentials
  namespace: shop
type: Opaque
data:
  password: czNjcjN0
  cert.pem: |
    LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCm5v
    dCBhIHJlYWwgY2VydGlmaWNhdGUKLS0tLS1FTkQg
    Q0VSVElGSUNBVEUtLS0tLQo=
stringData:
  username: app
`,
  Pod: `
apiVersion: v1
kind: Pod
metadata:
  name: debug
  namespace: shop
  labels: { app: debug }
spec:
  restartPolicy: Never
  containers:
    - name: shell
      image: busybox:1.36
      command: ["sh", "-c", "sleep 3600"]
      stdin: true
      tty: true
`,
  ReplicaSet: `
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: frontend
spec:
  replicas: 2
  selector:
    matchLabels: { tier: frontend }
  template:
    metadata:
      labels: { tier: frontend }
    spec:
      containers:
        - name: php-redis
          image: registry.local/php-redis:v3
`,
  Deployment: `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels:
    app.kubernetes.io/name: web
    app.kubernetes.io/part-of: shop
  annotations:
    example.com/owner: team-payments
spec:
  replicas: 3
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      app: web
    matchExpressions:
      - { key: tier, operator: In, values: [frontend] }
  strategy:
    type: RollingUpdate
    rollingUpdate: { maxSurge: 25%, maxUnavailable: 0 }
  template:
    metadata:
      labels: { app: web, tier: frontend }
      annotations: { prometheus.io/scrape: "true" }
    spec:
      terminationGracePeriodSeconds: 20
      nodeSelector: { kubernetes.io/os: linux }
      tolerations:
        - { key: dedicated, operator: Equal, value: web, effect: NoSchedule }
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
            - weight: 100
              podAffinityTerm:
                topologyKey: kubernetes.io/hostname
                labelSelector: { matchLabels: { app: web } }
      initContainers:
        - name: migrate
          image: registry.local/web:1.4.2
          args: ["migrate"]
          envFrom:
            - secretRef: { name: db-credentials }
      containers:
        - name: web
          image: registry.local/web:1.4.2
          imagePullPolicy: IfNotPresent
          ports:
            - { name: http, containerPort: 8080 }
            - { name: metrics, containerPort: 9090, protocol: TCP }
          env:
            - { name: LOG_LEVEL, value: info }
            - name: DB_PASSWORD
              valueFrom:
                secretKeyRef: { name: db-credentials, key: password }
            - name: POD_IP
              valueFrom:
                fieldRef: { fieldPath: status.podIP }
          envFrom:
            - configMapRef: { name: web-config }
              prefix: WEB_
          resources:
            requests: { cpu: 100m, memory: 128Mi }
            limits: { cpu: "1", memory: 256Mi }
          readinessProbe:
            httpGet: { path: /healthz, port: http }
            periodSeconds: 5
          livenessProbe:
            tcpSocket: { port: 8080 }
            initialDelaySeconds: 10
          startupProbe:
            exec: { command: ["cat", "/tmp/ready"] }
            failureThreshold: 30
          volumeMounts:
            - { name: config, mountPath: /etc/web, readOnly: true }
            - { name: cache, mountPath: /var/cache/web }
          securityContext:
            runAsUser: 1000
            allowPrivilegeEscalation: false
            capabilities: { drop: [ALL] }
      volumes:
        - name: config
          configMap:
            name: web-config
            items:
              - { key: index.html, path: html/index.html }
        - name: cache
          emptyDir: { sizeLimit: 1Gi }
`,
  StatefulSet: `
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
  namespace: shop
spec:
  serviceName: db
  replicas: 3
  podManagementPolicy: OrderedReady
  selector:
    matchLabels: { app: db }
  template:
    metadata:
      labels: { app: db }
    spec:
      containers:
        - name: postgres
          image: postgres:16
          ports: [{ name: pg, containerPort: 5432 }]
          volumeMounts:
            - { name: data, mountPath: /var/lib/postgresql/data }
  volumeClaimTemplates:
    - metadata: { name: data }
      spec:
        accessModes: [ReadWriteOnce]
        resources:
          requests: { storage: 1Gi }
`,
  DaemonSet: `
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: log-agent
  namespace: kube-system
spec:
  selector:
    matchLabels: { name: log-agent }
  updateStrategy:
    type: RollingUpdate
    rollingUpdate: { maxUnavailable: 1 }
  template:
    metadata:
      labels: { name: log-agent }
    spec:
      tolerations:
        - { operator: Exists }
      containers:
        - name: agent
          image: registry.local/log-agent:2.0
          volumeMounts:
            - { name: varlog, mountPath: /var/log }
      volumes:
        - name: varlog
          hostPath: { path: /var/log, type: Directory }
`,
  Job: `
apiVersion: batch/v1
kind: Job
metadata:
  name: pi
spec:
  completions: 1
  backoffLimit: 4
  ttlSecondsAfterFinished: 100
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: pi
          image: perl:5.34
          command: ["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"]
`,
  CronJob: `
apiVersion: batch/v1
kind: CronJob
metadata:
  name: report
  namespace: shop
spec:
  schedule: "*/15 9-17 * * MON-FRI"
  timeZone: Europe/Paris
  concurrencyPolicy: Forbid
  successfulJobsHistoryLimit: 3
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
            - name: report
              image: busybox:1.36
              args: ["sh", "-c", "date; echo report"]
`,
  Service: `
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  type: ClusterIP
  selector: { app: web }
  ports:
    - { name: http, port: 80, targetPort: http }
    - { name: metrics, port: 9090, targetPort: 9090, protocol: TCP }
`,
  IngressClass: `
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: edge
  annotations:
    ingressclass.kubernetes.io/is-default-class: "true"
spec:
  controller: gantry.dev/ingress
`,
  NetworkPolicy: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: api-allow-web
  namespace: shop
spec:
  podSelector: { matchLabels: { app: api } }
  policyTypes: [Ingress, Egress]
  ingress:
    - from:
        - podSelector: { matchLabels: { app: web } }
        - namespaceSelector: { matchLabels: { team: ops } }
          podSelector: { matchExpressions: [{ key: role, operator: In, values: [monitor] }] }
        - ipBlock: { cidr: 10.0.0.0/8, except: [10.1.0.0/16] }
      ports:
        - { protocol: TCP, port: http }
        - { port: 9000, endPort: 9100 }
  egress:
    - to:
        - ipBlock: { cidr: 0.0.0.0/0 }
      ports:
        - { protocol: UDP, port: 53 }
`,
  PodDisruptionBudget: `
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: web
  namespace: shop
spec:
  selector: { matchLabels: { app: web } }
  minAvailable: 50%
  unhealthyPodEvictionPolicy: AlwaysAllow
`,
  HorizontalPodAutoscaler: `
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
  namespace: shop
spec:
  scaleTargetRef: { apiVersion: apps/v1, kind: Deployment, name: web }
  minReplicas: 2
  maxReplicas: 10
  metrics:
    - type: Resource
      resource: { name: cpu, target: { type: Utilization, averageUtilization: 50 } }
    - type: Resource
      resource: { name: memory, target: { type: AverageValue, averageValue: 200Mi } }
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 60
      policies: [{ type: Pods, value: 1, periodSeconds: 30 }]
    scaleUp:
      selectPolicy: Min
`,
  Ingress: `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: shop
  annotations:
    nginx.ingress.kubernetes.io/rewrite-target: /
spec:
  ingressClassName: nginx
  tls:
    - hosts: [shop.example.com]
      secretName: shop-tls
  rules:
    - host: shop.example.com
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service: { name: web, port: { number: 80 } }
          - path: /metrics
            pathType: Exact
            backend:
              service: { name: web, port: { name: metrics } }
    - host: "*.shop.example.com"
      http:
        paths:
          - pathType: ImplementationSpecific
            backend:
              service: { name: web, port: { number: 80 } }
`,
  StorageClass: `
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: fast
  annotations:
    storageclass.kubernetes.io/is-default-class: "false"
provisioner: rancher.io/local-path
reclaimPolicy: Retain
volumeBindingMode: WaitForFirstConsumer
`,
  PersistentVolume: `
apiVersion: v1
kind: PersistentVolume
metadata:
  name: backups
  labels: { tier: backup }
spec:
  capacity: { storage: 10Gi }
  accessModes: [ReadWriteOnce, ReadOnlyMany]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  local:
    path: /mnt/disks/backups
  nodeAffinity:
    required:
      nodeSelectorTerms:
        - matchExpressions:
            - { key: kubernetes.io/hostname, operator: In, values: [node-a] }
`,
  PersistentVolumeClaim: `
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: uploads
  namespace: shop
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: local-path
  resources:
    requests: { storage: 2Gi }
`,
  ReplicationController: `
apiVersion: v1
kind: ReplicationController
metadata:
  name: nginx
  namespace: shop
spec:
  replicas: 3
  selector:
    app: nginx
  template:
    metadata:
      labels: { app: nginx }
    spec:
      containers:
        - name: nginx
          image: nginx:1.27
          ports: [{ containerPort: 80 }]
`,
  LimitRange: `
apiVersion: v1
kind: LimitRange
metadata:
  name: cpu-mem
  namespace: shop
spec:
  limits:
    - type: Container
      default: { cpu: 500m, memory: 256Mi }
      defaultRequest: { cpu: 100m, memory: 128Mi }
      max: { cpu: "2", memory: 1Gi }
      min: { cpu: 50m }
      maxLimitRequestRatio: { cpu: "10" }
    - type: Pod
      max: { cpu: "4" }
    - type: PersistentVolumeClaim
      max: { storage: 10Gi }
`,
  ResourceQuota: `
apiVersion: v1
kind: ResourceQuota
metadata:
  name: compute
  namespace: shop
spec:
  hard:
    requests.cpu: "4"
    requests.memory: 8Gi
    limits.cpu: "8"
    pods: "20"
    configmaps: "10"
    count/deployments.apps: "5"
    gold.storageclass.storage.k8s.io/requests.storage: 100Gi
`,
  PriorityClass: `
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata:
  name: high-priority
value: 1000000
globalDefault: false
description: "For the storefront; preempts batch work."
preemptionPolicy: PreemptLowerPriority
`,
  Endpoints: `
apiVersion: v1
kind: Endpoints
metadata:
  name: external-db
  namespace: shop
subsets:
  - addresses:
      - ip: 192.168.10.5
      - ip: 192.168.10.6
    ports:
      - name: pg
        port: 5432
`,
  EndpointSlice: `
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: external-db-1
  namespace: shop
  labels:
    kubernetes.io/service-name: external-db
addressType: IPv4
ports:
  - name: pg
    protocol: TCP
    port: 5432
endpoints:
  - addresses: ["192.168.10.7"]
    conditions: { ready: true }
    hostname: db-b
`,
};

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function manifest(kind: string): Obj {
  return load(valid[kind]!) as Obj;
}

function keyOf(o: Obj): string | undefined {
  if (!o.metadata?.name) return undefined;
  return kindInfo(o.kind)?.namespaced === false ? `${o.kind}/${o.metadata.name}` : `${o.kind}/${o.metadata.namespace ?? 'default'}/${o.metadata.name}`;
}

function validate(obj: unknown): ManifestIssue[] {
  return validateObject(obj, { file: 'deploy/app.yaml', line: 7 });
}

describe('validateObject()', () => {
  describe('accepts realistic manifests', () => {
    for (const kind of Object.keys(valid)) {
      it(`accepts a valid ${kind}`, () => {
        assert.deepEqual(validate(manifest(kind)), []);
      });
    }

    it('accepts every macro schedule Kubernetes accepts', () => {
      for (const schedule of ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly', '0 0 1 JAN *', '5 4 * * sun']) {
        const cj = manifest('CronJob');
        cj.spec.schedule = schedule;
        assert.deepEqual(validate(cj), [], schedule);
      }
    });

    it('accepts server-owned metadata and status, which the normalizer drops', () => {
      const d = manifest('Deployment');
      Object.assign(d.metadata, { uid: 'a1b2', resourceVersion: '42', generation: 3, creationTimestamp: '2024-01-01T00:00:00Z' });
      d.status = { replicas: 3, readyReplicas: 3 };
      assert.deepEqual(validate(d), []);
    });

    it('accepts an ExternalName Service without ports', () => {
      const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'db' }, spec: { type: 'ExternalName', externalName: 'db.example.com' } };
      assert.deepEqual(validate(svc), []);
    });
  });

  it('expandSchedule() turns macros into the 5-field schedules they stand for', () => {
    assert.equal(expandSchedule('@midnight'), '0 0 * * *');
    assert.equal(expandSchedule('@hourly'), '0 * * * *');
    assert.equal(expandSchedule(' */5  * * * 1-5 '), '*/5 * * * 1-5');
  });

  it('covers every kind it reports as supported', () => {
    assert.deepEqual(supportedKinds().map((k) => k.kind).sort(), Object.keys(valid).sort());
    assert.deepEqual(supportedKinds().find((k) => k.kind === 'Ingress'), { kind: 'Ingress', apiVersion: 'networking.k8s.io/v1' });
  });

  describe('takes a HorizontalPodAutoscaler in autoscaling/v1 too', () => {
    const v1 = (): Obj => load(`
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: { name: web, namespace: shop }
spec:
  scaleTargetRef: { apiVersion: apps/v1, kind: Deployment, name: web }
  minReplicas: 1
  maxReplicas: 5
  targetCPUUtilizationPercentage: 60
`) as Obj;

    it('accepts a valid autoscaling/v1 autoscaler', () => {
      assert.deepEqual(validate(v1()), []);
    });

    it('names the v1 fields it checks, as the author wrote them', () => {
      const h = v1();
      h.spec.targetCPUUtilizationPercentage = 0;
      h.spec.metrics = [];
      assert.deepEqual(validate(h).map((i) => [i.field, i.message]), [
        ['spec.metrics', 'spec.metrics is not supported'],
        ['spec.targetCPUUtilizationPercentage', 'spec.targetCPUUtilizationPercentage must be greater than or equal to 1 (got 0)'],
      ]);
      const bounds = v1();
      bounds.spec.maxReplicas = 0;
      assert.deepEqual(validate(bounds).map((i) => i.field), ['spec.maxReplicas']);
    });

    it('names both accepted versions for any other', () => {
      const h = v1();
      h.apiVersion = 'autoscaling/v2beta2';
      assert.match(validate(h)[0]!.message, /^HorizontalPodAutoscaler must have apiVersion "autoscaling\/v2" or "autoscaling\/v1", not "autoscaling\/v2beta2"$/);
    });
  });

  it('names spec.template.spec.containers[0].resizePolicy as not supported', () => {
    const d = manifest('Deployment');
    d.spec.template.spec.containers[0].resizePolicy = [{ resourceName: 'cpu', restartPolicy: 'NotRequired' }];
    assert.deepEqual(validate(d), [{
      file: 'deploy/app.yaml',
      object: 'Deployment/shop/web',
      field: 'spec.template.spec.containers[0].resizePolicy',
      message: 'spec.template.spec.containers[0].resizePolicy is not supported',
    }]);
  });

  describe('rejects the apiVersion/kind pair', () => {
    const cases: { name: string; obj: unknown; field?: string; message: RegExp }[] = [
      { name: 'a document that is not a mapping', obj: ['a'], message: /must be a mapping/ },
      { name: 'a missing kind, listing supported kinds', obj: { apiVersion: 'v1', metadata: { name: 'x' } }, field: 'kind', message: /kind is required; supported kinds: Namespace \(v1\), .*Ingress \(networking\.k8s\.io\/v1\)/ },
      { name: 'a missing apiVersion', obj: { kind: 'Pod', metadata: { name: 'x' } }, field: 'apiVersion', message: /^apiVersion is required$/ },
      { name: 'an unknown kind, listing supported kinds', obj: { apiVersion: 'v1', kind: 'PodTemplate', metadata: { name: 'x' } }, field: 'kind', message: /kind "PodTemplate" is not supported; supported kinds: .*Deployment \(apps\/v1\)/ },
      { name: 'a kind gantry writes itself', obj: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'x' } }, field: 'kind', message: /kind Node is written by gantry itself/ },
      { name: 'a known kind with the wrong apiVersion, naming the expected one', obj: { apiVersion: 'extensions/v1beta1', kind: 'Deployment', metadata: { name: 'x' } }, field: 'apiVersion', message: /^Deployment must have apiVersion "apps\/v1", not "extensions\/v1beta1"$/ },
    ];
    for (const c of cases) {
      it(`rejects ${c.name}`, () => {
        const issues = validate(c.obj);
        assert.equal(issues.length, 1, JSON.stringify(issues));
        assert.equal(issues[0]!.field, c.field);
        assert.match(issues[0]!.message, c.message);
        assert.equal(issues[0]!.file, 'deploy/app.yaml');
        assert.equal(issues[0]!.line, c.field === undefined ? 7 : undefined, 'only whole-object issues carry the document line');
      });
    }
  });

  /** A failing case: start from a valid manifest of `kind`, break it, expect one issue. */
  interface Case {
    name: string;
    kind: string;
    mutate: (o: Obj) => void;
    field: string;
    message: string | RegExp;
  }

  const tpl = (o: Obj): Obj => o.spec.template.spec;
  const c0 = (o: Obj): Obj => tpl(o).containers[0];

  const schemaCases: Case[] = [
    { name: 'a metric target type outside the set', kind: 'HorizontalPodAutoscaler', mutate: (o) => { o.spec.metrics[0].resource.target.type = 'Percent'; }, field: 'spec.metrics[0].resource.target.type', message: /must be one of "Utilization", "Value", "AverageValue"/ },
    { name: 'a missing maxReplicas', kind: 'HorizontalPodAutoscaler', mutate: (o) => { delete o.spec.maxReplicas; }, field: 'spec.maxReplicas', message: 'spec.maxReplicas is required' },
    { name: 'a Pods metric source', kind: 'HorizontalPodAutoscaler', mutate: (o) => { o.spec.metrics[0] = { type: 'Pods', pods: { metric: { name: 'rps' } } }; }, field: 'spec.metrics[0].pods', message: 'spec.metrics[0].pods is not supported' },
    { name: 'an unknown unhealthyPodEvictionPolicy', kind: 'PodDisruptionBudget', mutate: (o) => { o.spec.unhealthyPodEvictionPolicy = 'Never'; }, field: 'spec.unhealthyPodEvictionPolicy', message: /must be one of/ },
    { name: 'a type error', kind: 'Deployment', mutate: (o) => { o.spec.replicas = '3'; }, field: 'spec.replicas', message: 'spec.replicas must be an integer (got "3")' },
    { name: 'a negative replica count', kind: 'Deployment', mutate: (o) => { o.spec.replicas = -1; }, field: 'spec.replicas', message: 'spec.replicas must be greater than or equal to 0 (got -1)' },
    { name: 'dnsPolicy None without nameservers', kind: 'Deployment', mutate: (o) => { o.spec.template.spec.dnsPolicy = 'None'; }, field: 'spec.template.spec.dnsConfig.nameservers', message: /at least one nameserver when `dnsPolicy` is 'None'/ },
    { name: 'a hostAlias that is not an address', kind: 'Deployment', mutate: (o) => { o.spec.template.spec.hostAliases = [{ ip: 'db', hostnames: ['db.local'] }]; }, field: 'spec.template.spec.hostAliases[0].ip', message: /must be a valid IPv4 address/ },
    { name: 'a missing selector', kind: 'Deployment', mutate: (o) => { delete o.spec.selector; }, field: 'spec.selector', message: 'spec.selector is required' },
    { name: 'a missing template', kind: 'StatefulSet', mutate: (o) => { delete o.spec.template; }, field: 'spec.template', message: 'spec.template is required' },
    { name: 'an empty container list', kind: 'ReplicaSet', mutate: (o) => { tpl(o).containers = []; }, field: 'spec.template.spec.containers', message: 'spec.template.spec.containers must not be empty' },
    { name: 'a missing image', kind: 'Deployment', mutate: (o) => { delete c0(o).image; }, field: 'spec.template.spec.containers[0].image', message: 'spec.template.spec.containers[0].image is required' },
    { name: 'an empty image', kind: 'Pod', mutate: (o) => { o.spec.containers[0].image = ''; }, field: 'spec.containers[0].image', message: 'spec.containers[0].image must not be empty' },
    { name: 'an enum value outside the allowed set, listing them', kind: 'Deployment', mutate: (o) => { o.spec.strategy.type = 'BlueGreen'; }, field: 'spec.strategy.type', message: 'spec.strategy.type must be one of "RollingUpdate", "Recreate" (got "BlueGreen")' },
    { name: 'a port out of range', kind: 'Deployment', mutate: (o) => { c0(o).ports[0].containerPort = 70000; }, field: 'spec.template.spec.containers[0].ports[0].containerPort', message: 'spec.template.spec.containers[0].ports[0].containerPort must be between 1 and 65535, inclusive (got 70000)' },
    { name: 'a missing CronJob schedule', kind: 'CronJob', mutate: (o) => { delete o.spec.schedule; }, field: 'spec.schedule', message: 'spec.schedule is required' },
    { name: 'a label value that is not a string, in map-key notation', kind: 'Deployment', mutate: (o) => { o.spec.template.metadata.labels.version = 2; }, field: 'spec.template.metadata.labels[version]', message: 'spec.template.metadata.labels[version] must be a string (got 2)' },
    { name: 'an unknown top-level field', kind: 'ConfigMap', mutate: (o) => { o.spec = {}; }, field: 'spec', message: 'spec is not supported' },
    { name: 'an unsupported volume source', kind: 'DaemonSet', mutate: (o) => { tpl(o).volumes[0].nfs = { server: 'nas', path: '/' }; }, field: 'spec.template.spec.volumes[0].nfs', message: 'spec.template.spec.volumes[0].nfs is not supported' },
    { name: 'a missing metadata.name', kind: 'Service', mutate: (o) => { delete o.metadata.name; }, field: 'metadata.name', message: 'metadata.name is required' },
    { name: 'a binding without roleRef', kind: 'RoleBinding', mutate: (o) => { delete o.roleRef; }, field: 'roleRef', message: 'roleRef is required' },
    { name: 'an unknown subject kind', kind: 'ClusterRoleBinding', mutate: (o) => { o.subjects[0].kind = 'Robot'; }, field: 'subjects[0].kind', message: /must be one of "ServiceAccount", "User", "Group"/ },
    { name: 'automountServiceAccountToken that is not a boolean', kind: 'ServiceAccount', mutate: (o) => { o.automountServiceAccountToken = 'no'; }, field: 'automountServiceAccountToken', message: /must be a boolean/ },
    { name: 'a missing Ingress pathType', kind: 'Ingress', mutate: (o) => { delete o.spec.rules[0].http.paths[0].pathType; }, field: 'spec.rules[0].http.paths[0].pathType', message: 'spec.rules[0].http.paths[0].pathType is required' },
  ];

  const ruleCases: Case[] = [
    // metadata
    { name: 'an invalid object name', kind: 'Deployment', mutate: (o) => { o.metadata.name = 'Web_App'; }, field: 'metadata.name', message: /^metadata\.name: invalid value "Web_App": a lowercase RFC 1123 subdomain must consist of/ },
    { name: 'a dotted Namespace name (labels only)', kind: 'Namespace', mutate: (o) => { o.metadata.name = 'team.a'; }, field: 'metadata.name', message: /a lowercase RFC 1123 label must consist of/ },
    { name: 'a Service name starting with a digit', kind: 'Service', mutate: (o) => { o.metadata.name = '1web'; }, field: 'metadata.name', message: /a DNS-1035 label must consist of/ },
    { name: 'a name longer than 253 characters', kind: 'ConfigMap', mutate: (o) => { o.metadata.name = 'a'.repeat(254); }, field: 'metadata.name', message: /must be no more than 253 characters/ },
    { name: 'a CronJob name longer than 52 characters', kind: 'CronJob', mutate: (o) => { o.metadata.name = 'a'.repeat(53); }, field: 'metadata.name', message: /must be no more than 52 characters/ },
    { name: 'an invalid namespace', kind: 'Pod', mutate: (o) => { o.metadata.namespace = 'Shop'; }, field: 'metadata.namespace', message: /metadata\.namespace: invalid value "Shop": a lowercase RFC 1123 label/ },
    { name: 'an invalid label key', kind: 'Deployment', mutate: (o) => { o.metadata.labels['-bad'] = 'x'; }, field: 'metadata.labels[-bad]', message: /name part must consist of alphanumeric characters/ },
    { name: 'a label key with a bad prefix', kind: 'Deployment', mutate: (o) => { o.metadata.labels['Example.com/app'] = 'x'; }, field: 'metadata.labels[Example.com/app]', message: /prefix part a lowercase RFC 1123 subdomain/ },
    { name: 'a label value longer than 63 characters', kind: 'Deployment', mutate: (o) => { o.metadata.labels.app = 'x'.repeat(64); }, field: 'metadata.labels[app]', message: /must be no more than 63 characters/ },
    { name: 'an invalid annotation key', kind: 'Ingress', mutate: (o) => { o.metadata.annotations['a/b/c'] = 'x'; }, field: 'metadata.annotations[a/b/c]', message: /a qualified name must consist of/ },
    // selectors
    { name: 'a selector that does not match the template labels', kind: 'Deployment', mutate: (o) => { o.spec.selector.matchLabels.app = 'api'; }, field: 'spec.template.metadata.labels', message: /`selector` does not match template `labels`/ },
    { name: 'a ReplicaSet selector that does not match', kind: 'ReplicaSet', mutate: (o) => { o.spec.template.metadata.labels = { tier: 'backend' }; }, field: 'spec.template.metadata.labels', message: /`selector` does not match template `labels`/ },
    { name: 'a StatefulSet selector that does not match', kind: 'StatefulSet', mutate: (o) => { delete o.spec.template.metadata; }, field: 'spec.template.metadata.labels', message: /`selector` does not match template `labels`/ },
    { name: 'a DaemonSet selector that does not match', kind: 'DaemonSet', mutate: (o) => { o.spec.selector = { matchExpressions: [{ key: 'name', operator: 'NotIn', values: ['log-agent'] }] }; }, field: 'spec.template.metadata.labels', message: /`selector` does not match template `labels`/ },
    { name: 'an empty workload selector', kind: 'Deployment', mutate: (o) => { o.spec.selector = {}; }, field: 'spec.selector', message: /empty selector is invalid/ },
    { name: 'an In expression without values', kind: 'Deployment', mutate: (o) => { o.spec.selector.matchExpressions[0].values = []; }, field: 'spec.selector.matchExpressions[0].values', message: /must be specified when `operator` is 'In' or 'NotIn'/ },
    { name: 'a manual Job selector that does not match', kind: 'Job', mutate: (o) => { o.spec.manualSelector = true; o.spec.selector = { matchLabels: { job: 'pi' } }; }, field: 'spec.template.metadata.labels', message: /`selector` does not match template `labels`/ },
    { name: 'a Job selector without manualSelector', kind: 'Job', mutate: (o) => { o.spec.selector = { matchLabels: { job: 'pi' } }; }, field: 'spec.selector', message: /`selector` will be auto-generated/ },
    // containers
    { name: 'duplicate container names across init and app containers', kind: 'Deployment', mutate: (o) => { tpl(o).initContainers[0].name = 'web'; }, field: 'spec.template.spec.containers[0].name', message: 'spec.template.spec.containers[0].name: duplicate value "web"' },
    { name: 'a container name that is not a DNS-1123 label', kind: 'Pod', mutate: (o) => { o.spec.containers[0].name = 'Shell'; }, field: 'spec.containers[0].name', message: /a lowercase RFC 1123 label/ },
    { name: 'a port name longer than 15 characters', kind: 'Deployment', mutate: (o) => { c0(o).ports[0].name = 'http-frontend-main'; c0(o).readinessProbe.httpGet.port = 8080; }, field: 'spec.template.spec.containers[0].ports[0].name', message: /must be no more than 15 characters/ },
    { name: 'a port name without a letter', kind: 'Deployment', mutate: (o) => { c0(o).ports[1].name = '9090'; }, field: 'spec.template.spec.containers[0].ports[1].name', message: /must contain at least one letter/ },
    { name: 'a port name with consecutive hyphens', kind: 'StatefulSet', mutate: (o) => { tpl(o).containers[0].ports[0].name = 'pg--main'; }, field: 'spec.template.spec.containers[0].ports[0].name', message: /must not contain consecutive hyphens/ },
    { name: 'duplicate port names', kind: 'Deployment', mutate: (o) => { c0(o).ports[1].name = 'http'; }, field: 'spec.template.spec.containers[0].ports[1].name', message: /duplicate value "http"/ },
    // resources
    { name: 'a quantity that does not parse', kind: 'Deployment', mutate: (o) => { c0(o).resources.limits.memory = '256MB'; }, field: 'spec.template.spec.containers[0].resources.limits[memory]', message: /invalid value "256MB": quantities must match/ },
    { name: 'requests above limits', kind: 'Deployment', mutate: (o) => { c0(o).resources.requests.cpu = '2'; }, field: 'spec.template.spec.containers[0].resources.requests[cpu]', message: /invalid value "2": must be less than or equal to cpu limit of 1/ },
    { name: 'an unknown resource name', kind: 'Deployment', mutate: (o) => { c0(o).resources.limits.gpu = 1; }, field: 'spec.template.spec.containers[0].resources.limits[gpu]', message: /must be a standard resource type/ },
    // volumes
    { name: 'duplicate volume names', kind: 'Deployment', mutate: (o) => { tpl(o).volumes.push({ name: 'config', emptyDir: {} }); }, field: 'spec.template.spec.volumes[2].name', message: /duplicate value "config"/ },
    { name: 'a volumeMount naming no volume', kind: 'Deployment', mutate: (o) => { c0(o).volumeMounts[1].name = 'scratch'; }, field: 'spec.template.spec.containers[0].volumeMounts[1].name', message: /not found: "scratch"/ },
    { name: 'a configMap item path with ".."', kind: 'Deployment', mutate: (o) => { tpl(o).volumes[0].configMap.items[0].path = '../etc/passwd'; }, field: 'spec.template.spec.volumes[0].configMap.items[0].path', message: /must not contain '\.\.'/ },
    { name: 'an absolute secret item path', kind: 'Pod', mutate: (o) => { o.spec.volumes = [{ name: 'tls', secret: { secretName: 'tls', items: [{ key: 'tls.crt', path: '/tls.crt' }] } }]; }, field: 'spec.volumes[0].secret.items[0].path', message: /must be a relative path/ },
    { name: 'a volume with two sources', kind: 'Deployment', mutate: (o) => { tpl(o).volumes[1].hostPath = { path: '/tmp' }; }, field: 'spec.template.spec.volumes[1]', message: /may not specify more than 1 volume type/ },
    // restart policies
    { name: 'a Deployment template restartPolicy other than Always', kind: 'Deployment', mutate: (o) => { tpl(o).restartPolicy = 'OnFailure'; }, field: 'spec.template.spec.restartPolicy', message: /invalid value "OnFailure": supported values: "Always"/ },
    { name: 'a DaemonSet template restartPolicy of Never', kind: 'DaemonSet', mutate: (o) => { tpl(o).restartPolicy = 'Never'; }, field: 'spec.template.spec.restartPolicy', message: /supported values: "Always"/ },
    { name: 'a Job without a restartPolicy', kind: 'Job', mutate: (o) => { delete tpl(o).restartPolicy; }, field: 'spec.template.spec.restartPolicy', message: /is required: supported values: "OnFailure", "Never"/ },
    { name: 'a CronJob job template with restartPolicy Always', kind: 'CronJob', mutate: (o) => { o.spec.jobTemplate.spec.template.spec.restartPolicy = 'Always'; }, field: 'spec.jobTemplate.spec.template.spec.restartPolicy', message: /invalid value "Always": supported values: "OnFailure", "Never"/ },
    // CronJob
    { name: 'a schedule with six fields', kind: 'CronJob', mutate: (o) => { o.spec.schedule = '0 */5 * * * *'; }, field: 'spec.schedule', message: /expected exactly 5 fields/ },
    { name: 'a schedule with an out-of-range minute', kind: 'CronJob', mutate: (o) => { o.spec.schedule = '61 * * * *'; }, field: 'spec.schedule', message: /spec\.schedule: invalid value "61 \* \* \* \*"/ },
    { name: 'an unknown schedule macro', kind: 'CronJob', mutate: (o) => { o.spec.schedule = '@fortnightly'; }, field: 'spec.schedule', message: /unrecognized descriptor/ },
    { name: 'a TZ prefix in the schedule', kind: 'CronJob', mutate: (o) => { o.spec.schedule = 'TZ=UTC 0 * * * *'; }, field: 'spec.schedule', message: /use the timeZone field instead/ },
    { name: 'an unknown time zone', kind: 'CronJob', mutate: (o) => { o.spec.timeZone = 'Mars/Olympus_Mons'; }, field: 'spec.timeZone', message: /unknown time zone/ },
    { name: 'the Local time zone', kind: 'CronJob', mutate: (o) => { o.spec.timeZone = 'Local'; }, field: 'spec.timeZone', message: /must be an explicit time zone/ },
    // Secret and ConfigMap
    { name: 'Secret data that is not base64', kind: 'Secret', mutate: (o) => { o.data.password = 's3cr3t!'; }, field: 'data[password]', message: /must be base64-encoded \(use stringData for plain text\)/ },
    { name: 'a ConfigMap key used in both data and binaryData', kind: 'ConfigMap', mutate: (o) => { o.binaryData.LOG_LEVEL = 'aW5mbw=='; }, field: 'binaryData[LOG_LEVEL]', message: /duplicate value "LOG_LEVEL"/ },
    { name: 'an invalid ConfigMap key', kind: 'ConfigMap', mutate: (o) => { o.data['conf/app.ini'] = 'x'; }, field: 'data[conf/app.ini]', message: /a valid config key must consist of/ },
    // Service
    { name: 'a Service without ports', kind: 'Service', mutate: (o) => { delete o.spec.ports; }, field: 'spec.ports', message: /spec\.ports is required/ },
    { name: 'an unnamed port among several', kind: 'Service', mutate: (o) => { delete o.spec.ports[1].name; }, field: 'spec.ports[1].name', message: /port names are required when a Service has more than one port/ },
    { name: 'duplicate Service port names', kind: 'Service', mutate: (o) => { o.spec.ports[1].name = 'http'; }, field: 'spec.ports[1].name', message: /duplicate value "http"/ },
    { name: 'a targetPort name that is not an IANA service name', kind: 'Service', mutate: (o) => { o.spec.ports[0].targetPort = 'HTTP'; }, field: 'spec.ports[0].targetPort', message: /must contain only alpha-numeric characters/ },
    { name: 'a targetPort number out of range', kind: 'Service', mutate: (o) => { o.spec.ports[1].targetPort = 0; }, field: 'spec.ports[1].targetPort', message: /must be between 1 and 65535, inclusive/ },
    { name: 'a clusterIP that is not an address', kind: 'Service', mutate: (o) => { o.spec.clusterIP = '10.96.0'; }, field: 'spec.clusterIP', message: /must be an IPv4 address or 'None'/ },
    { name: 'a headless NodePort Service', kind: 'Service', mutate: (o) => { o.spec.type = 'NodePort'; o.spec.clusterIP = 'None'; }, field: 'spec.clusterIP', message: /may not be 'None' when `type` is 'NodePort'/ },
    { name: 'clusterIPs that disagree with clusterIP', kind: 'Service', mutate: (o) => { o.spec.clusterIP = '10.96.0.20'; o.spec.clusterIPs = ['10.96.0.21']; }, field: 'spec.clusterIPs[0]', message: /must match `clusterIP`/ },
    { name: 'a nodePort outside the node port range', kind: 'Service', mutate: (o) => { o.spec.type = 'NodePort'; o.spec.ports[0].nodePort = 8080; }, field: 'spec.ports[0].nodePort', message: /must be in the node port range 30000-32767/ },
    { name: 'externalTrafficPolicy on a ClusterIP Service', kind: 'Service', mutate: (o) => { o.spec.externalTrafficPolicy = 'Local'; }, field: 'spec.externalTrafficPolicy', message: /may only be set when `type` is 'NodePort'/ },
    { name: 'an invalid Service selector label', kind: 'Service', mutate: (o) => { o.spec.selector.app = 'web app'; }, field: 'spec.selector[app]', message: /a valid label must be an empty string or consist of/ },
    // NetworkPolicy
    { name: 'an ipBlock except outside its cidr', kind: 'NetworkPolicy', mutate: (o) => { o.spec.ingress[0].from[2].ipBlock.except = ['192.168.0.0/16']; }, field: 'spec.ingress[0].from[2].ipBlock.except[0]', message: /must be a strict subset of 10\.0\.0\.0\/8/ },
    { name: 'an endPort below its port', kind: 'NetworkPolicy', mutate: (o) => { o.spec.ingress[0].ports[1].endPort = 8000; }, field: 'spec.ingress[0].ports[1].endPort', message: /must be greater than or equal to `port`/ },
    { name: 'an ipBlock cidr that is not one', kind: 'NetworkPolicy', mutate: (o) => { o.spec.egress[0].to[0].ipBlock.cidr = '0.0.0.0'; }, field: 'spec.egress[0].to[0].ipBlock.cidr', message: /must be an IPv4 CIDR/ },
    // PodDisruptionBudget
    { name: 'both minAvailable and maxUnavailable', kind: 'PodDisruptionBudget', mutate: (o) => { o.spec.maxUnavailable = 1; }, field: 'spec.maxUnavailable', message: /minAvailable and maxUnavailable cannot be both set/ },
    { name: 'a minAvailable above 100%', kind: 'PodDisruptionBudget', mutate: (o) => { o.spec.minAvailable = '120%'; }, field: 'spec.minAvailable', message: /must not be greater than 100%/ },
    { name: 'a negative maxUnavailable', kind: 'PodDisruptionBudget', mutate: (o) => { delete o.spec.minAvailable; o.spec.maxUnavailable = -1; }, field: 'spec.maxUnavailable', message: /must be greater than or equal to 0/ },
    { name: 'a malformed minAvailable percent', kind: 'PodDisruptionBudget', mutate: (o) => { o.spec.minAvailable = 'half'; }, field: 'spec.minAvailable', message: /a valid percent string/ },
    // HorizontalPodAutoscaler
    { name: 'maxReplicas below minReplicas', kind: 'HorizontalPodAutoscaler', mutate: (o) => { o.spec.maxReplicas = 1; }, field: 'spec.maxReplicas', message: 'spec.maxReplicas: invalid value 1: must be greater than or equal to `minReplicas` (2)' },
    { name: 'minReplicas 0', kind: 'HorizontalPodAutoscaler', mutate: (o) => { o.spec.minReplicas = 0; }, field: 'spec.minReplicas', message: /must be greater than or equal to 1/ },
    { name: 'a target gantry does not scale', kind: 'HorizontalPodAutoscaler', mutate: (o) => { o.spec.scaleTargetRef.kind = 'DaemonSet'; }, field: 'spec.scaleTargetRef.kind', message: /unsupported value "DaemonSet": gantry scales "Deployment", "StatefulSet", "ReplicaSet"/ },
    { name: 'a Deployment named in the core group', kind: 'HorizontalPodAutoscaler', mutate: (o) => { o.spec.scaleTargetRef.apiVersion = 'v1'; }, field: 'spec.scaleTargetRef.apiVersion', message: /Deployment is in API group apps/ },
    { name: 'a metric gantry cannot measure', kind: 'HorizontalPodAutoscaler', mutate: (o) => { o.spec.metrics[1].resource.name = 'ephemeral-storage'; }, field: 'spec.metrics[1].resource.name', message: /supported values: "cpu", "memory"/ },
    { name: 'a Pods metric', kind: 'HorizontalPodAutoscaler', mutate: (o) => { o.spec.metrics[0] = { type: 'External' }; }, field: 'spec.metrics[0].type', message: /gantry measures Resource metrics/ },
    { name: 'a utilization of 0%', kind: 'HorizontalPodAutoscaler', mutate: (o) => { o.spec.metrics[0].resource.target.averageUtilization = 0; }, field: 'spec.metrics[0].resource.target.averageUtilization', message: /must be greater than 0/ },
    { name: 'both a utilization and an average value', kind: 'HorizontalPodAutoscaler', mutate: (o) => { o.spec.metrics[0].resource.target.averageValue = '100m'; }, field: 'spec.metrics[0].resource.target.averageValue', message: /may not set both/ },
    { name: 'a target without a value', kind: 'HorizontalPodAutoscaler', mutate: (o) => { delete o.spec.metrics[1].resource.target.averageValue; }, field: 'spec.metrics[1].resource.target.averageUtilization', message: /must set either a target raw value or a target utilization/ },
    { name: 'an average value of zero', kind: 'HorizontalPodAutoscaler', mutate: (o) => { o.spec.metrics[1].resource.target.averageValue = '0'; }, field: 'spec.metrics[1].resource.target.averageValue', message: /must be positive/ },
    { name: 'a stabilization window over an hour', kind: 'HorizontalPodAutoscaler', mutate: (o) => { o.spec.behavior.scaleDown.stabilizationWindowSeconds = 3601; }, field: 'spec.behavior.scaleDown.stabilizationWindowSeconds', message: /must be less than or equal to 3600/ },
    { name: 'a policy period of 0', kind: 'HorizontalPodAutoscaler', mutate: (o) => { o.spec.behavior.scaleDown.policies[0].periodSeconds = 0; }, field: 'spec.behavior.scaleDown.policies[0].periodSeconds', message: /must be greater than zero/ },
    { name: 'an empty policy list', kind: 'HorizontalPodAutoscaler', mutate: (o) => { o.spec.behavior.scaleDown.policies = []; }, field: 'spec.behavior.scaleDown.policies', message: /must specify at least one Policy/ },
    // Ingress
    { name: 'a Prefix path not starting with /', kind: 'Ingress', mutate: (o) => { o.spec.rules[0].http.paths[0].path = 'api'; }, field: 'spec.rules[0].http.paths[0].path', message: /must be an absolute path/ },
    { name: 'an Exact path left out', kind: 'Ingress', mutate: (o) => { delete o.spec.rules[0].http.paths[1].path; }, field: 'spec.rules[0].http.paths[1].path', message: /is required: when `pathType` is 'Exact'/ },
    { name: 'a backend port with both number and name', kind: 'Ingress', mutate: (o) => { o.spec.rules[0].http.paths[0].backend.service.port.name = 'http'; }, field: 'spec.rules[0].http.paths[0].backend.service.port', message: /must specify exactly one of `number` or `name`/ },
    { name: 'a backend port with neither number nor name', kind: 'Ingress', mutate: (o) => { o.spec.rules[0].http.paths[0].backend.service.port = {}; }, field: 'spec.rules[0].http.paths[0].backend.service.port', message: /must specify exactly one of `number` or `name`/ },
    // probes
    { name: 'a probe with two handlers', kind: 'Deployment', mutate: (o) => { c0(o).livenessProbe.exec = { command: ['true'] }; }, field: 'spec.template.spec.containers[0].livenessProbe', message: /may not specify more than 1 handler type/ },
    { name: 'a probe with no handler', kind: 'Deployment', mutate: (o) => { c0(o).readinessProbe = { periodSeconds: 5 }; }, field: 'spec.template.spec.containers[0].readinessProbe', message: /must specify a handler type/ },
    { name: 'a liveness probe successThreshold above 1', kind: 'Deployment', mutate: (o) => { c0(o).livenessProbe.successThreshold = 2; }, field: 'spec.template.spec.containers[0].livenessProbe.successThreshold', message: /must be 1/ },
    // env
    { name: 'an env var name starting with a digit', kind: 'Deployment', mutate: (o) => { c0(o).env[0].name = '1LOG'; }, field: 'spec.template.spec.containers[0].env[0].name', message: /a valid environment variable name must consist of/ },
    { name: 'an envFrom with both configMapRef and secretRef', kind: 'Deployment', mutate: (o) => { c0(o).envFrom[0].secretRef = { name: 'db-credentials' }; }, field: 'spec.template.spec.containers[0].envFrom[0]', message: /must specify exactly one of: `configMapRef` or `secretRef`/ },
    { name: 'an envFrom with no source', kind: 'Deployment', mutate: (o) => { tpl(o).initContainers[0].envFrom = [{ prefix: 'DB_' }]; }, field: 'spec.template.spec.initContainers[0].envFrom[0]', message: /must specify exactly one of/ },
    { name: 'an env var with both value and valueFrom', kind: 'Deployment', mutate: (o) => { c0(o).env[1].value = 'x'; }, field: 'spec.template.spec.containers[0].env[1].valueFrom', message: /may not be specified when `value` is not empty/ },
    // rollout strategy
    { name: 'maxSurge and maxUnavailable both zero', kind: 'Deployment', mutate: (o) => { o.spec.strategy.rollingUpdate.maxSurge = 0; }, field: 'spec.strategy.rollingUpdate.maxUnavailable', message: /may not be 0 when `maxSurge` is 0/ },
    { name: 'a malformed percentage', kind: 'Deployment', mutate: (o) => { o.spec.strategy.rollingUpdate.maxSurge = '25 percent'; }, field: 'spec.strategy.rollingUpdate.maxSurge', message: /a valid percent string/ },
    { name: 'rollingUpdate with the Recreate strategy', kind: 'Deployment', mutate: (o) => { o.spec.strategy.type = 'Recreate'; }, field: 'spec.strategy.rollingUpdate', message: /may not be specified when strategy `type` is 'Recreate'/ },
    // service accounts and RBAC
    { name: 'a serviceAccountName that is not a DNS subdomain', kind: 'Pod', mutate: (o) => { o.spec.serviceAccountName = 'Reader_1'; }, field: 'spec.serviceAccountName', message: /^spec\.serviceAccountName: invalid value "Reader_1": a lowercase RFC 1123 subdomain/ },
    { name: 'a rule without verbs', kind: 'Role', mutate: (o) => { o.rules[0].verbs = []; }, field: 'rules[0].verbs', message: 'rules[0].verbs is required: verbs must contain at least one value' },
    { name: 'a resource rule without API groups', kind: 'Role', mutate: (o) => { delete o.rules[0].apiGroups; }, field: 'rules[0].apiGroups', message: /resource rules must supply at least one api group/ },
    { name: 'a resource rule without resources', kind: 'ClusterRole', mutate: (o) => { o.rules[0].resources = []; }, field: 'rules[0].resources', message: /at least one resource/ },
    { name: 'non-resource URLs in a namespaced Role', kind: 'Role', mutate: (o) => { o.rules[1] = { nonResourceURLs: ['/healthz'], verbs: ['get'] }; }, field: 'rules[1].nonResourceURLs', message: /namespaced rules cannot apply to non-resource URLs/ },
    { name: 'a rule for both resources and non-resource URLs', kind: 'ClusterRole', mutate: (o) => { o.rules[1].resources = ['pods']; }, field: 'rules[1].nonResourceURLs', message: /cannot apply to both regular resources and non-resource URLs/ },
    { name: 'a roleRef in another API group', kind: 'RoleBinding', mutate: (o) => { o.roleRef.apiGroup = 'rbac.authorization.k8s.io/v1'; }, field: 'roleRef.apiGroup', message: /supported values: "rbac\.authorization\.k8s\.io"/ },
    { name: 'a ClusterRoleBinding of a Role', kind: 'ClusterRoleBinding', mutate: (o) => { o.roleRef.kind = 'Role'; }, field: 'roleRef.kind', message: /supported values: "ClusterRole"/ },
    { name: 'a ServiceAccount subject without namespace in a ClusterRoleBinding', kind: 'ClusterRoleBinding', mutate: (o) => { delete o.subjects[0].namespace; }, field: 'subjects[0].namespace', message: /names its namespace/ },
    { name: 'a User subject without the RBAC API group', kind: 'RoleBinding', mutate: (o) => { delete o.subjects[1].apiGroup; }, field: 'subjects[1].apiGroup', message: /supported values: "rbac\.authorization\.k8s\.io"/ },
    { name: 'a ServiceAccount subject with an API group', kind: 'RoleBinding', mutate: (o) => { o.subjects[0].apiGroup = 'rbac.authorization.k8s.io'; }, field: 'subjects[0].apiGroup', message: /a ServiceAccount is in the core group/ },
    { name: 'a Role name with a slash', kind: 'Role', mutate: (o) => { o.metadata.name = 'team/reader'; }, field: 'metadata.name', message: /may not contain '\/'/ },
  ];

  for (const [group, cases] of [['schema', schemaCases], ['semantic', ruleCases]] as const) {
    describe(`reports ${group} problems with the field and a message`, () => {
      for (const c of cases) {
        it(`names ${c.field} for ${c.name} (${c.kind})`, () => {
          const obj = manifest(c.kind);
          c.mutate(obj);
          const issues = validate(obj);
          assert.equal(issues.length, 1, `expected one issue, got ${JSON.stringify(issues, null, 2)}`);
          const [issue] = issues;
          assert.equal(issue!.field, c.field);
          if (typeof c.message === 'string') assert.equal(issue!.message, c.message);
          else assert.match(issue!.message, c.message);
          assert.equal(issue!.file, 'deploy/app.yaml');
          assert.equal(issue!.object, keyOf(obj));
        });
      }
    });
  }

  it('lets a StatefulSet mount a volume from its claim templates', () => {
    const s = manifest('StatefulSet');
    assert.deepEqual(validate(s), []);
    s.spec.volumeClaimTemplates[0].metadata.name = 'pgdata';
    assert.equal(validate(s)[0]?.field, 'spec.template.spec.containers[0].volumeMounts[0].name');
  });

  it('reports every unsupported field at once, each once', () => {
    const d = manifest('Deployment');
    d.spec.template.spec.containers[0].resizePolicy = [];
    d.spec.template.spec.shareProcessNamespace = true;
    d.spec.template.spec.containers[0].ports[0].containerPort = 'http';
    const issues = validate(d);
    assert.deepEqual(issues.map((i) => i.field).sort(), [
      'spec.template.spec.containers[0].ports[0].containerPort',
      'spec.template.spec.containers[0].resizePolicy',
      'spec.template.spec.shareProcessNamespace',
    ]);
  });

  it('skips the semantic rules until the schema passes, so rules never see a malformed object', () => {
    const d = manifest('Deployment');
    d.spec.template.spec.containers = 'web';
    d.metadata.name = 'Bad_Name';
    assert.deepEqual(validate(d).map((i) => i.field), ['spec.template.spec.containers']);
  });

  it('compiled validators are up to date with schemas/ (regenerate: npx tsx src/sync/validate-codegen.ts)', () => {
    const committed = readFileSync(COMPILED_MODULE_PATH, 'utf8');
    assert.ok(committed === generateValidatorModule(), 'src/sync/validate-compiled.ts is stale: run npx tsx src/sync/validate-codegen.ts');
  });
});
