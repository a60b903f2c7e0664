/**
 * Loading SOPS-encrypted manifests: where age keys come from, the decryptor a sync pass
 * prepares, and the loader turning an encrypted file into the Secrets it holds.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as age from 'age-encryption';
import { loadManifests } from '../../src/sync/loader.js';
import { loadAgeIdentities } from '../../src/sync/sops/age-keys.js';
import { SopsDecryptor } from '../../src/sync/sops/decryptor.js';
import { encryptSopsText } from '../../src/sync/sops/file.js';
import type { SourceFile } from '../../src/sync/types.js';
import { validateObject } from '../../src/sync/validate.js';
import { tempDir } from '../helpers/git-http-server.js';

const file = (path: string, text: string, oid?: string): SourceFile => ({ path, content: Buffer.from(text), oid });

const SECRET = `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: shop
type: Opaque
stringData:
  password: correct-horse
`;

/** An environment that points at nothing, so the machine's own keys never leak into a test. */
const emptyEnv = (dir: string): NodeJS.ProcessEnv => ({ HOME: dir, XDG_CONFIG_HOME: join(dir, 'config') });

describe('SOPS manifests at load', function () {
  this.timeout(20_000);
  let tmp: { dir: string; cleanup(): Promise<void> };
  let identity: string;
  let recipient: string;
  let encrypted: string;
  before(async () => {
    tmp = await tempDir('gantry-sops-load-');
    identity = await age.generateX25519Identity();
    recipient = await age.identityToRecipient(identity);
    encrypted = await encryptSopsText(SECRET, 'yaml', { recipients: [recipient] });
  });
  after(() => tmp.cleanup());

  it('reads age keys from the data directory, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY and sops\'s own key file', async () => {
    const ids = await Promise.all([0, 1, 2, 3].map(() => age.generateX25519Identity()));
    const dataDir = join(tmp.dir, 'data-a');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(dataDir), { recursive: true });
    await mkdir(join(tmp.dir, 'config', 'sops', 'age'), { recursive: true });
    await writeFile(join(dataDir, 'age.key'), `# created: now\n# public key: x\n${ids[0]}\n`);
    await writeFile(join(tmp.dir, 'file.key'), `${ids[1]}\n`);
    await writeFile(join(tmp.dir, 'config', 'sops', 'age', 'keys.txt'), `${ids[3]}\n`);
    const keys = await loadAgeIdentities({ dataDir, env: { ...emptyEnv(tmp.dir), SOPS_AGE_KEY_FILE: join(tmp.dir, 'file.key'), SOPS_AGE_KEY: ids[2] } });
    assert.deepEqual(keys.identities, ids);
    assert.deepEqual(keys.recipients, await Promise.all(ids.map((i) => age.identityToRecipient(i))));
    assert.deepEqual(keys.problems, []);
  });

  it('reports a key file it cannot use, naming the line, and a SOPS_AGE_KEY_FILE that is missing', async () => {
    const dataDir = join(tmp.dir, 'data-b');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(dataDir, { recursive: true });
    await writeFile(join(dataDir, 'age.key'), '# comment\nnot-a-key\n');
    const keys = await loadAgeIdentities({ dataDir, env: { ...emptyEnv(join(tmp.dir, 'nothing')), SOPS_AGE_KEY_FILE: join(tmp.dir, 'absent.key') } });
    assert.deepEqual(keys.identities, []);
    assert.equal(keys.problems.length, 2);
    assert.match(keys.problems[0]!, /age\.key line 2: not an age identity/);
    assert.match(keys.problems[1]!, /cannot read .*absent\.key/);
  });

  it('loads an encrypted Secret as the Secret it decrypts to, with lines in the encrypted file', async () => {
    const decryptor = new SopsDecryptor({ loadKeys: () => loadAgeIdentities({ env: { ...emptyEnv(join(tmp.dir, 'nothing')), SOPS_AGE_KEY: identity } }) });
    const files = [file('secrets/db.yaml', `# encrypted with sops\n${encrypted}`, 'blob1'), file('cm.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\n')];
    const found = await decryptor.prepare(files);
    const { objects, issues } = loadManifests(files, { validate: validateObject, encrypted: found });
    assert.deepEqual(issues, []);
    const secret = objects.find((o) => o.object.kind === 'Secret')!;
    assert.deepEqual(secret.object, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'shop' }, type: 'Opaque', stringData: { password: 'correct-horse' } });
    assert.deepEqual(secret.source, { file: 'secrets/db.yaml', line: 2, document: 0 });
  });

  it('points a validation problem of a decrypted Secret at its line in the encrypted file, without its value', async () => {
    const bad = await encryptSopsText(SECRET.replace('stringData:\n  password: correct-horse', 'data:\n  password: not base64!'), 'yaml', { recipients: [recipient] });
    const decryptor = new SopsDecryptor({ loadKeys: () => loadAgeIdentities({ env: { ...emptyEnv(join(tmp.dir, 'nothing')), SOPS_AGE_KEY: identity } }) });
    const files = [file('db.yaml', bad)];
    const found = await decryptor.prepare(files);
    const { issues } = loadManifests(files, { validate: validateObject, encrypted: found });
    assert.equal(issues.length, 1);
    assert.equal(issues[0]!.line, bad.split('\n').findIndex((l) => l.trim().startsWith('password:')) + 1);
    assert.doesNotMatch(JSON.stringify(issues), /not base64!/);
  });

  it('refuses every kind but Secret from an encrypted file: their values would be shown', async () => {
    const cm = await encryptSopsText('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  k: v\n', 'yaml', { recipients: [recipient] });
    const decryptor = new SopsDecryptor({ loadKeys: () => loadAgeIdentities({ env: { ...emptyEnv(join(tmp.dir, 'nothing')), SOPS_AGE_KEY: identity } }) });
    const files = [file('cm.yaml', cm)];
    const found = await decryptor.prepare(files);
    const { objects, issues } = loadManifests(files, { encrypted: found });
    assert.deepEqual(objects, []);
    assert.match(issues[0]!.message, /only Secrets may be SOPS-encrypted, this is a ConfigMap/);
    assert.equal(issues[0]!.object, 'ConfigMap/default/c');
  });

  it('makes an undecryptable file an issue naming the file and the reason, and an undecrypted one too', async () => {
    const other = await age.generateX25519Identity();
    const decryptor = new SopsDecryptor({ loadKeys: () => loadAgeIdentities({ env: { ...emptyEnv(join(tmp.dir, 'nothing')), SOPS_AGE_KEY: other } }) });
    const files = [file('db.yaml', encrypted)];
    const found = await decryptor.prepare(files);
    const { objects, issues } = loadManifests(files, { encrypted: found });
    assert.deepEqual(objects, []);
    assert.equal(issues[0]!.file, 'db.yaml');
    assert.match(issues[0]!.message, /^cannot decrypt this SOPS file: none of gantry's age keys .* is a recipient of this file \(age1/);

    const plain = loadManifests(files);
    assert.deepEqual(plain.objects, []);
    assert.match(plain.issues[0]!.message, /SOPS-encrypted and was not decrypted/);
  });

  it('keeps each load\'s files when a plan of another ref prepares between the sync\'s prepare and its load', async () => {
    const decryptor = new SopsDecryptor({ loadKeys: () => loadAgeIdentities({ env: { ...emptyEnv(join(tmp.dir, 'nothing')), SOPS_AGE_KEY: identity } }) });
    const syncFiles = [file('db.yaml', encrypted, 'blob-sync')];
    const forSync = await decryptor.prepare(syncFiles);
    // The plan's ref shares nothing with the sync's revision.
    await decryptor.prepare([file('cm.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\n', 'blob-plan')]);
    const { objects, issues } = loadManifests(syncFiles, { encrypted: forSync });
    assert.deepEqual(issues, []);
    assert.equal(objects[0]!.object.kind, 'Secret');
  });

  it('decrypts a file once, and tries again with the keys of the next pass after a failure', async () => {
    let identities: string[] = [];
    let loads = 0;
    const decryptor = new SopsDecryptor({
      loadKeys: async () => {
        loads++;
        return { identities, recipients: await Promise.all(identities.map((i) => age.identityToRecipient(i))), searched: ['test'], problems: [] };
      },
    });
    const files = [file('db.yaml', encrypted, 'blob2')];
    assert.match(((await decryptor.prepare(files)).lookup(files[0]!) as { error: string }).error, /no age key/);
    identities = [identity];
    assert.deepEqual((await decryptor.prepare(files)).lookup(files[0]!), { documents: [{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'shop' }, type: 'Opaque', stringData: { password: 'correct-horse' } }] });
    await decryptor.prepare(files);
    assert.equal(loads, 2, 'a decrypted file is not decrypted again');
    const mentions = [file('a.yaml', 'sops: mentioned, not a mapping\n'), file('b.json', '{"kind": "ConfigMap", "data": {"note": "sops"}}')];
    const found = await decryptor.prepare(mentions);
    assert.deepEqual(mentions.map((f) => found.lookup(f)), [undefined, undefined], 'a file that only mentions sops is not one');
    assert.equal(loads, 2, 'and needs no key');
  });
});
