/**
 * Secrets and signatures benchmark: what encrypted Secrets and commit verification add to a
 * sync pass.
 *
 * - SOPS: a repo of 1,000 Secrets, encrypted (age) and in plain text; the first pass through the
 *   real sync loop (decrypt, load, validate, plan, SQLite apply) and a no-op resync of each.
 *   Decrypted files are kept by blob id, so only the first pass (or a changed file) pays for age.
 * - Signatures: verifying a commit signed with an SSH (Ed25519) key and one signed with OpenPGP
 *   (gpg, Ed25519), each a fresh commit, as a new revision costs it.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { built } from './build.js';
import { percentile } from './stats.js';

const run = promisify(execFile);

function ms(start: bigint): number {
  return Math.round(Number(process.hrtime.bigint() - start) / 1e5) / 10;
}

const secret = (i: number): string => `apiVersion: v1
kind: Secret
metadata:
  name: app-${i}
  namespace: team-${i % 20}
type: Opaque
stringData:
  password: s3cret-${i}
  token: t0ken-${i}
`;

/** Runs the benchmark and returns its figures (milliseconds unless named otherwise). */
export async function benchSecrets(opts: { count?: number; commits?: number } = {}): Promise<Record<string, number | string>> {
  const count = opts.count ?? 1000;
  const commits = opts.commits ?? 20;
  const { silentLogger } = await built<typeof import('../src/log.js')>('log.js');
  const { openSqliteStore } = await built<typeof import('../src/store/sqlite.js')>('store/sqlite.js');
  const { GitSource } = await built<typeof import('../src/sync/git-source.js')>('sync/git-source.js');
  const { SyncLoop } = await built<typeof import('../src/sync/loop.js')>('sync/loop.js');
  const { SopsDecryptor } = await built<typeof import('../src/sync/sops/decryptor.js')>('sync/sops/decryptor.js');
  const { encryptSopsText } = await built<typeof import('../src/sync/sops/file.js')>('sync/sops/file.js');
  const { loadTrustedKeys } = await built<typeof import('../src/sync/signatures/trusted-keys.js')>('sync/signatures/trusted-keys.js');
  const { CommitVerifier } = await built<typeof import('../src/sync/signatures/verifier.js')>('sync/signatures/verifier.js');
  const age = await import('age-encryption');
  const root = mkdtempSync(join(tmpdir(), 'gantry-bench-secrets-'));
  const gnupgHome = join(root, 'gnupg');
  const env = { ...process.env, GNUPGHOME: gnupgHome };
  const git = (cwd: string, ...args: string[]) => execFileSync('git', ['-c', 'user.name=bench', '-c', 'user.email=bench@localhost', ...args], { cwd, env, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  try {
    const figures: Record<string, number | string> = { secrets: count };
    const identity = await age.generateX25519Identity();
    const recipient = await age.identityToRecipient(identity);
    const keys = async () => ({ identities: [identity], recipients: [recipient], searched: ['bench'], problems: [] });

    let t = process.hrtime.bigint();
    const repos = { plain: join(root, 'plain'), encrypted: join(root, 'encrypted') };
    for (const dir of Object.values(repos)) mkdirSync(dir);
    for (let i = 0; i < count; i++) {
      writeFileSync(join(repos.plain, `s${i}.yaml`), secret(i));
      writeFileSync(join(repos.encrypted, `s${i}.yaml`), await encryptSopsText(secret(i), 'yaml', { recipients: [recipient] }));
    }
    figures['encrypt one Secret (gantry secret encrypt, mean)'] = Math.round((ms(t) / count) * 100) / 100;

    for (const [name, dir] of Object.entries(repos)) {
      git(dir, 'init', '-q', '-b', 'main');
      git(dir, 'add', '.');
      git(dir, 'commit', '-q', '-m', 'secrets');
      const store = openSqliteStore(join(root, `${name}.db`));
      const loop = new SyncLoop({
        source: new GitSource({ url: dir, cacheDir: join(root, `${name}-cache`) }),
        store,
        logger: silentLogger(),
        ref: 'main',
        intervalMs: 0,
        describe: { repo: 'bench' },
        decryptor: new SopsDecryptor({ loadKeys: keys }),
      });
      t = process.hrtime.bigint();
      const first = await loop.syncOnce('bench');
      figures[`${name}: first pass (incl. SQLite apply)`] = ms(t);
      if (first.outcome !== 'applied') throw new Error(`${name}: ${first.outcome} ${JSON.stringify(first.issues?.[0] ?? first.error)}`);
      const noop: number[] = [];
      for (let i = 0; i < 5; i++) {
        t = process.hrtime.bigint();
        const again = await loop.syncOnce('bench');
        noop.push(ms(t));
        if (again.outcome !== 'unchanged') throw new Error(`${name}: no-op resync changed something`);
      }
      figures[`${name}: no-op resync (median of 5)`] = percentile(noop, 50);
      await store.close();
    }
    figures['decrypt one file on the first pass (mean, over plain)'] = Math.round(
      (((figures['encrypted: first pass (incl. SQLite apply)'] as number) - (figures['plain: first pass (incl. SQLite apply)'] as number)) / count) * 100,
    ) / 100;

    // Signatures: fresh commits signed by each kind of key, each verified once.
    mkdirSync(gnupgHome, { mode: 0o700 });
    await run('gpg', ['--batch', '--quiet', '--passphrase', '', '--quick-gen-key', 'Bench <bench@localhost>', 'ed25519', 'sign', 'never'], { env });
    const trusted = join(root, 'trusted');
    mkdirSync(trusted);
    writeFileSync(join(trusted, 'bench.asc'), (await run('gpg', ['--armor', '--export', 'bench@localhost'], { env })).stdout);
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bench', '-f', join(root, 'ssh')]);
    writeFileSync(join(trusted, 'allowed_signers'), `bench@localhost ${execFileSync('cat', [join(root, 'ssh.pub')]).toString().split(' ').slice(0, 2).join(' ')}\n`);
    const verifier = new CommitVerifier(await loadTrustedKeys(trusted));
    const signed = join(root, 'signed');
    mkdirSync(signed);
    git(signed, 'init', '-q', '-b', 'main');
    for (const [kind, sign] of [['SSH Ed25519', ['-c', 'gpg.format=ssh', '-c', `user.signingkey=${join(root, 'ssh')}`]], ['OpenPGP Ed25519', ['-c', 'user.signingkey=bench@localhost']]] as const) {
      const times: number[] = [];
      for (let i = 0; i < commits; i++) {
        writeFileSync(join(signed, 'f.txt'), `${kind} ${i}`);
        git(signed, 'add', '.');
        git(signed, ...sign, 'commit', '-q', '-S', '-m', `${kind} ${i}`);
        const id = git(signed, 'rev-parse', 'HEAD');
        const raw = Buffer.from(`${git(signed, 'cat-file', 'commit', id)}\n`);
        t = process.hrtime.bigint();
        const verdict = await verifier.verify(id, async () => raw);
        times.push(ms(t));
        if (!verdict.ok) throw new Error(`${kind}: ${verdict.reason}`);
      }
      figures[`verify a ${kind} commit (first, incl. loading the library)`] = times[0]!;
      figures[`verify a ${kind} commit (median of the next ${commits - 1})`] = percentile(times.slice(1), 50);
    }
    return figures;
  } finally {
    await run('gpgconf', ['--kill', 'all'], { env }).catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  }
}
