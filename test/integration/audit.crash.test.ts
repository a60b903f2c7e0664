import assert from 'node:assert/strict';
import { once } from 'node:events';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { openRecorder } from '../../src/audit/recorder.js';
import { git, tempDir } from '../helpers/git-http-server.js';

const recorderModule = pathToFileURL(fileURLToPath(new URL('../../src/audit/recorder.ts', import.meta.url))).href;

/** A child process recording changes without pause and reporting each committed batch. */
function writerScript(gitdir: string): string {
  return `
    const { openRecorder } = await import(${JSON.stringify(recorderModule)});
    let committed = 0;
    const r = await openRecorder(${JSON.stringify(gitdir)}, {
      batchSize: 20,
      onCommitted: (b) => { committed += b.items.length; process.stdout.write('committed ' + committed + '\\n'); },
    });
    let i = 0;
    const tick = () => {
      for (let k = 0; k < 20; k++) {
        i++;
        const obj = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm-' + (i % 50), namespace: 'ns-' + (i % 3), resourceVersion: String(i) }, data: { n: String(i) } };
        r.recordChange({ type: i <= 50 ? 'ADDED' : 'MODIFIED', object: obj, prevObject: obj, revision: i });
      }
      setTimeout(tick, 1);
    };
    tick();
  `;
}

describe('GitRecorder after a crash', function () {
  this.timeout(60_000);
  let tmp: { dir: string; cleanup(): Promise<void> };
  let child: ChildProcess | undefined;

  beforeEach(async () => {
    tmp = await tempDir('gantry-audit-crash-');
  });
  afterEach(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    child = undefined;
    await tmp.cleanup();
  });

  it('keeps a complete, continuing chain when the writer is killed mid-write', async () => {
    const gitdir = path.join(tmp.dir, 'history.git');
    child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', writerScript(gitdir)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const proc = child;
    // Kill it (SIGKILL: no cleanup of any kind) once a few hundred changes are committed.
    await new Promise<void>((resolve, reject) => {
      let out = '';
      proc.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const m = [...out.matchAll(/committed (\d+)/g)].pop();
        if (m && Number(m[1]) >= 300) {
          proc.kill('SIGKILL');
          resolve();
        }
      });
      proc.on('exit', (code, signal) => { if (signal !== 'SIGKILL') reject(new Error(`writer exited early (${code})`)); });
    });
    if (proc.exitCode === null && proc.signalCode === null) await once(proc, 'exit');

    // Whatever the branch points at is complete: every object reachable from it exists and parses.
    await git(tmp.dir, ['--git-dir', gitdir, 'fsck', '--strict', '--no-dangling', '--no-progress']);
    const count = Number(await git(tmp.dir, ['--git-dir', gitdir, 'rev-list', '--count', 'status']));
    assert.ok(count >= 300, `commits after the crash: ${count}`);

    // A new recorder continues the chain from there.
    const head = await git(tmp.dir, ['--git-dir', gitdir, 'rev-parse', 'status']);
    const r = await openRecorder(gitdir);
    const obj = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'after', namespace: 'ns-0' }, data: {} };
    r.recordChange({ type: 'ADDED', object: obj, revision: 1_000_000 });
    await r.close();
    assert.equal(await git(tmp.dir, ['--git-dir', gitdir, 'rev-parse', 'status~1']), head);
    assert.equal(await git(tmp.dir, ['--git-dir', gitdir, 'log', '-1', '--format=%s', 'status']), 'ConfigMap ns-0/after created');
    const files = await git(tmp.dir, ['--git-dir', gitdir, 'ls-tree', '-r', '--name-only', 'status']);
    assert.equal(files.split('\n').length, 151);
    await git(tmp.dir, ['--git-dir', gitdir, 'fsck', '--strict', '--no-dangling', '--no-progress']);
  });
});
