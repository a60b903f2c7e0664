/**
 * Semantic checks of the pod fields beyond the basics, as the API server makes them: lifecycle
 * hooks, sidecar (restartable init) containers, downward API references in env and volumes,
 * projected volumes, security contexts (seccomp, capabilities, privilege) and scheduling gates.
 * validate-rules.ts calls these from its pod spec checks.
 */
import { capabilityName } from '../model/capabilities.js';
import { RESOURCE_FIELDS, subscriptedField, unsupportedDivisor, unsupportedFieldPath, type DownwardUse } from '../model/downward.js';
import { validateLabelKey } from '../model/names.js';
import { dottedSysctl, sysctlProblem } from '../model/sysctls.js';
import type {
  Container,
  DownwardAPIVolumeFile,
  LifecycleHandler,
  ObjectFieldSelector,
  PodSpec,
  ResourceFieldSelector,
  SeccompProfile,
  SecurityContext,
  SELinuxOptions,
  Volume,
} from '../model/types.js';
import { checkItems, checkPortRef, checkQuantity, validateRelativePath, type Problems } from './validate-problems.js';

/** Kubernetes' default terminationGracePeriodSeconds, the bound of a sleep hook when none is set. */
const DEFAULT_GRACE_SECONDS = 30;

/** True for an init container that is a sidecar (`restartPolicy: Always`). */
export function isSidecar(c: Container): boolean {
  return c.restartPolicy === 'Always';
}

/** Which list a container comes from. */
export interface ContainerPlace {
  /** From `initContainers`. */
  init: boolean;
  spec: PodSpec;
}

/**
 * The checks of one container's lifecycle hooks, restart policy, probes' placement, downward API
 * env references and security context.
 */
export function checkContainerFields(p: Problems, at: string, c: Container, place: ContainerPlace): void {
  if (c.restartPolicy !== undefined && !place.init) p.forbidden(`${at}.restartPolicy`, 'may not be set for non-init containers');
  if (place.init && !isSidecar(c)) {
    // Only a sidecar keeps running; a run-to-completion init container has nothing to probe or hook.
    for (const f of ['lifecycle', 'livenessProbe', 'readinessProbe', 'startupProbe'] as const) {
      if (c[f] !== undefined) p.forbidden(`${at}.${f}`, 'may not be set for init containers without restartPolicy=Always');
    }
  }
  const grace = place.spec.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS;
  if (c.lifecycle?.postStart) checkHandler(p, `${at}.lifecycle.postStart`, c.lifecycle.postStart, grace);
  if (c.lifecycle?.preStop) checkHandler(p, `${at}.lifecycle.preStop`, c.lifecycle.preStop, grace);
  c.env?.forEach((e, i) => {
    const from = e.valueFrom;
    if (from?.fieldRef) checkFieldRef(p, `${at}.env[${i}].valueFrom.fieldRef`, from.fieldRef, 'env');
    if (from?.resourceFieldRef) checkResourceRef(p, `${at}.env[${i}].valueFrom.resourceFieldRef`, from.resourceFieldRef, { spec: place.spec, containerRequired: false });
  });
  if (c.securityContext) checkSecurityContext(p, `${at}.securityContext`, c.securityContext);
  c.volumeMounts?.forEach((m, i) => {
    // As the API server: a mount that propagates back to the host needs a privileged container.
    if (m.mountPropagation === 'Bidirectional' && c.securityContext?.privileged !== true) {
      p.forbidden(`${at}.volumeMounts[${i}].mountPropagation`, 'Bidirectional mount propagation is available only to privileged containers');
    }
  });
}

function checkHandler(p: Problems, at: string, h: LifecycleHandler, grace: number): void {
  const n = +!!h.exec + +!!h.httpGet + +!!h.tcpSocket + +!!h.sleep;
  if (n === 0) p.required(at, 'must specify a handler type (exec, httpGet or sleep)');
  if (n > 1) p.forbidden(at, 'may not specify more than 1 handler type');
  if (h.httpGet) checkPortRef(p, `${at}.httpGet.port`, h.httpGet.port);
  if (h.tcpSocket) checkPortRef(p, `${at}.tcpSocket.port`, h.tcpSocket.port);
  if (h.sleep && (h.sleep.seconds <= 0 || h.sleep.seconds > grace)) {
    p.invalid(`${at}.sleep.seconds`, h.sleep.seconds, `must be greater than 0 and less than terminationGracePeriodSeconds (${grace})`);
  }
}

