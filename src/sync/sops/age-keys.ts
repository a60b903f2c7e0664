/**
 * age identities for decrypting SOPS files, and the age side of a SOPS file: the data key is
 * encrypted to each recipient as an armored age file (`sops.age[].enc`).
 *
 * The age work is done by `age-encryption` (typage, by age's author): X25519 and post-quantum
 * hybrid identities, armor, header MAC and payload STREAM — the parts that must match age
 * exactly. Identities are read where sops reads them, and from gantry's data directory:
 *
 * 1. `<data-dir>/age.key` (what `gantry secret keygen` writes),
 * 2. `SOPS_AGE_KEY_FILE` (a file), 3. `SOPS_AGE_KEY` (the keys themselves),
 * 4. sops's own default, `$XDG_CONFIG_HOME/sops/age/keys.txt` (`~/.config/sops/age/keys.txt`).
 *
 * A key file is age-keygen's format: one `AGE-SECRET-KEY-1…` per line, `#` comments.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { GantryError, errorMessage } from '../../errors.js';

/** The name of the key file in the data directory. */
export const AGE_KEY_FILE = 'age.key';

type AgeLib = typeof import('age-encryption');
let ageLib: Promise<AgeLib> | undefined;
/** age-encryption, loaded when a SOPS file (or a key command) first needs it. */
export function loadAge(): Promise<AgeLib> {
  ageLib ??= import('age-encryption');
  return ageLib;
}

/** Loaded identities, where they came from, and what could not be read. */
export interface AgeIdentities {
  /** `AGE-SECRET-KEY-…` strings. Never logged. */
  identities: string[];
  /** The recipients (public keys) of those identities, for messages. */
  recipients: string[];
  /** Where keys were looked for, each with the number found, e.g. `/var/lib/gantry/age.key (1 key)`. */
  searched: string[];
  /** Sources that exist but could not be read or hold something that is not an age identity. */
  problems: string[];
}

/** Where to look for identities. */
export interface AgeKeySources {
  dataDir?: string;
  env?: NodeJS.ProcessEnv;
}

/** sops's default key file: `$XDG_CONFIG_HOME/sops/age/keys.txt`, else `~/.config/sops/age/keys.txt`. */
function sopsUserKeyFile(env: NodeJS.ProcessEnv): string {
  return join(env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config'), 'sops', 'age', 'keys.txt');
}

/** The identities in key-file text; throws naming the line of anything else. */
export function parseIdentityText(text: string, source: string): string[] {
  const out: string[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    // SOPS_AGE_KEY may hold several keys on one line, as sops allows.
    for (const word of trimmed.split(/[\s,]+/)) {
      if (!/^AGE-SECRET-KEY-(?:PQ-)?1[0-9A-Z]+$/.test(word)) {
        const what = word.startsWith('AGE-PLUGIN-') ? 'an age plugin identity (not supported)' : 'not an age identity (AGE-SECRET-KEY-1…)';
        throw new GantryError('InvalidArgument', `${source} line ${i + 1}: ${what}`);
      }
      out.push(word);
    }
  });
  return out;
}

/**
 * Reads every identity available to this process. Missing default files are not problems; an
 * unreadable or malformed one is (reported, and its keys skipped).
 */
