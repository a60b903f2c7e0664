/**
 * A typed gRPC client for the subset of containerd's API gantry uses. Every call carries the
 * `containerd-namespace` header of gantry's own namespace, and `containerd-lease` while inside
 * {@link ContainerdClient.withLease}. gRPC failures become {@link GantryError}s:
 * NOT_FOUND → `NotFound`, ALREADY_EXISTS → `AlreadyExists`, UNAVAILABLE → `RuntimeUnavailable`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import { GantryError, isGantryError } from '../../errors.js';
import { decodeAny, loadProtos, type AnyValue } from './proto.js';
import type {
  ContainerRecord,
  ContainerdEvent,
  ContentInfo,
  Descriptor,
  ExitResult,
  ImageRecord,
  LeaseRecord,
  Mount,
  ProcessState,
  SnapshotInfo,
  TaskMetric,
  Timestamp,
} from './types.js';

/** The oldest containerd gantry drives (its API and event shapes are what gantry's protos model). */
export const MIN_CONTAINERD_VERSION = '1.6';

/** The snapshotter gantry uses for images and containers. */
export const DEFAULT_SNAPSHOTTER = 'overlayfs';

/** Largest chunk sent in one Content.Write message (containerd's own clients use 1 MiB). */
const WRITE_CHUNK = 1 << 20;

/** Options for {@link ContainerdClient.connect}. */
export interface ConnectOptions {
  /** Path of containerd's unix socket (a `unix://` prefix is accepted). */
  address: string;
  /** containerd namespace gantry works in, e.g. `gantry`. */
  namespace: string;
  /** How long to wait for the first Version answer; default 10 s. */
  timeoutMs?: number;
}

/** Per-call options. */
export interface CallOptions {
  signal?: AbortSignal;
  /** Deadline for unary calls; none by default (Wait can take as long as the task runs). */
  timeoutMs?: number;
}

/** Options for {@link ContainerdClient.withLease}. */
export interface LeaseOptions {
  /** The lease expires (and containerd's GC may collect what it holds) after this long; default 1 h. */
  expireMs?: number;
  labels?: Record<string, string>;
}

/** What to write with {@link ContainerdClient.writeContent}. */
export interface WriteContentOptions {
  /** Expected digest (`sha256:…`); checked before COMMIT. */
  digest: string;
  /** Expected size in bytes; checked before COMMIT. */
  size: number;
  /** Labels set on the blob (e.g. GC references); replaced on an existing blob. */
  labels?: Record<string, string>;
  /** Word used in mismatch messages, e.g. `layer` or `config`; default `content`. */
  what?: string;
  signal?: AbortSignal;
}

/** Services and their fully qualified names in the protos. */
const SERVICES = {
  version: 'containerd.services.version.v1.Version',
  namespaces: 'containerd.services.namespaces.v1.Namespaces',
  leases: 'containerd.services.leases.v1.Leases',
  content: 'containerd.services.content.v1.Content',
  images: 'containerd.services.images.v1.Images',
  snapshots: 'containerd.services.snapshots.v1.Snapshots',
  diff: 'containerd.services.diff.v1.Diff',
  containers: 'containerd.services.containers.v1.Containers',
  tasks: 'containerd.services.tasks.v1.Tasks',
  events: 'containerd.services.events.v1.Events',
} as const;

type ServiceKey = keyof typeof SERVICES;
type Msg = Record<string, unknown>;
type AnyMethod = MethodDefinition<Msg, Msg>;

/** Shared connection state; lease views share it with the client they came from. */
interface Connection {
  grpc: grpc.Client;
  address: string;
  namespace: string;
}

/**
 * containerd over gRPC. Create with {@link ContainerdClient.connect}; close with `close()`.
 */
export class ContainerdClient {
  private readonly conn: Connection;
  /** The lease sent with every call of this view, if any. */
  readonly leaseId?: string;

  private constructor(conn: Connection, leaseId?: string) {
    this.conn = conn;
    this.leaseId = leaseId;
  }

  /** containerd namespace of this client. */
  get namespace(): string {
    return this.conn.namespace;
  }

  /** Socket path of the daemon. */
  get address(): string {
    return this.conn.address;
  }

