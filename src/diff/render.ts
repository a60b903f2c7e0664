/**
 * Plan renderings: text for a terminal (like `git diff` / `terraform plan`), Markdown for a
 * pull-request comment, JSON for programs. Secret values never appear in any of them (see
 * redact.ts): a Secret's keys are listed as added, changed or removed.
 */
import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { dump } from 'js-yaml';
import { createColors } from 'picocolors';
import { SOURCE_PATH } from '../model/annotations.js';
import { kindInfo } from '../model/kinds.js';
import type { KubeObject } from '../model/types.js';
import { compactForDisplay } from './compact.js';
import { normalize } from './normalize.js';
import { sourcePath } from './plan.js';
import { fieldSegment, isSecretKind, redactObject, redactPatch, secretKeyChanges, unescapePointer } from './redact.js';
import type { BodyLine, Plan, PlanEntry, PlanEntryView, PlanSummary } from './types.js';

export type { BodyLine, PlanEntryView, PlanSummary } from './types.js';

/** Options for {@link renderPlan}. */
export interface RenderOptions {
  format: 'text' | 'markdown' | 'json';
  /** ANSI colours (text only). Default false. */
  color?: boolean;
  /**
   * What the plan compared, e.g. `{ desired: 'HEAD@def5678', against: 'main@abc1234 (merge
   * base)' }`, for the Markdown header and the no-change message. Without it the other side is
   * taken to be the live store.
   */
  sides?: { desired: string; against: string };
}

/** One change as the JSON rendering lists it. */
export interface JsonChange {
  action: 'create' | 'update' | 'prune';
  key: string;
  kind: string;
  namespace: string | null;
  name: string;
  /** `file:line` where the object is (for prune: was) declared, or null. */
  source: string | null;
  /** For updates: the JSON Patch from live to desired, Secret values redacted. */
  patch?: Operation[];
  /** For ConfigMap/Secret changes: the workloads (`Kind namespace/name`) whose pods it replaces. */
  rolls?: string[];
  /** What the change does not show (an autoscaler owning the workload's replicas). */
  notes?: string[];
}

/** A note on an object the plan leaves unchanged (Git's replicas not applied to an autoscaled workload). */
export interface JsonNote {
  key: string;
  kind: string;
  namespace: string | null;
  name: string;
  notes: string[];
}

/** The JSON rendering's document. */
export interface JsonPlan {
  revision: string | null;
  summary: PlanSummary;
  changes: JsonChange[];
  /** Notes on unchanged objects; present only when there are some. */
  notes?: JsonNote[];
}

/** A Markdown body longer than this many lines is folded into `<details>`. */
const FOLD_LINES = 20;

/** Renders a plan. Pure: the same plan renders to the same string. */
export function renderPlan(plan: Plan, opts: RenderOptions): string {
  switch (opts.format) {
    case 'json':
      return `${JSON.stringify(planToJson(plan), null, 2)}\n`;
    case 'markdown':
      return renderMarkdown(plan, opts.sides);
    default:
      return renderText(plan, opts.color === true, opts.sides);
  }
}

/** The counts of a plan. */
export function planSummary(plan: Plan): PlanSummary {
  return { create: plan.create.length, update: plan.update.length, prune: plan.prune.length, unchanged: plan.unchanged.length };
}

/** The one-line summary: "Plan: 2 to create, 1 to update, 0 to prune, 5 unchanged." */
export function summaryLine(plan: Plan): string {
  const s = planSummary(plan);
  return `Plan: ${s.create} to create, ${s.update} to update, ${s.prune} to prune, ${s.unchanged} unchanged.`;
}

/** The JSON rendering as data (what `--format json` prints). */
export function planToJson(plan: Plan): JsonPlan {
  const noted = notedUnchanged(plan);
  return {
    revision: plan.revision ?? null,
    summary: planSummary(plan),
    ...(noted.length > 0 ? { notes: noted.map((e) => ({ key: e.key, kind: e.kind, namespace: e.namespace ?? null, name: e.name, notes: e.notes! })) } : {}),
    changes: changedEntries(plan).map((e) => {
      const change: JsonChange = {
        action: e.action as JsonChange['action'],
        key: e.key,
        kind: e.kind,
        namespace: e.namespace ?? null,
        name: e.name,
        source: sourceOf(e) ?? null,
      };
      if (e.action === 'update') change.patch = redactPatch(e.kind, e.patch ?? []);
      if (e.rolls) change.rolls = e.rolls;
      if (e.notes) change.notes = e.notes;
      return change;
    }),
  };
}