function checkFieldRef(p: Problems, at: string, ref: ObjectFieldSelector, use: DownwardUse): void {
  if (ref.apiVersion !== undefined && ref.apiVersion !== 'v1') p.invalid(`${at}.apiVersion`, ref.apiVersion, 'supported values: "v1"');
  const bad = unsupportedFieldPath(ref.fieldPath, use);
  if (bad) {
    p.invalid(`${at}.fieldPath`, ref.fieldPath, bad);
    return;
  }
  const sub = subscriptedField(ref.fieldPath);
  if (sub) {
    const badKey = validateLabelKey(sub.key);
    if (badKey) p.invalid(`${at}.fieldPath`, ref.fieldPath, `invalid key: ${badKey}`);
  }
}

function checkResourceRef(p: Problems, at: string, ref: ResourceFieldSelector, opts: { spec: PodSpec; containerRequired: boolean }): void {
  if (!(RESOURCE_FIELDS as readonly string[]).includes(ref.resource)) {
    p.invalid(`${at}.resource`, ref.resource, `supported values: ${RESOURCE_FIELDS.map((r) => JSON.stringify(r)).join(', ')}`);
  } else if (ref.divisor !== undefined && checkQuantity(p, `${at}.divisor`, ref.divisor) !== undefined) {
    const bad = unsupportedDivisor(ref.resource, ref.divisor);
    if (bad) p.invalid(`${at}.divisor`, ref.divisor, bad);
  }
  if (ref.containerName === undefined || ref.containerName === '') {
    if (opts.containerRequired) p.required(`${at}.containerName`, 'a volume file must name the container whose resources it shows');
    return;
  }
  const names = [...opts.spec.containers, ...(opts.spec.initContainers ?? [])].map((c) => c.name);
  if (!names.includes(ref.containerName)) p.notFound(`${at}.containerName`, ref.containerName, 'no container of that name in the pod');
}

function checkSecurityContext(p: Problems, at: string, sc: SecurityContext): void {
  if (sc.privileged === true && sc.allowPrivilegeEscalation === false) {
    p.invalid(`${at}.allowPrivilegeEscalation`, false, 'cannot set `allowPrivilegeEscalation` to false and `privileged` to true');
  }
  for (const list of ['add', 'drop'] as const) {
    sc.capabilities?.[list]?.forEach((name, i) => {
      const known = capabilityName(name);
      if (!known) p.invalid(`${at}.capabilities.${list}[${i}]`, name, 'not a Linux capability (e.g. NET_ADMIN, CAP_CHOWN, or ALL)');
      else if (list === 'add' && known === 'CAP_SYS_ADMIN' && sc.allowPrivilegeEscalation === false) {
        p.invalid(`${at}.allowPrivilegeEscalation`, false, 'cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN');
      }
    });
  }
  if (sc.seccompProfile) checkSeccomp(p, `${at}.seccompProfile`, sc.seccompProfile);
  if (sc.seLinuxOptions) checkSeLinux(p, `${at}.seLinuxOptions`, sc.seLinuxOptions);
}

/**
 * An empty `seLinuxOptions` (as charts render it) sets nothing. A label would be accepted and
 * silently not applied, since gantry's nodes run without SELinux: it is refused instead.
 */
function checkSeLinux(p: Problems, at: string, o: SELinuxOptions): void {
  const set = (['user', 'role', 'type', 'level'] as const).filter((k) => o[k] !== undefined && o[k] !== '');
  if (set.length > 0) p.invalid(`${at}.${set[0]}`, o[set[0]!], "gantry's nodes run without SELinux, so a label cannot be applied: leave seLinuxOptions empty");
}

function checkSeccomp(p: Problems, at: string, s: SeccompProfile): void {
  const local = s.localhostProfile;
  if (s.type === 'Localhost') {
    if (local === undefined || local === '') p.required(`${at}.localhostProfile`, 'must be set when seccomp type is Localhost');
    else {
      const bad = validateRelativePath(local);
      if (bad) p.invalid(`${at}.localhostProfile`, local, `${bad} (it names a file under the node's seccomp directory)`);
    }
  } else if (local !== undefined) {
    p.forbidden(`${at}.localhostProfile`, 'can only be set when seccomp type is Localhost');
  }
}

