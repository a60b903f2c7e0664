import assert from 'node:assert/strict';
import { applyDefaults, pullPolicyFor } from '../../src/model/defaults.js';
import type { KubeObject } from '../../src/model/types.js';

const podSpec = () => ({
  containers: [{
    name: 'web',
    image: 'nginx:1.25',
    ports: [{ containerPort: 80 }],
    livenessProbe: { httpGet: { port: 80 } },
    env: [{ name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }],
  }],
  volumes: [{ name: 'cfg', configMap: { name: 'cfg' } }, { name: 'tls', secret: { secretName: 'tls' } }, { name: 'scratch' }],
});

const template = () => ({ metadata: { labels: { app: 'web' } }, spec: podSpec() });

/** One manifest per supported kind, as a user would write it (no defaults spelled out). */
const manifests: Record<string, KubeObject> = {
  Namespace: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'prod', namespace: 'ignored' } },
  ConfigMap: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg' }, data: { a: 'b' } },
  Secret: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: { a: 'YQ==' }, stringData: { b: 'plain', a: 'over' } },
  Pod: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { ...podSpec(), containers: [{ name: 'c', image: 'busybox', resources: { limits: { cpu: '1', memory: '64Mi' } } }] } },
  Deployment: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { selector: { matchLabels: { app: 'web' } }, template: template() } },
  ReplicaSet: { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'rs' }, spec: { selector: { matchLabels: { app: 'web' } }, template: template() } },
  StatefulSet: {
    apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db' },
    spec: { selector: { matchLabels: { app: 'web' } }, serviceName: 'db', template: template(), volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }] },
  },
  DaemonSet: { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'agent' }, spec: { selector: { matchLabels: { app: 'web' } }, template: template() } },
  Job: { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'once' }, spec: { template: { ...template(), spec: { ...podSpec(), restartPolicy: 'Never' } } } },
  CronJob: { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'nightly' }, spec: { schedule: '0 3 * * *', jobTemplate: { spec: { template: { spec: { ...podSpec(), restartPolicy: 'OnFailure' } } } } } },
  Service: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }, { port: 443, targetPort: 'https', protocol: 'TCP' }] } },
  Ingress: {
    apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'web' },
    spec: { rules: [{ host: 'a.example', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }] },
  },
};

function at(obj: unknown, path: string): unknown {
  let node: unknown = obj;
  for (const seg of path.split('.')) node = node === undefined || node === null ? undefined : (node as Record<string, unknown>)[seg];
  return node;
}

