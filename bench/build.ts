/**
 * Benchmarks measure the product as it runs: the built `dist/`, not the TypeScript sources
 * under tsx (which is slower). This builds dist/ when it is missing or older than src/.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The repository root. */
export const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Newest modification time of the files under `dir` with `ext`. */
function newest(dir: string, ext: string): number {
  let max = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || !e.name.endsWith(ext)) continue;
    max = Math.max(max, statSync(path.join(e.parentPath, e.name)).mtimeMs);
  }
  return max;
}

/** Builds dist/ when needed; returns the path of `dist/src/app.js`. */
export async function ensureBuilt(): Promise<string> {
  const app = path.join(root, 'dist', 'src', 'app.js');
  if (!existsSync(app) || newest(path.join(root, 'src'), '.ts') > newest(path.join(root, 'dist', 'src'), '.js')) {
    // tsc emits even when other files have type errors; only a missing output is fatal.
    await run('npm', ['run', 'build'], { cwd: root, maxBuffer: 16 * 1024 * 1024 }).catch(() => undefined);
  }
  if (!existsSync(app)) throw new Error('npm run build did not produce dist/src/app.js');
  return app;
}

/** Imports a module of the built product, typed as its source: `built<typeof import('../src/x.js')>('x.js')`. */
export async function built<T>(modulePath: string): Promise<T> {
  const app = await ensureBuilt();
  return (await import(path.join(path.dirname(app), modulePath))) as T;
}
