/**
 * Resource quantities as Kubernetes writes them: "500m", "2", "128Mi", "1G", "1e3".
 */
import { formatExact } from './exact-quantity.js';

const binarySuffixes: Record<string, number> = {
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};
const decimalSuffixes: Record<string, number> = {
  n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
};

const quantityPattern = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)|[eE]([+-]?\d+))?$/;

/**
 * The numeric value of a quantity (in base units: cores for CPU, bytes for memory), or
 * undefined when the text is not a quantity.
 */
export function parseQuantity(q: string | number): number | undefined {
  if (typeof q === 'number') return Number.isFinite(q) ? q : undefined;
  const m = quantityPattern.exec(q.trim());
  if (!m) return undefined;
  const base = Number(m[1]);
  if (m[2] !== undefined) return base * (binarySuffixes[m[2]] ?? decimalSuffixes[m[2]]!);
  if (m[3] !== undefined) return base * 10 ** Number(m[3]);
  return base;
}

/** True when `q` is a valid quantity. */
export function isQuantity(q: unknown): boolean {
  return (typeof q === 'string' || typeof q === 'number') && parseQuantity(q) !== undefined;
}

/** CPU in millicores, rounded up as Kubernetes does ("100m" → 100, "0.5" → 500). */
export function cpuMillis(q: string | number | undefined): number {
  if (q === undefined) return 0;
  const v = parseQuantity(q);
  return v === undefined ? 0 : Math.ceil(v * 1000 - 1e-9);
}

/** A quantity in bytes (memory, storage), rounded up. */
export function bytes(q: string | number | undefined): number {
  if (q === undefined) return 0;
  const v = parseQuantity(q);
  return v === undefined ? 0 : Math.ceil(v - 1e-9);
}

/** Formats bytes the way kubectl shows memory ("128Mi", "1Gi", or plain bytes). */
export function formatBytes(n: number): string {
  for (const [suffix, mult] of [['Ei', 2 ** 60], ['Pi', 2 ** 50], ['Ti', 2 ** 40], ['Gi', 2 ** 30], ['Mi', 2 ** 20], ['Ki', 2 ** 10]] as const) {
    if (n >= mult && n % mult === 0) return `${n / mult}${suffix}`;
  }
  return String(n);
}

const binarySteps: [string, number][] = [['Ei', 60], ['Pi', 50], ['Ti', 40], ['Gi', 30], ['Mi', 20], ['Ki', 10]];

/**
 * A count of nano-units in Kubernetes' canonical decimal form (`resource.Quantity.String()` of a
 * DecimalSI quantity): the largest power-of-a-thousand suffix that keeps the number whole
 * (12000000000n → "12", 250000000n → "250m", 31457280000000000n → "31457280").
 */
export function formatDecimalNanos(nanos: bigint, opts: { exponent?: boolean } = {}): string {
  // Written with an exponent ("1e3"), a quantity keeps that form (Kubernetes' DecimalExponent).
  return formatExact({ nanos, format: opts.exponent ? 'DecimalExponent' : 'DecimalSI' });
}

/**
 * A quantity as Kubernetes prints it (`Quantity.String()`): written with a binary suffix
 * ("64Mi", "1.5Gi") it stays binary when whole in bytes, else decimal ("0.1" → "100m",
 * "1000m" → "1", "500M" → "500M"); with an exponent, in exponent form ("1e3", "1.5e3" → "1500"). Text that is not a quantity comes back as written.
 */
export function canonicalQuantityText(q: string | number): string {
  const v = parseQuantity(q);
  if (v === undefined) return String(q);
  const binary = typeof q === 'string' && /(Ki|Mi|Gi|Ti|Pi|Ei)$/.test(q.trim());
  if (binary && Number.isInteger(v)) {
    for (const [suffix, exp] of binarySteps) if (v % 2 ** exp === 0 && v !== 0) return `${v / 2 ** exp}${suffix}`;
    return String(v);
  }
  return formatDecimalNanos(BigInt(Math.round(v * 1e9)), { exponent: typeof q === 'string' && /[eE]/.test(q) });
}
