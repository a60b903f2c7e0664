/**
 * Whole SOPS files: decrypting one (unwrap the data key with age, decrypt every value, verify
 * the MAC) and encrypting one (what `gantry secret encrypt` writes).
 *
 * Decryption either yields every document in plain form with the MAC verified, or fails with a
 * reason that names what failed (a key, a value's path, the MAC) and never a plaintext value.
 */
import { randomBytes } from 'node:crypto';
import { GantryError } from '../../errors.js';
import { unwrapDataKey, wrapDataKey, type AgeIdentities } from './age-keys.js';
import { emitJson, emitYaml } from './emit.js';
import { DEFAULT_UNENCRYPTED_SUFFIX, SOPS_KEY, extractMetadata, metadataNode, type EncryptionRule } from './metadata.js';
import { SopsFormatError, mapGet, parseSopsText, toPlain, type SopsMap } from './tree.js';
import { decryptTree, encryptTree } from './walk.js';
import { decryptValue, encryptValue } from './values.js';
import { k8sTime } from '../../model/time.js';

/** The text format of a file, by its extension as sops decides it. */
export type SopsFormat = 'yaml' | 'json';

/** `json` for `*.json`, `yaml` otherwise. */
export function formatOf(path: string): SopsFormat {
  return /\.json$/i.test(path) ? 'json' : 'yaml';
}

/**
 * Whether text may be a SOPS file, by a look at the text alone: a top-level `sops` key (YAML
 * writes it at the start of a line, JSON as `"sops":`). Cheap for the files that never mention
 * sops; {@link decryptSopsText} decides for the others (a `sops` mapping in the first document).
 */
export function mayBeEncrypted(text: string, format: SopsFormat): boolean {
  if (!text.includes(SOPS_KEY)) return false;
  return format === 'json' ? /"sops"\s*:/.test(text) : /^sops\s*:/m.test(text);
}

/** A file that is not a SOPS file after all (no `sops` mapping in its first document). */
export class NotSopsError extends GantryError {
  constructor() {
    super('InvalidArgument', 'not a SOPS file: no sops metadata in its first document');
  }
}

/** A decrypted file: one plain value per document (null for an empty one). */
export interface DecryptedFile {
  documents: unknown[];
  /** The recipients the file is encrypted to. */
  recipients: string[];
  /** The plain text, as `sops --decrypt` prints it. */
  text(): string;
}

/**
 * Decrypts a SOPS file and verifies its MAC. Throws a `DecryptionFailed` GantryError, or
 * {@link NotSopsError} for a file without sops metadata. `keys` may be a loader, called only
 * once the file is known to be encrypted.
 */
export async function decryptSopsText(text: string, format: SopsFormat, keys: AgeIdentities | (() => Promise<AgeIdentities>)): Promise<DecryptedFile> {
  const docs = parseSopsText(text, format);
  const meta = docs[0] && mapGet(docs[0].root, SOPS_KEY);
  if (!meta || meta.t !== 'map') throw new NotSopsError();
  const { roots, metadata } = extractMetadata(docs.map((d) => d.root));
  if (metadata.age.length === 0) {
    throw new SopsFormatError(`the data key is encrypted only to ${metadata.otherKeyTypes.join(', ')} keys; gantry decrypts with age keys`);
  }
  const dataKey = await unwrapDataKey(metadata.age, typeof keys === 'function' ? await keys() : keys);
  const { roots: plain, mac } = decryptTree(roots, dataKey, metadata);
  if (metadata.mac === '') throw new GantryError('DecryptionFailed', 'the file has no MAC, so it cannot be checked for tampering');
  let stored;
  try {
    stored = decryptValue(metadata.mac, dataKey, metadata.lastModifiedAad);
  } catch (err) {
    throw new GantryError('DecryptionFailed', `cannot decrypt the MAC (was sops.lastmodified changed?): ${(err as Error).message}`);
  }
  if (stored.t !== 'str' || stored.v !== mac) {
    throw new GantryError('DecryptionFailed', 'MAC mismatch: the file was changed after it was encrypted (a value, key or their order), or it is damaged');
  }
  return {
    documents: plain.map((root, i) => (docs[i]!.empty ? null : toPlain(root))),
    recipients: metadata.age.map((a) => a.recipient),
    text: () => (format === 'json' ? emitJson(plain[0]!) : emitYaml(plain)),
  };
}

