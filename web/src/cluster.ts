/**
 * The live cluster the views draw: every kind listed once, then one watch stream (gantry's
 * `watch` route, all kinds, Secret values redacted by the server) keeps the copy current, so a
 * rollout shows up without a reload. One stream for everything: a browser holds only six
 * connections to a server, and the logs need one too.
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, GANTRY, getJson, streamLines } from './api';
import { ObjectCache, type CacheEvent } from './lib/cache';
import { TREE_KINDS } from './lib/tree';
import type { KubeObject } from '../../src/model/types.js';

/** Kinds the dashboard lists at start: what its pages draw (the watch brings any kind that changes). */
export const LISTED_KINDS = ['Sync', 'Node', 'Namespace', ...TREE_KINDS, 'Event'] as const;

/** Where the feed is. */
export type FeedState = 'loading' | 'live' | 'reconnecting';

/** The cluster copy and its watch. */
export class ClusterFeed {
  readonly cache = new ObjectCache();
  /** Bumped on every change the views should see. */
  version = 0;
  state: FeedState = 'loading';
  /** Why the last watch ended, while reconnecting. */
  problem?: string;
  /** Kinds this token may not read (a read-only token: Secrets). */
  readonly forbidden = new Set<string>();
  private readonly listeners = new Set<() => void>();
  private scheduled = false;
  private readonly ac = new AbortController();

  /** Lists, then watches until {@link stop}; reconnects (and lists again) when the stream ends. */
  start(): void {
    void this.run();
  }

  /** Ends the watch and any list in flight; the feed does not start again. */
  stop(): void {
    this.ac.abort();
  }

  /** Calls `fn` (at most once a frame) after changes; returns the unsubscribe function. */
  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(): void {
    this.version++;
    // Many events arrive together during a rollout: draw once per frame.
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      for (const fn of this.listeners) fn();
    });
  }

  private async run(): Promise<void> {
    let delay = 500;
    while (!this.ac.signal.aborted) {
      try {
        const from = await this.listAll();
        this.state = 'live';
        this.problem = undefined;
        this.changed();
        delay = 500;
        await streamLines(`${GANTRY}/watch?fromRevision=${from}&redact=true`, (line) => this.onLine(line), { signal: this.ac.signal });
        this.problem = 'the watch ended';
      } catch (err) {
        if (this.ac.signal.aborted) return;
        if (err instanceof ApiError && err.status === 401) return;
        this.problem = err instanceof Error ? err.message : String(err);
      }
      if (this.ac.signal.aborted) return;
      this.state = 'reconnecting';
      this.changed();
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 10_000);
    }
  }

  /** Lists every kind; returns the oldest list's revision, where the watch starts. */
  private async listAll(): Promise<number> {
    const lists = await Promise.all(LISTED_KINDS.map(async (kind) => {
      try {
        return { kind, list: await getJson<{ items: KubeObject[]; revision: number }>(`${GANTRY}/objects/${kind}?redact=true`, { signal: this.ac.signal }) };
      } catch (err) {
        if (err instanceof ApiError && err.status === 403) {
          this.forbidden.add(kind);
          return undefined;
        }
        throw err;
      }
    }));
    let from = Number.MAX_SAFE_INTEGER;
    for (const l of lists) {
      if (!l) continue;
      this.cache.replace(l.kind, l.list.items, l.list.revision);
      from = Math.min(from, l.list.revision);
    }
    return from === Number.MAX_SAFE_INTEGER ? 0 : from;
  }

  private onLine(line: string): void {
    if (!line.trim()) return;
    const ev = JSON.parse(line) as CacheEvent | { type: 'ERROR'; message: string };
    if (ev.type === 'ERROR') throw new Error(ev.message);
    if (this.cache.apply(ev)) this.changed();
  }
}

let feed: ClusterFeed | undefined;

/** The page's one feed, started on first use. */
export function clusterFeed(): ClusterFeed {
  if (!feed) {
    feed = new ClusterFeed();
    feed.start();
  }
  return feed;
}

/** Stops the feed (on sign-out). */
export function resetClusterFeed(): void {
  feed?.stop();
  feed = undefined;
}

/** The live cluster; the calling component draws again when it changes. */
export function useCluster(): ClusterFeed {
  const f = clusterFeed();
  const [, setVersion] = useState(f.version);
  useEffect(() => f.subscribe(() => setVersion(f.version)), [f]);
  return f;
}
