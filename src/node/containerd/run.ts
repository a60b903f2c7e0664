/**
 * Container lifecycle on top of {@link ContainerdClient}: create (snapshot + container + task),
 * start, wait, stop with a grace period, exec, and idempotent deletion. Pods build on these.
 *
 * Lifecycle: `createContainer` → `startTask` → (`waitTask` / events) → `stopTask` →
 * `deleteContainer`. A restart of the same container is `deleteTask` → `createTask` → `startTask`.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { constants as osConstants } from 'node:os';
import { GantryError, isGantryError } from '../../errors.js';
import type { LocalImage } from '../images/image-store.js';
import type { ContainerdClient } from './client.js';
import { createFifos } from './fifo.js';
import { encodeAny, jsonAny } from './proto.js';
import { PROCESS_TYPE_URL, SPEC_TYPE_URL, buildProcess } from './spec.js';
import type { ContainerRecord, ExitResult } from './types.js';

/** containerd's runtime for runc (shim v2). */
export const RUNC_RUNTIME = 'io.containerd.runc.v2';

/** Options for {@link createContainer}. */
export interface CreateContainerOptions {
  /** containerd container id (also the snapshot key). */
  id: string;
  /** The image, from getImage/pullImage. */
  image: Pick<LocalImage, 'name' | 'chainId' | 'snapshotter'>;
  /** OCI runtime spec, e.g. from {@link buildSpec}. */
  spec: Record<string, unknown>;
  labels?: Record<string, string>;
  /** Files receiving the process's stdout/stderr (created if missing, appended to). May be the same file. */
  stdoutPath: string;
  stderrPath: string;
  /**
   * runc state directory (e.g. the private daemon's `runcRoot`), stored in the container's runtime
   * options so every task of it uses the same root. Default: runc's default under /run.
   */
  runcRoot?: string;
}

/** Options for {@link createTask}. */
export interface CreateTaskOptions {
  stdoutPath: string;
  stderrPath: string;
}

/** runc shim options as a containerd Any. */
export function runcOptions(runcRoot?: string): ReturnType<typeof encodeAny> {
  return encodeAny('containerd.runc.v1.Options', runcRoot ? { root: runcRoot } : {});
}

/**
 * Creates the container: an active snapshot on the image's top layer, the container record with
 * spec and labels, and its task (created, not started; stdio wired to the given files).
 * On failure, whatever was created is removed again.
 * @throws GantryError AlreadyExists when a container with this id exists.
 */
export async function createContainer(client: ContainerdClient, opts: CreateContainerOptions): Promise<ContainerRecord> {
  const snapshotter = opts.image.snapshotter;
  // Until the container record references the new snapshot, only a lease keeps containerd's
  // garbage collector (which runs after any deletion) from removing it.
  const record = await client.withLease(
    async (l) => {
      await l.prepareSnapshot(opts.id, opts.image.chainId, { snapshotter });
      try {
        return await l.createContainerRecord({
          id: opts.id,
          image: opts.image.name,
          labels: opts.labels ?? {},
          runtime: { name: RUNC_RUNTIME, options: runcOptions(opts.runcRoot) },
          spec: jsonAny(SPEC_TYPE_URL, opts.spec),
          snapshotter,
          snapshot_key: opts.id,
        });
      } catch (err) {
        await l.removeSnapshot(opts.id, snapshotter).catch(() => undefined);
        throw err;
      }
    },
    { expireMs: 60_000 },
  );
  try {
    await createTask(client, opts.id, { stdoutPath: opts.stdoutPath, stderrPath: opts.stderrPath, snapshotter });
  } catch (err) {
    await client.deleteContainerRecord(opts.id).catch(() => undefined);
    await client.removeSnapshot(opts.id, snapshotter).catch(() => undefined);
    throw err;
  }
  return record;
}

/**
 * The path to hand the shim for stderr. When stdout and stderr are the same string, containerd's
 * runc shim (1.6, 1.7) opens the file once and shares it, but the stdout copier closes the shared
 * file when stdout ends: whatever stderr still had to copy is lost (measured: the last stderr line
 * missing from 10 of 40 short-lived containers). The same file under a second spelling is opened
 * twice, each copier with its own O_APPEND descriptor, so both streams land in full, interleaved
 * as written.
 */
