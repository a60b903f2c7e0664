import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import Fastify from 'fastify';
import { buildOpenApiDocuments, gvPath, kindComponentName, openApiDocuments, registerOpenApiRoutes } from '../../src/api/openapi.js';
import { KINDS } from '../../src/model/kinds.js';
import { SCHEMA_DOCUMENTS, SCHEMA_KINDS } from '../../src/sync/validate-schemas.js';

type Rec = Record<string, unknown>;
const REF = '#/components/schemas/';

const v3 = (apiVersion: string): { paths: Record<string, Record<string, Rec>>; components: { schemas: Record<string, Rec> } } =>
  JSON.parse(openApiDocuments().v3.get(gvPath(apiVersion))!.json);

/** Resolves `$ref` and single-element `allOf` wrappers, as kubectl does. */
function resolve(node: Rec, schemas: Record<string, Rec>): Rec {
  for (;;) {
    if (typeof node.$ref === 'string') node = schemas[node.$ref.slice(REF.length)]!;
    else if (Array.isArray(node.allOf) && node.allOf.length === 1 && !node.properties) node = node.allOf[0] as Rec;
    else return node;
  }
}
/** Follows a dotted field path (list items transparently) to the field's schema. */
function at(schemas: Record<string, Rec>, root: string, path: string): Rec {
  let node: Rec = schemas[root]!;
  for (const seg of path.split('.')) {
    let r = resolve(node, schemas);
    if (r.items) r = resolve(r.items as Rec, schemas);
    node = (r.properties as Record<string, Rec>)[seg]!;
    assert.ok(node, `${root} has no field ${path} (stopped at ${seg})`);
  }
  return node;
}

/** Every dotted field path of a JSON Schema (gantry's) down to `depth`, following refs. */
function jsonSchemaPaths(node: Rec, doc: Rec, depth: number, prefix = ''): string[] {
  const common = SCHEMA_DOCUMENTS[0] as unknown as Rec;
  const deref = (n: Rec, d: Rec): [Rec, Rec] => {
    while (typeof n.$ref === 'string') {
      const [file, pointer] = n.$ref.split('#');
      d = file ? common : d;
      n = (d.definitions as Record<string, Rec>)[pointer!.replace('/definitions/', '')]!;
    }
    return [n, d];
  };
  const [n, d] = deref(node, doc);
  const [inner, innerDoc] = n.items ? deref(n.items as Rec, d) : [n, d];
  if (depth === 0 || !inner.properties) return [];
  return Object.entries(inner.properties as Record<string, Rec>).flatMap(([k, v]) => [`${prefix}${k}`, ...jsonSchemaPaths(v, innerDoc, depth - 1, `${prefix}${k}.`)]);
}
function openApiPaths(node: Rec, schemas: Record<string, Rec>, depth: number, prefix = ''): string[] {
  let r = resolve(node, schemas);
  if (r.items) r = resolve(r.items as Rec, schemas);
  if (depth === 0 || !r.properties) return [];
  return Object.entries(r.properties as Record<string, Rec>).flatMap(([k, v]) => [`${prefix}${k}`, ...openApiPaths(v, schemas, depth - 1, `${prefix}${k}.`)]);
}