/** Options for {@link encryptSopsText}. */
export interface EncryptOptions {
  /** age recipients (`age1…`), at least one. */
  recipients: string[];
  /** Which values to encrypt; default `encrypted_regex: ^(data|stringData)$` (a Secret's values). */
  rule?: EncryptionRule;
  macOnlyEncrypted?: boolean;
  /** The `lastmodified` time; default now. */
  now?: Date;
}

/** What gantry encrypts when no rule is given: the values of a Secret, nothing that names it. */
export const DEFAULT_RULE: EncryptionRule = { kind: 'encrypted_regex', value: '^(data|stringData)$' };

/**
 * Encrypts a plain YAML or JSON file as sops does: a fresh data key encrypted to every
 * recipient, the selected values encrypted, the MAC over the plain values, and the metadata
 * appended to every document.
 */
export async function encryptSopsText(text: string, format: SopsFormat, opts: EncryptOptions): Promise<string> {
  if (opts.recipients.length === 0) throw new GantryError('InvalidArgument', 'at least one age recipient (--age) is needed');
  const docs = parseSopsText(text, format).filter((d) => !d.empty);
  if (docs.length === 0) throw new GantryError('InvalidArgument', 'nothing to encrypt: the input has no document');
  for (const [i, d] of docs.entries()) {
    if (mapGet(d.root, SOPS_KEY) !== undefined) throw new GantryError('InvalidArgument', `document ${i + 1} is already encrypted (it has a sops entry)`);
  }
  const rule = opts.rule ?? DEFAULT_RULE;
  const macOnlyEncrypted = opts.macOnlyEncrypted ?? false;
  const dataKey = randomBytes(32);
  const { roots, mac, encrypted } = encryptTree(docs.map((d) => d.root), dataKey, { rule, macOnlyEncrypted });
  if (encrypted === 0) throw new GantryError('InvalidArgument', `nothing would be encrypted: no value is selected by ${rule.kind} "${rule.value}"`);
  const lastModified = k8sTime((opts.now ?? new Date()).getTime());
  const age = await wrapDataKey(dataKey, opts.recipients);
  const meta = metadataNode({ age, rule, lastModified, mac: encryptValue({ t: 'str', v: mac }, dataKey, lastModified), macOnlyEncrypted });
  const withMeta: SopsMap[] = roots.map((r) => ({ t: 'map', items: [...r.items, [SOPS_KEY, meta]] }));
  if (format === 'json') {
    if (withMeta.length !== 1) throw new GantryError('InvalidArgument', 'a JSON file holds one document');
    return emitJson(withMeta[0]!);
  }
  return emitYaml(withMeta);
}

/** The rule a sops command line names (at most one), or the default. */
export function ruleFromOptions(o: { encryptedRegex?: string; unencryptedRegex?: string; encryptedSuffix?: string; unencryptedSuffix?: string }): EncryptionRule {
  const given: EncryptionRule[] = [];
  if (o.encryptedRegex !== undefined) given.push({ kind: 'encrypted_regex', value: o.encryptedRegex });
  if (o.unencryptedRegex !== undefined) given.push({ kind: 'unencrypted_regex', value: o.unencryptedRegex });
  if (o.encryptedSuffix !== undefined) given.push({ kind: 'encrypted_suffix', value: o.encryptedSuffix });
  if (o.unencryptedSuffix !== undefined) given.push({ kind: 'unencrypted_suffix', value: o.unencryptedSuffix || DEFAULT_UNENCRYPTED_SUFFIX });
  if (given.length > 1) throw new GantryError('InvalidArgument', 'give at most one of --encrypted-regex, --unencrypted-regex, --encrypted-suffix, --unencrypted-suffix');
  return given[0] ?? DEFAULT_RULE;
}
