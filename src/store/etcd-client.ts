/**
 * A small etcd v3 client over @grpc/grpc-js: the KV, Watch and Lease calls the etcd store and the
 * leader elector use, from gantry's own `.proto` subset (`proto/etcd/`, etcd's names and field
 * numbers), loaded at run time like the containerd protos.
 *
 * Why not the `etcd3` package: gantry needs a handful of calls and exact control over their
 * failure modes (which errors mean "etcd is unreachable", deadlines, when a call may be retried on
 * another endpoint, how a watch stream ends). The protos are ~200 lines and grpc-js and
 * proto-loader are already dependencies, so this costs no new dependency.
 *
 * Several endpoints: calls go to one endpoint at a time; when it is unreachable the client moves
 * to the next one. Reads are retried there at once; writes are not (the write may have landed
 * before the connection broke), they fail with `StoreUnavailable` and the caller re-reads.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { GantryError, errorMessage } from '../errors.js';

/** TLS material for `etcds://` endpoints (PEM contents, not paths). */
export interface EtcdTls {
  /** CA bundle that signed etcd's serving certificates; the system roots when absent. */
  ca?: Buffer;
  /** Client certificate and key, when etcd requires client certificates (`--client-cert-auth`). */
  cert?: Buffer;
  key?: Buffer;
}

/** Options for {@link EtcdClient}. */
export interface EtcdClientOptions {
  /** `host:port` of each etcd member. */
  endpoints: string[];
  /** Use TLS (the `etcds://` scheme); with `tls` material when given. */
  tls?: EtcdTls | boolean;
  /** Deadline of one unary call (default 10 s). Large transactions take longer on slow disks. */
  callTimeoutMs?: number;
}

/** A key-value pair as etcd returns it. Revisions are numbers (they stay far below 2^53). */
export interface KeyValue {
  key: Buffer;
  value: Buffer;
  createRevision: number;
  modRevision: number;
  version: number;
  /** The lease id as a decimal string (int64 ids do not fit a number). */
  lease: string;
}

/** A range read: `key` alone, or `[key, rangeEnd)`. */
export interface RangeRequest {
  key: Buffer | string;
  rangeEnd?: Buffer | string;
  limit?: number;
  revision?: number;
  sortOrder?: 'NONE' | 'ASCEND' | 'DESCEND';
  sortTarget?: 'KEY' | 'VERSION' | 'CREATE' | 'MOD' | 'VALUE';
  keysOnly?: boolean;
  countOnly?: boolean;
  maxCreateRevision?: number;
}

/** The result of a range read. */
export interface RangeResult {
  /** The etcd revision the read was served at. */
  revision: number;
  kvs: KeyValue[];
  more: boolean;
  count: number;
}

/** One compare of a transaction (etcd's `Compare`, the targets gantry uses). */
export type Compare =
  | { key: Buffer | string; target: 'MOD'; result: 'EQUAL' | 'LESS' | 'GREATER' | 'NOT_EQUAL'; modRevision: number }
  | { key: Buffer | string; target: 'CREATE'; result: 'EQUAL' | 'LESS' | 'GREATER' | 'NOT_EQUAL'; createRevision: number }
  | { key: Buffer | string; target: 'VERSION'; result: 'EQUAL' | 'LESS' | 'GREATER' | 'NOT_EQUAL'; version: number };

/** One operation of a transaction. */
export type RequestOp =
  | { range: RangeRequest }
  | { put: { key: Buffer | string; value: Buffer | string; lease?: string } }
  | { deleteRange: { key: Buffer | string; rangeEnd?: Buffer | string } };

/** The result of a transaction. */
export interface TxnResult {
  revision: number;
  succeeded: boolean;
  /** Per op of the branch that ran: ranges carry their result, other ops `undefined`. */
  responses: (RangeResult | undefined)[];
}

/** An event of a watch, as etcd delivers it. */
export interface WatchEventKv {
  type: 'PUT' | 'DELETE';
  kv: KeyValue;
  prevKv?: KeyValue;
}

