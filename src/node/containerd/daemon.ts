/**
 * A private containerd for gantry (as k3s runs its own): config, root, state, socket, log and
 * pidfile all live in one data directory, the CRI plugin is off, and containerd's `opt` plugin
 * writes inside the data directory instead of `/opt/containerd`.
 *
 * Layout of `dataDir`: `config.toml`, `root/`, `state/`, `opt/`, `runc/` (runc state, see
 * {@link PrivateContainerd.runcRoot}), `containerd.log`, `containerd.pid`, `containerd.sock`. Unix socket paths
 * are limited to ~107 bytes; when `dataDir/containerd.sock` would be longer, the socket goes to
 * `<os.tmpdir()>/gantry-<hash of dataDir>/containerd.sock` (stable per data dir, so a later gantry
 * finds it again).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, openSync, closeSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GantryError, errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';
import { ContainerdClient } from './client.js';

/** Longest socket path we use; sun_path is 108 bytes including the NUL. */
const MAX_SOCKET_PATH = 100;

/** Options for {@link startPrivateContainerd}. */
export interface PrivateContainerdOptions {
  /** Directory holding everything of this containerd (created if missing). Absolute or relative to cwd. */
  dataDir: string;
  logger?: Logger;
  /** containerd binary; default `containerd` from PATH. */
  binary?: string;
  /** How long to wait for the daemon to answer; default 30 s. */
  startTimeoutMs?: number;
  /**
   * Start containerd in its own session and leave it running when gantry exits (so containers keep
   * running across a gantry restart). Stop it later with {@link stopPrivateContainerd}.
   */
  detached?: boolean;
}

/** A running private containerd. */
export interface PrivateContainerd {
  /** Socket path to pass to {@link ContainerdClient.connect}. */
  address: string;
  pid: number;
  dataDir: string;
  /** runc state directory to put in the runc options of tasks (keeps it out of /run/containerd/runc). */
  runcRoot: string;
  /** SIGTERM, then SIGKILL after `timeoutMs` (default 10 s). Containers keep running in their shims. */
  stop(opts?: { timeoutMs?: number }): Promise<void>;
}

/** Paths of a private containerd inside `dataDir`. */
export interface PrivateContainerdPaths {
  dataDir: string;
  config: string;
  root: string;
  state: string;
  opt: string;
  runcRoot: string;
  log: string;
  pidfile: string;
  socket: string;
}

/** Where everything of the private containerd of `dataDir` lives. */
export function privateContainerdPaths(dataDir: string): PrivateContainerdPaths {
  const dir = path.resolve(dataDir);
  let socket = path.join(dir, 'containerd.sock');
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
    const hash = createHash('sha256').update(dir).digest('hex').slice(0, 12);
    socket = path.join(os.tmpdir(), `gantry-${hash}`, 'containerd.sock');
  }
  return {
    dataDir: dir,
    config: path.join(dir, 'config.toml'),
    root: path.join(dir, 'root'),
    state: path.join(dir, 'state'),
    opt: path.join(dir, 'opt'),
    runcRoot: path.join(dir, 'runc'),
    log: path.join(dir, 'containerd.log'),
    pidfile: path.join(dir, 'containerd.pid'),
    socket,
  };
}

