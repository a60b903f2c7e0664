/**
 * Commit signature verification against commits and signatures made by the real tools: `git
 * commit -S` with gpg and with SSH keys of each type, `ssh-keygen -Y sign` for namespaces, and
 * commits rewritten after signing.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { splitSignedCommit } from '../../src/sync/signatures/commit-object.js';
import { parseSshSignature, verifySshSignature } from '../../src/sync/signatures/ssh.js';
import { loadTrustedKeys, parseAllowedSigners } from '../../src/sync/signatures/trusted-keys.js';
import { CommitVerifier, type Verdict } from '../../src/sync/signatures/verifier.js';
import { createSigning, tamperCommit, writeAllowedSigners, type Signing, type TestSshKey } from '../helpers/signing.js';

const run = promisify(execFile);

describe('commit signature verification', function () {
  this.timeout(60_000);
  let s: Signing;
  let work: string;
  let alicePgp: string;
  let bob: TestSshKey;
  before(async () => {
    s = await createSigning();
    work = join(s.dir, 'work');
    await mkdir(work);
    await s.git(work, ['init', '-q', '-b', 'main']);
    alicePgp = await s.gpgKey('Alice', 'alice@example.com');
    bob = await s.sshKey('bob');
  });
  after(() => s.cleanup());

  /** The verdict of a verifier trusting `trusted` (a file written under the keyring dir) on `commit`. */
  async function verdict(trusted: string, commit: string): Promise<Verdict> {
    const raw = Buffer.from(await s.git(work, ['cat-file', 'commit', commit]) + '\n');
    return new CommitVerifier(await loadTrustedKeys(trusted)).verify(commit, async () => raw);
  }

  async function trustedFile(name: string, text: string): Promise<string> {
    const path = join(s.dir, name);
    await writeFile(path, text);
    return path;
  }

  it('splits a signed commit into the exact payload git signs and the signature', async () => {
    const commit = await s.commit(work, { 'a.txt': 'a' }, 'first line\n\n  indented body line', { ssh: bob.path });
    const raw = Buffer.from(await s.git(work, ['cat-file', 'commit', commit]) + '\n');
    const split = splitSignedCommit(raw);
    assert.match(split.signature!, /^-----BEGIN SSH SIGNATURE-----\n[\s\S]+\n-----END SSH SIGNATURE-----\n$/);
    // git's payload: the object without the gpgsig header and its continuation lines.
    const expected = raw.toString('utf8').replace(/^gpgsig [^\n]*\n(?: [^\n]*\n)*/m, '');
    assert.equal(split.payload.toString('utf8'), expected);
    assert.ok(expected.endsWith('first line\n\n  indented body line\n'), 'the message, indented lines included, stays');
    assert.equal(split.committer, 'Test Author <author@example.com>');
    assert.equal(splitSignedCommit(Buffer.from('tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\nmsg\n')).signature, undefined);
  });

  it('accepts commits signed by trusted SSH keys of every supported type', async () => {
    const keys = await Promise.all(['ed25519', 'rsa', 'ecdsa-256', 'ecdsa-384', 'ecdsa-521'].map((t) => s.sshKey(`k-${t}`, t)));
    const allowed = join(s.dir, 'allowed-all');
    await writeAllowedSigners(allowed, keys.map((key, i) => ({ principal: `user${i}@example.com`, key })));
    for (const [i, key] of keys.entries()) {
      const commit = await s.commit(work, { 'k.txt': key.path }, `signed by ${key.path}`, { ssh: key.path });
      const v = await verdict(allowed, commit);
      assert.ok(v.ok, `${key.publicLine.split(' ')[0]}: ${JSON.stringify(v)}`);
      assert.match(v.signer, new RegExp(`^user${i}@example\\.com \\(${key.publicLine.split(' ')[0]} SHA256:`));
    }
  });

  it('accepts a commit signed by a trusted OpenPGP key, naming its user id', async () => {
    const commit = await s.commit(work, { 'p.txt': 'p' }, 'pgp', { gpg: 'alice@example.com' });
    const v = await verdict(await trustedFile('alice.asc', alicePgp), commit);
    assert.ok(v.ok, JSON.stringify(v));
    assert.match(v.signer, /^Alice <alice@example\.com> \(OpenPGP [0-9A-F]{40}\)$/);
  });

  it('rejects unsigned commits, and commits signed by keys that are not trusted, saying which key', async () => {
    const pgp = await trustedFile('alice-only.asc', alicePgp);
    const allowed = join(s.dir, 'allowed-bob');
    await writeAllowedSigners(allowed, [{ principal: 'bob@example.com', key: bob }]);
    const unsigned = await s.commit(work, { 'u.txt': 'u' }, 'unsigned', 'unsigned');
    assert.deepEqual(await verdict(pgp, unsigned), { ok: false, reason: `commit ${unsigned.slice(0, 7)} is not signed` });

    await s.gpgKey('Mallory', 'mallory@example.com');
    const byMallory = await s.commit(work, { 'm.txt': 'm' }, 'mallory', { gpg: 'mallory@example.com' });
    assert.match((await verdict(pgp, byMallory) as { reason: string }).reason, /is signed with OpenPGP key [0-9A-F]{16}, which is not a trusted key/);

    const eve = await s.sshKey('eve');
    const byEve = await s.commit(work, { 'e.txt': 'e' }, 'eve', { ssh: eve.path });
    assert.match((await verdict(allowed, byEve) as { reason: string }).reason, /is signed with SSH key SHA256:\S+ \(ssh-ed25519\), which is not a trusted key/);
    assert.match((await verdict(pgp, byEve) as { reason: string }).reason, /which is not a trusted key/, 'an SSH signature against OpenPGP keys only');
  });

  it('rejects a commit changed after it was signed, with SSH and with OpenPGP', async () => {
    const allowed = join(s.dir, 'allowed-bob2');
    await writeAllowedSigners(allowed, [{ principal: 'bob@example.com', key: bob }]);
    const signed = await s.commit(work, { 't.txt': 't' }, 'deploy v1', { ssh: bob.path });
    const forged = await tamperCommit(s, work, signed, 'deploy v1', 'deploy v666');
    assert.match((await verdict(allowed, forged) as { reason: string }).reason, /has a bad SSH signature by bob@example\.com: the signature does not match the commit/);

    const pgpSigned = await s.commit(work, { 't.txt': 'u' }, 'release 2', { gpg: 'alice@example.com' });
    const pgpForged = await tamperCommit(s, work, pgpSigned, 'release 2', 'release 3');
    assert.match((await verdict(await trustedFile('alice2.asc', alicePgp), pgpForged) as { reason: string }).reason, /has a bad OpenPGP signature: Alice <alice@example\.com>/);
  });

  it('honours allowed_signers namespaces and validity times (against the committer time, as git does)', async () => {
    const commit = await s.commit(work, { 'n.txt': 'n' }, 'ns', { ssh: bob.path });
    const onlyFiles = join(s.dir, 'allowed-ns');
    await writeAllowedSigners(onlyFiles, [{ principal: 'bob@example.com', key: bob, options: 'namespaces="file"' }]);
    assert.match((await verdict(onlyFiles, commit) as { reason: string }).reason, /may not sign it: .* limits it to namespaces file/);
    const expired = join(s.dir, 'allowed-old');
    await writeAllowedSigners(expired, [{ principal: 'bob@example.com', key: bob, options: 'valid-before="20200101Z"' }]);
    assert.match((await verdict(expired, commit) as { reason: string }).reason, /valid only before 2020-01-01T00:00:00\.000Z/);
    const current = join(s.dir, 'allowed-current');
    await writeAllowedSigners(current, [{ principal: 'bob@example.com', key: bob, options: 'namespaces="git,file",valid-after="20200101"' }]);
    assert.ok((await verdict(current, commit)).ok);
  });

  it('checks the SSHSIG namespace: a file signature is no commit signature', async () => {
    const data = join(s.dir, 'data.txt');
    await writeFile(data, 'payload');
    await run('ssh-keygen', ['-Y', 'sign', '-q', '-f', bob.path, '-n', 'file', data]);
    const sig = parseSshSignature(await readFile(`${data}.sig`, 'utf8'));
    const [signer] = parseAllowedSigners(`bob ${bob.publicLine}`, 'allowed');
    verifySshSignature(sig, signer!.key, Buffer.from('payload'), 'file');
    assert.throws(() => verifySshSignature(sig, signer!.key, Buffer.from('payload'), 'git'), /namespace "file", not "git"/);
    assert.throws(() => verifySshSignature(sig, signer!.key, Buffer.from('payloaD'), 'file'), /does not match/);
  });

  it('reads a directory of trusted keys: armored OpenPGP keys, allowed_signers and plain .pub lines', async () => {
    const dir = join(s.dir, 'trusted');
    await mkdir(dir);
    await writeFile(join(dir, 'alice.asc'), alicePgp);
    await writeFile(join(dir, 'allowed_signers'), `# team\n"bob@example.com,bob@corp" namespaces="git" ${bob.publicLine.split(' ').slice(0, 2).join(' ')}\n`);
    await writeFile(join(dir, 'carol.pub'), (await s.sshKey('carol')).publicLine);
    await writeFile(join(dir, '.hidden'), 'ignored');
    const keys = await loadTrustedKeys(dir);
    assert.equal(keys.openpgp.length, 1);
    assert.deepEqual(keys.ssh.map((k) => k.principals), [['bob@example.com', 'bob@corp'], ['carol']]);
    assert.deepEqual(keys.ssh[0]!.namespaces, ['git']);
  });

  it('refuses trusted-key files it cannot use, naming the file and line', async () => {
    assert.throws(() => parseAllowedSigners(`bob cert-authority ${bob.publicLine}`, 'signers'), /signers line 1: cert-authority .* not supported/);
    assert.throws(() => parseAllowedSigners('bob frobnicate ssh-ed25519 AAAA', 'signers'), /signers line 1: unknown option "frobnicate"/);
    assert.throws(() => parseAllowedSigners('\nbob ssh-ed25519 bm90IGEga2V5', 'signers'), /signers line 2: .*truncated/);
    const empty = join(s.dir, 'empty-dir');
    await mkdir(empty);
    await assert.rejects(loadTrustedKeys(empty), /no keys in/);
    const { stdout: secretKey } = await run('gpg', ['--batch', '--armor', '--pinentry-mode', 'loopback', '--passphrase', '', '--export-secret-keys', 'alice@example.com'], { env: { ...process.env, GNUPGHOME: join(s.dir, 'gnupg') } });
    await assert.rejects(loadTrustedKeys(await trustedFile('secret.asc', secretKey)), /holds a private key/);
  });
});
