/**
 * The comparison form of an object: what remains once defaults are applied and everything the
 * server, the controllers or gantry itself add is removed. Two objects mean the same thing to
 * Kubernetes exactly when their normalized forms are deep-equal, so re-syncing an applied
 * revision diffs to nothing while a real change always survives normalization.
 *
 * What is removed or rewritten:
 * - `status`; `metadata` uid, resourceVersion, generation, creationTimestamp, deletionTimestamp,
 *   managedFields, selfLink;
 * - annotations under `gantry.dev/`, `kubectl.kubernetes.io/last-applied-configuration`,
 *   `deployment.kubernetes.io/revision` (see {@link isIgnoredAnnotation});
 * - null values, and empty maps and lists, which Kubernetes treats as absent (`labels: {}`,
 *   `args: []`, `securityContext: {}`); except an empty `labelSelector`, which matches every
 *   pod where an absent one matches none; list elements are never removed, only fields;
 * - resource quantities (`resources.limits/requests`, `emptyDir.sizeLimit`,
 *   `resourceFieldRef.divisor`) are rewritten to one spelling per value ("1000m" and "1" → "1",
 *   "0.5" → "500m", "1073741824" → "1Gi");
 * - fields the server assigns (Service `clusterIP`, `clusterIPs`, `ports[].nodePort`; Pod
 *   `nodeName` bound by the scheduler) are removed from a live object when the desired object
 *   leaves them unset (pass it as `opts.desired`).
 *
 * Deliberately kept: int-or-string fields (`targetPort`, `maxSurge`, probe ports) as written: in
 * Kubernetes `8080` and `"8080"` are not the same value there (a string is a port name or a
 * percentage), so rewriting one into the other could hide a real change. Key order never
 * matters (comparison is by key); list order always does.
 */
import { applyDefaults } from '../model/defaults.js';
import { GANTRY_PREFIX } from '../model/annotations.js';
import { parseQuantity } from '../model/quantity.js';
import type { KubeObject } from '../model/types.js';

type Rec = Record<string, unknown>;

/** Options for {@link normalize}. */
export interface NormalizeOptions {
  /**
   * The desired counterpart, when normalizing a live object: server-assigned fields
   * (clusterIP, nodePort, nodeName) that it leaves unset are dropped from the live form.
   * Without it they are kept.
   */
  desired?: KubeObject;
}

/** Server-owned metadata fields, never part of desired state. */
const serverMetadata = [
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'managedFields',
  'selfLink',
] as const;

/** Annotations written by tools and controllers, not by the repo. */
const ignoredAnnotations = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  'deployment.kubernetes.io/revision',
]);

/** Keys whose empty-object value means something different from absence. */
const meaningfulEmpty = new Set(['labelSelector', 'namespaceSelector']);

/**
 * True for annotations the normalizer drops: gantry's own (`gantry.dev/…`), kubectl's
 * last-applied configuration, and the Deployment controller's revision.
 */
export function isIgnoredAnnotation(key: string): boolean {
  return key.startsWith(GANTRY_PREFIX) || ignoredAnnotations.has(key);
}

/**
 * The normalized comparison form of `obj` (a new object; the input is not modified). Applying
 * it twice gives the same result as applying it once.
 */
export function normalize(obj: KubeObject, opts: NormalizeOptions = {}): KubeObject {
  const out = applyDefaults(obj);
  canonicalizeInPlace(out);
  if (opts.desired) dropServerAssigned(out, opts.desired);
  return out;
}

/** Rewrites an object the caller owns (already defaulted) into its comparison form. */
function canonicalizeInPlace(obj: KubeObject): void {
  delete obj.status;
  const meta = obj.metadata as unknown as Rec;
  if (isRec(meta)) {
    for (const f of serverMetadata) delete meta[f];
    const annotations = meta.annotations;
    if (isRec(annotations)) {
      for (const key of Object.keys(annotations)) if (isIgnoredAnnotation(key)) delete annotations[key];
    }
  }
  // An empty clusterIP asks the server to allocate one, exactly as an absent one does.
  if (obj.kind === 'Service' && isRec(obj.spec) && obj.spec.clusterIP === '') delete obj.spec.clusterIP;
  cleanRec(obj as unknown as Rec);
}

