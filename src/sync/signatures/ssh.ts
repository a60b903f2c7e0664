/**
 * SSH signatures (SSHSIG, OpenSSH's PROTOCOL.sshsig) as `git commit -S` with `gpg.format=ssh`
 * writes them, verified with Node's crypto: Ed25519, ECDSA (P-256, P-384, P-521) and RSA
 * (rsa-sha2-256 / rsa-sha2-512) keys.
 *
 * An SSHSIG blob is `"SSHSIG" u32(1) string(publickey) string(namespace) string(reserved)
 * string(hash_algorithm) string(signature)`; the key signs `"SSHSIG" string(namespace)
 * string(reserved) string(hash_algorithm) string(H(message))`. Git signs in the namespace
 * `git`. Security-key (`sk-…`) and certificate signatures are refused with a reason.
 */
import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { GantryError } from '../../errors.js';

const MAGIC = Buffer.from('SSHSIG');
const ARMOR_BEGIN = '-----BEGIN SSH SIGNATURE-----';
const ARMOR_END = '-----END SSH SIGNATURE-----';

/** Why an SSH signature or key could not be used. */
export class SshSignatureError extends GantryError {
  constructor(message: string) {
    super('SignatureInvalid', message);
  }
}

/** Reads SSH wire-format fields (RFC 4251) from a buffer. */
class WireReader {
  private pos = 0;
  constructor(private readonly buf: Buffer, private readonly what: string) {}

  u32(): number {
    if (this.pos + 4 > this.buf.length) throw new SshSignatureError(`${this.what} is truncated`);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  bytes(n: number): Buffer {
    if (this.pos + n > this.buf.length) throw new SshSignatureError(`${this.what} is truncated`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  string(): Buffer {
    return this.bytes(this.u32());
  }

  text(): string {
    return this.string().toString('utf8');
  }

  /** An mpint as unsigned big-endian bytes (its sign byte dropped). */
  mpint(): Buffer {
    const b = this.string();
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    return b.subarray(i);
  }

  end(): void {
    if (this.pos !== this.buf.length) throw new SshSignatureError(`${this.what} has trailing data`);
  }
}

function sshString(b: Buffer | string): Buffer {
  const body = typeof b === 'string' ? Buffer.from(b) : b;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}

const b64url = (b: Buffer): string => b.toString('base64url');

const CURVES: Record<string, { crv: string; size: number; hash: string }> = {
  nistp256: { crv: 'P-256', size: 32, hash: 'sha256' },
  nistp384: { crv: 'P-384', size: 48, hash: 'sha384' },
  nistp521: { crv: 'P-521', size: 66, hash: 'sha512' },
};

/** An SSH public key: its wire blob (what signatures are matched on) and a Node key to verify with. */
export interface SshPublicKey {
  type: string;
  blob: Buffer;
  key: KeyObject;
  /** `SHA256:…`, as ssh-keygen prints it. */
  fingerprint: string;
}

/** The key types gantry verifies. */
export const SSH_KEY_TYPES = ['ssh-ed25519', 'ssh-rsa', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521'];

/** Parses an SSH public key blob (as in `authorized_keys`, base64-decoded). */
export function parseSshPublicKey(blob: Buffer): SshPublicKey {
  const r = new WireReader(blob, 'SSH public key');
  const type = r.text();
  let key: KeyObject;
  if (type === 'ssh-ed25519') {
    const pk = r.string();
    if (pk.length !== 32) throw new SshSignatureError('an Ed25519 key that is not 32 bytes');
    key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(pk) }, format: 'jwk' });
  } else if (type === 'ssh-rsa') {
    const e = r.mpint();
    const n = r.mpint();
    key = createPublicKey({ key: { kty: 'RSA', n: b64url(n), e: b64url(e) }, format: 'jwk' });
  } else if (type.startsWith('ecdsa-sha2-')) {
    const curveName = r.text();
    const curve = CURVES[curveName];
    if (!curve || type !== `ecdsa-sha2-${curveName}`) throw new SshSignatureError(`unsupported ECDSA curve ${curveName}`);
    const q = r.string();
    if (q.length !== 1 + 2 * curve.size || q[0] !== 4) throw new SshSignatureError('an ECDSA key that is not an uncompressed point');
    key = createPublicKey({ key: { kty: 'EC', crv: curve.crv, x: b64url(q.subarray(1, 1 + curve.size)), y: b64url(q.subarray(1 + curve.size)) }, format: 'jwk' });
  } else if (type.startsWith('sk-')) {
    throw new SshSignatureError(`security-key (${type}) keys are not supported`);
  } else if (type.includes('-cert-v01@openssh.com')) {
    throw new SshSignatureError(`certificates (${type}) are not supported`);
  } else {
    throw new SshSignatureError(`unsupported SSH key type ${type}`);
  }
  r.end();
  return { type, blob, key, fingerprint: `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}` };
}

/** A parsed SSHSIG. */
export interface SshSignature {
  publicKey: Buffer;
  namespace: string;
  hashAlgorithm: string;
  /** The inner signature: its algorithm name and bytes. */
  sigType: string;
  sigBytes: Buffer;
  reserved: Buffer;
}

/** Parses an armored SSH signature (`-----BEGIN SSH SIGNATURE-----`). */
export function parseSshSignature(armored: string): SshSignature {
  const text = armored.trim();
  if (!text.startsWith(ARMOR_BEGIN) || !text.endsWith(ARMOR_END)) throw new SshSignatureError('not an armored SSH signature');
  const body = Buffer.from(text.slice(ARMOR_BEGIN.length, -ARMOR_END.length).replace(/\s+/g, ''), 'base64');
  const r = new WireReader(body, 'SSH signature');
  if (!r.bytes(6).equals(MAGIC)) throw new SshSignatureError('not an SSHSIG signature');
  const version = r.u32();
  if (version !== 1) throw new SshSignatureError(`SSHSIG version ${version} (only 1 is defined)`);
  const publicKey = r.string();
  const namespace = r.text();
  const reserved = r.string();
  const hashAlgorithm = r.text();
  const sig = new WireReader(r.string(), 'SSH signature blob');
  r.end();
  const sigType = sig.text();
  const sigBytes = sig.string();
  return { publicKey, namespace, hashAlgorithm, sigType, sigBytes, reserved };
}

/** The signature algorithms each key type may sign with in an SSHSIG. */
const SIG_TYPES: Record<string, string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ssh-rsa': ['rsa-sha2-256', 'rsa-sha2-512'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
};