/** Pod-level checks: the pod security context (seccomp, SELinux, sysctls) and scheduling gates. */
export function checkPodFields(p: Problems, path: string, spec: PodSpec): void {
  const sc = spec.securityContext;
  if (sc?.seccompProfile) checkSeccomp(p, `${path}.securityContext.seccompProfile`, sc.seccompProfile);
  if (sc?.seLinuxOptions) checkSeLinux(p, `${path}.securityContext.seLinuxOptions`, sc.seLinuxOptions);
  const sysctls = new Set<string>();
  sc?.sysctls?.forEach((s, i) => {
    const field = `${path}.securityContext.sysctls[${i}].name`;
    const bad = sysctlProblem(s.name, { network: spec.hostNetwork, ipc: spec.hostIPC });
    if (bad) p.invalid(field, s.name, bad);
    else if (sysctls.has(dottedSysctl(s.name))) p.duplicate(field, s.name);
    sysctls.add(dottedSysctl(s.name));
  });
  const gates = new Set<string>();
  spec.schedulingGates?.forEach((g, i) => {
    const field = `${path}.schedulingGates[${i}].name`;
    const bad = validateLabelKey(g.name);
    if (bad) p.invalid(field, g.name, bad);
    else if (gates.has(g.name)) p.duplicate(field, g.name);
    gates.add(g.name);
  });
  if (gates.size > 0 && spec.nodeName) p.forbidden(`${path}.nodeName`, 'cannot be set until all schedulingGates have been cleared');
}

/**
 * The downwardAPI and projected sources of one volume (`at` is the volume's path). @returns how
 * many of the two it has, for the one-source-per-volume rule.
 */
export function checkDownwardAndProjected(p: Problems, at: string, v: Volume, spec: PodSpec): number {
  let sources = 0;
  if (v.downwardAPI) {
    sources++;
    checkDownwardItems(p, `${at}.downwardAPI.items`, v.downwardAPI.items, spec, new Set());
  }
  if (v.projected) {
    sources++;
    const paths = new Set<string>();
    v.projected.sources?.forEach((src, i) => {
      const sat = `${at}.projected.sources[${i}]`;
      const n = +!!src.configMap + +!!src.secret + +!!src.downwardAPI + +!!src.serviceAccountToken;
      if (n === 0) p.required(sat, 'one of `configMap`, `secret`, `downwardAPI` or `serviceAccountToken`');
      if (n > 1) p.forbidden(sat, 'may not specify more than 1 volume type per source');
      for (const kind of ['configMap', 'secret'] as const) {
        const items = src[kind]?.items;
        if (!items) continue;
        checkItems(p, `${sat}.${kind}.items`, items);
        items.forEach((item, j) => {
          if (paths.has(item.path)) p.invalid(`${sat}.${kind}.items[${j}].path`, item.path, 'conflicting duplicate paths');
          paths.add(item.path);
        });
      }
      if (src.downwardAPI) checkDownwardItems(p, `${sat}.downwardAPI.items`, src.downwardAPI.items, spec, paths);
      const token = src.serviceAccountToken;
      if (token) {
        const tat = `${sat}.serviceAccountToken`;
        const bad = validateRelativePath(token.path) ?? (token.path.startsWith('..') ? "must not start with '..'" : undefined);
        if (bad) p.invalid(`${tat}.path`, token.path, bad);
        else if (paths.has(token.path)) p.invalid(`${tat}.path`, token.path, 'conflicting duplicate paths');
        paths.add(token.path);
        // As the API server: at least 10 minutes, at most 2^32 seconds.
        if (token.expirationSeconds !== undefined && (token.expirationSeconds < 600 || token.expirationSeconds > 2 ** 32)) {
          p.invalid(`${tat}.expirationSeconds`, token.expirationSeconds, 'may not specify a duration less than 10 minutes (600 seconds) or more than 2^32 seconds');
        }
      }
    });
  }
  return sources;
}

function checkDownwardItems(p: Problems, at: string, items: DownwardAPIVolumeFile[] | undefined, spec: PodSpec, paths: Set<string>): void {
  items?.forEach((item, i) => {
    const iat = `${at}[${i}]`;
    const bad = validateRelativePath(item.path) ?? (item.path.startsWith('..') ? "must not start with '..'" : undefined);
    if (bad) p.invalid(`${iat}.path`, item.path, bad);
    else if (paths.has(item.path)) p.invalid(`${iat}.path`, item.path, 'conflicting duplicate paths');
    paths.add(item.path);
    if (item.fieldRef && item.resourceFieldRef) p.forbidden(iat, '`fieldRef` and `resourceFieldRef` can not be specified simultaneously');
    else if (!item.fieldRef && !item.resourceFieldRef) p.required(iat, 'one of `fieldRef` or `resourceFieldRef`');
    if (item.fieldRef) checkFieldRef(p, `${iat}.fieldRef`, item.fieldRef, 'volume');
    if (item.resourceFieldRef) checkResourceRef(p, `${iat}.resourceFieldRef`, item.resourceFieldRef, { spec, containerRequired: true });
  });
}
