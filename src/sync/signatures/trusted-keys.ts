/**
 * The keys a signed commit must be signed with: `--trusted-keys FILE|DIR`, read at start.
 *
 * A file holds armored OpenPGP public keys (`gpg --export --armor`, one or more blocks), or SSH
 * keys in the `allowed_signers` format `git verify-commit` uses with `gpg.format=ssh`
 * (`principals [options] keytype base64-key [comment]`, options `namespaces="…"`,
 * `valid-after="…"`, `valid-before="…"`), or plain SSH public keys (an `id_ed25519.pub` line,
 * trusted under its comment). A directory's files are all read (dot-files skipped).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Key } from 'openpgp';
import { GantryError, errorMessage } from '../../errors.js';
import { SSH_KEY_TYPES, parseSshPublicKey, type SshPublicKey } from './ssh.js';

/** One trusted SSH key with what `allowed_signers` says about it. */
export interface AllowedSigner {
  principals: string[];
  key: SshPublicKey;
  /** Namespace patterns the key may sign in; undefined for any. */
  namespaces?: string[];
  /** Seconds since the epoch; the key signs only at or after this time. */
  validAfter?: number;
  /** Seconds since the epoch; the key signs only before this time. */
  validBefore?: number;
  /** `file line N`, for messages. */
  source: string;
}

/** Every trusted key. */
export interface TrustedKeys {
  openpgp: Key[];
  ssh: AllowedSigner[];
  /** What was read, e.g. `keys/alice.asc (1 OpenPGP key)`. */
  sources: string[];
}

type OpenPgp = typeof import('openpgp');
let openpgpLib: Promise<OpenPgp> | undefined;
/** openpgp.js, loaded when commits are verified (it is large, and most installs never need it). */
export function loadOpenPgp(): Promise<OpenPgp> {
  openpgpLib ??= import('openpgp');
  return openpgpLib;
}

const PGP_BEGIN = '-----BEGIN PGP PUBLIC KEY BLOCK-----';

