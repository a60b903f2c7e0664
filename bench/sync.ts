/**
 * Sync benchmark: a generated repo of 10,000 manifests, cold (load + validate + diff against an
 * empty store, then the apply transaction) and a no-op resync of the same revision through the
 * real sync loop (Git source, loader cache, SQLite store, plan).
 *
 * Then a Kustomize repository of 50 overlays × 10 objects, synced with `--path overlays/prod`
 * and its bases outside it, against plain manifests of the very objects it renders: the no-op
 * resync of each, and the Kustomize one with render reuse off (every pass renders and
 * validates again, as before renders were reused), as ratios to the plain one.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { built } from './build.js';

/** Writes `count` manifests (a realistic mix of kinds across 50 namespaces) into `dir`. */
export function generateManifests(dir: string, count: number): void {
  for (let i = 0; i < count; i++) {
    const ns = `team-${i % 50}`;
    const name = `app-${i}`;
    const folder = join(dir, ns);
    mkdirSync(folder, { recursive: true });
    let doc: string;
    switch (i % 4) {
      case 0:
        doc = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: ${ns}
  labels: {app: ${name}, team: "${ns}"}
spec:
  replicas: ${1 + (i % 3)}
  selector:
    matchLabels: {app: ${name}}
  template:
    metadata:
      labels: {app: ${name}}
    spec:
      containers:
        - name: main
          image: registry.example/${name}:1.${i % 10}.0
          args: ["--port", "8080"]
          ports: [{name: http, containerPort: 8080}]
          env:
            - {name: MODE, value: production}
            - name: DB_PASSWORD
              valueFrom: {secretKeyRef: {name: ${name}-secret, key: password}}
          resources:
            requests: {cpu: 100m, memory: 64Mi}
            limits: {memory: 128Mi}
          readinessProbe:
            httpGet: {path: /healthz, port: http}
`;
        break;
      case 1:
        doc = `apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  selector: {app: app-${i - 1}}
  ports:
    - {name: http, port: 80, targetPort: http}
`;
        break;
      case 2:
        doc = `apiVersion: v1
kind: ConfigMap
metadata:
  name: ${name}
  namespace: ${ns}
data:
  config.yaml: |
    listen: 8080
    level: info
    name: ${name}
`;
        break;
      default:
        doc = `apiVersion: v1
kind: Secret
metadata:
  name: app-${i - 3}-secret
  namespace: ${ns}
type: Opaque
stringData:
  password: s3cret-${i}
`;
    }
    writeFileSync(join(folder, `${name}.yaml`), doc);
  }
}

/**
 * Writes a Kustomize repository: `base/app-N` (a Deployment, a Service and 7 ConfigMaps) and
 * `overlays/prod/app-N` using it (namespace, prefix, labels, an image, a patch and a generated
 * ConfigMap): 10 objects per overlay.
 */
export function generateKustomizeRepo(dir: string, overlays: number): void {
  for (let i = 0; i < overlays; i++) {
    const base = join(dir, 'base', `app-${i}`);
    const overlay = join(dir, 'overlays', 'prod', `app-${i}`);
    mkdirSync(base, { recursive: true });
    mkdirSync(overlay, { recursive: true });
    const configs = Array.from({ length: 7 }, (_, n) => `config-${n}.yaml`);
    writeFileSync(join(base, 'kustomization.yaml'), `resources: [deployment.yaml, service.yaml, ${configs.join(', ')}]\n`);
    writeFileSync(join(base, 'deployment.yaml'), `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
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
          image: registry.example/web:1.0.0
          ports: [{name: http, containerPort: 8080}]
          envFrom: [{configMapRef: {name: settings}}]
          resources:
            requests: {cpu: 50m, memory: 32Mi}
          readinessProbe:
            httpGet: {path: /healthz, port: http}
`);
    writeFileSync(join(base, 'service.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{name: http, port: 80, targetPort: http}]\n');
    configs.forEach((f, n) => writeFileSync(join(base, f), `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: conf-${n}}\ndata:\n  app.conf: |\n    listen 8080\n    shard ${n}\n`));
    writeFileSync(join(overlay, 'kustomization.yaml'), `namespace: team-${i}
namePrefix: prod-
resources: [../../../base/app-${i}]
commonLabels: {env: prod, team: "team-${i}"}
images:
  - {name: registry.example/web, newTag: "1.${i}.0"}
configMapGenerator:
  - name: settings
    literals: [MODE=production, SHARD=${i}]
patches:
  - target: {kind: Deployment, name: web}
    patch: |-
      - {op: replace, path: /spec/replicas, value: 2}
`);
  }
}

function ms(start: bigint): number {
  return Math.round(Number(process.hrtime.bigint() - start) / 1e5) / 10;
}

/** Runs the benchmark and returns its figures (milliseconds unless named otherwise). */
export async function benchSync(opts: { count?: number; etcd?: boolean } = {}): Promise<Record<string, number | string>> {
  const count = opts.count ?? 10_000;
  // The built product, as gantry runs it (see bench/build.ts).
  const { makePlan } = await built<typeof import('../src/diff/plan.js')>('diff/plan.js');
  const { silentLogger } = await built<typeof import('../src/log.js')>('log.js');
  const { openSqliteStore } = await built<typeof import('../src/store/sqlite.js')>('store/sqlite.js');
  const { GitSource } = await built<typeof import('../src/sync/git-source.js')>('sync/git-source.js');
  const { loadManifests, ManifestCache } = await built<typeof import('../src/sync/loader.js')>('sync/loader.js');
  const { SyncLoop } = await built<typeof import('../src/sync/loop.js')>('sync/loop.js');
  const { validateObject } = await built<typeof import('../src/sync/validate.js')>('sync/validate.js');
  const { Cache } = await built<typeof import('../src/controllers/cache.js')>('controllers/cache.js');
  const { DECLARABLE_KINDS } = await built<typeof import('../src/model/kinds.js')>('model/kinds.js');
  const root = mkdtempSync(join(tmpdir(), 'gantry-bench-sync-'));
  let etcdServer: { destroy(): Promise<void> } | undefined;
  const openBenchEtcd = async () => {
    const { startTestEtcd } = await import('../test/helpers/etcd.js');
    const { openEtcdStore } = await built<typeof import('../src/store/etcd.js')>('store/etcd.js');
    const server = await startTestEtcd();
    etcdServer = server;
    return openEtcdStore({ endpoints: [server.endpoint], prefix: '/bench/' });
  };
  try {
    const repo = join(root, 'repo');
    mkdirSync(repo);
    generateManifests(repo, count);
    const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=bench', '-c', 'user.email=bench@localhost', ...args], { cwd: repo, stdio: 'ignore' });
    git('init', '-q', '-b', 'main');
    git('add', '.');
    git('commit', '-q', '-m', 'generated');

    const figures: Record<string, number | string> = { manifests: count };

    // Cold: a fresh source and cache, nothing in the store.
    let t = process.hrtime.bigint();
    const source = new GitSource({ url: repo, cacheDir: join(root, 'cache') });
    const rev = await source.resolve('main');
    const files = await source.files(rev.commit);
    figures['cold: read files from git'] = ms(t);
    t = process.hrtime.bigint();
    const cache = new ManifestCache();
    const loaded = loadManifests(files, { validate: validateObject, cache });
    figures['cold: parse + validate'] = ms(t);
    if (loaded.issues.length > 0) throw new Error(`generated repo invalid: ${JSON.stringify(loaded.issues[0])}`);
    t = process.hrtime.bigint();
    const plan = makePlan({ revision: rev, objects: loaded.objects }, [], { revision: rev.commit });
    figures['cold: diff (plan)'] = ms(t);
    figures['cold sync total (load + validate + diff)'] = Math.round(((figures['cold: read files from git'] as number) + (figures['cold: parse + validate'] as number) + (figures['cold: diff (plan)'] as number)) * 10) / 10;
    figures['cold sync target'] = '≤ 2000';
    if (plan.create.length !== count) throw new Error(`expected ${count} creates, got ${plan.create.length}`);

    // The real loop: first pass applies everything into SQLite, the second is a no-op resync.
    const store = opts.etcd ? await openBenchEtcd() : openSqliteStore(join(root, 'state.db'));
    const ac = new AbortController();
    // As in gantry up: live state comes from a watch-fed cache, not a store list per pass.
    const live = new Cache(store, DECLARABLE_KINDS);
    await live.start(ac.signal);
    const loop = new SyncLoop({
      live,
      source: new GitSource({ url: repo, cacheDir: join(root, 'cache2') }),
      store,
      logger: silentLogger(),
      ref: 'main',
      intervalMs: 0,
      describe: { repo: 'bench' },
    });
    t = process.hrtime.bigint();
    const first = await loop.syncOnce('bench');
    figures[`first sync through the loop incl. ${opts.etcd ? 'etcd' : 'SQLite'} apply`] = ms(t);
    if (first.outcome !== 'applied') throw new Error(`first pass: ${first.outcome} ${first.error ?? ''}`);
    const noop: number[] = [];
    for (let i = 0; i < 5; i++) {
      t = process.hrtime.bigint();
      const again = await loop.syncOnce('bench');
      noop.push(ms(t));
      if (again.outcome !== 'unchanged') throw new Error(`no-op resync changed something: ${again.plan?.update[0]?.key}`);
    }
    noop.sort((a, b) => a - b);
    figures['no-op resync (median of 5)'] = noop[2]!;
    figures['no-op resync target'] = '≤ 300';
    figures['cold / no-op ratio'] = Math.round(((figures['cold sync total (load + validate + diff)'] as number) / noop[2]!) * 10) / 10;
    figures['RSS after the passes (MB)'] = Math.round(process.memoryUsage().rss / 1e6);
    ac.abort();
    await store.close();
    await etcdServer?.destroy();
    if (!opts.etcd) Object.assign(figures, await benchKustomizeResync(root));
    return figures;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** The bench entry `etcd-resync`: the same passes with an etcd store (a private etcd on loopback). */
export async function benchSyncEtcd(): Promise<Record<string, number | string>> {
  const { etcdBinary } = await import('../test/helpers/etcd.js');
  if (!etcdBinary()) return { etcd: 'skipped: etcd is not installed (Debian package etcd-server)' };
  return benchSync({ etcd: true });
}

/**
 * No-op resyncs through the real loop (Git source, SQLite, plan): a Kustomize repository of
 * 50 overlays × 10 objects synced at `overlays/prod` with its bases outside, with and without
 * render reuse, and plain manifests of the same 500 objects. Median of 7 passes each, taken in
 * turns.
 */
async function benchKustomizeResync(root: string): Promise<Record<string, number | string>> {
  const overlays = 50;
  const { dump } = await import('js-yaml');
  const { silentLogger } = await built<typeof import('../src/log.js')>('log.js');
  const { openSqliteStore } = await built<typeof import('../src/store/sqlite.js')>('store/sqlite.js');
  const { GitSource } = await built<typeof import('../src/sync/git-source.js')>('sync/git-source.js');
  const { ManifestCache } = await built<typeof import('../src/sync/loader.js')>('sync/loader.js');
  const { loadRevision } = await built<typeof import('../src/sync/load-revision.js')>('sync/load-revision.js');
  const { SyncLoop } = await built<typeof import('../src/sync/loop.js')>('sync/loop.js');
  const { Cache } = await built<typeof import('../src/controllers/cache.js')>('controllers/cache.js');
  const { DECLARABLE_KINDS } = await built<typeof import('../src/model/kinds.js')>('model/kinds.js');
  const commitAll = (repo: string): void => {
    const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=bench', '-c', 'user.email=bench@localhost', ...args], { cwd: repo, stdio: 'ignore' });
    git('init', '-q', '-b', 'main');
    git('add', '.');
    git('commit', '-q', '-m', 'generated');
  };

  const kustomizeRepo = join(root, 'kustomize');
  generateKustomizeRepo(kustomizeRepo, overlays);
  commitAll(kustomizeRepo);
  // The plain repository holds what the overlays render, one object a file.
  const probe = new GitSource({ url: kustomizeRepo, cacheDir: join(root, 'probe'), path: 'overlays/prod' });
  const rendered = await loadRevision(probe, (await probe.resolve('main')).commit);
  if (rendered.issues.length > 0) throw new Error(`generated kustomize repo invalid: ${JSON.stringify(rendered.issues[0])}`);
  const plainRepo = join(root, 'plain');
  for (const { object } of rendered.objects) {
    const dir = join(plainRepo, object.metadata.namespace ?? 'cluster');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${object.kind}-${object.metadata.name}.yaml`), dump(object));
  }
  commitAll(plainRepo);

  // The three loops are set up first, then timed in turns, so load from elsewhere on the
  // machine falls on all three alike.
  const stops: Array<() => Promise<void>> = [];
  const setup = async (name: string, repo: string, path: string | undefined, cache: InstanceType<typeof ManifestCache>) => {
    const store = openSqliteStore(join(root, `${name}.db`));
    const ac = new AbortController();
    const live = new Cache(store, DECLARABLE_KINDS);
    await live.start(ac.signal);
    stops.push(async () => {
      ac.abort();
      await store.close();
    });
    const loop = new SyncLoop({
      live, store, cache, logger: silentLogger(), ref: 'main', intervalMs: 0, describe: { repo: name },
      source: new GitSource({ url: repo, cacheDir: join(root, `${name}-cache`), ...(path ? { path } : {}) }),
    });
    const first = await loop.syncOnce('bench');
    if (first.outcome !== 'applied') throw new Error(`${name}: first pass ${first.outcome} ${first.error ?? JSON.stringify(first.issues?.[0])}`);
    return { name, loop, times: [] as number[] };
  };
  let plain: number;
  let before: number;
  let after: number;
  try {
    const loops = [
      await setup('plain', plainRepo, undefined, new ManifestCache()),
      await setup('kustomize-rerender', kustomizeRepo, 'overlays/prod', new ManifestCache({ reuseRenders: false })),
      await setup('kustomize', kustomizeRepo, 'overlays/prod', new ManifestCache()),
    ];
    for (let round = 0; round < 7; round++) {
      for (const l of loops) {
        const t = process.hrtime.bigint();
        const again = await l.loop.syncOnce('bench');
        l.times.push(ms(t));
        if (again.outcome !== 'unchanged') throw new Error(`${l.name}: no-op resync changed something: ${again.plan?.update[0]?.key}`);
      }
    }
    [plain, before, after] = loops.map((l) => l.times.sort((a, b) => a - b)[3]!) as [number, number, number];
  } finally {
    for (const stop of stops) await stop();
  }
  const ratio = (x: number): number => Math.round((x / plain) * 10) / 10;
  return {
    'kustomize: objects (50 overlays × 10, bases outside --path)': rendered.objects.length,
    'kustomize: no-op resync of plain manifests of the same objects (median of 7)': plain,
    'kustomize: no-op resync, every pass renders (before)': before,
    'kustomize: no-op resync, renders reused (after)': after,
    'kustomize: before / plain ratio': ratio(before),
    'kustomize: after / plain ratio': ratio(after),
  };
}
