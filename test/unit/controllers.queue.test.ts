import assert from 'node:assert/strict';
import { ExponentialBackoff, MaxOf, TokenBucket, WorkQueue, type Clock } from '../../src/controllers/queue.js';

/** Time that moves only when the test says so. */
class FakeClock implements Clock {
  t = 0;
  private timers: { id: number; at: number; fn: () => void }[] = [];
  private next = 1;
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.timers.push({ id, at: this.t + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== handle);
  }
  advance(ms: number): void {
    const target = this.t + ms;
    for (;;) {
      const due = this.timers.filter((x) => x.at <= target).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = due.at;
      due.fn();
    }
    this.t = target;
  }
}

/** Resolves with the value if the promise settles within a few turns of the event loop, else 'pending'. */
async function settled<T>(p: Promise<T>): Promise<T | 'pending'> {
  return Promise.race([p, new Promise<'pending'>((r) => setImmediate(() => r('pending')))]);
}

/** Takes and finishes every queued key, as a worker would. */
async function drain(q: WorkQueue): Promise<string[]> {
  const out: string[] = [];
  while (q.len() > 0) {
    const k = (await q.get())!;
    out.push(k);
    q.done(k);
  }
  return out;
}

describe('controllers/queue', () => {
  it('add() collapses repeated adds of a key into one entry', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add('a');
    q.add('b');
    q.add('a');
    assert.equal(q.len(), 2);
    assert.equal(await q.get(), 'a');
    assert.equal(await q.get(), 'b');
    assert.equal(q.len(), 0);
  });

  it('never hands a key that is being processed to a second worker; a re-add runs after done()', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add('a');
    const first = await q.get();
    assert.equal(first, 'a');
    q.add('a');
    q.add('a');
    const second = q.get();
    assert.equal(await settled(second), 'pending', 'a second worker must not get "a" while it is processed');
    q.done('a');
    assert.equal(await settled(second), 'a', 'the re-added key comes back once, after done()');
    q.done('a');
    assert.equal(q.len(), 0);
  });

  it('hands other keys to other workers while one key is processed', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add('a');
    assert.equal(await q.get(), 'a');
    q.add('a');
    q.add('b');
    assert.equal(await q.get(), 'b');
  });

  it('get() waits for an add, and returns undefined when its signal aborts', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    const waiting = q.get();
    assert.equal(await settled(waiting), 'pending');
    q.add('x');
    assert.equal(await waiting, 'x');
    const ac = new AbortController();
    const aborted = q.get(ac.signal);
    ac.abort();
    assert.equal(await aborted, undefined);
    q.add('y');
    assert.equal(await q.get(), 'y', 'an aborted get() does not swallow a later key');
  });

  it('addAfter() makes the key available only once the delay has passed, the earliest delay winning', () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.addAfter('a', 100);
    q.addAfter('a', 500);
    clock.advance(99);
    assert.equal(q.len(), 0);
    clock.advance(1);
    assert.equal(q.len(), 1);
    clock.advance(1000);
    assert.equal(q.len(), 1, 'the later addAfter did not add a second time');
  });

  it('addRateLimited() backs a failing key off exponentially, and forget() resets it', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, rateLimiter: new ExponentialBackoff(5, 1000) });
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      const start = clock.now();
      q.addRateLimited('a');
      let waited = 0;
      while (q.len() === 0) {
        clock.advance(1);
        waited++;
      }
      delays.push(clock.now() - start);
      assert.deepEqual(await drain(q), ['a']);
      assert.ok(waited > 0);
    }
    assert.deepEqual(delays, [5, 10, 20, 40]);
    assert.equal(q.numRequeues('a'), 4);
    q.forget('a');
    assert.equal(q.numRequeues('a'), 0);
    q.addRateLimited('a');
    clock.advance(5);
    assert.equal(q.len(), 1, 'after forget() the first retry waits the base delay again');
  });

  it('ExponentialBackoff grows per key, independently, up to its maximum', () => {
    const b = new ExponentialBackoff(5, 1000);
    const seen = Array.from({ length: 10 }, () => b.when('a'));
    assert.deepEqual(seen, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
    assert.equal(b.when('b'), 5);
    b.forget('a');
    assert.equal(b.when('a'), 5);
  });

  it('the default backoff starts at 5 ms and caps at 1000 s, as client-go', () => {
    const b = new ExponentialBackoff();
    assert.equal(b.when('k'), 5);
    for (let i = 0; i < 40; i++) b.when('k');
    assert.equal(b.when('k'), 1_000_000);
  });

  it('TokenBucket allows a burst, then paces retries at its rate and refills over time', () => {
    const clock = new FakeClock();
    const tb = new TokenBucket(10, 3, clock);
    assert.deepEqual([tb.when('a'), tb.when('b'), tb.when('c')], [0, 0, 0]);
    assert.equal(tb.when('d'), 100);
    assert.equal(tb.when('e'), 200);
    clock.advance(1000);
    assert.equal(tb.when('f'), 0, 'tokens came back after a second');
  });

  it('MaxOf takes the longest delay of its limiters, so the overall rate caps many failing keys', () => {
    const clock = new FakeClock();
    const limiter = new MaxOf(new ExponentialBackoff(5, 1000), new TokenBucket(10, 2, clock));
    // Many different keys each fail once: per-key backoff says 5 ms, the bucket says otherwise.
    const delays = ['a', 'b', 'c', 'd'].map((k) => limiter.when(k));
    assert.deepEqual(delays, [5, 5, 100, 200]);
  });

  it('shutdown() releases waiting workers and ignores later adds', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    const waiting = q.get();
    q.addAfter('late', 10);
    q.shutdown();
    assert.equal(await waiting, undefined);
    q.add('x');
    clock.advance(100);
    assert.equal(q.len(), 0);
    assert.equal(await q.get(), undefined);
  });
});
