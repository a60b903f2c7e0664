/**
 * The OpenAPI documents kubectl reads: `/openapi/v3` (an index of group versions, each with a
 * content hash), `/openapi/v3/<group version>` (paths and `components.schemas`) and
 * `/openapi/v2` (Swagger 2.0 `definitions`, as JSON).
 *
 * kubectl uses them for `kubectl explain`, to compute strategic merge patches (`kubectl apply`,
 * `kubectl diff`: the `x-kubernetes-patch-merge-key` / `x-kubernetes-patch-strategy` of each
 * list) and to decide whether the server validates fields itself (a `fieldValidation`
 * parameter on the PATCH operation of a kind, which gantry's validator honours).
 *
 * The schemas are converted from the JSON Schemas gantry validates manifests with (schemas/,
 * via src/sync/validate-schemas.ts), never kept by hand: shared definitions with fields become
 * components (`dev.gantry.schema.Container`), primitive ones are inlined. Kinds without a schema
 * (those gantry writes itself: Node, Event, Sync) get an object schema that keeps
 * unknown fields. Patch metadata follows the struct tags of Kubernetes' own types. Documents are
 * generated once per process (they only change with the code) and hashed by content.
 *
 * kubectl asks for `/openapi/v2` as protobuf only; gantry serves it as JSON to clients that
 * accept JSON and answers 406 otherwise, which kubectl treats as "no v2 schema" and works from
 * v3 (explain, apply and diff all prefer v3).
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { KINDS, type KindInfo } from '../model/kinds.js';
import { PATCH_FIELDS } from '../sync/patch-meta.js';
import { SCHEMA_DOCUMENTS, SCHEMA_KINDS } from '../sync/validate-schemas.js';
import { FIELD_DESCRIPTIONS, KIND_DESCRIPTIONS } from './openapi-text.js';

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Prefix of every component name; the last dot-segment is what `kubectl explain` shows as a type. */
const PREFIX = 'dev.gantry.schema.';
const REF = '#/components/schemas/';

/** The JSON Schema shapes the converter reads. */
interface JsonSchema {
  $ref?: string;
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  additionalProperties?: boolean | JsonSchema;
  required?: string[];
  definitions?: Record<string, JsonSchema>;
  [k: string]: unknown;
}

const isIntOrString = (s: JsonSchema): boolean => Array.isArray(s.type) && s.type.length === 2 && s.type.includes('integer') && s.type.includes('string');
const pascal = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

/** `apps/v1` → `apps.v1`; the core group is `core`. */
function gvName(apiVersion: string): string {
  return apiVersion.includes('/') ? apiVersion.replace('/', '.') : `core.${apiVersion}`;
}
function gvkOf(apiVersion: string, kind: string): { group: string; version: string; kind: string } {
  const i = apiVersion.indexOf('/');
  return i < 0 ? { group: '', version: apiVersion, kind } : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1), kind };
}
/** Component name of a kind's schema. */
export function kindComponentName(kind: string, apiVersion: string): string {
  return `${PREFIX}${gvName(apiVersion)}.${kind}`;
}

const COMMON_ID = 'https://gantry.dev/schemas/common.json';

/** Converts gantry's JSON Schemas into OpenAPI v3 component schemas. */
class Converter {
  readonly components: Record<string, Rec> = {};
  private readonly common: Record<string, JsonSchema>;

  constructor() {
    const common = SCHEMA_DOCUMENTS.find((d) => d.$id === COMMON_ID) as JsonSchema | undefined;
    if (!common?.definitions) throw new Error('schemas/common.json has no definitions');
    this.common = common.definitions;
  }

  /** Adds the component of a kind with a schema; returns its name. */
  addKind(kind: string, apiVersion: string, doc: JsonSchema): string {
    const name = kindComponentName(kind, apiVersion);
    const node = this.convert(doc, { owner: kind, path: '', local: doc.definitions ?? {}, localPrefix: `${PREFIX}${gvName(apiVersion)}.${kind}` });
    node.description = KIND_DESCRIPTIONS[kind] ?? `${kind} (${apiVersion}).`;
    node['x-kubernetes-group-version-kind'] = [gvkOf(apiVersion, kind)];
    this.components[name] = node;
    return name;
  }

