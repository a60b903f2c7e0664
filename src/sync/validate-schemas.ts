/**
 * The schema documents of `schemas/`, loaded as JSON modules, and the kind each one describes.
 * Both the ahead-of-time compiler (validate-codegen.ts) and the error renderer
 * (validate-schema.ts) read them from here, so they always agree.
 */
import common from '../../schemas/common.json' with { type: 'json' };
import configmap from '../../schemas/configmap.json' with { type: 'json' };
import cronjob from '../../schemas/cronjob.json' with { type: 'json' };
import daemonset from '../../schemas/daemonset.json' with { type: 'json' };
import deployment from '../../schemas/deployment.json' with { type: 'json' };
import horizontalpodautoscaler from '../../schemas/horizontalpodautoscaler.json' with { type: 'json' };
import horizontalpodautoscalerV1 from '../../schemas/horizontalpodautoscaler-v1.json' with { type: 'json' };
import ingress from '../../schemas/ingress.json' with { type: 'json' };
import ingressclass from '../../schemas/ingressclass.json' with { type: 'json' };
import job from '../../schemas/job.json' with { type: 'json' };
import namespace from '../../schemas/namespace.json' with { type: 'json' };
import networkpolicy from '../../schemas/networkpolicy.json' with { type: 'json' };
import persistentvolume from '../../schemas/persistentvolume.json' with { type: 'json' };
import persistentvolumeclaim from '../../schemas/persistentvolumeclaim.json' with { type: 'json' };
import pod from '../../schemas/pod.json' with { type: 'json' };
import poddisruptionbudget from '../../schemas/poddisruptionbudget.json' with { type: 'json' };
import replicaset from '../../schemas/replicaset.json' with { type: 'json' };
import secret from '../../schemas/secret.json' with { type: 'json' };
import role from '../../schemas/role.json' with { type: 'json' };
import rolebinding from '../../schemas/rolebinding.json' with { type: 'json' };
import clusterrole from '../../schemas/clusterrole.json' with { type: 'json' };
import clusterrolebinding from '../../schemas/clusterrolebinding.json' with { type: 'json' };
import service from '../../schemas/service.json' with { type: 'json' };
import serviceaccount from '../../schemas/serviceaccount.json' with { type: 'json' };
import statefulset from '../../schemas/statefulset.json' with { type: 'json' };
import storageclass from '../../schemas/storageclass.json' with { type: 'json' };
import replicationcontroller from '../../schemas/replicationcontroller.json' with { type: 'json' };
import limitrange from '../../schemas/limitrange.json' with { type: 'json' };
import resourcequota from '../../schemas/resourcequota.json' with { type: 'json' };
import priorityclass from '../../schemas/priorityclass.json' with { type: 'json' };
import endpoints from '../../schemas/endpoints.json' with { type: 'json' };
import endpointslice from '../../schemas/endpointslice.json' with { type: 'json' };

/** The subset of JSON Schema that gantry's schemas use and its error renderer walks. */
export interface SchemaNode {
  $id?: string;
  $ref?: string;
  type?: string | string[];
  const?: unknown;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  additionalProperties?: boolean | SchemaNode;
  minimum?: number;
  maximum?: number;
  definitions?: Record<string, SchemaNode>;
}

/** A declarable kind, the apiVersion it must carry, and its schema. */
export interface KindSchema {
  kind: string;
  apiVersion: string;
  /** The schema's `$id`. */
  id: string;
  schema: SchemaNode;
}

const kindDocuments = [
  namespace, priorityclass, limitrange, resourcequota, serviceaccount, clusterrole, clusterrolebinding,
  role, rolebinding, configmap, secret, storageclass, persistentvolume, persistentvolumeclaim, pod,
  replicaset, replicationcontroller, deployment, statefulset, daemonset, job, cronjob, service,
  endpoints, endpointslice, ingressclass, ingress, networkpolicy, poddisruptionbudget,
  horizontalpodautoscaler,
] as unknown as SchemaNode[];

/**
 * Older apiVersions a manifest may still carry, each with its own schema: the object is
 * validated against it, then converted to the stored version (src/model/versions.ts).
 */
const olderVersionDocuments = [horizontalpodautoscalerV1] as unknown as SchemaNode[];

/** Every schema document, shared definitions first. */
export const SCHEMA_DOCUMENTS: readonly SchemaNode[] = [common as unknown as SchemaNode, ...kindDocuments, ...olderVersionDocuments];

/** The kinds with a schema, in the order above (namespaces, policy, RBAC, config, storage, workloads, networking). */
export const SCHEMA_KINDS: readonly KindSchema[] = kindDocuments.map((schema) => ({
  kind: String(schema.properties!.kind!.const),
  apiVersion: String(schema.properties!.apiVersion!.const),
  id: schema.$id!,
  schema,
}));

/** The older apiVersions' schemas, named in the compiled module as {@link olderVersionExport} says. */
export const OLDER_VERSION_SCHEMAS: readonly KindSchema[] = olderVersionDocuments.map((schema) => ({
  kind: String(schema.properties!.kind!.const),
  apiVersion: String(schema.properties!.apiVersion!.const),
  id: schema.$id!,
  schema,
}));

/** The export name of an older version's compiled validator: `HorizontalPodAutoscaler_autoscaling_v1`. */
export function olderVersionExport(kind: string, apiVersion: string): string {
  return `${kind}_${apiVersion.replace(/[^A-Za-z0-9]/g, '_')}`;
}
