/**
 * The SOPS format: values, typing, the MAC, the encryption rules, and the text sops writes.
 *
 * The first test builds an encrypted file by hand, step by step as getsops/sops documents the
 * format (AES-256-GCM per value with its path as additional data, SHA-512 MAC over the values in
 * order, the data key wrapped by the real `age` CLI), independently of gantry's encryptor, and
 * checks that gantry decrypts it. Files gantry writes are checked the other way round: the real
 * `age` unwraps their data key, and the values decrypt with it by hand.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as age from 'age-encryption';
import { parse as parseYaml } from 'yaml';
import type { AgeIdentities } from '../../src/sync/sops/age-keys.js';
import { emitJson, emitYaml } from '../../src/sync/sops/emit.js';
import { decryptSopsText, encryptSopsText, ruleFromOptions } from '../../src/sync/sops/file.js';
import { parseSopsText, resolvePlainV3, type SopsMap } from '../../src/sync/sops/tree.js';
import { decryptValue, encryptValue, formatFloatF } from '../../src/sync/sops/values.js';
import { tempDir } from '../helpers/git-http-server.js';

/** Identities as the loader hands them over. */
async function identities(...ids: string[]): Promise<AgeIdentities> {
  return { identities: ids, recipients: await Promise.all(ids.map((i) => age.identityToRecipient(i))), searched: ['test'], problems: [] };
}

/** An age key made by the real age-keygen: [identity, recipient]. */
function ageKeygen(dir: string, name: string): [string, string] {
  const file = join(dir, name);
  execFileSync('age-keygen', ['-o', file], { stdio: 'ignore' });
  const text = readFileSync(file, 'utf8');
  return [/^AGE-SECRET-KEY-1\S+$/m.exec(text)![0], /# public key: (\S+)/.exec(text)![1]!];
}

/** A value encrypted by hand, as sops's aes/cipher.go does. */
function handEncrypt(key: Buffer, plain: string, aad: string, type = 'str', ivByte = 1): string {
  const iv = Buffer.alloc(32, ivByte);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(aad));
  const data = Buffer.concat([c.update(plain), c.final()]);
  return `ENC[AES256_GCM,data:${data.toString('base64')},iv:${iv.toString('base64')},tag:${c.getAuthTag().toString('base64')},type:${type}]`;
}

/** Decrypts one sops value by hand with a known data key. */
function handDecrypt(key: Buffer, value: string, aad: string): string {
  const m = /^ENC\[AES256_GCM,data:(.*),iv:(.*),tag:(.*),type:(.*)\]$/.exec(value)!;
  const d = createDecipheriv('aes-256-gcm', key, Buffer.from(m[2]!, 'base64'));
  d.setAAD(Buffer.from(aad));
  d.setAuthTag(Buffer.from(m[3]!, 'base64'));
  return Buffer.concat([d.update(Buffer.from(m[1]!, 'base64')), d.final()]).toString('utf8');
}

/** `text` with `from` replaced; fails when `from` is not there, so a tampering test cannot pass by changing nothing. */
function replaced(text: string, from: string | RegExp, to: string): string {
  const out = text.replace(from, to);
  assert.notEqual(out, text, `expected ${String(from)} in the file`);
  return out;
}

const indent = (text: string, n: number): string => text.trimEnd().split('\n').map((l) => ' '.repeat(n) + l).join('\n');

