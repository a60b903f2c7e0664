import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createFifos } from '../../src/node/containerd/fifo.js';

/** Runs `sh -c script`, as the shim would open the other ends; resolves with its exit code and output. */
function sh(script: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, out }));
  });
}

function readAll(s: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    s.on('data', (d: Buffer) => (text += d.toString()));
    s.on('end', () => resolve(text));
  });
}

describe('exec FIFOs', function () {
  this.timeout(10_000);
  let root = '';
  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'gantry-fifo-'));
  });
  after(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('opens every end without waiting for the other side, and the output ends only when its writer closes', async () => {
    const dir = path.join(root, 'a');
    const fifos = await createFifos(dir, { stdin: true, stdout: true, stderr: true });
    try {
      let ended = false;
      const out = readAll(fifos.stdout!).then((t) => ((ended = true), t));
      // No writer of ours left and none of the "shim" yet would read as end-of-file: the placeholder holds it open.
      await sleep(100);
      assert.equal(ended, false);
      // The "shim" opens its writer, then writes a little later; ours goes once it holds its own (as after Start).
      const writer = sh(`exec 3>${fifos.paths.stdout}; sleep 0.3; echo from-process >&3`);
      await sleep(150);
      await fifos.releaseKeepers();
      assert.equal(ended, false);
      await writer;
      assert.equal(await out, 'from-process\n');
    } finally {
      await fifos.dispose();
    }
    assert.equal(existsSync(dir), false, 'dispose removes the directory');
  });

  it('delivers what is written to stdin to the reader, and end-of-file once our end is closed', async () => {
    const fifos = await createFifos(path.join(root, 'b'), { stdin: true });
    try {
      assert.equal(fifos.paths.stdout, '');
      const reader = sh(`cat ${fifos.paths.stdin}`);
      fifos.stdin!.write('line one\n');
      // Our end closes only once the reader has the FIFO open (the shim opens it at Exec): a FIFO
      // whose last end closes drops what it held.
      await sleep(300);
      fifos.stdin!.end('line two\n', () => fifos.stdin!.destroy());
      const r = await reader;
      assert.equal(r.code, 0);
      assert.equal(r.out, 'line one\nline two\n');
    } finally {
      await fifos.dispose();
    }
  });
});
