/**
 * Audit recorder benchmark: throughput and lag of the status-branch writer, and the cost of
 * enqueuing a change (what the control loop pays).
 *
 * Generates a realistic stream of changes (Deployments scaling and rolling, Pods being created,
 * scheduled, started and becoming ready), enqueues them as fast as possible, and measures when
 * each one's commit reaches the branch. No assertions: figures only.
 */
import { readdir, rm, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import git from 'isomorphic-git';
import fs from 'node:fs';
import { openRecorder } from '../src/audit/recorder.js';
import type { KubeObject } from '../src/model/types.js';
import type { WatchEvent } from '../src/store/types.js';

/** Options for {@link benchAudit}. */
export interface BenchAuditOptions {
  /** Number of changes. Default 5,000. */
  changes?: number;
  /** Namespaces the objects are spread over. Default 5. */
  namespaces?: number;
}

function deployment(ns: string, name: string, replicas: number, image: string, rv: number): KubeObject {
  const labels = { app: name, tier: 'web', 'app.kubernetes.io/part-of': 'shop' };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name, namespace: ns, uid: `uid-${ns}-${name}`, resourceVersion: String(rv), generation: rv,
      creationTimestamp: '2026-01-01T00:00:00Z', labels,
      annotations: { 'gantry.dev/managed-by': 'gantry', 'gantry.dev/source-path': `apps/${name}.yaml` },
    },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
      template: {
        metadata: { labels },
        spec: {
          containers: [{
            name, image, imagePullPolicy: 'IfNotPresent',
            ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
            env: [{ name: 'MODE', value: 'production' }, { name: 'PORT', value: '8080' }],
            resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
            readinessProbe: { httpGet: { path: '/healthz', port: 8080, scheme: 'HTTP' }, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
            terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File',
          }],
          restartPolicy: 'Always', terminationGracePeriodSeconds: 30, dnsPolicy: 'ClusterFirst', schedulerName: 'default-scheduler',
        },
      },
    },
    status: {
      observedGeneration: rv, replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas,
      conditions: [
        { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', lastTransitionTime: '2026-01-01T00:00:00Z', lastUpdateTime: '2026-01-01T00:00:00Z' },
        { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable', lastTransitionTime: '2026-01-01T00:00:00Z', lastUpdateTime: '2026-01-01T00:00:00Z' },
      ],
    },
  };
}

function pod(ns: string, name: string, app: string, stage: number, rv: number): KubeObject {
  const phase = stage < 2 ? 'Pending' : 'Running';
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name, namespace: ns, uid: `uid-${ns}-${name}`, resourceVersion: String(rv), creationTimestamp: '2026-01-01T00:00:00Z',
      labels: { app, 'pod-template-hash': '7d9f8c' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${app}-7d9f8c`, uid: `uid-rs-${app}`, controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      containers: [{
        name: app, image: `registry.local/${app}:1.0`, ports: [{ containerPort: 8080, protocol: 'TCP' }],
        resources: { requests: { cpu: '100m', memory: '128Mi' } },
      }],
      restartPolicy: 'Always', terminationGracePeriodSeconds: 30,
      ...(stage >= 1 ? { nodeName: `node-${rv % 3}` } : {}),
    },
    status: {
      phase,
      conditions: [
        { type: 'PodScheduled', status: stage >= 1 ? 'True' : 'False', lastTransitionTime: '2026-01-01T00:00:00Z' },
        { type: 'Ready', status: stage >= 3 ? 'True' : 'False', lastTransitionTime: '2026-01-01T00:00:00Z' },
      ],
      ...(stage >= 2 ? {
        podIP: `10.88.${rv % 250}.${(rv >> 8) % 250}`,
        containerStatuses: [{ name: app, ready: stage >= 3, restartCount: 0, image: `registry.local/${app}:1.0`, imageID: 'sha256:abc', state: { running: { startedAt: '2026-01-01T00:00:01Z' } }, lastState: {} }],
      } : {}),
    },
  };
}

/** Generates `n` changes (exported for profiling): per app, a Deployment created then scaled/rolled, pods walking through their lifecycle. */
export function generateChanges(n: number, namespaces: number): WatchEvent[] {
  const events: WatchEvent[] = [];
  let rv = 0;
  const deployments = new Map<string, KubeObject>();
  const pods = new Map<string, { obj: KubeObject; stage: number; ns: string; app: string }>();
  let podSeq = 0;
  while (events.length < n) {
    const i = events.length;
    const ns = `team-${i % namespaces}`;
    const app = `app-${(i >> 3) % 40}`;
    const dkey = `${ns}/${app}`;
    rv += 1;
    const r = i % 10;
    if (r < 2) {
      const prev = deployments.get(dkey);
      const next = deployment(ns, app, prev ? ((prev.spec as { replicas: number }).replicas % 5) + 1 : 2, `registry.local/${app}:1.${rv % 7}`, rv);
      deployments.set(dkey, next);
      events.push(prev
        ? { type: 'MODIFIED', object: next, prevObject: prev, revision: rv, origin: { actor: 'sync', desiredRevision: 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678' } }
        : { type: 'ADDED', object: next, revision: rv, origin: { actor: 'sync', desiredRevision: 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678' } });
      continue;
    }
    // Pods: advance one through its lifecycle, delete a ready one (rollouts replace pods), or
    // create one; namespaces settle at a few dozen pods each.
    const existing = [...pods.values()].find((p) => p.stage < 3 && p.ns === ns);
    const ready = [...pods.entries()].find(([, p]) => p.stage === 3 && p.ns === ns);
    if (ready && (r === 9 || pods.size > namespaces * 60)) {
      pods.delete(ready[0]);
      events.push({ type: 'DELETED', object: ready[1].obj, prevObject: ready[1].obj, revision: rv, origin: { actor: 'controller/replicaset' } });
    } else if (existing && r % 2 === 0) {
      const next = pod(existing.ns, existing.obj.metadata.name, existing.app, existing.stage + 1, rv);
      events.push({ type: 'MODIFIED', object: next, prevObject: existing.obj, revision: rv, origin: { actor: existing.stage === 0 ? 'scheduler' : 'node/node-1' } });
      existing.obj = next;
      existing.stage += 1;
    } else {
      podSeq += 1;
      const name = `${app}-7d9f8c-${podSeq.toString(36).padStart(5, '0')}`;
      const obj = pod(ns, name, app, 0, rv);
      pods.set(`${ns}/${name}`, { obj, stage: 0, ns, app });
      events.push({ type: 'ADDED', object: obj, revision: rv, origin: { actor: 'controller/replicaset' } });
    }
  }
  return events;
}

async function countFiles(dir: string): Promise<number> {
  let n = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    n += entry.isDirectory() ? await countFiles(path.join(dir, entry.name)) : 1;
  }
  return n;
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;

/**
 * Runs the benchmark in a temporary directory (removed afterwards) and returns its figures:
 * changes/s committed, lag p50/p95/max (ms), enqueue cost (µs per change), commits on the
 * branch, loose object files written, repository size.
 */
export async function benchAudit(opts: BenchAuditOptions = {}): Promise<Record<string, number | string>> {
  const n = opts.changes ?? 5000;
  const events = generateChanges(n, opts.namespaces ?? 5);
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'gantry-bench-audit-'));
  const gitdir = path.join(tmp, 'history.git');
  try {
    const lags: number[] = [];
    // Automatic repacks off so the burst measures the writer alone; one explicit repack after.
    const recorder = await openRecorder(gitdir, {
      compactEvery: 0,
      onCommitted: (batch) => {
        for (const item of batch.items) lags.push(item.committedAt - item.enqueuedAt);
      },
    });
    // A burst is the worst case for lag: everything is enqueued at once, in one synchronous run.
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (const e of events) recorder.recordChange(e);
    const enqueueMs = performance.now() - t0;
    await recorder.flush();
    const totalMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const packFiles = await countFiles(path.join(gitdir, 'objects'));
    const sizeBeforeKiB = (await dirSize(path.join(gitdir, 'objects'))) / 1024;
    const c0 = performance.now();
    await recorder.compact();
    const compactMs = performance.now() - c0;
    await recorder.close();

    // A paced run: 500 changes/s for 2 s, to show lag at the target rate rather than in a burst.
    const pacedLags: number[] = [];
    const paced = await openRecorder(path.join(tmp, 'paced.git'), {
      onCommitted: (batch) => { for (const item of batch.items) pacedLags.push(item.committedAt - item.enqueuedAt); },
    });
    const loopDelay = monitorEventLoopDelay({ resolution: 5 });
    loopDelay.enable();
    const rate = 500;
    const pacedN = Math.min(1000, n);
    const p0 = performance.now();
    for (let i = 0; i < pacedN; i += 10) {
      const due = p0 + (i / rate) * 1000;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      for (let j = i; j < Math.min(i + 10, pacedN); j++) paced.recordChange(events[j]!);
    }
    await paced.flush();
    loopDelay.disable();
    await paced.close();

    const h0 = performance.now();
    const commits = await git.log({ fs, gitdir, ref: 'refs/heads/status' });
    const logMs = performance.now() - h0;
    const objectFiles = await countFiles(path.join(gitdir, 'objects'));
    const sizeKiB = (await dirSize(path.join(gitdir, 'objects'))) / 1024;
    lags.sort((a, b) => a - b);
    pacedLags.sort((a, b) => a - b);
    return {
      'audit changes': n,
      'audit enqueue µs/change': round((enqueueMs * 1000) / n, 2),
      'audit burst changes/s': Math.round(n / (totalMs / 1000)),
      // CPU time is less sensitive than wall time to other processes on a shared machine.
      'audit burst CPU µs/change': Math.round((cpu.user + cpu.system) / n),
      'audit load average (1 min)': round(os.loadavg()[0] ?? 0, 2),
      'audit burst lag p50 ms': round(percentile(lags, 50)),
      'audit burst lag p95 ms': round(percentile(lags, 95)),
      'audit burst lag max ms': round(lags[lags.length - 1] ?? 0),
      'audit paced 500/s lag p50 ms': round(percentile(pacedLags, 50)),
      'audit paced 500/s lag p95 ms': round(percentile(pacedLags, 95)),
      'audit paced 500/s lag max ms': round(pacedLags[pacedLags.length - 1] ?? 0),
      'audit paced event-loop delay p99 ms': round(loopDelay.percentile(99) / 1e6),
      'audit paced event-loop delay max ms': round(loopDelay.max / 1e6),
      'audit commits on branch': commits.length,
      'audit commits expected': n,
      'audit object files before repack': packFiles,
      'audit objects KiB before repack': Math.round(sizeBeforeKiB),
      'audit repack ms': Math.round(compactMs),
      'audit object files after repack': objectFiles,
      'audit objects KiB after repack': Math.round(sizeKiB),
      'audit full log read ms': Math.round(logMs),
    };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function dirSize(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    total += entry.isDirectory() ? await dirSize(p) : (await fs.promises.stat(p)).size;
  }
  return total;
}

// Run directly: `npx tsx bench/audit.ts`
if (import.meta.url === `file://${process.argv[1]}`) {
  benchAudit().then((figures) => {
    for (const [k, v] of Object.entries(figures)) console.log(`${k.padEnd(34)} ${v}`);
  }, (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
