/**
 * Where container logs live and how rotated files are named (pure path logic plus directory reads).
 *
 * `<dataDir>/logs/<podUid>/<container>/<restartCount>.log` is the live file the containerd shim
 * appends stdout and stderr to; rotation leaves `<restartCount>.log.1` (newest) …
 * `<restartCount>.log.<maxFiles-1>` (oldest) beside it. The pod uid alone names the directory
 * (the interface's `pathFor` gets no pod name); `gantry logs` resolves a pod name to its uid.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { GantryError } from '../../errors.js';

/** Checks a pod uid or container name used as one path element. */
export function safeName(value: string, what: string): string {
  if (!value || value.includes('/') || value.startsWith('.') || value.includes('\0')) {
    throw new GantryError('InvalidArgument', `${what} "${value}" cannot be used in a log file path`);
  }
  return value;
}

/** `<dataDir>/logs`. */
export function logsRoot(dataDir: string): string {
  return path.join(dataDir, 'logs');
}

/** Directory of one container's logs. */
export function containerLogDir(dataDir: string, podUid: string, container: string): string {
  return path.join(logsRoot(dataDir), safeName(podUid, 'pod uid'), safeName(container, 'container name'));
}

/** The live log file of one run (restart) of a container. */
export function liveLogPath(dataDir: string, podUid: string, container: string, restartCount: number): string {
  if (!Number.isInteger(restartCount) || restartCount < 0) {
    throw new GantryError('InvalidArgument', `restart count ${restartCount} is not a non-negative integer`);
  }
  return path.join(containerLogDir(dataDir, podUid, container), `${restartCount}.log`);
}

/** Name of the `n`th rotated file of a live log (1 = newest). */
export function rotatedPath(live: string, n: number): string {
  return `${live}.${n}`;
}

/** One run's files in a container's log directory. */
export interface RunLogFiles {
  restartCount: number;
  /** Path of the live file (may be absent if only rotated files remain). */
  live: string;
  /** Rotation indexes present, ascending (1 = newest). */
  rotated: number[];
}

/** The runs that have log files in `dir`, by ascending restart count. */
export async function listRuns(dir: string): Promise<RunLogFiles[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const runs = new Map<number, RunLogFiles>();
  for (const name of names) {
    const m = /^(\d+)\.log(?:\.(\d+))?$/.exec(name);
    if (!m) continue;
    const rc = Number(m[1]);
    let run = runs.get(rc);
    if (!run) runs.set(rc, (run = { restartCount: rc, live: path.join(dir, `${rc}.log`), rotated: [] }));
    if (m[2] !== undefined) run.rotated.push(Number(m[2]));
  }
  for (const run of runs.values()) run.rotated.sort((a, b) => a - b);
  return [...runs.values()].sort((a, b) => a.restartCount - b.restartCount);
}
