/**
 * Drawing diffs: the audit trail's before/after files as hunks, and a plan's signed lines.
 */
import { useMemo } from 'preact/hooks';
import { diffFiles } from '../lib/diff';

/** The diff of a recorded file, before → after. */
export function FileDiffView({ before, after }: { before?: string; after?: string }) {
  const d = useMemo(() => diffFiles(before, after), [before, after]);
  if (d.hunks.length === 0) return <p class="muted">No change to the recorded file.</p>;
  return (
    <div class="diff" role="table" aria-label={`diff: ${d.added} lines added, ${d.removed} removed`}>
      {d.hunks.map((h, i) => (
        <div key={i} class="hunk" role="rowgroup">
          <div class="hunk-header" role="row">{h.header}</div>
          {h.lines.map((l, j) => (
            <div key={j} role="row" class={`line ${l.sign === '+' ? 'add' : l.sign === '-' ? 'del' : 'ctx'}`}>
              <span class="ln" aria-hidden="true">{l.oldNo ?? ''}</span>
              <span class="ln" aria-hidden="true">{l.newNo ?? ''}</span>
              <span class="sign">{l.sign}</span>
              <span class="text">{l.text}</span>
            </div>
          ))}
        </div>
      ))}
    </div>
  );
}

/** Lines with a sign, as `gantry plan` prints them (`+` added, `-` removed, `~` changed). */
export function SignedLines({ lines }: { lines: { sign: string; text: string }[] }) {
  return (
    <div class="diff">
      {lines.map((l, i) => (
        <div key={i} class={`line ${l.sign === '+' ? 'add' : l.sign === '-' ? 'del' : l.sign === '~' ? 'chg' : 'ctx'}`}>
          <span class="sign">{l.sign}</span>
          <span class="text">{l.text}</span>
        </div>
      ))}
    </div>
  );
}
