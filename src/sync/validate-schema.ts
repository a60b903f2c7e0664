/**
 * The JSON Schema gate: runs the validators compiled ahead of time from `schemas/` (see
 * validate-codegen.ts; loading them costs ~20 ms where compiling costs 0.3–1 s) and turns ajv's
 * errors into kubectl-style messages that name the field ("spec.replicas must be an integer",
 * "spec.template.spec.containers[0].lifecycle is not supported").
 */
import type { ErrorObject } from 'ajv';
import * as compiled from './validate-compiled.js';
import { OLDER_VERSION_SCHEMAS, SCHEMA_DOCUMENTS, SCHEMA_KINDS as KINDS, olderVersionExport, type KindSchema, type SchemaNode } from './validate-schemas.js';

/** A compiled validator as ajv's standalone code exports it. */
type ValidateFn = ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };

const validators = compiled as unknown as Record<string, ValidateFn | undefined>;
const schemaById = new Map<string, SchemaNode>(SCHEMA_DOCUMENTS.map((s) => [s.$id!, s]));
const schemaByKind = new Map(KINDS.map((k) => [k.kind, k]));
const olderByVersion = new Map(OLDER_VERSION_SCHEMAS.map((k) => [`${k.apiVersion}/${k.kind}`, k]));

/** The kinds that have a schema, with the apiVersion each must carry, in declaration order. */
export const SCHEMA_KINDS: readonly { kind: string; apiVersion: string }[] = KINDS.map(
  ({ kind, apiVersion }) => ({ kind, apiVersion }),
);

/** The schema of a kind (its document's root), or undefined when gantry has none. */
export function kindSchema(kind: string): SchemaNode | undefined {
  return schemaByKind.get(kind)?.schema;
}

/** The apiVersion a kind must carry, or undefined when gantry has no schema for the kind. */
export function expectedApiVersion(kind: string): string | undefined {
  return schemaByKind.get(kind)?.apiVersion;
}

/** The older apiVersions a kind is still accepted in (converted on apply), e.g. autoscaling/v1 for HorizontalPodAutoscaler. */
export function olderApiVersions(kind: string): string[] {
  return OLDER_VERSION_SCHEMAS.filter((k) => k.kind === kind).map((k) => k.apiVersion);
}

/** A schema problem: the field it concerns (dotted, kubectl style) and a message. */
export interface SchemaProblem {
  field?: string;
  message: string;
}

/**
 * Validates `obj` against the schema of `kind` and returns the problems, deduplicated, in the
 * order ajv found them. Empty when the object conforms. `apiVersion` picks an older version's
 * schema ({@link olderApiVersions}). Throws when `kind` has no schema (in that version).
 */
export function schemaProblems(kind: string, obj: unknown, opts: { apiVersion?: string } = {}): SchemaProblem[] {
  let entry: KindSchema | undefined = schemaByKind.get(kind);
  let fn = validators[kind];
  if (opts.apiVersion !== undefined && opts.apiVersion !== entry?.apiVersion) {
    entry = olderByVersion.get(`${opts.apiVersion}/${kind}`);
    fn = entry ? validators[olderVersionExport(kind, opts.apiVersion)] : undefined;
  }
  if (!fn || !entry) throw new Error(`no schema for kind ${kind}${opts.apiVersion ? ` in ${opts.apiVersion}` : ''}`);
  if (fn(obj)) return [];
  return translate(entry.schema, obj, fn.errors ?? []);
}

