/**
 * Signed commits for tests, made with the real tools: OpenPGP keys by `gpg` in a GNUPGHOME of
 * the test's own, SSH keys by `ssh-keygen`, commits by `git commit -S` (with `gpg.format=ssh`
 * for SSH keys). {@link Signing.cleanup} stops the gpg-agent the keyring started and removes it.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TEST_IDENTITY, tempDir, writeFiles } from './git-http-server.js';

const run = promisify(execFile);

/** How a commit is signed: not at all, with an OpenPGP key (by email), or with an SSH key file. */
export type Signer = { gpg: string } | { ssh: string } | 'unsigned';

/** An SSH key made for a test. */
export interface TestSshKey {
  /** The private key file (git's user.signingkey). */
  path: string;
  /** The public key line (`ssh-ed25519 AAAA… comment`). */
  publicLine: string;
}

/** A test's signing keys. */
export interface Signing {
  dir: string;
  /** Makes an OpenPGP signing key (Ed25519) for `email`; returns its armored public key. */
  gpgKey(name: string, email: string): Promise<string>;
  /** Makes an SSH key of `type` (`ed25519`, `rsa`, `ecdsa-256`, `ecdsa-384`, `ecdsa-521`). */
  sshKey(name: string, type?: string): Promise<TestSshKey>;
  /** Writes `files` in `work`, commits them signed by `signer`, returns the commit id. */
  commit(work: string, files: Record<string, string | null>, message: string, signer: Signer): Promise<string>;
  /** Runs git in `cwd` with the keyring's environment. */
  git(cwd: string, args: string[], input?: string): Promise<string>;
  cleanup(): Promise<void>;
}

/** A fresh keyring in a temp directory. */
export async function createSigning(): Promise<Signing> {
  const tmp = await tempDir('gantry-signing-');
  const gnupgHome = join(tmp.dir, 'gnupg');
  await mkdir(gnupgHome, { mode: 0o700 });
  const env = { ...process.env, GNUPGHOME: gnupgHome, GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0' };
  const git = async (cwd: string, args: string[], input?: string): Promise<string> => {
    const child = execFile('git', ['-c', `user.name=${TEST_IDENTITY.name}`, '-c', `user.email=${TEST_IDENTITY.email}`, '-c', 'gc.auto=0', ...args], { cwd, env, maxBuffer: 1 << 26 });
    if (input !== undefined) child.stdin!.end(input);
    const out = await new Promise<string>((resolve, reject) => {
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`git ${args.join(' ')}: ${stderr}`))));
    });
    return out.trim();
  };
  return {
    dir: tmp.dir,
    async gpgKey(name, email) {
      await run('gpg', ['--batch', '--quiet', '--passphrase', '', '--quick-gen-key', `${name} <${email}>`, 'ed25519', 'sign', 'never'], { env });
      return (await run('gpg', ['--armor', '--export', email], { env })).stdout;
    },
    async sshKey(name, type = 'ed25519') {
      const path = join(tmp.dir, `ssh-${name}`);
      const [t, bits] = type.split('-');
      await run('ssh-keygen', ['-q', '-t', t!, ...(bits ? ['-b', bits] : t === 'rsa' ? ['-b', '2048'] : []), '-N', '', '-C', name, '-f', path]);
      return { path, publicLine: (await readFile(`${path}.pub`, 'utf8')).trim() };
    },
    async commit(work, files, message, signer) {
      await writeFiles(work, files);
      await git(work, ['add', '-A']);
      const sign = signer === 'unsigned'
        ? ['-c', 'commit.gpgsign=false']
        : 'gpg' in signer
          ? ['-c', 'gpg.format=openpgp', '-c', `user.signingkey=${signer.gpg}`]
          : ['-c', 'gpg.format=ssh', '-c', `user.signingkey=${signer.ssh}`];
      await git(work, [...sign, 'commit', '-q', '--allow-empty', ...(signer === 'unsigned' ? [] : ['-S']), '-m', message]);
      return git(work, ['rev-parse', 'HEAD']);
    },
    git,
    async cleanup() {
      await run('gpgconf', ['--kill', 'all'], { env }).catch(() => undefined);
      await tmp.cleanup();
    },
  };
}

/**
 * Rewrites `commit` with `from` replaced by `to` in its message, keeping its signature (so the
 * signature no longer matches), points the current branch at the result and returns its id.
 */
export async function tamperCommit(s: Signing, work: string, commit: string, from: string, to: string): Promise<string> {
  const raw = await s.git(work, ['cat-file', 'commit', commit]);
  if (!raw.includes(from)) throw new Error(`"${from}" is not in commit ${commit}`);
  const forged = await s.git(work, ['hash-object', '-t', 'commit', '-w', '--stdin'], `${raw.replace(from, to)}\n`);
  await s.git(work, ['reset', '-q', '--hard', forged]);
  return forged;
}

/** Writes an allowed_signers file for `entries` (principal, public key line, options). */
export async function writeAllowedSigners(path: string, entries: Array<{ principal: string; key: TestSshKey; options?: string }>): Promise<void> {
  await writeFile(path, entries.map((e) => `${e.principal}${e.options ? ` ${e.options}` : ''} ${e.key.publicLine.split(' ').slice(0, 2).join(' ')}\n`).join(''));
}