export function stderrTarget(stdoutPath: string, stderrPath: string): string {
  if (stderrPath !== stdoutPath || !stderrPath) return stderrPath;
  return `${path.dirname(stderrPath)}/./${path.basename(stderrPath)}`;
}

/** Makes sure a stdio file exists (the shim opens it for append, and fails when it is missing). */
async function touch(file: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const fh = await open(file, 'a');
  await fh.close();
}

/** Creates the task of an existing container (first start, or again after {@link deleteTask} for a restart). */
export async function createTask(client: ContainerdClient, id: string, opts: CreateTaskOptions & { snapshotter?: string }): Promise<{ pid: number }> {
  await touch(opts.stdoutPath);
  if (opts.stderrPath !== opts.stdoutPath) await touch(opts.stderrPath);
  let snapshotter = opts.snapshotter;
  if (!snapshotter) {
    const record = await client.getContainerRecord(id);
    if (!record) throw new GantryError('NotFound', `container ${id} does not exist`);
    snapshotter = record.snapshotter;
  }
  const rootfs = await client.snapshotMounts(id, snapshotter);
  return client.createTask({ container_id: id, rootfs, stdout: opts.stdoutPath, stderr: stderrTarget(opts.stdoutPath, opts.stderrPath) });
}

/** Starts the container's created task. @returns the host pid of its init process. */
export async function startTask(client: ContainerdClient, id: string): Promise<number> {
  return (await client.startTask(id)).pid;
}

/** Waits for the task to exit. */
export function waitTask(client: ContainerdClient, id: string, opts: { signal?: AbortSignal } = {}): Promise<ExitResult> {
  return client.waitTask(id, opts);
}

/** Options for {@link stopTask}. */
export interface StopTaskOptions {
  /** Time between the stop signal and SIGKILL; default 30 s (Kubernetes' default grace period). */
  gracePeriodMs?: number;
  /** Stop signal number; default SIGTERM (use the image's StopSignal when set). */
  signal?: number;
}

/**
 * Stops the task: the stop signal to the init process, then after the grace period SIGKILL to every
 * process of the container. Returns the exit (137 when it had to be killed). A task that already
 * exited returns its exit status; no task → undefined.
 */
export async function stopTask(client: ContainerdClient, id: string, opts: StopTaskOptions = {}): Promise<ExitResult | undefined> {
  const task = await client.getTask(id);
  if (!task) return undefined;
  if (task.status === 'STOPPED') return { exitStatus: task.exit_status, exitedAt: task.exited_at };
  const abort = new AbortController();
  const exited = client.waitTask(id, { signal: abort.signal });
  // Keep the rejection observed while we signal; it is awaited below.
  exited.catch(() => undefined);
  try {
    if (task.status === 'CREATED') {
      // Never started: nothing to be graceful with.
      await signalTask(client, id, { signal: osConstants.signals.SIGKILL, all: true });
    } else {
      await signalTask(client, id, { signal: opts.signal ?? osConstants.signals.SIGTERM });
      const grace = opts.gracePeriodMs ?? 30_000;
      const timedOut = await Promise.race([exited.then(() => false), sleep(grace, true, { signal: abort.signal }).catch(() => false)]);
      if (timedOut) await signalTask(client, id, { signal: osConstants.signals.SIGKILL, all: true });
    }
    return await exited;
  } finally {
    abort.abort();
  }
}

/**
 * Sends `signal` to a container's init process (`all`: to every process of it; `execId`: to an
 * exec'd process instead). A task that has already gone is no error: it finished between the
 * caller's check and the signal.
 */
export async function signalTask(client: ContainerdClient, id: string, opts: { signal: number; all?: boolean; execId?: string }): Promise<void> {
  try {
    await client.killTask(id, opts.signal, { all: opts.all ?? false, execId: opts.execId });
  } catch (err) {
    if (!isGantryError(err, 'NotFound')) throw err;
  }
}