/** Options for {@link EtcdClient.watch}. */
export interface EtcdWatchOptions {
  key: Buffer | string;
  rangeEnd?: Buffer | string;
  /** Deliver events from this etcd revision on (inclusive); now when absent. */
  startRevision?: number;
  prevKv?: boolean;
  /** Called for each batch of events (one watch response), in revision order. */
  onEvents(events: WatchEventKv[], revision: number): void;
  /**
   * Called once when the watch ends for any reason other than {@link EtcdWatch.cancel}: etcd
   * canceled it (`compactRevision` set when the start revision was compacted away), or the stream
   * broke (`error`).
   */
  onEnd(end: { compactRevision?: number; error?: GantryError }): void;
}

/** A running watch. */
export interface EtcdWatch {
  /** Stops the watch; no callback runs after this. */
  cancel(): void;
  /** Applies HTTP/2 flow control: a paused watch receives nothing until resumed. */
  pause(): void;
  resume(): void;
}

/** A lease keep-alive stream. */
export interface LeaseKeepAlive {
  /** Sends one keep-alive; the answer arrives through `onResponse`. */
  ping(): void;
  close(): void;
}

type Raw = Record<string, unknown>;
type GrpcClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

const CONVERSION = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true } as const;

let definition: protoLoader.PackageDefinition | undefined;