describe('SOPS files', function () {
  this.timeout(20_000);
  let tmp: { dir: string; cleanup(): Promise<void> };
  let identity: string;
  let recipient: string;
  before(async () => {
    tmp = await tempDir('gantry-sops-');
    [identity, recipient] = ageKeygen(tmp.dir, 'key.txt');
  });
  after(() => tmp.cleanup());

  /** A Secret encrypted by hand (data key wrapped by the real age CLI). */
  function handMadeSecret(opts: { lastModified?: string } = {}): { text: string; dataKey: Buffer } {
    const dataKey = Buffer.alloc(32, 7);
    const enc = execFileSync('age', ['-e', '-a', '-r', recipient], { input: dataKey }).toString();
    const lastModified = opts.lastModified ?? '2024-05-01T10:00:00Z';
    // The MAC covers every value in order, encrypted or not, typed as go-yaml reads them:
    // "v1", "Secret", "db", "default", the annotation "0644" (quoted: a string), the password,
    // "True" for the bool.
    const mac = createHash('sha512').update('v1').update('Secret').update('db').update('default').update('0644').update('hunter2').update('True').digest('hex').toUpperCase();
    const text = `apiVersion: v1
kind: Secret
metadata:
    name: db
    namespace: default
    annotations:
        mode: "0644"
stringData:
    password: ${handEncrypt(dataKey, 'hunter2', 'stringData:password:')}
immutable: true
sops:
    age:
        - recipient: ${recipient}
          enc: |
${indent(enc, 12)}
    lastmodified: "${lastModified}"
    mac: ${handEncrypt(dataKey, mac, '2024-05-01T10:00:00Z', 'str', 2)}
    encrypted_regex: ^(data|stringData)$
    version: 3.9.0
`;
    return { text, dataKey };
  }

  it('decrypts a Secret encrypted by hand to the SOPS format, its data key wrapped by the real age CLI', async () => {
    const { documents } = await decryptSopsText(handMadeSecret().text, 'yaml', await identities(identity));
    assert.deepEqual(documents, [{
      apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'default', annotations: { mode: '0644' } },
      stringData: { password: 'hunter2' }, immutable: true,
    }]);
  });

  it('refuses a file whose unencrypted part was changed (MAC mismatch), naming no value', async () => {
    const tampered = replaced(handMadeSecret().text, 'name: db', 'name: dc');
    await assert.rejects(decryptSopsText(tampered, 'yaml', await identities(identity)), (err: Error) => {
      assert.match(err.message, /MAC mismatch/);
      assert.doesNotMatch(err.message, /hunter2/);
      return true;
    });
  });

  it('refuses a value moved to another key: its path is its additional data', async () => {
    const { text, dataKey } = handMadeSecret();
    const moved = replaced(text, /password: (ENC\[[^\]]+\])/, `password: ${handEncrypt(dataKey, 'hunter2', 'stringData:other:')}`);
    await assert.rejects(decryptSopsText(moved, 'yaml', await identities(identity)), /stringData\.password: does not authenticate/);
  });

  it('refuses a changed lastmodified: it authenticates the MAC', async () => {
    const { text } = handMadeSecret({ lastModified: '2024-05-01T10:00:01Z' });
    await assert.rejects(decryptSopsText(text, 'yaml', await identities(identity)), /cannot decrypt the MAC/);
  });

  it('refuses a file without a MAC', async () => {
    const text = replaced(handMadeSecret().text, /    mac: .*\n/, '');
    await assert.rejects(decryptSopsText(text, 'yaml', await identities(identity)), /no MAC/);
  });

  it('says which recipients the file is for when no key of gantry\'s is one of them', async () => {
    const other = await age.generateX25519Identity();
    const otherRecipient = await age.identityToRecipient(other);
    await assert.rejects(decryptSopsText(handMadeSecret().text, 'yaml', await identities(other)), (err: Error) => {
      assert.ok(err.message.includes(`none of gantry's age keys (${otherRecipient}) is a recipient of this file (${recipient})`), err.message);
      return true;
    });
    await assert.rejects(decryptSopsText(handMadeSecret().text, 'yaml', await identities()), /no age key to decrypt it with/);
  });

  it('writes files whose data key the real age CLI unwraps and whose values decrypt by hand', async () => {
    const plain = 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: api\nstringData:\n  token: s3cr3t\n';
    const text = await encryptSopsText(plain, 'yaml', { recipients: [recipient] });
    const doc = parseYaml(text) as { stringData: { token: string }; metadata: { name: string }; sops: { age: Array<{ recipient: string; enc: string }>; encrypted_regex: string } };
    assert.equal(doc.metadata.name, 'api', 'names stay readable');
    assert.equal(doc.sops.encrypted_regex, '^(data|stringData)$');
    assert.equal(doc.sops.age[0]!.recipient, recipient);
    const dataKey = execFileSync('age', ['-d', '-i', join(tmp.dir, 'key.txt')], { input: doc.sops.age[0]!.enc });
    assert.equal(dataKey.length, 32);
    assert.equal(handDecrypt(dataKey, doc.stringData.token, 'stringData:token:'), 's3cr3t');
  });

  it('round-trips multi-document YAML and JSON, types included', async () => {
    const yaml = 'a: 1\nb:\n  - yes\n  - 0o17\n  - 1.5\n  - true\n  - null\n  - ""\n---\nc:\n  d: "2024-01-01"\n';
    const encrypted = await encryptSopsText(yaml, 'yaml', { recipients: [recipient], rule: ruleFromOptions({ unencryptedSuffix: '' }) });
    assert.equal((encrypted.match(/^sops:$/gm) ?? []).length, 2, 'the metadata is in every document');
    assert.match(encrypted, /- ""\n/, 'an empty string is not encrypted');
    const { documents } = await decryptSopsText(encrypted, 'yaml', await identities(identity));
    assert.deepEqual(documents, [{ a: 1, b: ['yes', 15, 1.5, true, null, ''] }, { c: { d: '2024-01-01' } }]);

    const json = '{"name": "x", "n": 12345678901, "f": 2.5, "list": [1, "two", false], "nested": {"k": "v"}}';
    const encJson = await encryptSopsText(json, 'json', { recipients: [recipient], rule: ruleFromOptions({ unencryptedRegex: '^name$' }) });
    assert.match(encJson, /^\{\n\t"name": "x",\n\t"n": "ENC\[AES256_GCM,.*type:int\]",\n/);
    assert.deepEqual((await decryptSopsText(encJson, 'json', await identities(identity))).documents, [JSON.parse(json)]);
  });

  it('covers every document with one MAC: a change to the second is caught', async () => {
    const encrypted = await encryptSopsText('a: x\n---\nb: kept\n', 'yaml', { recipients: [recipient], rule: ruleFromOptions({ unencryptedRegex: '^b$' }) });
    await assert.rejects(decryptSopsText(replaced(encrypted, 'b: kept', 'b: other'), 'yaml', await identities(identity)), /MAC mismatch/);
  });

  it('with mac_only_encrypted, covers only encrypted values', async () => {
    const encrypted = await encryptSopsText('kind: Secret\nstringData:\n  k: v\n', 'yaml', { recipients: [recipient], macOnlyEncrypted: true });
    assert.match(encrypted, /mac_only_encrypted: true/);
    const keys = await identities(identity);
    assert.deepEqual((await decryptSopsText(replaced(encrypted, 'kind: Secret', 'kind: Other'), 'yaml', keys)).documents, [{ kind: 'Other', stringData: { k: 'v' } }]);
  });

  it('applies each encryption rule to every key of a value\'s path', async () => {
    const plain = 'top: 1\nsecret_enc:\n  inner: 2\npublic_unencrypted:\n  inner: 3\ndata:\n  x: 4\n';
    const encryptedKeys = async (o: Parameters<typeof ruleFromOptions>[0]): Promise<string[]> => {
      const text = await encryptSopsText(plain, 'yaml', { recipients: [recipient], rule: ruleFromOptions(o) });
      return text.split('\n').filter((l) => l.includes('ENC[') && !l.includes('mac:')).map((l) => l.trim().split(':')[0]!);
    };
    assert.deepEqual(await encryptedKeys({}), ['x'], 'default: a Secret\'s data and stringData');
    assert.deepEqual(await encryptedKeys({ unencryptedSuffix: '_unencrypted' }), ['top', 'inner', 'x']);
    assert.deepEqual(await encryptedKeys({ encryptedSuffix: '_enc' }), ['inner']);
    assert.deepEqual(await encryptedKeys({ unencryptedRegex: '^(top|data)$' }), ['inner', 'inner']);
    assert.throws(() => ruleFromOptions({ encryptedRegex: 'a', encryptedSuffix: 'b' }), /at most one/);
  });

  it('refuses Shamir key groups and files encrypted only to other key types, saying so', async () => {
    const base = handMadeSecret().text;
    const groups = replaced(base, /    age:\n[\s\S]*?-----END AGE ENCRYPTED FILE-----\n/, '    key_groups:\n        - age: []\n        - age: []\n');
    await assert.rejects(decryptSopsText(groups, 'yaml', await identities(identity)), /2 key groups \(Shamir/);
    const pgp = replaced(base, /    age:\n[\s\S]*?-----END AGE ENCRYPTED FILE-----\n/, '    pgp:\n        - fp: ABC\n          enc: x\n          created_at: "2024-01-01T00:00:00Z"\n');
    await assert.rejects(decryptSopsText(pgp, 'yaml', await identities(identity)), /encrypted only to pgp keys/);
  });
});