/** Deletes the container's (stopped) task, returning its exit; undefined when there was none. */
export async function deleteTask(client: ContainerdClient, id: string): Promise<ExitResult | undefined> {
  try {
    return await client.deleteTask(id);
  } catch (err) {
    if (isGantryError(err, 'NotFound')) return undefined;
    throw err;
  }
}

/**
 * Removes everything of a container, whatever state it is in: kills a running task (SIGKILL to
 * all its processes), deletes the task, the container record and its snapshot. Idempotent.
 */
export async function deleteContainer(client: ContainerdClient, id: string): Promise<void> {
  const task = await client.getTask(id);
  if (task && task.status !== 'STOPPED') await stopTask(client, id, { gracePeriodMs: 0 });
  await deleteTask(client, id);
  const record = await client.getContainerRecord(id);
  await client.deleteContainerRecord(id);
  await client.removeSnapshot(record?.snapshot_key || id, record?.snapshotter || undefined);
}

/** Options for {@link execInContainer}. */
export interface ExecOptions {
  args: string[];
  /**
   * The container's own OCI process (user, groups, capabilities, env, working dir): the exec runs
   * as it, with `args`, as containerd's CRI runs an exec. Without it: root with default settings.
   */
  process?: Record<string, unknown>;
  env?: string[];
  cwd?: string;
  user?: { uid: number; gid: number };
  /** Where the process's output goes; default: discarded. */
  stdoutPath?: string;
  stderrPath?: string;
  /** Kill the process (SIGKILL) after this long; default no limit. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Runs a process in a running container (exec probes) and waits for it.
 * @returns the exit status, and `timedOut` when it was killed for exceeding `timeoutMs`.
 */
export async function execInContainer(client: ContainerdClient, id: string, opts: ExecOptions): Promise<{ exitStatus: number; timedOut: boolean }> {
  const execId = `exec-${randomBytes(6).toString('hex')}`;
  if (opts.stdoutPath) await touch(opts.stdoutPath);
  if (opts.stderrPath && opts.stderrPath !== opts.stdoutPath) await touch(opts.stderrPath);
  const spec = opts.process
    ? { ...opts.process, args: opts.args, terminal: false, ...(opts.env ? { env: opts.env } : {}) }
    : buildProcess({ args: opts.args, env: opts.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], cwd: opts.cwd, user: opts.user });
  delete (spec as { consoleSize?: unknown }).consoleSize;
  await client.execProcess({
    container_id: id,
    exec_id: execId,
    spec: jsonAny(PROCESS_TYPE_URL, spec),
    stdout: opts.stdoutPath ?? '',
    stderr: stderrTarget(opts.stdoutPath ?? '', opts.stderrPath ?? opts.stdoutPath ?? ''),
  });
  const abort = new AbortController();
  const onAbort = (): void => abort.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const exited = client.waitTask(id, { execId, signal: abort.signal });
    exited.catch(() => undefined);
    await client.startTask(id, execId);
    let timedOut = false;
    if (opts.timeoutMs !== undefined) {
      timedOut = await Promise.race([exited.then(() => false), sleep(opts.timeoutMs, true, { signal: abort.signal }).catch(() => false)]);
      if (timedOut) await signalTask(client, id, { signal: osConstants.signals.SIGKILL, execId });
    }
    const { exitStatus } = await exited;
    return { exitStatus, timedOut };
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    abort.abort();
    await client.deleteProcess(id, execId).catch(() => undefined);
  }
}

/** Options for {@link startExec}. */
export interface StreamingExecOptions {
  /** The OCI process to run (e.g. the container's own, with other args); `terminal` is set from `tty`. */
  process: Record<string, unknown>;
  /** Run on a pseudo-terminal: its output comes on stdout, there is no stderr. */
  tty?: boolean;
  /** Which streams the caller wants. */
  stdin?: boolean;
  stdout?: boolean;
  stderr?: boolean;
  /** A directory of this exec's own for its FIFOs; removed at {@link StreamingExec.dispose}. */
  fifoDir: string;
  /** Initial terminal size (tty only). */
  size?: { width: number; height: number };
}

