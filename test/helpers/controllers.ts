/**
 * Shared pieces of the controller unit tests: a clock the test moves, waiting for a condition,
 * edits that retry on conflicts, a stand-in for scheduler + node agent, Node objects, and a
 * ControllerManager built, and waited on, the way every controller test does it.
 *
 * Plain functions: each test file keeps its own `store`, `manager` and hooks.
 */
import assert from 'node:assert/strict';
import type { NodeCondition } from '../../src/controllers/nodelifecycle.js';
import type { Clock } from '../../src/controllers/queue.js';
import { ControllerManager, type Controller } from '../../src/controllers/runtime.js';
import type { KubeObject, Node, Pod, Taint } from '../../src/model/types.js';
import type { Store } from '../../src/store/types.js';

/** The namespace controller tests put their objects in. */
export const NS = 'default';

/**
 * Test time: long timers (≥ 1 s: deadlines, backoff, TTL) fire only when the test advances the
 * clock; short ones (queue retries) run on real timers without moving test time.
 */
export class TestClock implements Clock {
  t = Date.now();
  private timers = new Map<number, { at: number; fn: () => void; real?: ReturnType<typeof setTimeout> }>();
  private id = 0;
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.id;
    if (ms < 1000) {
      const real = setTimeout(() => {
        this.timers.delete(id);
        fn();
      }, Math.min(ms, 20));
      this.timers.set(id, { at: this.t + ms, fn, real });
    } else this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    const x = this.timers.get(h as number);
    if (x?.real) clearTimeout(x.real);
    this.timers.delete(h as number);
  }
  /** Moves test time forward by `ms` and fires the long timers that fall due, earliest first. */
  advance(ms: number): void {
    this.t += ms;
    const due = [...this.timers].filter(([, x]) => !x.real && x.at <= this.t).sort((a, b) => a[1].at - b[1].at);
    for (const [id, x] of due) {
      this.timers.delete(id);
      x.fn();
    }
  }
}

/** Polls `check` (real time) until it holds; fails the test naming `what` after `timeoutMs` (default 5 s). */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, opts: { timeoutMs?: number } = {}): Promise<void> {
  const until = Date.now() + (opts.timeoutMs ?? 5000);
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.fail(`timed out waiting until ${what}`);
}

/** Updates an object by re-reading it and applying `change`, retrying on conflicts. */
export async function edit<T extends KubeObject>(store: Store, obj: T, change: (o: T) => void): Promise<T> {
  for (;;) {
    const cur = (await store.get<T>({ kind: obj.kind, namespace: obj.metadata.namespace, name: obj.metadata.name }))!;
    change(cur);
    try {
      return await store.update(cur);
    } catch (err) {
      if (!(err instanceof Error && /modified/.test(err.message))) throw err;
    }
  }
}

/** True when the pod's Ready condition is True. */
export function isReady(p: Pod): boolean {
  return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** Options for {@link fakeKubelet}. */
export interface FakeKubeletOptions {
  /** Bind new pods to {@link node} (default: leave spec.nodeName as it is). */
  bind?: boolean;
  /** Remove pods marked for deletion, as the node agent does once their containers stopped. */
  finalize?: boolean;
  /** `false`: never report pods ready. */
  ready?: boolean;
  /** Report only the pods for which this holds ready. */
  readyIf?: (p: Pod) => boolean;
  /** The node name pods are bound to and writes come from (default `n1`). */
  node?: string;
  /** The podIP reported with Running (default: none). */
  podIP?: string;
}

/**
 * Stands in for scheduler + node agent until `signal` aborts: binds new pods (with `bind`) and
 * reports them Running and Ready; with `finalize`, removes pods marked for deletion.
 */
export function fakeKubelet(store: Store, signal: AbortSignal, opts: FakeKubeletOptions = {}): void {
  const nodeName = opts.node ?? 'n1';
  void (async () => {
    try {
      for await (const ev of store.watch({ kinds: ['Pod'], signal, fromRevision: await store.revision() })) {
        const p = ev.object as Pod;
        if (ev.type === 'DELETED') continue;
        try {
          if (p.metadata.deletionTimestamp) {
            if (opts.finalize) await store.delete({ kind: 'Pod', namespace: NS, name: p.metadata.name }, { resourceVersion: p.metadata.resourceVersion });
            continue;
          }
          if (opts.ready !== false && !isReady(p) && (opts.readyIf?.(p) ?? true)) {
            await store.update({
              ...p,
              spec: opts.bind ? { ...p.spec, nodeName } : p.spec,
              status: {
                phase: 'Running',
                ...(opts.podIP !== undefined ? { podIP: opts.podIP } : {}),
                conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: new Date().toISOString() }],
              },
            }, { origin: { actor: `node/${nodeName}` } });
          }
        } catch {
          // A newer version will come through the watch.
        }
      }
    } catch {
      // store closed
    }
  })();
}

/** The Ready condition a node agent posts with its heartbeat at `at` (ms). */
export function nodeReadyCondition(status: 'True' | 'False', at: number): NodeCondition {
  const t = new Date(at).toISOString();
  return { type: 'Ready', status, reason: 'KubeletReady', lastHeartbeatTime: t, lastTransitionTime: t } as NodeCondition;
}

/** Options for {@link node}. */
export interface TestNodeOptions {
  labels?: Record<string, string>;
  taints?: Taint[];
  /** Give the node a Ready condition with this status (default: no status at all). */
  ready?: 'True' | 'False';
  /** Heartbeat time of that condition (ms; default now). */
  heartbeatAt?: number;
}

/** A Node object as a test creates it. */
export function node(name: string, opts: TestNodeOptions = {}): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, ...(opts.labels ? { labels: opts.labels } : {}) },
    spec: { ...(opts.taints ? { taints: opts.taints } : {}) },
    ...(opts.ready ? { status: { conditions: [nodeReadyCondition(opts.ready, opts.heartbeatAt ?? Date.now())] } } : {}),
  };
}

/** Options for {@link controllerManager}. */
export interface TestManagerOptions {
  /** Added in this order. */
  controllers: Controller[];
  clock?: Clock;
  /** Workers per controller (default 1, so reconciles of one controller never overlap). */
  workers?: number;
}

/** A ControllerManager over `store` with these controllers, not yet started. */
export function controllerManager(store: Store, opts: TestManagerOptions): ControllerManager {
  const manager = new ControllerManager(store, { ...(opts.clock ? { clock: opts.clock } : {}), workers: opts.workers ?? 1 });
  for (const c of opts.controllers) manager.add(c);
  return manager;
}

/** Waits until every queued reconcile ran (nothing more will happen without new input). */
export async function untilIdle(manager: ControllerManager): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await eventually(() => manager.isIdle(), 'controllers are idle');
    await new Promise((r) => setTimeout(r, 25));
  }
}