  /** Adds the component of a kind gantry writes itself (no schema): its metadata, the rest kept as is. */
  addOpenKind(info: KindInfo): string {
    const name = kindComponentName(info.kind, info.apiVersion);
    const meta = this.commonRef('objectMeta');
    this.components[name] = {
      type: 'object',
      description: KIND_DESCRIPTIONS[info.kind] ?? `${info.kind} (${info.apiVersion}).`,
      properties: {
        apiVersion: { type: 'string', description: FIELD_DESCRIPTIONS['*:apiVersion'] },
        kind: { type: 'string', description: FIELD_DESCRIPTIONS['*:kind'] },
        metadata: { allOf: [meta], description: FIELD_DESCRIPTIONS['*:metadata'] },
      },
      'x-kubernetes-preserve-unknown-fields': true,
      'x-kubernetes-group-version-kind': [gvkOf(info.apiVersion, info.kind)],
    };
    return name;
  }

  private commonRef(def: string): Rec {
    const name = `${PREFIX}${pascal(def)}`;
    if (!this.components[name]) {
      this.components[name] = {}; // placeholder first: a definition may (indirectly) refer to itself
      const node = this.convert(this.common[def]!, { owner: def, path: '', local: this.common, localPrefix: PREFIX });
      const d = FIELD_DESCRIPTIONS[`${def}:`];
      if (d) node.description = d;
      this.components[name] = node;
    }
    return { $ref: `${REF}${name}` };
  }

  private convert(s: JsonSchema, at: { owner: string; path: string; local: Record<string, JsonSchema>; localPrefix: string }): Rec {
    if (s.$ref !== undefined) return this.convertRef(s.$ref, at);
    const out: Rec = {};
    const types = Array.isArray(s.type) ? s.type : s.type ? [s.type] : [];
    if (types.length > 1) {
      if (types.includes('integer') && types.includes('string')) {
        out['x-kubernetes-int-or-string'] = true;
        out.anyOf = [{ type: 'integer' }, { type: 'string' }];
      } else {
        // A quantity ("500m", 2): Kubernetes documents it as a string and accepts numbers.
        out.type = types.includes('string') ? 'string' : types[0];
      }
    } else if (types.length === 1) out.type = types[0];
    if (s.const !== undefined) {
      out.type ??= typeof s.const === 'number' ? (Number.isInteger(s.const) ? 'integer' : 'number') : typeof s.const;
      // apiVersion and kind are plain strings in Kubernetes' schemas; the value shows in the GVK.
      if (at.path !== 'apiVersion' && at.path !== 'kind') out.enum = [s.const];
    }
    for (const k of ['enum', 'minimum', 'maximum', 'minLength', 'maxLength', 'minItems', 'maxItems', 'pattern', 'format'] as const) {
      if (s[k] !== undefined) out[k] = s[k];
    }
    if (s.required?.length) out.required = [...s.required];
    if (s.properties) {
      const props: Rec = {};
      for (const [key, child] of Object.entries(s.properties)) {
        const path = at.path ? `${at.path}.${key}` : key;
        props[key] = this.field(this.convert(child, { ...at, path }), at.owner, path);
      }
      out.properties = props;
      out.type ??= 'object';
    }
    if (s.items) out.items = this.convert(s.items, at);
    if (isRec(s.additionalProperties)) out.additionalProperties = this.convert(s.additionalProperties as JsonSchema, at);
    if (out.type === 'object' && !out.properties && !out.additionalProperties) out['x-kubernetes-preserve-unknown-fields'] = true;
    return out;
  }