/**
 * Checks that `sig` is `key`'s signature over `message` in `namespace`. Throws
 * {@link SshSignatureError} saying what is wrong.
 */
export function verifySshSignature(sig: SshSignature, key: SshPublicKey, message: Buffer, namespace: string): void {
  if (!sig.publicKey.equals(key.blob)) throw new SshSignatureError('the signature was made with another key');
  if (sig.namespace !== namespace) throw new SshSignatureError(`the signature is for namespace "${sig.namespace}", not "${namespace}"`);
  if (sig.hashAlgorithm !== 'sha256' && sig.hashAlgorithm !== 'sha512') throw new SshSignatureError(`unsupported hash algorithm ${sig.hashAlgorithm}`);
  if (!(SIG_TYPES[key.type] ?? []).includes(sig.sigType)) throw new SshSignatureError(`a ${sig.sigType} signature from a ${key.type} key`);
  const digest = createHash(sig.hashAlgorithm).update(message).digest();
  const signed = Buffer.concat([MAGIC, sshString(namespace), sshString(sig.reserved), sshString(sig.hashAlgorithm), sshString(digest)]);
  let ok: boolean;
  if (key.type === 'ssh-ed25519') {
    ok = cryptoVerify(null, signed, key.key, sig.sigBytes);
  } else if (key.type === 'ssh-rsa') {
    // OpenSSH accepts a signature shorter than the modulus and pads it; OpenSSL wants it full length.
    const modulusBytes = Math.ceil((key.key.asymmetricKeyDetails?.modulusLength ?? sig.sigBytes.length * 8) / 8);
    const padded = sig.sigBytes.length < modulusBytes ? Buffer.concat([Buffer.alloc(modulusBytes - sig.sigBytes.length), sig.sigBytes]) : sig.sigBytes;
    ok = cryptoVerify(sig.sigType === 'rsa-sha2-512' ? 'sha512' : 'sha256', signed, key.key, padded);
  } else {
    const curve = CURVES[key.type.slice('ecdsa-sha2-'.length)]!;
    const r = new WireReader(sig.sigBytes, 'ECDSA signature');
    const parts = [r.mpint(), r.mpint()];
    r.end();
    if (parts.some((p) => p.length > curve.size)) throw new SshSignatureError('a malformed ECDSA signature');
    const p1363 = Buffer.concat(parts.map((p) => Buffer.concat([Buffer.alloc(curve.size - p.length), p])));
    ok = cryptoVerify(curve.hash, signed, { key: key.key, dsaEncoding: 'ieee-p1363' }, p1363);
  }
  if (!ok) throw new SshSignatureError('the signature does not match the commit (the commit was changed after it was signed)');
}
