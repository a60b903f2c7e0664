/**
 * Stopping containers without waiting. The kubelet gives every pod its own worker, so a pod that
 * sits out a 30 s grace period delays nobody else; gantry's agent gets the same by never awaiting
 * a grace period at all: a stop is a small state machine kept on the container
 * ({@link ContainerRuntime.stopping}) that each sync of the pod advances one step.
 *
 * 1. first step: the container's preStop hook, if it has one, started in the background; the pod
 *    is synced again when the hook ends, or at the deadline (the hook counts against the grace
 *    period, as in the kubelet);
 * 2. a sidecar waits for its turn: until the app containers and the sidecars after it are gone
 *    (sidecars stop last, in reverse order);
 * 3. the stop signal (the image's STOPSIGNAL, else SIGTERM) to the init process (straight
 *    through the kernel where that is safe: {@link signalInit}); when the hook or the wait for
 *    its turn used up the grace period, the process still gets 2 s (the kubelet's minimum);
 * 4. the pod is synced again when the task exits (containerd's TaskExit event) or, at the latest,
 *    when the grace period ends;
 * 5. a step at or after the deadline sends SIGKILL to every process of the container, and the
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
  /** The grace period's end (epoch ms): SIGKILL is due then, unless `killAt` moved it. */
  deadline: number;
  /** The preStop hook: running, or over (whatever its outcome). */
  hook?: 'running' | 'done';
  /** The container waited for its turn (a sidecar). */
  waited?: boolean;
  /** When SIGKILL is due, when the hook or the wait left less than the minimum after the signal. */
  killAt?: number;
  /** The stop signal was sent. */
  signalled: boolean;
  /** SIGKILL was sent. */
  killed: boolean;
}

/** After SIGKILL the exit event normally arrives at once; this is the safety net's wait. */
const AFTER_KILL_RECHECK_MS = 500;
/** The least time between the stop signal and SIGKILL after a hook or a wait (the kubelet's `minimumGracePeriodInSeconds`). */
export const MIN_GRACE_MS = 2000;

/** What one step of a stop needs besides the container. */
export interface StopStepOptions {
  now: number;
  /** The container's cgroup (`cgroupsPathFor(podUid, name)`): signals may go straight to its init process. */
  cgroupsPath: string;
  /** Starts the container's preStop hook (only called once, and only before the deadline). */
  preStop?: () => Promise<void>;
  /** Called when the hook ends: the stop can go on. */
  onHookDone?: () => void;
  /** Not this container's turn yet (a sidecar while app containers, or later sidecars, run). */
  waitTurn?: boolean;
  /** The container shares the host's PID namespace: killing its init does not end the rest. */
  hostPID?: boolean;
}

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
 * for the process or the hook.
 * @returns 0 when the container's task is no longer running (the caller records the exit), else
 *   the milliseconds after which the next step is due.
 */
export async function advanceStop(client: ContainerdClient, c: ContainerRuntime, opts: StopStepOptions): Promise<number> {
  const stop = c.stopping;
  if (!c.id || !stop || c.phase !== 'running') return 0;
  const task = await client.getTask(c.id);
  if (!task || task.status === 'STOPPED') return 0;
  const now = opts.now;
  const kill = async (): Promise<number> => {
    if (!stop.killed) {
      if (task.status === 'CREATED' || opts.hostPID) await signalTask(client, c.id!, { signal: osConstants.signals.SIGKILL, all: true });
      else await signalInit(client, c.id!, { pid: task.pid, signal: osConstants.signals.SIGKILL, cgroupsPath: opts.cgroupsPath });
      stop.killed = true;
    }
    return AFTER_KILL_RECHECK_MS;
  };
  // Never started: nothing to be graceful with.
  if (task.status === 'CREATED') return kill();
  if (opts.preStop && stop.hook === undefined && now < stop.deadline) {
    stop.hook = 'running';
    void opts.preStop().finally(() => {
      stop.hook = 'done';
      opts.onHookDone?.();
    });
  }
  if (stop.hook === 'running' && now < stop.deadline) return stop.deadline - now;
  if (opts.waitTurn && now < stop.deadline) {
    stop.waited = true;
    return stop.deadline - now;
  }
  if (!stop.signalled) {
    // A hook or a wait that used the grace period up still leaves the process its minimum.
    if (stop.hook !== undefined || stop.waited) stop.killAt = Math.max(stop.deadline, now + MIN_GRACE_MS);
    if (now < (stop.killAt ?? stop.deadline)) {
      await signalInit(client, c.id, { pid: task.pid, signal: c.stopSignal ?? osConstants.signals.SIGTERM, cgroupsPath: opts.cgroupsPath });
      stop.signalled = true;
    }
  }
  const killAt = stop.killAt ?? stop.deadline;
  if (now >= killAt) return kill();
  return Math.max(1, killAt - now);
}

/**
 * Signals a running container's init process. containerd's Kill runs the `runc kill` binary for
 * every signal; a hundred pods reaching their grace period's end together made that a few
 * seconds of CPU on two cores, and SIGKILLs came late. So the signal goes straight to the host
 * pid when `/proc/<pid>/cgroup` shows that pid is still in the container's cgroup (a pid reused
 * by another process never is), through containerd otherwise. SIGKILL to init is enough to end
 * the whole container when it has its own PID namespace (the kernel kills all of a namespace's
 * processes when its init dies); with the host's (`hostPID`) `all` sends it through containerd
 * to every process of the container's cgroup.
 */
export async function signalInit(client: ContainerdClient, id: string, opts: { pid: number; signal: number; cgroupsPath: string; all?: boolean }): Promise<void> {
  if (!opts.all && opts.pid > 0 && (await inCgroup(opts.pid, opts.cgroupsPath))) {
    try {
      process.kill(opts.pid, opts.signal);
      return;
    } catch (err) {
      // Gone between the check and the signal: it exited, which is what was asked.
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return;
    }
  }
  await signalTask(client, id, { signal: opts.signal, all: opts.all || opts.signal === osConstants.signals.SIGKILL });
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
