/**
 * Leader election on etcd with a lease, so that of several `gantry server` processes on one etcd
 * exactly one runs the sync loop, controllers, scheduler and audit recorder.
 *
 * The algorithm is etcd's own (its `concurrency.Election`): each candidate grants a lease and puts
 * `<prefix><election>/<lease id>` (value: its identity) attached to that lease. The candidate whose
 * key has the lowest create revision leads; every other candidate watches the key just before its
 * own and re-checks when that key goes, so a leader's exit (resign, or its lease expiring after
 * kill -9) hands over to the next candidate without a thundering herd.
 *
 * Never two leaders: a leader stops believing it leads when its lease may have expired on etcd's
 * side, measured from when it *sent* the keep-alive etcd last answered (etcd's countdown starts no
 * earlier than that), so its local view always ends before etcd could let another candidate lead.
 * Losing etcd for longer than the TTL therefore loses leadership (`onLost`, the leading signal
 * aborts), even if etcd would have kept the lease.
 *
 * Wiring: `elector.run(async (leading) => { start components; await until leading aborts; stop })`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { GantryError, errorMessage } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { prefixEnd, type EtcdClient, type EtcdWatch, type LeaseKeepAlive } from '../store/etcd-client.js';

/** Options for {@link LeaderElector}. */
export interface LeaderElectorOptions {
  /** The etcd client (shared with the etcd store, or its own). */
  client: EtcdClient;
  /** The election, e.g. `controllers`. Candidates of one election compete; other elections are independent. */
  name: string;
  /** This candidate, e.g. `<hostname>/<pid>`: what {@link LeaderElector.leader} reports. */
  identity: string;
  /** Lease TTL in seconds (default 10): how long a dead leader blocks the others at most. */
  ttlSeconds?: number;
  /** Key prefix of elections (default `/gantry/election/`). */
  prefix?: string;
  /** Called once each time leadership is lost (not on resign), with the reason. */
  onLost?: (reason: string) => void;
  logger?: Logger;
}

/** Who leads, as etcd sees it. */
export interface LeaderInfo {
  identity: string;
  /** The candidate key and its create revision (the lowest of the election). */
  key: string;
  createRevision: number;
}

type State = 'idle' | 'campaigning' | 'leading';

/** One candidate of one election; see the module comment. */
export class LeaderElector {
  private readonly client: EtcdClient;
  private readonly electionPrefix: string;
  private readonly ttlSeconds: number;
  private readonly log: Logger;
  private state: State = 'idle';
  /** Aborts when this term (campaign or leadership) ends, for whatever reason. */
  private term?: AbortController;
  private leaseId?: string;
  private key?: string;
  private keepAlive?: LeaseKeepAlive;
  /** Send times of keep-alives not answered yet, oldest first. */
  private pings: number[] = [];
  /** The lease is certainly alive on etcd until this time (ms since epoch). */
  private expiresAt = 0;
  private pingTimer?: NodeJS.Timeout;
  private checkTimer?: NodeJS.Timeout;
  private leaseTtl = 0;

  constructor(private readonly opts: LeaderElectorOptions) {
    this.client = opts.client;
    let prefix = opts.prefix ?? '/gantry/election/';
    if (!prefix.endsWith('/')) prefix += '/';
    if (!opts.name || opts.name.includes('/')) throw new GantryError('InvalidArgument', `election name "${opts.name}" must be non-empty and have no "/"`);
    this.electionPrefix = `${prefix}${opts.name}/`;
    this.ttlSeconds = Math.max(1, Math.floor(opts.ttlSeconds ?? 10));
    this.log = opts.logger ?? silentLogger();
  }

  /** True while this candidate leads. */
  get isLeader(): boolean {
    return this.state === 'leading';
  }

