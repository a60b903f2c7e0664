/**
 * Writes a set of files into a directory so that readers always see one complete version, as the
 * kubelet's AtomicWriter does for configMap and secret volumes:
 *
 * ```
 * <dir>/..2026_11_22_16_50_01.123456789.xyz/   the current version (files and subdirectories)
 * <dir>/..data -> ..2026_11_22_16_50_01.…       switched with one rename(2)
 * <dir>/<key>  -> ..data/<key>                   what containers open
 * ```
 *
 * A new version is written beside the old one, `..data` is swapped in one rename, and only then
 * is the old version removed; open files keep reading the old content.
 */
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rename, rm, stat, symlink, unlink, writeFile, chmod } from 'node:fs/promises';
import path from 'node:path';
import type { Payload } from './payload.js';

/** The symlink naming the current version. */
export const DATA_DIR_NAME = '..data';
const DATA_TMP_NAME = '..data_tmp';

/** `..2026_11_22_16_50_01.` — a timestamp prefix like the kubelet's (mkdtemp adds uniqueness). */
function versionPrefix(now = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `..${now.getUTCFullYear()}_${p(now.getUTCMonth() + 1)}_${p(now.getUTCDate())}_${p(now.getUTCHours())}_${p(now.getUTCMinutes())}_${p(now.getUTCSeconds())}.`;
}

/** Relative paths of the regular files under `dir`. */
async function walkFiles(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await walkFiles(dir, r)));
    else out.push(r);
  }
  return out;
}

/** True when the current version under `dir` holds exactly `payload` (content and mode). */
async function sameAsCurrent(dir: string, payload: Payload): Promise<boolean> {
  const current = path.join(dir, DATA_DIR_NAME);
  let files: string[];
  try {
    files = await walkFiles(current);
  } catch {
    return false;
  }
  if (files.length !== payload.size) return false;
  for (const [p, f] of payload) {
    try {
      const full = path.join(current, p);
      const [data, st] = await Promise.all([readFile(full), stat(full)]);
      if ((st.mode & 0o777) !== f.mode || !data.equals(f.data)) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/** First path elements of the payload: the user-visible entries of the volume's top level. */
function topLevel(payload: Payload): Set<string> {
  return new Set([...payload.keys()].map((p) => p.split('/')[0]!));
}

/**
 * Makes `dir` hold `payload` atomically (see the module comment). Does nothing when the content
 * and modes are unchanged. @returns whether a new version was written.
 */
export async function writeAtomic(dir: string, payload: Payload): Promise<boolean> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  if (await sameAsCurrent(dir, payload)) return false;

  const versionDir = await mkdtemp(path.join(dir, versionPrefix()));
  await chmod(versionDir, 0o755);
  for (const [p, f] of payload) {
    const full = path.join(versionDir, p);
    await mkdir(path.dirname(full), { recursive: true, mode: 0o755 });
    await writeFile(full, f.data);
    // writeFile's mode is filtered by the umask; chmod sets exactly what the pod asked for.
    await chmod(full, f.mode);
  }

  const tmpLink = path.join(dir, DATA_TMP_NAME);
  await rm(tmpLink, { force: true });
  await symlink(path.basename(versionDir), tmpLink);
  await rename(tmpLink, path.join(dir, DATA_DIR_NAME));

  const wanted = topLevel(payload);
  for (const name of wanted) {
    const link = path.join(dir, name);
    const target = path.join(DATA_DIR_NAME, name);
    try {
      if ((await lstat(link)).isSymbolicLink() && (await readlink(link)) === target) continue;
      await rm(link, { recursive: true, force: true });
    } catch {
      // absent: created below
    }
    await symlink(target, link);
  }
  for (const e of await readdir(dir)) {
    if (e.startsWith('..') || wanted.has(e)) continue;
    await unlink(path.join(dir, e)).catch(() => rm(path.join(dir, e), { recursive: true, force: true }));
  }
  // Old versions (the previous one, and any a crash left half-written) go last.
  for (const e of await readdir(dir)) {
    if (e.startsWith('..') && e !== DATA_DIR_NAME && e !== path.basename(versionDir)) {
      await rm(path.join(dir, e), { recursive: true, force: true });
    }
  }
  return true;
}
