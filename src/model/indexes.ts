/**
 * Sets of Indexed Job completion indexes in Kubernetes' text form: sorted, ranges joined
 * ("0-2,5"), as `status.completedIndexes`, `status.failedIndexes` and a success policy's
 * `succeededIndexes` write them.
 */

/** Kubernetes' text of a set of indexes: sorted, ranges joined ("0-2,5"). */
export function formatIndexes(set: ReadonlySet<number>): string {
  const xs = [...set].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < xs.length; i++) {
    let j = i;
    while (j + 1 < xs.length && xs[j + 1] === xs[j]! + 1) j++;
    parts.push(j > i ? `${xs[i]}-${xs[j]}` : `${xs[i]}`);
    i = j;
  }
  return parts.join(',');
}

/** The result of {@link parseIndexes}: the ranges, or why the text is not an index set. */
export type ParsedIndexes = { ranges: Array<[number, number]>; error?: undefined } | { ranges?: undefined; error: string };

/**
 * Parses "0,2-4" into inclusive ranges, as Kubernetes validates a success policy's
 * `succeededIndexes`: integers below `limit`, ranges ascending and not overlapping.
 */
export function parseIndexes(text: string, limit: number): ParsedIndexes {
  const ranges: Array<[number, number]> = [];
  if (text.trim() === '') return { ranges };
  let last = -1;
  for (const part of text.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) return { error: `"${part}" is not an index or a range of indexes (e.g. "1,3-5")` };
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from) return { error: `range "${part}" must not end before it starts` };
    if (to >= limit) return { error: `index ${to} must be less than completions (${limit})` };
    if (from <= last) return { error: 'indexes must be given in ascending order without overlapping ranges' };
    last = to;
    ranges.push([from, to]);
  }
  return { ranges };
}

/** How many indexes the ranges cover. */
export function countIndexes(ranges: ReadonlyArray<[number, number]>): number {
  return ranges.reduce((n, [a, b]) => n + b - a + 1, 0);
}

/** True when `i` lies in one of the ranges. */
export function inIndexes(ranges: ReadonlyArray<[number, number]>, i: number): boolean {
  return ranges.some(([a, b]) => i >= a && i <= b);
}
