/**
 * Writing a SOPS tree as text, in the layout sops itself writes, so that a file encrypted by
 * `gantry secret encrypt` reads like (and diffs cleanly against) one written by `sops`:
 *
 * - YAML as go-yaml v3 encodes it with sops's indent of 4: sequences indented under their key,
 *   `|`/`|-` block scalars for multi-line strings, double quotes for strings that would read back
 *   as another type (`"2024-01-01T00:00:00Z"`, `"true"`, `"1"`), single quotes where a plain
 *   scalar cannot carry the text, `---` between documents;
 * - JSON as Go's encoder and `json.Indent` with a tab write it (`<`, `>`, `&` escaped).
 *
 * Comments are not kept: the tree read by gantry has none.
 */
import { resolvePlainV3, type SopsMap, type SopsNode } from './tree.js';
import { formatFloatF, type SopsScalar } from './values.js';
import { goHtmlEscape } from '../../model/json.js';

const INDENT = 4;

/** go-yaml v3's float text (`strconv.FormatFloat(f, 'g', -1, 64)` with YAML's inf/nan). */
function yamlFloat(v: number): string {
  if (Number.isNaN(v)) return '.nan';
  if (v === Infinity) return '.inf';
  if (v === -Infinity) return '-.inf';
  return goFormatG(v);
}

/**
 * Go's `strconv.FormatFloat(v, 'g', -1, 64)`: shortest digits, exponent form (at least two
 * exponent digits) when the exponent is below -4 or at least 6.
 */
function goFormatG(v: number): string {
  if (Object.is(v, -0)) return '-0';
  if (v === 0) return '0';
  const [mant, expText] = v.toExponential().split('e') as [string, string];
  const exp = Number(expText);
  if (exp < -4 || exp >= 6) return `${mant}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return formatFloatF(v);
}

/** Old YAML 1.1 booleans go-yaml v3 still quotes (`isOldBool`). */
const OLD_BOOLS = new Set(['y', 'Y', 'yes', 'Yes', 'YES', 'on', 'On', 'ON', 'n', 'N', 'no', 'No', 'NO', 'off', 'Off', 'OFF']);
const BASE60_FLOAT = /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$/;
/** The timestamp forms go-yaml v3 resolves (and so quotes when they are strings). */
const TIMESTAMP = /^\d{4}-\d{1,2}-\d{1,2}(?:[Tt]\d{1,2}:\d{1,2}:\d{1,2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})| \d{1,2}:\d{1,2}:\d{1,2}(?:\.\d+)?)?$/;

/** Whether libyaml's analyzer allows `s` as a plain scalar in block context. */
function plainAllowed(s: string): boolean {
  if (s === '' || /^\s|\s$/.test(s)) return false;
  if (/^(?:---|\.\.\.)/.test(s)) return false;
  if (/^[-?:,[\]{}#&*!|>'"%@`]/.test(s) && !(/^[-?:]/.test(s) && s.length > 1 && !/^[-?:]\s/.test(s))) return false;
  if (/: |:$| #/.test(s)) return false;
  // Control characters and the like need escapes.
  return !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\ufeff]/.test(s);
}

/** A double-quoted scalar with YAML escapes. */
function doubleQuoted(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0xfeff) out += `\\x${c.toString(16).toUpperCase().padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** A literal block scalar (`|`, `|-`, `|+`) with its lines indented to `indent`. */
function literal(s: string, indent: number): string {
  const trailing = /\n+$/.exec(s)?.[0].length ?? 0;
  const chomp = trailing === 0 ? '-' : trailing === 1 ? '' : '+';
  const hint = /^[ \n]/.test(s) ? String(INDENT) : '';
  const body = trailing > 0 ? s.slice(0, -1) : s;
  const pad = ' '.repeat(indent);
  return `|${hint}${chomp}\n${body.split('\n').map((l) => (l === '' ? '' : pad + l)).join('\n')}`;
}

/** A string scalar in the style go-yaml v3 picks for it. */
function yamlString(s: string, indent: number): string {
  if (s.includes('\n')) {
    // Block styles cannot hold trailing spaces on a line or control characters.
    return / \n|[\u0000-\u0008\u000b-\u001f\u007f]/.test(s) || / $/.test(s) ? doubleQuoted(s) : literal(s, indent);
  }
  const resolvesAsString = resolvePlainV3(s).t === 'str' && !TIMESTAMP.test(s) && !OLD_BOOLS.has(s) && !BASE60_FLOAT.test(s);
  if (!resolvesAsString) return doubleQuoted(s);
  if (plainAllowed(s)) return s;
  return /[\u0000-\u001f\u007f-\u009f\ufeff]/.test(s) ? doubleQuoted(s) : `'${s.replace(/'/g, "''")}'`;
}