describe('SOPS values', () => {
  const key = Buffer.alloc(32, 3);

  it('encrypts each type as sops writes it and decrypts it back', () => {
    const cases = [
      [{ t: 'str', v: 'héllo' }, 'str'], [{ t: 'int', v: 42n }, 'int'], [{ t: 'float', v: 0.25 }, 'float'], [{ t: 'bool', v: false }, 'bool'],
    ] as const;
    for (const [value, type] of cases) {
      const enc = encryptValue(value, key, 'a:b:');
      assert.match(enc, new RegExp(`^ENC\\[AES256_GCM,data:[^,]+,iv:[^,]{44},tag:[^,]{24},type:${type}\\]$`));
      assert.deepEqual(decryptValue(enc, key, 'a:b:'), value);
    }
    assert.equal(handDecrypt(key, encryptValue({ t: 'bool', v: true }, key, 'x:'), 'x:'), 'True', 'bools are Title-case, as Python sops wrote them');
    assert.equal(encryptValue({ t: 'str', v: '' }, key, 'x:'), '', 'an empty string stays empty');
  });

  it('formats floats as Go\'s strconv does for the MAC (shortest digits, never an exponent)', () => {
    const table: Array<[number, string]> = [[1e21, '1000000000000000000000'], [1.5e-7, '0.00000015'], [0.1, '0.1'], [100, '100'], [-2.5e22, '-25000000000000000000000'], [-0, '-0']];
    for (const [v, text] of table) assert.equal(formatFloatF(v), text, String(v));
  });

  it('types plain YAML scalars as go-yaml v3 does, not as YAML 1.1 would', () => {
    const table: Array<[string, unknown]> = [
      ['yes', 'yes'], ['on', 'on'], ['0o17', 15n], ['0644', 420n], ['08', 8], ['1e3', 1000], ['1_000', 1000n], ['.5', 0.5], ['0x1F', 31n],
      ['+1', 1n], ['1:30', '1:30'], ['2024-01-01', '2024-01-01'], ['True', true], ['~', null], ['9223372036854775808', 9223372036854775808n], ['.inf', Infinity], ['-', '-'],
    ];
    for (const [text, want] of table) {
      const got = resolvePlainV3(text);
      assert.deepEqual(got.t === 'null' ? null : got.v, want, text);
    }
  });
});

