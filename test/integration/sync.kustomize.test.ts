import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startGantry, type RunningGantry } from '../../src/app.js';
import { silentLogger } from '../../src/log.js';
import { isManaged, SOURCE_PATH } from '../../src/model/annotations.js';
import type { ConfigMap, Deployment, KubeObject } from '../../src/model/types.js';
import { commitFiles, makeRepo, publishRepo, pushFiles, startGitHttpServer, tempDir, type GitHttpServer } from '../helpers/git-http-server.js';

const base = {
  'base/kustomization.yaml': `resources: [deployment.yaml]
configMapGenerator:
  - name: web-settings
    envs: [settings.env]
`,
  'base/settings.env': 'GREETING=hello\n',
  'base/deployment.yaml': `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: busybox
          command: [httpd, -f, -p, "8080"]
          envFrom:
            - configMapRef: {name: web-settings}
`,
  'overlays/prod/kustomization.yaml': `namespace: default
namePrefix: prod-
resources: [../../base]
commonLabels: {env: prod}
`,
};

async function eventually<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('a Kustomize overlay repository synced through the sync loop', function () {
  this.timeout(60_000);
  let tmp: { dir: string; cleanup(): Promise<void> };
  let server: GitHttpServer;
  let gantry: RunningGantry | undefined;

  before(async () => {
    tmp = await tempDir('gantry-kustomize-');
    const root = join(tmp.dir, 'srv');
    await mkdir(root);
    await makeRepo(join(tmp.dir, 'work'), base);
    await publishRepo(join(tmp.dir, 'work'), root, 'deploy');
    server = await startGitHttpServer({ root });
    gantry = await startGantry({
      config: { dataDir: join(tmp.dir, 'data'), repo: `${server.url}/deploy.git`, ref: 'main', intervalMs: 0, listen: '127.0.0.1:0' },
      logger: silentLogger(),
      components: { sync: true, controllers: true, api: false, audit: false },
    });
  });

  after(async () => {
    await gantry?.stop();
    await server?.close();
    await tmp?.cleanup();
  });

  const deployment = async (): Promise<Deployment | undefined> => gantry!.store.get<Deployment>({ kind: 'Deployment', namespace: 'default', name: 'prod-web' });
  const settingsName = (d: Deployment | undefined): string | undefined =>
    (d?.spec.template.spec.containers[0] as { envFrom?: Array<{ configMapRef?: { name: string } }> } | undefined)?.envFrom?.[0]?.configMapRef?.name;
  const replicaSets = async (): Promise<KubeObject[]> => (await gantry!.store.list('ReplicaSet')).items.filter((rs) => rs.metadata.name.startsWith('prod-web-'));

  it('applies the rendered overlay, each object naming its kustomization and file, and a ConfigMap change rolls the Deployment', async () => {
    const first = await gantry!.sync!.trigger('test');
    assert.equal(first.outcome, 'applied', first.error ?? JSON.stringify(first.issues));
    const d1 = await deployment();
    assert.ok(d1, 'the prefixed Deployment is stored');
    assert.equal(d1.metadata.annotations?.[SOURCE_PATH], 'overlays/prod/kustomization.yaml → base/deployment.yaml:1');
    assert.equal(d1.metadata.labels?.env, 'prod');
    const oldName = settingsName(d1)!;
    assert.match(oldName, /^prod-web-settings-[a-z0-9]{10}$/);
    const cm1 = await gantry!.store.get<ConfigMap>({ kind: 'ConfigMap', namespace: 'default', name: oldName });
    assert.equal(cm1?.data?.GREETING, 'hello');
    assert.equal((await gantry!.store.list('Deployment')).items.length, 1, 'the bare base is not deployed beside the overlay');
    await eventually(async () => ((await replicaSets()).length === 1 ? true : undefined), 'the first ReplicaSet');

    await pushFiles(join(tmp.dir, 'work'), { 'base/settings.env': 'GREETING=bonjour\n' }, 'settings: bonjour');
    const second = await gantry!.sync!.trigger('test');
    assert.equal(second.outcome, 'applied', second.error ?? JSON.stringify(second.issues));
    const newName = settingsName(await deployment())!;
    assert.notEqual(newName, oldName, 'the generated ConfigMap got a new hash suffix');
    assert.equal((await gantry!.store.get<ConfigMap>({ kind: 'ConfigMap', namespace: 'default', name: newName }))?.data?.GREETING, 'bonjour');
    assert.equal(await gantry!.store.get({ kind: 'ConfigMap', namespace: 'default', name: oldName }), undefined, 'the old ConfigMap is pruned');
    // The Deployment's pod template changed (its reference), so it rolls to a new ReplicaSet.
    await eventually(async () => ((await replicaSets()).length === 2 ? true : undefined), 'a second ReplicaSet for the new pod template');
  });
});

