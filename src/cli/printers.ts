/**
 * kubectl-style tables for `gantry get`: the same columns kubectl prints per kind, no borders.
 * cli-table3 does the layout (it measures wide and coloured cells correctly).
 */
import Table from 'cli-table3';
import { columnsFor } from '../model/columns.js';
import type { KubeObject } from '../model/types.js';

export { humanDuration, podStatus } from '../model/columns.js';

/** Options for {@link renderTable}. */
export interface TableOptions {
  /** Add a NAMESPACE column (kubectl -A). */
  allNamespaces?: boolean;
  /** kubectl's -o wide. */
  wide?: boolean;
  now?: number;
}

/** A borderless kubectl-style table of objects of one kind. */
export function renderTable(kind: string, objects: KubeObject[], opts: TableOptions = {}): string {
  const now = opts.now ?? Date.now();
  const cols = columnsFor(kind, opts);
  return renderRows(cols.map((c) => c.header), objects.map((o) => cols.map((c) => c.cell(o, now))));
}

/** A borderless kubectl-style table of plain rows. */
export function renderRows(head: string[], rows: string[][]): string {
  const table = new Table({
    head,
    chars: {
      top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '',
      'bottom-right': '', left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '   ',
    },
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 },
  });
  for (const r of rows) table.push(r);
  return table.toString().split('\n').map((l) => l.trimEnd()).join('\n');
}

