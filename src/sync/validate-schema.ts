/**
 * The JSON Schema gate: compiles `schemas/` with ajv once (lazily, per kind) and turns ajv's
 * errors into kubectl-style messages that name the field ("spec.replicas must be an integer",
 * "spec.template.spec.containers[0].lifecycle is not supported").
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import common from '../../schemas/common.json' with { type: 'json' };
import configmap from '../../schemas/configmap.json' with { type: 'json' };
import cronjob from '../../schemas/cronjob.json' with { type: 'json' };
import daemonset from '../../schemas/daemonset.json' with { type: 'json' };
import deployment from '../../schemas/deployment.json' with { type: 'json' };
import ingress from '../../schemas/ingress.json' with { type: 'json' };
import job from '../../schemas/job.json' with { type: 'json' };
import namespace from '../../schemas/namespace.json' with { type: 'json' };
import pod from '../../schemas/pod.json' with { type: 'json' };
import replicaset from '../../schemas/replicaset.json' with { type: 'json' };
import secret from '../../schemas/secret.json' with { type: 'json' };
import service from '../../schemas/service.json' with { type: 'json' };
import statefulset from '../../schemas/statefulset.json' with { type: 'json' };

/** The subset of JSON Schema that the path renderer walks. */
interface SchemaNode {
  $id?: string;
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  additionalProperties?: boolean | SchemaNode;
  minimum?: number;
  maximum?: number;
  definitions?: Record<string, SchemaNode>;
}

/** A kind's schema, keyed by kind. */
interface KindSchema {
  kind: string;
  apiVersion: string;
  schema: SchemaNode;
}

const kindSchemas: readonly KindSchema[] = [
  namespace, configmap, secret, pod, replicaset, deployment, statefulset, daemonset, job, cronjob,
  service, ingress,
].map((s) => {
  const node = s as unknown as SchemaNode & { properties: { kind: { const: string }; apiVersion: { const: string } } };
  return { kind: node.properties.kind.const, apiVersion: node.properties.apiVersion.const, schema: node };
});

const schemaById = new Map<string, SchemaNode>(
  [common as unknown as SchemaNode, ...kindSchemas.map((k) => k.schema)].map((s) => [s.$id!, s]),
);
const schemaByKind = new Map(kindSchemas.map((k) => [k.kind, k]));

/** The kinds that have a schema, with the apiVersion each must carry, in declaration order. */
export const SCHEMA_KINDS: readonly { kind: string; apiVersion: string }[] = kindSchemas.map(
  ({ kind, apiVersion }) => ({ kind, apiVersion }),
);

/** The apiVersion a kind must carry, or undefined when gantry has no schema for the kind. */
export function expectedApiVersion(kind: string): string | undefined {
  return schemaByKind.get(kind)?.apiVersion;
}

let ajv: Ajv | undefined;
const validators = new Map<string, ValidateFunction>();

/**
 * The compiled validator of a kind. ajv is created on first use and each kind is compiled the
 * first time an object of that kind is seen, so a repo of three kinds pays for three.
 */
function validatorFor(kind: string): ValidateFunction | undefined {
  let fn = validators.get(kind);
  if (fn) return fn;
  const entry = schemaByKind.get(kind);
  if (!entry) return undefined;
  if (!ajv) {
    // verbose: errors carry parentSchema and data, which the messages below quote.
    ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true });
    for (const s of schemaById.values()) ajv.addSchema(s as object);
  }
  fn = ajv.getSchema(entry.schema.$id!);
  if (!fn) throw new Error(`schema ${entry.schema.$id} did not compile`);
  validators.set(kind, fn);
  return fn;
}

/** A schema problem: the field it concerns (dotted, kubectl style) and a message. */
export interface SchemaProblem {
  field?: string;
  message: string;
}

/**
 * Validates `obj` against the schema of `kind` and returns the problems, deduplicated, in the
 * order ajv found them. Empty when the object conforms. Throws when `kind` has no schema.
 */
