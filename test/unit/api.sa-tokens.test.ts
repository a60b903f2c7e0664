import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { looksLikeJwt, ServiceAccountTokens, signingKeyPaths, type BoundObjectLookup } from '../../src/api/auth/sa-tokens.js';
import { isGantryError } from '../../src/errors.js';
import type { Pod, ServiceAccount } from '../../src/model/types.js';

const sa: ServiceAccount = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'reader', namespace: 'shop', uid: 'sa-uid-1' } };
const pod: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1', namespace: 'shop', uid: 'pod-uid-1' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } };

/** The cluster a check reads: what is in these maps exists. */
function lookup(objects: { accounts?: ServiceAccount[]; pods?: Pod[] }): BoundObjectLookup {
  return {
    serviceAccount: async (ns, name) => objects.accounts?.find((a) => a.metadata.namespace === ns && a.metadata.name === name),
    pod: async (ns, name) => objects.pods?.find((p) => p.metadata.namespace === ns && p.metadata.name === name),
  };
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(isGantryError(err, 'AuthFailed'), String(err));
    return err.message;
  }
  assert.fail('the token was accepted');
}

describe('service account tokens', () => {
  let dir = '';
  let clock = Date.parse('2026-03-01T10:00:00Z');
  const now = () => clock;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-sa-'));
    clock = Date.parse('2026-03-01T10:00:00Z');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const spec = { namespace: 'shop', serviceAccount: { name: 'reader', uid: 'sa-uid-1' }, pod: { name: 'web-1', uid: 'pod-uid-1' }, node: { name: 'n1', uid: 'node-uid' }, expirationSeconds: 3607 };

  it('issues a JWT as Kubernetes does: ES256 with a key id, issuer, subject, audience, lifetime and the bound objects', async () => {
    const tokens = await ServiceAccountTokens.open(dir, { now });
    const issued = await tokens.issue(spec);
    assert.ok(looksLikeJwt(issued.token));
    assert.deepEqual(decodeProtectedHeader(issued.token), { alg: 'ES256', kid: tokens.keyId });
    const claims = decodeJwt(issued.token);
    assert.equal(claims.iss, 'https://kubernetes.default.svc.cluster.local');
    assert.deepEqual(claims.aud, ['https://kubernetes.default.svc.cluster.local']);
    assert.equal(claims.sub, 'system:serviceaccount:shop:reader');
    assert.equal(claims.exp! - claims.iat!, 3607);
    assert.equal(claims.nbf, claims.iat);
    assert.ok(typeof claims.jti === 'string');
    assert.deepEqual(claims['kubernetes.io'], { namespace: 'shop', serviceaccount: { name: 'reader', uid: 'sa-uid-1' }, pod: { name: 'web-1', uid: 'pod-uid-1' }, node: { name: 'n1', uid: 'node-uid' } });
    assert.equal(issued.expirationTimestamp, '2026-03-01T11:00:07Z');
  });

  it('keeps its key in <data-dir>/pki/sa.key (owner only), so tokens outlive a restart', async () => {
    const first = await ServiceAccountTokens.open(dir, { now });
    const token = (await first.issue(spec)).token;
    assert.equal((await stat(signingKeyPaths(dir).key)).mode & 0o777, 0o600);
    const again = await ServiceAccountTokens.open(dir, { now });
    assert.equal(again.keyId, first.keyId);
    assert.equal((await again.verify(token, lookup({ accounts: [sa], pods: [pod] }))).user, 'system:serviceaccount:shop:reader');
  });

  it('accepts a token while its pod and account exist, naming the account, the pod and the node', async () => {
    const tokens = await ServiceAccountTokens.open(dir, { now });
    const who = await tokens.verify((await tokens.issue(spec)).token, lookup({ accounts: [sa], pods: [pod] }));
    assert.deepEqual(who, { user: 'system:serviceaccount:shop:reader', namespace: 'shop', name: 'reader', uid: 'sa-uid-1', pod: { name: 'web-1', uid: 'pod-uid-1' }, node: { name: 'n1', uid: 'node-uid' } });
  });

  it('refuses a token once it has expired', async () => {
    const tokens = await ServiceAccountTokens.open(dir, { now });
    const token = (await tokens.issue({ ...spec, expirationSeconds: 600 })).token;
    clock += 599_000;
    await tokens.verify(token, lookup({ accounts: [sa], pods: [pod] }));
    clock += 2_000;
    assert.match(await refusal(tokens.verify(token, lookup({ accounts: [sa], pods: [pod] }))), /has expired/);
  });

  it('refuses a token whose pod is gone, or is another pod of the same name now', async () => {
    const tokens = await ServiceAccountTokens.open(dir, { now });
    const token = (await tokens.issue(spec)).token;
    assert.match(await refusal(tokens.verify(token, lookup({ accounts: [sa], pods: [] }))), /bound to pod shop\/web-1, which is gone/);
    const replaced = { ...pod, metadata: { ...pod.metadata, uid: 'pod-uid-2' } };
    assert.match(await refusal(tokens.verify(token, lookup({ accounts: [sa], pods: [replaced] }))), /which is gone/);
  });

  it('keeps a terminating pod\'s token for a minute of its shutdown, then refuses it', async () => {
    const tokens = await ServiceAccountTokens.open(dir, { now });
    const token = (await tokens.issue(spec)).token;
    const terminating = { ...pod, metadata: { ...pod.metadata, deletionTimestamp: new Date(clock).toISOString() } };
    clock += 30_000;
    await tokens.verify(token, lookup({ accounts: [sa], pods: [terminating] }));
    clock += 31_000;
    assert.match(await refusal(tokens.verify(token, lookup({ accounts: [sa], pods: [terminating] }))), /being deleted/);
  });

  it('refuses a token whose service account was deleted or made again', async () => {
    const tokens = await ServiceAccountTokens.open(dir, { now });
    const token = (await tokens.issue(spec)).token;
    assert.match(await refusal(tokens.verify(token, lookup({ pods: [pod] }))), /service account shop\/reader has been deleted/);
    const remade = { ...sa, metadata: { ...sa.metadata, uid: 'sa-uid-2' } };
    assert.match(await refusal(tokens.verify(token, lookup({ accounts: [remade], pods: [pod] }))), /deleted \(or replaced\)/);
  });

  it('refuses a token for another audience, and one signed by another key', async () => {
    const tokens = await ServiceAccountTokens.open(dir, { now });
    const vault = (await tokens.issue({ ...spec, audiences: ['vault'] })).token;
    assert.match(await refusal(tokens.verify(vault, lookup({ accounts: [sa], pods: [pod] }))), /aud/);
    const otherDir = await mkdtemp(path.join(os.tmpdir(), 'gantry-sa-other-'));
    try {
      const other = await ServiceAccountTokens.open(otherDir, { now });
      const foreign = (await other.issue(spec)).token;
      assert.match(await refusal(tokens.verify(foreign, lookup({ accounts: [sa], pods: [pod] }))), /not signed by this cluster/);
    } finally {
      await rm(otherDir, { recursive: true, force: true });
    }
  });

  it('accepts a token bound to its account only (kubectl create token) while the account exists', async () => {
    const tokens = await ServiceAccountTokens.open(dir, { now });
    const token = (await tokens.issue({ namespace: 'shop', serviceAccount: { name: 'reader', uid: 'sa-uid-1' }, expirationSeconds: 3600 })).token;
    assert.equal((await tokens.verify(token, lookup({ accounts: [sa] }))).pod, undefined);
  });

  it('publishes its public key as a JWK set with the same key id', async () => {
    const tokens = await ServiceAccountTokens.open(dir, { now });
    const { keys } = await tokens.jwks();
    assert.equal(keys.length, 1);
    assert.deepEqual([keys[0]!.kty, keys[0]!.crv, keys[0]!.alg, keys[0]!.use, keys[0]!.kid], ['EC', 'P-256', 'ES256', 'sig', tokens.keyId]);
    assert.equal(keys[0]!.d, undefined, 'no private part');
  });
});
