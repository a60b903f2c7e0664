/**
 * `gantry wait --for healthy|synced [--timeout 2m] [KIND/NAME]`: checks the app (or one object)
 * every second until it is healthy or synced, so a script can deploy and then wait, as
 * `kubectl wait` and `argocd app wait` do. At the timeout it exits non-zero, naming each object
 * that is not there yet and why.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { GantryError } from '../../errors.js';
import { HealthExit, healthExitCode, readAppHealth } from '../../health/read.js';
import type { AppHealth, GroupHealth, ObjectHealth } from '../../health/types.js';
import { humanDuration } from '../printers.js';
import { remoteClient } from '../remote.js';
import { historyKey, notFine, objectLine, withStore, type ReadTarget } from './inspect.js';

/** What `gantry wait` waits for. */
export type WaitCondition = 'healthy' | 'synced';

/** Options of `gantry wait`. */
export interface WaitOptions extends ReadTarget {
  for: WaitCondition;
  /** Seconds; default 300. */
  timeout?: number;
  namespace?: string;
  /** How often to look, in ms; default 1000. */
  intervalMs?: number;
  /** Called with a line whenever the state changes (the CLI prints it on stderr). */
  progress?: (line: string) => void;
  signal?: AbortSignal;
}

type Subject = { label: string; state: GroupHealth | ObjectHealth | undefined; app: AppHealth };

/** Waits; exit 0 when reached, else (timeout) the exit code `gantry status` would give, 3 at least. */
export async function runWait(target: string | undefined, o: WaitOptions): Promise<{ output: string; exitCode: number }> {
  if (o.for !== 'healthy' && o.for !== 'synced') {
    throw new GantryError('InvalidArgument', `--for ${String(o.for)}: expected healthy or synced`, { field: 'for' });
  }
  const key = target ? historyKey(target, o.namespace) : undefined;
  const timeoutMs = (o.timeout ?? 300) * 1000;
  const started = Date.now();
  // Through a server, one request a look: the server assesses the app from its own store.
  const client = await remoteClient(o);
  return withStore(o, async (store) => {
    let last = '';
    let streak = 0;
    for (;;) {
      const app = client ? await client.json<AppHealth>('/apis/gantry.dev/v1/health') : await readAppHealth(store);
      const subject: Subject = key
        ? { label: key.replace(/^([^/]+)\//, '$1 '), state: app.objects.find((x) => x.key === key), app }
        : { label: 'the app', state: app.sync.revision ? app : undefined, app };
      // Healthy must hold on two looks in a row: a pod between two crashes can look ready once.
      streak = reached(subject.state, o.for) ? streak + 1 : 0;
      if (streak >= (o.for === 'healthy' ? 2 : 1)) {
        return { output: `${subject.label} is ${o.for} (${humanDuration(Date.now() - started)})`, exitCode: HealthExit.Ok };
      }
      const line = summary(subject);
      if (line !== last) {
        o.progress?.(line);
        last = line;
      }
      if (streak === 0 && (Date.now() - started >= timeoutMs || o.signal?.aborted)) return timedOut(subject, o, started);
      try {
        await sleep(Math.min(o.intervalMs ?? 1000, Math.max(0, started + timeoutMs - Date.now())), undefined, { signal: o.signal });
      } catch {
        return timedOut(subject, o, started);
      }
    }
  });
}

function reached(state: GroupHealth | ObjectHealth | undefined, want: WaitCondition): boolean {
  if (!state) return false;
  if (want === 'synced') return state.sync.status === 'Synced';
  const h = state.health?.status ?? 'Healthy';
  return h === 'Healthy' || h === 'Suspended';
}

function summary(s: Subject): string {
  if (!s.state) return `${s.label}: ${s.label === 'the app' ? 'no revision applied yet' : 'not declared by the revision in force'}`;
  const h = s.state.health;
  return `${s.label}: ${s.state.sync.status}, ${h?.status ?? 'Healthy'}${h?.message ? `: ${h.message}` : ''}`;
}

function timedOut(s: Subject, o: WaitOptions, started: number): { output: string; exitCode: number } {
  const lines = [`timed out after ${humanDuration(Date.now() - started)} waiting for ${s.label} to be ${o.for}`];
  if (!s.state) {
    lines.push(`  ${summary(s)}`);
    return { output: lines.join('\n'), exitCode: HealthExit.Waiting };
  }
  const objects = 'key' in s.state ? [s.state] : notFine(s.app.objects);
  for (const obj of objects) lines.push(`  ${objectLine(obj)}`);
  if (objects.length === 0) lines.push(`  ${summary(s)}`);
  if (!('key' in s.state) && s.state.sync.status !== 'Synced') lines.push(`  sync: ${s.state.sync.status}${s.state.sync.message ? `: ${s.state.sync.message}` : ''}`);
  const code = healthExitCode(s.state);
  return { output: lines.join('\n'), exitCode: code === HealthExit.Ok ? HealthExit.Waiting : code };
}