function yamlScalar(v: SopsScalar, indent: number): string {
  switch (v.t) {
    case 'str':
      return yamlString(v.v, indent);
    case 'int':
      return v.v.toString();
    case 'float':
      return yamlFloat(v.v);
    case 'bool':
      return v.v ? 'true' : 'false';
    case 'null':
      return 'null';
    case 'bytes':
      return yamlString(Buffer.from(v.v).toString('utf8'), indent);
  }
}

/** Lines of a mapping whose keys sit at `indent` (the first line's indent is the caller's). */
function yamlMap(map: SopsMap, indent: number, keyIndent = indent): string[] {
  const lines: string[] = [];
  map.items.forEach(([k, v], i) => {
    const pad = ' '.repeat(i === 0 ? 0 : keyIndent);
    const key = `${pad}${yamlString(k, indent)}:`;
    lines.push(...yamlValueAfter(key, v, indent));
  });
  return lines;
}

/** `prefix` (a key with its colon, or a dash) followed by a value, over as many lines as it takes. */
function yamlValueAfter(prefix: string, v: SopsNode, indent: number): string[] {
  if (v.t === 'map') {
    if (v.items.length === 0) return [`${prefix} {}`];
    const child = indent + INDENT;
    return [prefix, ...yamlMap(v, child).map((l, i) => (i === 0 ? ' '.repeat(child) + l : l))];
  }
  if (v.t === 'seq') {
    if (v.items.length === 0) return [`${prefix} []`];
    const child = indent + INDENT;
    return [prefix, ...yamlSeq(v.items, child)];
  }
  return [`${prefix} ${yamlScalar(v, indent + INDENT)}`];
}

/** Lines of a sequence whose dashes sit at `indent`. */
function yamlSeq(items: SopsNode[], indent: number): string[] {
  const pad = ' '.repeat(indent);
  const lines: string[] = [];
  for (const item of items) {
    if (item.t === 'map' && item.items.length > 0) {
      // A mapping item is written compactly after the dash; its keys line up past it.
      const inner = yamlMap(item, indent, indent + 2);
      lines.push(`${pad}- ${inner[0]}`, ...inner.slice(1));
    } else if (item.t === 'seq' && item.items.length > 0) {
      const inner = yamlSeq(item.items, indent + 2);
      lines.push(`${pad}- ${inner[0]!.trimStart()}`, ...inner.slice(1));
    } else {
      lines.push(...yamlValueAfter(`${pad}-`, item, indent));
    }
  }
  return lines;
}

/** YAML text of the documents, one after another (`---` between them), as sops writes it. */
export function emitYaml(roots: SopsMap[]): string {
  return roots.map((root) => (root.items.length === 0 ? '{}\n' : `${yamlMap(root, 0).join('\n')}\n`)).join('---\n');
}

/** A JSON string as Go's encoder writes it (HTML-safe). */
function jsonString(s: string): string {
  return goHtmlEscape(JSON.stringify(s));
}

/**
 * Go's JSON float text: the `'f'` form between 1e-6 and 1e21, else the `'e'` form, which for
 * those exponents is exactly what `toExponential()` writes (`1e+21`, `1e-7`).
 */
function jsonFloat(v: number): string {
  if (!Number.isFinite(v)) throw new RangeError('JSON cannot hold NaN or infinity');
  const abs = Math.abs(v);
  return abs !== 0 && (abs < 1e-6 || abs >= 1e21) ? v.toExponential() : formatFloatF(v);
}

function jsonValue(v: SopsNode, depth: number): string {
  const pad = '\t'.repeat(depth + 1);
  const end = '\t'.repeat(depth);
  switch (v.t) {
    case 'map':
      if (v.items.length === 0) return '{}';
      return `{\n${v.items.map(([k, x]) => `${pad}${jsonString(k)}: ${jsonValue(x, depth + 1)}`).join(',\n')}\n${end}}`;
    case 'seq':
      if (v.items.length === 0) return '[]';
      return `[\n${v.items.map((x) => `${pad}${jsonValue(x, depth + 1)}`).join(',\n')}\n${end}]`;
    case 'str':
      return jsonString(v.v);
    case 'bytes':
      return jsonString(Buffer.from(v.v).toString('base64'));
    case 'int':
      return v.v.toString();
    case 'float':
      return jsonFloat(v.v);
    case 'bool':
      return v.v ? 'true' : 'false';
    case 'null':
      return 'null';
  }
}

/** JSON text of one document, tab-indented with a final newline, as sops writes it. */
export function emitJson(root: SopsMap): string {
  return `${jsonValue(root, 0)}\n`;
}