/** The `proto/` directory of the gantry package (see the containerd proto loader for why it is searched). */
function protoDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'proto', 'etcd', 'rpc.proto')) && existsSync(path.join(dir, 'package.json'))) {
      return path.join(dir, 'proto');
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new GantryError('Internal', `cannot find gantry's proto/etcd directory above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

function loadDefinition(): protoLoader.PackageDefinition {
  definition ??= protoLoader.loadSync(['etcd/rpc.proto'], { ...CONVERSION, includeDirs: [protoDir()] });
  return definition;
}

/** The key just past every key that starts with `prefix`: etcd's range end for a prefix. */
export function prefixEnd(prefix: Buffer | string): Buffer {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      const end = Buffer.from(b.subarray(0, i + 1));
      end[i]!++;
      return end;
    }
  }
  // All 0xff: the range is everything from prefix on.
  return Buffer.from([0]);
}

function toKv(raw: Raw): KeyValue {
  return {
    key: raw.key as Buffer,
    value: raw.value as Buffer,
    createRevision: Number(raw.create_revision),
    modRevision: Number(raw.mod_revision),
    version: Number(raw.version),
    lease: String(raw.lease ?? '0'),
  };
}

function rangeResult(raw: Raw): RangeResult {
  return {
    revision: Number((raw.header as Raw | undefined)?.revision ?? 0),
    kvs: ((raw.kvs as Raw[] | undefined) ?? []).map(toKv),
    more: Boolean(raw.more),
    count: Number(raw.count ?? 0),
  };
}

function rangeRequest(r: RangeRequest): Raw {
  // An absent range_end means "this key only"; an empty one sent on the wire does not (protobufjs
  // writes explicitly set empty bytes), so the field is left out rather than set empty.
  return {
    key: Buffer.from(r.key),
    ...(r.rangeEnd === undefined ? {} : { range_end: Buffer.from(r.rangeEnd) }),
    limit: String(r.limit ?? 0),
    revision: String(r.revision ?? 0),
    sort_order: r.sortOrder ?? 'NONE',
    sort_target: r.sortTarget ?? 'KEY',
    keys_only: r.keysOnly ?? false,
    count_only: r.countOnly ?? false,
    max_create_revision: String(r.maxCreateRevision ?? 0),
  };
}

function requestOp(op: RequestOp): Raw {
  if ('range' in op) return { request_range: rangeRequest(op.range) };
  if ('put' in op) {
    return { request_put: { key: Buffer.from(op.put.key), value: Buffer.from(op.put.value), lease: op.put.lease ?? '0' } };
  }
  return {
    request_delete_range: {
      key: Buffer.from(op.deleteRange.key),
      ...(op.deleteRange.rangeEnd === undefined ? {} : { range_end: Buffer.from(op.deleteRange.rangeEnd) }),
    },
  };
}

function compare(c: Compare): Raw {
  const base: Raw = { key: Buffer.from(c.key), target: c.target, result: c.result };
  if (c.target === 'MOD') base.mod_revision = String(c.modRevision);
  else if (c.target === 'CREATE') base.create_revision = String(c.createRevision);
  else base.version = String(c.version);
  return base;
}

/** True for gRPC failures that mean "this endpoint cannot be reached right now". */
function isUnreachable(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === grpc.status.UNAVAILABLE || code === grpc.status.DEADLINE_EXCEEDED;
}

/** An etcd v3 client; see the module comment. */
export class EtcdClient {
  private readonly endpoints: string[];
  private readonly credentials: grpc.ChannelCredentials;
  private readonly callTimeoutMs: number;
  private readonly clients = new Map<string, { kv: GrpcClient; watch: GrpcClient; lease: GrpcClient }>();
  private current = 0;
  private closed = false;

  constructor(opts: EtcdClientOptions) {
    if (opts.endpoints.length === 0) throw new GantryError('InvalidArgument', 'etcd: no endpoints given');
    this.endpoints = [...opts.endpoints];
    this.callTimeoutMs = opts.callTimeoutMs ?? 10_000;
    const tls = opts.tls === true ? {} : opts.tls || undefined;
    this.credentials = tls
      ? grpc.credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null)
      : grpc.credentials.createInsecure();
  }

  /** The endpoints, as given. */
  get endpointList(): readonly string[] {
    return this.endpoints;
  }

  /** Reads one key or a range. Retried on the other endpoints when one is unreachable. */
  async range(req: RangeRequest): Promise<RangeResult> {
    const raw = await this.unary('kv', 'Range', rangeRequest(req), { read: true });
    return rangeResult(raw);
  }

  /**
   * Runs a transaction. A transaction of range ops only is a read and is retried on another
   * endpoint; any other is not (see the module comment).
   */
  async txn(req: { compare?: Compare[]; success: RequestOp[]; failure?: RequestOp[] }): Promise<TxnResult> {
    const read = req.success.every((op) => 'range' in op) && (req.failure ?? []).every((op) => 'range' in op);
    const raw = await this.unary(
      'kv',
      'Txn',
      {
        compare: (req.compare ?? []).map(compare),
        success: req.success.map(requestOp),
        failure: (req.failure ?? []).map(requestOp),
      },
      { read },
    );
    const responses = ((raw.responses as Raw[] | undefined) ?? []).map((r) =>
      r.response_range ? rangeResult(r.response_range as Raw) : undefined,
    );
    return {
      revision: Number((raw.header as Raw | undefined)?.revision ?? 0),
      succeeded: Boolean(raw.succeeded),
      responses,
    };
  }

  /** Compacts etcd's history up to `revision`. */
  async compact(revision: number, physical = false): Promise<void> {
    await this.unary('kv', 'Compact', { revision: String(revision), physical }, { read: false });
  }

  /** Grants a lease of `ttlSeconds`; returns its id (decimal string) and the TTL etcd chose. */
  async leaseGrant(ttlSeconds: number): Promise<{ id: string; ttl: number }> {
    const raw = await this.unary('lease', 'LeaseGrant', { TTL: String(ttlSeconds), ID: '0' }, { read: false });
    if (raw.error) throw new GantryError('StoreUnavailable', `etcd: cannot grant a lease: ${String(raw.error)}`);
    return { id: String(raw.ID), ttl: Number(raw.TTL) };
  }

  /** Revokes a lease: every key attached to it is deleted at once. */
  async leaseRevoke(id: string): Promise<void> {
    try {
      await this.unary('lease', 'LeaseRevoke', { ID: id }, { read: false });
    } catch (err) {
      // A lease that already expired is as revoked as it gets.
      if (/lease not found/i.test(errorMessage(err))) return;
      throw err;
    }
  }

  /**
   * Opens a keep-alive stream for lease `id`. `onResponse` gets the TTL etcd renewed the lease to
   * (0 or less: the lease is gone); `onEnd` runs once if the stream breaks.
   */
  leaseKeepAlive(id: string, handlers: { onResponse(ttl: number): void; onEnd(err: GantryError): void }): LeaseKeepAlive {
    const { lease } = this.clientFor(this.endpoints[this.current]!);
    const call = (lease.LeaseKeepAlive as (opts?: grpc.CallOptions) => grpc.ClientDuplexStream<Raw, Raw>).call(lease);
    let ended = false;
    const end = (err: GantryError): void => {
      if (ended) return;
      ended = true;
      handlers.onEnd(err);
    };
    call.on('data', (raw: Raw) => handlers.onResponse(Number(raw.TTL)));
    call.on('error', (err: Error) => {
      if (isUnreachable(err)) this.rotate();
      end(new GantryError('StoreUnavailable', `etcd ${this.describe()}: lease keep-alive failed: ${errorMessage(err)}`, { cause: err }));
    });
    call.on('end', () => end(new GantryError('StoreUnavailable', `etcd ${this.describe()}: lease keep-alive stream ended`)));
    return {
      ping: () => {
        if (!ended) call.write({ ID: id });
      },
      close: () => {
        ended = true;
        call.cancel();
      },
    };
  }

  /** Starts a watch; see {@link EtcdWatchOptions}. One gRPC stream per watch keeps them independent. */
  watch(opts: EtcdWatchOptions): EtcdWatch {
    if (this.closed) throw new GantryError('StoreUnavailable', 'etcd: the client is closed');
    const { watch } = this.clientFor(this.endpoints[this.current]!);
    const call = (watch.Watch as (opts?: grpc.CallOptions) => grpc.ClientDuplexStream<Raw, Raw>).call(watch);
    let done = false;
    const finish = (end: { compactRevision?: number; error?: GantryError }): void => {
      if (done) return;
      done = true;
      call.cancel();
      opts.onEnd(end);
    };
    call.on('data', (raw: Raw) => {
      if (done) return;
      if (raw.canceled) {
        const compactRevision = Number(raw.compact_revision ?? 0);
        if (compactRevision > 0) finish({ compactRevision });
        else finish({ error: new GantryError('StoreUnavailable', `etcd ${this.describe()}: watch canceled: ${String(raw.cancel_reason || 'no reason given')}`) });
        return;
      }
      const events = ((raw.events as Raw[] | undefined) ?? []).map((e) => ({
        type: e.type === 'DELETE' ? ('DELETE' as const) : ('PUT' as const),
        kv: toKv(e.kv as Raw),
        ...(e.prev_kv ? { prevKv: toKv(e.prev_kv as Raw) } : {}),
      }));
      if (events.length > 0) opts.onEvents(events, Number((raw.header as Raw | undefined)?.revision ?? 0));
    });
    call.on('error', (err: Error) => {
      if ((err as { code?: unknown }).code === grpc.status.CANCELLED && done) return;
      if (isUnreachable(err)) this.rotate();
      finish({ error: new GantryError('StoreUnavailable', `etcd ${this.describe()}: watch failed: ${errorMessage(err)}`, { cause: err }) });
    });
    call.on('end', () => finish({ error: new GantryError('StoreUnavailable', `etcd ${this.describe()}: watch stream ended`) }));
    call.write({
      create_request: {
        key: Buffer.from(opts.key),
        ...(opts.rangeEnd === undefined ? {} : { range_end: Buffer.from(opts.rangeEnd) }),
        start_revision: String(opts.startRevision ?? 0),
        prev_kv: opts.prevKv ?? false,
        progress_notify: false,
      },
    });
    return {
      cancel: () => {
        done = true;
        call.cancel();
      },
      pause: () => call.pause(),
      resume: () => call.resume(),
    };
  }

  /** Closes every channel; calls in flight fail. */
  close(): void {
    this.closed = true;
    for (const c of this.clients.values()) {
      c.kv.close();
      c.watch.close();
      c.lease.close();
    }
    this.clients.clear();
  }

  /** "127.0.0.1:2379" or "a:2379,b:2379" for messages. */
  describe(): string {
    return this.endpoints.join(',');
  }

  private rotate(): void {
    if (this.endpoints.length > 1) this.current = (this.current + 1) % this.endpoints.length;
  }

  private clientFor(endpoint: string): { kv: GrpcClient; watch: GrpcClient; lease: GrpcClient } {
    if (this.closed) throw new GantryError('StoreUnavailable', 'etcd: the client is closed');
    let c = this.clients.get(endpoint);
    if (!c) {
      const pkg = grpc.loadPackageDefinition(loadDefinition()) as unknown as {
        etcdserverpb: Record<string, grpc.ServiceClientConstructor>;
      };
      // Lists of 10,000 objects exceed grpc's 4 MB default; etcd itself bounds requests.
      const options: grpc.ChannelOptions = {
        'grpc.max_receive_message_length': -1,
        'grpc.max_send_message_length': -1,
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': 5_000,
        'grpc.keepalive_permit_without_calls': 1,
        // grpc's default backoff grows to two minutes; an etcd back from a restart should be used within seconds.
        'grpc.initial_reconnect_backoff_ms': 200,
        'grpc.max_reconnect_backoff_ms': 3_000,
      };
      const make = (name: string): GrpcClient =>
        new pkg.etcdserverpb[name]!(endpoint, this.credentials, options) as unknown as GrpcClient;
      c = { kv: make('KV'), watch: make('Watch'), lease: make('Lease') };
      this.clients.set(endpoint, c);
    }
    return c;
  }

  private async unary(service: 'kv' | 'lease', method: string, req: Raw, opts: { read: boolean }): Promise<Raw> {
    const attempts = opts.read ? this.endpoints.length : 1;
    let last: unknown;
    for (let i = 0; i < attempts; i++) {
      const endpoint = this.endpoints[this.current]!;
      const client = this.clientFor(endpoint)[service];
      try {
        return await new Promise<Raw>((resolve, reject) => {
          (client[method] as (r: Raw, o: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: Raw) => void) => void).call(
            client,
            req,
            { deadline: Date.now() + this.callTimeoutMs },
            (err, res) => (err ? reject(err) : resolve(res)),
          );
        });
      } catch (err) {
        last = err;
        if (!isUnreachable(err)) throw this.translate(err, method);
        this.rotate();
      }
    }
    throw this.translate(last, method);
  }

  private translate(err: unknown, method: string): GantryError {
    const message = errorMessage(err);
    if (isUnreachable(err)) {
      return new GantryError('StoreUnavailable', `etcd ${this.describe()}: ${method} failed: etcd is unreachable (${message})`, {
        cause: err,
      });
    }
    if (/too many operations in txn request/.test(message)) {
      return new GantryError(
        'StoreUnavailable',
        `etcd ${this.describe()}: ${method} refused: the transaction has more operations than etcd allows; start etcd with a larger --max-txn-ops (${message})`,
        { cause: err, disposition: 'stalled' },
      );
    }
    if (/request is too large/.test(message)) {
      return new GantryError(
        'StoreUnavailable',
        `etcd ${this.describe()}: ${method} refused: the request is larger than etcd allows; start etcd with a larger --max-request-bytes (${message})`,
        { cause: err, disposition: 'stalled' },
      );
    }
    if (/required revision has been compacted/.test(message)) {
      return new GantryError('Conflict', `etcd ${this.describe()}: ${method}: the revision was compacted (${message})`, { cause: err });
    }
    return new GantryError('StoreUnavailable', `etcd ${this.describe()}: ${method} failed: ${message}`, { cause: err });
  }
}