describe('a Kustomize overlay synced with --path, its base outside it', function () {
  this.timeout(60_000);
  const repo = {
    ...base,
    // A plain manifest outside --path: never deployed, though the repository holds it.
    'other/stray.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stray\n',
  };

  for (const transport of ['smart HTTP', 'a local path'] as const) {
    describe(`over ${transport}`, () => {
      let tmp: { dir: string; cleanup(): Promise<void> };
      let server: GitHttpServer | undefined;
      let gantry: RunningGantry | undefined;
      let commit: (files: Record<string, string>, message: string) => Promise<string>;

      before(async () => {
        tmp = await tempDir('gantry-kustomize-path-');
        const work = join(tmp.dir, 'work');
        await makeRepo(work, repo);
        let url = work;
        commit = (files, message) => commitFiles(work, files, message);
        if (transport === 'smart HTTP') {
          const root = join(tmp.dir, 'srv');
          await mkdir(root);
          await publishRepo(work, root, 'deploy');
          server = await startGitHttpServer({ root });
          url = `${server.url}/deploy.git`;
          commit = (files, message) => pushFiles(work, files, message);
        }
        gantry = await startGantry({
          config: { dataDir: join(tmp.dir, 'data'), repo: url, ref: 'main', path: 'overlays/prod', intervalMs: 0, listen: '127.0.0.1:0' },
          logger: silentLogger(),
          components: { sync: true, controllers: true, api: false, audit: false },
        });
      });

      after(async () => {
        await gantry?.stop();
        await server?.close();
        await tmp?.cleanup();
      });

      const replicaSets = async (): Promise<KubeObject[]> => (await gantry!.store.list('ReplicaSet')).items.filter((rs) => rs.metadata.name.startsWith('prod-web-'));

      it('deploys the overlay rendered over the base, names files from the repository root, and a commit changing only the base rolls the Deployment', async () => {
        const first = await gantry!.sync!.trigger('test');
        assert.equal(first.outcome, 'applied', first.error ?? JSON.stringify(first.issues));
        const d1 = await gantry!.store.get<Deployment>({ kind: 'Deployment', namespace: 'default', name: 'prod-web' });
        assert.equal(d1?.metadata.annotations?.[SOURCE_PATH], 'overlays/prod/kustomization.yaml → base/deployment.yaml:1');
        // Among the ConfigMaps the repo put there (controllers add kube-root-ca.crt to each namespace).
        const applied = (await gantry!.store.list('ConfigMap')).items.filter((c) => isManaged(c.metadata)).map((c) => c.metadata.name);
        assert.deepEqual(applied.filter((n) => !n.startsWith('prod-web-settings-')), [], 'nothing but the overlay\'s objects');
        assert.equal((await gantry!.store.list('Deployment')).items.length, 1);
        await eventually(async () => ((await replicaSets()).length === 1 ? true : undefined), 'the first ReplicaSet');

        const before = (await gantry!.store.list('ConfigMap')).items.map((c) => `${c.metadata.name}@${c.metadata.resourceVersion}`);
        const pinned = await commit({ 'base/deployment.yaml': base['base/deployment.yaml'].replace('image: busybox', 'image: busybox:1.36') }, 'base: pin busybox');
        // A local repository is also watched: the pass that applies the commit may be the watch's.
        await gantry!.sync!.trigger('test');
        await eventually(async () => (gantry!.sync!.lastOutcome?.revision?.commit === pinned ? true : undefined), 'the pass of the base commit');
        const d2 = await gantry!.store.get<Deployment>({ kind: 'Deployment', namespace: 'default', name: 'prod-web' });
        assert.equal(d2?.spec.template.spec.containers[0]?.image, 'busybox:1.36');
        assert.equal(d2?.metadata.annotations?.[SOURCE_PATH], 'overlays/prod/kustomization.yaml → base/deployment.yaml:1');
        assert.deepEqual((await gantry!.store.list('ConfigMap')).items.map((c) => `${c.metadata.name}@${c.metadata.resourceVersion}`), before, 'nothing else changed');
        await eventually(async () => ((await replicaSets()).length === 2 ? true : undefined), 'a second ReplicaSet for the new pod template');

        const third = await gantry!.sync!.trigger('test');
        assert.equal(third.outcome, 'unchanged', 'a resync of the same commit changes nothing');
      });
    });
  }
});
