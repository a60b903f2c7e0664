/**
 * Container probes as the kubelet runs them: startup, liveness and readiness; exec (a process in
 * the container through Tasks.Exec, as the container's own user), httpGet (200–399 is success),
 * tcpSocket (a connection is success) and grpc (grpc.health.v1 SERVING is success, see
 * grpc-probe.ts); Kubernetes' defaults (initialDelaySeconds 0, periodSeconds 10, timeoutSeconds 1,
 * successThreshold 1, failureThreshold 3). The startup probe gates the other two.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { errorMessage } from '../../errors.js';
import type { Container, Probe } from '../../model/types.js';
import type { ContainerdClient } from '../containerd/client.js';
import { execInContainer } from '../containerd/run.js';
import { grpcProbe } from './grpc-probe.js';

/** The outcome of one probe run. */
export interface ProbeResult {
  ok: boolean;
  /** Why it failed, for logs. */
  message?: string;
}

/** Where a probe of a container goes. */
export interface ProbeTarget {
  client: ContainerdClient;
  /** containerd id of the running container (exec probes). */
  containerId: string;
  /** The pod IP (httpGet/tcpSocket); loopback for host-network pods. */
  podIP: string;
  container: Container;
  /** Env for exec probes (the container's). */
  env?: string[];
  /** The container's own OCI process (user, capabilities, env): exec probes run as it does. */
  process?: Record<string, unknown>;
}

/** Probe settings with Kubernetes' defaults filled in. */
export function probeDefaults(p: Probe): Required<Pick<Probe, 'initialDelaySeconds' | 'periodSeconds' | 'timeoutSeconds' | 'successThreshold' | 'failureThreshold'>> {
  return {
    initialDelaySeconds: p.initialDelaySeconds ?? 0,
    periodSeconds: p.periodSeconds ?? 10,
    timeoutSeconds: p.timeoutSeconds ?? 1,
    successThreshold: p.successThreshold ?? 1,
    failureThreshold: p.failureThreshold ?? 3,
  };
}

/** Resolves a probe port: a number, or the name of one of the container's ports. */
export function resolvePort(port: number | string, container: Container): number | undefined {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

/** Runs a probe once. */
export async function runProbe(probe: Probe, target: ProbeTarget): Promise<ProbeResult> {
  const timeoutMs = probeDefaults(probe).timeoutSeconds * 1000;
  if (probe.exec) {
    try {
      const r = await execInContainer(target.client, target.containerId, { args: probe.exec.command, env: target.env, process: target.process, timeoutMs });
      if (r.timedOut) return { ok: false, message: `command timed out after ${timeoutMs / 1000}s` };
      return r.exitStatus === 0 ? { ok: true } : { ok: false, message: `command exited with ${r.exitStatus}` };
    } catch (err) {
      return { ok: false, message: (err as Error).message };
    }
  }
  if (probe.httpGet) {
    const port = resolvePort(probe.httpGet.port, target.container);
    if (port === undefined) return { ok: false, message: `port ${probe.httpGet.port} is not a container port` };
    return httpProbe({ host: probe.httpGet.host || target.podIP, port, path: probe.httpGet.path || '/', https: probe.httpGet.scheme === 'HTTPS', headers: probe.httpGet.httpHeaders ?? [], timeoutMs });
  }
  if (probe.tcpSocket) {
    const port = resolvePort(probe.tcpSocket.port, target.container);
    if (port === undefined) return { ok: false, message: `port ${probe.tcpSocket.port} is not a container port` };
    return tcpProbe(probe.tcpSocket.host || target.podIP, port, timeoutMs);
  }
  if (probe.grpc) return grpcProbe({ host: target.podIP, port: probe.grpc.port, service: probe.grpc.service, timeoutMs });
  return { ok: false, message: 'probe has no handler (exec, httpGet, tcpSocket or grpc)' };
}

/** One HTTP GET as the kubelet's probes and lifecycle hooks send it; `anyStatus`: every answer is success (hooks). */
export function httpProbe(opts: { host: string; port: number; path: string; https: boolean; headers: { name: string; value: string }[]; timeoutMs?: number; anyStatus?: boolean; signal?: AbortSignal }): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = { 'User-Agent': 'kube-probe/gantry', Accept: '*/*' };
    for (const h of opts.headers) headers[h.name] = h.value;
    const mod = opts.https ? https : http;
    const url = `${opts.https ? 'https' : 'http'}://${opts.host}:${opts.port}${opts.path}`;
    let req: http.ClientRequest;
    try {
      // Throws synchronously on a header name or value Node refuses (they come from the manifest).
      req = mod.request(
        {
          host: opts.host, port: opts.port, path: opts.path, method: 'GET', headers, agent: false,
          ...(opts.timeoutMs !== undefined ? { timeout: opts.timeoutMs } : {}),
          ...(opts.signal ? { signal: opts.signal } : {}),
          ...(opts.https ? { rejectUnauthorized: false } : {}),
        },
        (res) => {
          res.resume();
          const code = res.statusCode ?? 0;
          resolve(opts.anyStatus || (code >= 200 && code < 400) ? { ok: true } : { ok: false, message: `HTTP probe failed with statuscode: ${code}` });
        },
      );
    } catch (err) {
      resolve({ ok: false, message: `Get "${url}": ${errorMessage(err)}` });
      return;
    }
    req.on('timeout', () => req.destroy(new Error(`timeout after ${(opts.timeoutMs ?? 0) / 1000}s`)));
    req.on('error', (err) => resolve({ ok: false, message: `Get "${url}": ${err.message}` }));
    req.end();
  });
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (r: ProbeResult): void => {
      sock.destroy();
      resolve(r);
    };
    sock.setTimeout(timeoutMs, () => done({ ok: false, message: `dial tcp ${host}:${port}: i/o timeout` }));
    sock.once('connect', () => done({ ok: true }));
    sock.once('error', (err) => done({ ok: false, message: `dial tcp ${host}:${port}: ${err.message}` }));
  });
}

