/**
 * The compact form of an object for display: its normalized form without the fields whose
 * value is just the Kubernetes default, so a created Deployment reads like the manifest that
 * declares it instead of fifty lines of `terminationMessagePath: /dev/termination-log`.
 */
import { applyDefaults, cloneJson } from '../model/defaults.js';
import type { KubeObject } from '../model/types.js';
import { deepEqual } from '../model/json.js';
import { normalize, stripNoise } from './normalize.js';

type Rec = Record<string, unknown>;

/** Field names defaulting may set to a scalar (see src/model/defaults.ts). */
const defaultedKeys = new Set([
  'namespace', 'type', 'restartPolicy', 'terminationGracePeriodSeconds', 'dnsPolicy', 'schedulerName',
  'imagePullPolicy', 'terminationMessagePath', 'terminationMessagePolicy', 'protocol', 'apiVersion',
  'timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold', 'path', 'scheme',
  'defaultMode', 'hostPort', 'replicas', 'maxSurge', 'maxUnavailable', 'revisionHistoryLimit',
  'progressDeadlineSeconds', 'podManagementPolicy', 'partition', 'whenDeleted', 'whenScaled',
  'volumeMode', 'completions', 'parallelism', 'backoffLimit', 'completionMode', 'suspend',
  'concurrencyPolicy', 'successfulJobsHistoryLimit', 'failedJobsHistoryLimit', 'sessionAffinity',
  'targetPort',
]);

/** Top-level fields that identify the object and are always shown. */
const identity = new Set(['apiVersion', 'kind']);

/**
 * `obj` normalized, minus every scalar field that defaulting would put back with the same
 * value. Checked as a whole: when defaulting the compact form does not give back the same
 * normalized object (defaults that depend on each other), the full normalized form is returned.
 */
export function compactForDisplay(obj: KubeObject): KubeObject {
  const full = normalize(obj);
  const candidate = cloneJson(full);
  const removed: { path: string[]; value: unknown }[] = [];
  strip(candidate as unknown as Rec, [], removed);
  const redefaulted = applyDefaults(candidate);
  for (const r of removed) {
    if (!deepEqual(valueAt(redefaulted, r.path), r.value)) setAt(candidate, r.path, r.value);
  }
  const result = stripNoise(candidate);
  return deepEqual(normalize(result), full) ? result : full;
}

function strip(node: Rec, path: string[], removed: { path: string[]; value: unknown }[]): void {
  for (const key of Object.keys(node)) {
    const v = node[key];
    if (v !== null && typeof v === 'object') {
      if (Array.isArray(v)) {
        v.forEach((e, i) => {
          if (e !== null && typeof e === 'object' && !Array.isArray(e)) strip(e as Rec, [...path, key, String(i)], removed);
        });
      } else {
        strip(v as Rec, [...path, key], removed);
      }
      continue;
    }
    if (!defaultedKeys.has(key) || (path.length === 0 && identity.has(key))) continue;
    removed.push({ path: [...path, key], value: v });
    delete node[key];
  }
}

function valueAt(root: unknown, path: string[]): unknown {
  let node = root;
  for (const seg of path) node = node !== null && typeof node === 'object' ? (node as Rec)[seg] : undefined;
  return node;
}

function setAt(root: unknown, path: string[], value: unknown): void {
  const parent = valueAt(root, path.slice(0, -1));
  if (parent !== null && typeof parent === 'object') (parent as Rec)[path[path.length - 1]!] = value;
}
