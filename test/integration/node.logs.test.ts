/**
 * FileContainerLogs and readLogs on real files in a temp dir. A writer appends through an
 * O_APPEND descriptor held open across rotations, as the containerd shim does.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { appendFile, mkdtemp, open, readdir, rm, stat, type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isGantryError } from '../../src/errors.js';
import { FileContainerLogs } from '../../src/node/logs/container-logs.js';
import { readLogs } from '../../src/node/logs/read.js';

const UID = 'pod-uid-1';

async function collect(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const l of it) out.push(l);
  return out;
}

/** Pulls lines from a followed stream until `n` arrived. */
async function take(iter: AsyncIterator<string>, n: number): Promise<string[]> {
  const out: string[] = [];
  while (out.length < n) {
    const r = await iter.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

function lines(from: number, to: number, prefix = 'line'): string {
  let s = '';
  for (let i = from; i <= to; i++) s += `${prefix} ${String(i).padStart(4, '0')}\n`;
  return s;
}

describe('FileContainerLogs and readLogs()', () => {
  let dir = '';
  let logs: FileContainerLogs;
  const handles: FileHandle[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-logs-'));
    logs = new FileContainerLogs({ dataDir: dir, maxBytes: 200, maxFiles: 3 });
  });

  afterEach(async () => {
    for (const h of handles.splice(0)) await h.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function shimFd(file: string): Promise<FileHandle> {
    const h = await open(file, 'a');
    handles.push(h);
    return h;
  }

  it('pathFor() names <dataDir>/logs/<uid>/<container>/<restartCount>.log and creates the file', async () => {
    const p = logs.pathFor(UID, 'web', 2);
    assert.equal(p, path.join(dir, 'logs', UID, 'web', '2.log'));
    assert.equal((await stat(p)).size, 0);
    assert.throws(() => logs.pathFor('../etc', 'web', 0), (e: unknown) => isGantryError(e, 'InvalidArgument'));
  });

  it('rotation keeps at most maxFiles per run and reading returns lines in order across rotated files', async () => {
    const live = logs.pathFor(UID, 'web', 0);
    const fd = await shimFd(live);
    let written = 0;
    for (let round = 0; round < 6; round++) {
      await fd.appendFile(lines(written + 1, written + 15));
      written += 15;
      await logs.rotate();
    }
    await fd.appendFile(lines(written + 1, written + 3));
    written += 3;
    const files = (await readdir(path.dirname(live))).sort();
    assert.deepEqual(files, ['0.log', '0.log.1', '0.log.2']);
    assert.ok((await stat(live)).size < 200, 'the shim kept appending to the truncated live file');
    const got = await collect(readLogs({ dataDir: dir, podUid: UID, container: 'web' }));
    // The oldest rotations were dropped; what remains is the newest lines, contiguous and in order.
    const expected = lines(written - got.length + 1, written).trimEnd().split('\n');
    assert.deepEqual(got, expected);
    assert.equal(got.at(-1), `line ${String(written).padStart(4, '0')}`);
    assert.ok(got.length >= 30);
  });

  it('tailLines returns only the last lines, across a rotation boundary', async () => {
    const live = logs.pathFor(UID, 'web', 0);
    await appendFile(live, lines(1, 15));
    await logs.rotate();
    await appendFile(live, lines(16, 17));
    assert.deepEqual(await collect(readLogs({ dataDir: dir, podUid: UID, container: 'web', tailLines: 3 })), ['line 0015', 'line 0016', 'line 0017']);
  });

  it('previous reads the run before the current one', async () => {
    await appendFile(logs.pathFor(UID, 'web', 0), 'first run\n');
    await appendFile(logs.pathFor(UID, 'web', 1), 'second run\n');
    await appendFile(logs.pathFor(UID, 'web', 2), 'third run\n');
    assert.deepEqual(await collect(readLogs({ dataDir: dir, podUid: UID, container: 'web' })), ['third run']);
    assert.deepEqual(await collect(readLogs({ dataDir: dir, podUid: UID, container: 'web', previous: true })), ['second run']);
  });

  it('previous without an earlier run, or an unknown container, is NotFound', async () => {
    logs.pathFor(UID, 'web', 0);
    await assert.rejects(collect(readLogs({ dataDir: dir, podUid: UID, container: 'web', previous: true })), (e: unknown) => isGantryError(e, 'NotFound'));
    await assert.rejects(collect(readLogs({ dataDir: dir, podUid: UID, container: 'nope' })), /container "nope"/);
  });

  it('follow yields appended lines and keeps going across a copy-truncate rotation', async () => {
    const live = logs.pathFor(UID, 'web', 0);
    const fd = await shimFd(live);
    await fd.appendFile('before\n');
    const ac = new AbortController();
    const iter = readLogs({ dataDir: dir, podUid: UID, container: 'web', follow: true, signal: ac.signal, pollMs: 20 })[Symbol.asyncIterator]();
    try {
      assert.deepEqual(await take(iter, 1), ['before']);
      await fd.appendFile('appended\n');
      assert.deepEqual(await take(iter, 1), ['appended']);
      // Lines written just before a rotation that the reader had not seen yet come from the copy.
      await fd.appendFile(lines(1, 25, 'pre'));
      await logs.rotate();
      assert.ok(existsSync(`${live}.1`));
      await fd.appendFile('after rotation\n');
      const got = await take(iter, 26);
      assert.deepEqual(got, [...lines(1, 25, 'pre').trimEnd().split('\n'), 'after rotation']);
    } finally {
      ac.abort();
      await iter.return?.();
    }
  });

  it('follow ends when the container restarts into a new log file', async () => {
    const live = logs.pathFor(UID, 'web', 0);
    await appendFile(live, 'run 0\n');
    const iter = readLogs({ dataDir: dir, podUid: UID, container: 'web', follow: true, pollMs: 20 })[Symbol.asyncIterator]();
    assert.deepEqual(await take(iter, 1), ['run 0']);
    await appendFile(live, 'last words\n');
    logs.pathFor(UID, 'web', 1);
    assert.deepEqual(await take(iter, 5), ['last words']);
  });

  it('rotate() keeps the logs of the current and previous run only, and cleanup() removes the pod', async () => {
    for (const rc of [0, 1, 2]) await appendFile(logs.pathFor(UID, 'web', rc), `run ${rc}\n`);
    await logs.rotate();
    assert.deepEqual((await readdir(path.join(dir, 'logs', UID, 'web'))).sort(), ['1.log', '2.log']);
    await logs.cleanup(UID);
    assert.ok(!existsSync(path.join(dir, 'logs', UID)));
    assert.deepEqual(await logs.list(), []);
  });
});
