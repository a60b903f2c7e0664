import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KubeObject } from '../../src/model/types.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { WatchEvent } from '../../src/store/types.js';

const writerScript = fileURLToPath(new URL('../fixtures/store-crash-writer.ts', import.meta.url));

/** Lines "<txn> <revision>" the child printed before it died, and how it died. */
async function runAndKill(file: string, killAfter: number, track: (c: ChildProcess) => void): Promise<{ reported: Array<[number, number]>; signal: NodeJS.Signals | null }> {
  const child = spawn(process.execPath, ['--import', 'tsx', writerScript, file], { stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  const reported: Array<[number, number]> = [];
  let stderr = '';
  let partial = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      const [txn, rev] = line.split(' ').map(Number);
      reported.push([txn!, rev!]);
    }
    if (reported.length >= killAfter && child.exitCode === null) child.kill('SIGKILL');
  });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on('exit', (c, s) => resolve([c, s])),
  );
  if (signal === null && code !== 0) throw new Error(`writer failed (exit ${code}): ${stderr}`);
  return { reported, signal };
}

describe('store/sqlite crash safety', () => {
  let dir: string;
  const children: ChildProcess[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gantry-crash-'));
  });
  afterEach(async () => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('a writer killed with SIGKILL loses no committed transaction and leaves no partial one', async function () {
    this.timeout(60_000);
    const file = join(dir, 'store.db');
    const { reported, signal } = await runAndKill(file, 50, (c) => children.push(c));
    if (process.env.GANTRY_TEST_DEBUG) console.log(`      writer: ${reported.length} txns reported, signal ${signal}`);
    assert.ok(reported.length >= 50, `the writer committed ${reported.length} transactions before exiting`);
    // The kill normally lands mid-loop; if the writer was too quick to be caught, the checks below still hold.
    if (signal !== 'SIGKILL') console.warn(`      (the writer finished before the kill: ${reported.length} txns)`);

    const store = openSqliteStore(file);
    try {
      const counter = await store.get({ kind: 'ConfigMap', name: 'counter' });
      assert.ok(counter, 'the counter survives');
      const last = Number((counter.data as { n: string }).n);
      const lastReported = reported[reported.length - 1]![0];
      assert.ok(last >= lastReported, `every reported txn is present (store has up to ${last}, child reported ${lastReported})`);

      // Revisions: 1 for the counter, then 4 per transaction.
      for (const [txn, rev] of reported) assert.equal(rev, 1 + 4 * (txn + 1), `txn ${txn} was reported at revision ${rev}`);
      assert.equal(await store.revision(), 1 + 4 * (last + 1));

      // Whole transactions only: t0..t<last> each have all three objects, nothing beyond.
      const names = new Set((await store.list('ConfigMap')).items.map((o) => o.metadata.name));
      assert.equal(names.size, 1 + 3 * (last + 1));
      for (let i = 0; i <= last; i++) {
        for (const s of ['a', 'b', 'c']) assert.ok(names.has(`t${i}-${s}`), `t${i}-${s} is present`);
      }

      // The change log is whole too: every revision once, in order.
      const head = await store.revision();
      const events: WatchEvent[] = [];
      for await (const e of store.watch({ fromRevision: 0 })) {
        events.push(e);
        if (e.revision >= head) break;
      }
      assert.deepEqual(events.map((e) => e.revision), Array.from({ length: head }, (_, i) => i + 1));

      // The reopened store takes new writes after the last committed revision.
      const next = await store.create<KubeObject>({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'after-crash' } });
      assert.equal(next.metadata.resourceVersion, String(head + 1));
    } finally {
      await store.close();
    }
  });
});
