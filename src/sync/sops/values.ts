/**
 * SOPS values: the leaves of a SOPS tree, how each is turned into the bytes its MAC covers, and
 * how one is encrypted into (and decrypted from) the `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`
 * form, with Node's AES-256-GCM.
 *
 * Everything here follows getsops/sops (`aes/cipher.go`, `sops.go` ToBytes): a value is
 * encrypted with the file's 32-byte data key, a fresh 32-byte IV, and the value's path
 * (`key:key:…:`) as additional authenticated data; the plaintext of an int is its decimal form,
 * of a float Go's shortest `'f'` form, of a bool `True`/`False`. An empty string is never
 * encrypted, as sops leaves it empty.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { GantryError } from '../../errors.js';

/** A scalar of a SOPS tree, typed as sops (Go) types it. */
export type SopsScalar =
  | { t: 'str'; v: string }
  | { t: 'int'; v: bigint }
  | { t: 'float'; v: number }
  | { t: 'bool'; v: boolean }
  /** A `type:bytes` value: raw bytes, shown as UTF-8 text. */
  | { t: 'bytes'; v: Uint8Array }
  | { t: 'null' };

/** The value types an `ENC[…]` string may name. */
const ENC_TYPES = new Set(['str', 'int', 'float', 'bool', 'bytes', 'time', 'comment']);

const ENC_RE = /^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]/;
const NONCE_BYTES = 32;
const TAG_BYTES = 16;
const encoder = new TextEncoder();
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Go's `strconv.FormatFloat(v, 'f', -1, 64)`: the shortest digits that read back as `v`, never
 * in exponent form. JavaScript's `String()` picks the same shortest digits; only the exponent
 * form has to be expanded.
 */
export function formatFloatF(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Object.is(v, -0)) return '-0';
  const s = String(v);
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (!m) return s;
  const [, sign, first, rest = '', expText] = m;
  const digits = `${first}${rest}`;
  const exp = Number(expText);
  if (exp >= 0) {
    const intLen = 1 + exp;
    return intLen >= digits.length ? `${sign}${digits}${'0'.repeat(intLen - digits.length)}` : `${sign}${digits.slice(0, intLen)}.${digits.slice(intLen)}`;
  }
  return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
}

/** The bytes sops feeds its MAC for a value (`sops.ToBytes`). */
export function macBytes(s: SopsScalar): Uint8Array {
  switch (s.t) {
    case 'str':
      return encoder.encode(s.v);
    case 'int':
      return encoder.encode(s.v.toString());
    case 'float':
      return encoder.encode(formatFloatF(s.v));
    case 'bool':
      return encoder.encode(s.v ? 'True' : 'False');
    case 'bytes':
      return s.v;
    case 'null':
      return new Uint8Array();
  }
}

/** The plaintext sops encrypts for a value, and the type it writes beside it. */
function plaintextOf(s: SopsScalar): { bytes: Uint8Array; type: string } {
  switch (s.t) {
    case 'str':
      return { bytes: encoder.encode(s.v), type: 'str' };
    case 'int':
      return { bytes: encoder.encode(s.v.toString()), type: 'int' };
    case 'float':
      return { bytes: encoder.encode(formatFloatF(s.v)), type: 'float' };
    case 'bool':
      return { bytes: encoder.encode(s.v ? 'True' : 'False'), type: 'bool' };
    case 'bytes':
      return { bytes: s.v, type: 'bytes' };
    case 'null':
      throw new GantryError('Internal', 'a null value is never encrypted');
  }
}

/**
 * Encrypts a value as sops writes it. An empty string stays empty (sops does not encrypt it).
 * `iv` is for tests that need a fixed result; a fresh random one is used otherwise.
 */
export function encryptValue(s: SopsScalar, key: Uint8Array, additionalData: string, iv: Uint8Array = randomBytes(NONCE_BYTES)): string {
  if (s.t === 'str' && s.v === '') return '';
  const { bytes, type } = plaintextOf(s);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(encoder.encode(additionalData));
  const data = Buffer.concat([cipher.update(bytes), cipher.final()]);
  const tag = cipher.getAuthTag();
  return `ENC[AES256_GCM,data:${data.toString('base64')},iv:${Buffer.from(iv).toString('base64')},tag:${tag.toString('base64')},type:${type}]`;
}

