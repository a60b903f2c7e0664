/**
 * `--verify-commits` through the real sync loop: commits signed with the real git (gpg and SSH
 * keys), followed from a local repository and over smart HTTP. A revision whose commit is
 * unsigned, signed by a key that is not trusted, or changed after signing is rejected whole: the
 * Sync status says why, the audit trail records it, the log has it, and the last good revision
 * stays in force until a properly signed commit arrives.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { stripVTControlCharacters } from 'node:util';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { startGantry, type RunningGantry } from '../../src/app.js';
import { runStatus } from '../../src/cli/commands/inspect.js';
import { runSyncOnce } from '../../src/cli/commands/sync-once.js';
import { configFrom } from '../../src/cli/options.js';
import { dataPaths, type GantryConfig } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import type { ConfigMap } from '../../src/model/types.js';
import type { SyncObject } from '../../src/sync/status.js';
import { startGitHttpServer, type GitHttpServer } from '../helpers/git-http-server.js';
import { createSigning, tamperCommit, writeAllowedSigners, type Signing, type TestSshKey } from '../helpers/signing.js';

const configMap = (value: string): string => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: site\ndata:\n  greeting: ${value}\n`;

describe('signed commits through the sync loop (--verify-commits)', function () {
  this.timeout(90_000);
  let s: Signing;
  let trusted: string;
  let ops: TestSshKey;
  let intruder: TestSshKey;

  before(async () => {
    s = await createSigning();
    ops = await s.sshKey('ops');
    intruder = await s.sshKey('intruder');
    trusted = join(s.dir, 'trusted');
    await mkdir(trusted);
    await writeAllowedSigners(join(trusted, 'allowed_signers'), [{ principal: 'ops@example.com', key: ops }]);
    await writeFile(join(trusted, 'release.asc'), await s.gpgKey('Release Manager', 'release@example.com'));
    await s.gpgKey('Someone Else', 'someone@example.com');
  });
  after(() => s.cleanup());

  /** A repo whose first commit ops signed, and gantry following it with the given source URL. */
  async function setUp(name: string, serve: (work: string) => Promise<{ url: string; push(): Promise<void>; close(): Promise<void> }>) {
    const root = join(s.dir, name);
    const work = join(root, 'work');
    await mkdir(work, { recursive: true });
    await s.git(work, ['init', '-q', '-b', 'main']);
    const first = await s.commit(work, { 'site.yaml': configMap('v1') }, 'v1', { ssh: ops.path });
    const served = await serve(work);
    const lines: string[] = [];
    const sink = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(chunk.toString()); done(); } });
    const config: GantryConfig = { dataDir: join(root, 'data'), repo: served.url, ref: 'main', intervalMs: 0, listen: '127.0.0.1:0', verifyCommits: { trustedKeys: trusted } };
    const gantry = await startGantry({ config, logger: pino({ level: 'info' }, sink), components: { sync: true, api: false, audit: true } });
    return { root, work, first, served, gantry, lines, config };
  }

  const greeting = async (g: RunningGantry): Promise<string | undefined> =>
    (await g.store.get<ConfigMap>({ kind: 'ConfigMap', namespace: 'default', name: 'site' }))?.data?.greeting;
  const ready = async (g: RunningGantry) => (await g.store.get<SyncObject>({ kind: 'Sync', name: 'default' }))?.status?.conditions?.find((c) => c.type === 'Ready');

  it('follows a local repository: applies trusted signatures, rejects the rest whole, and records why', async () => {
    const env = await setUp('local', async (work) => ({ url: work, push: async () => undefined, close: async () => undefined }));
    const { gantry: g, work } = env;
    try {
      const applied = await g.sync!.trigger('test');
      assert.equal(applied.outcome, 'applied', applied.error);
      assert.equal(await greeting(g), 'v1');

      const unsigned = await s.commit(work, { 'site.yaml': configMap('unsigned') }, 'unsigned change', 'unsigned');
      const out = await g.sync!.trigger('test');
      assert.equal(out.outcome, 'rejected');
      assert.equal(out.error, `commit ${unsigned.slice(0, 7)} is not signed`);
      assert.equal(await greeting(g), 'v1', 'the last good revision stays in force');
      const cond = await ready(g);
      assert.equal(cond?.reason, 'VerificationFailed');
      assert.equal(cond?.message, `revision ${unsigned.slice(0, 7)} rejected: commit ${unsigned.slice(0, 7)} is not signed`);

      const byIntruder = await s.commit(work, { 'site.yaml': configMap('intruder') }, 'intruder change', { ssh: intruder.path });
      assert.match((await g.sync!.trigger('test')).error!, /is signed with SSH key SHA256:\S+ \(ssh-ed25519\), which is not a trusted key/);
      const bySomeone = await s.commit(work, { 'site.yaml': configMap('someone') }, 'someone change', { gpg: 'someone@example.com' });
      assert.match((await g.sync!.trigger('test')).error!, /is signed with OpenPGP key [0-9A-F]{16}, which is not a trusted key/);
      assert.equal(await greeting(g), 'v1');

      const released = await s.commit(work, { 'site.yaml': configMap('v2') }, 'release v2', { gpg: 'release@example.com' });
      const ok = await g.sync!.trigger('test');
      assert.equal(ok.outcome, 'applied', ok.error);
      assert.equal(await greeting(g), 'v2');
      assert.equal((await ready(g))?.reason, 'Applied');

      await g.recorder!.flush();
      const history = execFileSync('git', ['--git-dir', dataPaths(env.config.dataDir).history, 'log', 'status', '--format=%s'], { encoding: 'utf8' });
      for (const c of [unsigned, byIntruder, bySomeone]) assert.match(history, new RegExp(`sync ${c.slice(0, 7)}: rejected — commit ${c.slice(0, 7)} (is not signed|is signed with)`));
      assert.match(history, new RegExp(`sync ${released.slice(0, 7)}: applied`));
      const log = env.lines.join('');
      assert.match(log, new RegExp(`"revision":"${unsigned.slice(0, 7)}","reason":"commit ${unsigned.slice(0, 7)} is not signed".*"msg":"revision rejected: its commit signature does not verify`));
      assert.match(log, /"signer":"Release Manager <release@example\.com> \(OpenPGP [0-9A-F]{40}\)".*"msg":"commit signature verified"/);
    } finally {
      await g.stop();
    }

    // gantry sync --once says why, and exits 1.
    const late = await s.commit(work, { 'site.yaml': configMap('late') }, 'late unsigned change', 'unsigned');
    const once = await runSyncOnce({ dataDir: env.config.dataDir, repo: work, ref: 'main', interval: '0', listen: '127.0.0.1:0', verifyCommits: true, trustedKeys: trusted, logLevel: 'silent' });
    assert.equal(once.exitCode, 1);
    assert.equal(once.output, `revision ${late.slice(0, 7)} rejected; nothing applied:\n  commit ${late.slice(0, 7)} is not signed`);
  });

  it('follows a repository over smart HTTP: a commit changed after signing is rejected, and gantry status says why', async () => {
    let server: GitHttpServer | undefined;
    const env = await setUp('http', async (work) => {
      const srv = join(s.dir, 'http', 'srv');
      await mkdir(srv, { recursive: true });
      await s.git(srv, ['clone', '-q', '--bare', work, join(srv, 'deploy.git')]);
      await s.git(work, ['remote', 'add', 'origin', join(srv, 'deploy.git')]);
      server = await startGitHttpServer({ root: srv });
      return { url: `${server.url}/deploy.git`, push: () => s.git(work, ['push', '-q', '-f', 'origin', 'HEAD:main']).then(() => undefined), close: () => server!.close() };
    });
    const { gantry: g, work, served } = env;
    try {
      assert.equal((await g.sync!.trigger('test')).outcome, 'applied');
      const signed = await s.commit(work, { 'site.yaml': configMap('v2') }, 'greeting v2', { ssh: ops.path });
      const forged = await tamperCommit(s, work, signed, 'greeting v2', 'greeting v2 (trust me)');
      await served.push();
      const out = await g.sync!.trigger('test');
      assert.equal(out.outcome, 'rejected');
      assert.equal(out.revision?.commit, forged);
      assert.match(out.error!, /has a bad SSH signature by ops@example\.com: the signature does not match the commit/);
      assert.equal(await greeting(g), 'v1');
      const status = await runStatus({ dataDir: env.config.dataDir });
      assert.equal(status.exitCode, 2, 'a rejected revision exits as degraded does');
      assert.match(stripVTControlCharacters(status.output), /Sync: +Rejected \(VerificationFailed\)/);
      assert.match(status.output, /has a bad SSH signature by ops@example\.com/);

      await s.commit(work, { 'site.yaml': configMap('v3') }, 'greeting v3', { ssh: ops.path });
      await served.push();
      assert.equal((await g.sync!.trigger('test')).outcome, 'applied');
      assert.equal(await greeting(g), 'v3');
    } finally {
      await g.stop();
      await served.close();
    }
  });

  it('refuses to start without usable trusted keys, and --trusted-keys without --verify-commits', async () => {
    const dataDir = join(s.dir, 'nokeys');
    await assert.rejects(
      startGantry({ config: { dataDir, repo: s.dir, intervalMs: 0, listen: '127.0.0.1:0', verifyCommits: { trustedKeys: join(dataDir, 'trusted-keys') } }, logger: silentLogger(), components: { sync: true, api: false, audit: false } }),
      /--trusted-keys: cannot read .*trusted-keys/,
    );
    assert.throws(() => configFrom({ dataDir, interval: '30s', listen: '127.0.0.1:0', trustedKeys: trusted }, s.dir), /--trusted-keys has no effect without --verify-commits/);
    assert.deepEqual(configFrom({ dataDir, interval: '30s', listen: '127.0.0.1:0', verifyCommits: true }, s.dir).verifyCommits, { trustedKeys: join(dataDir, 'trusted-keys') });
  });
});
