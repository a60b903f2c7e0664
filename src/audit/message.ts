/**
 * Commit messages of the status branch: a summary line, an optional body, and trailers
 * (`Gantry-Actor: sync`) that `history` parses back.
 */
import type { ManifestIssue } from '../model/desired.js';
import type { HistoryEntry, SyncRecord } from './types.js';

/** Trailer names written on status commits. */
export const TRAILERS = {
  actor: 'Gantry-Actor',
  desiredRevision: 'Gantry-Desired-Revision',
  storeRevision: 'Gantry-Store-Revision',
  object: 'Gantry-Object',
  reason: 'Gantry-Reason',
  sync: 'Gantry-Sync',
  desiredAuthor: 'Gantry-Desired-Author',
  desiredCommitter: 'Gantry-Desired-Committer',
} as const;

/**
 * Longest summary line, as Git's tools expect (`git log --oneline`, forges' commit lists); a
 * longer one is cut with an ellipsis and given whole in the body.
 */
export const MAX_SUMMARY = 72;

/** Trailer values must stay on one line. */
function oneLine(s: string): string {
  return s.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

/** `Name <email>` of a Git identity, for trailers. */
export function formatPerson(p: { name: string; email: string } | undefined): string | undefined {
  return p ? `${p.name} <${p.email}>` : undefined;
}

/** The name part of `Name <email>`. */
export function personName(person: string): string {
  return person.replace(/\s*<[^>]*>\s*$/, '') || person;
}

/** Cuts a line to {@link MAX_SUMMARY} characters, at a word boundary when one is near, with an ellipsis. */
export function cutSummary(line: string): string {
  if (line.length <= MAX_SUMMARY) return line;
  const head = line.slice(0, MAX_SUMMARY - 1);
  const space = head.lastIndexOf(' ');
  return `${(space > MAX_SUMMARY - 20 ? head.slice(0, space) : head).trimEnd()}…`;
}

/**
 * Builds a commit message. A summary longer than {@link MAX_SUMMARY} is cut, and put whole at the
 * head of the body so no detail is lost. Trailers with undefined values are left out.
 */
export function formatMessage(summary: string, body: string | undefined, trailers: Array<[string, string | number | undefined]>): string {
  const full = oneLine(summary);
  const line = cutSummary(full);
  if (line !== full) body = body && body.trim() ? `${full}\n\n${body.trim()}` : full;
  let msg = `${line}\n`;
  if (body && body.trim()) msg += `\n${body.trim()}\n`;
  const lines = trailers.filter(([, v]) => v !== undefined && String(v) !== '').map(([k, v]) => `${k}: ${oneLine(String(v))}`);
  if (lines.length) msg += `\n${lines.join('\n')}\n`;
  return msg;
}

/** A parsed commit message. */
export interface ParsedMessage {
  summary: string;
  body?: string;
  trailers: Map<string, string>;
}

const TRAILER_LINE = /^([A-Za-z0-9-]+): (.*)$/;

/** Splits a message into summary, body and trailers (the last paragraph if all its lines are trailers). */
export function parseMessage(message: string): ParsedMessage {
  const text = message.replace(/\r\n/g, '\n').replace(/\n+$/, '');
  const paragraphs = text.split(/\n\n+/);
  const summary = paragraphs.shift() ?? '';
  const trailers = new Map<string, string>();
  const last = paragraphs[paragraphs.length - 1];
  if (last !== undefined) {
    const lines = last.split('\n');
    const matches = lines.map((l) => TRAILER_LINE.exec(l));
    if (matches.every((m) => m !== null)) {
      for (const m of matches) trailers.set(m![1]!, m![2]!);
      paragraphs.pop();
    }
  }
  const body = paragraphs.join('\n\n').trim();
  return { summary, body: body || undefined, trailers };
}

/** A history entry from a commit's id, committer time (seconds) and message. */
export function toHistoryEntry(commit: string, timestamp: number, message: string): HistoryEntry {
  const parsed = parseMessage(message);
  const entry: HistoryEntry = {
    commit,
    at: new Date(timestamp * 1000).toISOString(),
    actor: parsed.trailers.get(TRAILERS.actor) ?? 'unknown',
    summary: parsed.summary,
  };
  const desired = parsed.trailers.get(TRAILERS.desiredRevision);
  if (desired) entry.desiredRevision = desired;
  const author = parsed.trailers.get(TRAILERS.desiredAuthor);
  if (author) entry.desiredAuthor = author;
  const committer = parsed.trailers.get(TRAILERS.desiredCommitter);
  if (committer) entry.desiredCommitter = committer;
  const object = parsed.trailers.get(TRAILERS.object);
  if (object) entry.object = object;
  if (parsed.body) entry.body = parsed.body;
  return entry;
}

/** "deploy/web.yaml line 12: Deployment default/web: spec.replicas must be an integer". */
export function formatIssue(issue: ManifestIssue): string {
  const where = issue.line ? `${issue.file} line ${issue.line}` : issue.file;
  const parts = [where];
  if (issue.object) parts.push(issue.object.replace(/^([^/]+)\/(.+)$/, '$1 $2'));
  const field = issue.field && !issue.message.startsWith(issue.field) ? `${issue.field} ` : '';
  return `${parts.filter(Boolean).join(': ')}: ${field}${issue.message}`;
}

/**
 * The first line for a sync record, short enough for {@link MAX_SUMMARY}: "sync abc1234: applied
 * (2 created, 1 updated, 0 pruned)", "sync abc1234: rejected, 2 problems (deploy/web.yaml line
 * 12, …)"; the body has every problem.
 */
export function summarizeSync(record: SyncRecord): string {
  const short = record.revision.commit.slice(0, 7);
  if (record.outcome === 'applied') {
    const s = record.summary;
    const counts = s ? ` (${s.created} created, ${s.updated} updated, ${s.pruned} pruned)` : '';
    return `sync ${short}: applied${counts}`;
  }
  const issues = record.issues ?? [];
  if (issues.length === 0) return `sync ${short}: ${record.outcome} — ${record.error ?? 'no reason given'}`;
  const first = issues[0]!;
  const where = first.line ? `${first.file} line ${first.line}` : first.file;
  const count = `${issues.length} problem${issues.length === 1 ? '' : 's'}`;
  return `sync ${short}: ${record.outcome}, ${count} (${where}${issues.length > 1 ? ', …' : ''})`;
}

/** The body for a sync record: every issue on its own line, and the error. */
export function syncBody(record: SyncRecord): string | undefined {
  const lines: string[] = [];
  if (record.revision.message) lines.push(`Revision ${record.revision.commit} (${record.revision.ref}): ${oneLine(record.revision.message)}`);
  for (const issue of record.issues ?? []) lines.push(`- ${formatIssue(issue)}`);
  if (record.error && record.outcome !== 'applied') lines.push(`Error: ${oneLine(record.error)}`);
  return lines.length ? lines.join('\n') : undefined;
}
