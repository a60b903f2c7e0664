/**
 * A container's environment as the kubelet builds it: the Service variables of the pod's
 * namespace (service-env.ts), then `envFrom` (ConfigMaps, Secrets, with prefix), then `env`
 * (values, `$(VAR)` references, `valueFrom` keys, pod fields and resource fields), layered over
 * the image's `Env`. Pure: the ConfigMaps, Secrets and Services come in resolved.
 */
import { GantryError } from '../../errors.js';
import { podFieldValue, resourceFieldValue, type NodeAllocatable } from '../../model/downward.js';
import type { ConfigMap, Container, Pod, Secret, Service } from '../../model/types.js';
import type { PodReferences } from '../types.js';
import { linkedServices, serviceEnvVars } from './service-env.js';

/** What env resolution needs besides the pod and container. */
export interface EnvContext {
  refs: PodReferences;
  podIP?: string;
  hostIP?: string;
  nodeName: string;
  /** Node allocatable, used by resourceFieldRef when the container sets no limit. */
  nodeAllocatable: NodeAllocatable;
  /** The cluster's Services as the node sees them (those of the pod's namespace give variables). */
  services?: readonly Service[];
}

/**
 * Expands `$(VAR)` references in `text` from `vars` as Kubernetes does: `$$` is a literal `$`,
 * an unknown reference stays as written, any other `$` is kept.
 */
export function expandVars(text: string, vars: Pick<ReadonlyMap<string, string>, 'get'>): string {
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

/**
 * The container's env from the pod spec (without the image's): `envFrom` then `env`, later names
 * winning, `$(VAR)` expanded against the variables defined before and the Service variables.
 * Returned in definition order, then the Service variables the pod did not define itself.
 * @throws GantryError NotFound (waiting) for a missing ConfigMap/Secret or key that is not optional —
 *   the kubelet reports these as CreateContainerConfigError.
 */
export function resolvePodEnv(pod: Pod, container: Container, ctx: EnvContext): Map<string, string> {
  const vars = new Map<string, string>();
  const ns = pod.metadata.namespace ?? 'default';
  const serviceVars = serviceEnvVars(linkedServices(ctx.services ?? [], ns, pod.spec.enableServiceLinks !== false));
  // $(VAR) sees the pod's own variables first, then the Services'.
  const lookup = { get: (name: string) => vars.get(name) ?? serviceVars.get(name) };
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
        value = downward(() => podFieldValue(pod, vf.fieldRef!.fieldPath, ctx));
      } else if (vf.resourceFieldRef) {
        value = downward(() => resourceFieldValue(pod, container, vf.resourceFieldRef!, ctx.nodeAllocatable));
      } else {
        value = '';
      }
    } else {
      value = expandVars(e.value ?? '', lookup);
    }
    vars.set(e.name, value);
  }
  for (const [k, v] of serviceVars) if (!vars.has(k)) vars.set(k, v);
  return vars;
}

/** A downward API value; a reference validation would have refused is a stalled config error. */
function downward(read: () => string): string {
  try {
    return read();
  } catch (err) {
    throw new GantryError('InvalidArgument', `env ${(err as Error).message}`, { disposition: 'stalled' });
  }
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
