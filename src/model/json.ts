/**
 * Equality of JSON-shaped values, as objects read from manifests and the store are.
 */

/**
 * Deep equality of JSON values; a key whose value is `undefined` counts as absent (it would not
 * survive serialisation either). Shared by the store (no-op writes), the diff and controllers.
 */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  let aCount = 0;
  for (const k of Object.keys(ao)) {
    if (ao[k] === undefined) continue;
    aCount++;
    if (!Object.prototype.hasOwnProperty.call(bo, k) || !deepEqual(ao[k], bo[k])) return false;
  }
  let bCount = 0;
  for (const k of Object.keys(bo)) if (bo[k] !== undefined) bCount++;
  return aCount === bCount;
}

/**
 * JSON with object keys sorted and undefined members dropped: equal values, equal strings
 * (for hashes, and for keys of maps).
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** JSON text as Go's encoding/json writes it: `<`, `>`, `&`, U+2028 and U+2029 escaped as `\uXXXX`. */
export function goHtmlEscape(json: string): string {
  return json.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
