/**
 * Test helper: a private single-member etcd (Debian `etcd-server`, `/usr/bin/etcd`) on loopback
 * with random free ports and a temp data dir (on /dev/shm when there is one: etcd fsyncs every
 * commit, and tmpfs makes that free), stopped by pid. It can be stopped and started again on the
 * same ports and data (an etcd restart), or frozen with SIGSTOP (etcd unreachable).
 *
 * etcd is started with larger transaction and request limits than its defaults, as gantry's
 * docs ask for a store that applies big plans in one transaction.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EtcdClient, prefixEnd } from '../../src/store/etcd-client.js';

/** The etcd binary, or undefined when it is not installed. */
export function etcdBinary(): string | undefined {
  for (const candidate of ['/usr/bin/etcd', '/usr/local/bin/etcd']) if (existsSync(candidate)) return candidate;
  try {
    return execFileSync('sh', ['-c', 'command -v etcd'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** A running test etcd. */
export interface TestEtcd {
  /** `127.0.0.1:<port>` for clients. */
  endpoint: string;
  /** The CA and a client certificate, when started with `tls`. */
  tls?: TestEtcdTls;
  /** The pid of the etcd process (changes on restart). */
  pid(): number;
  /** A new client on this etcd; the caller closes it. */
  client(): EtcdClient;
  /** Deletes every key under `prefix`. */
  deletePrefix(prefix: string): Promise<void>;
  /** Stops etcd (SIGTERM, then SIGKILL) and keeps its data. */
  stop(): Promise<void>;
  /** Starts it again on the same ports and data. */
  start(): Promise<void>;
  /** SIGSTOP / SIGCONT: etcd stops answering without closing its sockets. */
  freeze(): void;
  thaw(): void;
  /** Stops etcd and removes its data. */
  destroy(): Promise<void>;
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

/** Options for {@link startTestEtcd}. */
export interface TestEtcdOptions {
  /**
   * Serve clients over TLS with a fresh CA (openssl), requiring client certificates. The PEM
   * files are in `TestEtcd.tls`.
   */
  tls?: boolean;
  /** Keep etcd's default --max-txn-ops (128) and --max-request-bytes (1.5 MiB) instead of raising them. */
  defaultLimits?: boolean;
}

/** PEM files of a TLS test etcd: the CA, and a client certificate and key it accepts. */
export interface TestEtcdTls {
  ca: string;
  cert: string;
  key: string;
}

/** Makes a CA, a serving certificate for 127.0.0.1 and a client certificate, with openssl. */
function makeCertificates(dir: string): TestEtcdTls & { serverCert: string; serverKey: string } {
  const f = (name: string): string => path.join(dir, name);
  const run = (...args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=gantry-test-ca', '-keyout', f('ca.key'), '-out', f('ca.pem'));
  writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  writeFileSync(f('client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, cn] of [['server', 'etcd'], ['client', 'gantry']] as const) {
    run('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`));
    run('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', f(`${name}.ext`), '-out', f(`${name}.pem`));
  }
  return { ca: f('ca.pem'), cert: f('client.pem'), key: f('client.key'), serverCert: f('server.pem'), serverKey: f('server.key') };
}

/** Starts a private etcd; throws with etcd's log when it does not come up within 20 s. */
export async function startTestEtcd(opts: TestEtcdOptions = {}): Promise<TestEtcd> {
  const bin = etcdBinary();
  if (!bin) throw new Error('etcd is not installed (Debian package etcd-server; scripts/setup.sh installs it)');
  const base = existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const dir = await mkdtemp(path.join(base, 'gantry-etcd-'));
  const clientPort = await freePort();
  const peerPort = await freePort();
  const endpoint = `127.0.0.1:${clientPort}`;
  const logFile = path.join(dir, 'etcd.log');
  const certs = opts.tls ? makeCertificates(dir) : undefined;
  const scheme = certs ? 'https' : 'http';
  const clientTls = certs ? { ca: readFileSync(certs.ca), cert: readFileSync(certs.cert), key: readFileSync(certs.key) } : undefined;
  const newClient = (callTimeoutMs?: number): EtcdClient => new EtcdClient({ endpoints: [endpoint], tls: clientTls, callTimeoutMs });
  let child: ChildProcess | undefined;

  const args = [
    '--name', 'test',
    '--data-dir', path.join(dir, 'data'),
    '--listen-client-urls', `${scheme}://${endpoint}`,
    '--advertise-client-urls', `${scheme}://${endpoint}`,
    ...(certs
      ? ['--cert-file', certs.serverCert, '--key-file', certs.serverKey, '--trusted-ca-file', certs.ca, '--client-cert-auth']
      : []),
    '--listen-peer-urls', `http://127.0.0.1:${peerPort}`,
    '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`,
    '--initial-cluster', `test=http://127.0.0.1:${peerPort}`,
    ...(opts.defaultLimits ? [] : ['--max-txn-ops', '20000', '--max-request-bytes', String(32 * 1024 * 1024)]),
    '--logger', 'zap',
    '--log-outputs', 'stderr',
    '--log-level', 'warn',
  ];

  const alive = (): boolean => child !== undefined && child.exitCode === null && child.signalCode === null;

  const stop = async (): Promise<void> => {
    const c = child;
    if (!c || !alive()) return;
    try {
      process.kill(c.pid!, 'SIGCONT');
    } catch {
      // already gone
    }
    c.kill('SIGTERM');
    await Promise.race([new Promise((r) => c.once('exit', r)), sleep(5_000)]);
    if (alive()) {
      c.kill('SIGKILL');
      await new Promise((r) => c.once('exit', r));
    }
  };

  const start = async (): Promise<void> => {
    const fd = openSync(logFile, 'a');
    const c = spawn(bin, args, { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    child = c;
    // A test process that dies without its after() hooks must not leave etcd behind.
    const reap = (): void => void (c.exitCode === null && c.signalCode === null && c.kill('SIGKILL'));
    process.once('exit', reap);
    c.once('exit', () => process.removeListener('exit', reap));
    let spawnError: Error | undefined;
    c.once('error', (err) => (spawnError = err));
    const probe = newClient(1000);
    const deadline = Date.now() + 20_000;
    try {
      for (;;) {
        if (spawnError) throw new Error(`cannot start etcd: ${spawnError.message}`);
        if (!alive()) throw new Error(`etcd exited: ${(await readFile(logFile, 'utf8').catch(() => '')).slice(-2000)}`);
        const ok = await probe.range({ key: 'probe' }).then(() => true, () => false);
        if (ok) return;
        if (Date.now() > deadline) {
          await stop();
          throw new Error(`etcd did not come up within 20 s: ${(await readFile(logFile, 'utf8').catch(() => '')).slice(-2000)}`);
        }
        await sleep(100);
      }
    } finally {
      probe.close();
    }
  };

  try {
    await start();
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    endpoint,
    pid: () => child?.pid ?? 0,
    ...(certs ? { tls: { ca: certs.ca, cert: certs.cert, key: certs.key } } : {}),
    client: () => newClient(),
    deletePrefix: async (prefix) => {
      const c = newClient();
      try {
        await c.txn({ success: [{ deleteRange: { key: prefix, rangeEnd: prefixEnd(prefix) } }] });
      } finally {
        c.close();
      }
    },
    stop,
    start,
    freeze: () => {
      if (child?.pid && alive()) process.kill(child.pid, 'SIGSTOP');
    },
    thaw: () => {
      if (child?.pid && alive()) process.kill(child.pid, 'SIGCONT');
    },
    destroy: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
