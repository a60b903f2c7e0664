/**
 * `gantry describe KIND [NAME]`: the kubectl-style page of each matching object with its Events
 * and the objects it refers to. Reads through a {@link ReadStore}, so the data directory and a
 * remote gantry serve it alike.
 */
import { GantryError } from '../../errors.js';
import type { KubeEvent } from '../../events/recorder.js';
import { KINDS, resolveKind, type KindInfo } from '../../model/kinds.js';
import type { Endpoints, KubeObject, Pod, ReplicaSet } from '../../model/types.js';
import type { ReadStore } from '../../store/types.js';
import { describeObject, eventsFor, type DescribeContext } from '../describe.js';
import { withStore, type ReadTarget } from './inspect.js';

/** Options of `gantry describe`. */
export type DescribeOptions = ReadTarget & {
  namespace?: string;
  allNamespaces?: boolean;
  selector?: string;
};

/**
 * `gantry describe KIND [NAME]`: NAME is a name or, as kubectl takes it, the prefix of names
 * (`describe pod web` shows every pod whose name starts with web when none is called web);
 * without NAME every object of the kind (in the namespace, matching `-l`).
 */
export async function runDescribe(kindText: string, name: string | undefined, o: DescribeOptions): Promise<{ output: string; exitCode: number }> {
  const info = resolveKind(kindText);
  if (!info) throw new GantryError('InvalidArgument', `unknown kind "${kindText}"; known: ${KINDS.map((k) => k.plural).join(', ')}`);
  if (name && o.selector) throw new GantryError('InvalidArgument', 'name cannot be given with a selector (-l)');
  return withStore(o, (store) => describeWith(store, info, name, o));
}

/** The pages for `runDescribe`, from any store-like reader. */
export async function describeWith(store: ReadStore, info: KindInfo, name: string | undefined, o: { namespace?: string; allNamespaces?: boolean; selector?: string; now?: number }): Promise<{ output: string; exitCode: number }> {
  const namespace = info.namespaced ? (o.allNamespaces ? undefined : o.namespace ?? 'default') : undefined;
  let objects: KubeObject[];
  if (name) {
    const exact = await store.get({ kind: info.kind, namespace: namespace ?? (info.namespaced ? 'default' : undefined), name });
    objects = exact ? [exact] : (await store.list(info.kind, { namespace })).items.filter((i) => i.metadata.name.startsWith(name));
    if (objects.length === 0) {
      return { output: `Error from server (NotFound): ${info.plural} "${name}" not found${namespace ? ` in namespace ${namespace}` : ''}`, exitCode: 1 };
    }
  } else {
    objects = (await store.list(info.kind, { namespace, labelSelector: o.selector })).items;
    if (objects.length === 0) {
      return { output: namespace ? `No resources found in ${namespace} namespace.` : 'No resources found', exitCode: 0 };
    }
  }
  const pages: string[] = [];
  for (const obj of objects) pages.push(describeObject(obj, await contextFor(store, obj, o.now)));
  return { output: pages.join('\n\n\n'), exitCode: 0 };
}

/** The Events and related objects the page of `obj` shows. */
async function contextFor(store: ReadStore, obj: KubeObject, now?: number): Promise<DescribeContext> {
  // Events of a cluster-scoped object are kept in the default namespace, as Kubernetes does.
  const events = (await store.list<KubeEvent>('Event', { namespace: obj.metadata.namespace ?? 'default' })).items;
  const ctx: DescribeContext = { events: eventsFor(obj, events), ...(now !== undefined ? { now } : {}) };
  const ns = obj.metadata.namespace;
  switch (obj.kind) {
    case 'Deployment':
      ctx.replicaSets = (await store.list<ReplicaSet>('ReplicaSet', { namespace: ns })).items;
      break;
    case 'ReplicaSet':
      ctx.pods = (await store.list<Pod>('Pod', { namespace: ns })).items;
      break;
    case 'Node':
      ctx.pods = (await store.list<Pod>('Pod')).items.filter((p) => p.spec.nodeName === obj.metadata.name);
      break;
    case 'Service':
      ctx.endpoints = await store.get<Endpoints>({ kind: 'Endpoints', namespace: ns, name: obj.metadata.name });
      break;
  }
  return ctx;
}
