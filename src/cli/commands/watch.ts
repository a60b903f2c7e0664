/**
 * `gantry get KIND -w`: the table as it is, then one row per change as it happens, until the
 * signal aborts (SIGINT), as `kubectl get -w` prints. The changes come from the store's watch
 * (a read-only SQLite store follows the writer's commits by polling its change log; a remote
 * store follows the API's watch), started at the revision the list was read at, so no change
 * between the list and the watch is missed.
 */
import { matchesRequirements, toRequirements } from '../../model/selectors.js';
import type { KindInfo } from '../../model/kinds.js';
import type { KubeObject } from '../../model/types.js';
import type { ReadStore } from '../../store/types.js';
import { TableStream } from '../printers.js';

/** Options of {@link watchTable}. */
export interface WatchTableOptions {
  /** Namespace to follow (undefined: all, or a cluster-scoped kind). */
  namespace?: string;
  /** Only this object. */
  name?: string;
  selector?: string;
  allNamespaces?: boolean;
  wide?: boolean;
  /** Do not print the current objects first (kubectl --watch-only). */
  watchOnly?: boolean;
  /** Where lines go (one call per line, newline included). */
  write: (text: string) => void;
  /** Ends the watch. */
  signal: AbortSignal;
  /** Puts the current objects in their table order before printing (Events by last seen). */
  order?: (items: KubeObject[]) => KubeObject[];
}

/** Prints the table and then a row per change; resolves when the signal aborts. */
export async function watchTable(store: ReadStore, info: KindInfo, o: WatchTableOptions): Promise<void> {
  const reqs = toRequirements(o.selector);
  const wanted = (obj: KubeObject): boolean =>
    (o.namespace === undefined || obj.metadata.namespace === o.namespace)
    && (o.name === undefined || obj.metadata.name === o.name)
    && matchesRequirements(reqs, obj.metadata.labels);
  const listed = await store.list(info.kind, { namespace: o.namespace, labelSelector: o.selector });
  const items = (o.order ?? ((i) => i))(listed.items.filter(wanted));
  const table = new TableStream(info.kind, { allNamespaces: o.allNamespaces && info.namespaced, wide: o.wide });
  if (!o.watchOnly) {
    if (items.length > 0) o.write(`${table.start(items)}\n`);
    else o.write(o.namespace ? `No resources found in ${o.namespace} namespace.\n` : 'No resources found\n');
  }
  let headerDone = !o.watchOnly && items.length > 0;
  try {
    for await (const ev of store.watch({ fromRevision: listed.revision, kinds: [info.kind], signal: o.signal })) {
      if (o.signal.aborted) break;
      if (ev.object.kind !== info.kind || !wanted(ev.object)) continue;
      if (!headerDone) {
        o.write(`${table.start([ev.object])}\n`);
        headerDone = true;
      } else {
        o.write(`${table.row(ev.object)}\n`);
      }
    }
  } catch (err) {
    // An abort ends the watch however the store reports it.
    if (!o.signal.aborted) throw err;
  }
}