  /**
   * Connects to containerd at `address`, checks that it answers and is at least
   * {@link MIN_CONTAINERD_VERSION}.
   * @throws GantryError RuntimeUnavailable (no socket, no answer), RuntimeTooOld.
   */
  static async connect(opts: ConnectOptions): Promise<ContainerdClient> {
    const socketPath = opts.address.replace(/^unix:\/\//, '');
    const st = await stat(socketPath).catch(() => undefined);
    if (!st || !st.isSocket()) {
      throw new GantryError(
        'RuntimeUnavailable',
        `containerd socket ${socketPath} does not exist; start containerd or let gantry start a private one (omit --containerd-socket)`,
      );
    }
    const client = new grpc.Client(`unix://${socketPath}`, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 64 << 20,
      'grpc.max_send_message_length': 16 << 20,
    });
    const cd = new ContainerdClient({ grpc: client, address: socketPath, namespace: opts.namespace });
    try {
      const { version } = await cd.version({ timeoutMs: opts.timeoutMs ?? 10_000 });
      if (!versionAtLeast(version, MIN_CONTAINERD_VERSION)) {
        throw new GantryError(
          'RuntimeTooOld',
          `containerd at ${socketPath} is version ${version}; gantry needs containerd ${MIN_CONTAINERD_VERSION} or newer`,
        );
      }
    } catch (err) {
      client.close();
      throw err;
    }
    return cd;
  }

  /** Closes the gRPC channel (lease views share it: close only the root client). */
  close(): void {
    this.conn.grpc.close();
  }

  // ---- plumbing --------------------------------------------------------------------------

  private method(service: ServiceKey, name: string): AnyMethod {
    const svc = loadProtos().definition[SERVICES[service]] as unknown as Record<string, AnyMethod> | undefined;
    const m = svc?.[name];
    if (!m) throw new GantryError('Internal', `gantry's protos lack ${SERVICES[service]}.${name}`);
    return m;
  }

