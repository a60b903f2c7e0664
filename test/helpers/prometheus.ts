/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4), for tests: it
 * parses what a scraper would and throws, naming the line, on anything a scraper would reject
 * or a reader would be misled by — a malformed line, a bad escape, a sample outside its
 * family, a TYPE after samples or twice, a series given twice, a counter below zero, a
 * histogram whose buckets are not cumulative or end elsewhere than `+Inf` = `_count`.
 */
import type { Metrics } from '../../src/metrics/index.js';

/** One sample: a series and its value. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A metric family: its TYPE and HELP, and its samples in order. */
export interface Family {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help?: string;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/** The families of an exposition, by name. Throws `line N: …` on any violation. */
export function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const series = new Set<string>();
  let current: Family | undefined;
  const lines = text.split('\n');
  if (lines.at(-1) !== '') throw new Error('the exposition must end with a newline');
  lines.forEach((line, i) => {
    const fail = (why: string): never => {
      throw new Error(`line ${i + 1}: ${why}: ${JSON.stringify(line)}`);
    };
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) return; // another comment
      const [, what, name, rest] = m as unknown as [string, 'HELP' | 'TYPE', string, string];
      if (!METRIC_NAME.test(name)) fail('bad metric name');
      let fam = families.get(name);
      if (fam && fam !== current) fail(`family ${name} appears twice`);
      if (!fam) {
        fam = { name, type: 'untyped', samples: [] };
        families.set(name, fam);
        current = fam;
      }
      if (what === 'HELP') {
        if (fam.help !== undefined) fail('HELP given twice');
        fam.help = unescape(rest, false, fail);
      } else {
        if (!TYPES.has(rest)) fail('unknown TYPE');
        if (fam.samples.length > 0) fail('TYPE after samples');
        fam.type = rest as Family['type'];
      }
      return;
    }
    const sample = parseSample(line, fail);
    if (!current || !belongs(current, sample.name)) fail(`sample outside its family (current: ${current?.name ?? 'none'})`);
    const id = `${sample.name}{${Object.entries(sample.labels).sort().map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`;
    if (series.has(id)) fail(`series ${id} given twice`);
    series.add(id);
    if (current!.type === 'counter' && !(sample.value >= 0)) fail('a counter must be a number ≥ 0');
    current!.samples.push(sample);
  });
  for (const fam of families.values()) if (fam.type === 'histogram') checkHistogram(fam);
  return families;
}

/** True when a sample named `name` belongs to family `fam`. */
function belongs(fam: Family, name: string): boolean {
  if (fam.type === 'histogram') return name === `${fam.name}_bucket` || name === `${fam.name}_sum` || name === `${fam.name}_count`;
  if (fam.type === 'summary') return name === fam.name || name === `${fam.name}_sum` || name === `${fam.name}_count`;
  return name === fam.name;
}

function parseSample(line: string, fail: (why: string) => never): Sample {
  let i = 0;
  while (i < line.length && line[i] !== '{' && line[i] !== ' ') i++;
  const name = line.slice(0, i);
  if (!METRIC_NAME.test(name)) fail('bad metric name');
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    while (line[i] !== '}') {
      const eq = line.indexOf('=', i);
      if (eq < 0) fail('label without =');
      const label = line.slice(i, eq);
      if (!LABEL_NAME.test(label)) fail(`bad label name ${JSON.stringify(label)}`);
      if (label in labels) fail(`label ${label} given twice`);
      if (line[eq + 1] !== '"') fail('label value must be quoted');
      let j = eq + 2;
      let raw = '';
      for (;;) {
        if (j >= line.length) fail('unterminated label value');
        const ch = line[j]!;
        if (ch === '\\') {
          raw += line.slice(j, j + 2);
          j += 2;
          continue;
        }
        if (ch === '"') break;
        raw += ch;
        j++;
      }
      labels[label] = unescape(raw, true, fail);
      i = j + 1;
      if (line[i] === ',') i++;
      else if (line[i] !== '}') fail('expected , or } after a label');
    }
    i++;
  }
  if (line[i] !== ' ') fail('expected a space before the value');
  const parts = line.slice(i + 1).split(' ');
  if (parts.length > 2) fail('too many fields');
  const value = parseValue(parts[0]!, fail);
  if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1])) fail('bad timestamp');
  return { name, labels, value };
}

/** A value as Prometheus reads one (Go's ParseFloat: NaN and Inf in any case, with a sign). */
function parseValue(text: string, fail: (why: string) => never): number {
  const special = /^([-+]?)(nan|inf|infinity)$/i.exec(text);
  if (special) return special[2]!.toLowerCase() === 'nan' ? NaN : special[1] === '-' ? -Infinity : Infinity;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) fail(`bad value ${JSON.stringify(text)}`);
  return Number(text);
}

/** Undoes the format's escapes: `\\` and `\n` (in HELP), and `\"` too (in label values). */
function unescape(raw: string, quoted: boolean, fail: (why: string) => never): string {
  return raw.replace(/\\(.?)/g, (_, c: string) => {
    if (c === '\\') return '\\';
    if (c === 'n') return '\n';
    if (c === '"' && quoted) return '"';
    // HELP text may hold a backslash before anything else as is; label values may not.
    if (!quoted) return `\\${c}`;
    return fail(`bad escape \\${c}`);
  });
}

function checkHistogram(fam: Family): void {
  const groups = new Map<string, { buckets: Array<{ le: number; value: number }>; count?: number; sum?: number }>();
  for (const s of fam.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const g = groups.get(key) ?? { buckets: [] };
    groups.set(key, g);
    if (s.name.endsWith('_bucket')) {
      if (le === undefined) throw new Error(`${fam.name}: a bucket without le`);
      g.buckets.push({ le: le === '+Inf' ? Infinity : Number(le), value: s.value });
    } else if (s.name.endsWith('_count')) g.count = s.value;
    else g.sum = s.value;
  }
  for (const [key, g] of groups) {
    const where = `${fam.name}${key === '[]' ? '' : ` ${key}`}`;
    if (g.count === undefined || g.sum === undefined) throw new Error(`${where}: _count and _sum must both be given`);
    for (let k = 1; k < g.buckets.length; k++) {
      if (!(g.buckets[k]!.le > g.buckets[k - 1]!.le)) throw new Error(`${where}: buckets must be in increasing le`);
      if (g.buckets[k]!.value < g.buckets[k - 1]!.value) throw new Error(`${where}: bucket counts must be cumulative`);
    }
    const last = g.buckets.at(-1);
    if (!last || last.le !== Infinity) throw new Error(`${where}: the last bucket must be le="+Inf"`);
    if (last.value !== g.count) throw new Error(`${where}: the +Inf bucket (${last.value}) must equal _count (${g.count})`);
  }
}

/**
 * The value of the one sample named `name` whose labels include `labels`; the sum when several
 * match (e.g. a counter over every label value); undefined when none does.
 */
export function valueOf(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  let found: number | undefined;
  for (const fam of families.values()) {
    for (const s of fam.samples) {
      if (s.name !== name) continue;
      if (!Object.entries(labels).every(([k, v]) => s.labels[k] === v)) continue;
      found = (found ?? 0) + s.value;
    }
  }
  return found;
}

/** Every label set of the samples named `name`. */
export function seriesOf(families: Map<string, Family>, name: string): Array<Record<string, string>> {
  return [...families.values()].flatMap((f) => f.samples.filter((s) => s.name === name).map((s) => s.labels));
}

/** Renders `metrics` and reads the text back strictly. */
export async function scrape(metrics: Metrics): Promise<Map<string, Family>> {
  return parseExposition(await metrics.render());
}
