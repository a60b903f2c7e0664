/**
 * Named pipes (FIFOs) as the stdio of a containerd process, the way containerd's own `cio` wires
 * them: the client makes the FIFOs, opens its ends first, and hands the paths to the shim, which
 * opens the other ends when the process is created or started.
 *
 * Opening a FIFO blocks until the other side opens it, which would park a libuv thread-pool
 * thread (there are four) for as long as the shim takes, or forever if the exec is refused. So
 * every end is opened non-blocking, and each is wrapped in a `net.Socket`, which libuv drives
 * from the event loop like any pipe:
 *
 * - stdin is opened read-write: that never blocks, and with no reader yet it does not fail
 *   (ENXIO) as a write-only open would. Our end is only ever written.
 * - stdout/stderr are opened read-only. A FIFO read with no writer reports end-of-file, so until
 *   the shim has its writer open a placeholder writer of ours keeps the pipe from "ending" at
 *   once; {@link FifoSet.releaseKeepers} closes it after the process has started.
 */
import { execFile } from 'node:child_process';
import { close as closeFd, constants as fsConstants, open as openFd } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { GantryError } from '../../errors.js';

const run = promisify(execFile);
// Plain fd numbers, not FileHandles: a FileHandle closes its fd when garbage-collected, which
// would pull the fd out from under the socket that now owns it.
const openRaw = promisify(openFd);
const closeRaw = promisify(closeFd);

/** Which of the three streams to create. */
export interface FifoWants {
  stdin?: boolean;
  stdout?: boolean;
  stderr?: boolean;
}

/** The FIFOs of one process: their paths for the shim, and our ends as sockets. */
export interface FifoSet {
  /** Paths to pass as the process's stdio ('' for a stream not wanted). */
  paths: { stdin: string; stdout: string; stderr: string };
  /** Our writing end of stdin. */
  stdin?: net.Socket;
  /** Our reading ends of stdout and stderr. */
  stdout?: net.Socket;
  stderr?: net.Socket;
  /** Closes the placeholder writers of stdout/stderr; call once the shim holds its writers (after Start). */
  releaseKeepers(): Promise<void>;
  /** Destroys our ends and removes the directory. Idempotent. */
  dispose(): Promise<void>;
}

/** Makes a FIFO with coreutils' `mkfifo` (Node has no mkfifo of its own). */
async function mkfifo(file: string): Promise<void> {
  try {
    await run('mkfifo', ['-m', '0600', file]);
  } catch (err) {
    throw new GantryError('Internal', `cannot create FIFO ${file}: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}`);
  }
}

/** A socket over an fd opened non-blocking. The socket owns (and closes) the fd. */
function socketOn(fd: number, mode: 'read' | 'write'): net.Socket {
  const s = new net.Socket({ fd, readable: mode === 'read', writable: mode === 'write', allowHalfOpen: true });
  // A reset end is reported through the process's outcome, not as an uncaught error.
  s.on('error', () => undefined);
  return s;
}

/**
 * Creates the FIFOs a process needs in `dir` (made if missing, removed by `dispose`) and opens
 * our ends of them without blocking.
 */
export async function createFifos(dir: string, wants: FifoWants): Promise<FifoSet> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const sockets: net.Socket[] = [];
  const keepers: number[] = [];
  let disposed = false;
  const releaseKeepers = async (): Promise<void> => {
    for (const k of keepers.splice(0)) await closeRaw(k).catch(() => undefined);
  };
  const set: FifoSet = {
    paths: { stdin: '', stdout: '', stderr: '' },
    releaseKeepers,
    async dispose() {
      if (disposed) return;
      disposed = true;
      await releaseKeepers();
      for (const s of sockets) s.destroy();
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    if (wants.stdin) {
      const p = path.join(dir, 'stdin');
      await mkfifo(p);
      set.stdin = socketOn(await openRaw(p, fsConstants.O_RDWR | fsConstants.O_NONBLOCK), 'write');
      sockets.push(set.stdin);
      set.paths.stdin = p;
    }
    for (const name of ['stdout', 'stderr'] as const) {
      if (!wants[name]) continue;
      const p = path.join(dir, name);
      await mkfifo(p);
      const fd = await openRaw(p, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
      // With a reader open, a non-blocking write-only open succeeds at once.
      keepers.push(await openRaw(p, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK));
      const s = socketOn(fd, 'read');
      sockets.push(s);
      set[name] = s;
      set.paths[name] = p;
    }
  } catch (err) {
    await set.dispose();
    throw err;
  }
  return set;
}
