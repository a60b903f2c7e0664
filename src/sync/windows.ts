/**
 * Sync windows, as Argo CD has them: a window is `allow` or `deny`, opens at each time of a cron
 * schedule and stays open for a duration. With no windows every sync may run; with allow windows
 * only while one is open; never while a deny window is open (deny wins over allow). A window with
 * `manualSync` lets a manual sync through when it would otherwise be blocked — through an open
 * deny window only when every open deny window allows it, outside the allow windows when any of
 * them does (Argo CD's `SyncWindows.CanSync`). Times are in UTC unless a window names a zone.
 *
 * Written on the command line as `KIND SCHEDULE DURATION [manual] [tz=ZONE]`:
 * `deny 0 22 * * * 8h`, `allow 0 9 * * 1-5 8h manual`, `deny @daily 1h tz=Europe/Berlin`.
 */
import { GantryError } from '../errors.js';
import { expandSchedule, parser, validateSchedule, validateTimeZone } from '../model/cron.js';
import { k8sTime } from '../model/time.js';

/** One sync window. */
export interface SyncWindow {
  kind: 'allow' | 'deny';
  /** 5-field cron schedule (or an @-macro) of the times the window opens. */
  schedule: string;
  /** How long it stays open, as written (`8h`, `1h30m`). */
  duration: string;
  /** Lets manual syncs (`gantry sync --now --force`) through. */
  manualSync?: boolean;
  /** IANA zone of the schedule; UTC when absent. */
  timeZone?: string;
}

/** Whether a sync may run now, and if not why and until when. */
export type WindowVerdict =
  | { allowed: true }
  | { allowed: false; message: string; until?: Date; manualAllowed: boolean };

const DURATION = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/** A duration as Argo CD writes them (`8h`, `30m`, `1h30m`) in ms. */
function durationMs(text: string, where: string): number {
  const m = DURATION.exec(text);
  const ms = m ? (Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0)) * 1000 : 0;
  if (!m || ms <= 0) throw new GantryError('InvalidArgument', `${where}: duration "${text}" is not a positive duration such as 8h, 30m or 1h30m`, { field: where });
  return ms;
}

/**
 * Parses `KIND SCHEDULE DURATION [manual] [tz=ZONE]` (SCHEDULE is five fields or an @-macro).
 * Throws `InvalidArgument` naming `where` (the flag) and what is wrong.
 */
export function parseSyncWindow(text: string, where = '--sync-window'): SyncWindow {
  const words = text.trim().split(/\s+/);
  const kind = words.shift();
  if (kind !== 'allow' && kind !== 'deny') {
    throw new GantryError('InvalidArgument', `${where} "${text}": starts with allow or deny (e.g. 'deny 0 22 * * * 8h')`, { field: where });
  }
  const fields = words[0]?.startsWith('@') ? 1 : 5;
  const schedule = words.splice(0, fields).join(' ');
  const why = validateSchedule(schedule);
  if (why) throw new GantryError('InvalidArgument', `${where} "${text}": schedule "${schedule}": ${why}`, { field: where });
  const duration = words.shift() ?? '';
  durationMs(duration, `${where} "${text}"`);
  const window: SyncWindow = { kind, schedule, duration };
  for (const w of words) {
    if (w === 'manual') window.manualSync = true;
    else if (w.startsWith('tz=')) {
      const zoneWhy = validateTimeZone(w.slice(3));
      if (zoneWhy) throw new GantryError('InvalidArgument', `${where} "${text}": ${zoneWhy}`, { field: where });
      window.timeZone = w.slice(3);
    } else {
      throw new GantryError('InvalidArgument', `${where} "${text}": unexpected "${w}" (after the duration only "manual" and "tz=ZONE" may follow)`, { field: where });
    }
  }
  return window;
}

/** The window as written on the command line. */
export function formatSyncWindow(w: SyncWindow): string {
  return [w.kind, w.schedule, w.duration, ...(w.manualSync ? ['manual'] : []), ...(w.timeZone ? [`tz=${w.timeZone}`] : [])].join(' ');
}

function cron(w: SyncWindow, from: number): ReturnType<ReturnType<typeof parser>['parse']> {
  return parser().parse(expandSchedule(w.schedule), { currentDate: new Date(from), tz: w.timeZone ?? 'UTC' });
}

/** The opening of `w` in force at `now` as [start, end), or undefined when it is closed. */
export function openAt(w: SyncWindow, now: number): { start: number; end: number } | undefined {
  // The latest opening at or before now is the one that closes last.
  const start = cron(w, now + 1).prev().getTime();
  const end = start + durationMs(w.duration, 'sync window');
  return now < end ? { start, end } : undefined;
}

/** The next time `w` opens after `now`. */
function nextOpening(w: SyncWindow, now: number): number {
  return cron(w, now).next().getTime();
}

/** Argo CD's rule: may a sync (manual or not) run at `now`? */
function canSync(windows: readonly SyncWindow[], now: number, manual: boolean): boolean {
  if (windows.length === 0) return true;
  const open = windows.filter((w) => openAt(w, now));
  const denies = open.filter((w) => w.kind === 'deny');
  if (denies.length > 0) return manual && denies.every((w) => w.manualSync === true);
  if (open.some((w) => w.kind === 'allow')) return true;
  const allows = windows.filter((w) => w.kind === 'allow');
  if (allows.length > 0) return manual && allows.some((w) => w.manualSync === true);
  return true;
}

/** Boundaries past which the verdict may change, after `t`: open windows' ends, allow windows' next openings. */
function nextBoundary(windows: readonly SyncWindow[], t: number): number | undefined {
  const times: number[] = [];
  for (const w of windows) {
    const open = openAt(w, t);
    if (open) times.push(open.end);
    if (w.kind === 'allow') times.push(nextOpening(w, t));
  }
  const later = times.filter((x) => x > t);
  return later.length ? Math.min(...later) : undefined;
}

/**
 * Whether a sync may run at `now`: an automatic one (`manual` false), or a manual one forced
 * past the windows. When it may not, the message says which window holds it and `until` when
 * an automatic sync may run next.
 */
export function checkSyncWindows(windows: readonly SyncWindow[], now: Date, opts: { manual?: boolean } = {}): WindowVerdict {
  const t = now.getTime();
  if (canSync(windows, t, opts.manual === true)) return { allowed: true };
  let until: number | undefined = t;
  // A few boundaries suffice in practice; the bound keeps a pathological set of windows finite.
  for (let i = 0; i < 100 && until !== undefined && !canSync(windows, until, false); i++) until = nextBoundary(windows, until);
  const denies = windows.filter((w) => w.kind === 'deny' && openAt(w, t));
  const why = denies.length > 0
    ? `deny window '${formatSyncWindow(denies[0]!)}' is open`
    : `no allow window is open (${windows.filter((w) => w.kind === 'allow').map((w) => `'${formatSyncWindow(w)}'`).join(', ')})`;
  const when = until !== undefined ? new Date(until) : undefined;
  return {
    allowed: false,
    message: `${why}; automatic syncs wait${when ? ` until ${k8sTime(when.getTime())}` : ''}`,
    ...(when ? { until: when } : {}),
    manualAllowed: canSync(windows, t, true),
  };
}
