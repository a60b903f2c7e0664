/**
 * The diff of one change in the audit trail: the object's recorded YAML before and after, as
 * unified-diff hunks (jsdiff's structuredPatch, 3 lines of context), with line numbers for both
 * sides. Pure: no DOM, no I/O.
 */
import { structuredPatch } from 'diff';

/** One line of a hunk. */
export interface DiffLine {
  sign: '+' | '-' | ' ';
  text: string;
  /** Line number before the change (absent for an added line). */
  oldNo?: number;
  /** Line number after the change (absent for a removed line). */
  newNo?: number;
}

/** A run of changed lines with their context. */
export interface DiffHunk {
  /** `@@ -12,7 +12,8 @@`, as git prints it. */
  header: string;
  lines: DiffLine[];
}

/** A change's diff: its hunks and how many lines it adds and removes. */
export interface FileDiff {
  hunks: DiffHunk[];
  added: number;
  removed: number;
}

/**
 * The diff from `before` to `after` (either may be absent: a creation or a deletion shows the
 * whole file added or removed).
 */
export function diffFiles(before: string | undefined, after: string | undefined, context = 3): FileDiff {
  const patch = structuredPatch('before', 'after', before ?? '', after ?? '', undefined, undefined, { context });
  let added = 0;
  let removed = 0;
  const hunks = patch.hunks.map((h) => {
    let oldNo = h.oldStart;
    let newNo = h.newStart;
    const lines: DiffLine[] = [];
    for (const raw of h.lines) {
      // jsdiff's "\ No newline at end of file" marks say nothing about a YAML file's content.
      if (raw.startsWith('\\')) continue;
      const sign = raw[0] as DiffLine['sign'];
      const text = raw.slice(1);
      if (sign === '+') {
        lines.push({ sign, text, newNo: newNo++ });
        added++;
      } else if (sign === '-') {
        lines.push({ sign, text, oldNo: oldNo++ });
        removed++;
      } else {
        lines.push({ sign: ' ', text, oldNo: oldNo++, newNo: newNo++ });
      }
    }
    return { header: `@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@`, lines };
  });
  return { hunks, added, removed };
}