  private metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    md.set('containerd-namespace', this.conn.namespace);
    if (this.leaseId) md.set('containerd-lease', this.leaseId);
    return md;
  }

  /** One unary RPC with namespace/lease metadata, abort support and error mapping. */
  private unary<Res = Msg>(service: ServiceKey, name: string, req: Msg, opts: CallOptions = {}): Promise<Res> {
    const m = this.method(service, name);
    const callOpts: grpc.CallOptions = {};
    if (opts.timeoutMs !== undefined) callOpts.deadline = Date.now() + opts.timeoutMs;
    return new Promise<Res>((resolve, reject) => {
      if (opts.signal?.aborted) {
        reject(abortError(opts.signal));
        return;
      }
      const call = this.conn.grpc.makeUnaryRequest<Msg, Msg>(
        m.path,
        m.requestSerialize,
        m.responseDeserialize,
        req,
        this.metadata(),
        callOpts,
        (err, res) => {
          opts.signal?.removeEventListener('abort', onAbort);
          if (err) reject(mapGrpcError(err, `${SERVICES[service].split('.').pop()}.${name}`, this.conn.address));
          else resolve(res as Res);
        },
      );
      const onAbort = (): void => call.cancel();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** A server-streaming RPC as an async iterable; ends quietly when `signal` aborts. */
  private async *serverStream(service: ServiceKey, name: string, req: Msg, opts: CallOptions = {}): AsyncGenerator<Msg> {
    const m = this.method(service, name);
    const call = this.conn.grpc.makeServerStreamRequest<Msg, Msg>(m.path, m.requestSerialize, m.responseDeserialize, req, this.metadata(), {});
    const onAbort = (): void => call.cancel();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const msg of call as AsyncIterable<Msg>) yield msg;
    } catch (err) {
      if (opts.signal?.aborted && (err as grpc.ServiceError).code === grpc.status.CANCELLED) return;
      throw mapGrpcError(err as grpc.ServiceError, `${SERVICES[service].split('.').pop()}.${name}`, this.conn.address);
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      call.cancel();
    }
  }

  // ---- version, namespaces, leases ---------------------------------------------------------

  /** Version.Version. */
  async version(opts?: CallOptions): Promise<{ version: string; revision: string }> {
    const res = await this.unary<{ version: string; revision: string }>('version', 'Version', {}, opts);
    return { version: res.version, revision: res.revision };
  }

  /** Namespaces.List: names of containerd namespaces that hold anything. */
  async listNamespaces(opts?: CallOptions): Promise<string[]> {
    const res = await this.unary<{ namespaces: { name: string }[] }>('namespaces', 'List', {}, opts);
    return res.namespaces.map((n) => n.name);
  }

  /** Leases.Create with a `containerd.io/gc.expire` label, so a crash cannot pin content forever. */
  async createLease(opts: LeaseOptions & { id?: string } = {}): Promise<LeaseRecord> {
    const id = opts.id ?? `gantry-${Date.now()}-${randomBytes(4).toString('hex')}`;
    const expire = new Date(Date.now() + (opts.expireMs ?? 3_600_000)).toISOString();
    const res = await this.unary<{ lease: LeaseRecord }>('leases', 'Create', {
      id,
      labels: { ...opts.labels, 'containerd.io/gc.expire': expire },
    });
    return res.lease;
  }

  /** Leases.Delete; `sync` waits for the garbage collection that follows. */
  async deleteLease(id: string, opts: { sync?: boolean } = {}): Promise<void> {
    await this.unary('leases', 'Delete', { id, sync: opts.sync ?? false });
  }

  /** Leases.List (filters as containerd's filter syntax). */
  async listLeases(filters: string[] = []): Promise<LeaseRecord[]> {
    const res = await this.unary<{ leases: LeaseRecord[] }>('leases', 'List', { filters });
    return res.leases;
  }

  /** Leases.ListResources: what a lease holds. */
  async listLeaseResources(id: string): Promise<{ id: string; type: string }[]> {
    const res = await this.unary<{ resources: { id: string; type: string }[] }>('leases', 'ListResources', { id });
    return res.resources;
  }

  /**
   * Runs `fn` with a client view whose every call carries a fresh lease, then deletes the lease
   * (whatever `fn` did). Content and snapshots created inside stay protected until then, so the
   * caller must make them reachable (image record, GC labels) before `fn` returns.
   */
  async withLease<T>(fn: (leased: ContainerdClient) => Promise<T>, opts: LeaseOptions = {}): Promise<T> {
    const lease = await this.createLease(opts);
    const view = new ContainerdClient(this.conn, lease.id);
    try {
      return await fn(view);
    } finally {
      await this.deleteLease(lease.id, { sync: false }).catch(() => undefined);
    }
  }

  // ---- content --------------------------------------------------------------------------

  /** Content.Info, or undefined when the blob is absent. */
  async contentInfo(digest: string): Promise<ContentInfo | undefined> {
    try {
      const res = await this.unary<{ info: ContentInfo }>('content', 'Info', { digest });
      return res.info;
    } catch (err) {
      if (isGantryError(err, 'NotFound')) return undefined;
      throw err;
    }
  }

  /**
   * Content.Update of a blob's labels. With no `fields`, all labels are replaced by `labels`;
   * otherwise only the given `labels.<key>` paths are set.
   */
  async updateContentLabels(digest: string, labels: Record<string, string>, fields?: string[]): Promise<ContentInfo> {
    const res = await this.unary<{ info: ContentInfo }>('content', 'Update', {
      info: { digest, labels },
      update_mask: { paths: fields ?? [] },
    });
    return res.info;
  }

  /** Content.Delete. */
  async deleteContent(digest: string): Promise<void> {
    await this.unary('content', 'Delete', { digest });
  }

  /** Content.Read of a whole blob into memory (manifests, configs: small). */
  async readContent(digest: string, opts: CallOptions = {}): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const msg of this.serverStream('content', 'Read', { digest, offset: 0, size: 0 }, opts)) {
      parts.push(msg.data as Buffer);
    }
    return Buffer.concat(parts);
  }

  /**
   * Writes a blob through the Content.Write stream (STAT → WRITE chunks → COMMIT), verifying the
   * digest and size of what was sent before committing. A blob that already exists counts as
   * written; its labels are then replaced by `opts.labels`.
   * @returns true when bytes were written, false when the blob was already present.
   * @throws GantryError InvalidArgument on digest or size mismatch (the partial write is aborted).
   */
  async writeContent(source: Buffer | AsyncIterable<Uint8Array>, opts: WriteContentOptions): Promise<boolean> {
    const m = this.method('content', 'Write');
    // A unique ref: two pulls of the same blob must not lock each other out; the loser's COMMIT
    // gets ALREADY_EXISTS, which counts as success.
    const ref = `gantry-${opts.digest}-${randomBytes(4).toString('hex')}`;
    const call = this.conn.grpc.makeBidiStreamRequest<Msg, Msg>(m.path, m.requestSerialize, m.responseDeserialize, this.metadata(), {});
    const responses = (call as AsyncIterable<Msg>)[Symbol.asyncIterator]();
    const onAbort = (): void => call.cancel();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const what = opts.what ?? 'content';
    const exchange = async (req: Msg): Promise<Msg> => {
      call.write(req);
      const next = await responses.next();
      if (next.done) throw new GantryError('Internal', `containerd closed the content write of ${opts.digest} early`);
      return next.value;
    };
    try {
      let stat: Msg;
      try {
        stat = await exchange({ action: 'STAT', ref, total: opts.size, expected: opts.digest });
      } catch (err) {
        const mapped = mapGrpcError(err as grpc.ServiceError, 'Content.Write', this.conn.address);
        if (isGantryError(mapped, 'AlreadyExists')) {
          call.cancel();
          if (opts.labels) await this.updateContentLabels(opts.digest, opts.labels);
          return false;
        }
        throw mapped;
      }
      // A previous interrupted write with the same ref may have left data; resume after it.
      let skip = Number(stat.offset ?? 0);
      let offset = skip;
      const hash = createHash('sha256');
      let seen = 0;
      let pending: Buffer[] = [];
      let pendingLen = 0;
      const flush = async (): Promise<void> => {
        if (pendingLen === 0) return;
        const data = Buffer.concat(pending, pendingLen);
        pending = [];
        pendingLen = 0;
        for (let i = 0; i < data.length; i += WRITE_CHUNK) {
          const chunk = data.subarray(i, Math.min(i + WRITE_CHUNK, data.length));
          await exchange({ action: 'WRITE', ref, offset, data: chunk });
          offset += chunk.length;
        }
      };
      const chunks: AsyncIterable<Uint8Array> | Buffer[] = Buffer.isBuffer(source) ? [source] : source;
      for await (const raw of chunks) {
        if (opts.signal?.aborted) throw abortError(opts.signal);
        let buf = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
        hash.update(buf);
        seen += buf.length;
        if (seen > opts.size) break;
        if (skip > 0) {
          const drop = Math.min(skip, buf.length);
          buf = buf.subarray(drop);
          skip -= drop;
        }
        if (buf.length === 0) continue;
        pending.push(buf);
        pendingLen += buf.length;
        if (pendingLen >= WRITE_CHUNK) await flush();
      }
      if (seen !== opts.size) {
        await this.abortWrite(call, ref);
        throw new GantryError('InvalidArgument', `${what} ${opts.digest} size mismatch: got ${seen > opts.size ? 'more than ' + opts.size : seen} bytes, expected ${opts.size}`);
      }
      const actual = `sha256:${hash.digest('hex')}`;
      if (opts.digest.startsWith('sha256:') && actual !== opts.digest) {
        await this.abortWrite(call, ref);
        throw new GantryError('InvalidArgument', `${what} ${opts.digest} digest mismatch: got ${actual}`);
      }
      await flush();
      try {
        await exchange({ action: 'COMMIT', ref, offset, total: opts.size, expected: opts.digest, labels: opts.labels ?? {} });
      } catch (err) {
        const mapped = mapGrpcError(err as grpc.ServiceError, 'Content.Write', this.conn.address);
        // Someone else committed the same blob meanwhile: same bytes, so success.
        if (!isGantryError(mapped, 'AlreadyExists')) throw mapped;
        if (opts.labels) await this.updateContentLabels(opts.digest, opts.labels);
      }
      call.end();
      return true;
    } catch (err) {
      call.cancel();
      if (isGantryError(err)) throw err;
      if (opts.signal?.aborted) throw abortError(opts.signal);
      throw mapGrpcError(err as grpc.ServiceError, 'Content.Write', this.conn.address);
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }

  private async abortWrite(call: grpc.ClientDuplexStream<Msg, Msg>, ref: string): Promise<void> {
    call.cancel();
    await this.unary('content', 'Abort', { ref }).catch(() => undefined);
  }

  // ---- images -----------------------------------------------------------------------------

  /** Images.Get, or undefined when there is no image of that name. */
  async getImageRecord(name: string): Promise<ImageRecord | undefined> {
    try {
      const res = await this.unary<{ image: ImageRecord }>('images', 'Get', { name });
      return res.image;
    } catch (err) {
      if (isGantryError(err, 'NotFound')) return undefined;
      throw err;
    }
  }

  /** Images.List (filters as containerd's filter syntax, e.g. `name==docker.io/library/busybox:latest`). */
  async listImageRecords(filters: string[] = []): Promise<ImageRecord[]> {
    const res = await this.unary<{ images: ImageRecord[] }>('images', 'List', { filters });
    return res.images;
  }

  /** Images.Create; @throws GantryError AlreadyExists. */
  async createImageRecord(image: { name: string; target: Descriptor; labels?: Record<string, string> }): Promise<ImageRecord> {
    const res = await this.unary<{ image: ImageRecord }>('images', 'Create', { image: { labels: {}, ...image } });
    return res.image;
  }

  /** Images.Update of target and labels. */
  async updateImageRecord(image: { name: string; target: Descriptor; labels?: Record<string, string> }): Promise<ImageRecord> {
    const res = await this.unary<{ image: ImageRecord }>('images', 'Update', {
      image: { labels: {}, ...image },
      update_mask: { paths: ['target', 'labels'] },
    });
    return res.image;
  }

  /** Create, or update when it exists: points `name` at `target`. */
  async putImageRecord(image: { name: string; target: Descriptor; labels?: Record<string, string> }): Promise<ImageRecord> {
    try {
      return await this.createImageRecord(image);
    } catch (err) {
      if (!isGantryError(err, 'AlreadyExists')) throw err;
      return this.updateImageRecord(image);
    }
  }

  /** Images.Delete (idempotent). */
  async deleteImageRecord(name: string, opts: { sync?: boolean } = {}): Promise<void> {
    try {
      await this.unary('images', 'Delete', { name, sync: opts.sync ?? false });
    } catch (err) {
      if (!isGantryError(err, 'NotFound')) throw err;
    }
  }

  // ---- snapshots and diff -------------------------------------------------------------------

  /** Snapshots.Stat, or undefined when absent. */
  async statSnapshot(key: string, snapshotter = DEFAULT_SNAPSHOTTER): Promise<SnapshotInfo | undefined> {
    try {
      const res = await this.unary<{ info: SnapshotInfo }>('snapshots', 'Stat', { snapshotter, key });
      return res.info;
    } catch (err) {
      if (isGantryError(err, 'NotFound')) return undefined;
      throw err;
    }
  }

  /** Snapshots.Prepare: an active snapshot `key` on top of `parent` (a committed chainID, or ''). */
  async prepareSnapshot(key: string, parent: string, opts: { snapshotter?: string; labels?: Record<string, string> } = {}): Promise<Mount[]> {
    const res = await this.unary<{ mounts: Mount[] }>('snapshots', 'Prepare', {
      snapshotter: opts.snapshotter ?? DEFAULT_SNAPSHOTTER,
      key,
      parent,
      labels: opts.labels ?? {},
    });
    return res.mounts;
  }

  /** Snapshots.Commit of active `key` as committed `name`. */
  async commitSnapshot(name: string, key: string, opts: { snapshotter?: string; labels?: Record<string, string> } = {}): Promise<void> {
    await this.unary('snapshots', 'Commit', { snapshotter: opts.snapshotter ?? DEFAULT_SNAPSHOTTER, name, key, labels: opts.labels ?? {} });
  }

  /** Snapshots.Mounts of an active snapshot. */
  async snapshotMounts(key: string, snapshotter = DEFAULT_SNAPSHOTTER): Promise<Mount[]> {
    const res = await this.unary<{ mounts: Mount[] }>('snapshots', 'Mounts', { snapshotter, key });
    return res.mounts;
  }

  /** Snapshots.Remove (idempotent). */
  async removeSnapshot(key: string, snapshotter = DEFAULT_SNAPSHOTTER): Promise<void> {
    try {
      await this.unary('snapshots', 'Remove', { snapshotter, key });
    } catch (err) {
      if (!isGantryError(err, 'NotFound')) throw err;
    }
  }

  /** Snapshots.List. */
  async listSnapshots(filters: string[] = [], snapshotter = DEFAULT_SNAPSHOTTER): Promise<SnapshotInfo[]> {
    const out: SnapshotInfo[] = [];
    for await (const msg of this.serverStream('snapshots', 'List', { snapshotter, filters })) {
      out.push(...(msg.info as SnapshotInfo[]));
    }
    return out;
  }

  /** Diff.Apply: unpacks layer `diff` (from the content store) onto `mounts`; returns the applied (uncompressed) descriptor. */
  async applyDiff(diff: Descriptor, mounts: Mount[], opts: CallOptions = {}): Promise<Descriptor> {
    const res = await this.unary<{ applied: Descriptor }>('diff', 'Apply', { diff, mounts, payloads: {} }, opts);
    return res.applied;
  }

  // ---- containers -------------------------------------------------------------------------

  /** Containers.Create. @throws GantryError AlreadyExists. */
  async createContainerRecord(container: {
    id: string;
    image?: string;
    labels?: Record<string, string>;
    runtime: { name: string; options?: AnyValue };
    spec: AnyValue;
    snapshotter?: string;
    snapshot_key?: string;
  }): Promise<ContainerRecord> {
    const res = await this.unary<{ container: ContainerRecord }>('containers', 'Create', {
      container: { labels: {}, image: '', snapshotter: '', snapshot_key: '', ...container },
    });
    return res.container;
  }

  /** Containers.Get, or undefined when absent. */
  async getContainerRecord(id: string): Promise<ContainerRecord | undefined> {
    try {
      const res = await this.unary<{ container: ContainerRecord }>('containers', 'Get', { id });
      return res.container;
    } catch (err) {
      if (isGantryError(err, 'NotFound')) return undefined;
      throw err;
    }
  }

  /** Containers.List, e.g. `labels."gantry.dev/pod-uid"==abc`. */
  async listContainerRecords(filters: string[] = []): Promise<ContainerRecord[]> {
    const res = await this.unary<{ containers: ContainerRecord[] }>('containers', 'List', { filters });
    return res.containers;
  }

  /** Containers.Delete (idempotent). */
  async deleteContainerRecord(id: string): Promise<void> {
    try {
      await this.unary('containers', 'Delete', { id });
    } catch (err) {
      if (!isGantryError(err, 'NotFound')) throw err;
    }
  }

  // ---- tasks ------------------------------------------------------------------------------

  /** Tasks.Create: the container's init process, created but not started. */
  async createTask(req: {
    container_id: string;
    rootfs: Mount[];
    stdin?: string;
    stdout?: string;
    stderr?: string;
    terminal?: boolean;
    options?: AnyValue;
  }): Promise<{ pid: number }> {
    const res = await this.unary<{ pid: number }>('tasks', 'Create', { stdin: '', stdout: '', stderr: '', terminal: false, ...req });
    return { pid: res.pid };
  }

  /** Tasks.Start of the init process, or of exec process `execId`. */
  async startTask(containerId: string, execId = ''): Promise<{ pid: number }> {
    const res = await this.unary<{ pid: number }>('tasks', 'Start', { container_id: containerId, exec_id: execId });
    return { pid: res.pid };
  }

  /** Tasks.Wait: resolves when the process exits (may be called before Start). */
  async waitTask(containerId: string, opts: CallOptions & { execId?: string } = {}): Promise<ExitResult> {
    const res = await this.unary<{ exit_status: number; exited_at?: Timestamp }>(
      'tasks',
      'Wait',
      { container_id: containerId, exec_id: opts.execId ?? '' },
      opts,
    );
    return { exitStatus: res.exit_status, exitedAt: toDate(res.exited_at) };
  }

  /** Tasks.Kill; `all` signals every process in the container. */
  async killTask(containerId: string, signal: number, opts: { all?: boolean; execId?: string } = {}): Promise<void> {
    await this.unary('tasks', 'Kill', { container_id: containerId, exec_id: opts.execId ?? '', signal, all: opts.all ?? false });
  }

  /** Tasks.Get, or undefined when the container has no task. */
  async getTask(containerId: string, execId = ''): Promise<ProcessState | undefined> {
    try {
      const res = await this.unary<{ process: Omit<ProcessState, 'exited_at'> & { exited_at?: Timestamp } }>('tasks', 'Get', {
        container_id: containerId,
        exec_id: execId,
      });
      const p = res.process;
      return { container_id: p.container_id, id: p.id, pid: p.pid, status: p.status, exit_status: p.exit_status, exited_at: toDate(p.exited_at) };
    } catch (err) {
      if (isGantryError(err, 'NotFound')) return undefined;
      throw err;
    }
  }

  /** Tasks.List: all tasks of the namespace. */
  async listTasks(): Promise<ProcessState[]> {
    const res = await this.unary<{ tasks: (Omit<ProcessState, 'exited_at'> & { exited_at?: Timestamp })[] }>('tasks', 'List', { filter: '' });
    return res.tasks.map((p) => ({ container_id: p.container_id, id: p.id, pid: p.pid, status: p.status, exit_status: p.exit_status, exited_at: toDate(p.exited_at) }));
  }

  /** Tasks.Exec: adds process `execId` (OCI process spec as JSON Any) to a running task; start it with {@link startTask}. */
  async execProcess(req: { container_id: string; exec_id: string; spec: AnyValue; stdin?: string; stdout?: string; stderr?: string; terminal?: boolean }): Promise<void> {
    await this.unary('tasks', 'Exec', { stdin: '', stdout: '', stderr: '', terminal: false, ...req });
  }

  /** Tasks.ResizePty: the terminal size of the init process, or of exec process `execId`, in characters. */
  async resizePty(containerId: string, size: { width: number; height: number }, opts: { execId?: string } = {}): Promise<void> {
    await this.unary('tasks', 'ResizePty', { container_id: containerId, exec_id: opts.execId ?? '', width: size.width, height: size.height });
  }

  /**
   * Tasks.CloseIO with `stdin`: the shim closes its own writer of the process's stdin FIFO, so the
   * process reads end-of-file once the client's writer is closed too.
   */
  async closeStdin(containerId: string, opts: { execId?: string } = {}): Promise<void> {
    await this.unary('tasks', 'CloseIO', { container_id: containerId, exec_id: opts.execId ?? '', stdin: true });
  }

  /** Tasks.DeleteProcess of an exited exec process. */
  async deleteProcess(containerId: string, execId: string): Promise<ExitResult> {
    const res = await this.unary<{ exit_status: number; exited_at?: Timestamp }>('tasks', 'DeleteProcess', { container_id: containerId, exec_id: execId });
    return { exitStatus: res.exit_status, exitedAt: toDate(res.exited_at) };
  }

  /** Tasks.ListPids: host pids of the container's processes. */
  async listPids(containerId: string): Promise<number[]> {
    const res = await this.unary<{ processes: { pid: number }[] }>('tasks', 'ListPids', { container_id: containerId });
    return res.processes.map((p) => p.pid);
  }

  /**
   * Tasks.Metrics: the cgroup statistics of tasks (every task of the namespace, or those `filters`
   * select, `id==<container id>`), as containerd's shims read them; decode `data` with
   * cgroup-metrics.ts.
   */
  async taskMetrics(filters: string[] = []): Promise<TaskMetric[]> {
    const res = await this.unary<{ metrics: { id: string; timestamp?: Timestamp; data: AnyValue | null }[] }>('tasks', 'Metrics', { filters });
    return res.metrics.map((m) => ({ id: m.id, timestamp: toDate(m.timestamp), data: m.data ?? undefined }));
  }

  /** Tasks.Delete of a stopped (or created) task; returns its exit. */
  async deleteTask(containerId: string): Promise<ExitResult> {
    const res = await this.unary<{ exit_status: number; exited_at?: Timestamp }>('tasks', 'Delete', { container_id: containerId });
    return { exitStatus: res.exit_status, exitedAt: toDate(res.exited_at) };
  }

  // ---- events -----------------------------------------------------------------------------

  /**
   * Events.Subscribe as an async iterable of decoded events. Subscribe before starting tasks so no
   * exit is missed. Defaults to this namespace's task events; iteration ends when `signal` aborts.
   */
  async *subscribe(opts: { filters?: string[]; signal?: AbortSignal } = {}): AsyncGenerator<ContainerdEvent> {
    const filters = opts.filters ?? [`namespace==${this.conn.namespace},topic~="^/tasks/"`];
    for await (const env of this.serverStream('events', 'Subscribe', { filters }, { signal: opts.signal })) {
      const any = env.event as AnyValue | null;
      const type = any ? any.type_url.slice(any.type_url.lastIndexOf('/') + 1) : '';
      const payload = any ? decodeAny(any) : undefined;
      if (payload && 'exited_at' in payload) payload.exited_at = toDate(payload.exited_at as Timestamp | undefined);
      const kind = KNOWN_EVENTS[type] ?? 'other';
      yield {
        type,
        kind,
        topic: env.topic as string,
        namespace: env.namespace as string,
        timestamp: toDate(env.timestamp as Timestamp | undefined),
        event: payload,
      } as ContainerdEvent;
    }
  }
}