  /** A `$ref`: to a shared object definition it stays a ref; a primitive one is inlined. */
  private convertRef(ref: string, at: { owner: string; path: string; local: Record<string, JsonSchema>; localPrefix: string }): Rec {
    const [file, pointer = ''] = ref.split('#');
    const def = pointer.replace(/^\/definitions\//, '');
    const inCommon = file === 'common.json' || (!file && at.local === this.common);
    const target = inCommon ? this.common[def] : at.local[def];
    if (!target) throw new Error(`schema reference ${ref} (in ${at.owner}) does not resolve`);
    if (isIntOrString(target)) {
      // One named component, as Kubernetes has: explain shows the field as <IntOrString>.
      const name = `${PREFIX}IntOrString`;
      this.components[name] ??= { ...this.convert(target, at), description: 'IntOrString is an integer or a string: a port number or a port name, a count or a percentage ("25%").' };
      return { $ref: `${REF}${name}` };
    }
    if (!target.properties) return this.convert(target, { ...at, local: inCommon ? this.common : at.local, localPrefix: inCommon ? PREFIX : at.localPrefix });
    if (inCommon) return this.commonRef(def);
    const name = `${at.localPrefix}${pascal(def)}`;
    if (!this.components[name]) {
      this.components[name] = {};
      this.components[name] = this.convert(target, { owner: at.owner, path: at.path, local: at.local, localPrefix: at.localPrefix });
    }
    return { $ref: `${REF}${name}` };
  }

  /** A field's schema with its description and patch metadata. */
  private field(node: Rec, owner: string, path: string): Rec {
    // The standard top-level fields, described once for every kind.
    const top = !path.includes('.') && owner in KIND_DESCRIPTIONS ? FIELD_DESCRIPTIONS[`*:${path}`] : undefined;
    const description = FIELD_DESCRIPTIONS[`${owner}:${path}`] ?? top;
    const patch = PATCH_FIELDS[`${owner}:${path}`];
    if (!description && !patch) return node;
    // Siblings of a $ref are ignored by OpenAPI; Kubernetes wraps the ref in allOf to add to it.
    const out: Rec = node.$ref !== undefined ? { allOf: [node] } : { ...node };
    if (description) out.description = description;
    if (patch) {
      if (patch.mergeKey) out['x-kubernetes-patch-merge-key'] = patch.mergeKey;
      out['x-kubernetes-patch-strategy'] = patch.strategy;
      if (patch.listType) out['x-kubernetes-list-type'] = patch.listType;
      if (patch.listMapKeys) out['x-kubernetes-list-map-keys'] = patch.listMapKeys;
    }
    return out;
  }
}

/** The parameters of a write, as the API server declares them (kubectl looks for fieldValidation). */
const WRITE_PARAMS = [
  { name: 'dryRun', in: 'query', description: 'When All, the write is validated and answered but not stored.', schema: { type: 'string', uniqueItems: true } },
  { name: 'fieldManager', in: 'query', description: 'Name of the actor making the change.', schema: { type: 'string', uniqueItems: true } },
  { name: 'fieldValidation', in: 'query', description: 'Unknown and duplicate fields are always errors in gantry (Strict).', schema: { type: 'string', uniqueItems: true } },
];
const PATCH_TYPES = ['application/apply-patch+yaml', 'application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json'];

interface Operation {
  action: string;
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  list?: boolean;
}

function operationsFor(info: KindInfo, named: boolean): Operation[] {
  return named
    ? [{ action: 'get', method: 'get' }, { action: 'put', method: 'put' }, { action: 'patch', method: 'patch' }, { action: 'delete', method: 'delete' }]
    : [{ action: 'list', method: 'get', list: true }, { action: 'post', method: 'post' }];
}

/** The URL paths of a kind: its list and item paths, namespaced or not, and the all-namespaces list. */
function pathsOf(info: KindInfo): { path: string; named: boolean; namespaced: boolean }[] {
  const root = info.apiVersion.includes('/') ? `/apis/${info.apiVersion}` : `/api/${info.apiVersion}`;
  if (!info.namespaced) return [{ path: `${root}/${info.plural}`, named: false, namespaced: false }, { path: `${root}/${info.plural}/{name}`, named: true, namespaced: false }];
  return [
    { path: `${root}/${info.plural}`, named: false, namespaced: false },
    { path: `${root}/namespaces/{namespace}/${info.plural}`, named: false, namespaced: true },
    { path: `${root}/namespaces/{namespace}/${info.plural}/{name}`, named: true, namespaced: true },
  ];
}

const opId = (op: Operation, info: KindInfo, namespaced: boolean): string =>
  `${op.action}${namespaced ? 'Namespaced' : ''}${pascal(gvName(info.apiVersion).replace(/\.(\w)/g, (_, c: string) => c.toUpperCase()))}${info.kind}`;

/** OpenAPI v3 path items of one kind. */
function v3Paths(info: KindInfo, schema: string): Rec {
  const out: Rec = {};
  const ref = { $ref: `${REF}${schema}` };
  for (const p of pathsOf(info)) {
    const item: Rec = {};
    const params: Rec[] = [];
    if (p.named) params.push({ name: 'name', in: 'path', required: true, description: `name of the ${info.kind}`, schema: { type: 'string', uniqueItems: true } });
    if (p.namespaced) params.push({ name: 'namespace', in: 'path', required: true, description: 'object name and auth scope, such as for teams and projects', schema: { type: 'string', uniqueItems: true } });
    item.parameters = params;
    for (const op of operationsFor(info, p.named)) {
      // The all-namespaces path only lists.
      if (info.namespaced && !p.namespaced && op.action !== 'list') continue;
      const o: Rec = {
        description: `${op.action} ${op.list ? `objects of kind ${info.kind}` : `the specified ${info.kind}`}`,
        operationId: opId(op, info, p.namespaced),
        responses: { '200': { description: 'OK', content: { 'application/json': { schema: op.list ? { type: 'object' } : ref } } } },
        'x-kubernetes-action': op.action,
        'x-kubernetes-group-version-kind': gvkOf(info.apiVersion, info.kind),
      };
      if (op.method === 'post' || op.method === 'put') {
        o.parameters = WRITE_PARAMS;
        o.requestBody = { required: true, content: { '*/*': { schema: ref } } };
      } else if (op.method === 'patch') {
        o.parameters = [...WRITE_PARAMS, { name: 'force', in: 'query', description: 'Force an apply past conflicts (gantry keeps no field owners, so there are none).', schema: { type: 'boolean', uniqueItems: true } }];
        o.requestBody = { required: true, content: Object.fromEntries(PATCH_TYPES.map((t) => [t, { schema: { type: 'object' } }])) };
      } else if (op.method === 'delete') {
        o.parameters = [WRITE_PARAMS[0]];
      } else if (op.list) {
        o.parameters = ['labelSelector', 'fieldSelector', 'limit', 'continue', 'resourceVersion', 'watch'].map((name) => ({ name, in: 'query', schema: { type: name === 'limit' ? 'integer' : name === 'watch' ? 'boolean' : 'string', uniqueItems: true } }));
      }
      item[op.method] = o;
    }
    out[p.path] = item;
  }
  return out;
}

/** The names of the components `root` reaches through `$ref`s, `root` included. */
function closure(roots: string[], components: Record<string, Rec>): Set<string> {
  const seen = new Set<string>();
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(visit);
    else if (isRec(v)) {
      const r = v.$ref;
      if (typeof r === 'string' && r.startsWith(REF)) {
        const name = r.slice(REF.length);
        if (!seen.has(name)) {
          seen.add(name);
          visit(components[name]);
        }
      }
      for (const [k, x] of Object.entries(v)) if (k !== '$ref') visit(x);
    }
  };
  for (const r of roots) {
    seen.add(r);
    visit(components[r]);
  }
  return seen;
}

