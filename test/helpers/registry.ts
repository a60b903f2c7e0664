/**
 * Test helper: a loopback Docker registry (Debian `docker-registry`, distribution 2.8) in a temp
 * dir, optionally behind htpasswd basic auth, and a small push client (monolithic blob upload,
 * manifest PUT). bcrypt hashes for htpasswd come from the system crypt(3) via perl (libxcrypt
 * supports `$2b$`), so `htpasswd` (apache2-utils) is not needed.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Fails with a clear message when the registry tests' tools are missing (they must not be skipped on CI). */
export function assertRegistryPrerequisites(): void {
  try {
    execFileSync('sh', ['-c', 'command -v docker-registry && command -v perl'], { stdio: 'ignore' });
  } catch {
    throw new Error('registry tests need docker-registry (Debian package docker-registry) and perl on PATH');
  }
}

/** An image to push: its manifest (or index) and the blobs it references. */
export interface PushableImage {
  manifest: Buffer;
  manifestMediaType: string;
  blobs: Map<string, { data: Buffer }>;
}

/** A running test registry. */
export interface TestRegistry {
  /** `127.0.0.1:<port>`: use as the registry part of image references. */
  host: string;
  /** Pushes `image` as `<repo>:<tag>`; returns the manifest digest the registry reports. */
  push(repo: string, tag: string, image: PushableImage): Promise<string>;
  stop(): Promise<void>;
}

