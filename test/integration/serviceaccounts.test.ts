/**
 * Service accounts and RBAC end to end, with real containerd, CNI, iptables and the real kubectl:
 * a pod of a ServiceAccount bound to `view` gets its token, the cluster CA and its namespace
 * mounted and the KUBERNETES_SERVICE_* variables; with that token kubectl lists pods, is refused
 * Secrets in Kubernetes' words and answers `auth can-i`, through the API's address and through
 * the `kubernetes` Service's cluster IP; a pod that opts out has no token; a pod naming a missing
 * account waits (FailedCreate) until the account exists; and the token is refused once its pod
 * is gone. (busybox has no TLS client, so in-pod checks read the mounted files and open a TCP
 * connection to the cluster IP; kubectl, run by the test, does the TLS.)
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ReplicaSet } from '../../src/model/types.js';
import type { Pod, Service } from '../../src/model/types.js';
import { isTokenVolume, SERVICE_ACCOUNT_MOUNT_PATH } from '../../src/model/serviceaccount.js';
import { deletePod } from '../../src/controllers/pods.js';
import { ContainerdClient } from '../../src/node/containerd/client.js';
import { execInContainer } from '../../src/node/containerd/run.js';
import { CONTAINERD_NAMESPACE } from '../../src/node/host.js';
import { sleeperDeployment } from '../helpers/e2e-manifests.js';
import { createWorld, e2ePrerequisites, isReady, podsWith, readIpForward, startInProcess, takeDown, waitFor, type InProcessGantry, type World } from '../helpers/e2e.js';
import { kubectlPresent } from '../helpers/kubectl.js';

/** A Deployment of sleepers whose pod spec gets `extra` (indented under spec). */
function deploymentWith(name: string, extra: string): string {
  return sleeperDeployment(name, 1, { graceSeconds: 0 }).replace('      terminationGracePeriodSeconds: 0\n', `      terminationGracePeriodSeconds: 0\n${extra}`);
}

const MANIFESTS: Record<string, string> = {
  'reader.yaml': `apiVersion: v1
kind: ServiceAccount
metadata:
  name: reader
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: reader-view
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: view
subjects:
  - kind: ServiceAccount
    name: reader
---
${deploymentWith('reader', '      serviceAccountName: reader\n')}`,
  'quiet.yaml': deploymentWith('quiet', '      automountServiceAccountToken: false\n'),
  'ghost.yaml': deploymentWith('ghost', '      serviceAccountName: ghost\n'),
};

