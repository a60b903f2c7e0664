/**
 * Where the service proxy and the cluster DNS learn Services and Endpoints: every one of the
 * cluster (kube-proxy and CoreDNS watch them all too), kept as an in-memory view that follows
 * the store's watch. One view serves both.
 */
import { isGantryError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Endpoints, KubeObject, Service } from '../../model/types.js';
import type { ReadStore } from '../../store/types.js';

/** A read of the Services and Endpoints of the cluster. */
export interface ServiceView {
  services(): Service[];
  endpoints(): Endpoints[];
  /** The Service `name` in `namespace`. */
  service(namespace: string, name: string): Service | undefined;
  /** The Endpoints `name` in `namespace`. */
  endpointsOf(namespace: string, name: string): Endpoints | undefined;
  /** Adds a listener called after each change of one of `kinds` (all the view follows when omitted). */
  onChange(fn: () => void, kinds?: readonly string[]): void;
}

/** Options of {@link StoreServiceView}. */
export interface StoreServiceViewOptions {
  /** The local store, or a remote gantry's API for an agent on another machine. */
  store: ReadStore;
  logger: Logger;
  /** More kinds to follow beside Services and Endpoints (the ingress also needs Ingress and Secret). */
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
  private abort = new AbortController();
  private loop?: Promise<void>;

  constructor(opts: StoreServiceViewOptions) {
    this.store = opts.store;
    this.log = opts.logger;
    this.kinds = ['Service', 'Endpoints', ...(opts.extraKinds ?? [])];
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
    return this.list<Endpoints>('Endpoints');
  }
  service(namespace: string, name: string): Service | undefined {
    return this.get<Service>('Service', namespace, name);
  }
  endpointsOf(namespace: string, name: string): Endpoints | undefined {
    return this.get<Endpoints>('Endpoints', namespace, name);
  }

  private async relist(): Promise<number> {
    const lists = await Promise.all(this.kinds.map((k) => this.store.list(k)));
    this.maps = new Map(this.kinds.map((k, i) => [k, new Map(lists[i]!.items.map((o) => [key(o), o]))]));
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
