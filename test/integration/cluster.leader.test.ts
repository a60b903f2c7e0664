import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { LeaderElector } from '../../src/cluster/leader.js';
import type { EtcdClient } from '../../src/store/etcd-client.js';
import { etcdBinary, startTestEtcd, type TestEtcd } from '../helpers/etcd.js';

const TTL = 3;
const childScript = fileURLToPath(new URL('../helpers/leader-child.ts', import.meta.url));

/** A candidate in a child process, with the lines it printed. */
interface ChildCandidate {
  proc: ChildProcess;
  lines: string[];
  /** Resolves when the child printed a line matching `re`. */
  waitFor(re: RegExp, timeoutMs: number): Promise<void>;
}

function startChild(endpoint: string, election: string, identity: string): ChildCandidate {
  const proc = spawn(process.execPath, ['--import', 'tsx', childScript, endpoint, election, identity, String(TTL)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    lines.push(line);
    for (const w of [...waiters]) if (w.re.test(line)) w.resolve();
  });
  return {
    proc,
    lines,
    waitFor: (re, timeoutMs) =>
      new Promise<void>((resolve, reject) => {
        if (lines.some((l) => re.test(l))) return resolve();
        const timer = setTimeout(() => reject(new Error(`child ${identity} did not print ${re} within ${timeoutMs} ms (printed: ${lines.join(' | ')})`)), timeoutMs);
        waiters.push({ re, resolve: () => (clearTimeout(timer), resolve()) });
      }),
  };
}

async function waitUntil(cond: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const started = Date.now();
  while (!cond()) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await sleep(20);
  }
  return Date.now() - started;
}