export function schemaProblems(kind: string, obj: unknown): SchemaProblem[] {
  const fn = validatorFor(kind);
  if (!fn) throw new Error(`no schema for kind ${kind}`);
  if (fn(obj)) return [];
  return translate(schemaByKind.get(kind)!.schema, fn.errors ?? []);
}

function translate(root: SchemaNode, errors: readonly ErrorObject[]): SchemaProblem[] {
  const out: SchemaProblem[] = [];
  const seen = new Set<string>();
  // Paths whose value has the wrong type: anything else reported beneath them is fallout.
  const badTypePaths: string[] = [];
  for (const e of errors) if (e.keyword === 'type') badTypePaths.push(e.instancePath);
  for (const e of errors) {
    if (e.keyword !== 'type' && badTypePaths.some((p) => e.instancePath.startsWith(p + '/'))) continue;
    const problem = describe(root, e);
    if (!problem) continue;
    const key = `${problem.field ?? ''}\u0000${problem.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(problem);
  }
  return out;
}

function describe(root: SchemaNode, e: ErrorObject): SchemaProblem | undefined {
  const base = renderPath(root, e.instancePath);
  const params = e.params as Record<string, unknown>;
  const child = (name: string): string => (base ? `${base}.${name}` : name);
  switch (e.keyword) {
    case 'additionalProperties': {
      const field = child(String(params.additionalProperty));
      return { field, message: `${field} is not supported` };
    }
    case 'required': {
      const field = child(String(params.missingProperty));
      return { field, message: `${field} is required` };
    }
    case 'type':
      return { field: base, message: `${label(base)} must be ${typeWords(String(params.type))}${got(e.data)}` };
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ');
      return { field: base, message: `${label(base)} must be one of ${allowed}${got(e.data)}` };
    }
    case 'const':
      return { field: base, message: `${label(base)} must be ${JSON.stringify(params.allowedValue)}${got(e.data)}` };
    case 'minimum':
    case 'maximum': {
      const s = e.parentSchema as SchemaNode | undefined;
      if (s?.minimum !== undefined && s.maximum !== undefined) {
        return { field: base, message: `${label(base)} must be between ${s.minimum} and ${s.maximum}, inclusive${got(e.data)}` };
      }
      const cmp = e.keyword === 'minimum' ? 'greater' : 'less';
      return { field: base, message: `${label(base)} must be ${cmp} than or equal to ${String(params.limit)}${got(e.data)}` };
    }
    case 'minItems':
    case 'minLength':
      if (params.limit === 1) return { field: base, message: `${label(base)} must not be empty` };
      return { field: base, message: `${label(base)} ${e.message ?? 'is too short'}` };
    default:
      return { field: base || undefined, message: `${label(base)} ${e.message ?? 'is invalid'}` };
  }
}

function label(path: string): string {
  return path || 'the object';
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

/**
 * Renders a JSON Pointer as Kubernetes writes field paths: struct fields joined by dots, list
 * indexes and map keys in brackets (`spec.containers[0].resources.limits[cpu]`). Whether a
 * segment is a field or a map key is read off the schema, not guessed from the text.
 */
function renderPath(root: SchemaNode, pointer: string): string {
  if (pointer === '') return '';
  let node: SchemaNode | undefined = root;
  let doc = root.$id!;
  let out = '';
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (node) [node, doc] = deref(node, doc);
    if (node?.properties?.[seg]) {
      out += out ? `.${seg}` : seg;
      node = node.properties[seg];
    } else if (node?.items) {
      out += `[${seg}]`;
      node = node.items;
    } else if (node && typeof node.additionalProperties === 'object') {
      out += `[${seg}]`;
      node = node.additionalProperties;
    } else {
      out += out ? `.${seg}` : seg;
      node = undefined;
    }
  }
  return out;
}

/** Follows `$ref`s (within a document or into another by its file name) to a concrete node. */
function deref(node: SchemaNode, doc: string): [SchemaNode | undefined, string] {
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
