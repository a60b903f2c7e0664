/**
 * Resource quantities as exact numbers, for the arithmetic admission does (quota usage, limit
 * ranges): "100m" + "200m" must be "300m", not 0.30000000000000004 cores, and a sum must print
 * the way Kubernetes prints it ("1500m", "256Mi", "1k") because its messages quote them.
 *
 * A quantity is held as a whole number of nano-units (BigInt, so exabytes fit) and the format
 * it was written in, which decides how sums print: binary ("Mi", "Gi") for values written so,
 * decimal ("m", "k", "M") otherwise, as Kubernetes' resource.Quantity does. Parsing rounds a
 * value finer than a nano-unit up, as Kubernetes does.
 */

/** How a quantity prints: Kubernetes' three formats. */
export type QuantityFormat = 'BinarySI' | 'DecimalSI' | 'DecimalExponent';

/** An exact quantity: nano-units and the format it prints in. */
export interface ExactQuantity {
  nanos: bigint;
  format: QuantityFormat;
}

const NANO = 1_000_000_000n;

const binaryPowers: Record<string, number> = { Ki: 1, Mi: 2, Gi: 3, Ti: 4, Pi: 5, Ei: 6 };
const decimalExponents: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const decimalSuffixes: [number, string][] = [[18, 'E'], [15, 'P'], [12, 'T'], [9, 'G'], [6, 'M'], [3, 'k'], [0, ''], [-3, 'm'], [-6, 'u'], [-9, 'n']];
const binarySuffixes: [number, string][] = [[6, 'Ei'], [5, 'Pi'], [4, 'Ti'], [3, 'Gi'], [2, 'Mi'], [1, 'Ki']];

const pattern = /^([+-]?)(\d*)(?:\.(\d*))?(?:(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)|[eE]([+-]?\d+))?$/;

/** The zero quantity (decimal). */
export const ZERO: ExactQuantity = { nanos: 0n, format: 'DecimalSI' };

const POW10: bigint[] = Array.from({ length: 40 }, (_, i) => 10n ** BigInt(i));

function pow10(e: number): bigint {
  return POW10[e] ?? 10n ** BigInt(e);
}

/** Ceiling division for a positive divisor (rounds towards +∞, as Kubernetes rounds up). */
function ceilDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a > 0n ? q + 1n : q;
}

/** Manifests repeat a handful of spellings ("100m", "128Mi") thousands of times. */
const parsed = new Map<string | number, ExactQuantity | undefined>();

/** Parses a quantity ("500m", "1.5Gi", "2", "1e3", or a number); undefined when it is not one. */
export function parseExact(q: string | number): ExactQuantity | undefined {
  if (parsed.has(q)) return parsed.get(q);
  const v = parseUncached(q);
  // Results are shared: callers never change a quantity (arithmetic makes new ones).
  if (parsed.size < 4096) parsed.set(q, v && Object.freeze(v));
  return v;
}

function parseUncached(q: string | number): ExactQuantity | undefined {
  const text = typeof q === 'number' ? (Number.isFinite(q) ? numberText(q) : '') : q.trim();
  const m = pattern.exec(text);
  if (!m) return undefined;
  const [, sign, whole = '', frac = '', suffix, exp] = m;
  if (whole === '' && frac === '') return undefined;
  let num = BigInt(`${whole}${frac}` || '0');
  let den = pow10(frac.length);
  let format: QuantityFormat = 'DecimalSI';
  if (suffix !== undefined && binaryPowers[suffix] !== undefined) {
    num *= 1024n ** BigInt(binaryPowers[suffix]!);
    format = 'BinarySI';
  } else {
    const e = exp !== undefined ? Number(exp) : decimalExponents[suffix ?? '']!;
    if (exp !== undefined) format = 'DecimalExponent';
    if (e >= 0) num *= pow10(e);
    else den *= pow10(-e);
  }
  const nanos = ceilDiv(num * NANO, den);
  return { nanos: sign === '-' ? -nanos : nanos, format };
}

/** A JS number as quantity text without exponent surprises (1e21 → digits). */
function numberText(n: number): string {
  if (Number.isInteger(n)) return BigInt(n).toString();
  return String(n);
}

/** a + b, in a's format (b's when a is zero and was never written, as Kubernetes' sums start). */
export function addExact(a: ExactQuantity, b: ExactQuantity): ExactQuantity {
  return { nanos: a.nanos + b.nanos, format: a === ZERO ? b.format : a.format };
}

/** a − b, in a's format. */
export function subtractExact(a: ExactQuantity, b: ExactQuantity): ExactQuantity {
  return { nanos: a.nanos - b.nanos, format: a.format };
}

/** −1, 0 or 1 as a is less than, equal to or greater than b. */
export function compareExact(a: ExactQuantity, b: ExactQuantity): number {
  return a.nanos < b.nanos ? -1 : a.nanos > b.nanos ? 1 : 0;
}

/** The larger of a and b (a when equal). */
export function maxExact(a: ExactQuantity, b: ExactQuantity): ExactQuantity {
  return compareExact(b, a) > 0 ? b : a;
}

/** The value in milli-units, rounded up (Kubernetes' MilliValue). */
export function milliValue(q: ExactQuantity): bigint {
  return ceilDiv(q.nanos, 1_000_000n);
}

/**
 * The quantity as Kubernetes prints it (resource.Quantity's String): binary values below 1024
 * or with a fraction print as decimal; a binary value with the largest suffix that divides it
 * ("1536Mi"); a decimal value with the largest power of a thousand that leaves a whole mantissa
 * ("1500m", "2", "1k", "1500").
 */
export function formatExact(q: ExactQuantity): string {
  const n = q.nanos;
  if (n === 0n) return '0';
  const sign = n < 0n ? '-' : '';
  const abs = n < 0n ? -n : n;
  let format = q.format;
  if (format === 'BinarySI' && (abs < 1024n * NANO || abs % NANO !== 0n)) format = 'DecimalSI';
  if (format === 'BinarySI') {
    const whole = abs / NANO;
    for (const [power, suffix] of binarySuffixes) {
      const unit = 1024n ** BigInt(power);
      if (whole % unit === 0n) return `${sign}${whole / unit}${suffix}`;
    }
    return `${sign}${whole}`;
  }
  for (const [e, suffix] of decimalSuffixes) {
    const unit = e + 9 >= 0 ? pow10(e + 9) : 1n;
    if (abs % unit !== 0n) continue;
    const mantissa = abs / unit;
    if (format === 'DecimalExponent') return e === 0 ? `${sign}${mantissa}` : `${sign}${mantissa}e${e}`;
    return `${sign}${mantissa}${suffix}`;
  }
  return `${sign}${abs}n`;
}

/** Parses and prints a quantity canonically; text that is not a quantity comes back as is. */
export function canonicalExact(q: string | number): string {
  const v = parseExact(q);
  return v ? formatExact(v) : String(q);
}