if (!etcdBinary()) {
  describe('cluster/leader', () => {
    it('is skipped: etcd is not installed (Debian package etcd-server; scripts/setup.sh installs it)', function () {
      this.skip();
    });
  });
} else {
  describe('cluster/leader', function () {
    this.timeout(60_000);
    let etcd: TestEtcd;
    let client: EtcdClient;
    const children: ChildProcess[] = [];
    const electors: LeaderElector[] = [];
    let election = 0;
    const nextElection = (): string => `test-${++election}`;
    const elector = (name: string, identity: string, extra: { onLost?: (r: string) => void } = {}): LeaderElector => {
      const e = new LeaderElector({ client, name, identity, ttlSeconds: TTL, ...extra });
      electors.push(e);
      return e;
    };

    before(async () => {
      etcd = await startTestEtcd();
      client = etcd.client();
    });
    after(async () => {
      client?.close();
      await etcd?.destroy();
    });
    afterEach(async () => {
      etcd.thaw();
      for (const e of electors.splice(0)) await e.resign();
      for (const c of children.splice(0)) {
        if (c.exitCode === null && c.signalCode === null) {
          c.kill('SIGKILL');
          await new Promise((r) => c.once('exit', r));
        }
      }
    });

    it('of two candidates one leads; the other takes over within TTL + 2 s after the leader is killed with SIGKILL', async () => {
      const name = nextElection();
      const child = startChild(etcd.endpoint, name, 'child');
      children.push(child.proc);
      await child.waitFor(/^leading$/, 20_000);
      const standby = elector(name, 'standby');
      let standbyLeads = false;
      const campaign = standby.campaign().then((s) => {
        standbyLeads = true;
        return s;
      });
      await sleep(TTL * 1000 + 500);
      assert.equal(standbyLeads, false, 'the standby waits while the leader lives, even past one TTL');
      assert.equal((await standby.leader())?.identity, 'child');

      child.proc.kill('SIGKILL');
      const killedAt = Date.now();
      await campaign;
      const takeover = Date.now() - killedAt;
      assert.ok(takeover <= (TTL + 2) * 1000, `took over after ${takeover} ms`);
      assert.ok(takeover >= 1000, `took over after ${takeover} ms, before the dead leader's lease could have expired`);
      assert.equal((await standby.leader())?.identity, 'standby', 'etcd agrees');
      assert.equal(standby.isLeader, true);
    });

    it('resign() hands over at once', async () => {
      const name = nextElection();
      const a = elector(name, 'a');
      const b = elector(name, 'b');
      const leadingA = await a.campaign();
      const campaignB = b.campaign();
      await sleep(300);
      assert.equal(b.isLeader, false);
      const resignedAt = Date.now();
      await a.resign();
      await campaignB;
      assert.ok(Date.now() - resignedAt < 1000, `handed over after ${Date.now() - resignedAt} ms`);
      assert.equal(leadingA.aborted, true, "the old leader's signal aborted");
      assert.equal(a.isLeader, false);
      assert.equal((await b.leader())?.identity, 'b');
    });

    it('never has two leaders at once while leaders resign and come back, and the leader is who etcd says', async () => {
      const name = nextElection();
      const candidates = ['x', 'y', 'z'].map((id) => elector(name, id));
      const identities = new Map(candidates.map((c, i) => [c, ['x', 'y', 'z'][i]!]));
      let checks = 0;
      const stop = new AbortController();
      let violations = 0;
      let handovers = 0;
      const runs = candidates.map((c) =>
        c.run(async (leading) => {
          handovers++;
          // Hold leadership a short random while, then give it up by returning.
          await sleep(100 + Math.floor(Math.random() * 200), undefined, { signal: leading }).catch(() => undefined);
        }, stop.signal),
      );
      const deadline = Date.now() + 5_000;
      while (Date.now() < deadline) {
        const leaders = candidates.filter((c) => c.isLeader);
        if (leaders.length > 1) violations++;
        if (leaders.length === 1) {
          const local = leaders[0]!;
          const seen = await candidates[0]!.leader();
          // A candidate that leads before and after the read must be etcd's leader at the read.
          if (local.isLeader) {
            checks++;
            if (seen?.identity !== identities.get(local)) violations++;
          }
        }
        await sleep(10);
      }
      stop.abort();
      await Promise.all(runs);
      assert.equal(violations, 0, 'two candidates believed they led at the same time, or the leader was not the one etcd named');
      assert.ok(checks > 10, `compared with etcd's view ${checks} times`);
      assert.ok(handovers >= 5, `leadership changed hands ${handovers} times`);
    });

    it('a leader whose election key is deleted steps down at once (onLost) and the next candidate leads', async () => {
      const name = nextElection();
      const lost: string[] = [];
      const a = elector(name, 'a', { onLost: (r) => lost.push(r) });
      const b = elector(name, 'b');
      const leading = await a.campaign();
      const campaignB = b.campaign();
      const key = (await a.leader())!.key;
      await sleep(200);
      await client.txn({ success: [{ deleteRange: { key } }] });
      await waitUntil(() => leading.aborted, 2000, 'stepping down');
      await campaignB;
      assert.deepEqual(lost, ['our election key was deleted']);
      assert.equal((await b.leader())?.identity, 'b');
    });

    it('a leader that cannot reach etcd for longer than the TTL loses leadership (onLost, signal aborted) and a standby takes over', async () => {
      const name = nextElection();
      const lost: string[] = [];
      const a = elector(name, 'a', { onLost: (r) => lost.push(r) });
      const leading = await a.campaign();
      etcd.freeze();
      const frozenAt = Date.now();
      const lostAfter = await waitUntil(() => leading.aborted, (TTL + 2) * 1000, 'losing leadership');
      assert.ok(Date.now() - frozenAt <= (TTL + 1) * 1000, `lost after ${lostAfter} ms`);
      assert.equal(a.isLeader, false);
      assert.equal(lost.length, 1);
      assert.match(lost[0]!, /lease TTL|expired/);
      etcd.thaw();
      const b = elector(name, 'b');
      await b.campaign();
      assert.equal((await b.leader())?.identity, 'b');
    });
  });
}
