/**
 * Kubernetes API figures against a real SQLite store of 1,000 pods, served as `gantry up` serves
 * it (HTTPS, bearer token): list latency as JSON and as a server-side Table (what `kubectl get`
 * asks for), the same JSON list over plain HTTP without a token (the ratio is what TLS and the
 * token check cost), the list through the real kubectl with the data dir's kubeconfig (process
 * start included), and watch latency (a write in the store → its event read by a watch client).
 * Skips kubectl's figure when kubectl is absent.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { prepareApiSecurity, writeAdminKubeconfig } from '../src/api/auth/index.js';
import { createApiServer } from '../src/api/server.js';
import { silentLogger } from '../src/log.js';
import type { Pod } from '../src/model/types.js';
import { openSqliteStore } from '../src/store/sqlite.js';
import { percentile } from './stats.js';

const PODS = 1000;
const RUNS = 20;
const WATCH_SAMPLES = 50;

/** How the bench reaches a server: its URL, and for HTTPS the CA, the token and a keep-alive agent (as kubectl keeps its connection). */
interface Target {
  url: string;
  ca?: string;
  token?: string;
  agent?: https.Agent;
}

function get(t: Target, path: string, accept: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onRes = (res: http.IncomingMessage): void => {
      let n = 0;
      res.on('data', (d: Buffer) => (n += d.length));
      res.on('end', () => resolve(n));
    };
    const headers = { accept, ...(t.token ? { authorization: `Bearer ${t.token}` } : {}) };
    const req = t.url.startsWith('https:') ? https.get(`${t.url}${path}`, { headers, agent: t.agent }, onRes) : http.get(`${t.url}${path}`, { headers }, onRes);
    req.on('error', reject);
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
  const security = await prepareApiSecurity({ dataDir: dir, listenHost: '127.0.0.1' });
  const api = createApiServer({ store, logger: silentLogger(), tokens: security.tokens, tls: security.tls });
  const plainApi = createApiServer({ store, logger: silentLogger() });
  const agent = new https.Agent({ keepAlive: true, ca: security.tls!.ca });
  try {
    for (let i = 0; i < PODS; i++) await store.create(pod(i));
    await api.listen({ host: '127.0.0.1', port: 0 });
    await plainApi.listen({ host: '127.0.0.1', port: 0 });
    const url = `https://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
    const t: Target = { url, ca: security.tls!.ca, token: security.adminToken, agent };
    const plain: Target = { url: `http://127.0.0.1:${(plainApi.server.address() as AddressInfo).port}` };
    const kubeconfig = await writeAdminKubeconfig(dir, security, url);
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
    const json = await timeIt(() => get(t, '/api/v1/pods', 'application/json'));
    const table = await timeIt(() => get(t, '/api/v1/pods', 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json'));
    const plainJson = await timeIt(() => get(plain, '/api/v1/pods', 'application/json'));
    const size = await get(t, '/api/v1/pods', 'application/json');
    const out: Record<string, number | string> = {
      [`list ${PODS} pods as JSON (HTTPS, token) p50 ms`]: Math.round(percentile(json, 50) * 10) / 10,
      [`list ${PODS} pods as JSON (HTTPS, token) p95 ms`]: Math.round(percentile(json, 95) * 10) / 10,
      [`list ${PODS} pods as JSON, plain HTTP p50 ms`]: Math.round(percentile(plainJson, 50) * 10) / 10,
      'HTTPS+token / plain HTTP list ratio': Math.round((percentile(json, 50) / percentile(plainJson, 50)) * 100) / 100,
      'list response size KB': Math.round(size / 1024),
      [`list ${PODS} pods as a Table p50 ms`]: Math.round(percentile(table, 50) * 10) / 10,
    };
    if ((process.env.PATH ?? '').split(':').some((d) => existsSync(path.join(d, 'kubectl')))) {
      const kubectl = () => new Promise<void>((resolve, reject) => execFile('kubectl', ['get', 'pods', '-A', '--kubeconfig', kubeconfig], { maxBuffer: 64 * 2 ** 20 }, (err) => (err ? reject(err) : resolve())));
      const k = await timeIt(kubectl);
      out[`kubectl get pods -A (${PODS}) p50 ms`] = Math.round(percentile(k, 50));
    } else {
      out['kubectl'] = 'skipped: not installed';
    }

    // Watch latency: one long watch, WATCH_SAMPLES writes, each timed until its event is read.
    const seen = new Map<string, number>();
    const req = https.get(`${url}/api/v1/namespaces/ns-0/pods?watch=true&resourceVersion=${await store.revision()}`, { headers: { authorization: `Bearer ${t.token}` }, ca: t.ca });
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
    agent.destroy();
    await api.close();
    await plainApi.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}
