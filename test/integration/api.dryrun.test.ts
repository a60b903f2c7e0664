/**
 * Dry-run writes and OpenAPI with the real kubectl against gantry's Kubernetes API (the store is
 * the in-memory fake holding objects as gantry's sync writes them; the HTTP server and kubectl
 * are real): `kubectl explain`, `kubectl apply --dry-run=server` (client- and server-side),
 * `kubectl diff`, `create|replace|delete --dry-run=server`, and the plain write still refused.
 * Every test checks that the store is exactly as it was. The HTTP-level cases (patch types,
 * conflicts, bad bodies) run without kubectl; the kubectl ones skip with a message without it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createApiServer } from '../../src/api/server.js';
import { markDesired } from '../../src/diff/plan.js';
import { silentLogger } from '../../src/log.js';
import type { KubeObject } from '../../src/model/types.js';
import { MemoryStore } from '../fakes/memory-store.js';
import { kubectlPresent } from '../helpers/kubectl.js';

const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: main
          image: busybox:1.36
          command: [sleep, "3600"]
          ports:
            - containerPort: 8080
          env:
            - name: MODE
              value: prod
`;
const SERVICE = `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
    - port: 80
      targetPort: 8080
`;
const CONFIGMAP = `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  level: debug
`;

/** The objects as the sync would have written them from the repo (defaults and gantry's marks). */
function repoObjects(): KubeObject[] {
  const deploy: KubeObject = {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name: 'web', labels: { app: 'web' } },
    spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'main', image: 'busybox:1.36', command: ['sleep', '3600'], ports: [{ containerPort: 8080 }], env: [{ name: 'MODE', value: 'prod' }] }] } } },
  };
  const svc: KubeObject = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } };
  const cm: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings' }, data: { level: 'debug' } };
  const out = [
    markDesired({ object: deploy, source: { file: 'web/deployment.yaml', line: 1, document: 0 } }),
    markDesired({ object: svc, source: { file: 'web/service.yaml', line: 1, document: 0 } }),
    markDesired({ object: cm, source: { file: 'config.yaml', line: 1, document: 0 } }),
  ];
  // What the service IP controller adds once the Service exists.
  Object.assign(out[1]!.spec as object, { clusterIP: '10.96.0.20', clusterIPs: ['10.96.0.20'] });
  out[0]!.status = { replicas: 2, readyReplicas: 2 };
  return out;
}

