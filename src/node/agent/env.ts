/**
 * A container's environment as the kubelet builds it: the Service variables, then `envFrom`
 * (ConfigMaps, Secrets, with prefix), then `env` (values, `$(VAR)` references, `valueFrom` keys,
 * pod fields and resource fields), layered over the image's `Env`. Pure: the ConfigMaps and Secrets come in resolved.
 */
import { GantryError } from '../../errors.js';
import { podMetadataField } from '../../model/pod-fields.js';
import { cpuMillis, parseQuantity } from '../../model/quantity.js';
import type { ConfigMap, Container, Pod, Secret } from '../../model/types.js';
import type { PodReferences } from '../types.js';

/** What env resolution needs besides the pod and container. */
export interface EnvContext {
  refs: PodReferences;
  podIP?: string;
  hostIP?: string;
  nodeName: string;
  /** Node allocatable, used by resourceFieldRef when the container sets no limit. */
  nodeAllocatable: { cpuMillis: number; memoryBytes: number };
  /** Service variables (KUBERNETES_SERVICE_HOST, …), defined first: the pod's own env overrides and may refer to them. */
  serviceEnv?: ReadonlyMap<string, string>;
}

/**
 * Expands `$(VAR)` references in `text` from `vars` as Kubernetes does: `$$` is a literal `$`,
 * an unknown reference stays as written, any other `$` is kept.
 */
export function expandVars(text: string, vars: ReadonlyMap<string, string>): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch !== '$' || i + 1 >= text.length) {
      out += ch;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(') {
      const close = text.indexOf(')', i + 2);
      if (close < 0) {
        out += text.slice(i);
        break;
      }
      const name = text.slice(i + 2, close);
      const value = vars.get(name);
      out += value ?? `$(${name})`;
      i = close;
    } else {
      out += ch;
    }
  }
  return out;
}

/** A ConfigMap or Secret value by key, decoded (Secret data is base64). */
function configValue(obj: ConfigMap | Secret, key: string): string | undefined {
  if (obj.kind === 'Secret') {
    const s = obj as Secret;
    if (s.stringData?.[key] !== undefined) return s.stringData[key];
    const b64 = s.data?.[key];
    return b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8');
  }
  const c = obj as ConfigMap;
  if (c.data?.[key] !== undefined) return c.data[key];
  const bin = c.binaryData?.[key];
  return bin === undefined ? undefined : Buffer.from(bin, 'base64').toString('utf8');
}

function configKeys(obj: ConfigMap | Secret): string[] {
  if (obj.kind === 'Secret') {
    const s = obj as Secret;
    return [...new Set([...Object.keys(s.data ?? {}), ...Object.keys(s.stringData ?? {})])];
  }
  const c = obj as ConfigMap;
  return [...new Set([...Object.keys(c.data ?? {}), ...Object.keys(c.binaryData ?? {})])];
}

/** Env var names Kubernetes accepts (C identifiers plus `.` and `-`). */
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

function configError(pod: Pod, message: string): GantryError {
  return new GantryError('NotFound', message, { object: `Pod/${pod.metadata.namespace ?? 'default'}/${pod.metadata.name}`, disposition: 'waiting' });
}

/** The value of a `fieldRef` path, or an error naming an unsupported one. */
function fieldValue(pod: Pod, fieldPath: string, ctx: EnvContext): string {
  const meta = podMetadataField(pod, fieldPath);
  if (meta !== undefined) return meta;
  switch (fieldPath) {
    case 'spec.nodeName':
      return pod.spec.nodeName ?? ctx.nodeName;
    case 'spec.serviceAccountName':
      return pod.spec.serviceAccountName ?? 'default';
    case 'status.podIP':
    case 'status.podIPs':
      return ctx.podIP ?? '';
    case 'status.hostIP':
    case 'status.hostIPs':
      return ctx.hostIP ?? '';
    default:
      throw new GantryError('InvalidArgument', `env fieldRef ${fieldPath} is not supported`, { disposition: 'stalled' });
  }
}

