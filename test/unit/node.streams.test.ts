import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ContainerdClient } from '../../src/node/containerd/client.js';
import { execProcess, limitBytes, LocalPodStreams, logTimestamp } from '../../src/node/streams.js';

async function collect(it: AsyncIterable<string>): Promise<string> {
  let s = '';
  for await (const c of it) s += c;
  return s;
}

describe('local pod streams: logs from the node\'s files', () => {
  let dir = '';
  let streams: LocalPodStreams;
  const target = { namespace: 'default', pod: 'web-1', uid: 'u1', container: 'main' };
  const written = new Date('2026-03-04T05:06:07.089Z');

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-streams-'));
    const logs = path.join(dir, 'logs', 'u1', 'main');
    await mkdir(logs, { recursive: true });
    // Run 0 (previous, rotated once), run 1 (current).
    await writeFile(path.join(logs, '0.log.1'), 'old-a\nold-b\n');
    await writeFile(path.join(logs, '0.log'), 'old-c\n');
    await writeFile(path.join(logs, '1.log'), 'new-a\nnew-b\nnew-c\n');
    await utimes(path.join(logs, '1.log'), written, written);
    // Logs do not touch containerd unless they follow.
    streams = new LocalPodStreams({ client: {} as ContainerdClient, nodeName: 'n', dataDir: dir });
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reads the current instance, and with previous the one before it, rotated files first', async () => {
    assert.equal(await collect(await streams.logs({ target })), 'new-a\nnew-b\nnew-c\n');
    assert.equal(await collect(await streams.logs({ target, previous: true })), 'old-a\nold-b\nold-c\n');
  });

  it('keeps only the last lines with a tail', async () => {
    assert.equal(await collect(await streams.logs({ target, tailLines: 2 })), 'new-b\nnew-c\n');
    assert.equal(await collect(await streams.logs({ target, tailLines: 0 })), '');
    assert.equal(await collect(await streams.logs({ target, previous: true, tailLines: 2 })), 'old-b\nold-c\n');
  });

  it('stamps lines already written with the file\'s last write, and cuts at limitBytes', async () => {
    const stamp = '2026-03-04T05:06:07.089000000Z';
    assert.equal(await collect(await streams.logs({ target, tailLines: 1, timestamps: true })), `${stamp} new-c\n`);
    assert.equal(await collect(await streams.logs({ target, limitBytes: 8 })), 'new-a\nne');
  });

  it('rejects before any output when there is no instance, or no previous one', async () => {
    await assert.rejects(streams.logs({ target: { ...target, container: 'side' } }), { code: 'NotFound', message: 'container "side" in pod "web-1" has no log yet' });
    await assert.rejects(streams.logs({ target: { ...target, uid: 'u2' }, previous: true }), { code: 'NotFound', message: 'previous terminated container "main" in pod "web-1" not found' });
  });
});

describe('exec process and helpers', () => {
  it('runs the command with the container\'s env, user and cwd, and TERM on a terminal', () => {
    const spec = Buffer.from(JSON.stringify({ process: { args: ['sleep', '1'], env: ['PATH=/bin', 'A=1'], cwd: '/srv/app', user: { uid: 1000, gid: 1000 }, terminal: false, consoleSize: { height: 1, width: 1 } } }));
    const p = execProcess(spec, ['sh'], true);
    assert.deepEqual(p.args, ['sh']);
    assert.deepEqual(p.env, ['PATH=/bin', 'A=1', 'TERM=xterm']);
    assert.equal(p.cwd, '/srv/app');
    assert.deepEqual(p.user, { uid: 1000, gid: 1000 });
    assert.equal(p.terminal, true);
    assert.equal(p.consoleSize, undefined);
    assert.deepEqual(execProcess(spec, ['ls'], false).env, ['PATH=/bin', 'A=1']);
  });

  it('formats log times with nanoseconds, and limits bytes in UTF-8', async () => {
    assert.equal(logTimestamp(new Date('2026-01-02T03:04:05.678Z')), '2026-01-02T03:04:05.678000000Z');
    const chunks = (async function* () {
      yield 'ab\n';
      yield 'cd\n';
    })();
    assert.equal(await collect(limitBytes(chunks, 4)), 'ab\nc');
  });
});