  /**
   * Campaigns until this candidate leads. Resolves with a signal that aborts when leadership ends
   * (lost or resigned). Rejects when `signal` aborts first, or with `StoreUnavailable` when etcd
   * cannot be reached or the lease is lost while waiting.
   */
  async campaign(signal?: AbortSignal): Promise<AbortSignal> {
    if (this.state !== 'idle') throw new GantryError('InvalidArgument', `election ${this.opts.name}: already ${this.state}`);
    this.state = 'campaigning';
    const term = new AbortController();
    this.term = term;
    const onAbort = (): void => void this.endTerm('campaign aborted', false);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      signal?.throwIfAborted();
      const sentAt = Date.now();
      const lease = await this.client.leaseGrant(this.ttlSeconds);
      this.leaseId = lease.id;
      this.leaseTtl = lease.ttl;
      this.expiresAt = sentAt + lease.ttl * 1000;
      this.startKeepAlive(term);
      const key = `${this.electionPrefix}${BigInt(lease.id).toString(16)}`;
      this.key = key;
      const put = await this.client.txn({
        compare: [{ key, target: 'CREATE', result: 'EQUAL', createRevision: 0 }],
        success: [{ put: { key, value: this.opts.identity, lease: lease.id } }],
        failure: [{ range: { key } }],
      });
      const myRevision = put.succeeded ? put.revision : (put.responses[0]?.kvs[0]?.createRevision ?? put.revision);
      await this.waitForPredecessors(myRevision, term.signal);
      term.signal.throwIfAborted();
      this.state = 'leading';
      this.watchOwnKey(key, myRevision + 1, term);
      this.log.info({ election: this.opts.name, identity: this.opts.identity }, 'became leader');
      return term.signal;
    } catch (err) {
      const reason = term.signal.aborted ? String(term.signal.reason ?? 'campaign ended') : errorMessage(err);
      await this.endTerm(reason, false);
      if (signal?.aborted) throw signal.reason ?? new Error('aborted');
      throw err instanceof GantryError ? err : new GantryError('StoreUnavailable', `election ${this.opts.name}: ${reason}`, { cause: err });
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Gives up leadership (or the campaign) at once: the lease is revoked, so the next candidate leads now. */
  async resign(): Promise<void> {
    await this.endTerm('resigned', false);
  }

  /**
   * Leads repeatedly until `signal` aborts: campaign, run `fn` with the leading signal, and when
   * leadership is lost (after `fn` returns) campaign again. `fn` must stop its work when the
   * signal aborts. Resigns when `signal` aborts or `fn` returns on its own.
   */
  async run(fn: (leading: AbortSignal) => Promise<void>, signal?: AbortSignal): Promise<void> {
    while (!signal?.aborted) {
      let leading: AbortSignal;
      try {
        leading = await this.campaign(signal);
      } catch (err) {
        if (signal?.aborted) break;
        this.log.warn({ election: this.opts.name, err: errorMessage(err) }, 'campaign failed; retrying');
        await sleep(1000, undefined, { signal }).catch(() => undefined);
        continue;
      }
      const stop = (): void => void this.resign();
      let failed = false;
      signal?.addEventListener('abort', stop, { once: true });
      try {
        await fn(leading);
      } catch (err) {
        this.log.error({ election: this.opts.name, err: errorMessage(err) }, 'leader work failed');
        failed = true;
      } finally {
        signal?.removeEventListener('abort', stop);
        if (!leading.aborted) await this.resign();
      }
      // Work that fails at once would otherwise take and drop leadership in a tight loop.
      if (failed) await sleep(1000, undefined, { signal }).catch(() => undefined);
    }
    await this.resign();
  }

  /** The current leader as etcd sees it (the candidate key with the lowest create revision). */
  async leader(): Promise<LeaderInfo | undefined> {
    const res = await this.client.range({
      key: this.electionPrefix,
      rangeEnd: prefixEnd(this.electionPrefix),
      sortTarget: 'CREATE',
      sortOrder: 'ASCEND',
      limit: 1,
    });
    const kv = res.kvs[0];
    return kv ? { identity: kv.value.toString('utf8'), key: kv.key.toString('utf8'), createRevision: kv.createRevision } : undefined;
  }

  /** Waits until no candidate key older than ours exists. */
  private async waitForPredecessors(myRevision: number, signal: AbortSignal): Promise<void> {
    for (;;) {
      signal.throwIfAborted();
      const res = await this.client.range({
        key: this.electionPrefix,
        rangeEnd: prefixEnd(this.electionPrefix),
        maxCreateRevision: myRevision - 1,
        sortTarget: 'CREATE',
        sortOrder: 'DESCEND',
        limit: 1,
      });
      const before = res.kvs[0];
      if (!before) return;
      this.log.debug({ election: this.opts.name, waitingFor: before.value.toString('utf8') }, 'waiting for the candidate before us');
      await this.waitForDelete(before.key, res.revision + 1, signal);
    }
  }

  /** Resolves when `key` is deleted after `fromRevision`, or when the watch ends (the caller re-checks). */
  private waitForDelete(key: Buffer, fromRevision: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let watch: EtcdWatch | undefined;
      const done = (err?: unknown): void => {
        signal.removeEventListener('abort', onAbort);
        watch?.cancel();
        if (err) reject(err);
        else resolve();
      };
      const onAbort = (): void => done(signal.reason ?? new Error('aborted'));
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        watch = this.client.watch({
          key,
          startRevision: fromRevision,
          onEvents: (events) => {
            if (events.some((e) => e.type === 'DELETE')) done();
          },
          // A broken or compacted watch: re-check with a range read (which fails if etcd is gone).
          onEnd: () => setTimeout(() => done(), 200),
        });
      } catch (err) {
        done(err);
      }
    });
  }

  /**
   * While leading, our key vanishing (deleted by hand, or the lease revoked elsewhere) means the
   * next candidate may already lead: step down at once rather than at the next keep-alive.
   */
  private watchOwnKey(key: string, fromRevision: number, term: AbortController): void {
    if (term.signal.aborted) return;
    let watch: EtcdWatch | undefined;
    try {
      watch = this.client.watch({
        key,
        startRevision: fromRevision,
        onEvents: (events) => {
          if (events.some((e) => e.type === 'DELETE')) void this.endTerm('our election key was deleted', true);
        },
        // A broken watch is re-made; meanwhile the lease checks still guard leadership.
        onEnd: () => {
          if (term.signal.aborted) return;
          setTimeout(() => {
            void this.client.range({ key }).then(
              (res) => {
                if (term.signal.aborted) return;
                if (res.kvs.length === 0) void this.endTerm('our election key was deleted', true);
                else this.watchOwnKey(key, res.revision + 1, term);
              },
              () => this.watchOwnKey(key, fromRevision, term),
            );
          }, 500);
        },
      });
    } catch {
      return;
    }
    term.signal.addEventListener('abort', () => watch?.cancel(), { once: true });
  }

  private startKeepAlive(term: AbortController): void {
    const interval = Math.max(200, Math.floor((this.leaseTtl * 1000) / 3));
    const open = (): LeaseKeepAlive =>
      this.client.leaseKeepAlive(this.leaseId!, {
        onResponse: (ttl) => {
          const sentAt = this.pings.shift() ?? Date.now();
          if (ttl <= 0) {
            void this.endTerm('the lease expired on etcd', true);
            return;
          }
          this.expiresAt = Math.max(this.expiresAt, sentAt + ttl * 1000);
        },
        onEnd: (err) => {
          this.log.debug({ election: this.opts.name, err: err.message }, 'lease keep-alive stream ended; reopening');
          this.keepAlive = undefined;
          this.pings = [];
        },
      });
    const ping = (): void => {
      if (term.signal.aborted) return;
      try {
        this.keepAlive ??= open();
        this.pings.push(Date.now());
        this.keepAlive.ping();
      } catch (err) {
        this.log.debug({ election: this.opts.name, err: errorMessage(err) }, 'cannot send a lease keep-alive');
      }
    };
    // Referenced timers: a candidate keeps its process alive until it resigns or loses.
    this.pingTimer = setInterval(ping, interval);
    // Checked often: the margin between etcd expiring the lease and us noticing is at most this.
    this.checkTimer = setInterval(() => {
      if (Date.now() >= this.expiresAt) {
        void this.endTerm(`no keep-alive was answered within the lease TTL (${this.leaseTtl} s); etcd is unreachable`, true);
      }
    }, Math.min(250, interval));
  }

  /** Ends the current term: stops keep-alives, aborts the term's signal, revokes the lease (best effort). */
  private async endTerm(reason: string, lost: boolean): Promise<void> {
    if (this.state === 'idle') return;
    const wasLeading = this.state === 'leading';
    this.state = 'idle';
    if (this.pingTimer) clearInterval(this.pingTimer);
    if (this.checkTimer) clearInterval(this.checkTimer);
    this.pingTimer = this.checkTimer = undefined;
    this.keepAlive?.close();
    this.keepAlive = undefined;
    this.pings = [];
    const leaseId = this.leaseId;
    this.leaseId = this.key = undefined;
    this.term?.abort(reason);
    this.term = undefined;
    if (wasLeading) this.log.info({ election: this.opts.name, identity: this.opts.identity, reason }, lost ? 'lost leadership' : 'stepped down');
    if (lost && wasLeading) this.opts.onLost?.(reason);
    if (leaseId) {
      // Revoking deletes our key at once, so the next candidate need not wait for the TTL.
      await this.client.leaseRevoke(leaseId).catch((err: unknown) =>
        this.log.debug({ election: this.opts.name, err: errorMessage(err) }, 'cannot revoke the lease (it expires on its own)'),
      );
    }
  }
}