describe('model/defaults', () => {
  describe('applyDefaults() fills what the Kubernetes API server fills', () => {
    const cases: [kind: string, path: string, want: unknown][] = [
      ['Deployment', 'metadata.namespace', 'default'],
      ['Namespace', 'metadata.namespace', undefined],
      ['Deployment', 'spec.replicas', 1],
      ['Deployment', 'spec.strategy', { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } }],
      ['Deployment', 'spec.revisionHistoryLimit', 10],
      ['Deployment', 'spec.progressDeadlineSeconds', 600],
      ['Deployment', 'spec.template.spec.restartPolicy', 'Always'],
      ['Deployment', 'spec.template.spec.terminationGracePeriodSeconds', 30],
      ['Deployment', 'spec.template.spec.dnsPolicy', 'ClusterFirst'],
      ['Deployment', 'spec.template.spec.schedulerName', 'default-scheduler'],
      ['Deployment', 'spec.template.spec.securityContext', {}],
      ['Deployment', 'spec.template.spec.containers.0.imagePullPolicy', 'IfNotPresent'],
      ['Deployment', 'spec.template.spec.containers.0.terminationMessagePath', '/dev/termination-log'],
      ['Deployment', 'spec.template.spec.containers.0.terminationMessagePolicy', 'File'],
      ['Deployment', 'spec.template.spec.containers.0.ports.0.protocol', 'TCP'],
      ['Deployment', 'spec.template.spec.containers.0.env.0.valueFrom.fieldRef.apiVersion', 'v1'],
      ['Deployment', 'spec.template.spec.containers.0.livenessProbe', { httpGet: { port: 80, path: '/', scheme: 'HTTP' }, timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 }],
      ['Deployment', 'spec.template.spec.volumes.0.configMap.defaultMode', 420],
      ['Deployment', 'spec.template.spec.volumes.1.secret.defaultMode', 420],
      ['Deployment', 'spec.template.spec.volumes.2.emptyDir', {}],
      ['ReplicaSet', 'spec.replicas', 1],
      ['ReplicaSet', 'spec.template.spec.restartPolicy', 'Always'],
      ['StatefulSet', 'spec.replicas', 1],
      ['StatefulSet', 'spec.podManagementPolicy', 'OrderedReady'],
      ['StatefulSet', 'spec.updateStrategy', { type: 'RollingUpdate', rollingUpdate: { partition: 0 } }],
      ['StatefulSet', 'spec.revisionHistoryLimit', 10],
      ['StatefulSet', 'spec.volumeClaimTemplates.0.spec.volumeMode', 'Filesystem'],
      ['DaemonSet', 'spec.updateStrategy', { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } }],
      ['DaemonSet', 'spec.revisionHistoryLimit', 10],
      ['Job', 'spec.completions', 1],
      ['Job', 'spec.parallelism', 1],
      ['Job', 'spec.backoffLimit', 6],
      ['Job', 'spec.completionMode', 'NonIndexed'],
      ['Job', 'spec.suspend', false],
      ['Job', 'spec.selector', undefined],
      ['Job', 'spec.template.spec.restartPolicy', 'Never'],
      ['Job', 'spec.template.spec.dnsPolicy', 'ClusterFirst'],
      ['CronJob', 'spec.concurrencyPolicy', 'Allow'],
      ['CronJob', 'spec.suspend', false],
      ['CronJob', 'spec.successfulJobsHistoryLimit', 3],
      ['CronJob', 'spec.failedJobsHistoryLimit', 1],
      ['CronJob', 'spec.jobTemplate.spec.backoffLimit', undefined],
      ['CronJob', 'spec.jobTemplate.spec.template.spec.terminationGracePeriodSeconds', 30],
      ['Service', 'spec.type', 'ClusterIP'],
      ['Service', 'spec.sessionAffinity', 'None'],
      ['Service', 'spec.ports', [{ port: 80, protocol: 'TCP', targetPort: 80 }, { port: 443, targetPort: 'https', protocol: 'TCP' }]],
      ['Secret', 'type', 'Opaque'],
      ['Secret', 'stringData', undefined],
      ['Secret', 'data', { a: Buffer.from('over').toString('base64'), b: Buffer.from('plain').toString('base64') }],
      ['Pod', 'spec.containers.0.imagePullPolicy', 'Always'],
      ['Pod', 'spec.containers.0.resources.requests', { cpu: '1', memory: '64Mi' }],
      ['Ingress', 'spec.rules.0.http.paths.0.pathType', 'Prefix'],
      ['ConfigMap', 'data', { a: 'b' }],
    ];
    for (const [kind, path, want] of cases) {
      it(`${kind} ${path} is ${JSON.stringify(want)}`, () => {
        assert.deepEqual(at(applyDefaults(manifests[kind]!), path), want);
      });
    }
  });

  it('applyDefaults() never modifies its input', () => {
    for (const obj of Object.values(manifests)) {
      const before = structuredClone(obj);
      applyDefaults(obj);
      assert.deepEqual(obj, before);
    }
  });

  it('applyDefaults() is idempotent for every supported kind', () => {
    for (const obj of Object.values(manifests)) {
      const once = applyDefaults(obj);
      assert.deepEqual(applyDefaults(once), once, obj.kind);
    }
  });

  it('applyDefaults() keeps what the manifest sets over the default', () => {
    const d = applyDefaults({
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'prod' },
      spec: { replicas: 0, strategy: { type: 'Recreate' }, selector: {}, template: { spec: { containers: [{ name: 'c', image: 'x:latest', imagePullPolicy: 'Never' }], restartPolicy: 'Always' } } },
    });
    assert.equal(d.metadata.namespace, 'prod');
    assert.deepEqual((d.spec as { replicas: number }).replicas, 0);
    assert.deepEqual((d.spec as { strategy: unknown }).strategy, { type: 'Recreate' });
    assert.equal(at(d, 'spec.template.spec.containers.0.imagePullPolicy'), 'Never');
  });

  it('a Job with parallelism but no completions keeps completions unset (a work queue)', () => {
    const j = applyDefaults({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'q' }, spec: { parallelism: 3, template: { spec: { containers: [], restartPolicy: 'Never' } } } });
    assert.equal(at(j, 'spec.completions'), undefined);
    assert.equal(at(j, 'spec.parallelism'), 3);
  });

  it('a Job without labels takes its pod template labels, as Kubernetes does', () => {
    assert.deepEqual(applyDefaults(manifests.Job!).metadata.labels, { app: 'web' });
  });

  it('host-network pods spell container ports out as host ports', () => {
    const p = applyDefaults({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'h' }, spec: { hostNetwork: true, containers: [{ name: 'c', image: 'x:1', ports: [{ containerPort: 9100 }] }] } });
    assert.equal(at(p, 'spec.containers.0.ports.0.hostPort'), 9100);
  });

  const pullCases: [string, string][] = [
    ['nginx', 'Always'],
    ['nginx:latest', 'Always'],
    ['nginx:1.25', 'IfNotPresent'],
    ['registry.local:5000/team/app', 'Always'],
    ['registry.local:5000/team/app:2', 'IfNotPresent'],
    ['nginx@sha256:0123', 'IfNotPresent'],
    ['nginx:latest@sha256:0123', 'IfNotPresent'],
  ];
  for (const [image, want] of pullCases) {
    it(`image ${image} is pulled ${want} by default`, () => assert.equal(pullPolicyFor(image), want));
  }
});