/** A served document: its JSON text and content hash. */
export interface OpenApiDocument {
  json: string;
  hash: string;
}

/** All of gantry's OpenAPI documents. */
export interface OpenApiDocuments {
  /** `/openapi/v3`: group version path (`api/v1`, `apis/apps/v1`) → its URL with hash. */
  index: OpenApiDocument;
  /** Group version path → its v3 document. */
  v3: Map<string, OpenApiDocument>;
  /** `/openapi/v2`. */
  v2: OpenApiDocument;
}

const hashOf = (json: string): string => createHash('sha512').update(json).digest('hex').slice(0, 32).toUpperCase();
const doc = (value: unknown): OpenApiDocument => {
  const json = JSON.stringify(value);
  return { json, hash: hashOf(json) };
};

/** The group-version path of an apiVersion: `api/v1`, `apis/apps/v1`. */
export function gvPath(apiVersion: string): string {
  return apiVersion.includes('/') ? `apis/${apiVersion}` : `api/${apiVersion}`;
}

/** Builds every document from the schemas; see {@link openApiDocuments} for the cached copy. */
export function buildOpenApiDocuments(kinds: readonly KindInfo[] = KINDS): OpenApiDocuments {
  const conv = new Converter();
  const schemaOf = new Map(SCHEMA_KINDS.map((k) => [k.kind, k]));
  const names = new Map<string, string>();
  for (const info of kinds) {
    const s = schemaOf.get(info.kind);
    names.set(info.kind, s ? conv.addKind(info.kind, info.apiVersion, s.schema as JsonSchema) : conv.addOpenKind(info));
  }
  const byGv = new Map<string, KindInfo[]>();
  for (const info of kinds) byGv.set(info.apiVersion, [...(byGv.get(info.apiVersion) ?? []), info]);
  const v3 = new Map<string, OpenApiDocument>();
  const index: Record<string, { serverRelativeURL: string }> = {};
  for (const [apiVersion, infos] of byGv) {
    const paths: Rec = {};
    for (const info of infos) Object.assign(paths, v3Paths(info, names.get(info.kind)!));
    const used = closure(infos.map((i) => names.get(i.kind)!), conv.components);
    const schemas = Object.fromEntries([...used].sort().map((n) => [n, conv.components[n]]));
    const d = doc({ openapi: '3.0.0', info: { title: 'gantry', version: 'v1.32.0-gantry' }, paths, components: { schemas } });
    const p = gvPath(apiVersion);
    v3.set(p, d);
    index[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${d.hash}` };
  }
  const v2 = doc(toSwagger(conv.components, kinds, names));
  return { index: doc({ paths: index }), v3, v2 };
}

/** Swagger 2.0 of the same schemas: refs to `#/definitions/`, int-or-string as its string format. */
function toSwagger(components: Record<string, Rec>, kinds: readonly KindInfo[], names: Map<string, string>): Rec {
  const rewrite = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(rewrite);
    if (!isRec(v)) return v;
    const out: Rec = {};
    for (const [k, x] of Object.entries(v)) {
      if (k === '$ref' && typeof x === 'string') out.$ref = x.replace(REF, '#/definitions/');
      else if (k === 'anyOf' && v['x-kubernetes-int-or-string']) {
        out.type = 'string';
        out.format = 'int-or-string';
      } else if (k === 'allOf' && Array.isArray(x) && x.length === 1) Object.assign(out, rewrite(x[0]));
      else out[k] = rewrite(x);
    }
    return out;
  };
  const paths: Rec = {};
  for (const info of kinds) {
    for (const [p, item] of Object.entries(v3Paths(info, names.get(info.kind)!))) {
      const ops: Rec = {};
      for (const [method, o] of Object.entries(item as Rec)) {
        if (method === 'parameters') continue;
        const op = o as Rec;
        ops[method] = {
          operationId: op.operationId,
          consumes: method === 'patch' ? PATCH_TYPES : ['*/*'],
          produces: ['application/json'],
          responses: { '200': { description: 'OK', schema: method === 'get' && p.endsWith('{name}') ? { $ref: `#/definitions/${names.get(info.kind)}` } : { type: 'object' } } },
          'x-kubernetes-action': op['x-kubernetes-action'],
          'x-kubernetes-group-version-kind': op['x-kubernetes-group-version-kind'],
        };
      }
      paths[p] = ops;
    }
  }
  return { swagger: '2.0', info: { title: 'gantry', version: 'v1.32.0-gantry' }, paths, definitions: rewrite(components) };
}

let cached: OpenApiDocuments | undefined;

/** The documents for gantry's kinds, built on first use and kept (they change only with the code). */
export function openApiDocuments(): OpenApiDocuments {
  cached ??= buildOpenApiDocuments();
  return cached;
}

/** Patch metadata of `kind`, from the same schemas and struct-tag facts as the documents. */
export { patchMetaFor } from '../sync/patch-meta.js';

/** Registers `/openapi/v2`, `/openapi/v3` and `/openapi/v3/<group version>` on `app`. */
export function registerOpenApiRoutes(app: FastifyInstance): void {
  const send = (reply: import('fastify').FastifyReply, d: OpenApiDocument, immutable: boolean) =>
    reply
      .header('etag', `"${d.hash}"`)
      .header('cache-control', immutable ? 'public, immutable, max-age=31536000' : 'no-cache, private')
      .type('application/json')
      .send(d.json);
  app.get('/openapi/v3', async (_req, reply) => send(reply, openApiDocuments().index, false));
  app.get<{ Params: { '*': string }; Querystring: { hash?: string } }>('/openapi/v3/*', async (req, reply) => {
    const d = openApiDocuments().v3.get(req.params['*'].replace(/\/+$/, ''));
    if (!d) {
      return reply.code(404).type('application/json').send({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `no OpenAPI document for ${req.params['*']}`, reason: 'NotFound', code: 404 });
    }
    return send(reply, d, req.query.hash === d.hash);
  });
  app.get('/openapi/v2', async (req, reply) => {
    const accept = String(req.headers.accept ?? '');
    if (accept && !/application\/json|\*\/\*/.test(accept)) {
      return reply.code(406).type('application/json').send({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'the OpenAPI v2 document is served as application/json only', reason: 'NotAcceptable', code: 406 });
    }
    return send(reply, openApiDocuments().v2, false);
  });
}
