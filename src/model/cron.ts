/**
 * CronJob schedule and time zone checks, with the rules Kubernetes applies: a standard 5-field
 * schedule or one of the @-macros, no TZ prefix, and an explicit IANA zone.
 */
import { createRequire } from 'node:module';

type CronParser = (typeof import('cron-parser'))['CronExpressionParser'];
let cronParser: CronParser | undefined;

/** cron-parser, loaded on the first schedule: it pulls in luxon (~45 ms) that most loads never need. */
export function parser(): CronParser {
  cronParser ??= (createRequire(import.meta.url)('cron-parser') as typeof import('cron-parser')).CronExpressionParser;
  return cronParser;
}

/** The macros Kubernetes accepts, as the 5-field schedules they stand for. */
const macros: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

// Minute, hour and day of month take numbers only; month and day of week also take names.
const numericField = /^[0-9*,/?-]+$/;
const namedField = /^[0-9A-Za-z*,/?-]+$/;
const months = new Set(['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC']);
const days = new Set(['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT']);
const fieldNames = ['minute', 'hour', 'day of month', 'month', 'day of week'];

const scheduleCache = new Map<string, string | undefined>();
const zoneCache = new Map<string, string | undefined>();

/** Why `schedule` is not a valid CronJob schedule, or undefined when it is one. */
export function validateSchedule(schedule: string): string | undefined {
  if (scheduleCache.has(schedule)) return scheduleCache.get(schedule);
  const why = checkSchedule(schedule);
  scheduleCache.set(schedule, why);
  return why;
}

/**
 * The 5-field form of a valid schedule: macros expanded (`@midnight` → `0 0 * * *`), space
 * separated. cron-parser knows neither `@midnight` nor 5-field-only parsing, so the CronJob
 * controller should hand it this form.
 */
export function expandSchedule(schedule: string): string {
  const text = schedule.trim();
  return macros[text] ?? text.split(/\s+/).join(' ');
}

function checkSchedule(schedule: string): string | undefined {
  const text = schedule.trim();
  if (/^(CRON_)?TZ=/.test(text)) return 'cannot use TZ or CRON_TZ in schedule, use the timeZone field instead';
  let expr = text;
  if (text.startsWith('@')) {
    const m = macros[text];
    if (!m) return `unrecognized descriptor ${JSON.stringify(text)}: use one of ${Object.keys(macros).join(', ')}`;
    expr = m;
  }
  const fields = expr.split(/\s+/);
  if (fields.length !== 5) {
    return `expected exactly 5 fields (minute hour day-of-month month day-of-week), found ${fields.length}`;
  }
  for (let i = 0; i < 5; i++) {
    const f = fields[i]!;
    const names = i === 3 ? months : i === 4 ? days : undefined;
    const ok = names ? namedField.test(f) && (f.match(/[A-Za-z]+/g) ?? []).every((w) => names.has(w.toUpperCase())) : numericField.test(f);
    if (!ok) return `invalid ${fieldNames[i]} field ${JSON.stringify(f)}`;
  }
  try {
    parser().parse(expr);
  } catch (err) {
    return (err as Error).message;
  }
  return undefined;
}

/** Why `zone` is not an explicit IANA time zone, or undefined when it is one. */
export function validateTimeZone(zone: string): string | undefined {
  if (zoneCache.has(zone)) return zoneCache.get(zone);
  let why: string | undefined;
  if (zone.toLowerCase() === 'local' || /^[+-]/.test(zone) || /\s/.test(zone)) {
    why = 'timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones';
  } else {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: zone });
    } catch {
      why = `unknown time zone ${zone}`;
    }
  }
  zoneCache.set(zone, why);
  return why;
}
