/**
 * Small text helpers of the dashboard's views. Pure.
 */
import { humanDuration } from '../../../src/model/columns.js';

/** kubectl's age of a timestamp: `45s`, `3h20m`, `2d4h`; `-` when unknown. */
export function age(ts: string | undefined, now: number): string {
  if (!ts) return '-';
  const t = Date.parse(ts);
  return Number.isNaN(t) ? '-' : humanDuration(now - t);
}

/** The first 7 characters of a commit id, as git shows it. */
export function shortSha(commit: string | undefined): string {
  return commit ? commit.slice(0, 7) : '-';
}

/** The first line of a commit message. */
export function firstLine(message: string | undefined): string {
  return (message ?? '').split('\n', 1)[0] ?? '';
}
