/**
 * End to end, storage: `gantry up` with real containerd on a repo over smart HTTP. A claim of
 * gantry's default `local-path` class is provisioned as a directory on the node when its pod is
 * scheduled, keeps its data across pod restarts and StatefulSet scale down/up, lists through the
 * real kubectl, and is removed with its directory (reclaim policy Delete) when the repo drops it.
 * A pod whose claim cannot be bound waits Pending with the scheduler's reason.
 *
 * One gantry serves every test of this file, in order.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { deletePod } from '../../src/controllers/pods.js';
import type { PersistentVolume, PersistentVolumeClaim, Pod } from '../../src/model/types.js';
import { apiRequest } from '../helpers/api-client.js';
import {
  createWorld, describePods, E2E_IMAGE, e2ePrerequisites, isReady, podCondition, podsWith, readIpForward, sendPushWebhook,
  startInProcess, takeDown, waitAttempted, waitFor, type InProcessGantry, type World,
} from '../helpers/e2e.js';
import { kubectlPresent } from '../helpers/kubectl.js';

/** A container that prints what it finds in /data, leaves its mark, and stops at once on SIGTERM. */
const MARKER = `trap 'exit 0' TERM; if [ -f /data/id ]; then echo "kept $(cat /data/id)"; else echo "$(hostname)-$(date +%s%N)" > /data/id; echo "new $(cat /data/id)"; fi; cat /data/boots 2>/dev/null; echo "boot $(hostname)" >> /data/boots; while true; do sleep 1; done`;

const NOTES = `apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: notes
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 64Mi
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: notes
spec:
  replicas: 1
  strategy: { type: Recreate }
  selector:
    matchLabels: { app: notes }
  template:
    metadata:
      labels: { app: notes }
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: main
          image: ${E2E_IMAGE}
          command: ["sh", "-c", ${JSON.stringify(MARKER)}]
          volumeMounts: [{ name: data, mountPath: /data }]
      volumes:
        - name: data
          persistentVolumeClaim: { claimName: notes }
`;

function statefulSet(replicas: number): string {
  return `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  replicas: ${replicas}
  selector:
    matchLabels: { app: db }
  template:
    metadata:
      labels: { app: db }
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: main
          image: ${E2E_IMAGE}
          command: ["sh", "-c", ${JSON.stringify(MARKER)}]
          volumeMounts: [{ name: data, mountPath: /data }]
  volumeClaimTemplates:
    - apiVersion: v1
      kind: PersistentVolumeClaim
      metadata: { name: data }
      spec:
        accessModes: [ReadWriteOnce]
        resources:
          requests: { storage: 32Mi }
`;
}

/** A claim no one can bind: an Immediate class whose provisioner gantry does not run. */
const WAITING = `apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: external
provisioner: example.com/nfs
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: waiting
spec:
  storageClassName: external
  accessModes: [ReadWriteMany]
  resources:
    requests: { storage: 1Gi }
---
apiVersion: v1
kind: Pod
metadata:
  name: waiter
spec:
  containers:
    - name: main
      image: ${E2E_IMAGE}
      command: ["sleep", "3600"]
      volumeMounts: [{ name: data, mountPath: /data }]
  volumes:
    - name: data
      persistentVolumeClaim: { claimName: waiting }
`;

