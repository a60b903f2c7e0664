/**
 * `gantry describe`'s pages against what kubectl v1.32 prints for the same objects (the expected
 * texts below are kubectl's output through gantry's API, with the ages at the fixtures' clock),
 * and the Go-tabwriter alignment they rest on.
 */
import assert from 'node:assert/strict';
import { describeObject, eventsFor, probeText, qosClass, selectorText } from '../../src/cli/describe.js';
import { alignTabs } from '../../src/cli/printers.js';
import type { HorizontalPodAutoscaler, Pod } from '../../src/model/types.js';
import * as f from '../fixtures/describe-objects.js';

const allEvents = [...f.podEvents, ...f.deploymentEvents, ...f.nodeEvents];
const now = f.NOW;

describe('gantry describe pages', () => {
  it('a HorizontalPodAutoscaler reads as kubectl describe hpa prints it: metrics current / target, behavior, pods, conditions', () => {
    const hpa: HorizontalPodAutoscaler = {
      apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'web', namespace: 'shop', creationTimestamp: '2026-11-30T11:50:02Z' },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, minReplicas: 1, maxReplicas: 5,
        metrics: [
          { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } },
          { type: 'Resource', resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '128Mi' } } },
        ],
        behavior: { scaleDown: { stabilizationWindowSeconds: 60, selectPolicy: 'Max', policies: [{ type: 'Pods', value: 1, periodSeconds: 30 }] } },
      },
      status: {
        currentReplicas: 2, desiredReplicas: 3,
        currentMetrics: [{ type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: 84, averageValue: '42m' } } }, { type: 'Resource', resource: { name: 'memory', current: { averageValue: '31457280' } } }],
        conditions: [
          { type: 'AbleToScale', status: 'True', reason: 'SucceededRescale', message: 'the HPA controller was able to update the target scale to 3' },
          { type: 'ScalingActive', status: 'True', reason: 'ValidMetricFound', message: 'the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)' },
        ],
      },
    };
    assert.equal(describeObject(hpa, { now }), [
      'Name:                                                  web',
      'Namespace:                                             shop',
      'Labels:                                                <none>',
      'Annotations:                                           <none>',
      'CreationTimestamp:                                     Mon, 30 Nov 2026 11:50:02 +0000',
      'Reference:                                             Deployment/web',
      'Metrics:                                               ( current / target )',
      '  resource cpu on pods  (as a percentage of request):  84% (42m) / 50%',
      '  resource memory on pods:                             31457280 / 128Mi',
      'Min replicas:                                          1',
      'Max replicas:                                          5',
      'Behavior:',
      '  Scale Down:',
      '    Stabilization Window: 60 seconds',
      '    Select Policy: Max',
      '    Policies:',
      '      - Type: Pods  Value: 1  Period: 30 seconds',
      // Go's tabwriter: the policy line above sizes this cell, the conditions the Events one.
      'Deployment pods:    2 current / 3 desired',
      'Conditions:',
      '  Type           Status  Reason            Message',
      '  ----           ------  ------            -------',
      '  AbleToScale    True    SucceededRescale  the HPA controller was able to update the target scale to 3',
      '  ScalingActive  True    ValidMetricFound  the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)',
      'Events:          <none>',
    ].join('\n'));
  });

  it('alignTabs() sizes a column by the block of consecutive lines that have it, as Go\'s tabwriter', () => {
    const text = 'Name:\tweb\nA much longer key:\tv\nBreak:\nK:\tv2\n  nested:\tx\tlast cell\n  n:\ty\tz';
    assert.equal(alignTabs(text), [
      'Name:               web',
      'A much longer key:  v',
      'Break:',
      'K:         v2',
      '  nested:  x  last cell',
      '  n:       y  z',
    ].join('\n'));
  });

  it('a pod of two containers reads as kubectl describe pod prints it, events sorted by last seen', () => {
    const text = describeObject(f.pod, { events: eventsFor(f.pod, allEvents), now });
    const head = text.split('\n').slice(0, 30).join('\n');
    assert.equal(head, [
      'Name:         web-6d4cf56db6-x7k2p',
      'Namespace:    shop',
      'Priority:     0',
      'Node:         node-a/192.168.1.10',
      'Start Time:   Mon, 30 Nov 2026 11:50:02 +0000',
      'Labels:       app=web',
      '              pod-template-hash=6d4cf56db6',
      'Annotations:  gantry.dev/source-path: web/deployment.yaml',
      'Status:       Running',
      'IP:           10.244.0.12',
      'IPs:',
      '  IP:           10.244.0.12',
      'Controlled By:  ReplicaSet/web-6d4cf56db6',
      'Containers:',
      '  web:',
      '    Container ID:  containerd://web-0',
      '    Image:         registry.local/web:1.4.2',
      '    Image ID:      registry.local/web@sha256:1111111111111111111111111111111111111111111111111111111111111111',
      '    Port:          8080/TCP',
      '    Host Port:     0/TCP',
      '    Command:',
      '      /bin/httpd',
      '    Args:',
      '      -f',
      '      -p',
      '      8080',
      '    State:          Running',
      '      Started:      Mon, 30 Nov 2026 11:50:04 +0000',
      '    Ready:          True',
      '    Restart Count:  0',
    ].join('\n'));
    assert.ok(text.includes([
      '    Environment:',
      '      MODE:         production',
      '      DB_PASSWORD:  <set to the key \'password\' in secret \'db\'>  Optional: false',
      '      POD_IP:        (v1:status.podIP)',
      '    Mounts:',
      '      /etc/web from config (ro)',
      '      /var/cache from cache (rw)',
    ].join('\n')), text);
    assert.ok(text.includes([
      '    Last State:     Terminated',
      '      Reason:       Error',
      '      Exit Code:    137',
      '      Started:      Mon, 30 Nov 2026 11:50:04 +0000',
      '      Finished:     Mon, 30 Nov 2026 11:57:49 +0000',
      '    Ready:          False',
      '    Restart Count:  1',
      '    Readiness:      exec [cat /tmp/ready] delay=0s timeout=1s period=10s #success=1 #failure=3',
    ].join('\n')), text);
    assert.ok(text.includes('    Liveness:   http-get http://:http/healthz delay=5s timeout=1s period=10s #success=1 #failure=3\n'));
    assert.ok(text.endsWith([
      'QoS Class:       Burstable',
      'Node-Selectors:  kubernetes.io/os=linux',
      'Tolerations:     dedicated=web:NoSchedule',
      '                 node.kubernetes.io/not-ready:NoExecute op=Exists for 300s',
      'Events:',
      '  Type     Reason     Age                   From               Message',
      '  ----     ------     ----                  ----               -------',
      '  Normal   Scheduled  10m                   default-scheduler  Successfully assigned shop/web-6d4cf56db6-x7k2p to node-a',
      '  Normal   Pulled     9m57s                 kubelet            Container image "registry.local/web:1.4.2" already present on machine',
      '  Normal   Killing    2m11s                 kubelet            Container sidecar failed liveness probe, will be restarted',
      '  Warning  Unhealthy  20s (x57 over 9m50s)  kubelet            Readiness probe failed: cat: can\'t open \'/tmp/ready\': No such file or directory',
    ].join('\n')), text.slice(-1200));
  });

  it('a pod without events says <none>, and with no resources is BestEffort', () => {
    const bare: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } };
    const text = describeObject(bare, { now });
    assert.match(text, /\nNode: +<none>\n/);
    assert.match(text, /\nIPs: +<none>\n/);
    assert.match(text, /\nVolumes: +<none>\n/);
    assert.match(text, /\nEvents: +<none>$/);
    assert.equal(qosClass(bare), 'BestEffort');
    const guaranteed: Pod = { ...bare, spec: { containers: [{ name: 'c', image: 'busybox', resources: { limits: { cpu: '1', memory: '1Gi' } } }] } };
    assert.equal(qosClass(guaranteed), 'Guaranteed');
  });

  it('a deployment shows the replicas line, strategy, conditions and its new and old ReplicaSets', () => {
    const text = describeObject(f.deployment, { events: eventsFor(f.deployment, allEvents), replicaSets: [f.oldReplicaSet, f.newReplicaSet], now });
    assert.ok(text.startsWith([
      'Name:                   web',
      'Namespace:              shop',
      'CreationTimestamp:      Mon, 30 Nov 2026 11:00:00 +0000',
      'Labels:                 app=web',
      'Annotations:            deployment.kubernetes.io/revision: 2',
      '                        gantry.dev/source-path: web/deployment.yaml',
      'Selector:               app=web',
      'Replicas:               3 desired | 2 updated | 4 total | 3 available | 1 unavailable',
      'StrategyType:           RollingUpdate',
      'MinReadySeconds:        0',
      'RollingUpdateStrategy:  25% max unavailable, 25% max surge',
      'Pod Template:',
      '  Labels:  app=web',
      '  Containers:',
      '   web:',
      '    Image:      registry.local/web:1.4.2',
    ].join('\n')), text);
    assert.ok(text.includes([
      'Conditions:',
      '  Type           Status  Reason',
      '  ----           ------  ------',
      '  Available      True    MinimumReplicasAvailable',
      '  Progressing    True    ReplicaSetUpdated',
      'OldReplicaSets:  web-5f8b9c7d4a (2/2 replicas created)',
      'NewReplicaSet:   web-6d4cf56db6 (2/2 replicas created)',
      'Events:',
      '  Type    Reason             Age    From                   Message',
    ].join('\n')), text);
    assert.match(text, /ScalingReplicaSet +60m +deployment-controller +Scaled up replica set web-5f8b9c7d4a from 0 to 3\n.*from 0 to 1\n.*Scaled down replica set web-5f8b9c7d4a from 3 to 2$/);
  });

  it('an old ReplicaSet scaled to zero is not listed, as kubectl lists only those with replicas', () => {
    const emptied = { ...f.oldReplicaSet, spec: { ...f.oldReplicaSet.spec, replicas: 0 } };
    const text = describeObject(f.deployment, { replicaSets: [emptied, f.newReplicaSet], now });
    assert.match(text, /\nOldReplicaSets: +<none>\n/);
  });

  it('a replica set counts its own pods by phase', () => {
    const text = describeObject(f.newReplicaSet, { pods: [f.pod, f.otherPod], now });
    assert.match(text, /\nControlled By: +Deployment\/web\nReplicas: +2 current \/ 2 desired\nPods Status: +1 Running \/ 0 Waiting \/ 0 Succeeded \/ 0 Failed\n/);
  });

  it('a service shows each port with its target and ready endpoints', () => {
    const text = describeObject(f.service, { endpoints: f.endpoints, now });
    assert.ok(text.includes([
      'Selector:                 app=web',
      'Type:                     ClusterIP',
      'IP Families:              <none>',
      'IP:                       10.96.0.20',
      'IPs:                      10.96.0.20',
      'Port:                     http  80/TCP',
      'TargetPort:               http/TCP',
      'Endpoints:                10.244.0.12:8080,10.244.0.13:8080',
      'Port:                     metrics  9090/TCP',
      'TargetPort:               9090/TCP',
      'Endpoints:                10.244.0.12:9090,10.244.0.13:9090',
      'Session Affinity:         None',
      'Internal Traffic Policy:  Cluster',
      'Events:                   <none>',
    ].join('\n')), text);
  });

  it('a node shows roles, conditions, capacity, its non-terminated pods and what they ask for', () => {
    const done: Pod = { ...f.otherPod, metadata: { ...f.otherPod.metadata, name: 'finished' }, status: { phase: 'Succeeded' } };
    const text = describeObject(f.node, { events: eventsFor(f.node, allEvents), pods: [f.pod, f.otherPod, done], now });
    assert.match(text, /^Name: +node-a\nRoles: +control-plane\n/);
    assert.match(text, /\nTaints: +dedicated=web:NoSchedule\nUnschedulable: +false\n/);
    assert.match(text, /\n {2}Ready +True +Mon, 30 Nov 2026 11:59:50 \+0000 +Sun, 29 Nov 2026 12:00:10 \+0000 +KubeletReady +kubelet is posting ready status\n/);
    assert.ok(text.includes([
      'Non-terminated Pods:          (2 in total)',
      '  Namespace                   Name                    CPU Requests  CPU Limits  Memory Requests  Memory Limits  Age',
      '  ---------                   ----                    ------------  ----------  ---------------  -------------  ---',
      '  shop                        web-6d4cf56db6-x7k2p    100m (5%)     500m (25%)  64Mi (1%)        128Mi (3%)     10m',
      '  data                        db-0                    250m (12%)    0 (0%)      256Mi (6%)       0 (0%)         120m',
      'Allocated resources:',
      '  (Total limits may be over 100 percent, i.e., overcommitted.)',
      '  Resource           Requests    Limits',
      '  --------           --------    ------',
      '  cpu                350m (17%)  500m (25%)',
      '  memory             320Mi (8%)  128Mi (3%)',
      '  ephemeral-storage  0 (0%)      0 (0%)',
    ].join('\n')), text);
    assert.match(text, /RegisteredNode +24h +node-controller +Node node-a event: Registered Node node-a in Controller$/);
  });

  it('a node counts its pods\' ephemeral-storage requests and limits against what it offers', () => {
    const node = { ...f.node, status: { ...f.node.status, allocatable: { ...f.node.status!.allocatable, 'ephemeral-storage': '10Gi' } } };
    const scratch: Pod = {
      ...f.pod,
      spec: { ...f.pod.spec, containers: [{ name: 'c', image: 'x', resources: { requests: { 'ephemeral-storage': '1Gi' }, limits: { 'ephemeral-storage': '2Gi' } } }] },
    };
    const text = describeObject(node, { pods: [scratch], now });
    assert.match(text, /\n {2}ephemeral-storage +1Gi \(10%\) +2Gi \(20%\)\n?/);
  });

  it('other kinds get the generic page: metadata and spec as titled keys', () => {
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'web-config', namespace: 'shop', uid: 'u1' }, data: { logLevel: 'debug', 'app.conf': 'a=1\nb=2' } };
    const text = describeObject(cm, { now });
    assert.match(text, /^Name: +web-config\nNamespace: +shop\nLabels: +<none>\nAnnotations: +<none>\nAPI Version: +v1\nKind: +ConfigMap\n/);
    assert.match(text, /\nData:\n {2}Log Level: +debug\n {2}App\.conf: +a=1\n +b=2\nEvents: +<none>$/);
  });

  it('events of another object of the same name (another uid) are not the object\'s', () => {
    const other = { ...f.podEvents[0]!, involvedObject: { ...f.podEvents[0]!.involvedObject, uid: 'someone-else' } };
    assert.equal(eventsFor(f.pod, [other]).length, 0);
    assert.equal(eventsFor(f.pod, f.podEvents).length, 4);
  });

  it('probes, selectors print as kubectl prints them', () => {
    assert.equal(probeText({ tcpSocket: { port: 80 }, periodSeconds: 90 }), 'tcp-socket :80 delay=0s timeout=1s period=1m30s #success=1 #failure=3');
    assert.equal(probeText({ httpGet: { port: 8443, path: '/ready', scheme: 'HTTPS', host: '10.0.0.1' } }), 'http-get https://10.0.0.1:8443/ready delay=0s timeout=1s period=10s #success=1 #failure=3');
    assert.equal(selectorText({ matchLabels: { b: '2', a: '1' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['web', 'api'] }, { key: 'x', operator: 'DoesNotExist' }] }), 'a=1,b=2,tier in (api,web),!x');
  });
});