/** Options for {@link startTestRegistry}. */
export interface TestRegistryOptions {
  /** Require basic auth with these credentials (htpasswd). */
  auth?: { username: string; password: string };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** A bcrypt hash of `password` through crypt(3). */
export function bcryptHash(password: string): string {
  const alphabet = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(22);
  // The 22nd salt character only carries 2 bits; pick one whose unused bits are zero.
  const salt = [...bytes.subarray(0, 21)].map((b) => alphabet[b % 64]).join('') + '.Oeu'[bytes[21]! % 4];
  const hash = execFileSync('perl', ['-e', 'print crypt($ARGV[0], $ARGV[1])', password, `$2b$05$${salt}`], { encoding: 'utf8' });
  if (!hash.startsWith('$2b$')) throw new Error(`crypt(3) here does not support bcrypt (got "${hash}")`);
  return hash;
}

/** Starts docker-registry on a free loopback port with storage in a temp dir. */
export async function startTestRegistry(opts: TestRegistryOptions = {}): Promise<TestRegistry> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-reg-'));
  const port = await freePort();
  const lines = [
    'version: 0.1',
    'log:',
    '  level: warn',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${path.join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
  ];
  if (opts.auth) {
    await writeFile(path.join(dir, 'htpasswd'), `${opts.auth.username}:${bcryptHash(opts.auth.password)}\n`);
    lines.push('auth:', '  htpasswd:', '    realm: gantry-test', `    path: ${path.join(dir, 'htpasswd')}`);
  }
  await writeFile(path.join(dir, 'config.yml'), lines.join('\n') + '\n');
  const logFile = path.join(dir, 'registry.log');
  const { openSync, closeSync } = await import('node:fs');
  const fd = openSync(logFile, 'a');
  const child: ChildProcess = spawn('docker-registry', ['serve', path.join(dir, 'config.yml')], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));
  const host = `127.0.0.1:${port}`;
  const base = `http://${host}`;
  const authHeader: Record<string, string> = opts.auth
    ? { Authorization: `Basic ${Buffer.from(`${opts.auth.username}:${opts.auth.password}`).toString('base64')}` }
    : {};

  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await Promise.race([new Promise((r) => child.once('exit', r)), sleep(5_000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    await rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 15_000;
  for (;;) {
    if (spawnError) {
      await rm(dir, { recursive: true, force: true });
      throw new Error(`cannot start docker-registry: ${spawnError.message}`);
    }
    if (child.exitCode !== null) {
      const log = await readFile(logFile, 'utf8').catch(() => '');
      await stop();
      throw new Error(`docker-registry exited: ${log.slice(-2000)}`);
    }
    const ok = await fetch(`${base}/v2/`).then((r) => r.status === 200 || r.status === 401, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error('docker-registry did not come up within 15 s');
    }
    await sleep(100);
  }

  const push = async (repo: string, tag: string, image: PushableImage): Promise<string> => {
    for (const [digest, blob] of image.blobs) {
      const head = await fetch(`${base}/v2/${repo}/blobs/${digest}`, { method: 'HEAD', headers: authHeader });
      if (head.status === 200) continue;
      const start = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: authHeader });
      if (start.status !== 202) throw new Error(`upload start for ${digest}: HTTP ${start.status} ${await start.text()}`);
      const location = new URL(start.headers.get('location') ?? '', base);
      location.searchParams.set('digest', digest);
      const put = await fetch(location, {
        method: 'PUT',
        headers: { ...authHeader, 'Content-Type': 'application/octet-stream', 'Content-Length': String(blob.data.length) },
        body: blob.data,
      });
      if (put.status !== 201) throw new Error(`upload of ${digest}: HTTP ${put.status} ${await put.text()}`);
    }
    const res = await fetch(`${base}/v2/${repo}/manifests/${tag}`, {
      method: 'PUT',
      headers: { ...authHeader, 'Content-Type': image.manifestMediaType },
      body: image.manifest,
    });
    if (res.status !== 201) throw new Error(`manifest PUT ${repo}:${tag}: HTTP ${res.status} ${await res.text()}`);
    return res.headers.get('docker-content-digest') ?? '';
  };

  return { host, push, stop };
}

/** A bearer-token auth front for a test registry. */
export interface BearerFront {
  /** `127.0.0.1:<port>` of the front. */
  host: string;
  /** How many tokens were issued. */
  tokensIssued(): number;
  stop(): Promise<void>;
}

/**
 * Puts token auth in front of `upstream` the way Docker Hub does: `/v2/…` without a valid bearer
 * token gets 401 with `WWW-Authenticate: Bearer realm=…,service=…,scope=…`; the realm issues
 * tokens for the given basic credentials. Manifests are proxied; blob GETs are answered with a
 * 307 redirect to the upstream (as registries backed by object storage do).
 */
export async function startBearerFront(upstream: TestRegistry, creds: { username: string; password: string }): Promise<BearerFront> {
  const http = await import('node:http');
  const tokens = new Set<string>();
  const expectedBasic = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://front');
      const host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
      if (url.pathname === '/token') {
        if (req.headers.authorization !== expectedBasic) {
          res.writeHead(401, { 'Content-Type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] }));
          return;
        }
        const token = randomBytes(16).toString('hex');
        tokens.add(token);
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300 }));
        return;
      }
      const repo = /^\/v2\/(.+)\/(manifests|blobs)\//.exec(url.pathname)?.[1] ?? '';
      const auth = req.headers.authorization ?? '';
      if (!auth.startsWith('Bearer ') || !tokens.has(auth.slice(7))) {
        res
          .writeHead(401, {
            'Content-Type': 'application/json',
            'WWW-Authenticate': `Bearer realm="http://${host}/token",service="gantry-test",scope="repository:${repo}:pull"`,
          })
          .end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
        return;
      }
      const target = `http://${upstream.host}${url.pathname}${url.search}`;
      if (url.pathname.includes('/blobs/')) {
        res.writeHead(307, { Location: target }).end();
        return;
      }
      const up = await fetch(target, { headers: { Accept: req.headers.accept ?? '*/*' } });
      const headers: Record<string, string> = {};
      for (const h of ['content-type', 'docker-content-digest']) {
        const v = up.headers.get(h);
        if (v) headers[h] = v;
      }
      res.writeHead(up.status, headers).end(Buffer.from(await up.arrayBuffer()));
    })().catch((err: Error) => res.writeHead(500).end(err.message));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    tokensIssued: () => tokens.size,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