/** containerd config (version 2) for a private daemon. */
export function privateContainerdConfig(p: PrivateContainerdPaths): string {
  const q = (s: string): string => JSON.stringify(s);
  return [
    '# Written by gantry for its private containerd; regenerated at every start.',
    'version = 2',
    `root = ${q(p.root)}`,
    `state = ${q(p.state)}`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
    '',
    '[grpc]',
    `  address = ${q(p.socket)}`,
    '',
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${q(p.opt)}`,
    '',
  ].join('\n');
}

/**
 * Starts a private containerd in `dataDir` and waits until it answers Version. Reuses a live one
 * already running for the same data dir (see {@link findRunningPrivateContainerd}).
 * @throws GantryError RuntimeUnavailable with the tail of containerd's log when it does not come up.
 */
export async function startPrivateContainerd(opts: PrivateContainerdOptions): Promise<PrivateContainerd> {
  const p = privateContainerdPaths(opts.dataDir);
  const running = await findRunningPrivateContainerd(p.dataDir);
  if (running) {
    opts.logger?.info({ pid: running.pid, address: running.address }, 'reusing running private containerd');
    return running;
  }
  await Promise.all([p.root, p.state, p.opt, p.runcRoot, path.dirname(p.socket)].map((d) => mkdir(d, { recursive: true, mode: 0o711 })));
  // A stale socket from a crashed daemon would make the readiness check talk to nothing.
  await rm(p.socket, { force: true });
  await writeFile(p.config, privateContainerdConfig(p));
  const logFd = openSync(p.log, 'a');
  let child: ChildProcess;
  try {
    child = spawn(opts.binary ?? 'containerd', ['--config', p.config, '--root', p.root, '--state', p.state, '--address', p.socket], {
      stdio: ['ignore', logFd, logFd],
      detached: opts.detached ?? false,
    });
  } finally {
    closeSync(logFd);
  }
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, sig) => resolve(sig ?? code ?? 0)));
  if (opts.detached) child.unref();
  const pid = await Promise.race([
    spawnError.then((err) => {
      throw new GantryError('RuntimeUnavailable', `cannot start containerd: ${err.message} (is the containerd package installed?)`, { cause: err });
    }),
    new Promise<number>((resolve) => (child.pid ? resolve(child.pid) : child.once('spawn', () => resolve(child.pid as number)))),
  ]);
  await writeFile(p.pidfile, `${pid}\n`);
  opts.logger?.info({ pid, address: p.socket, dataDir: p.dataDir }, 'started private containerd');

  const deadline = Date.now() + (opts.startTimeoutMs ?? 30_000);
  let lastError = '';
  let exitedWith: number | string | undefined;
  void exited.then((v) => (exitedWith = v));
  for (;;) {
    if (exitedWith !== undefined) {
      throw new GantryError('RuntimeUnavailable', `containerd exited (${exitedWith}) while starting; end of ${p.log}:\n${await logTail(p.log)}`);
    }
    if (existsSync(p.socket)) {
      try {
        const c = await ContainerdClient.connect({ address: p.socket, namespace: 'gantry', timeoutMs: 2_000 });
        c.close();
        break;
      } catch (err) {
        lastError = errorMessage(err);
      }
    }
    if (Date.now() > deadline) {
      await stopPid(pid, child, 2_000);
      throw new GantryError(
        'RuntimeUnavailable',
        `containerd did not answer on ${p.socket} within ${Math.round((opts.startTimeoutMs ?? 30_000) / 1000)} s${lastError ? ` (${lastError})` : ''}; end of ${p.log}:\n${await logTail(p.log)}`,
      );
    }
    await sleep(100);
  }
  return handle(p, pid, child);
}

/**
 * The private containerd of `dataDir` if one is running: its pidfile names a live containerd
 * process and its socket answers. Lets `gantry up` reuse a detached daemon and `gantry down` stop it.
 */
export async function findRunningPrivateContainerd(dataDir: string): Promise<PrivateContainerd | undefined> {
  const p = privateContainerdPaths(dataDir);
  const pid = Number((await readFile(p.pidfile, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined;
  // Guard against pid reuse: the process must be containerd serving this data dir.
  const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
  if (!cmdline[0]?.endsWith('containerd') || !cmdline.includes(p.socket)) return undefined;
  const st = await stat(p.socket).catch(() => undefined);
  if (!st?.isSocket()) return undefined;
  try {
    const c = await ContainerdClient.connect({ address: p.socket, namespace: 'gantry', timeoutMs: 2_000 });
    c.close();
  } catch {
    return undefined;
  }
  return handle(p, pid, undefined);
}

/** Stops the private containerd of `dataDir` if it runs (for `gantry down`). @returns whether one was stopped. */
export async function stopPrivateContainerd(dataDir: string, opts: { timeoutMs?: number } = {}): Promise<boolean> {
  const running = await findRunningPrivateContainerd(dataDir);
  if (!running) return false;
  await running.stop(opts);
  return true;
}

function handle(p: PrivateContainerdPaths, pid: number, child: ChildProcess | undefined): PrivateContainerd {
  return {
    address: p.socket,
    pid,
    dataDir: p.dataDir,
    runcRoot: p.runcRoot,
    async stop(stopOpts = {}) {
      await stopPid(pid, child, stopOpts.timeoutMs ?? 10_000);
      await rm(p.pidfile, { force: true });
    },
  };
}

/** SIGTERM, wait, SIGKILL. Waits on the child's exit when we are its parent (a zombie still answers kill 0). */
async function stopPid(pid: number, child: ChildProcess | undefined, timeoutMs: number): Promise<void> {
  const gone = (): boolean => (child ? child.exitCode !== null || child.signalCode !== null : !isAlive(pid));
  if (gone()) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + timeoutMs;
  while (!gone() && Date.now() < deadline) await sleep(50);
  if (gone()) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  const killDeadline = Date.now() + 5_000;
  while (!gone() && Date.now() < killDeadline) await sleep(50);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function logTail(file: string, lines = 20): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
