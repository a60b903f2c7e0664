/**
 * Strategic-merge patch metadata per kind: which lists merge, and by which key.
 *
 * The facts follow the struct tags of Kubernetes' own types (`patchMergeKey`, `patchStrategy`)
 * for the fields gantry's schemas have, and are read off the same JSON Schemas gantry validates
 * with (schemas/), so a kind's patch metadata covers exactly the fields it accepts. Two readers
 * use them: the API (dry-run patches, and the `x-kubernetes-patch-*` fields of the OpenAPI
 * documents kubectl computes its patches from) and the Kustomize renderer (strategic-merge
 * patches in a kustomization), so a patch merges the same way on both paths.
 */
import type { FieldPatchMeta, PatchMeta } from '../model/patch.js';
import { SCHEMA_DOCUMENTS, SCHEMA_KINDS, type SchemaNode } from './validate-schemas.js';

/** Patch facts of one field, as Kubernetes declares them. */
export interface PatchField {
  mergeKey?: string;
  /** `merge`, `retainKeys` or `merge,retainKeys`. */
  strategy: string;
  listMapKeys?: string[];
  listType?: 'map' | 'set';
}

/**
 * Patch metadata from the struct tags of Kubernetes' types (k8s.io/api core/v1, apps/v1;
 * apimachinery meta/v1), keyed `owner:path`: the owner is a kind or a shared definition of
 * schemas/common.json, the path is dotted from there.
 */
export const PATCH_FIELDS: Readonly<Record<string, PatchField>> = {
  'objectMeta:finalizers': { strategy: 'merge', listType: 'set' },
  'objectMeta:ownerReferences': { mergeKey: 'uid', strategy: 'merge', listType: 'map', listMapKeys: ['uid'] },
  'podSpec:containers': { mergeKey: 'name', strategy: 'merge', listType: 'map', listMapKeys: ['name'] },
  'podSpec:initContainers': { mergeKey: 'name', strategy: 'merge', listType: 'map', listMapKeys: ['name'] },
  'podSpec:volumes': { mergeKey: 'name', strategy: 'merge,retainKeys', listType: 'map', listMapKeys: ['name'] },
  'podSpec:imagePullSecrets': { mergeKey: 'name', strategy: 'merge', listType: 'map', listMapKeys: ['name'] },
  'podSpec:hostAliases': { mergeKey: 'ip', strategy: 'merge', listType: 'map', listMapKeys: ['ip'] },
  'podSpec:topologySpreadConstraints': { mergeKey: 'topologyKey', strategy: 'merge', listType: 'map', listMapKeys: ['topologyKey', 'whenUnsatisfiable'] },
  'container:ports': { mergeKey: 'containerPort', strategy: 'merge', listType: 'map', listMapKeys: ['containerPort', 'protocol'] },
  'container:env': { mergeKey: 'name', strategy: 'merge', listType: 'map', listMapKeys: ['name'] },
  'container:volumeMounts': { mergeKey: 'mountPath', strategy: 'merge', listType: 'map', listMapKeys: ['mountPath'] },
  'Deployment:spec.strategy': { strategy: 'retainKeys' },
  'Service:spec.ports': { mergeKey: 'port', strategy: 'merge', listType: 'map', listMapKeys: ['port', 'protocol'] },
};

const COMMON_ID = 'https://gantry.dev/schemas/common.json';

/** Where a schema node sits: the owner and path its fields' patch facts are keyed by. */
interface At {
  node: SchemaNode;
  owner: string;
  path: string;
  /** The definitions a local `#/definitions/x` reference resolves in. */
  local: Record<string, SchemaNode>;
}

function commonDefinitions(): Record<string, SchemaNode> {
  const common = SCHEMA_DOCUMENTS.find((d) => d.$id === COMMON_ID);
  if (!common?.definitions) throw new Error('schemas/common.json has no definitions');
  return common.definitions;
}

/**
 * Follows references until a node with content. A reference to a shared definition with fields
 * starts a new owner (the definition's name), as the OpenAPI conversion makes it a component.
 */
function resolve(at: At, common: Record<string, SchemaNode>): At {
  let cur = at;
  for (let hops = 0; cur.node.$ref !== undefined && hops < 8; hops++) {
    const [file, pointer = ''] = cur.node.$ref.split('#');
    const def = pointer.replace(/^\/definitions\//, '');
    const inCommon = file === 'common.json' || (!file && cur.local === common);
    const target = (inCommon ? common : cur.local)[def];
    if (!target) throw new Error(`schema reference ${cur.node.$ref} (in ${cur.owner}) does not resolve`);
    cur = inCommon && target.properties
      ? { node: target, owner: def, path: '', local: common }
      : { node: target, owner: cur.owner, path: cur.path, local: inCommon ? common : cur.local };
  }
  return cur;
}

function metaAt(at: At, common: Record<string, SchemaNode>): PatchMeta {
  const here = resolve(at, common);
  return {
    field(key: string): FieldPatchMeta | undefined {
      const props = here.node.properties;
      const child = props?.[key] ?? (typeof here.node.additionalProperties === 'object' ? here.node.additionalProperties : undefined);
      if (!child) return undefined;
      const path = here.path ? `${here.path}.${key}` : key;
      const facts = PATCH_FIELDS[`${here.owner}:${path}`];
      let value = resolve({ node: child, owner: here.owner, path, local: here.local }, common);
      if (value.node.items) value = { ...value, node: value.node.items };
      return {
        ...(facts?.mergeKey ? { mergeKey: facts.mergeKey } : {}),
        strategies: facts ? facts.strategy.split(',') : [],
        value: metaAt(value, common),
      };
    },
  };
}

let byKind: Map<string, PatchMeta> | undefined;

/**
 * Patch metadata of `kind`. A kind without a schema (one gantry writes itself, such as Node, or
 * one it does not know) gets its metadata's facts only: other maps merge, other lists are replaced.
 */
export function patchMetaFor(kind: string): PatchMeta | undefined {
  if (!byKind) {
    const common = commonDefinitions();
    byKind = new Map(SCHEMA_KINDS.map((k) => [k.kind, metaAt({ node: k.schema, owner: k.kind, path: '', local: k.schema.definitions ?? {} }, common)]));
    byKind.set('*', metaAt({ node: { properties: { metadata: { $ref: 'common.json#/definitions/objectMeta' } } }, owner: '*', path: '', local: {} }, common));
  }
  return byKind.get(kind) ?? byKind.get('*');
}