describe('OpenAPI documents', () => {
  it('index every group version with a hash of the document served there', () => {
    const docs = openApiDocuments();
    const index = JSON.parse(docs.index.json) as { paths: Record<string, { serverRelativeURL: string }> };
    const gvs = [...new Set(KINDS.map((k) => gvPath(k.apiVersion)))].sort();
    assert.deepEqual(Object.keys(index.paths).sort(), gvs);
    for (const gv of gvs) {
      const d = docs.v3.get(gv)!;
      assert.equal(index.paths[gv]!.serverRelativeURL, `/openapi/v3/${gv}?hash=${d.hash}`);
      assert.equal(d.hash, createHash('sha512').update(d.json).digest('hex').slice(0, 32).toUpperCase());
    }
  });

  it('are built once per process', () => {
    assert.equal(openApiDocuments(), openApiDocuments());
    // Building again from the same code gives the same bytes, so hashes are stable across restarts.
    assert.equal(buildOpenApiDocuments().v3.get('apis/apps/v1')!.json, openApiDocuments().v3.get('apis/apps/v1')!.json);
  });

  it('have a schema with its group-version-kind for every served kind, and PATCH operations that take fieldValidation and strategic merge patches', () => {
    for (const k of KINDS) {
      const doc = v3(k.apiVersion);
      const name = kindComponentName(k.kind, k.apiVersion);
      const schema = doc.components.schemas[name]!;
      assert.ok(schema, `${k.kind} has a component`);
      const slash = k.apiVersion.indexOf('/');
      const gvk = { group: slash < 0 ? '' : k.apiVersion.slice(0, slash), version: k.apiVersion.slice(slash + 1), kind: k.kind };
      assert.deepEqual(schema['x-kubernetes-group-version-kind'], [gvk]);
      assert.ok(typeof schema.description === 'string' && schema.description.length > 20, `${k.kind} is described`);
      const patches = Object.values(doc.paths).map((p) => p.patch).filter((op): op is Rec => !!op && JSON.stringify(op['x-kubernetes-group-version-kind']) === JSON.stringify(gvk));
      assert.equal(patches.length, 1, `${k.kind} has one PATCH operation`);
      assert.ok((patches[0]!.parameters as Rec[]).some((p) => p.name === 'fieldValidation' && p.in === 'query'));
      assert.ok(((patches[0]!.requestBody as Rec).content as Rec)['application/strategic-merge-patch+json']);
    }
  });

  it('carry every field of gantry\'s schemas, converted rather than copied by hand', () => {
    for (const k of SCHEMA_KINDS) {
      const doc = v3(k.apiVersion);
      const want = jsonSchemaPaths(k.schema as unknown as Rec, k.schema as unknown as Rec, 6).sort();
      const got = openApiPaths(doc.components.schemas[kindComponentName(k.kind, k.apiVersion)]!, doc.components.schemas, 6).sort();
      assert.ok(want.length > 3, `${k.kind} has fields to compare`);
      assert.deepEqual(got, want, `${k.kind}'s fields`);
    }
  });

  it('are self-contained: every $ref resolves inside its document', () => {
    for (const [gv, d] of openApiDocuments().v3) {
      const doc = JSON.parse(d.json) as { components: { schemas: Record<string, Rec> } };
      const refs = [...d.json.matchAll(/"\$ref":"([^"]+)"/g)].map((m) => m[1]!);
      for (const r of refs) assert.ok(r.startsWith(REF) && doc.components.schemas[r.slice(REF.length)], `${gv}: ${r} resolves`);
    }
  });

  it('declare the patch metadata of Kubernetes\' types on the lists kubectl merges', () => {
    const apps = v3('apps/v1').components.schemas;
    const deploy = kindComponentName('Deployment', 'apps/v1');
    const cases: [string, string | undefined, string, string[] | undefined][] = [
      ['spec.template.spec.containers', 'name', 'merge', ['name']],
      ['spec.template.spec.initContainers', 'name', 'merge', ['name']],
      ['spec.template.spec.volumes', 'name', 'merge,retainKeys', ['name']],
      ['spec.template.spec.containers.ports', 'containerPort', 'merge', ['containerPort', 'protocol']],
      ['spec.template.spec.containers.env', 'name', 'merge', ['name']],
      ['spec.template.spec.containers.volumeMounts', 'mountPath', 'merge', ['mountPath']],
      ['spec.template.spec.imagePullSecrets', 'name', 'merge', ['name']],
      ['spec.template.spec.topologySpreadConstraints', 'topologyKey', 'merge', ['topologyKey', 'whenUnsatisfiable']],
      ['metadata.ownerReferences', 'uid', 'merge', ['uid']],
      ['metadata.finalizers', undefined, 'merge', undefined],
      ['spec.strategy', undefined, 'retainKeys', undefined],
    ];
    for (const [path, key, strategy, mapKeys] of cases) {
      const f = at(apps, deploy, path);
      assert.equal(f['x-kubernetes-patch-merge-key'], key, `${path} merge key`);
      assert.equal(f['x-kubernetes-patch-strategy'], strategy, `${path} strategy`);
      assert.deepEqual(f['x-kubernetes-list-map-keys'], mapKeys, `${path} list map keys`);
    }
    const core = v3('v1').components.schemas;
    const ports = at(core, kindComponentName('Service', 'v1'), 'spec.ports');
    assert.equal(ports['x-kubernetes-patch-merge-key'], 'port');
    // Tolerations and args are atomic in Kubernetes: replaced whole.
    assert.equal(at(core, kindComponentName('Pod', 'v1'), 'spec.tolerations')['x-kubernetes-patch-strategy'], undefined);
    assert.equal(at(core, kindComponentName('Pod', 'v1'), 'spec.containers.args')['x-kubernetes-patch-strategy'], undefined);
  });

  it('type int-or-string fields as Kubernetes does and keep enums and requirements', () => {
    const apps = v3('apps/v1').components.schemas;
    const deploy = kindComponentName('Deployment', 'apps/v1');
    assert.equal(resolve(at(apps, deploy, 'spec.strategy.rollingUpdate.maxSurge'), apps)['x-kubernetes-int-or-string'], true);
    assert.deepEqual(at(apps, deploy, 'spec.strategy.type').enum, ['RollingUpdate', 'Recreate']);
    assert.deepEqual(resolve(at(apps, deploy, 'spec.template.spec.containers'), apps).items, { $ref: `${REF}dev.gantry.schema.Container` });
    assert.ok((apps['dev.gantry.schema.Container']!.required as string[]).includes('image'));
  });

  it('give kinds gantry writes itself an open schema with their metadata', () => {
    const node = v3('v1').components.schemas[kindComponentName('Node', 'v1')]!;
    assert.equal(node['x-kubernetes-preserve-unknown-fields'], true);
    assert.ok((node.properties as Rec).metadata);
  });

  it('serve a Swagger 2.0 document with definitions and no OpenAPI 3 constructs', () => {
    const v2 = JSON.parse(openApiDocuments().v2.json) as { swagger: string; definitions: Record<string, Rec>; paths: Rec };
    assert.equal(v2.swagger, '2.0');
    assert.ok(v2.definitions[kindComponentName('Deployment', 'apps/v1')]);
    assert.doesNotMatch(openApiDocuments().v2.json, /#\/components\/|"anyOf"/);
    assert.ok(v2.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}']);
  });
});

describe('OpenAPI routes', () => {
  const app = Fastify();
  before(async () => {
    registerOpenApiRoutes(app);
    await app.ready();
  });
  after(() => app.close());

  it('serve the index and each group version, immutable when asked by its hash', async () => {
    const index = await app.inject({ url: '/openapi/v3' });
    assert.equal(index.statusCode, 200);
    const url = (index.json() as { paths: Record<string, { serverRelativeURL: string }> }).paths['apis/apps/v1']!.serverRelativeURL;
    const doc = await app.inject({ url });
    assert.equal(doc.statusCode, 200);
    assert.match(String(doc.headers['cache-control']), /immutable/);
    assert.ok((doc.json() as { components: { schemas: Rec } }).components.schemas[kindComponentName('Deployment', 'apps/v1')]);
    const stale = await app.inject({ url: '/openapi/v3/apis/apps/v1?hash=OLD' });
    assert.equal(stale.statusCode, 200);
    assert.doesNotMatch(String(stale.headers['cache-control']), /immutable/);
    assert.equal((await app.inject({ url: '/openapi/v3/apis/nothing/v9' })).statusCode, 404);
  });

  it('serve v2 as JSON, and 406 to a client that takes only protobuf', async () => {
    assert.equal((await app.inject({ url: '/openapi/v2', headers: { accept: 'application/json' } })).statusCode, 200);
    const pb = await app.inject({ url: '/openapi/v2', headers: { accept: 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf' } });
    assert.equal(pb.statusCode, 406);
    assert.equal((pb.json() as { reason: string }).reason, 'NotAcceptable');
  });
});