describe('dry-run writes and OpenAPI', function () {
  this.timeout(60_000);
  let store: MemoryStore;
  let api: ReturnType<typeof createApiServer>;
  let url = '';
  let dir = '';
  let snapshot = '';

  const snap = async (): Promise<string> => {
    const kinds = ['Deployment', 'Service', 'ConfigMap', 'Pod', 'Namespace'];
    const lists = await Promise.all(kinds.map((k) => store.list(k)));
    return JSON.stringify({ revision: await store.revision(), items: lists.map((l) => l.items) });
  };

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-dryrun-'));
    await writeFile(path.join(dir, 'kubeconfig'), 'apiVersion: v1\nkind: Config\n');
    await writeFile(path.join(dir, 'deployment.yaml'), DEPLOYMENT);
    await writeFile(path.join(dir, 'repo.yaml'), [DEPLOYMENT, SERVICE, CONFIGMAP].join('---\n'));
    await writeFile(path.join(dir, 'scaled.yaml'), DEPLOYMENT.replace('replicas: 2', 'replicas: 3'));
    await writeFile(path.join(dir, 'new.yaml'), DEPLOYMENT.replace(/name: web\n/, 'name: api\n'));
    await writeFile(path.join(dir, 'invalid.yaml'), DEPLOYMENT.replace(/name: web\n/, 'name: broken\n').replace('replicas: 2', 'replicas: -1'));
    store = new MemoryStore();
    for (const o of repoObjects()) await store.create(o);
    api = createApiServer({ store, logger: silentLogger(), repo: 'https://git.example.com/shop.git' });
    await api.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
    snapshot = await snap();
  });
  afterEach(async () => {
    if (store) assert.equal(await snap(), snapshot, 'a dry run never changes the store');
  });
  after(async () => {
    await api?.close();
    await store?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  describe('over HTTP', () => {
    const web = '/apis/apps/v1/namespaces/default/deployments/web';
    const patch = (type: string, body: unknown, dryRun = true) =>
      api.inject({ method: 'PATCH', url: `${web}${dryRun ? '?dryRun=All' : ''}`, headers: { 'content-type': type }, payload: typeof body === 'string' ? body : JSON.stringify(body) });

    it('applies each patch type to the live object and answers the object as it would be stored', async () => {
      const cases: [string, unknown, number][] = [
        ['application/strategic-merge-patch+json', { spec: { replicas: 4 } }, 4],
        ['application/merge-patch+json', { spec: { replicas: 5 } }, 5],
        ['application/json-patch+json', [{ op: 'replace', path: '/spec/replicas', value: 6 }], 6],
        ['application/apply-patch+yaml', 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 7\n', 7],
      ];
      const live = (await store.get({ kind: 'Deployment', namespace: 'default', name: 'web' }))!;
      for (const [type, body, replicas] of cases) {
        const r = await patch(type, body);
        assert.equal(r.statusCode, 200, `${type}: ${r.body}`);
        const o = r.json() as KubeObject & { spec: { replicas: number; template: { spec: { containers: { image: string; terminationMessagePath: string }[] } } } };
        assert.equal(o.spec.replicas, replicas, type);
        assert.equal(o.spec.template.spec.containers[0]!.image, 'busybox:1.36');
        assert.equal(o.spec.template.spec.containers[0]!.terminationMessagePath, '/dev/termination-log', 'defaults stay');
        assert.equal(o.metadata.uid, live.metadata.uid);
        assert.equal(o.metadata.generation, (live.metadata.generation ?? 1) + 1, 'a spec change bumps generation');
        assert.deepEqual(o.status, live.status, 'status is the live one');
      }
    });

    it('answers an invalid result with 422 and one cause per bad field', async () => {
      const r = await patch('application/merge-patch+json', { spec: { replicas: -2, template: { spec: { containers: [{ name: 'main', image: 'busybox', resizePolicy: [] }] } } } });
      assert.equal(r.statusCode, 422);
      const s = r.json() as { reason: string; message: string; details: { causes: { field: string; message: string }[] } };
      assert.equal(s.reason, 'Invalid');
      assert.match(s.message, /^Deployment\.apps "web" is invalid: /);
      assert.deepEqual(s.details.causes.map((c) => c.field).sort(), ['spec.replicas', 'spec.template.spec.containers[0].resizePolicy']);
    });

    it('answers conflicts, missing objects, bad bodies and identity mismatches as the API server does', async () => {
      const stale = await patch('application/strategic-merge-patch+json', { metadata: { resourceVersion: '999' }, spec: { replicas: 3 } });
      assert.equal(stale.statusCode, 409);
      assert.equal((stale.json() as { reason: string }).reason, 'Conflict');
      const missing = await api.inject({ method: 'PATCH', url: '/apis/apps/v1/namespaces/default/deployments/nope?dryRun=All', headers: { 'content-type': 'application/merge-patch+json' }, payload: '{}' });
      assert.equal(missing.statusCode, 404);
      const bad = await patch('application/strategic-merge-patch+json', '{not json');
      assert.equal(bad.statusCode, 400);
      const noKey = await patch('application/strategic-merge-patch+json', { spec: { template: { spec: { containers: [{ image: 'x' }] } } } });
      assert.equal(noKey.statusCode, 422);
      assert.match((noKey.json() as { message: string }).message, /merge key name/);
      const put = await api.inject({ method: 'PUT', url: `${web}?dryRun=All`, payload: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'other' }, spec: {} } });
      assert.equal(put.statusCode, 400);
      const ns = await api.inject({ method: 'POST', url: '/api/v1/namespaces/default/configmaps?dryRun=All', payload: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'prod' } } });
      assert.equal(ns.statusCode, 400);
      assert.match((ns.json() as { message: string }).message, /does not match the namespace/);
      const taken = await api.inject({ method: 'POST', url: '/api/v1/namespaces/default/configmaps?dryRun=All', payload: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings' } } });
      assert.equal(taken.statusCode, 409);
      assert.equal((taken.json() as { reason: string }).reason, 'AlreadyExists');
    });

    it('patches a Job whose selector the server generated, and refuses a selector the patch gives', async () => {
      const job: KubeObject = markDesired({ object: { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'once', namespace: 'jobs' }, spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] } } } }, source: { file: 'job.yaml', line: 1, document: 0 } });
      const uid = 'job-uid-1';
      (job.spec as { selector: unknown }).selector = { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } };
      (job.spec as { template: { metadata: unknown } }).template.metadata = { labels: { 'batch.kubernetes.io/controller-uid': uid, 'batch.kubernetes.io/job-name': 'once' } };
      // A store of its own: the shared one must stay as the snapshot has it.
      const own = new MemoryStore();
      await own.create(job);
      const app = createApiServer({ store: own, logger: silentLogger() });
      try {
        const jobUrl = '/apis/batch/v1/namespaces/jobs/jobs/once?dryRun=All';
        const ok = await app.inject({ method: 'PATCH', url: jobUrl, headers: { 'content-type': 'application/merge-patch+json' }, payload: JSON.stringify({ metadata: { labels: { team: 'a' } } }) });
        assert.equal(ok.statusCode, 200, ok.body);
        const bad = await app.inject({ method: 'PATCH', url: jobUrl, headers: { 'content-type': 'application/merge-patch+json' }, payload: JSON.stringify({ spec: { selector: { matchLabels: { mine: 'x' } } } }) });
        assert.equal(bad.statusCode, 422);
        assert.equal((bad.json() as { details: { causes: { field: string }[] } }).details.causes[0]!.field, 'spec.selector');
      } finally {
        await app.close();
        await own.close();
      }
    });

    it('creates through an apply patch and answers 201 with defaults and no resourceVersion', async () => {
      const r = await api.inject({ method: 'PATCH', url: '/api/v1/namespaces/default/services/fresh?dryRun=All&fieldManager=kubectl', headers: { 'content-type': 'application/apply-patch+yaml' }, payload: 'apiVersion: v1\nkind: Service\nmetadata:\n  name: fresh\nspec:\n  selector: {app: web}\n  ports: [{port: 80}]\n' });
      assert.equal(r.statusCode, 201, r.body);
      const o = r.json() as KubeObject & { spec: { type: string; ports: { targetPort: number; protocol: string }[] } };
      assert.equal(o.spec.type, 'ClusterIP');
      assert.deepEqual(o.spec.ports[0], { port: 80, targetPort: 80, protocol: 'TCP' });
      assert.equal(o.metadata.resourceVersion, undefined);
      assert.ok(o.metadata.uid);
    });

    it('keeps refusing kinds gantry writes itself, and every write without dryRun=All, with the 405 message', async () => {
      const node = await api.inject({ method: 'POST', url: '/api/v1/nodes?dryRun=All', payload: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n' } } });
      assert.equal(node.statusCode, 405);
      const real = await patch('application/strategic-merge-patch+json', { spec: { replicas: 3 } }, false);
      assert.equal(real.statusCode, 405);
      assert.match((real.json() as { message: string }).message, /gantry is driven by Git: change Deployment default\/web by committing to the repo \(https:\/\/git\.example\.com\/shop\.git\): it is declared in web\/deployment\.yaml/);
      const del = await api.inject({ method: 'DELETE', url: web, payload: { kind: 'DeleteOptions', apiVersion: 'v1' } });
      assert.equal(del.statusCode, 405);
    });
  });

  describe('with kubectl', () => {
    let cacheDir = '';
    const kubectl = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
      new Promise((resolve) => {
        execFile('kubectl', [...args, `--server=${url}`, `--cache-dir=${cacheDir}`], { cwd: dir, env: { ...process.env, KUBECONFIG: path.join(dir, 'kubeconfig') }, timeout: 20_000 }, (err, stdout, stderr) => {
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
        });
      });
    const ok = async (args: string[]): Promise<string> => {
      const r = await kubectl(args);
      assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed:\n${r.stderr}`);
      assert.doesNotMatch(r.stderr, /openapi|error calculating patch/i, 'kubectl had no trouble with the schemas');
      return r.stdout;
    };

    before(function () {
      if (!kubectlPresent()) {
        console.log('    kubectl is not on the PATH: skipping the kubectl dry-run and explain tests');
        return this.skip();
      }
      cacheDir = path.join(dir, 'cache');
    });

    it('explains kinds and fields with gantry\'s descriptions', async () => {
      const containers = await ok(['explain', 'pod.spec.containers']);
      assert.match(containers, /^KIND:\s+Pod$/m);
      assert.match(containers, /^FIELD: containers <\[\]Container>$/m);
      assert.match(containers, /The containers of the pod/);
      assert.match(containers, /^ {2}image\t<string> -required-$/m);
      assert.match(containers, /The image to run/);
      const recursive = await ok(['explain', 'deployment', '--recursive']);
      assert.match(recursive, /^GROUP:\s+apps$/m);
      assert.match(recursive, /Deployment declares a replicated, stateless application/);
      assert.match(recursive, /^ {4}replicas\t<integer>$/m);
      assert.match(recursive, /^ {8}containers\t<\[\]Container> -required-$/m);
      assert.match(recursive, /^ {10}image\t<string> -required-$/m);
      const ports = await ok(['explain', 'svc.spec.ports']);
      assert.match(ports, /Merged\s+by port when patched/);
      assert.match(ports, /^ {2}targetPort\t<IntOrString>$/m);
    });

    it('diffs a manifest equal to the repo\'s as nothing (exit 0)', async () => {
      const r = await kubectl(['diff', '-f', 'repo.yaml']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, '');
    });

    it('diffs a changed replica count as exactly that change (exit 1)', async () => {
      const r = await kubectl(['diff', '-f', 'scaled.yaml']);
      assert.equal(r.code, 1, r.stderr);
      const changed = r.stdout.split('\n').filter((l) => /^[-+]/.test(l) && !/^(---|\+\+\+) /.test(l)).map((l) => l.replace(/\s+/g, ' ').trim());
      // generation moves with any spec change, as on Kubernetes; nothing else differs.
      assert.deepEqual(changed, ['- generation: 1', '+ generation: 2', '- replicas: 2', '+ replicas: 3']);
    });

    it('applies a changed manifest with --dry-run=server: the merged object comes back, nothing is stored', async () => {
      assert.equal((await ok(['apply', '--dry-run=server', '-f', 'scaled.yaml'])).trim(), 'deployment.apps/web configured (server dry run)');
      const o = JSON.parse(await ok(['apply', '--dry-run=server', '-f', 'scaled.yaml', '-o', 'json'])) as KubeObject & { spec: { replicas: number; template: { spec: { containers: { env: unknown[]; imagePullPolicy: string }[] } } } };
      assert.equal(o.spec.replicas, 3);
      assert.deepEqual(o.spec.template.spec.containers[0]!.env, [{ name: 'MODE', value: 'prod' }]);
      assert.equal(o.spec.template.spec.containers[0]!.imagePullPolicy, 'IfNotPresent');
      assert.equal(o.metadata.annotations?.['gantry.dev/source-path'], 'web/deployment.yaml:1');
      assert.equal((await store.get<KubeObject & { spec: { replicas: number } }>({ kind: 'Deployment', namespace: 'default', name: 'web' }))!.spec.replicas, 2);
    });

    it('applies a new object with --dry-run=server as created, without creating it', async () => {
      assert.equal((await ok(['apply', '--dry-run=server', '-f', 'new.yaml'])).trim(), 'deployment.apps/api created (server dry run)');
      assert.equal(await store.get({ kind: 'Deployment', namespace: 'default', name: 'api' }), undefined);
    });

    it('refuses an invalid manifest, naming the field', async () => {
      const r = await kubectl(['apply', '--dry-run=server', '-f', 'invalid.yaml']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /The Deployment "broken" is invalid: spec\.replicas: must be greater than or equal to 0 \(got -1\)/);
    });

    it('applies server-side with --dry-run=server', async () => {
      assert.equal((await ok(['apply', '--server-side', '--dry-run=server', '-f', 'scaled.yaml'])).trim(), 'deployment.apps/web serverside-applied (server dry run)');
      const o = JSON.parse(await ok(['apply', '--server-side', '--dry-run=server', '-f', 'scaled.yaml', '-o', 'json'])) as { spec: { replicas: number } };
      assert.equal(o.spec.replicas, 3);
    });

    it('creates, replaces and deletes with --dry-run=server as the API server answers them', async () => {
      assert.equal((await ok(['create', '--dry-run=server', '-f', 'new.yaml'])).trim(), 'deployment.apps/api created (server dry run)');
      const taken = await kubectl(['create', '--dry-run=server', '-f', 'deployment.yaml']);
      assert.equal(taken.code, 1);
      assert.match(taken.stderr, /AlreadyExists.*deployments\.apps "web" already exists/);
      assert.equal((await ok(['replace', '--dry-run=server', '-f', 'scaled.yaml'])).trim(), 'deployment.apps/web replaced (server dry run)');
      assert.equal((await ok(['delete', '--dry-run=server', '-f', 'deployment.yaml'])).trim(), 'deployment.apps "web" deleted (server dry run)');
    });

    it('still refuses the real write with the 405 and where the object is declared', async () => {
      const r = await kubectl(['apply', '-f', 'scaled.yaml']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /MethodNotAllowed/);
      assert.match(r.stderr, /gantry is driven by Git: change Deployment default\/web by committing to the repo \(https:\/\/git\.example\.com\/shop\.git\): it is declared in web\/deployment\.yaml/);
      const del = await kubectl(['delete', '-f', 'deployment.yaml']);
      assert.equal(del.code, 1);
      assert.match(del.stderr, /driven by Git/);
    });
  });
});