/**
 * The text rendering as data, one entry per changed object in the order the text shows them:
 * what the web dashboard's plan page draws, line for line what `gantry plan` prints.
 */
export function planEntryViews(plan: Plan): PlanEntryView[] {
  return changedEntries(plan).map((e) => ({
    action: e.action as PlanEntryView['action'],
    key: e.key,
    kind: e.kind,
    namespace: e.namespace ?? null,
    name: e.name,
    source: sourceOf(e) ?? null,
    header: header(e),
    lines: bodyLines(e),
    ...(e.rolls ? { rolls: e.rolls } : {}),
    ...(e.notes ? { notes: e.notes } : {}),
  }));
}

// ------------------------------------------------------------------ text

/** The no-change sentence: it names what was compared, and says "live" only when it was. */
function noChanges(sides: RenderOptions['sides'], code: (s: string) => string): string {
  if (!sides) return 'No changes: the live state matches the desired revision.';
  return `No changes: ${code(sides.desired)} declares the same objects as ${code(sides.against)}.`;
}

function renderText(plan: Plan, color: boolean, sides?: RenderOptions['sides']): string {
  const c = createColors(color);
  const paint = (sign: string, line: string): string =>
    sign === '+' ? c.green(line) : sign === '-' ? c.red(line) : sign === '~' ? c.yellow(line) : line;
  const out: string[] = [];
  for (const e of changedEntries(plan)) {
    const sign = signOf(e);
    out.push(c.bold(paint(sign, header(e))));
    for (const l of bodyLines(e)) out.push(paint(l.sign, `${l.sign}   ${l.text}`));
    out.push('');
  }
  if (out.length === 0) out.push(noChanges(sides, (x) => x), '');
  const noted = notedUnchanged(plan);
  if (noted.length > 0) {
    out.push('Notes on unchanged objects:');
    for (const e of noted) for (const n of e.notes!) out.push(`    ${e.kind} ${objectName(e)}: ${n}`);
    out.push('');
  }
  out.push(c.bold(summaryLine(plan)));
  return `${out.join('\n')}\n`;
}

// ------------------------------------------------------------------ markdown

function renderMarkdown(plan: Plan, sides?: RenderOptions['sides']): string {
  const out: string[] = [];
  const code = (x: string): string => `\`${x.replace(/`/g, "'")}\``;
  const title = sides
    ? `### gantry plan: ${code(sides.against)} → ${code(sides.desired)}`
    : `### gantry plan${plan.revision ? ` for \`${plan.revision.slice(0, 12)}\`` : ''} against the live state`;
  out.push(title, '', `**${summaryLine(plan)}**`, '');
  const changed = changedEntries(plan);
  const noted = notedUnchanged(plan);
  if (noted.length > 0) {
    out.push('Notes on unchanged objects:', '');
    for (const e of noted) for (const n of e.notes!) out.push(`- ${code(`${e.kind} ${objectName(e)}`)}: ${escapeMarkdown(n)}`);
    out.push('');
  }
  if (changed.length === 0) {
    out.push(noChanges(sides, code));
    return `${out.join('\n')}\n`;
  }
  out.push('| Action | Kind | Object | Source |', '|---|---|---|---|');
  for (const e of changed) {
    const source = sourceOf(e);
    out.push(`| ${e.action} | ${cell(e.kind)} | ${cell(objectName(e))} | ${source ? cell(source) : ''} |`);
  }
  out.push('');
  for (const e of changed) {
    const lines = bodyLines(e).map((l) => `${l.sign} ${l.text}`);
    const block = fenced(lines);
    const title = `${signOf(e)} ${header(e).slice(2)}`;
    if (lines.length > FOLD_LINES) {
      out.push(`<details><summary>${escapeHtml(title)} (${lines.length} lines)</summary>`, '', block, '', '</details>', '');
    } else {
      out.push(`#### ${escapeMarkdown(title)}`, '', block, '');
    }
  }
  return `${out.join('\n')}\n`;
}