/** A started exec process with streaming stdio. */
export interface StreamingExec {
  execId: string;
  /** Write the process's input here; {@link StreamingExec.closeStdin} ends it. */
  stdin?: NodeJS.WritableStream;
  stdout?: NodeJS.ReadableStream;
  stderr?: NodeJS.ReadableStream;
  /** Resolves with the exit status when the process exits. */
  exited: Promise<number>;
  /** Flushes and closes our end of stdin, then asks the shim to close its own: the process reads EOF. */
  closeStdin(): Promise<void>;
  /** Sets the terminal size (tty only). */
  resize(size: { width: number; height: number }): Promise<void>;
  /** SIGKILL to the process, when it still runs. */
  kill(): Promise<void>;
  /** Waits (bounded) for the exit, deletes the process in containerd and removes the FIFOs. Idempotent. */
  dispose(): Promise<void>;
}

/**
 * Starts a process in a running container with its stdio on FIFOs, for interactive use
 * (`kubectl exec`). Unlike {@link execInContainer} it returns as soon as the process runs; the
 * caller streams, then calls `dispose` in every outcome.
 */
export async function startExec(client: ContainerdClient, id: string, opts: StreamingExecOptions): Promise<StreamingExec> {
  const execId = `exec-${randomBytes(6).toString('hex')}`;
  const tty = opts.tty ?? false;
  const fifos = await createFifos(opts.fifoDir, { stdin: opts.stdin, stdout: opts.stdout, stderr: opts.stderr && !tty });
  const proc = { ...opts.process, terminal: tty, ...(tty && opts.size ? { consoleSize: { height: opts.size.height, width: opts.size.width } } : {}) };
  const abort = new AbortController();
  let created = false;
  let exitedAt: number | undefined;
  let disposed: Promise<void> | undefined;
  const dispose = (): Promise<void> => {
    disposed ??= (async () => {
      if (created) {
        // A process that has not exited cannot be deleted: give it a moment after a kill.
        if (exitedAt === undefined) await Promise.race([exited.catch(() => undefined), sleep(5000)]);
        abort.abort();
        await client.deleteProcess(id, execId).catch(() => undefined);
      }
      await fifos.dispose();
    })();
    return disposed;
  };
  let exited: Promise<number> = Promise.resolve(-1);
  try {
    await client.execProcess({ container_id: id, exec_id: execId, spec: jsonAny(PROCESS_TYPE_URL, proc), terminal: tty, ...fifos.paths });
    created = true;
    exited = client.waitTask(id, { execId, signal: abort.signal }).then((r) => {
      exitedAt = Date.now();
      return r.exitStatus;
    });
    exited.catch(() => undefined);
    await client.startTask(id, execId);
    // The shim now holds its writers of stdout/stderr: from here their end-of-file is the process's.
    await fifos.releaseKeepers();
  } catch (err) {
    await dispose();
    throw err;
  }
  let stdinClosed: Promise<void> | undefined;
  return {
    execId,
    stdin: fifos.stdin,
    stdout: fifos.stdout,
    stderr: fifos.stderr,
    exited,
    closeStdin() {
      stdinClosed ??= (async () => {
        const s = fifos.stdin;
        if (!s) return;
        if (!s.destroyed) {
          await new Promise<void>((resolve) => {
            s.once('close', () => resolve());
            // Our end is closed once what was written is flushed; a write error ends it at once.
            s.once('error', () => s.destroy());
            s.end(() => s.destroy());
            setTimeout(() => s.destroy(), 5000).unref();
          });
        }
        await client.closeStdin(id, { execId }).catch((err: unknown) => {
          if (!isGantryError(err, 'NotFound')) throw err;
        });
      })();
      return stdinClosed;
    },
    async resize(size) {
      if (!tty || exitedAt !== undefined) return;
      await client.resizePty(id, size, { execId }).catch((err: unknown) => {
        if (!isGantryError(err, 'NotFound')) throw err;
      });
    },
    async kill() {
      if (exitedAt !== undefined) return;
      await signalTask(client, id, { signal: osConstants.signals.SIGKILL, execId });
    },
    dispose,
  };
}