/** Splits a line into fields, keeping double-quoted spans (and their spaces) inside one field. */
function fields(line: string): string[] {
  return line.match(/(?:[^\s"]+|"[^"]*")+/g) ?? [];
}

/** Splits a comma-separated option list, keeping quoted values whole. */
function optionList(text: string): string[] {
  return text.match(/(?:[^,"]+|"[^"]*")+/g) ?? [];
}

const unquote = (s: string): string => s.replace(/^"(.*)"$/, '$1');

/** OpenSSH's absolute time (`YYYYMMDD[HHMM[SS]][Z]`), local time unless it ends in Z. */
function sshTime(text: string, where: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?(Z)?$/i.exec(text);
  if (!m) throw new GantryError('InvalidArgument', `${where}: "${text}" is not a time (YYYYMMDD[HHMM[SS]][Z])`);
  const n = (i: number): number => Number(m[i] ?? 0);
  const parts = [n(1), n(2) - 1, n(3), n(4), n(5), n(6)] as const;
  const ms = m[7] ? Date.UTC(...parts) : new Date(...parts).getTime();
  return Math.floor(ms / 1000);
}

/** Parses `allowed_signers` text (or plain public key lines). */
export function parseAllowedSigners(text: string, file: string): AllowedSigner[] {
  const out: AllowedSigner[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `${file} line ${i + 1}`;
    const f = fields(line);
    let principals: string[];
    let rest: string[];
    if (SSH_KEY_TYPES.includes(f[0]!) || f[0]!.startsWith('sk-')) {
      // A bare public key: trusted under its comment (or fingerprint), for any principal.
      principals = [];
      rest = f;
    } else {
      principals = unquote(f[0]!).split(',').filter((p) => p !== '');
      rest = f.slice(1);
    }
    const signer: Partial<AllowedSigner> = { source: where };
    if (rest[0] !== undefined && !SSH_KEY_TYPES.includes(rest[0]) && !rest[0].startsWith('sk-')) {
      for (const opt of optionList(rest[0])) {
        const [name, value = ''] = opt.split(/=(.*)/s) as [string, string?];
        const v = unquote(value);
        switch (name.toLowerCase()) {
          case 'namespaces':
            signer.namespaces = v.split(',').filter((n) => n !== '');
            break;
          case 'valid-after':
            signer.validAfter = sshTime(v, where);
            break;
          case 'valid-before':
            signer.validBefore = sshTime(v, where);
            break;
          case 'cert-authority':
            throw new GantryError('InvalidArgument', `${where}: cert-authority (SSH certificates) is not supported; list the signers' own keys`);
          default:
            throw new GantryError('InvalidArgument', `${where}: unknown option "${name}"`);
        }
      }
      rest = rest.slice(1);
    }
    const [type, base64, ...comment] = rest;
    if (!type || !base64) throw new GantryError('InvalidArgument', `${where}: expected "principals [options] keytype base64-key"`);
    let key: SshPublicKey;
    try {
      key = parseSshPublicKey(Buffer.from(base64, 'base64'));
    } catch (err) {
      throw new GantryError('InvalidArgument', `${where}: ${errorMessage(err)}`);
    }
    if (key.type !== type) throw new GantryError('InvalidArgument', `${where}: the key is a ${key.type}, the line says ${type}`);
    if (principals.length === 0) principals = [comment.join(' ') || key.fingerprint];
    out.push({ ...signer, principals, key } as AllowedSigner);
  });
  return out;
}

/** Reads armored OpenPGP public keys (any number of blocks). */
async function readOpenPgpKeys(text: string, file: string): Promise<Key[]> {
  if (text.includes('-----BEGIN PGP PRIVATE KEY BLOCK-----')) {
    throw new GantryError('InvalidArgument', `${file} holds a private key: give gantry the public key (gpg --export --armor)`);
  }
  const openpgp = await loadOpenPgp();
  const blocks = text.split(PGP_BEGIN).slice(1).map((b) => PGP_BEGIN + b);
  const keys: Key[] = [];
  for (const block of blocks) {
    try {
      keys.push(...(await openpgp.readKeys({ armoredKeys: block })));
    } catch (err) {
      throw new GantryError('InvalidArgument', `${file}: not a readable OpenPGP public key (${errorMessage(err)})`);
    }
  }
  return keys;
}

/** Reads the trusted keys at `path` (a file or a directory of files). */
export async function loadTrustedKeys(path: string): Promise<TrustedKeys> {
  let files: string[];
  try {
    const st = await stat(path);
    files = st.isDirectory()
      ? (await readdir(path, { withFileTypes: true })).filter((e) => e.isFile() && !e.name.startsWith('.')).map((e) => join(path, e.name)).sort()
      : [path];
  } catch (err) {
    throw new GantryError('InvalidArgument', `--trusted-keys: cannot read ${path}: ${errorMessage(err)}`);
  }
  const keys: TrustedKeys = { openpgp: [], ssh: [], sources: [] };
  for (const file of files) {
    const text = await readFile(file, 'utf8');
    if (text.includes('-----BEGIN PGP')) {
      const found = await readOpenPgpKeys(text, file);
      keys.openpgp.push(...found);
      keys.sources.push(`${file} (${found.length} OpenPGP key${found.length === 1 ? '' : 's'})`);
    } else {
      const found = parseAllowedSigners(text, file);
      keys.ssh.push(...found);
      keys.sources.push(`${file} (${found.length} SSH key${found.length === 1 ? '' : 's'})`);
    }
  }
  if (keys.openpgp.length === 0 && keys.ssh.length === 0) {
    throw new GantryError('InvalidArgument', `--trusted-keys: no keys in ${path} (armored OpenPGP public keys or allowed_signers lines)`);
  }
  return keys;
}