/** A ```diff block whose fence is longer than any backtick run inside it. */
function fenced(lines: string[]): string {
  let longest = 0;
  for (const l of lines) for (const run of l.match(/`+/g) ?? []) longest = Math.max(longest, run.length);
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return [`${fence}diff`, ...lines, fence].join('\n');
}

function cell(text: string): string {
  return `\`${text.replace(/\|/g, '\\|').replace(/`/g, "'")}\``;
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function escapeMarkdown(text: string): string {
  return text.replace(/([\\`*_[\]<>#|])/g, '\\$1');
}

// ------------------------------------------------------------------ shared

/** Unchanged entries that carry notes, in apply order. */
function notedUnchanged(plan: Plan): PlanEntry[] {
  return plan.unchanged.filter((e) => e.notes && e.notes.length > 0);
}

/** Creates and updates in apply order, then prunes (already in reverse order). */
function changedEntries(plan: Plan): PlanEntry[] {
  const order = (e: PlanEntry): number => kindInfo(e.kind)?.order ?? Number.MAX_SAFE_INTEGER;
  const writes = [...plan.create, ...plan.update].sort((a, b) =>
    order(a) !== order(b) ? order(a) - order(b) : a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  return [...writes, ...plan.prune];
}

function signOf(e: PlanEntry): '+' | '-' | '~' {
  return e.action === 'create' ? '+' : e.action === 'prune' ? '-' : '~';
}

function objectName(e: PlanEntry): string {
  return e.namespace ? `${e.namespace}/${e.name}` : e.name;
}

function sourceOf(e: PlanEntry): string | undefined {
  if (e.source) return sourcePath(e.source);
  return e.live?.metadata.annotations?.[SOURCE_PATH];
}

/** `+ create Deployment default/web (deploy/web.yaml:1)` */
function header(e: PlanEntry): string {
  const source = sourceOf(e);
  const where = source ? (e.action === 'prune' ? ` (was ${source})` : ` (${source})`) : '';
  return `${signOf(e)} ${e.action} ${e.kind} ${objectName(e)}${where}`;
}

function bodyLines(e: PlanEntry): BodyLine[] {
  const notes: BodyLine[] = (e.notes ?? []).map((n) => ({ sign: ' ', text: `note: ${n}` }));
  return [...notes, ...changeLines(e)];
}

function changeLines(e: PlanEntry): BodyLine[] {
  const rolls: BodyLine[] = (e.rolls ?? []).map((w) => ({ sign: '~', text: `rolls ${w} (its pod template uses this ${e.kind})` }));
  // A create shows what the author wrote; the defaulted form only when no manifest is at hand.
  if (e.action === 'create' && e.declared) return yamlLines(redactObject(e.declared)).map((text) => ({ sign: '+', text }));
  if (e.action === 'create' && e.desired) return objectLines('+', e.desired);
  if (e.action === 'prune' && e.live) return [...rolls, ...objectLines('-', e.live)];
  if (e.action === 'update') return [...rolls, ...patchLines(e)];
  return [];
}

/**
 * The object as compact YAML: normalized (no status, server fields or gantry marks) and
 * without fields that only repeat a Kubernetes default.
 */
function objectLines(sign: '+' | '-', obj: KubeObject): BodyLine[] {
  const printable = redactObject(compactForDisplay(obj));
  return yamlLines(printable).map((text) => ({ sign, text }));
}

function yamlLines(value: unknown): string[] {
  return dump(value, { noRefs: true, lineWidth: -1 }).replace(/\n$/, '').split('\n');
}

/** One `path: value` pair as lines; nested values continue indented below the path. */
function valueLines(path: string, value: unknown): string[] {
  const lines = yamlLines(value);
  const scalar = value === null || typeof value !== 'object';
  if (scalar && lines.length === 1) return [`${path}: ${lines[0]}`];
  if (scalar) return [`${path}: ${lines[0]}`, ...lines.slice(1)];
  return [`${path}:`, ...lines.map((l) => `  ${l}`)];
}

function patchLines(e: PlanEntry): BodyLine[] {
  // By path, so that a field's lines sit next to its neighbours' (the sort is stable, so ops on
  // one path keep their order).
  const ops = [...(e.patch ?? [])].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const out: BodyLine[] = [];
  // The "before" side of each line comes from the normalized live object, the form the patch
  // was computed against.
  const before = e.live ? normalize(e.live, e.desired ? { desired: e.desired } : {}) : undefined;
  const after = e.desired ? normalize(e.desired) : undefined;
  if (isSecretKind(e.kind)) {
    for (const ch of secretKeyChanges(ops, before)) out.push({ sign: '~', text: `${ch.path}: (${ch.change})` });
  }
  for (const op of ops) {
    if (isSecretKind(e.kind) && isValuesPointer(op.path)) continue;
    const path = readablePath(op.path, op.op === 'add' ? after : before ?? after);
    const old = before && op.op === 'replace' ? valueAt(before, op.path) : undefined;
    const textLines = op.op === 'replace' ? textChangeLines(path, old, op.value) : undefined;
    if (textLines) {
      out.push(...textLines);
      continue;
    }
    if (op.op === 'remove' || op.op === 'replace') {
      const old = before ? valueAt(before, op.path) : undefined;
      if (old !== undefined) for (const text of valueLines(path, old)) out.push({ sign: '-', text });
      else if (op.op === 'remove') out.push({ sign: '-', text: path });
    }
    if (op.op === 'add' || op.op === 'replace') {
      for (const text of valueLines(path, op.value)) out.push({ sign: '+', text });
    }
  }
  return out;
}

/** Lines of context kept around each changed line of a multi-line text. */
const TEXT_CONTEXT = 3;
/** Texts beyond this many lines (either side) are shown whole instead of line by line. */
const TEXT_DIFF_MAX_LINES = 2000;
/** Bound on the LCS table for the changed middle of a text (lines before × lines after). */
const TEXT_DIFF_MAX_CELLS = 250_000;

/**
 * A multi-line string that changed (a config file in a ConfigMap, a script in a command), as
 * a line diff under its path, like `git diff` shows a file: unchanged lines as context, far
 * unchanged stretches elided. Undefined when either side is not multi-line text.
 */
function textChangeLines(path: string, before: unknown, after: unknown): BodyLine[] | undefined {
  if (typeof before !== 'string' || typeof after !== 'string') return undefined;
  if (!before.includes('\n') && !after.includes('\n')) return undefined;
  const a = before.split('\n');
  const b = after.split('\n');
  if (a.length > TEXT_DIFF_MAX_LINES || b.length > TEXT_DIFF_MAX_LINES) return undefined;
  const script = lineDiff(a, b);
  if (!script) return undefined;
  const keep = script.map((l, i) => l.sign !== ' ' || script.slice(Math.max(0, i - TEXT_CONTEXT), i + TEXT_CONTEXT + 1).some((n) => n.sign !== ' '));
  const out: BodyLine[] = [{ sign: '~', text: `${path}: (text)` }];
  let elided = false;
  script.forEach((l, i) => {
    if (!keep[i]) {
      if (!elided) out.push({ sign: ' ', text: '  …' });
      elided = true;
      return;
    }
    elided = false;
    out.push({ sign: l.sign, text: `  ${l.text}` });
  });
  return out;
}

/**
 * A shortest edit script between two line lists (LCS table, after trimming the common head and
 * tail), or undefined when the differing middles are too large for the table.
 */
function lineDiff(a: string[], b: string[]): { sign: ' ' | '-' | '+'; text: string }[] | undefined {
  // Common head and tail first: most edits touch a few lines of a long file.
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const x = a.slice(head, a.length - tail);
  const y = b.slice(head, b.length - tail);
  if (x.length * y.length > TEXT_DIFF_MAX_CELLS) return undefined;
  const lcs: number[][] = Array.from({ length: x.length + 1 }, () => new Array<number>(y.length + 1).fill(0));
  for (let i = x.length - 1; i >= 0; i--) {
    for (let j = y.length - 1; j >= 0; j--) lcs[i]![j] = x[i] === y[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  }
  const out: { sign: ' ' | '-' | '+'; text: string }[] = a.slice(0, head).map((text) => ({ sign: ' ' as const, text }));
  let i = 0;
  let j = 0;
  while (i < x.length || j < y.length) {
    if (i < x.length && j < y.length && x[i] === y[j]) {
      out.push({ sign: ' ', text: x[i]! });
      i++;
      j++;
    } else if (i < x.length && (j === y.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      out.push({ sign: '-', text: x[i++]! });
    } else {
      out.push({ sign: '+', text: y[j++]! });
    }
  }
  for (const text of a.slice(a.length - tail)) out.push({ sign: ' ', text });
  return out;
}

function isValuesPointer(pointer: string): boolean {
  return pointer === '/data' || pointer.startsWith('/data/') || pointer === '/stringData' || pointer.startsWith('/stringData/');
}

function valueAt(obj: KubeObject, pointer: string): unknown {
  try {
    return jsonpatch.getValueByPointer(obj, pointer);
  } catch {
    return undefined;
  }
}

/**
 * `/spec/template/spec/containers/0/image` → `spec.template.spec.containers[0].image`, using
 * `root` to tell list indexes from map keys that look like numbers.
 */
export function readablePath(pointer: string, root?: unknown): string {
  if (pointer === '') return '(object)';
  let node: unknown = root;
  let out = '';
  for (const raw of pointer.slice(1).split('/')) {
    const seg = unescapePointer(raw);
    const inList = Array.isArray(node) || (node === undefined && /^\d+$/.test(seg));
    out += inList ? `[${seg}]` : out === '' && /^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg) ? seg : fieldSegment(seg);
    node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[seg] : undefined;
  }
  return out;
}