function translate(root: SchemaNode, obj: unknown, errors: readonly ErrorObject[]): SchemaProblem[] {
  const out: SchemaProblem[] = [];
  const seen = new Set<string>();
  // Paths whose value has the wrong type: anything else reported beneath them is fallout.
  const badTypePaths: string[] = [];
  for (const e of errors) if (e.keyword === 'type') badTypePaths.push(e.instancePath);
  for (const e of errors) {
    if (e.keyword !== 'type' && badTypePaths.some((p) => e.instancePath.startsWith(p + '/'))) continue;
    const problem = describe(resolvePointer(root, obj, e.instancePath), e);
    const key = `${problem.field ?? ''}\u0000${problem.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(problem);
  }
  return out;
}

function describe(at: Resolved, e: ErrorObject): SchemaProblem {
  const base = at.path;
  const params = e.params as Record<string, unknown>;
  const child = (name: string): string => (base ? `${base}.${name}` : name);
  const field = base || undefined;
  const subject = base || 'the object';
  switch (e.keyword) {
    case 'additionalProperties': {
      const name = child(String(params.additionalProperty));
      return { field: name, message: `${name} is not supported` };
    }
    case 'required': {
      const name = child(String(params.missingProperty));
      return { field: name, message: `${name} is required` };
    }
    case 'type':
      return { field, message: `${subject} must be ${typeWords(String(params.type))}${got(at.data)}` };
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ');
      return { field, message: `${subject} must be one of ${allowed}${got(at.data)}` };
    }
    case 'const':
      return { field, message: `${subject} must be ${JSON.stringify(params.allowedValue)}${got(at.data)}` };
    case 'minimum':
    case 'maximum': {
      const s = at.node;
      if (s?.minimum !== undefined && s.maximum !== undefined) {
        return { field, message: `${subject} must be between ${s.minimum} and ${s.maximum}, inclusive${got(at.data)}` };
      }
      const cmp = e.keyword === 'minimum' ? 'greater' : 'less';
      return { field, message: `${subject} must be ${cmp} than or equal to ${String(params.limit)}${got(at.data)}` };
    }
    case 'minItems':
    case 'minLength':
      if (params.limit === 1) return { field, message: `${subject} must not be empty` };
      return { field, message: `${subject} ${e.message ?? 'is too short'}` };
    default:
      return { field, message: `${subject} ${e.message ?? 'is invalid'}` };
  }
}

function got(data: unknown): string {
  if (data === undefined) return '';
  if (data === null) return ' (got null)';
  if (typeof data === 'object') return Array.isArray(data) ? ' (got a list)' : ' (got a mapping)';
  const text = JSON.stringify(data);
  return ` (got ${text.length > 40 ? `${text.slice(0, 37)}...` : text})`;
}

const typeNames: Record<string, string> = {
  integer: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'a boolean',
  object: 'a mapping',
  array: 'a list',
  null: 'null',
};

function typeWords(types: string): string {
  return types.split(',').map((t) => typeNames[t] ?? t).join(' or ');
}

/** Where a JSON Pointer leads: its kubectl-style path, the schema node there, the value there. */
interface Resolved {
  path: string;
  node: SchemaNode | undefined;
  data: unknown;
}

/**
 * Follows a JSON Pointer through the object and its schema together. The path is rendered as
 * Kubernetes writes field paths: struct fields joined by dots, list indexes and map keys in
 * brackets (`spec.containers[0].resources.limits[cpu]`); whether a segment is a field or a map
 * key is read off the schema, not guessed from the text.
 */
function resolvePointer(root: SchemaNode, obj: unknown, pointer: string): Resolved {
  let node: SchemaNode | undefined = root;
  let doc = root.$id!;
  let data: unknown = obj;
  let path = '';
  if (pointer === '') return { path, node, data };
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    data = data !== null && typeof data === 'object' ? (data as Record<string, unknown>)[seg] : undefined;
    if (node) [node, doc] = deref(node, doc);
    if (node?.properties?.[seg]) {
      path += path ? `.${seg}` : seg;
      node = node.properties[seg];
    } else if (node?.items) {
      path += `[${seg}]`;
      node = node.items;
    } else if (node && typeof node.additionalProperties === 'object') {
      path += `[${seg}]`;
      node = node.additionalProperties;
    } else {
      path += path ? `.${seg}` : seg;
      node = undefined;
    }
  }
  if (node) [node, doc] = deref(node, doc);
  return { path, node, data };
}

/**
 * Follows `$ref`s (within a document or into another by its file name) to a concrete node;
 * returns it with the `$id` of the document it lies in.
 */
export function deref(node: SchemaNode, doc: string): [SchemaNode | undefined, string] {
  let cur: SchemaNode | undefined = node;
  let curDoc = doc;
  for (let hops = 0; cur?.$ref !== undefined && hops < 16; hops++) {
    const [file, pointer = ''] = cur.$ref.split('#');
    if (file) curDoc = new URL(file, curDoc).href;
    let target: unknown = schemaById.get(curDoc);
    for (const part of pointer.split('/').filter(Boolean)) {
      target = (target as Record<string, unknown> | undefined)?.[part];
    }
    cur = target as SchemaNode | undefined;
  }
  return [cur, curDoc];
}
