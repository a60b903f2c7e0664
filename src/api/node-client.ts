/**
 * {@link NodeApi} over HTTPS, for `gantry agent` on a machine other than the control plane's:
 * the routes of ./node-agent.ts, with an agent token that the server lets touch only this
 * node's pods, what they refer to, and this node's Node. Events are batched and sent in the
 * background, like the store-backed recorder does, and never block the agent. It lives with the
 * API, not the node: the node folder stays below the API in the import order.
 */
import { GantryError, isGantryError } from '../errors.js';
import type { EventSink } from '../events/recorder.js';
import type { Logger } from '../log.js';
import type { NodeUsageReport } from '../model/metrics.js';
import type { IssuedToken } from '../model/serviceaccount.js';
import type { ConfigMap, KubeObject, Node, PersistentVolume, Pod, PodStatus, Secret } from '../model/types.js';
import type { ClaimVolume, NodeApi, NodeEvent } from '../node/api.js';
import type { ApiClient } from './client.js';
import type { AgentEvent } from './node-agent.js';

/** Conflicting writes are retried this many times before the next sync tries again. */
const ATTEMPTS = 5;
/** How long the first event of a burst waits for others to share its request. */
const EVENT_DELAY_MS = 500;
const MAX_QUEUED_EVENTS = 1000;

/** Options of {@link HttpNodeApi}. */
export interface HttpNodeApiOptions {
  client: ApiClient;
  nodeName: string;
  logger: Logger;
}

/** The node API of a remote agent. */
export class HttpNodeApi implements NodeApi {
  readonly nodeName: string;
  readonly events: EventSink;
  private readonly client: ApiClient;
  private readonly base: string;

  constructor(opts: HttpNodeApiOptions) {
    this.client = opts.client;
    this.nodeName = opts.nodeName;
    this.base = `/apis/gantry.dev/v1/nodes/${encodeURIComponent(opts.nodeName)}/agent`;
    this.events = new HttpEventSink(opts.client, `${this.base}/events`, opts.logger);
  }

  listPods(): Promise<{ pods: Pod[]; revision: number }> {
    return this.client.json(`${this.base}/pods`);
  }

  async *watch(opts: { fromRevision: number; signal: AbortSignal }): AsyncIterable<NodeEvent> {
    for await (const line of this.client.lines(`${this.base}/watch?fromRevision=${opts.fromRevision}`, { signal: opts.signal })) {
      if (!line.trim()) continue;
      const ev = JSON.parse(line) as NodeEvent | { type: 'ERROR'; code: string; message: string };
      if (ev.type === 'ERROR') {
        // "Too old" stays a Conflict, so the agent lists again as it does on the store.
        throw new GantryError(ev.code === 'Conflict' ? 'Conflict' : 'Internal', `node watch ended by the server: ${ev.message}`);
      }
      yield ev;
    }
  }

  getConfigMap(namespace: string, name: string): Promise<ConfigMap | undefined> {
    return this.getOptional<ConfigMap>(`${this.base}/configmaps/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`);
  }

  getSecret(namespace: string, name: string): Promise<Secret | undefined> {
    return this.getOptional<Secret>(`${this.base}/secrets/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`);
  }

  getClaim(namespace: string, name: string): Promise<ClaimVolume | undefined> {
    return this.getOptional<ClaimVolume>(`${this.base}/claims/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`);
  }

  async listLocalVolumes(): Promise<PersistentVolume[]> {
    return (await this.client.json<{ items: PersistentVolume[] }>(`${this.base}/volumes`)).items;
  }

  async finishVolumeCleanup(volume: PersistentVolume): Promise<void> {
    await this.client.json(`${this.base}/volumes/${encodeURIComponent(volume.metadata.name)}/cleaned`, { method: 'POST', body: { uid: volume.metadata.uid } });
  }

  requestServiceAccountToken(pod: Pod, opts: { audience?: string; expirationSeconds: number }): Promise<IssuedToken> {
    const path = `${this.base}/pods/${encodeURIComponent(pod.metadata.namespace ?? 'default')}/${encodeURIComponent(pod.metadata.name)}/token`;
    return this.client.json<IssuedToken>(path, { method: 'POST', body: { uid: pod.metadata.uid, ...opts } });
  }

  async writePodStatus(pod: Pod, compute: (current: Pod) => PodStatus | undefined): Promise<Pod | undefined> {
    const path = `${this.base}/pods/${encodeURIComponent(pod.metadata.namespace ?? 'default')}/${encodeURIComponent(pod.metadata.name)}`;
    let current: Pod | undefined = pod;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      if (attempt > 0) current = await this.getOptional<Pod>(path);
      if (!current || current.metadata.uid !== pod.metadata.uid) return undefined;
      const status = compute(current);
      if (status === undefined) return current;
      try {
        return await this.client.json<Pod>(`${path}/status`, { method: 'PUT', body: { uid: current.metadata.uid, resourceVersion: current.metadata.resourceVersion, status } });
      } catch (err) {
        if (isGantryError(err, 'NotFound')) return undefined;
        if (!isGantryError(err, 'Conflict')) throw err;
      }
    }
    return current;
  }

  async finalizePod(pod: Pod): Promise<void> {
    const path = `${this.base}/pods/${encodeURIComponent(pod.metadata.namespace ?? 'default')}/${encodeURIComponent(pod.metadata.name)}/finalize`;
    await this.client.json(path, { method: 'POST', body: { uid: pod.metadata.uid } });
  }

  async writeNode(build: (current: Node | undefined) => Node, opts: { reason: string }): Promise<void> {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const current = await this.getOptional<Node>(`${this.base}/node`);
      try {
        await this.client.json(`${this.base}/node?reason=${encodeURIComponent(opts.reason)}`, { method: 'PUT', body: build(current) });
        return;
      } catch (err) {
        if (!isGantryError(err, 'Conflict')) throw err;
      }
    }
  }

  async reportUsage(report: NodeUsageReport): Promise<void> {
    await this.client.json(`${this.base}/usage`, { method: 'POST', body: report });
  }

  private async getOptional<T>(path: string): Promise<T | undefined> {
    try {
      return await this.client.json<T>(path);
    } catch (err) {
      if (isGantryError(err, 'NotFound')) return undefined;
      throw err;
    }
  }
}

/** Events batched per half second into one request; a full queue drops, a failed send is logged. */
class HttpEventSink implements EventSink {
  private queue: AgentEvent[] = [];
  private timer?: ReturnType<typeof setTimeout>;

  constructor(private readonly client: ApiClient, private readonly path: string, private readonly log: Logger) {}

  emit(obj: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string, opts: { fieldPath?: string } = {}): void {
    if (this.queue.length >= MAX_QUEUED_EVENTS) return;
    const m = obj.metadata;
    this.queue.push({
      involved: { kind: obj.kind, name: m.name, ...(m.namespace ? { namespace: m.namespace } : {}), ...(m.uid ? { uid: m.uid } : {}), ...(obj.apiVersion ? { apiVersion: obj.apiVersion } : {}) },
      type, reason, message, ...(opts.fieldPath ? { fieldPath: opts.fieldPath } : {}),
    });
    if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), EVENT_DELAY_MS);
      this.timer.unref();
    }
  }

  private async flush(): Promise<void> {
    this.timer = undefined;
    const events = this.queue;
    this.queue = [];
    try {
      await this.client.json(this.path, { method: 'POST', body: { events } });
    } catch (err) {
      this.log.warn({ err: (err as Error).message, events: events.length }, 'events not delivered');
    }
  }
}
