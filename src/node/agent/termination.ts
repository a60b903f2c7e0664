/**
 * Stopping containers without waiting. The kubelet gives every pod its own worker, so a pod that
 * sits out a 30 s grace period delays nobody else; gantry's agent gets the same by never awaiting
 * a grace period at all: a stop is a small state machine kept on the container
 * ({@link ContainerRuntime.stopping}) that each sync of the pod advances one step.
 *
 * 1. first step: the stop signal (the image's STOPSIGNAL, else SIGTERM) to the init process
 *    (straight through the kernel where that is safe: {@link signalInit});
 * 2. the pod is synced again when the task exits (containerd's TaskExit event) or, at the latest,
 *    when the grace period ends;
 * 3. a step at or after the deadline sends SIGKILL to every process of the container, and the
 *    exit event follows within milliseconds.
 *
 * Every step is idempotent and reads containerd's task state first, so an agent that restarts
 * mid-stop simply starts over at step 1 with the same deadline (derived from the pod's
 * deletionTimestamp for deletions).
 */
import { readFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import type { ContainerdClient } from '../containerd/client.js';
import { signalTask } from '../containerd/run.js';
import type { ContainerRuntime } from './runtime.js';

/** How a graceful stop of one container instance is going. */
export interface StopProgress {
  /** When SIGKILL is due (epoch ms): the grace period's end. */
  deadline: number;
  /** The stop signal was sent. */
  signalled: boolean;
  /** SIGKILL was sent. */
  killed: boolean;
}

/** After SIGKILL the exit event normally arrives at once; this is the safety net's wait. */
const AFTER_KILL_RECHECK_MS = 500;

/**
 * Arms a stop of `c` due at `deadline`, unless one is under way (an earlier deadline wins: a
 * second deletion with a shorter grace period shortens the wait, as in Kubernetes).
 */
export function requestStop(c: ContainerRuntime, deadline: number): StopProgress {
  if (!c.stopping) c.stopping = { deadline, signalled: false, killed: false };
  else if (deadline < c.stopping.deadline) c.stopping.deadline = deadline;
  return c.stopping;
}

/**
 * Advances the stop of a container armed with {@link requestStop} by one step, without waiting
 * for the process.
 * @param opts.cgroupsPath the container's cgroup (`cgroupsPathFor(podUid, name)`), which lets a
 *   signal go straight to its init process (see {@link signalInit}).
 * @returns 0 when the container's task is no longer running (the caller records the exit), else
 *   the milliseconds after which the next step is due.
 */
export async function advanceStop(client: ContainerdClient, c: ContainerRuntime, opts: { now: number; cgroupsPath: string }): Promise<number> {
  const stop = c.stopping;
  if (!c.id || !stop || c.phase !== 'running') return 0;
  const task = await client.getTask(c.id);
  if (!task || task.status === 'STOPPED') return 0;
  if (task.status === 'CREATED' || opts.now >= stop.deadline) {
    // Past the grace period, or never started (nothing to be graceful with): kill every process.
    if (!stop.killed) {
      if (task.status === 'CREATED') await signalTask(client, c.id, { signal: osConstants.signals.SIGKILL, all: true });
      else await signalInit(client, c.id, { pid: task.pid, signal: osConstants.signals.SIGKILL, cgroupsPath: opts.cgroupsPath });
      stop.killed = true;
    }
    return AFTER_KILL_RECHECK_MS;
  }
  if (!stop.signalled) {
    await signalInit(client, c.id, { pid: task.pid, signal: c.stopSignal ?? osConstants.signals.SIGTERM, cgroupsPath: opts.cgroupsPath });
    stop.signalled = true;
  }
  return Math.max(1, stop.deadline - opts.now);
}

/**
 * Signals a running container's init process. containerd's Kill runs the `runc kill` binary for
 * every signal; a hundred pods reaching their grace period's end together made that a few
 * seconds of CPU on two cores, and SIGKILLs came late. So the signal goes straight to the host
 * pid when `/proc/<pid>/cgroup` shows that pid is still in the container's cgroup (a pid reused
 * by another process never is), through containerd otherwise. SIGKILL to init is enough to end
 * the whole container: every gantry container has its own PID namespace, and the kernel kills
 * all of a namespace's processes when its init dies.
 */
export async function signalInit(client: ContainerdClient, id: string, opts: { pid: number; signal: number; cgroupsPath: string }): Promise<void> {
  if (opts.pid > 0 && (await inCgroup(opts.pid, opts.cgroupsPath))) {
    try {
      process.kill(opts.pid, opts.signal);
      return;
    } catch (err) {
      // Gone between the check and the signal: it exited, which is what was asked.
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return;
    }
  }
  await signalTask(client, id, { signal: opts.signal, all: opts.signal === osConstants.signals.SIGKILL });
}

/** True when process `pid` belongs to `cgroupsPath` (in any hierarchy, cgroup v1 or v2). */
async function inCgroup(pid: number, cgroupsPath: string): Promise<boolean> {
  try {
    const text = await readFile(`/proc/${pid}/cgroup`, 'utf8');
    return text.split('\n').some((line) => line.endsWith(`:${cgroupsPath}`));
  } catch {
    return false;
  }
}
