/**
 * `gantry blame` benchmark: how long blaming one object takes on a status branch of many commits,
 * where it is one object among many (its versions are found by walking the whole branch). No
 * assertions: figures only.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { openRecorder } from '../src/audit/recorder.js';
import type { KubeObject } from '../src/model/types.js';
import { percentile } from './stats.js';

function deployment(replicas: number, image: string, rv: number): KubeObject {
  return {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', resourceVersion: String(rv), labels: { app: 'web' }, annotations: { 'gantry.dev/managed-by': 'gantry' } },
    spec: { replicas, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image }] } } },
    status: { replicas, readyReplicas: replicas, observedGeneration: rv },
  };
}

function pod(i: number, phase: string, rv: number): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: `worker-${i}`, namespace: 'default', resourceVersion: String(rv) }, spec: { containers: [{ name: 'c', image: 'busybox' }] }, status: { phase } };
}

/** Blames one Deployment with `versions` versions among `commits` commits in all. */
export async function benchBlame(opts: { commits?: number; versions?: number } = {}): Promise<Record<string, number | string>> {
  const commits = opts.commits ?? 10_000;
  const versions = opts.versions ?? 100;
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'gantry-bench-blame-'));
  try {
    const recorder = await openRecorder(path.join(tmp, 'history.git'), { digestKey: Buffer.alloc(32, 1), compactEvery: 0 });
    let prev = deployment(1, 'web:0', 1);
    recorder.recordChange({ type: 'ADDED', object: prev, revision: 1, origin: { actor: 'sync', desiredRevision: '0'.repeat(40) } });
    const every = Math.max(1, Math.floor(commits / versions));
    for (let rev = 2; rev <= commits; rev++) {
      if (rev % every === 0) {
        const next = deployment(1 + (rev % 5), `web:${rev}`, rev);
        recorder.recordChange({ type: 'MODIFIED', object: next, prevObject: prev, revision: rev, origin: { actor: 'sync', desiredRevision: rev.toString(16).padStart(40, '0'), desiredAuthor: 'Bench <bench@example.com>' } });
        prev = next;
      } else {
        recorder.recordChange({ type: 'MODIFIED', object: pod(rev % 200, rev % 2 ? 'Running' : 'Pending', rev), prevObject: pod(rev % 200, 'Pending', rev - 1), revision: rev, origin: { actor: 'node/bench' } });
      }
    }
    await recorder.flush();
    // As a running recorder keeps it: small packs merged (compactEvery), so reads search one pack.
    await recorder.compact();
    // CPU time beside wall time: on a shared machine the wall time is mostly other processes'.
    const cpuMs = (from: NodeJS.CpuUsage): number => { const u = process.cpuUsage(from); return (u.user + u.system) / 1000; };
    const historyStarted = performance.now();
    const historyCpu = process.cpuUsage();
    await recorder.history({ limit: 50 });
    const historyMs = performance.now() - historyStarted;
    const historyCpuMs = cpuMs(historyCpu);
    const times: number[] = [];
    const cpu: number[] = [];
    let fields = 0;
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      const startedCpu = process.cpuUsage();
      fields = (await recorder.blame('Deployment/default/web', { live: prev })).length;
      times.push(performance.now() - started);
      cpu.push(cpuMs(startedCpu));
    }
    await recorder.close();
    return {
      'commits on the branch': commits,
      'versions of the object': versions,
      'fields blamed': fields,
      'blame, median of 5 (ms)': Math.round(percentile(times, 50)),
      'blame, slowest of 5 (ms)': Math.round(Math.max(...times)),
      'blame, CPU median of 5 (ms)': Math.round(percentile(cpu, 50)),
      'history, last 50 entries (ms)': Math.round(historyMs),
      'history, last 50 entries, CPU (ms)': Math.round(historyCpuMs),
    };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
