/**
 * Container lifecycle hook handlers, as the kubelet's handler runner runs them: exec (a process
 * in the container, as the container's own user; a non-zero exit fails), httpGet (any answer
 * succeeds, only a failed request fails), sleep (waits) and tcpSocket, which Kubernetes keeps in
 * the API for compatibility but refuses to run, so it fails here as it does there. Failure
 * messages are the kubelet's, so `kubectl describe` reads the same.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../../errors.js';
import type { Container, LifecycleHandler } from '../../model/types.js';
import type { ContainerdClient } from '../containerd/client.js';
import { execInContainer } from '../containerd/run.js';
import { httpProbe, resolvePort } from './probes.js';

/** Where a hook of one container instance runs. */
export interface HookTarget {
  client: ContainerdClient;
  containerId: string;
  container: Container;
  /** The pod as the kubelet names it in messages: `name_namespace(uid)`. */
  podName: string;
  /** Where httpGet goes when the handler names no host. */
  podIP: string;
  /** The container's own OCI process, which exec hooks run as. */
  process?: Record<string, unknown>;
  /** A directory for an exec hook's output while it runs (the pod's). */
  scratchDir: string;
}

/** The outcome of a hook. */
export interface HookResult {
  ok: boolean;
  message?: string;
}

/**
 * Runs one handler. `timeoutMs` bounds it (a preStop hook has the grace period, a postStart hook
 * no bound, as in the kubelet); `signal` abandons it (the container is gone).
 */
export async function runHook(handler: LifecycleHandler, target: HookTarget, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<HookResult> {
  const { container } = target;
  if (handler.exec) return execHook(handler.exec.command, target, opts);
  if (handler.httpGet) {
    const h = handler.httpGet;
    const port = resolvePort(h.port, container);
    const pathText = h.path || '/';
    const fail = (why: string): HookResult => ({ ok: false, message: `HTTP lifecycle hook (${pathText}) for Container "${container.name}" in Pod "${target.podName}" failed - error: ${why}` });
    if (port === undefined) return fail(`port ${h.port} is not a container port`);
    const r = await httpProbe({ host: h.host || target.podIP, port, path: pathText, https: h.scheme === 'HTTPS', headers: h.httpHeaders ?? [], timeoutMs: opts.timeoutMs, anyStatus: true, signal: opts.signal });
    return r.ok ? r : fail(r.message ?? 'request failed');
  }
  if (handler.sleep) {
    const ms = handler.sleep.seconds * 1000;
    // Cut short by the grace period's end or the container's, never longer than asked.
    await sleep(Math.min(ms, opts.timeoutMs ?? ms), undefined, { signal: opts.signal }).catch(() => undefined);
    return { ok: true };
  }
  if (handler.tcpSocket) {
    return { ok: false, message: `TCPSocket is not supported as a lifecycle handler for Container "${container.name}" in Pod "${target.podName}" (deprecated; Kubernetes keeps it only for compatibility and fails it too)` };
  }
  return { ok: false, message: `Cannot run handler: invalid handler for Container "${container.name}"` };
}

async function execHook(command: string[], target: HookTarget, opts: { timeoutMs?: number; signal?: AbortSignal }): Promise<HookResult> {
  const out = path.join(target.scratchDir, `hook-${randomBytes(6).toString('hex')}.out`);
  try {
    const r = await execInContainer(target.client, target.containerId, {
      args: command,
      process: target.process,
      stdoutPath: out,
      stderrPath: out,
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    if (r.exitStatus === 0 && !r.timedOut) return { ok: true };
    const output = (await readFile(out, 'utf8').catch(() => '')).slice(0, 4096);
    const why = r.timedOut ? `command '${command.join(' ')}' timed out` : `command '${command.join(' ')}' exited with ${r.exitStatus}: ${output}`;
    return { ok: false, message: `Exec lifecycle hook ([${command.join(' ')}]) for Container "${target.container.name}" in Pod "${target.podName}" failed - error: ${why}, message: ${JSON.stringify(output)}` };
  } catch (err) {
    return { ok: false, message: `Exec lifecycle hook ([${command.join(' ')}]) for Container "${target.container.name}" in Pod "${target.podName}" failed - error: ${errorMessage(err)}` };
  } finally {
    await rm(out, { force: true });
  }
}
