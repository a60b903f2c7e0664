/**
 * SOPS-encrypted Secrets through the real sync loop: a repo served over smart HTTP holds a
 * Secret encrypted to the age key in gantry's data directory; gantry applies the Secret it
 * decrypts to, and its plain value shows up nowhere a Secret's value is not meant to be: not in
 * gantry's log, the audit trail, the Sync status, a plan (live, or in CI against a branch), nor
 * the API for a read-only token. A file gantry cannot decrypt, or one changed after encryption,
 * rejects its revision whole.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import * as age from 'age-encryption';
import { pino } from 'pino';
import { readKubeconfig } from '../../src/api/auth/kubeconfig.js';
import { TokenFile } from '../../src/api/auth/tokens.js';
import { startGantry, type RunningGantry } from '../../src/app.js';
import { dataPaths } from '../../src/config.js';
import type { Secret } from '../../src/model/types.js';
import { encryptSopsText } from '../../src/sync/sops/file.js';
import type { SyncObject } from '../../src/sync/status.js';
import { apiRequest } from '../helpers/api-client.js';
import { runPlan } from '../../src/cli/commands/plan.js';
import { runStatus } from '../../src/cli/commands/inspect.js';
import { git, makeRepo, publishRepo, pushFiles, startGitHttpServer, tempDir, type GitHttpServer } from '../helpers/git-http-server.js';

const PASSWORD = 'correct-horse-battery-staple';
const NEW_PASSWORD = 'tr0ub4dor-and-3';

const secret = (password: string): string => `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: default
type: Opaque
stringData:
  password: ${password}
`;

const CONFIGMAP = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: site\ndata:\n  greeting: hello\n';

describe('SOPS-encrypted Secrets through the sync loop (Git over smart HTTP)', function () {
  this.timeout(90_000);
  let tmp: { dir: string; cleanup(): Promise<void> };
  let server: GitHttpServer;
  let work: string;
  let dataDir: string;
  let recipient: string;
  let gantry: RunningGantry | undefined;
  const logLines: string[] = [];

  const encrypt = (text: string, to = recipient): Promise<string> => encryptSopsText(text, 'yaml', { recipients: [to] });
  const syncStatus = async (): Promise<SyncObject['status']> => (await gantry!.store.get<SyncObject>({ kind: 'Sync', name: 'default' }))?.status;

  before(async () => {
    tmp = await tempDir('gantry-sops-sync-');
    dataDir = join(tmp.dir, 'data');
    await mkdir(dataDir, { recursive: true });
    const identity = await age.generateX25519Identity();
    recipient = await age.identityToRecipient(identity);
    await writeFile(dataPaths(dataDir).ageKey, `# public key: ${recipient}\n${identity}\n`, { mode: 0o600 });

    work = join(tmp.dir, 'work');
    await makeRepo(work, { 'app/db.enc.yaml': await encrypt(secret(PASSWORD)), 'app/site.yaml': CONFIGMAP });
    const root = join(tmp.dir, 'srv');
    await mkdir(root);
    await publishRepo(work, root, 'deploy');
    server = await startGitHttpServer({ root });
    const sink = new Writable({ write(chunk: Buffer, _enc, done) { logLines.push(chunk.toString()); done(); } });
    gantry = await startGantry({
      config: { dataDir, repo: `${server.url}/deploy.git`, ref: 'main', path: 'app', intervalMs: 0, listen: '127.0.0.1:0' },
      logger: pino({ level: 'trace' }, sink),
      components: { sync: true, api: true, audit: true },
    });
  });

  after(async () => {
    await gantry?.stop();
    await server?.close();
    await tmp?.cleanup();
  });

  it('applies the Secret the encrypted file decrypts to', async () => {
    const out = await gantry!.sync!.trigger('test');
    assert.equal(out.outcome, 'applied', JSON.stringify(out.issues ?? out.error));
    const stored = await gantry!.store.get<Secret>({ kind: 'Secret', namespace: 'default', name: 'db' });
    assert.equal(Buffer.from(stored!.data!.password!, 'base64').toString(), PASSWORD);
  });

  it('shows the value to an admin token as any Secret, and refuses a read-only token', async () => {
    const admin = { apiUrl: gantry!.apiUrl!, ca: gantry!.ca, token: (await readKubeconfig(gantry!.kubeconfig!)).token };
    const res = await apiRequest(admin, '/api/v1/namespaces/default/secrets/db');
    assert.equal(res.status, 200);
    assert.equal(Buffer.from(res.json<Secret>().data!.password!, 'base64').toString(), PASSWORD);
    const viewer = { ...admin, token: await new TokenFile(dataPaths(dataDir).tokens).create('viewer', 'read-only') };
    // The server picks a new token up within a second.
    let status = 401;
    for (let i = 0; i < 50 && status === 401; i++) {
      status = (await apiRequest(viewer, '/api/v1/namespaces/default/secrets/db')).status;
      if (status === 401) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status, 403);
    for (const path of ['/apis/gantry.dev/v1/status', '/apis/gantry.dev/v1/history']) {
      const body = (await apiRequest(admin, path)).body;
      assert.ok(!body.includes(PASSWORD), `${path} holds no plain value`);
    }
  });

  it('plans a change of the encrypted value as a changed key, naming neither value (live, and in CI against a branch)', async () => {
    await git(work, ['checkout', '-q', '-b', 'rotate']);
    await writeFile(join(work, 'app/db.enc.yaml'), await encrypt(secret(NEW_PASSWORD)));
    await git(work, ['commit', '-qam', 'rotate the db password']);
    const plan = (ref: string, o: { dataDir: string; live?: boolean; against?: string; format?: 'text' | 'markdown' }) =>
      runPlan(ref, { repo: work, path: 'app', format: o.format ?? 'text', color: false, ...o });
    const live = await plan('rotate', { dataDir, live: true });
    assert.equal(live.exitCode, 2, live.output);
    assert.match(live.output, /Secret default\/db/);
    assert.match(live.output, /password: \(changed\)/);

    // In CI: no store, the key given to the job (here in its data directory).
    const ciData = join(tmp.dir, 'ci-data');
    await mkdir(ciData);
    await copyFile(dataPaths(dataDir).ageKey, dataPaths(ciData).ageKey);
    const ci = await plan('rotate', { dataDir: ciData, against: 'main', format: 'markdown' });
    assert.equal(ci.exitCode, 2, ci.output);
    assert.match(ci.output, /default\/db/);
    for (const out of [live.output, ci.output]) {
      assert.ok(!out.includes(PASSWORD) && !out.includes(NEW_PASSWORD), 'no plain value in a plan');
      assert.ok(!out.includes(Buffer.from(NEW_PASSWORD).toString('base64')), 'nor its base64');
    }
    const noKey = await plan('rotate', { dataDir: join(tmp.dir, 'no-key'), against: 'main' });
    assert.equal(noKey.exitCode, 1, 'without a key the plan says it cannot decrypt');
    assert.match(noKey.output, /db\.enc\.yaml: cannot decrypt this SOPS file: no age key/);
    await git(work, ['checkout', '-q', 'main']);
  });

  it('rejects a revision whose Secret is encrypted to another key, naming the file; the last good one stays', async () => {
    const other = await age.identityToRecipient(await age.generateX25519Identity());
    const commit = await pushFiles(work, { 'app/db.enc.yaml': await encrypt(secret(NEW_PASSWORD), other), 'app/site.yaml': CONFIGMAP.replace('hello', 'changed') }, 'wrong key');
    const out = await gantry!.sync!.trigger('test');
    assert.equal(out.outcome, 'rejected');
    assert.equal(out.revision?.commit, commit);
    assert.equal(out.issues?.[0]?.file, 'app/db.enc.yaml');
    assert.match(out.issues![0]!.message, /cannot decrypt this SOPS file: none of gantry's age keys/);
    const st = await syncStatus();
    assert.equal(st?.conditions?.find((c) => c.type === 'Ready')?.reason, 'ValidationFailed');
    const cm = await gantry!.store.get<{ data: Record<string, string> } & Secret>({ kind: 'ConfigMap', namespace: 'default', name: 'site' });
    assert.equal(cm!.data!.greeting, 'hello', 'nothing from the rejected revision was applied');
  });

  it('rejects a file changed after it was encrypted (MAC mismatch)', async () => {
    const tampered = (await encrypt(secret(NEW_PASSWORD))).replace('name: db', 'name: dbx');
    await pushFiles(work, { 'app/db.enc.yaml': tampered }, 'tampered');
    const out = await gantry!.sync!.trigger('test');
    assert.equal(out.outcome, 'rejected');
    assert.match(out.issues![0]!.message, /MAC mismatch/);
    const status = await runStatus({ dataDir });
    assert.equal(status.exitCode, 2, 'a rejected revision exits as degraded does');
    assert.match(status.output, /db\.enc\.yaml: cannot decrypt this SOPS file: MAC mismatch/);
  });

  it('applies a rotated value, and no plain value ever reaches the log, the audit trail or the status', async () => {
    await pushFiles(work, { 'app/db.enc.yaml': await encrypt(secret(NEW_PASSWORD)) }, 'rotate');
    const out = await gantry!.sync!.trigger('test');
    assert.equal(out.outcome, 'applied', JSON.stringify(out.issues));
    const stored = await gantry!.store.get<Secret>({ kind: 'Secret', namespace: 'default', name: 'db' });
    assert.equal(Buffer.from(stored!.data!.password!, 'base64').toString(), NEW_PASSWORD);
    await gantry!.recorder!.flush();

    const history = execFileSync('git', ['--git-dir', dataPaths(dataDir).history, 'log', '-p', '--all'], { encoding: 'utf8', maxBuffer: 1 << 26 });
    const status = JSON.stringify(await syncStatus());
    const log = logLines.join('');
    assert.ok(history.includes('Secret default/db') || history.includes('default/secret/db.yaml'), 'the Secret is in the audit trail');
    for (const [where, text] of [['history', history], ['status', status], ['log', log]] as const) {
      for (const value of [PASSWORD, NEW_PASSWORD]) {
        assert.ok(!text.includes(value), `no plain value in the ${where}`);
        assert.ok(!text.includes(Buffer.from(value).toString('base64')), `no base64 value in the ${where}`);
      }
    }
  });
});
