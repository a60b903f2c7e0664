/**
 * The `sops` metadata block: which keys unwrap the data key (age recipients), which values are
 * encrypted (`encrypted_regex`, `unencrypted_suffix`, …), when the file was last changed and its
 * encrypted MAC. Read and written as getsops/sops does (`stores/stores.go`, `stores/metadata.go`):
 * the block lives under a top-level `sops` key of each document and is read from the first; keys
 * are written in alphabetical order; a file that names no encryption rule uses
 * `unencrypted_suffix: _unencrypted`.
 */
import { SopsFormatError, mapGet, type SopsMap, type SopsNode } from './tree.js';

/** The key holding the metadata in every document. */
export const SOPS_KEY = 'sops';
/** The suffix sops leaves unencrypted when a file names no rule. */
export const DEFAULT_UNENCRYPTED_SUFFIX = '_unencrypted';
/** The sops release whose file format gantry writes. */
export const SOPS_FORMAT_VERSION = '3.13.2';

/** Which values of a document are encrypted: at most one rule, as sops allows. */
export type EncryptionRule =
  | { kind: 'unencrypted_suffix'; value: string }
  | { kind: 'encrypted_suffix'; value: string }
  | { kind: 'unencrypted_regex'; value: string }
  | { kind: 'encrypted_regex'; value: string };

/** One age recipient and the data key encrypted to it (an armored age file). */
export interface AgeStanza {
  recipient: string;
  enc: string;
}

/** What gantry reads from (and writes to) the metadata block. */
export interface SopsMetadata {
  /** The age recipients of the (single) key group. */
  age: AgeStanza[];
  /** Key types other than age found in the file (pgp, kms, …): named in errors only. */
  otherKeyTypes: string[];
  rule: EncryptionRule;
  /** `lastmodified` exactly as written. */
  lastModified: string;
  /** `lastmodified` as sops formats it for the MAC's additional data (RFC 3339, whole seconds). */
  lastModifiedAad: string;
  mac: string;
  macOnlyEncrypted: boolean;
  version: string;
}

const KEY_TYPES = ['pgp', 'kms', 'gcp_kms', 'azure_kv', 'hc_vault', 'hckms'];
const RULE_KEYS = ['unencrypted_suffix', 'encrypted_suffix', 'unencrypted_regex', 'encrypted_regex'] as const;

function scalarText(node: SopsNode | undefined, field: string): string | undefined {
  if (node === undefined || node.t === 'null') return undefined;
  switch (node.t) {
    case 'str':
      return node.v;
    case 'int':
      return node.v.toString();
    case 'float':
    case 'bool':
      return String(node.v);
    default:
      throw new SopsFormatError(`sops.${field} must be a string`);
  }
}

/**
 * Go's `time.Parse(time.RFC3339, s).Format(time.RFC3339)`: the additional data of the MAC.
 * Fractional seconds are dropped and a zero offset is written `Z`.
 */
export function rfc3339Aad(text: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|[+-]\d{2}:\d{2})$/.exec(text);
  if (!m) throw new SopsFormatError(`sops.lastmodified "${text}" is not an RFC 3339 time`);
  const [, y, mo, d, h, mi, s, zone] = m as unknown as string[];
  if (Number(mo) < 1 || Number(mo) > 12 || Number(d) < 1 || Number(d) > 31 || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) {
    throw new SopsFormatError(`sops.lastmodified "${text}" is not a valid time`);
  }
  const z = zone === 'Z' || /^[+-]00:00$/.test(zone!) ? 'Z' : zone;
  return `${y}-${mo}-${d}T${h}:${mi}:${s}${z}`;
}

function ageStanzas(node: SopsNode | undefined, where: string): AgeStanza[] {
  if (node === undefined || node.t === 'null') return [];
  if (node.t !== 'seq') throw new SopsFormatError(`${where} must be a list`);
  return node.items.map((item, i) => {
    if (item.t !== 'map') throw new SopsFormatError(`${where}[${i}] must be a mapping`);
    const recipient = scalarText(mapGet(item, 'recipient'), `${where}[${i}].recipient`);
    const enc = scalarText(mapGet(item, 'enc'), `${where}[${i}].enc`);
    if (!recipient || !enc) throw new SopsFormatError(`${where}[${i}] needs recipient and enc`);
    return { recipient: recipient.trim(), enc };
  });
}

