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


/**
 * Aligns tab-separated cells as Go's text/tabwriter does with kubectl's settings (minwidth 0,
 * padding 2, spaces): a column's width is set by a block of consecutive lines that all have a
 * tab-terminated cell in that column, and a line with fewer cells ends the block. The last cell
 * of a line is never padded. `kubectl describe` is laid out this way, so its odd-looking
 * alignments (a block that runs across sections) come out the same.
 */
export function alignTabs(text: string, padding = 2): string {
  const lines = text.split('\n').map((l) => l.split('\t'));
  const out: string[] = lines.map(() => '');
  const width = (s: string): number => [...s].length;
  // Columns left to right; for each, the widths of the blocks found among the lines that reach it.
  const format = (line0: number, line1: number, column: number): void => {
    let start = line0;
    for (let i = line0; i < line1; i++) {
      if (column >= lines[i]!.length - 1) continue;
      emit(start, i, column);
      let w = 0;
      let j = i;
      for (; j < line1 && column < lines[j]!.length - 1; j++) w = Math.max(w, width(lines[j]![column]!) + padding);
      for (let k = i; k < j; k++) out[k] += lines[k]![column]!.padEnd(w - width(lines[k]![column]!) + lines[k]![column]!.length);
      format(i, j, column + 1);
      start = j;
      i = j - 1;
    }
    emit(start, line1, column);
  };
  // Lines whose cells end at `column`: their last cell goes out unpadded.
  const emit = (from: number, to: number, column: number): void => {
    for (let k = from; k < to; k++) if (lines[k]!.length - 1 === column) out[k] += lines[k]![column]!;
  };
  format(0, lines.length, 0);
  return out.join('\n');
}

/**
 * A table printed a row at a time, as `kubectl get -w` prints: the header and the first rows
 * set the column widths, and each later row is padded to them (a wider cell widens its column
 * from then on).
 */
export class TableStream {
  private readonly widths: number[] = [];
  private readonly cols: ReturnType<typeof columnsFor>;

  constructor(private readonly kind: string, private readonly opts: TableOptions = {}) {
    this.cols = columnsFor(kind, opts);
  }

  /** The header and rows for `objects`, widths taken from all of them. */
  start(objects: KubeObject[], opts: { headers?: boolean } = {}): string {
    const now = this.opts.now ?? Date.now();
    const rows = objects.map((o) => this.cols.map((c) => c.cell(o, now)));
    const all = opts.headers === false ? rows : [this.cols.map((c) => c.header), ...rows];
    for (const r of all) r.forEach((cell, i) => (this.widths[i] = Math.max(this.widths[i] ?? 0, cell.length)));
    return all.map((r) => this.line(r)).join('\n');
  }

  /** One row, padded to the widths so far. */
  row(obj: KubeObject, now = Date.now()): string {
    const cells = this.cols.map((c) => c.cell(obj, now));
    cells.forEach((cell, i) => (this.widths[i] = Math.max(this.widths[i] ?? 0, cell.length)));
    return this.line(cells);
  }

  private line(cells: string[]): string {
    return cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(this.widths[i] ?? 0))).join('   ').trimEnd();
  }
}
