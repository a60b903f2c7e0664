/**
 * Walking a SOPS tree to encrypt or decrypt its values and compute its MAC, as getsops/sops's
 * `Tree.Encrypt` / `Tree.Decrypt` do:
 *
 * - the path of a value is the mapping keys above it (sequence positions are not part of it);
 *   its additional data is that path joined by `:` with a trailing `:` (`stringData:password:`);
 * - whether a value is encrypted depends on the file's one rule, tested on every key of its path
 *   (`unencrypted_suffix`: no key ends with it; `encrypted_regex`: some key matches it; …);
 * - the MAC is SHA-512 over every non-null value's bytes in document order (over the encrypted
 *   ones only with `mac_only_encrypted`, then starting from a fixed 32-byte prefix), written as
 *   upper-case hex and stored encrypted with the `lastmodified` time as additional data.
 */
import { createHash, type Hash } from 'node:crypto';
import type { EncryptionRule } from './metadata.js';
import { SopsFormatError, type SopsMap, type SopsNode } from './tree.js';
import { ValueDecryptError, decryptValue, encryptValue, macBytes, type SopsScalar } from './values.js';

/** sha256("sops"): where a `mac_only_encrypted` MAC starts, so it never equals a full one. */
const MAC_ONLY_ENCRYPTED_INIT = Buffer.from('8a3fd2ad54ce66527b1034f3d147be0b0b975b3bf44f72c6fdadec8176f27d69', 'hex');

/**
 * A Go (RE2) regular expression as JavaScript runs it. The forms sops users write (`^(data|
 * stringData)$`, character classes, `(?i)` at the start) mean the same in both; anything
 * JavaScript cannot compile is refused naming the rule.
 */
export function goRegExp(source: string, field: string): RegExp {
  let flags = '';
  let body = source;
  const inline = /^\(\?([imsU]+)\)/.exec(body);
  if (inline) {
    if (inline[1]!.includes('U')) throw new SopsFormatError(`sops.${field}: the (?U) flag is not supported`);
    flags += inline[1]!.replace(/[^ims]/g, '');
    body = body.slice(inline[0].length);
  }
  try {
    return new RegExp(body, flags);
  } catch (err) {
    throw new SopsFormatError(`sops.${field} "${source}" is not a regular expression gantry can run: ${(err as Error).message}`);
  }
}

/** Decides, for a path, whether its value is encrypted (`Tree.shouldBeEncrypted`). */
export function encryptionTest(rule: EncryptionRule): (path: readonly string[]) => boolean {
  switch (rule.kind) {
    case 'unencrypted_suffix':
      return (path) => !path.some((k) => k.endsWith(rule.value));
    case 'encrypted_suffix':
      return (path) => path.some((k) => k.endsWith(rule.value));
    case 'unencrypted_regex': {
      const re = goRegExp(rule.value, rule.kind);
      return (path) => !path.some((k) => re.test(k));
    }
    case 'encrypted_regex': {
      const re = goRegExp(rule.value, rule.kind);
      return (path) => path.some((k) => re.test(k));
    }
  }
}

/** Visits every non-null scalar in document order, replacing it with what `leaf` returns. */
function mapLeaves(node: SopsNode, path: string[], leaf: (v: SopsScalar, path: string[]) => SopsScalar): SopsNode {
  switch (node.t) {
    case 'map':
      return { t: 'map', items: node.items.map(([k, v]) => [k, mapLeaves(v, [...path, k], leaf)]) };
    case 'seq':
      return { t: 'seq', items: node.items.map((v) => mapLeaves(v, path, leaf)) };
    case 'null':
      return node;
    default:
      return leaf(node, path);
  }
}

function newMac(macOnlyEncrypted: boolean): Hash {
  const hash = createHash('sha512');
  if (macOnlyEncrypted) hash.update(MAC_ONLY_ENCRYPTED_INIT);
  return hash;
}

/** Options shared by {@link decryptTree} and {@link encryptTree}. */
export interface WalkOptions {
  rule: EncryptionRule;
  macOnlyEncrypted: boolean;
}

/** How a value's path reads in messages: `stringData.password`, `data["tls.crt"]`. */
export function describePath(path: readonly string[]): string {
  return path.map((k, i) => (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(k) ? `${i === 0 ? '' : '.'}${k}` : `[${JSON.stringify(k)}]`)).join('') || '(root)';
}

/**
 * Decrypts every encrypted value of the documents with `key`, returning the plain trees and the
 * MAC computed over them (upper-case hex). A value that does not decrypt is an error naming its
 * path, never its content.
 */
export function decryptTree(roots: SopsMap[], key: Uint8Array, opts: WalkOptions): { roots: SopsMap[]; mac: string } {
  const encrypted = encryptionTest(opts.rule);
  const hash = newMac(opts.macOnlyEncrypted);
  const out = roots.map((root) => mapLeaves(root, [], (value, path) => {
    const enc = encrypted(path);
    let plain = value;
    if (enc) {
      if (value.t !== 'str') throw new ValueDecryptError(`${describePath(path)}: expected an encrypted value, found a ${value.t}`);
      try {
        plain = decryptValue(value.v, key, `${path.join(':')}:`);
      } catch (err) {
        throw new ValueDecryptError(`${describePath(path)}: ${(err as Error).message}`);
      }
    }
    if (!opts.macOnlyEncrypted || enc) hash.update(macBytes(plain));
    return plain;
  }) as SopsMap);
  return { roots: out, mac: hash.digest('hex').toUpperCase() };
}

/**
 * Encrypts the values the rule selects with `key`; returns the trees, the MAC of the plain
 * values, and how many values were encrypted.
 */
export function encryptTree(roots: SopsMap[], key: Uint8Array, opts: WalkOptions): { roots: SopsMap[]; mac: string; encrypted: number } {
  const encrypted = encryptionTest(opts.rule);
  const hash = newMac(opts.macOnlyEncrypted);
  let count = 0;
  const out = roots.map((root) => mapLeaves(root, [], (value, path) => {
    const enc = encrypted(path);
    if (!opts.macOnlyEncrypted || enc) hash.update(macBytes(value));
    if (!enc) return value;
    count++;
    return { t: 'str', v: encryptValue(value, key, `${path.join(':')}:`) };
  }) as SopsMap);
  return { roots: out, mac: hash.digest('hex').toUpperCase(), encrypted: count };
}