/** The value of a `resourceFieldRef` (limits default to node allocatable, as in Kubernetes). */
function resourceValue(pod: Pod, self: Container, ref: { containerName?: string; resource: string; divisor?: string | number }, ctx: EnvContext): string {
  const target = ref.containerName ? [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].find((c) => c.name === ref.containerName) : self;
  if (!target) throw new GantryError('InvalidArgument', `env resourceFieldRef names container ${ref.containerName}, which the pod does not have`, { disposition: 'stalled' });
  const [section, res] = ref.resource.split('.') as ['limits' | 'requests', string];
  const raw = target.resources?.[section]?.[res];
  if (res === 'cpu') {
    const millis = raw !== undefined ? cpuMillis(raw) : section === 'limits' ? ctx.nodeAllocatable.cpuMillis : 0;
    const div = ref.divisor !== undefined ? cpuMillis(ref.divisor) : 1000;
    return String(Math.ceil(millis / Math.max(1, div)));
  }
  const bytesValue = raw !== undefined ? (parseQuantity(raw) ?? 0) : section === 'limits' && res === 'memory' ? ctx.nodeAllocatable.memoryBytes : 0;
  const div = ref.divisor !== undefined ? (parseQuantity(ref.divisor) ?? 1) : 1;
  return String(Math.ceil(bytesValue / Math.max(1e-9, div)));
}

/**
 * The container's env from the pod spec (without the image's): the Service variables, `envFrom` then `env`, later names
 * winning, `$(VAR)` expanded against the variables defined before. Returned in definition order.
 * @throws GantryError NotFound (waiting) for a missing ConfigMap/Secret or key that is not optional —
 *   the kubelet reports these as CreateContainerConfigError.
 */
export function resolvePodEnv(pod: Pod, container: Container, ctx: EnvContext): Map<string, string> {
  const vars = new Map<string, string>(ctx.serviceEnv ?? []);
  const ns = pod.metadata.namespace ?? 'default';
  for (const from of container.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    if (!ref) continue;
    const isSecret = !!from.secretRef;
    const obj = isSecret ? ctx.refs.secrets.get(ref.name) : ctx.refs.configMaps.get(ref.name);
    if (!obj) {
      if (ref.optional) continue;
      throw configError(pod, `${isSecret ? 'secret' : 'configmap'} "${ref.name}" not found`);
    }
    for (const key of configKeys(obj)) {
      const name = `${from.prefix ?? ''}${key}`;
      // Kubernetes skips keys that are not valid env names (and records an event).
      if (!ENV_NAME.test(name)) continue;
      vars.set(name, configValue(obj, key) ?? '');
    }
  }
  for (const e of container.env ?? []) {
    let value: string;
    if (e.valueFrom) {
      const vf = e.valueFrom;
      if (vf.configMapKeyRef || vf.secretKeyRef) {
        const isSecret = !!vf.secretKeyRef;
        const ref = (vf.configMapKeyRef ?? vf.secretKeyRef)!;
        const obj = isSecret ? ctx.refs.secrets.get(ref.name) : ctx.refs.configMaps.get(ref.name);
        if (!obj) {
          if (ref.optional) continue;
          throw configError(pod, `${isSecret ? 'secret' : 'configmap'} "${ref.name}" not found`);
        }
        const v = configValue(obj, ref.key);
        if (v === undefined) {
          if (ref.optional) continue;
          throw configError(pod, `couldn't find key ${ref.key} in ${isSecret ? 'Secret' : 'ConfigMap'} ${ns}/${ref.name}`);
        }
        value = v;
      } else if (vf.fieldRef) {
        value = fieldValue(pod, vf.fieldRef.fieldPath, ctx);
      } else if (vf.resourceFieldRef) {
        value = resourceValue(pod, container, vf.resourceFieldRef, ctx);
      } else {
        value = '';
      }
    } else {
      value = expandVars(e.value ?? '', vars);
    }
    vars.set(e.name, value);
  }
  return vars;
}

/** The final `NAME=value` list: the image's Env overridden by the pod's, image order first. */
export function mergeEnv(imageEnv: string[] | undefined, podEnv: ReadonlyMap<string, string>): string[] {
  const merged = new Map<string, string>();
  for (const kv of imageEnv ?? []) {
    const i = kv.indexOf('=');
    if (i > 0) merged.set(kv.slice(0, i), kv.slice(i + 1));
  }
  for (const [k, v] of podEnv) merged.set(k, v);
  return [...merged].map(([k, v]) => `${k}=${v}`);
}