/** Options for {@link ContainerProbes}. */
export interface ContainerProbesOptions {
  target: ProbeTarget;
  /** Called whenever ready/started/kill changes. */
  onChange: () => void;
  /** Readiness to assume before the first readiness result (true for adopted, already-ready containers). */
  initialReady?: boolean;
  /** Startup already passed (adopted containers). */
  initialStarted?: boolean;
  /** Runs one probe; default {@link runProbe} (tests inject their own). */
  run?: (probe: Probe, target: ProbeTarget) => Promise<ProbeResult>;
  /** Called on every failed run (the kubelet's Unhealthy event), not only at the threshold. */
  onFailure?: (kind: ProbeKind, message: string) => void;
}

/** Which probe of a container. */
export type ProbeKind = 'startup' | 'liveness' | 'readiness';

/** The probes of one running container instance; stop() when the instance ends. */
export class ContainerProbes {
  /** Readiness: the probe's verdict, or (without a readiness probe) whether the container started. */
  ready: boolean;
  /** Startup probe passed (true when there is none). */
  started: boolean;
  /** Set when liveness or startup failed failureThreshold times in a row. */
  kill?: 'liveness' | 'startup';
  /** The last failure message per probe kind. */
  readonly lastFailure = new Map<ProbeKind, string>();
  private timers = new Set<ReturnType<typeof setTimeout>>();
  private stopped = false;
  private readonly run: (probe: Probe, target: ProbeTarget) => Promise<ProbeResult>;

  constructor(private readonly opts: ContainerProbesOptions) {
    const c = opts.target.container;
    this.run = opts.run ?? runProbe;
    this.started = !c.startupProbe || !!opts.initialStarted;
    // Without a readiness probe a container is ready once started (the startup probe gates it).
    this.ready = c.readinessProbe ? !!opts.initialReady && this.started : this.started;
  }

  /** True when the container has any probe. */
  static needed(c: Container): boolean {
    return !!(c.startupProbe || c.livenessProbe || c.readinessProbe);
  }

  /** Starts the probe loops. */
  start(): void {
    const c = this.opts.target.container;
    if (c.startupProbe && !this.started) this.loop('startup', c.startupProbe);
    else this.startGated();
  }

  /** Stops every loop; results after this are ignored. */
  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private startGated(): void {
    const c = this.opts.target.container;
    if (c.livenessProbe) this.loop('liveness', c.livenessProbe);
    if (c.readinessProbe) this.loop('readiness', c.readinessProbe);
  }

  private schedule(fn: () => void, ms: number): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    t.unref?.();
    this.timers.add(t);
  }

  private loop(kind: ProbeKind, probe: Probe): void {
    const d = probeDefaults(probe);
    let successes = 0;
    let failures = 0;
    const tick = async (): Promise<void> => {
      if (this.stopped) return;
      // A handler that throws is a failed probe; an escaped rejection would end this loop for good.
      const r = await this.run(probe, this.opts.target).catch((err: unknown): ProbeResult => ({ ok: false, message: errorMessage(err) }));
      if (this.stopped) return;
      if (r.ok) {
        successes++;
        failures = 0;
        this.lastFailure.delete(kind);
      } else {
        failures++;
        successes = 0;
        this.lastFailure.set(kind, r.message ?? 'failed');
        this.opts.onFailure?.(kind, r.message ?? '');
      }
      if (kind === 'startup') {
        if (successes >= 1) {
          this.started = true;
          if (!this.opts.target.container.readinessProbe) this.ready = true;
          this.opts.onChange();
          this.startGated();
          return;
        }
        if (failures >= d.failureThreshold) {
          this.kill = 'startup';
          this.opts.onChange();
          return;
        }
      } else if (kind === 'liveness') {
        if (failures >= d.failureThreshold) {
          this.kill = 'liveness';
          this.opts.onChange();
          return;
        }
      } else {
        const before = this.ready;
        if (successes >= d.successThreshold) this.ready = true;
        else if (failures >= d.failureThreshold) this.ready = false;
        if (before !== this.ready) this.opts.onChange();
      }
      this.schedule(() => void tick(), d.periodSeconds * 1000);
    };
    this.schedule(() => void tick(), d.initialDelaySeconds * 1000);
  }
}