/** Go's `strconv.ParseBool`. */
function parseGoBool(text: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  return undefined;
}

/** Go's `strconv.ParseFloat(s, 64)` for the forms sops writes (and Go's Inf/NaN spellings). */
function parseGoFloat(text: string): number | undefined {
  const t = text.replace(/_/g, '');
  if (/^[+-]?(?:inf|infinity)$/i.test(t)) return t.startsWith('-') ? -Infinity : Infinity;
  if (/^nan$/i.test(t)) return NaN;
  if (!/^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(t)) return undefined;
  return Number(t);
}

/**
 * Go's time text form (`time.Time.MarshalText`, RFC 3339 with nanoseconds and trailing zeros
 * dropped), from RFC 3339 text, for `type:time` values.
 */
function canonicalTime(text: string): string | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(text);
  if (!m) return undefined;
  const frac = (m[2] ?? '').replace(/0+$/, '');
  const zone = m[3] === 'Z' || m[3] === '+00:00' || m[3] === '-00:00' ? 'Z' : m[3];
  return `${m[1]}${frac ? `.${frac}` : ''}${zone}`;
}

/** Why a value did not decrypt; never holds plaintext. */
export class ValueDecryptError extends GantryError {
  constructor(message: string) {
    super('DecryptionFailed', message);
  }
}

/**
 * Decrypts a sops value. The additional data (the value's path) must be the one it was
 * encrypted with: a value moved to another key fails to authenticate. An empty string decrypts
 * to itself. Returns the typed value (strings for `time` and `comment`).
 */
export function decryptValue(text: string, key: Uint8Array, additionalData: string): SopsScalar {
  if (text === '') return { t: 'str', v: '' };
  const m = ENC_RE.exec(text);
  if (!m) throw new ValueDecryptError('not an encrypted value (expected ENC[AES256_GCM,data:…,iv:…,tag:…,type:…])');
  const [, data64, iv64, tag64, type] = m as unknown as [string, string, string, string, string];
  if (!ENC_TYPES.has(type)) throw new ValueDecryptError(`unknown value type "${type}"`);
  const data = strictBase64(data64, 'data');
  const iv = strictBase64(iv64, 'iv');
  const tag = strictBase64(tag64, 'tag');
  if (iv.length === 0) throw new ValueDecryptError('empty IV');
  if (tag.length !== TAG_BYTES) throw new ValueDecryptError(`authentication tag of ${tag.length} bytes (sops writes ${TAG_BYTES})`);
  let plain: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(encoder.encode(additionalData));
    decipher.setAuthTag(tag);
    plain = Buffer.concat([decipher.update(data), decipher.final()]);
  } catch {
    throw new ValueDecryptError('does not authenticate with the data key (wrong key, or the value was changed or moved)');
  }
  return typedPlaintext(plain, type);
}

function typedPlaintext(plain: Buffer, type: string): SopsScalar {
  if (type === 'bytes') return { t: 'bytes', v: new Uint8Array(plain) };
  let text: string;
  try {
    text = utf8.decode(plain);
  } catch {
    throw new ValueDecryptError(`a ${type} value that is not UTF-8 text`);
  }
  switch (type) {
    case 'str':
    case 'comment':
      return { t: 'str', v: text };
    case 'int':
      if (!/^[+-]?\d+$/.test(text)) throw new ValueDecryptError('an int value that is not a whole number');
      return { t: 'int', v: BigInt(text) };
    case 'float': {
      const v = parseGoFloat(text);
      if (v === undefined) throw new ValueDecryptError('a float value that is not a number');
      return { t: 'float', v };
    }
    case 'bool': {
      const v = parseGoBool(text);
      if (v === undefined) throw new ValueDecryptError('a bool value that is neither true nor false');
      return { t: 'bool', v };
    }
    default: {
      const v = canonicalTime(text);
      if (v === undefined) throw new ValueDecryptError('a time value that is not RFC 3339');
      return { t: 'str', v };
    }
  }
}

/** Base64 as Go's StdEncoding reads it: padded, nothing but the alphabet. */
function strictBase64(text: string, what: string): Buffer {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) {
    throw new ValueDecryptError(`${what} is not base64`);
  }
  return Buffer.from(text, 'base64');
}