describe('SOPS text layout', () => {
  it('writes YAML as sops (go-yaml v3, indent 4) writes it', () => {
    const tree = parseSopsText('a: x\nlist:\n  - k: v\n    block: "one\\ntwo\\n"\n  - plain\nquoted: ["true", "2024-01-01T00:00:00Z", "", "- x", "a: b"]\nnum: 1.0e+6\nempty: {}\n', 'yaml')[0]!.root;
    assert.equal(emitYaml([tree]), `a: x
list:
    - k: v
      block: |
        one
        two
    - plain
quoted:
    - "true"
    - "2024-01-01T00:00:00Z"
    - ""
    - '- x'
    - 'a: b'
num: 1e+06
empty: {}
`);
  });

  it('writes JSON as Go\'s encoder with a tab indent writes it', () => {
    const tree: SopsMap = { t: 'map', items: [['a', { t: 'str', v: '<x> & y' }], ['n', { t: 'seq', items: [{ t: 'int', v: 1n }, { t: 'float', v: 1e21 }, { t: 'null' }] }], ['o', { t: 'map', items: [] }]] };
    assert.equal(emitJson(tree), '{\n\t"a": "\\u003cx\\u003e \\u0026 y",\n\t"n": [\n\t\t1,\n\t\t1e+21,\n\t\tnull\n\t],\n\t"o": {}\n}\n');
  });
});