const KNOWN_EVENTS: Record<string, ContainerdEvent['kind']> = {
  'containerd.events.TaskExit': 'TaskExit',
  'containerd.events.TaskStart': 'TaskStart',
  'containerd.events.TaskOOM': 'TaskOOM',
  'containerd.events.TaskDelete': 'TaskDelete',
};

/** Converts a protobuf Timestamp to a Date (undefined for unset or zero). */
export function toDate(ts: Timestamp | null | undefined): Date | undefined {
  if (!ts) return undefined;
  const ms = Number(ts.seconds) * 1000 + Math.floor((ts.nanos ?? 0) / 1e6);
  // containerd sends the zero time (0001-01-01) for "never"; both map to undefined.
  return ms <= 0 ? undefined : new Date(ms);
}

/** True when a containerd version string ("1.6.20~ds1", "v1.7.2") is at least `min` ("1.6"). */
export function versionAtLeast(version: string, min: string): boolean {
  const parse = (v: string): number[] => (v.replace(/^v/, '').match(/^\d+(\.\d+)*/)?.[0] ?? '0').split('.').map(Number);
  const a = parse(version);
  const b = parse(min);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new GantryError('Internal', 'operation aborted');
}

/** Maps a gRPC failure to a GantryError naming the RPC. */
function mapGrpcError(err: grpc.ServiceError | Error, rpc: string, address: string): Error {
  if (isGantryError(err)) return err;
  const code = (err as grpc.ServiceError).code;
  const details = (err as grpc.ServiceError).details || err.message;
  switch (code) {
    case grpc.status.NOT_FOUND:
      return new GantryError('NotFound', `containerd ${rpc}: ${details}`, { cause: err });
    case grpc.status.ALREADY_EXISTS:
      return new GantryError('AlreadyExists', `containerd ${rpc}: ${details}`, { cause: err });
    case grpc.status.UNAVAILABLE:
      return new GantryError('RuntimeUnavailable', `containerd at ${address} is unavailable (${rpc}): ${details}`, { cause: err });
    case grpc.status.DEADLINE_EXCEEDED:
      return new GantryError('RuntimeUnavailable', `containerd at ${address} did not answer ${rpc} in time`, { cause: err });
    case grpc.status.INVALID_ARGUMENT:
    case grpc.status.FAILED_PRECONDITION:
      return new GantryError('InvalidArgument', `containerd ${rpc}: ${details}`, { cause: err });
    default:
      return new GantryError('Internal', `containerd ${rpc} failed: ${details}`, { cause: err });
  }
}
