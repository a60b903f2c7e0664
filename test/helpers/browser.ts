/**
 * Headless Chromium for end-to-end tests of the web dashboard: Debian's `chromium` (installed by
 * scripts/setup.sh), driven by playwright-core, never a downloaded browser, with a fresh profile
 * and no background network (this machine has none to give it).
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type BrowserContext } from 'playwright-core';

/** Debian's Chromium. */
export const CHROMIUM = '/usr/bin/chromium';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Where tests save screenshots (gitignored). */
export const ARTIFACTS_DIR = path.join(root, 'test-artifacts');

/** Why browser tests cannot run here, or undefined. */
export function browserPrerequisites(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing (scripts/setup.sh installs Debian's chromium)`;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * Builds the dashboard (`npm run build:web`) unless dist/dashboard is newer than every file of
 * web/ and src/ (the page bundles what it imports from src/model and src/scheduler), so that a
 * test never runs against a stale page.
 */
export async function ensureDashboardBuilt(): Promise<void> {
  const index = path.join(root, 'dist', 'dashboard', 'index.html');
  const sources = Math.max(newestMtime(path.join(root, 'web')), newestMtime(path.join(root, 'src')));
  if (existsSync(index) && statSync(index).mtimeMs >= sources) return;
  await promisify(execFile)('npm', ['run', '--silent', 'build:web'], { cwd: root, timeout: 180_000 });
}

/** A browser with its own profile; `close()` removes the profile too. */
export interface TestBrowser {
  context: BrowserContext;
  /**
   * The address at which the browser reaches `url` (an address on this machine's loopback): the
   * same URL without network isolation, else one on the host's end of the browser's veth.
   */
  reach(url: string): Promise<string>;
  close(): Promise<void>;
}

const run = promisify(execFile);

/**
 * A network namespace of the browser's own, joined to the host by a veth pair. Chromium drops
 * every request in flight (net::ERR_NETWORK_CHANGED) when an address appears on any interface it
 * sees, and every pod gantry starts adds a veth to the host: in its own namespace it sees none.
 * The host's end answers on an address of 198.18.0.0/15 (set aside for tests), where a forwarder
 * per loopback port lets the browser reach servers that listen on 127.0.0.1 only.
 */
interface BrowserNetwork {
  name: string;
  hostIp: string;
  reach(url: string): Promise<string>;
  remove(): Promise<void>;
}

async function isolatedNetwork(): Promise<BrowserNetwork> {
  const id = randomBytes(3).toString('hex');
  const name = `gantry-browser-${id}`;
  const [b3, b4] = [randomBytes(1)[0]!, randomBytes(1)[0]! & 0xfc];
  const hostIp = `198.18.${b3}.${b4 + 1}`;
  const nsIp = `198.18.${b3}.${b4 + 2}`;
  const ip = (...args: string[]) => run('ip', args);
  await ip('netns', 'add', name);
  const forwarders = new Map<number, { server: Server; port: number }>();
  const sockets = new Set<Socket>();
  const remove = async (): Promise<void> => {
    for (const f of forwarders.values()) f.server.close();
    for (const s of sockets) s.destroy();
    // Deleting the namespace takes its end of the veth pair, and with it the host's end.
    await ip('netns', 'del', name).catch(() => undefined);
  };
  try {
    await ip('link', 'add', `gbh${id}`, 'type', 'veth', 'peer', 'name', `gbn${id}`);
    await ip('link', 'set', `gbn${id}`, 'netns', name);
    await ip('addr', 'add', `${hostIp}/30`, 'dev', `gbh${id}`);
    await ip('link', 'set', `gbh${id}`, 'up');
    await ip('-n', name, 'link', 'set', 'lo', 'up');
    await ip('-n', name, 'addr', 'add', `${nsIp}/30`, 'dev', `gbn${id}`);
    await ip('-n', name, 'link', 'set', `gbn${id}`, 'up');
  } catch (err) {
    await remove();
    throw err;
  }
  return {
    name,
    hostIp,
    remove,
    async reach(url) {
      const u = new URL(url);
      if (u.hostname !== '127.0.0.1' && u.hostname !== 'localhost') return url;
      const target = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
      let f = forwarders.get(target);
      if (!f) {
        const server = createServer((inbound) => {
          const outbound = connect({ host: '127.0.0.1', port: target });
          for (const s of [inbound, outbound]) {
            sockets.add(s);
            s.on('close', () => sockets.delete(s));
            s.on('error', () => undefined);
          }
          inbound.on('close', () => outbound.destroy());
          outbound.on('close', () => inbound.destroy());
          inbound.pipe(outbound).pipe(inbound);
        });
        await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, hostIp, resolve));
        f = { server, port: (server.address() as AddressInfo).port };
        forwarders.set(target, f);
      }
      u.hostname = hostIp;
      u.port = String(f.port);
      return u.toString();
    },
  };
}

/**
 * Starts headless Chromium with a fresh profile. gantry's API serves its own CA's certificate,
 * which this throwaway profile is told to accept. As root (where gantry's tests run pods), the
 * browser gets a network namespace of its own (see {@link isolatedNetwork}); open pages at
 * `reach(url)`.
 */
export async function launchChromium(opts: { width?: number; height?: number } = {}): Promise<TestBrowser> {
  const profile = await mkdtemp(path.join(tmpdir(), 'gantry-chromium-'));
  const net = process.getuid?.() === 0 ? await isolatedNetwork() : undefined;
  let executablePath = CHROMIUM;
  if (net) {
    // playwright talks to the browser over inherited pipes, which `ip netns exec` keeps open.
    executablePath = path.join(profile, 'chromium-in-netns');
    await writeFile(executablePath, `#!/bin/sh\nexec ip netns exec ${net.name} ${CHROMIUM} "$@"\n`, { mode: 0o755 });
  }
  try {
    const context = await chromium.launchPersistentContext(path.join(profile, 'profile'), {
      executablePath,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      ignoreHTTPSErrors: true,
      viewport: { width: opts.width ?? 1366, height: opts.height ?? 800 },
      colorScheme: 'light',
    });
    return {
      context,
      reach: (url) => (net ? net.reach(url) : Promise.resolve(url)),
      async close() {
        await context.close().catch(() => undefined);
        await net?.remove();
        await rm(profile, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await net?.remove();
    await rm(profile, { recursive: true, force: true });
    throw err;
  }
}

/** The path of a screenshot named `name` in {@link ARTIFACTS_DIR} (created when missing). */
export async function artifact(name: string): Promise<string> {
  await mkdir(ARTIFACTS_DIR, { recursive: true });
  return path.join(ARTIFACTS_DIR, name);
}
