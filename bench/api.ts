/**
 * Kubernetes API figures against a real SQLite store of 1,000 pods: list latency as JSON and as
 * a server-side Table (what `kubectl get` asks for), the same list through the real kubectl
 * (process start included), and watch latency (a write in the store → its event read by an HTTP
 * watch client). Skips kubectl's figure when kubectl is absent.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createApiServer } from '../src/api/server.js';
import { silentLogger } from '../src/log.js';
import type { Pod } from '../src/model/types.js';
import { openSqliteStore } from '../src/store/sqlite.js';
import { percentile } from './stats.js';

const PODS = 1000;
const RUNS = 20;
const WATCH_SAMPLES = 50;

function get(url: string, accept: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers: { accept } }, (res) => {
      let n = 0;
      res.on('data', (d: Buffer) => (n += d.length));
      res.on('end', () => resolve(n));
    }).on('error', reject);
  });
}

function pod(i: number): Pod {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: `web-${i}`, namespace: `ns-${i % 10}`, labels: { app: 'web', shard: String(i % 10) } },
    spec: { nodeName: 'node-a', containers: [{ name: 'main', image: 'busybox', env: [{ name: 'N', value: String(i) }] }] },
    status: { phase: 'Running', podIP: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, containerStatuses: [{ name: 'main', ready: true, restartCount: 0, image: 'busybox', imageID: '', state: { running: {} }, lastState: {} }] },
  };
}

/** Runs the figures; see the module comment. */
export async function benchApi(): Promise<Record<string, number | string>> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-bench-api-'));
  const store = openSqliteStore(path.join(dir, 'state.db'), { logger: silentLogger() });
  const api = createApiServer({ store, logger: silentLogger() });
  try {
    for (let i = 0; i < PODS; i++) await store.create(pod(i));
    await api.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
    const timeIt = async (fn: () => Promise<unknown>): Promise<number[]> => {
      await fn();
      const out: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const t0 = performance.now();
        await fn();
        out.push(performance.now() - t0);
      }
      return out;
    };
    const json = await timeIt(() => get(`${url}/api/v1/pods`, 'application/json'));
    const table = await timeIt(() => get(`${url}/api/v1/pods`, 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json'));
    const size = await get(`${url}/api/v1/pods`, 'application/json');
    const out: Record<string, number | string> = {
      [`list ${PODS} pods as JSON p50 ms`]: Math.round(percentile(json, 50) * 10) / 10,
      [`list ${PODS} pods as JSON p95 ms`]: Math.round(percentile(json, 95) * 10) / 10,
      'list response size KB': Math.round(size / 1024),
      [`list ${PODS} pods as a Table p50 ms`]: Math.round(percentile(table, 50) * 10) / 10,
    };
    if ((process.env.PATH ?? '').split(':').some((d) => existsSync(path.join(d, 'kubectl')))) {
      const kubeconfig = path.join(dir, 'kubeconfig');
      await writeFile(kubeconfig, 'apiVersion: v1\nkind: Config\n');
      const kubectl = () => new Promise<void>((resolve, reject) => execFile('kubectl', ['get', 'pods', '-A', `--server=${url}`], { env: { ...process.env, KUBECONFIG: kubeconfig }, maxBuffer: 64 * 2 ** 20 }, (err) => (err ? reject(err) : resolve())));
      const k = await timeIt(kubectl);
      out[`kubectl get pods -A (${PODS}) p50 ms`] = Math.round(percentile(k, 50));
    } else {
      out['kubectl'] = 'skipped: not installed';
    }

    // Watch latency: one long watch, WATCH_SAMPLES writes, each timed until its event is read.
    const seen = new Map<string, number>();
    const req = http.get(`${url}/api/v1/namespaces/ns-0/pods?watch=true&resourceVersion=${await store.revision()}`);
    await new Promise<void>((resolve, reject) => {
      req.on('response', (res) => {
        let buf = '';
        res.on('data', (d: Buffer) => {
          buf += d.toString();
          let i;
          while ((i = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, i);
            buf = buf.slice(i + 1);
            const ev = JSON.parse(line) as { object: Pod };
            seen.set(ev.object.metadata.name, performance.now());
          }
        });
        resolve();
      });
      req.on('error', reject);
    });
    const lat: number[] = [];
    for (let i = 0; i < WATCH_SAMPLES; i++) {
      const name = `watched-${i}`;
      const t0 = performance.now();
      await store.create({ ...pod(i), metadata: { ...pod(i).metadata, name, namespace: 'ns-0' } });
      while (!seen.has(name)) await new Promise((r) => setImmediate(r));
      lat.push(seen.get(name)! - t0);
    }
    req.destroy();
    out['watch event latency p50 ms'] = Math.round(percentile(lat, 50) * 100) / 100;
    out['watch event latency p95 ms'] = Math.round(percentile(lat, 95) * 100) / 100;
    return out;
  } finally {
    await api.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}
