import assert from 'node:assert/strict';
import { isGantryError } from '../../src/errors.js';
import { admitPod, isTokenVolume, SERVICE_ACCOUNT_MOUNT_PATH, tokenVolumeSources } from '../../src/model/serviceaccount.js';
import type { Pod, ServiceAccount } from '../../src/model/types.js';

function pod(mutate: (p: Pod) => void = () => {}): Pod {
  const p: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'shop' },
    spec: {
      initContainers: [{ name: 'init', image: 'busybox' }],
      containers: [{ name: 'app', image: 'busybox', volumeMounts: [{ name: 'data', mountPath: '/data' }] }, { name: 'side', image: 'busybox' }],
      volumes: [{ name: 'data', emptyDir: {} }],
    },
  };
  mutate(p);
  return p;
}

function account(mutate: (sa: ServiceAccount) => void = () => {}, name = 'default'): ServiceAccount {
  const sa: ServiceAccount = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: 'shop', uid: 'u1' } };
  mutate(sa);
  return sa;
}

const suffix = () => 'x7k2p';
const mountsOf = (p: Pod) => [...(p.spec.initContainers ?? []), ...p.spec.containers].map((c) => (c.volumeMounts ?? []).filter((m) => m.mountPath === SERVICE_ACCOUNT_MOUNT_PATH).map((m) => m.name));

describe('ServiceAccount admission', () => {
  it('names the default account and mounts its token in every container, as a projected kube-api-access volume', () => {
    const out = admitPod(pod(), account(), { suffix });
    assert.equal(out.spec.serviceAccountName, 'default');
    assert.equal(out.spec.serviceAccount, 'default');
    const vol = out.spec.volumes!.find(isTokenVolume)!;
    assert.deepEqual(vol, { name: 'kube-api-access-x7k2p', projected: { defaultMode: 420, sources: tokenVolumeSources() } });
    assert.deepEqual(tokenVolumeSources(), [
      { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
      { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
    ]);
    assert.deepEqual(mountsOf(out), [['kube-api-access-x7k2p'], ['kube-api-access-x7k2p'], ['kube-api-access-x7k2p']]);
    assert.deepEqual(out.spec.containers[0]!.volumeMounts![1], { name: 'kube-api-access-x7k2p', readOnly: true, mountPath: SERVICE_ACCOUNT_MOUNT_PATH });
    assert.equal(out.spec.volumes![0]!.name, 'data', 'the pod\'s own volumes stay first');
  });

  const automount: { name: string; pod?: boolean; sa?: boolean; mounted: boolean }[] = [
    { name: 'neither says: mounted', mounted: true },
    { name: 'the pod says false', pod: false, mounted: false },
    { name: 'the account says false', sa: false, mounted: false },
    { name: 'the pod says true over the account\'s false', pod: true, sa: false, mounted: true },
    { name: 'the pod says false over the account\'s true', pod: false, sa: true, mounted: false },
  ];
  for (const c of automount) {
    it(`automountServiceAccountToken: ${c.name}`, () => {
      const p = pod((x) => { if (c.pod !== undefined) x.spec.automountServiceAccountToken = c.pod; });
      const out = admitPod(p, account((sa) => { if (c.sa !== undefined) sa.automountServiceAccountToken = c.sa; }), { suffix });
      assert.equal(out.spec.volumes!.some(isTokenVolume), c.mounted);
      assert.equal(mountsOf(out).flat().length, c.mounted ? 3 : 0);
    });
  }

  it('leaves a container that mounts something at the token path alone', () => {
    const p = pod((x) => { x.spec.containers[1]!.volumeMounts = [{ name: 'data', mountPath: SERVICE_ACCOUNT_MOUNT_PATH }]; });
    const out = admitPod(p, account(), { suffix });
    assert.deepEqual(mountsOf(out), [['kube-api-access-x7k2p'], ['kube-api-access-x7k2p'], ['data']]);
  });

  it('admits a pod once: a second admission adds nothing', () => {
    const once = admitPod(pod(), account(), { suffix });
    assert.deepEqual(admitPod(once, account(), { suffix: () => 'other' }), once);
  });

  it('gives a pod without imagePullSecrets those of its account, and keeps a pod\'s own', () => {
    const sa = account((a) => { a.imagePullSecrets = [{ name: 'registry' }]; });
    assert.deepEqual(admitPod(pod(), sa).spec.imagePullSecrets, [{ name: 'registry' }]);
    assert.deepEqual(admitPod(pod((p) => { p.spec.imagePullSecrets = [{ name: 'mine' }]; }), sa).spec.imagePullSecrets, [{ name: 'mine' }]);
  });

  it('refuses a pod naming an account that does not exist, as Kubernetes words it', () => {
    let err: unknown;
    try {
      admitPod(pod((p) => { p.spec.serviceAccountName = 'reader'; }), undefined);
    } catch (e) {
      err = e;
    }
    assert.ok(isGantryError(err, 'NotFound'));
    assert.equal(err.message, 'error looking up service account shop/reader: serviceaccount "reader" not found');
    assert.equal(err.location.field, 'spec.serviceAccountName');
    assert.equal(err.disposition, 'waiting');
  });

  it('admits a pod of `default` before the controller has made it (automount as the default says)', () => {
    assert.ok(admitPod(pod(), undefined).spec.volumes!.some(isTokenVolume));
  });

  it('takes the deprecated serviceAccount field as the account name', () => {
    const out = admitPod(pod((p) => { p.spec.serviceAccount = 'reader'; }), account(() => {}, 'reader'));
    assert.deepEqual([out.spec.serviceAccountName, out.spec.serviceAccount], ['reader', 'reader']);
  });

  it('never changes the pod it is given', () => {
    const p = pod();
    const before = structuredClone(p);
    admitPod(p, account());
    assert.deepEqual(p, before);
  });
});