describe('service accounts and RBAC (real containerd, real kubectl)', function () {
  this.timeout(240_000);
  const why = e2ePrerequisites() ?? (kubectlPresent() ? undefined : 'kubectl is not installed');
  let world: World | undefined;
  let g: InProcessGantry | undefined;
  let ctd: ContainerdClient | undefined;
  let ipForward: string | undefined;
  let dataDir = '';

  const containerId = (p: Pod) => p.status!.containerStatuses![0]!.containerID!.replace(/^containerd:\/\//, '');

  /** Runs `script` with sh in the pod's container: exit status and output. */
  async function sh(pod: Pod, script: string): Promise<{ code: number; out: string }> {
    const out = path.join(world!.root, `exec-${randomInt(1e9)}.out`);
    const res = await execInContainer(ctd!, containerId(pod), { args: ['sh', '-c', script], stdoutPath: out, stderrPath: out, timeoutMs: 20_000 });
    const text = await readFile(out, 'utf8');
    await rm(out, { force: true });
    return { code: res.exitStatus, out: text };
  }

  const readyPod = (app: string) =>
    waitFor(`a ready ${app} pod`, async () => (await podsWith(g!.store, { app })).find(isReady), { timeoutMs: 90_000 });

  /** The real kubectl with a kubeconfig holding `token`, against `server` (the API's own address by default). */
  async function kubectl(token: string, args: string[], server = g!.apiUrl): Promise<{ code: number; stdout: string; stderr: string }> {
    const file = path.join(world!.root, `kubeconfig-${randomInt(1e9)}`);
    const ca = Buffer.from(g!.ca).toString('base64');
    await writeFile(file, `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "${server}", certificate-authority-data: ${ca} } }]
users: [{ name: u, user: { token: "${token}" } }]
contexts: [{ name: x, context: { cluster: c, user: u, namespace: default } }]
current-context: x
`, { mode: 0o600 });
    try {
      return await new Promise((resolve) => {
        execFile('kubectl', ['--kubeconfig', file, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
        });
      });
    } finally {
      await rm(file, { force: true });
    }
  }

  let readerToken = '';
  let readerPod: Pod | undefined;

  before(async function () {
    if (why) return this.skip();
    ipForward = await readIpForward();
    world = await createWorld(MANIFESTS);
    dataDir = path.join(world.root, 'data');
    g = await startInProcess(world, { dataDir });
    ctd = await ContainerdClient.connect({ address: g.containerdAddress, namespace: CONTAINERD_NAMESPACE });
    readerPod = await readyPod('reader');
    readerToken = (await sh(readerPod, `cat ${SERVICE_ACCOUNT_MOUNT_PATH}/token`)).out;
  });

  after(async function () {
    this.timeout(120_000);
    ctd?.close();
    await g?.stop();
    if (world) {
      await takeDown(world, dataDir, ipForward);
      await world.cleanup();
    }
  });

  it('stores the pod as admission leaves it: the account, a kube-api-access volume and its mount', async () => {
    const spec = readerPod!.spec;
    assert.equal(spec.serviceAccountName, 'reader');
    const vol = spec.volumes!.find(isTokenVolume)!;
    assert.match(vol.name, /^kube-api-access-[a-z0-9]{5}$/);
    assert.deepEqual(spec.containers[0]!.volumeMounts, [{ name: vol.name, readOnly: true, mountPath: SERVICE_ACCOUNT_MOUNT_PATH }]);
  });

  it('mounts the token, the cluster CA and the namespace, and names the API in the environment', async () => {
    const pod = readerPod!;
    const claims = JSON.parse(Buffer.from(readerToken.split('.')[1]!, 'base64url').toString()) as { sub: string; aud: string[]; exp: number; iat: number; 'kubernetes.io': { pod: { name: string; uid: string } } };
    assert.equal(claims.sub, 'system:serviceaccount:default:reader');
    assert.deepEqual(claims['kubernetes.io'].pod, { name: pod.metadata.name, uid: pod.metadata.uid });
    assert.equal(claims.exp - claims.iat, 3607);
    assert.equal((await sh(pod, `cat ${SERVICE_ACCOUNT_MOUNT_PATH}/ca.crt`)).out, g!.ca);
    assert.equal((await sh(pod, `cat ${SERVICE_ACCOUNT_MOUNT_PATH}/namespace`)).out, 'default');
    assert.match((await sh(pod, `touch ${SERVICE_ACCOUNT_MOUNT_PATH}/x 2>&1; echo rc=$?`)).out, /rc=1/, 'read-only');
    const api = (await g!.store.get<Service>({ kind: 'Service', namespace: 'default', name: 'kubernetes' }))!;
    assert.equal(api.spec.clusterIP, world!.serviceCidr.replace(/0\/24$/, '1'));
    // The container's own environment (an exec'd shell gets only PATH).
    const env = (await sh(pod, "tr '\\0' '\\n' < /proc/1/environ | grep ^KUBERNETES_SERVICE_ | sort")).out;
    assert.equal(env, `KUBERNETES_SERVICE_HOST=${api.spec.clusterIP}\nKUBERNETES_SERVICE_PORT=443\nKUBERNETES_SERVICE_PORT_HTTPS=443\n`);
  });

  it('lets the pod reach the API through the kubernetes Service\'s cluster IP', async () => {
    const ip = (await g!.store.get<Service>({ kind: 'Service', namespace: 'default', name: 'kubernetes' }))!.spec.clusterIP!;
    // A TCP connection (busybox speaks no TLS): refused at once if nothing answered behind the cluster IP.
    const r = await sh(readerPod!, `echo | nc -w 3 ${ip} 443 >/dev/null 2>&1; echo rc=$?`);
    assert.match(r.out, /rc=0/, r.out);
  });

  it('lets kubectl with the pod\'s token list pods (the view role), and refuses Secrets in Kubernetes\' words', async () => {
    const pods = await kubectl(readerToken, ['get', 'pods', '-o', 'name']);
    assert.equal(pods.code, 0, pods.stderr);
    assert.match(pods.stdout, new RegExp(`^pod/${readerPod!.metadata.name}$`, 'm'));
    const secrets = await kubectl(readerToken, ['get', 'secrets']);
    assert.notEqual(secrets.code, 0);
    assert.match(secrets.stderr, /Error from server \(Forbidden\): secrets is forbidden: User "system:serviceaccount:default:reader" cannot list resource "secrets" in API group "" in the namespace "default"/);
    const nodes = await kubectl(readerToken, ['get', 'nodes']);
    assert.match(nodes.stderr, /nodes is forbidden: User "system:serviceaccount:default:reader" cannot list resource "nodes" in API group "" at the cluster scope/);
  });

  it('answers kubectl auth can-i for the pod\'s token and for the admin token', async () => {
    const can = async (token: string, args: string[]) => (await kubectl(token, ['auth', 'can-i', ...args])).stdout.trim();
    assert.equal(await can(readerToken, ['list', 'pods']), 'yes');
    assert.equal(await can(readerToken, ['get', 'pods', '--subresource=log']), 'yes');
    assert.equal(await can(readerToken, ['watch', 'deployments.apps']), 'yes');
    assert.equal(await can(readerToken, ['list', 'secrets']), 'no');
    assert.equal(await can(readerToken, ['list', 'pods', '-n', 'kube-system']), 'no');
    assert.equal(await can(readerToken, ['create', 'pods/exec']), 'no');
    assert.equal(await can(g!.token, ['list', 'secrets']), 'yes');
    assert.equal(await can(g!.token, ['delete', 'nodes']), 'yes');
    const whoami = await kubectl(readerToken, ['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}']);
    assert.equal(whoami.stdout, 'system:serviceaccount:default:reader', whoami.stderr);
  });

  it('makes a token by hand (kubectl create token) bound to the account alone, which works, and refuses the reader one', async () => {
    const made = await kubectl(g!.token, ['create', 'token', 'reader', '--duration', '10m']);
    assert.equal(made.code, 0, made.stderr);
    const token = made.stdout.trim();
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number; iat: number; 'kubernetes.io': { pod?: unknown } };
    assert.equal(claims.exp - claims.iat, 600);
    assert.equal(claims['kubernetes.io'].pod, undefined, 'bound to the account only');
    assert.equal((await kubectl(token, ['get', 'pods', '-o', 'name'])).code, 0);
    const refused = await kubectl(readerToken, ['create', 'token', 'reader']);
    assert.match(refused.stderr, /serviceaccounts "reader" is forbidden: User "system:serviceaccount:default:reader" cannot create resource "serviceaccounts\/token" in API group "" in the namespace "default"/);
  });

  it('serves the same API through the cluster IP, whose address the serving certificate names', async () => {
    const ip = (await g!.store.get<Service>({ kind: 'Service', namespace: 'default', name: 'kubernetes' }))!.spec.clusterIP!;
    const r = await kubectl(readerToken, ['get', 'pods', '-o', 'name'], `https://${ip}:443`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^pod/${readerPod!.metadata.name}$`, 'm'));
  });

  it('mounts no token in a pod that opts out, and says nothing of it in its spec', async () => {
    const quiet = await readyPod('quiet');
    assert.equal(quiet.spec.volumes?.some(isTokenVolume) ?? false, false);
    assert.equal(quiet.spec.containers[0]!.volumeMounts, undefined);
    assert.match((await sh(quiet, `test -e ${SERVICE_ACCOUNT_MOUNT_PATH} && echo present || echo absent`)).out, /absent/);
  });

  it('holds the pods of a missing ServiceAccount back with an event, and creates them once it exists', async () => {
    const rs = await waitFor('the ghost ReplicaSet', async () => (await g!.store.list<ReplicaSet>('ReplicaSet', { namespace: 'default' })).items.find((r) => r.metadata.name.startsWith('ghost-')));
    const event = await waitFor('a FailedCreate event', async () => (await g!.store.list<{ reason?: string; message?: string; involvedObject?: { name?: string } } & Pod>('Event', { namespace: 'default' })).items
      .find((e) => e.reason === 'FailedCreate' && e.involvedObject?.name === rs.metadata.name), { timeoutMs: 20_000 });
    assert.match(event.message ?? '', new RegExp(`^Error creating: pods "${rs.metadata.name}-" is forbidden: error looking up service account default/ghost: serviceaccount "ghost" not found$`));
    assert.equal((await podsWith(g!.store, { app: 'ghost' })).length, 0);
    await world!.push({ 'ghost-sa.yaml': 'apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: ghost\n' }, 'the ghost account');
    await g!.gantry.sync!.trigger('test');
    const ghost = await readyPod('ghost');
    assert.equal(ghost.spec.serviceAccountName, 'ghost');
  });

  it('lists the kinds with kubectl\'s columns: sa, role, rolebinding, clusterrole, clusterrolebinding', async () => {
    const r = await kubectl(g!.token, ['get', 'sa,role,rolebinding,clusterrole,clusterrolebinding', '-o', 'wide']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^NAME\s+SECRETS\s+AGE$/m);
    assert.match(r.stdout, /^serviceaccount\/default\s+0\s+\S+$/m);
    assert.match(r.stdout, /^serviceaccount\/reader\s+0\s+\S+$/m);
    assert.match(r.stdout, /^NAME\s+ROLE\s+AGE\s+USERS\s+GROUPS\s+SERVICEACCOUNTS$/m);
    assert.match(r.stdout, /^rolebinding\.rbac\.authorization\.k8s\.io\/reader-view\s+ClusterRole\/view\s+\S+\s+\/reader$/m);
    assert.match(r.stdout, /^NAME\s+CREATED AT$/m);
    assert.match(r.stdout, /^clusterrole\.rbac\.authorization\.k8s\.io\/view\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/m);
    assert.match(r.stdout, /^clusterrolebinding\.rbac\.authorization\.k8s\.io\/cluster-admin\s+ClusterRole\/cluster-admin\s+\S+\s+\s+system:masters\s*$/m);
  });

  it('refuses the token once its pod is gone', async () => {
    const pod = readerPod!;
    await deletePod(g!.store, pod, { origin: { actor: 'test' } });
    await waitFor('the reader pod to be gone', async () => !(await g!.store.get({ kind: 'Pod', namespace: 'default', name: pod.metadata.name })), { timeoutMs: 60_000 });
    const r = await kubectl(readerToken, ['get', 'pods']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /You must be logged in to the server \(Unauthorized: the token is bound to pod default\/reader-\S+, which is gone\)/);
    // The Deployment's new pod has a token of its own, which works.
    const next = await readyPod('reader');
    const token = (await sh(next, `cat ${SERVICE_ACCOUNT_MOUNT_PATH}/token`)).out;
    assert.equal((await kubectl(token, ['get', 'pods', '-o', 'name'])).code, 0);
  });
});
