/**
 * Headless Chromium for end-to-end tests of the web dashboard: Debian's `chromium` (installed by
 * scripts/setup.sh), driven by playwright-core, never a downloaded browser, with a fresh profile
 * and no background network (this machine has none to give it).
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
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
 * web/, so that a test never runs against a stale page.
 */
export async function ensureDashboardBuilt(): Promise<void> {
  const index = path.join(root, 'dist', 'dashboard', 'index.html');
  if (existsSync(index) && statSync(index).mtimeMs >= newestMtime(path.join(root, 'web'))) return;
  await promisify(execFile)('npm', ['run', '--silent', 'build:web'], { cwd: root, timeout: 180_000 });
}

/** A browser with its own profile; `close()` removes the profile too. */
export interface TestBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

/**
 * Starts headless Chromium with a fresh profile. gantry's API serves its own CA's certificate,
 * which this throwaway profile is told to accept.
 */
export async function launchChromium(opts: { width?: number; height?: number } = {}): Promise<TestBrowser> {
  const profile = await mkdtemp(path.join(tmpdir(), 'gantry-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    ignoreHTTPSErrors: true,
    viewport: { width: opts.width ?? 1366, height: opts.height ?? 800 },
    colorScheme: 'light',
  });
  return {
    context,
    async close() {
      await context.close().catch(() => undefined);
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** The path of a screenshot named `name` in {@link ARTIFACTS_DIR} (created when missing). */
export async function artifact(name: string): Promise<string> {
  await mkdir(ARTIFACTS_DIR, { recursive: true });
  return path.join(ARTIFACTS_DIR, name);
}