function presentKeyTypes(group: SopsMap): string[] {
  return KEY_TYPES.filter((k) => {
    const v = mapGet(group, k);
    return v !== undefined && v.t === 'seq' && v.items.length > 0;
  });
}

/** Reads and checks a `sops` block. Throws {@link SopsFormatError} naming the field. */
export function readMetadata(node: SopsNode): SopsMetadata {
  if (node.t !== 'map') throw new SopsFormatError('the sops entry is not a mapping');
  const rules = RULE_KEYS.filter((k) => (scalarText(mapGet(node, k), k) ?? '') !== '');
  for (const k of ['unencrypted_comment_regex', 'encrypted_comment_regex']) {
    if ((scalarText(mapGet(node, k), k) ?? '') !== '') throw new SopsFormatError(`sops.${k} is not supported (gantry does not read comments)`);
  }
  if (rules.length > 1) throw new SopsFormatError(`sops names more than one of ${RULE_KEYS.join(', ')}: ${rules.join(', ')}`);
  const rule: EncryptionRule = rules[0]
    ? { kind: rules[0], value: scalarText(mapGet(node, rules[0]), rules[0])! }
    : { kind: 'unencrypted_suffix', value: DEFAULT_UNENCRYPTED_SUFFIX };

  let age = ageStanzas(mapGet(node, 'age'), 'sops.age');
  let otherKeyTypes = presentKeyTypes(node);
  const groups = mapGet(node, 'key_groups');
  if (age.length === 0 && otherKeyTypes.length === 0 && groups && groups.t === 'seq' && groups.items.length > 0) {
    if (groups.items.length > 1) throw new SopsFormatError(`the data key is split across ${groups.items.length} key groups (Shamir secret sharing), which gantry does not support`);
    const group = groups.items[0]!;
    if (group.t !== 'map') throw new SopsFormatError('sops.key_groups[0] must be a mapping');
    age = ageStanzas(mapGet(group, 'age'), 'sops.key_groups[0].age');
    otherKeyTypes = presentKeyTypes(group);
  }
  if (age.length === 0 && otherKeyTypes.length === 0) throw new SopsFormatError('sops names no keys (no age recipients)');

  const lastModified = scalarText(mapGet(node, 'lastmodified'), 'lastmodified');
  if (!lastModified) throw new SopsFormatError('sops.lastmodified is missing');
  const macOnly = mapGet(node, 'mac_only_encrypted');
  const macOnlyEncrypted = macOnly !== undefined && ((macOnly.t === 'bool' && macOnly.v) || (macOnly.t === 'str' && /^(?:1|t|true)$/i.test(macOnly.v)));
  return {
    age,
    otherKeyTypes,
    rule,
    lastModified,
    lastModifiedAad: rfc3339Aad(lastModified),
    mac: scalarText(mapGet(node, 'mac'), 'mac') ?? '',
    macOnlyEncrypted,
    version: scalarText(mapGet(node, 'version'), 'version') ?? '',
  };
}

/**
 * Takes the metadata out of a file's documents, as sops does: every document's `sops` entry is
 * removed, and the first document's is the one read.
 */
export function extractMetadata(roots: SopsMap[]): { roots: SopsMap[]; metadata: SopsMetadata } {
  const first = roots[0] ? mapGet(roots[0], SOPS_KEY) : undefined;
  if (!first) throw new SopsFormatError('no sops metadata in the first document');
  const metadata = readMetadata(first);
  return { roots: roots.map((r) => ({ t: 'map', items: r.items.filter(([k]) => k !== SOPS_KEY) })), metadata };
}

/** The metadata block as sops writes it: only what is set, keys in alphabetical order. */
export function metadataNode(m: { age: AgeStanza[]; rule: EncryptionRule; lastModified: string; mac: string; macOnlyEncrypted: boolean }): SopsMap {
  const entries: Array<[string, SopsNode]> = [
    ['age', { t: 'seq', items: m.age.map((a) => ({ t: 'map', items: [['enc', { t: 'str', v: a.enc }], ['recipient', { t: 'str', v: a.recipient }]] })) }],
    [m.rule.kind, { t: 'str', v: m.rule.value }],
    ['lastmodified', { t: 'str', v: m.lastModified }],
    ['mac', { t: 'str', v: m.mac }],
    ['version', { t: 'str', v: SOPS_FORMAT_VERSION }],
  ];
  if (m.macOnlyEncrypted) entries.push(['mac_only_encrypted', { t: 'bool', v: true }]);
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return { t: 'map', items: entries };
}
