/**
 * A client of gantry's API for the CLI's remote mode (`--server`/`--kubeconfig`): JSON requests
 * and line streams over HTTPS with the server's CA and a bearer token, and {@link RemoteStore},
 * the read side of a {@link Store} over `/apis/gantry.dev/v1`, so a read command runs the same
 * code against a data directory or a server.
 */
import http from 'node:http';
import https from 'node:https';
import { createInterface } from 'node:readline';
import { GantryError } from '../errors.js';
import type { ObjectRef } from '../model/keys.js';
import type { KubeObject } from '../model/types.js';
import type { ListOptions, ListResult, ReadStore, WatchEvent, WatchOptions } from '../store/types.js';

/** Where a server is and how to prove who we are. */
export interface ApiEndpoint {
  /** Base URL, e.g. https://127.0.0.1:7480. */
  server: string;
  token: string;
  /** CA certificate (PEM) the server's certificate must chain to; default the system's. */
  ca?: string;
}

/** Requests to one server. */
export class ApiClient {
  constructor(readonly endpoint: ApiEndpoint) {}

  /**
   * GETs (or POSTs) `path` and parses the JSON answer.
   * @throws GantryError with the server's message: NotFound for 404, AuthFailed for 401/403.
   */
  async json<T>(path: string, opts: { method?: string; body?: unknown; signal?: AbortSignal } = {}): Promise<T> {
    const res = await this.open(path, opts);
    const body = await readAll(res);
    if ((res.statusCode ?? 0) >= 400) throw errorFrom(res.statusCode ?? 0, body, path);
    if (res.statusCode === 204 || body === '') return undefined as T;
    try {
      return JSON.parse(body) as T;
    } catch {
      throw new GantryError('Internal', `${this.endpoint.server}${path}: the answer is not JSON`);
    }
  }

  /**
   * Sends a request and returns the status and the parsed JSON answer (the text when it is not
   * JSON) whatever the status: for callers that act on the API's refusals (429 from an eviction).
   */
  async request(path: string, opts: { method?: string; body?: unknown; contentType?: string; signal?: AbortSignal } = {}): Promise<{ status: number; body: unknown }> {
    const res = await this.open(path, opts);
    const text = await readAll(res);
    let body: unknown = text;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      // not JSON: the text as it came
    }
    return { status: res.statusCode ?? 0, body };
  }

  /** Streams `path`'s body line by line (watches, followed logs) until it ends or `signal` aborts. */
  async *lines(path: string, opts: { signal?: AbortSignal } = {}): AsyncGenerator<string> {
    const res = await this.open(path, opts);
    if ((res.statusCode ?? 0) >= 400) throw errorFrom(res.statusCode ?? 0, await readAll(res), path);
    const rl = createInterface({ input: res, crlfDelay: Infinity });
    try {
      for await (const line of rl) yield line;
    } catch (err) {
      if (!opts.signal?.aborted) throw err;
    } finally {
      rl.close();
      res.destroy();
    }
  }

  private open(path: string, opts: { method?: string; body?: unknown; contentType?: string; signal?: AbortSignal }): Promise<http.IncomingMessage> {
    const url = new URL(path, this.endpoint.server);
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const headers: Record<string, string | number> = { authorization: `Bearer ${this.endpoint.token}`, accept: 'application/json' };
    if (payload) {
      headers['content-type'] = opts.contentType ?? 'application/json';
      headers['content-length'] = payload.length;
    }
    return new Promise((resolve, reject) => {
      const req = url.protocol === 'https:'
        ? https.request(url, { method: opts.method ?? 'GET', headers, ...(this.endpoint.ca ? { ca: this.endpoint.ca } : {}), ...(opts.signal ? { signal: opts.signal } : {}) }, resolve)
        : http.request(url, { method: opts.method ?? 'GET', headers, ...(opts.signal ? { signal: opts.signal } : {}) }, resolve);
      req.on('error', (err) => reject(new GantryError('ApiUnavailable', `cannot reach gantry at ${this.endpoint.server}: ${err.message}`)));
      req.end(payload);
    });
  }
}

function readAll(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (d: Buffer) => chunks.push(d));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

/** The server's error (a Status or gantry's {code, message}) as a GantryError. */
function errorFrom(status: number, body: string, path: string): GantryError {
  let message = body.trim() || `HTTP ${status}`;
  try {
    const doc = JSON.parse(body) as { message?: string };
    if (doc.message) message = doc.message;
  } catch {
    // not JSON: the text as it came
  }
  const code = status === 404 ? 'NotFound' : status === 409 || status === 410 ? 'Conflict' : status === 401 || status === 403 ? 'AuthFailed' : status === 400 || status === 422 ? 'InvalidArgument' : 'Internal';
  return new GantryError(code, `${message} (${status} from ${path.split('?')[0]})`);
}

const GANTRY = '/apis/gantry.dev/v1';

/** The read side of a Store, served by a remote gantry. */
export class RemoteStore implements ReadStore {
  constructor(private readonly client: ApiClient) {}

  async get<T extends KubeObject = KubeObject>(ref: ObjectRef): Promise<T | undefined> {
    const path = `${GANTRY}/objects/${encodeURIComponent(ref.kind)}/${ref.namespace ? `${encodeURIComponent(ref.namespace)}/` : ''}${encodeURIComponent(ref.name)}`;
    try {
      return await this.client.json<T>(path);
    } catch (err) {
      if (err instanceof GantryError && err.code === 'NotFound') return undefined;
      throw err;
    }
  }

  async list<T extends KubeObject = KubeObject>(kind: string, opts: ListOptions = {}): Promise<ListResult<T>> {
    if (opts.labelSelector !== undefined && typeof opts.labelSelector !== 'string') {
      throw new GantryError('InvalidArgument', 'a remote list takes its label selector as text (app=web,tier!=db)');
    }
    const q = new URLSearchParams();
    if (opts.namespace) q.set('namespace', opts.namespace);
    if (opts.labelSelector) q.set('labelSelector', opts.labelSelector);
    return this.client.json<ListResult<T>>(`${GANTRY}/objects/${encodeURIComponent(kind)}${q.size ? `?${q}` : ''}`);
  }

  async *watch(opts: WatchOptions = {}): AsyncIterable<WatchEvent> {
    const q = new URLSearchParams();
    if (opts.fromRevision !== undefined) q.set('fromRevision', String(opts.fromRevision));
    if (opts.kinds) q.set('kinds', opts.kinds.join(','));
    for await (const line of this.client.lines(`${GANTRY}/watch${q.size ? `?${q}` : ''}`, { ...(opts.signal ? { signal: opts.signal } : {}) })) {
      if (!line.trim()) continue;
      const ev = JSON.parse(line) as WatchEvent | { type: 'ERROR'; message: string };
      if (ev.type === 'ERROR') throw new GantryError('Internal', `watch ended by the server: ${(ev as { message: string }).message}`);
      yield ev as WatchEvent;
    }
  }

  async revision(): Promise<number> {
    return (await this.client.json<{ revision: number }>(`${GANTRY}/status`)).revision;
  }

  async close(): Promise<void> {
    // Each request is its own connection: nothing to release.
  }
}
