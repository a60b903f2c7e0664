/** Figures shared by the benchmarks. */

/** The p-th percentile (nearest rank) of unsorted samples. */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}
