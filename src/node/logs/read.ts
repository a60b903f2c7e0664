/**
 * Reading container logs for `gantry logs`: the current or previous run, optionally the last N
 * lines, optionally following appended output across copy-truncate rotations.
 */
import { open, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { GantryError } from '../../errors.js';
import { containerLogDir, listRuns, rotatedPath, type RunLogFiles } from './files.js';

/** Options for {@link readLogs}. */
export interface ReadLogsOptions {
  /** Node data directory (as given to FileContainerLogs). */
  dataDir: string;
  podUid: string;
  container: string;
  /** The run before the current one (`--previous`). */
  previous?: boolean;
  /** Keep yielding lines as they are appended, until `signal` aborts or the container restarts. */
  follow?: boolean;
  /** Only the last N lines of what is already written (then new ones when following). */
  tailLines?: number;
  signal?: AbortSignal;
  /** How often a followed file is checked for new data; default 200 ms. */
  pollMs?: number;
}

/** Splits chunks into lines, keeping an unfinished last line for the next chunk. */
class LineSplitter {
  private carry = '';
  push(chunk: string): string[] {
    const parts = (this.carry + chunk).split('\n');
    this.carry = parts.pop() ?? '';
    return parts;
  }
  /** The unfinished last line, if any (end of a non-followed read). */
  flush(): string[] {
    const rest = this.carry;
    this.carry = '';
    return rest ? [rest] : [];
  }
}

/** Reads `file` from `from` to its current end; @returns the text and the new offset. */
async function readFrom(file: string, from: number): Promise<{ text: string; end: number }> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { text: '', end: from };
    throw err;
  }
  try {
    const chunks: Buffer[] = [];
    const buf = Buffer.alloc(1 << 16);
    let pos = from;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      chunks.push(Buffer.from(buf.subarray(0, bytesRead)));
      pos += bytesRead;
    }
    return { text: Buffer.concat(chunks).toString('utf8'), end: pos };
  } finally {
    await fh.close();
  }
}

async function fileId(file: string): Promise<{ ino: number; size: number } | undefined> {
  try {
    const st = await stat(file);
    return { ino: st.ino, size: st.size };
  } catch {
    return undefined;
  }
}

/** The run to read: the latest, or the one before it. */
async function pickRun(opts: ReadLogsOptions): Promise<RunLogFiles> {
  const runs = await listRuns(containerLogDir(opts.dataDir, opts.podUid, opts.container));
  const run = runs[runs.length - (opts.previous ? 2 : 1)];
  if (!run) {
    const what = opts.previous ? 'previous terminated container' : 'container';
    throw new GantryError('NotFound', `${what} "${opts.container}" in pod ${opts.podUid} has no logs`);
  }
  return run;
}

/**
 * Yields the log lines (without their newline) of a container run: rotated files oldest first,
 * then the live file. With `follow`, keeps polling the live file; when it shrinks or its newest
 * rotated copy changes (a rotation), the rest of the old content is read from `<n>.log.1` and
 * reading restarts at offset 0. Following ends when `signal` aborts or a newer run's log appears
 * (the followed container has exited and restarted).
 */
export async function* readLogs(opts: ReadLogsOptions): AsyncIterable<string> {
  const run = await pickRun(opts);
  const files = [...run.rotated].reverse().map((n) => rotatedPath(run.live, n));
  files.push(run.live);
  const tail = opts.tailLines;
  const ring: string[] = [];
  const emit = function* (lines: string[]): Generator<string> {
    if (tail === undefined) {
      yield* lines;
      return;
    }
    for (const l of lines) {
      ring.push(l);
      if (ring.length > tail) ring.shift();
    }
  };

  const splitter = new LineSplitter();
  let liveEnd = 0;
  let rotatedOne = await fileId(rotatedPath(run.live, 1));
  for (const f of files) {
    const { text, end } = await readFrom(f, 0);
    if (f === run.live) liveEnd = end;
    yield* emit(splitter.push(text));
  }
  if (!opts.follow) {
    yield* emit(splitter.flush());
    if (tail !== undefined) yield* ring.slice(Math.max(0, ring.length - tail));
    return;
  }
  if (tail !== undefined) yield* ring.slice(Math.max(0, ring.length - tail));

  const pollMs = opts.pollMs ?? 200;
  const dir = containerLogDir(opts.dataDir, opts.podUid, opts.container);
  while (!opts.signal?.aborted) {
    const live = await fileId(run.live);
    const one = await fileId(rotatedPath(run.live, 1));
    const rotated = (live && live.size < liveEnd) || (one && (!rotatedOne || one.ino !== rotatedOne.ino));
    if (rotated) {
      // The copy in .1 begins with what we already read; the part we had not read yet is after liveEnd.
      if (one && one.size > liveEnd) {
        const { text } = await readFrom(rotatedPath(run.live, 1), liveEnd);
        for (const l of splitter.push(text)) yield l;
      }
      rotatedOne = one;
      liveEnd = 0;
    }
    const { text, end } = await readFrom(run.live, liveEnd);
    liveEnd = end;
    for (const l of splitter.push(text)) yield l;
    if (!text && !rotated) {
      const runs = await listRuns(dir);
      if (runs.some((r) => r.restartCount > run.restartCount)) {
        // Catch what the old run wrote last, then stop as `kubectl logs -f` does at container exit.
        const last = await readFrom(run.live, liveEnd);
        for (const l of splitter.push(last.text)) yield l;
        yield* splitter.flush();
        return;
      }
      try {
        await sleep(pollMs, undefined, { signal: opts.signal });
      } catch {
        break;
      }
    }
  }
  yield* splitter.flush();
}
