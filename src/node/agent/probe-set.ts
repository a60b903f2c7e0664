/**
 * The probes of every container instance the agent runs, by containerd id: started when an
 * instance is running (after its postStart hook), read at each sync (ready, started, a kill
 * asked for), stopped when it ends. Failed runs become the kubelet's Unhealthy events.
 */
import type { SyncContext } from './context.js';
import type { ContainerTarget } from './context.js';
import { ContainerProbes } from './probes.js';
import { fieldPath, type ContainerRuntime } from './runtime.js';

/** The kubelet's names of the probes in its events. */
const probeTitle = { liveness: 'Liveness', readiness: 'Readiness', startup: 'Startup' } as const;

/** Probes by container instance. */
export class ProbeSet {
  private readonly probes = new Map<string, ContainerProbes>();

  constructor(private readonly ctx: SyncContext) {}

  /**
   * Starts the probes of a running instance and seeds ready/started: a run-to-completion init
   * container is never probed nor ready; a sidecar is probed as an app container is.
   */
  start(t: ContainerTarget, opts: { env?: string[]; ready?: boolean; started?: boolean }): void {
    const { pod, rt, c, spec } = t;
    if (!c.id) return;
    this.stop(c.id);
    const runs = c.kind === 'app' || !!c.sidecar;
    if (!runs || !ContainerProbes.needed(spec)) {
      c.ready = runs;
      c.started = true;
      return;
    }
    const probes = new ContainerProbes({
      target: { client: this.ctx.o.client, containerId: c.id, podIP: pod.spec.hostNetwork || !rt.podIP ? '127.0.0.1' : rt.podIP, container: spec, env: opts.env, process: c.process },
      onChange: () => this.ctx.o.requeue(rt.uid),
      // As the kubelet: every failed run is a Warning (the recorder counts the repeats).
      onFailure: (kind, message) => this.ctx.o.api.events.emit(pod, 'Warning', 'Unhealthy', `${probeTitle[kind]} probe failed: ${message}`, { fieldPath: fieldPath(c) }),
      initialReady: opts.ready,
      initialStarted: opts.started,
    });
    this.probes.set(c.id, probes);
    c.ready = probes.ready;
    c.started = probes.started;
    probes.start();
  }

  /** Copies the probes' verdicts onto the container entry (a kill they ask for included). */
  read(c: ContainerRuntime): void {
    const probes = c.id ? this.probes.get(c.id) : undefined;
    if (!probes) return;
    c.ready = probes.ready;
    c.started = probes.started;
    if (probes.kill && !c.killRequested) c.killRequested = probes.kill;
  }

  /** Stops the probes of one container instance. */
  stop(id: string): void {
    this.probes.get(id)?.stop();
    this.probes.delete(id);
  }

  /** Stops every probe (agent shutdown: containers keep running). */
  stopAll(): void {
    for (const p of this.probes.values()) p.stop();
    this.probes.clear();
  }
}
