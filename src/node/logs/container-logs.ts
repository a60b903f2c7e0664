/**
 * Container log files with size-based rotation by copy-truncate.
 *
 * The containerd shim holds the live file open with O_APPEND for the container's lifetime, so
 * the file cannot be renamed away: rotation copies it to `<n>.log.1` (older copies shift up,
 * the oldest beyond `maxFiles` is dropped) and truncates it to zero; the shim's next write lands
 * at offset 0. Lines the container writes between the copy and the truncate are lost, as with
 * logrotate's copytruncate; the copy reads up to the current end right before truncating to keep
 * that window small.
 */
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { open, readdir, rename, rm, stat, truncate } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../log.js';
import { silentLogger } from '../../log.js';
import type { ContainerLogs } from '../types.js';
import { containerLogDir, listRuns, liveLogPath, logsRoot, rotatedPath, safeName } from './files.js';

/** Options for {@link FileContainerLogs}. */
export interface FileContainerLogsOptions {
  /** Node data directory; logs go to `<dataDir>/logs/`. */
  dataDir: string;
  /** Size at which a live file is rotated; default 10 MiB (the kubelet's containerLogMaxSize). */
  maxBytes?: number;
  /** Files kept per container run, the live one included; default 5 (containerLogMaxFiles). */
  maxFiles?: number;
  /** Runs (restarts) whose logs are kept per container; default 2 (current and previous). */
  keepRuns?: number;
  logger?: Logger;
}

/** Copies `from` to a new file `to` up to its end at the time of reading (appends during the copy included). */
async function copyPrefix(from: string, to: string): Promise<number> {
  const src = await open(from, 'r');
  const dst = await open(to, 'w', 0o640);
  try {
    const buf = Buffer.alloc(1 << 20);
    let pos = 0;
    for (;;) {
      const { bytesRead } = await src.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      await dst.write(buf, 0, bytesRead);
      pos += bytesRead;
    }
    return pos;
  } finally {
    await src.close();
    await dst.close();
  }
}

/** {@link ContainerLogs} in files under the node data dir. */
export class FileContainerLogs implements ContainerLogs {
  readonly dataDir: string;
  readonly maxBytes: number;
  readonly maxFiles: number;
  readonly keepRuns: number;
  private readonly log: Logger;
  private rotating?: Promise<void>;

  constructor(opts: FileContainerLogsOptions) {
    this.dataDir = opts.dataDir;
    this.maxBytes = opts.maxBytes ?? 10 * 1024 * 1024;
    this.maxFiles = Math.max(1, opts.maxFiles ?? 5);
    this.keepRuns = Math.max(1, opts.keepRuns ?? 2);
    this.log = opts.logger ?? silentLogger();
  }

  /**
   * The live file for one run of a container: `<dataDir>/logs/<podUid>/<container>/<restartCount>.log`.
   * Creates the directory and an empty file, so the path can go straight into the task's
   * `file://` stdio.
   */
  pathFor(podUid: string, container: string, restartCount: number): string {
    const file = liveLogPath(this.dataDir, podUid, container, restartCount);
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
    closeSync(openSync(file, 'a', 0o640));
    return file;
  }

  /**
   * Rotates every live file larger than `maxBytes`, and removes the logs of runs older than the
   * last `keepRuns`. Concurrent calls share one pass.
   */
  async rotate(): Promise<void> {
    if (!this.rotating) {
      this.rotating = this.rotateAll().finally(() => {
        this.rotating = undefined;
      });
    }
    return this.rotating;
  }

  /** Removes all logs of a pod. */
  async cleanup(podUid: string): Promise<void> {
    await rm(path.join(logsRoot(this.dataDir), safeName(podUid, 'pod uid')), { recursive: true, force: true });
  }

  /** Pod uids that have logs. */
  async list(): Promise<string[]> {
    try {
      return (await readdir(logsRoot(this.dataDir))).sort();
    } catch {
      return [];
    }
  }

  /** Rotates one live file now if it is over the limit. @returns whether it rotated. */
  async rotateFile(live: string): Promise<boolean> {
    let size: number;
    try {
      size = (await stat(live)).size;
    } catch {
      return false;
    }
    if (size <= this.maxBytes) return false;
    const keep = this.maxFiles - 1;
    if (keep === 0) {
      await truncate(live, 0);
      return true;
    }
    await rm(rotatedPath(live, keep), { force: true });
    for (let n = keep - 1; n >= 1; n--) {
      await rename(rotatedPath(live, n), rotatedPath(live, n + 1)).catch(() => undefined);
    }
    await copyPrefix(live, rotatedPath(live, 1));
    await truncate(live, 0);
    return true;
  }

  private async rotateAll(): Promise<void> {
    const root = logsRoot(this.dataDir);
    let pods: string[];
    try {
      pods = await readdir(root);
    } catch {
      return;
    }
    for (const uid of pods) {
      let containers: string[];
      try {
        containers = await readdir(path.join(root, uid));
      } catch {
        continue;
      }
      for (const c of containers) {
        const runs = await listRuns(containerLogDir(this.dataDir, uid, c));
        for (const old of runs.slice(0, Math.max(0, runs.length - this.keepRuns))) {
          await rm(old.live, { force: true });
          for (const n of old.rotated) await rm(rotatedPath(old.live, n), { force: true });
        }
        for (const run of runs.slice(-this.keepRuns)) {
          try {
            if (await this.rotateFile(run.live)) this.log.debug({ file: run.live }, 'log rotated');
          } catch (err) {
            this.log.warn({ file: run.live, err: (err as Error).message }, 'log rotation failed');
          }
        }
      }
    }
  }
}
