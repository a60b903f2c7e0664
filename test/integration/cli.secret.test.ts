/**
 * `gantry secret keygen|encrypt|decrypt`, as a user runs them: a key in the data directory, a
 * Secret encrypted from stdin to stdout and decrypted back, files edited in place, keys made by
 * the real age-keygen.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { runSecretDecrypt, runSecretEncrypt, runSecretKeygen } from '../../src/cli/commands/secret.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/git-http-server.js';

const SECRET = `apiVersion: v1
kind: Secret
metadata:
    name: api
    namespace: default
type: Opaque
stringData:
    token: s3cr3t-t0ken
`;

describe('gantry secret', function () {
  this.timeout(60_000);
  let tmp: { dir: string; cleanup(): Promise<void> };
  let dataDir: string;
  let recipient: string;
  const env = (): NodeJS.ProcessEnv => ({ HOME: tmp.dir, XDG_CONFIG_HOME: join(tmp.dir, 'config') });

  before(async () => {
    tmp = await tempDir('gantry-secret-cli-');
    dataDir = join(tmp.dir, 'data');
  });
  after(() => tmp.cleanup());

  it('keygen writes an age key readable by its owner only, prints its public key, and never overwrites it', async () => {
    const notes: string[] = [];
    const made = await runSecretKeygen({ dataDir, notice: (t) => notes.push(t) });
    recipient = made.output;
    assert.match(notes.join(''), /age key written to .*age\.key/);
    assert.match(recipient, /^age1[0-9a-z]{58}$/);
    const file = join(dataDir, 'age.key');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.match(await readFile(file, 'utf8'), new RegExp(`^# created: .*\\n# public key: ${recipient}\\nAGE-SECRET-KEY-1[0-9A-Z]+\\n$`));
    // The real age reads it as an identity.
    assert.equal(execFileSync('age-keygen', ['-y', file], { encoding: 'utf8' }).trim(), recipient);
    await assert.rejects(runSecretKeygen({ dataDir, notice: () => undefined }), new RegExp(`already exists; its public key: ${recipient}`));
  });

  it('encrypts stdin to stdout and decrypts it back, as a pipe', async () => {
    const enc = await runCli(['secret', 'encrypt', '--age', recipient, '-'], { input: SECRET, env: env() });
    assert.equal(enc.code, 0, enc.stderr);
    assert.match(enc.stdout, /token: ENC\[AES256_GCM,data:.*type:str\]/);
    assert.ok(!enc.stdout.includes('s3cr3t-t0ken'));
    const dec = await runCli(['secret', 'decrypt', '--data-dir', dataDir], { input: enc.stdout, env: env() });
    assert.equal(dec.code, 0, dec.stderr);
    assert.equal(dec.stdout, SECRET);
  });

  it('encrypts a file in place, to several recipients, one of them made by the real age-keygen', async () => {
    const ageKey = join(tmp.dir, 'ops.txt');
    execFileSync('age-keygen', ['-o', ageKey], { stdio: 'ignore' });
    const opsRecipient = execFileSync('age-keygen', ['-y', ageKey], { encoding: 'utf8' }).trim();
    const file = join(tmp.dir, 'secret.yaml');
    await writeFile(file, SECRET);
    const res = await runSecretEncrypt(file, { inPlace: true, age: [`${recipient},${opsRecipient}`], env: {} });
    assert.equal(res.output, '');
    const encrypted = await readFile(file, 'utf8');
    assert.equal((encrypted.match(/recipient: age1/g) ?? []).length, 2);
    // Either key decrypts it: the data directory's, or the ops key given as SOPS_AGE_KEY_FILE.
    const byOps = await runSecretDecrypt(file, { dataDir: join(tmp.dir, 'elsewhere'), env: { ...env(), SOPS_AGE_KEY_FILE: ageKey } });
    assert.equal(byOps.output, SECRET);
  });

  it('refuses to encrypt anything but a Secret, and needs a recipient', async () => {
    const cm = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  k: v\n';
    await assert.rejects(runSecretEncrypt(undefined, { age: [recipient], stdin: Readable.from([cm]), env: {} }), /stdin: document 1 is a ConfigMap; only Secrets may be encrypted/);
    await assert.rejects(runSecretEncrypt(undefined, { stdin: Readable.from([SECRET]), env: {} }), /--age/);
    const viaEnv = await runSecretEncrypt(undefined, { stdin: Readable.from([SECRET]), env: { SOPS_AGE_RECIPIENTS: recipient } });
    assert.match(viaEnv.output, /ENC\[AES256_GCM/);
  });

  it('says why a file does not decrypt', async () => {
    const enc = await runSecretEncrypt(undefined, { age: [recipient], stdin: Readable.from([SECRET]), env: {} });
    const file = join(tmp.dir, 'tampered.yaml');
    await writeFile(file, enc.output.replace('name: api', 'name: apx'));
    await assert.rejects(runSecretDecrypt(file, { dataDir, env: env() }), /tampered\.yaml: MAC mismatch/);
  });
});