/** Removes nulls and empty maps/lists below `r`, and canonicalizes quantities. */
function cleanRec(r: Rec): void {
  for (const key of Object.keys(r)) {
    const v = r[key];
    if (v === null || v === undefined) {
      delete r[key];
      continue;
    }
    if (typeof v !== 'object') continue;
    if (Array.isArray(v)) {
      cleanArray(v);
      if (v.length === 0) delete r[key];
      continue;
    }
    const child = v as Rec;
    if (key === 'resources') canonicalResources(child);
    else if (key === 'emptyDir' && child.sizeLimit !== undefined) child.sizeLimit = canonicalQuantity(child.sizeLimit, false);
    else if (key === 'resourceFieldRef' && child.divisor !== undefined) {
      const cpu = typeof child.resource === 'string' && child.resource.endsWith('cpu');
      child.divisor = canonicalQuantity(child.divisor, cpu);
    }
    cleanRec(child);
    if (!meaningfulEmpty.has(key) && isEmptyRec(child)) delete r[key];
  }
}

function cleanArray(a: unknown[]): void {
  for (const v of a) {
    if (typeof v !== 'object' || v === null) continue;
    if (Array.isArray(v)) cleanArray(v);
    else cleanRec(v as Rec);
  }
}

function canonicalResources(res: Rec): void {
  for (const side of ['limits', 'requests']) {
    const m = res[side];
    if (!isRec(m)) continue;
    for (const name of Object.keys(m)) m[name] = canonicalQuantity(m[name], name === 'cpu');
  }
}

const binary: [string, number][] = [['Ei', 2 ** 60], ['Pi', 2 ** 50], ['Ti', 2 ** 40], ['Gi', 2 ** 30], ['Mi', 2 ** 20], ['Ki', 2 ** 10]];
const decimal: [string, number][] = [['E', 1e18], ['P', 1e15], ['T', 1e12], ['G', 1e9], ['M', 1e6], ['k', 1e3]];

/**
 * One spelling per quantity value. CPU: whole cores, else millicores, else nanocores. Others
 * (memory, storage): the largest exact binary suffix, else decimal suffix, else the plain
 * number; fractions as milli/nano units. Text that is not a quantity is returned untouched so
 * validation, not the differ, decides about it.
 */
export function canonicalQuantity(q: unknown, cpu: boolean): unknown {
  if (typeof q !== 'string' && typeof q !== 'number') return q;
  const v = parseQuantity(q);
  if (v === undefined) return q;
  const isWhole = (x: number): boolean => Math.abs(x - Math.round(x)) < 1e-6;
  if (!cpu && Number.isInteger(v)) {
    if (v === 0) return '0';
    for (const [suffix, mult] of binary) if (v % mult === 0) return `${v / mult}${suffix}`;
    for (const [suffix, mult] of decimal) if (v % mult === 0) return `${v / mult}${suffix}`;
    return String(v);
  }
  const millis = v * 1000;
  if (isWhole(millis)) {
    const m = Math.round(millis);
    return m % 1000 === 0 ? String(m / 1000) : `${m}m`;
  }
  return `${Math.round(v * 1e9)}n`;
}

/** Drops fields the server assigned from a normalized live object when desired leaves them unset. */
function dropServerAssigned(live: KubeObject, desired: KubeObject): void {
  const spec = isRec(live.spec) ? live.spec : undefined;
  const want = isRec(desired.spec) ? desired.spec : {};
  if (!spec) return;
  if (live.kind === 'Service') {
    if (want.clusterIP === undefined || want.clusterIP === '') delete spec.clusterIP;
    if (want.clusterIPs === undefined) delete spec.clusterIPs;
    const wantPorts = Array.isArray(want.ports) ? want.ports : [];
    if (Array.isArray(spec.ports)) {
      spec.ports.forEach((p: unknown, i: number) => {
        const w = wantPorts[i] as Rec | undefined;
        if (isRec(p) && (!isRec(w) || w.nodePort === undefined)) delete p.nodePort;
      });
    }
  } else if (live.kind === 'Pod') {
    if (want.nodeName === undefined) delete spec.nodeName;
  }
}

function isRec(v: unknown): v is Rec {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isEmptyRec(r: Rec): boolean {
  for (const _ in r) return false;
  return true;
}
