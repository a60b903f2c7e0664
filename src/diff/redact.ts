/**
 * Keeping Secret values out of every plan rendering. A Secret's `data` and `stringData` values
 * are replaced before anything is printed: renderings say that a key was added, changed or
 * removed, never what it holds (neither the plain text nor its base64 form).
 */
import type { Operation } from 'fast-json-patch';
import type { KubeObject } from '../model/types.js';

/** What a rendering shows in place of a Secret value. */
export const REDACTED = '(hidden)';

/** How one Secret key changed. */
export type SecretKeyChange = 'added' | 'changed' | 'removed';

const secretFields = ['data', 'stringData'] as const;

/** True when `kind` holds values that must never be printed under `data`/`stringData`. */
export function isSecretKind(kind: string): boolean {
  return kind === 'Secret';
}

/**
 * A copy of `obj` safe to print: for a Secret every `data`/`stringData` value is replaced by
 * {@link REDACTED} (keys stay visible), and `kubectl.kubernetes.io/last-applied-configuration`,
 * which embeds the values, is replaced too. Other kinds are returned as they are.
 */
export function redactObject(obj: KubeObject): KubeObject {
  if (!isSecretKind(obj.kind)) return obj;
  const out: KubeObject = { ...obj, metadata: { ...obj.metadata } };
  for (const field of secretFields) {
    const values = obj[field];
    if (values && typeof values === 'object') out[field] = redactValues(values);
    else if (values !== undefined) out[field] = REDACTED;
  }
  const ann = obj.metadata.annotations;
  const lastApplied = 'kubectl.kubernetes.io/last-applied-configuration';
  if (ann && ann[lastApplied] !== undefined) out.metadata.annotations = { ...ann, [lastApplied]: REDACTED };
  return out;
}

/** True when a JSON Pointer in a Secret's patch points at (or into) its values. */
export function isSecretValuePointer(pointer: string): boolean {
  for (const f of secretFields) {
    if (pointer === `/${f}` || pointer.startsWith(`/${f}/`)) return true;
  }
  return pointer.startsWith('/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration');
}

/**
 * The patch with every Secret value replaced by {@link REDACTED} (op and path kept, so a reader
 * still sees which keys changed). Patches of other kinds are returned as they are.
 */
export function redactPatch(kind: string, ops: readonly Operation[]): Operation[] {
  if (!isSecretKind(kind)) return [...ops];
  return ops.map((op) => {
    if (!isSecretValuePointer(op.path) || !('value' in op)) return op;
    const value = op.value !== null && typeof op.value === 'object' ? redactValues(op.value) : REDACTED;
    return { ...op, value } as Operation;
  });
}

/**
 * Per Secret key, how a patch changes it: `{ path: 'data.password', change: 'changed' }`.
 * `before` is the (normalized) live object, needed to list the keys of a removed `data` map.
 * Ops outside the values are not listed.
 */
export function secretKeyChanges(ops: readonly Operation[], before?: KubeObject): { path: string; change: SecretKeyChange }[] {
  const out: { path: string; change: SecretKeyChange }[] = [];
  for (const op of ops) {
    const field = secretFields.find((f) => op.path === `/${f}` || op.path.startsWith(`/${f}/`));
    if (!field) continue;
    if (op.path !== `/${field}`) {
      const key = unescapePointer(op.path.slice(field.length + 2));
      out.push({ path: `${field}${fieldSegment(key)}`, change: changeOf(op.op) });
      continue;
    }
    // The whole map at once: every key it had or has.
    const oldKeys = Object.keys(asMap(before?.[field]));
    const newKeys = 'value' in op ? Object.keys(asMap(op.value)) : [];
    for (const key of new Set([...oldKeys, ...newKeys])) {
      const change: SecretKeyChange = !oldKeys.includes(key) ? 'added' : !newKeys.includes(key) ? 'removed' : 'changed';
      out.push({ path: `${field}${fieldSegment(key)}`, change });
    }
  }
  return out;
}

function changeOf(op: Operation['op']): SecretKeyChange {
  if (op === 'add') return 'added';
  if (op === 'remove') return 'removed';
  return 'changed';
}

function redactValues(values: object): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(values)) out[key] = REDACTED;
  return out;
}

function asMap(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/** Decodes one JSON Pointer segment. */
export function unescapePointer(segment: string): string {
  return segment.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** `.key` when the key reads well after a dot, else `["key"]`. */
export function fieldSegment(key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}
