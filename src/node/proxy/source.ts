/**
 * Where the service proxy and the cluster DNS learn Services and their endpoints: every Service,
 * Endpoints and EndpointSlice of the cluster (kube-proxy and CoreDNS watch them all too), kept as
 * an in-memory view that follows the store's watch. One view serves both. A Service's endpoints
 * are its Endpoints plus the EndpointSlices declared for it by hand (src/model/endpointslices.ts);
 * the slices gantry mirrors from Endpoints add nothing.
 */
import { isGantryError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { isMirroredSlice, serviceEndpoints, sliceService } from '../../model/endpointslices.js';
import type { Endpoints, EndpointSlice, KubeObject, Service } from '../../model/types.js';
import type { ReadStore } from '../../store/types.js';

/** A read of the Services and endpoints of the cluster. */
export interface ServiceView {
  services(): Service[];
  /** Every Service's endpoints (its Endpoints and hand-declared slices together). */
  endpoints(): Endpoints[];
  /** The Service `name` in `namespace`. */
  service(namespace: string, name: string): Service | undefined;
  /** The endpoints of Service `name` in `namespace`: its Endpoints and hand-declared slices together. */
  endpointsOf(namespace: string, name: string): Endpoints | undefined;
  /** Adds a listener called after each change of one of `kinds` (all the view follows when omitted). */
  onChange(fn: () => void, kinds?: readonly string[]): void;
}

/** Options of {@link StoreServiceView}. */
export interface StoreServiceViewOptions {
  /** The local store, or a remote gantry's API for an agent on another machine. */
  store: ReadStore;
  logger: Logger;
  /** More kinds to follow beside Services, Endpoints and EndpointSlices (the ingress also needs Ingress and Secret). */
  extraKinds?: string[];
  /** Called after each batch of changes (and after the first list). */
  onChange?: () => void;
}

const key = (o: KubeObject): string => `${o.metadata.namespace ?? 'default'}/${o.metadata.name}`;

/** The view on the store, level-triggered: a watch that falls too far behind lists again. */
export class StoreServiceView implements ServiceView {
  private readonly store: ReadStore;
  private readonly log: Logger;
  private readonly kinds: string[];
  private readonly listeners: { fn: () => void; kinds?: readonly string[] }[] = [];
  private maps = new Map<string, Map<string, KubeObject>>();
  /** See {@link handSlices}; undefined when a slice changed since it was built. */
  private handSliceIndex: Map<string, EndpointSlice[]> | undefined;
  private abort = new AbortController();
  private loop?: Promise<void>;

  constructor(opts: StoreServiceViewOptions) {
    this.store = opts.store;
    this.log = opts.logger;
    this.kinds = ['Service', 'Endpoints', 'EndpointSlice', ...(opts.extraKinds ?? [])];
    if (opts.onChange) this.listeners.push({ fn: opts.onChange });
  }

  onChange(fn: () => void, kinds?: readonly string[]): void {
    this.listeners.push({ fn, ...(kinds ? { kinds } : {}) });
  }

  /** Lists, then follows the watch in the background. */
  async start(): Promise<void> {
    const revision = await this.relist();
    this.loop = this.follow(revision);
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop?.catch(() => undefined);
  }

  /** Every object of one of the view's kinds. */
  list<T extends KubeObject>(kind: string): T[] {
    return [...(this.maps.get(kind)?.values() ?? [])] as T[];
  }

  /** One object of one of the view's kinds. */
  get<T extends KubeObject>(kind: string, namespace: string, name: string): T | undefined {
    return this.maps.get(kind)?.get(`${namespace}/${name}`) as T | undefined;
  }

  services(): Service[] {
    return this.list<Service>('Service');
  }
  endpoints(): Endpoints[] {
    const slices = this.handSlices();
    if (slices.size === 0) return this.list<Endpoints>('Endpoints');
    const out: Endpoints[] = [];
    const seen = new Set<string>();
    for (const ep of this.list<Endpoints>('Endpoints')) {
      const k = key(ep);
      seen.add(k);
      out.push(serviceEndpoints(ep, slices.get(k) ?? [], { namespace: ep.metadata.namespace ?? 'default', name: ep.metadata.name })!);
    }
    for (const [k, list] of slices) {
      if (seen.has(k)) continue;
      const [namespace, name] = k.split('/') as [string, string];
      const merged = serviceEndpoints(undefined, list, { namespace, name });
      if (merged) out.push(merged);
    }
    return out;
  }
  service(namespace: string, name: string): Service | undefined {
    return this.get<Service>('Service', namespace, name);
  }
  endpointsOf(namespace: string, name: string): Endpoints | undefined {
    const ep = this.get<Endpoints>('Endpoints', namespace, name);
    return serviceEndpoints(ep, this.handSlices().get(`${namespace}/${name}`) ?? [], { namespace, name });
  }

  /**
   * Slices declared by hand (not mirrored from Endpoints), by their Service's `namespace/name`:
   * usually none, so it is kept until a slice changes rather than scanned per DNS answer.
   */
  private handSlices(): Map<string, EndpointSlice[]> {
    if (this.handSliceIndex) return this.handSliceIndex;
    const out = new Map<string, EndpointSlice[]>();
    for (const sl of this.list<EndpointSlice>('EndpointSlice')) {
      const svc = sliceService(sl);
      if (!svc || isMirroredSlice(sl)) continue;
      const k = `${sl.metadata.namespace ?? 'default'}/${svc}`;
      const list = out.get(k);
      if (list) list.push(sl);
      else out.set(k, [sl]);
    }
    this.handSliceIndex = out;
    return out;
  }

  private async relist(): Promise<number> {
    const lists = await Promise.all(this.kinds.map((k) => this.store.list(k)));
    this.maps = new Map(this.kinds.map((k, i) => [k, new Map(lists[i]!.items.map((o) => [key(o), o]))]));
    this.handSliceIndex = undefined;
    this.changed();
    // The oldest of them: events between the lists are applied again, which is harmless.
    return Math.min(...lists.map((l) => l.revision));
  }

  /** Calls the listeners of `kind` (every listener after a relist). */
  private changed(kind?: string): void {
    for (const l of this.listeners) {
      if (kind && l.kinds && !l.kinds.includes(kind)) continue;
      try {
        l.fn();
      } catch (err) {
        this.log.warn({ err }, 'service view listener failed');
      }
    }
  }

  private async follow(from: number): Promise<void> {
    let revision = from;
    while (!this.abort.signal.aborted) {
      try {
        for await (const ev of this.store.watch({ fromRevision: revision, kinds: this.kinds, signal: this.abort.signal })) {
          revision = ev.revision;
          const map = this.maps.get(ev.object.kind);
          if (!map) continue;
          if (ev.type === 'DELETED') map.delete(key(ev.object));
          else map.set(key(ev.object), ev.object);
          if (ev.object.kind === 'EndpointSlice') this.handSliceIndex = undefined;
          this.changed(ev.object.kind);
        }
      } catch (err) {
        if (this.abort.signal.aborted) return;
        if (isGantryError(err, 'Conflict')) revision = await this.relist().catch(() => revision);
        else {
          this.log.warn({ err }, 'service watch failed; watching again');
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    }
  }
}