describe('gantry up end to end: persistent volumes (real containerd, local-path provisioner)', function () {
  this.timeout(120_000);
  const why = e2ePrerequisites();
  let world: World | undefined;
  let g: InProcessGantry;
  let ipForward: string | undefined;

  const claim = (name: string) => g.store.get<PersistentVolumeClaim>({ kind: 'PersistentVolumeClaim', namespace: 'default', name });
  const volumeOf = async (name: string) => {
    const c = await claim(name);
    return c?.spec.volumeName ? g.store.get<PersistentVolume>({ kind: 'PersistentVolume', name: c.spec.volumeName }) : undefined;
  };
  const readyPods = async (labels: Record<string, string>) => (await podsWith(g.store, labels)).filter(isReady);
  const logOf = async (pod: string): Promise<string> => {
    const res = await apiRequest({ apiUrl: g.apiUrl, ca: g.ca, token: g.token }, `/api/v1/namespaces/default/pods/${pod}/log`);
    return res.status === 200 ? res.body : '';
  };

  async function pushAndSync(files: Record<string, string | null>, message: string): Promise<void> {
    const commit = await world!.push(files, message);
    assert.equal(await sendPushWebhook(g, commit), 202);
    const st = await waitAttempted(g.store, commit);
    assert.equal(st?.lastAppliedRevision, commit, JSON.stringify(st));
  }

  before(async function () {
    if (why) return this.skip();
    this.timeout(180_000);
    ipForward = await readIpForward();
    world = await createWorld({ 'notes.yaml': NOTES, 'db.yaml': statefulSet(2), 'waiting.yaml': WAITING });
    g = await startInProcess(world);
  });

  after(async function () {
    this.timeout(120_000);
    await g?.stop().catch(() => undefined);
    if (world) {
      await takeDown(world, g?.dataDir ?? path.join(world.root, 'data'), ipForward);
      await world.cleanup();
    }
  });

  it('provisions a claim of the default class on the pod\'s node, and the replacement of a deleted pod reads what the first one wrote', async () => {
    const [first] = await waitFor('the notes pod Ready', async () => {
      const pods = await readyPods({ app: 'notes' });
      return pods.length === 1 ? pods : undefined;
    }, { describe: async () => describePods(await podsWith(g.store, { app: 'notes' })) });
    const c = (await claim('notes'))!;
    assert.equal(c.status?.phase, 'Bound');
    assert.equal(c.spec.storageClassName, 'local-path', 'the default class gantry created');
    assert.equal(c.metadata.annotations?.['volume.kubernetes.io/selected-node'], world!.node.nodeName);
    const pv = (await volumeOf('notes'))!;
    const dir = path.join(g.dataDir, 'storage', pv.metadata.name);
    assert.equal(pv.spec.hostPath?.path, dir, 'a directory per claim in the node\'s data dir');
    assert.deepEqual(pv.spec.nodeAffinity?.required?.nodeSelectorTerms[0]?.matchExpressions?.[0]?.values, [world!.node.nodeName]);
    assert.deepEqual(pv.spec.capacity, { storage: '64Mi' });
    await waitFor('the first pod\'s mark on the volume', async () => (await readFile(path.join(dir, 'boots'), 'utf8').catch(() => '')).includes(`boot ${first!.metadata.name}`));

    await deletePod(g.store, first!, { origin: { actor: 'e2e-test' } });
    const [second] = await waitFor('a new notes pod Ready', async () => {
      const pods = (await readyPods({ app: 'notes' })).filter((p) => p.metadata.uid !== first!.metadata.uid);
      return pods.length === 1 ? pods : undefined;
    });
    assert.notEqual(second!.metadata.name, first!.metadata.name);
    const log = await waitFor('the new pod\'s log', async () => {
      const l = await logOf(second!.metadata.name);
      return l.includes('kept') ? l : undefined;
    });
    assert.match(log, new RegExp(`kept ${first!.metadata.name}-\\d+`), 'the id the first pod wrote');
    assert.match(log, new RegExp(`boot ${first!.metadata.name}`), 'the new pod read the first pod\'s file');
  });

  it('keeps a pod whose claim cannot be bound Pending, with the scheduler\'s reason', async () => {
    const waiter = await waitFor('the waiter marked unschedulable', async () => {
      const p = await g.store.get<Pod>({ kind: 'Pod', namespace: 'default', name: 'waiter' });
      return p && podCondition(p, 'PodScheduled')?.reason === 'Unschedulable' ? p : undefined;
    });
    assert.equal(waiter.status?.phase ?? 'Pending', 'Pending');
    assert.equal(waiter.spec.nodeName, undefined);
    assert.equal(podCondition(waiter, 'PodScheduled')?.message, '0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.');
    assert.equal((await claim('waiting'))?.status?.phase, 'Pending');
  });

  it('gives each StatefulSet pod a claim of its own, kept across a scale down and reused when it scales back up', async function () {
    this.timeout(150_000);
    await waitFor('db-0 and db-1 Ready', async () => (await readyPods({ app: 'db' })).length === 2, { timeoutMs: 90_000, describe: async () => describePods(await podsWith(g.store, { app: 'db' })) });
    const before = (await claim('data-db-1'))!;
    assert.equal(before.status?.phase, 'Bound');
    assert.equal(before.metadata.labels?.app, 'db');
    const id = /new (db-1-\d+)/.exec(await waitFor('db-1\'s first log', async () => {
      const l = await logOf('db-1');
      return l.includes('new') ? l : undefined;
    }))![1]!;

    await pushAndSync({ 'db.yaml': statefulSet(1) }, 'db: one replica');
    await waitFor('db-1 gone', async () => !(await g.store.get({ kind: 'Pod', namespace: 'default', name: 'db-1' })), { timeoutMs: 60_000 });
    const kept = (await claim('data-db-1'))!;
    assert.equal(kept.metadata.uid, before.metadata.uid, 'the claim of the removed pod stays (whenScaled: Retain)');
    assert.equal(kept.status?.phase, 'Bound');

    await pushAndSync({ 'db.yaml': statefulSet(2) }, 'db: two replicas again');
    const log = await waitFor('db-1 back, with its data', async () => {
      const p = await g.store.get<Pod>({ kind: 'Pod', namespace: 'default', name: 'db-1' });
      if (!p || !isReady(p)) return undefined;
      const l = await logOf('db-1');
      return l.includes('kept') ? l : undefined;
    }, { timeoutMs: 90_000 });
    assert.match(log, new RegExp(`kept ${id}`), 'db-1 found the id it wrote before the scale down');
  });

  it('lists claims, volumes and classes through the real kubectl with kubectl\'s columns', async function () {
    if (!kubectlPresent()) return this.skip();
    const out = await new Promise<string>((resolve, reject) => {
      execFile('kubectl', ['--kubeconfig', g.kubeconfig, 'get', 'pvc,pv,sc'], { timeout: 30_000 }, (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(stdout)));
    });
    const notes = (await volumeOf('notes'))!.metadata.name;
    assert.match(out, /NAME\s+STATUS\s+VOLUME\s+CAPACITY\s+ACCESS MODES\s+STORAGECLASS\s+VOLUMEATTRIBUTESCLASS\s+AGE/);
    assert.match(out, new RegExp(`persistentvolumeclaim/notes\\s+Bound\\s+${notes}\\s+64Mi\\s+RWO\\s+local-path\\s+<unset>`));
    assert.match(out, /persistentvolumeclaim\/waiting\s+Pending\s+external\s+<unset>/);
    assert.match(out, /NAME\s+CAPACITY\s+ACCESS MODES\s+RECLAIM POLICY\s+STATUS\s+CLAIM\s+STORAGECLASS\s+VOLUMEATTRIBUTESCLASS\s+REASON\s+AGE/);
    assert.match(out, new RegExp(`persistentvolume/${notes}\\s+64Mi\\s+RWO\\s+Delete\\s+Bound\\s+default/notes\\s+local-path\\s+<unset>`));
    assert.match(out, /NAME\s+PROVISIONER\s+RECLAIMPOLICY\s+VOLUMEBINDINGMODE\s+ALLOWVOLUMEEXPANSION\s+AGE/);
    assert.match(out, /storageclass\.storage\.k8s\.io\/local-path \(default\)\s+gantry\.dev\/local-path\s+Delete\s+WaitForFirstConsumer\s+false/);
  });

  it('deletes a claim the repo drops once its pod is gone, and reclaim policy Delete removes its directory', async function () {
    this.timeout(90_000);
    const pv = (await volumeOf('notes'))!;
    const dir = pv.spec.hostPath!.path;
    const dbDir = (await volumeOf('data-db-0'))!.spec.hostPath!.path;
    assert.ok(existsSync(dir));
    await pushAndSync({ 'notes.yaml': null }, 'drop notes');
    await waitFor('the notes claim gone', async () => !(await claim('notes')), { timeoutMs: 60_000 });
    await waitFor('its volume gone', async () => !(await g.store.get({ kind: 'PersistentVolume', name: pv.metadata.name })), { timeoutMs: 60_000 });
    assert.ok(!existsSync(dir), 'the directory and its data are removed');
    assert.ok(existsSync(dbDir), 'other volumes keep theirs');
    assert.equal((await claim('data-db-0'))?.status?.phase, 'Bound', 'a claim made from a template is not the sync\'s to prune');
  });
});
