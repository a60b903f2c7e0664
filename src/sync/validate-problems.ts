/**
 * What the semantic checks share: the collector every check writes into (each message names its
 * field first, in the forms kubectl prints: `field: invalid value "x": why`, `field is required`,
 * …) and the checks of values that recur across kinds (paths, ports, quantities).
 */
import { validatePortName } from '../model/names.js';
import { parseQuantity } from '../model/quantity.js';
import type { KeyToPath } from '../model/types.js';

/** A semantic problem: the field it concerns and a message that starts with that field. */
export interface RuleProblem {
  field: string;
  message: string;
}

/** Collects problems; every message names its field first, as kubectl prints them. */
export class Problems {
  readonly list: RuleProblem[] = [];
  /** `field: invalid value "v": why`. */
  invalid(field: string, value: unknown, why: string): void {
    this.list.push({ field, message: `${field}: invalid value ${quote(value)}: ${why}` });
  }
  /** `field is required[: why]`. */
  required(field: string, why?: string): void {
    this.list.push({ field, message: why ? `${field} is required: ${why}` : `${field} is required` });
  }
  /** `field: duplicate value "v"`. */
  duplicate(field: string, value: unknown): void {
    this.list.push({ field, message: `${field}: duplicate value ${quote(value)}` });
  }
  /** `field: forbidden: why`. */
  forbidden(field: string, why: string): void {
    this.list.push({ field, message: `${field}: forbidden: ${why}` });
  }
  /** `field: not found: "v" (hint)`. */
  notFound(field: string, value: unknown, hint: string): void {
    this.list.push({ field, message: `${field}: not found: ${quote(value)} (${hint})` });
  }
  /** `field message`, for messages of any other form. */
  say(field: string, message: string): void {
    this.list.push({ field, message: `${field} ${message}` });
  }
}

/** A value as messages quote it (strings in double quotes, anything else as JSON). */
export function quote(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v) ?? String(v);
}

/** `items[].path` of a configMap/secret volume: relative, without `..`, unique. */
export function checkItems(p: Problems, path: string, items: KeyToPath[] | undefined): void {
  const seen = new Set<string>();
  items?.forEach((item, i) => {
    const bad = validateRelativePath(item.path);
    if (bad) p.invalid(`${path}[${i}].path`, item.path, bad);
    if (seen.has(item.path)) p.duplicate(`${path}[${i}].path`, item.path);
    seen.add(item.path);
  });
}

/** Why `path` is not a relative path inside a volume, or undefined. */
export function validateRelativePath(path: string): string | undefined {
  if (path.startsWith('/')) return 'must be a relative path';
  if (path.split('/').includes('..')) return "must not contain '..'";
  return undefined;
}

/** A port given by number (1–65535) or by the name of a container port. */
export function checkPortRef(p: Problems, field: string, port: number | string): void {
  if (typeof port === 'number') {
    if (port < 1 || port > 65535) p.invalid(field, port, 'must be between 1 and 65535, inclusive');
    return;
  }
  const bad = validatePortName(port);
  if (bad) p.invalid(field, port, bad);
}

/** Parses a quantity; reports and returns undefined when it is not one or is negative. */
export function checkQuantity(p: Problems, field: string, q: number | string): number | undefined {
  const v = parseQuantity(q);
  if (v === undefined) {
    p.invalid(field, q, "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' (e.g. '500m', '128Mi', '2')");
    return undefined;
  }
  if (v < 0) {
    p.invalid(field, q, 'must be greater than or equal to 0');
    return undefined;
  }
  return v;
}