export async function loadAgeIdentities(src: AgeKeySources): Promise<AgeIdentities> {
  const env = src.env ?? process.env;
  const result: AgeIdentities = { identities: [], recipients: [], searched: [], problems: [] };
  const candidates: Array<{ label: string; read: () => Promise<string | undefined> }> = [];
  const fileSource = (path: string, required: boolean) => async (): Promise<string | undefined> => {
    try {
      return await readFile(path, 'utf8');
    } catch (err) {
      if (!required && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new GantryError('InvalidArgument', `cannot read ${path}: ${errorMessage(err)}`);
    }
  };
  if (src.dataDir) {
    const path = join(src.dataDir, AGE_KEY_FILE);
    candidates.push({ label: path, read: fileSource(path, false) });
  }
  if (env.SOPS_AGE_KEY_FILE) candidates.push({ label: `SOPS_AGE_KEY_FILE (${env.SOPS_AGE_KEY_FILE})`, read: fileSource(env.SOPS_AGE_KEY_FILE, true) });
  if (env.SOPS_AGE_KEY) candidates.push({ label: 'SOPS_AGE_KEY', read: async () => env.SOPS_AGE_KEY });
  const userFile = sopsUserKeyFile(env);
  candidates.push({ label: userFile, read: fileSource(userFile, false) });

  const age = await loadAge();
  for (const c of candidates) {
    let found: string[] = [];
    try {
      const text = await c.read();
      if (text === undefined) {
        result.searched.push(`${c.label} (absent)`);
        continue;
      }
      found = parseIdentityText(text, c.label);
      for (const id of found) {
        const recipient = await age.identityToRecipient(id).catch(() => {
          throw new GantryError('InvalidArgument', `${c.label}: an age identity that does not decode`);
        });
        if (!result.identities.includes(id)) {
          result.identities.push(id);
          result.recipients.push(recipient);
        }
      }
    } catch (err) {
      result.problems.push(errorMessage(err));
      result.searched.push(`${c.label} (unreadable)`);
      continue;
    }
    result.searched.push(`${c.label} (${found.length} key${found.length === 1 ? '' : 's'})`);
  }
  return result;
}

/** Why the data key could not be unwrapped; names recipients (public), never keys. */
export class DataKeyError extends GantryError {
  constructor(message: string) {
    super('DecryptionFailed', message);
  }
}

/**
 * Unwraps a file's 32-byte data key from its age stanzas with the loaded identities, trying
 * the stanzas whose recipient is one of ours first.
 */
export async function unwrapDataKey(stanzas: Array<{ recipient: string; enc: string }>, keys: AgeIdentities): Promise<Uint8Array> {
  const age = await loadAge();
  if (keys.identities.length === 0) {
    throw new DataKeyError(
      `no age key to decrypt it with: put one in <data-dir>/${AGE_KEY_FILE} (gantry secret keygen), or set SOPS_AGE_KEY_FILE or SOPS_AGE_KEY ` +
        `(looked in ${keys.searched.join(', ')})${keys.problems.length ? `; ${keys.problems.join('; ')}` : ''}`,
    );
  }
  const ours = new Set(keys.recipients);
  const ordered = [...stanzas].sort((a, b) => Number(ours.has(b.recipient)) - Number(ours.has(a.recipient)));
  const decrypter = new age.Decrypter();
  for (const id of keys.identities) decrypter.addIdentity(id);
  const failures: string[] = [];
  for (const s of ordered) {
    let file: Uint8Array;
    try {
      file = age.armor.decode(s.enc);
    } catch (err) {
      failures.push(`${s.recipient}: not an armored age file (${errorMessage(err)})`);
      continue;
    }
    try {
      const key = await decrypter.decrypt(file);
      if (key.length !== 32) throw new DataKeyError(`the data key for ${s.recipient} is ${key.length} bytes, not 32`);
      return key;
    } catch (err) {
      if (err instanceof DataKeyError) throw err;
      if (ours.has(s.recipient)) failures.push(`${s.recipient}: ${errorMessage(err)}`);
    }
  }
  const detail = failures.length ? ` (${failures.join('; ')})` : '';
  throw new DataKeyError(
    `none of gantry's age keys (${keys.recipients.join(', ')}) is a recipient of this file (${stanzas.map((s) => s.recipient).join(', ') || 'none'})${detail}`,
  );
}

/** Encrypts a data key to each recipient, as an armored age file each (what sops stores in `enc`). */
export async function wrapDataKey(dataKey: Uint8Array, recipients: string[]): Promise<Array<{ recipient: string; enc: string }>> {
  const age = await loadAge();
  const out: Array<{ recipient: string; enc: string }> = [];
  for (const recipient of recipients) {
    const enc = new age.Encrypter();
    try {
      enc.addRecipient(recipient);
    } catch (err) {
      throw new GantryError('InvalidArgument', `--age ${recipient}: not an age recipient (${errorMessage(err)})`);
    }
    out.push({ recipient, enc: age.armor.encode(await enc.encrypt(dataKey)) });
  }
  return out;
}
