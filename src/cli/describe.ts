/**
 * `gantry describe`: human-readable pages in the layout of `kubectl describe` (the same labels,
 * order and alignment for the fields gantry has) for Pods, Deployments, ReplicaSets, Services,
 * Nodes and HorizontalPodAutoscalers, and a generic page for every other kind. Pure: an object, its Events and the objects the
 * page refers to (a Deployment's ReplicaSets, a Node's pods, a Service's Endpoints) in, text out.
 *
 * Lines are written with tabs between cells and aligned at the end by {@link alignTabs}, as
 * kubectl writes through Go's tabwriter; that is what makes the alignment match.
 */
import type { KubeEvent } from '../events/recorder.js';
import { humanDuration } from '../model/columns.js';
import { bytes, canonicalQuantityText, cpuMillis, formatBytes } from '../model/quantity.js';
import type {
  Condition, Container, ContainerState, ContainerStatus, Deployment, Endpoints, EnvVar, HorizontalPodAutoscaler, HPAScalingRules, KubeObject, LabelSelector, Node, Pod,
  PodTemplateSpec, Probe, ReplicaSet, Service, Taint, Toleration, Volume,
} from '../model/types.js';
import { alignTabs } from './printers.js';

/** What a page may draw on besides the object itself. */
export interface DescribeContext {
  /** Events about the object (any order; the page sorts them). */
  events?: KubeEvent[];
  /** A Deployment's ReplicaSets (its own, by controller reference). */
  replicaSets?: ReplicaSet[];
  /** A ReplicaSet's pods, or a Node's pods. */
  pods?: Pod[];
  /** A Service's Endpoints. */
  endpoints?: Endpoints;
  /** Clock for ages (default now). */
  now?: number;
}

/** The `kubectl describe` page of one object. */
export function describeObject(obj: KubeObject, ctx: DescribeContext = {}): string {
  const w = new PageWriter(ctx.now ?? Date.now());
  switch (obj.kind) {
    case 'Pod': describePod(w, obj as Pod); break;
    case 'Deployment': describeDeployment(w, obj as Deployment, ctx); break;
    case 'ReplicaSet': describeReplicaSet(w, obj as ReplicaSet, ctx); break;
    case 'Service': describeService(w, obj as Service, ctx); break;
    case 'Node': describeNode(w, obj as Node, ctx); break;
    case 'Endpoints': describeEndpoints(w, obj as Endpoints); break;
    case 'HorizontalPodAutoscaler': describeAutoscaler(w, obj as HorizontalPodAutoscaler); break;
    default: describeGeneric(w, obj);
  }
  describeEvents(w, ctx.events ?? []);
  return alignTabs(w.text()).replace(/\n+$/, '');
}

/** Events that are about `obj` (kind, namespace, name, and uid when both sides have one). */
export function eventsFor(obj: KubeObject, events: KubeEvent[]): KubeEvent[] {
  return events.filter((e) => {
    const io = e.involvedObject;
    if (io.kind !== obj.kind || io.name !== obj.metadata.name) return false;
    if ((io.namespace ?? '') !== (obj.metadata.namespace ?? '')) return false;
    // The kubelet names its Node in events by the node's name as uid; kubectl matches that too.
    return !io.uid || !obj.metadata.uid || io.uid === obj.metadata.uid || (obj.kind === 'Node' && io.uid === obj.metadata.name);
  });
}

/** Collects lines; `line(level, text)` indents by two spaces per level, as kubectl's levels. */
class PageWriter {
  private readonly lines: string[] = [];
  constructor(readonly now: number) {}
  line(level: number, text: string): void {
    this.lines.push(`${'  '.repeat(level)}${text}`);
  }
  text(): string {
    return `${this.lines.join('\n')}\n`;
  }
}

/** kubectl prints times in RFC 1123 with a numeric zone: `Mon, 30 Nov 2026 11:50:02 +0000` (UTC here). */
export function describeTime(ts: string | undefined): string {
  if (!ts) return '<unset>';
  const t = Date.parse(ts);
  if (Number.isNaN(t)) return ts;
  return new Date(t).toUTCString().replace('GMT', '+0000');
}

function age(ts: string | undefined, now: number): string {
  if (!ts) return '<unknown>';
  const t = Date.parse(ts);
  return Number.isNaN(t) ? '<unknown>' : humanDuration(now - t);
}

// ---------------------------------------------------------------- shared pieces

function multiline(w: PageWriter, indent: string, title: string, entries: string[]): void {
  if (entries.length === 0) {
    w.line(0, `${indent}${title}:\t<none>`);
    return;
  }
  entries.forEach((e, i) => w.line(0, i === 0 ? `${indent}${title}:\t${e}` : `${indent}\t${e}`));
}

function labels(w: PageWriter, title: string, map: Record<string, string> | undefined, indent = ''): void {
  multiline(w, indent, title, Object.keys(map ?? {}).sort().map((k) => `${k}=${map![k]}`));
}

function annotations(w: PageWriter, map: Record<string, string> | undefined, indent = '', title = 'Annotations'): void {
  const keys = Object.keys(map ?? {}).filter((k) => k !== 'kubectl.kubernetes.io/last-applied-configuration').sort();
  multiline(w, indent, title, keys.map((k) => `${k}: ${map![k]}`));
}

function tolerationText(t: Toleration): string {
  let s = t.key ?? '';
  if (t.value) s += `=${t.value}`;
  if (t.effect) s += `:${t.effect}`;
  if (t.operator === 'Exists' && !t.value) s += t.key || t.effect ? ' op=Exists' : 'op=Exists';
  if (t.tolerationSeconds !== undefined) s += ` for ${t.tolerationSeconds}s`;
  return s;
}

function tolerations(w: PageWriter, list: Toleration[] | undefined, indent = ''): void {
  const sorted = [...(list ?? [])].sort((a, b) => (a.key ?? '').localeCompare(b.key ?? ''));
  multiline(w, indent, 'Tolerations', sorted.map(tolerationText));
}

function taintText(t: Taint): string {
  return `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`;
}

/** `app=web,tier in (a,b)`, as metav1.FormatLabelSelector writes it. */
export function selectorText(sel: LabelSelector | undefined): string {
  if (!sel) return '<none>';
  const parts = Object.keys(sel.matchLabels ?? {}).sort().map((k) => `${k}=${sel.matchLabels![k]}`);
  for (const e of sel.matchExpressions ?? []) {
    const values = [...(e.values ?? [])].sort().join(',');
    switch (e.operator) {
      case 'In': parts.push(`${e.key} in (${values})`); break;
      case 'NotIn': parts.push(`${e.key} notin (${values})`); break;
      case 'Exists': parts.push(e.key); break;
      case 'DoesNotExist': parts.push(`!${e.key}`); break;
    }
  }
  return parts.length ? parts.join(',') : '<none>';
}

function controlledBy(w: PageWriter, obj: KubeObject): void {
  const ref = obj.metadata.ownerReferences?.find((r) => r.controller);
  if (ref) w.line(0, `Controlled By:\t${ref.kind}/${ref.name}`);
}

function seconds(n: number): string {
  const h = Math.floor(n / 3600);
  const m = Math.floor((n % 3600) / 60);
  const s = n % 60;
  if (h) return `${h}h${m}m${s}s`;
  if (m) return `${m}m${s}s`;
  return `${s}s`;
}

/** `http-get http://:8080/healthz delay=0s timeout=1s period=10s #success=1 #failure=3`. */
export function probeText(p: Probe): string {
  const attrs = `delay=${seconds(p.initialDelaySeconds ?? 0)} timeout=${seconds(p.timeoutSeconds ?? 1)} period=${seconds(p.periodSeconds ?? 10)} #success=${p.successThreshold ?? 1} #failure=${p.failureThreshold ?? 3}`;
  if (p.exec) return `exec [${p.exec.command.join(' ')}] ${attrs}`;
  if (p.httpGet) {
    const host = p.httpGet.host ?? '';
    const hostPort = host.includes(':') ? `[${host}]:${p.httpGet.port}` : `${host}:${p.httpGet.port}`;
    return `http-get ${(p.httpGet.scheme ?? 'HTTP').toLowerCase()}://${hostPort}${p.httpGet.path ?? ''} ${attrs}`;
  }
  if (p.tcpSocket) return `tcp-socket ${p.tcpSocket.host ?? ''}:${p.tcpSocket.port} ${attrs}`;
  return `unknown ${attrs}`;
}

/** The value a fieldRef resolves to on the pod, for the paths kubectl resolves (others print empty). */
function fieldRefValue(pod: Pod | undefined, path: string): string {
  if (!pod) return '';
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (m) return (m[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations)?.[m[2]!] ?? '';
  switch (path) {
    case 'metadata.name': return pod.metadata.name;
    case 'metadata.namespace': return pod.metadata.namespace ?? '';
    case 'metadata.uid': return pod.metadata.uid ?? '';
    case 'spec.nodeName': return pod.spec.nodeName ?? '';
    case 'spec.serviceAccountName': return pod.spec.serviceAccountName ?? '';
    default: return '';
  }
}

function envLine(w: PageWriter, e: EnvVar, pod: Pod | undefined): void {
  const vf = e.valueFrom;
  if (!vf) {
    const lines = (e.value ?? '').split('\n');
    w.line(3, `${e.name}:\t${lines[0]}`);
    for (const more of lines.slice(1)) w.line(3, `\t${more}`);
  } else if (vf.fieldRef) {
    w.line(3, `${e.name}:\t${fieldRefValue(pod, vf.fieldRef.fieldPath)} (${vf.fieldRef.apiVersion ?? 'v1'}:${vf.fieldRef.fieldPath})`);
  } else if (vf.resourceFieldRef) {
    w.line(3, `${e.name}:\t (${vf.resourceFieldRef.resource})`);
  } else if (vf.secretKeyRef) {
    w.line(3, `${e.name}:\t<set to the key '${vf.secretKeyRef.key}' in secret '${vf.secretKeyRef.name}'>\tOptional: ${vf.secretKeyRef.optional ?? false}`);
  } else if (vf.configMapKeyRef) {
    w.line(3, `${e.name}:\t<set to the key '${vf.configMapKeyRef.key}' of config map '${vf.configMapKeyRef.name}'>\tOptional: ${vf.configMapKeyRef.optional ?? false}`);
  }
}

function stateLines(w: PageWriter, title: string, st: ContainerState): void {
  if (st.running) {
    w.line(2, `${title}:\tRunning`);
    w.line(3, `Started:\t${describeTime(st.running.startedAt)}`);
  } else if (st.terminated) {
    const t = st.terminated;
    w.line(2, `${title}:\tTerminated`);
    if (t.reason) w.line(3, `Reason:\t${t.reason}`);
    if (t.message) w.line(3, `Message:\t${t.message.trim()}`);
    w.line(3, `Exit Code:\t${t.exitCode}`);
    if (t.signal) w.line(3, `Signal:\t${t.signal}`);
    w.line(3, `Started:\t${describeTime(t.startedAt)}`);
    w.line(3, `Finished:\t${describeTime(t.finishedAt)}`);
  } else {
    w.line(2, `${title}:\tWaiting`);
    if (st.waiting?.reason) w.line(3, `Reason:\t${st.waiting.reason}`);
  }
}

function containers(w: PageWriter, title: string, list: Container[], statuses: ContainerStatus[] | undefined, pod: Pod | undefined, space: string): void {
  w.line(0, `${space}${title}:`);
  for (const c of list) {
    const status = statuses?.find((s) => s.name === c.name);
    w.line(1, `${space ? ' ' : ''}${c.name}:`);
    if (status) w.line(2, `Container ID:\t${status.containerID ?? ''}`);
    w.line(2, `Image:\t${c.image}`);
    if (status) w.line(2, `Image ID:\t${status.imageID}`);
    const ports = (c.ports ?? []).map((p) => `${p.containerPort}/${p.protocol ?? 'TCP'}`).join(',');
    const hostPorts = (c.ports ?? []).map((p) => `${p.hostPort ?? 0}/${p.protocol ?? 'TCP'}`).join(',');
    w.line(2, `${ports.includes(',') ? 'Ports' : 'Port'}:\t${ports || '<none>'}`);
    w.line(2, `${hostPorts.includes(',') ? 'Host Ports' : 'Host Port'}:\t${hostPorts || '<none>'}`);
    for (const [label, args] of [['Command', c.command], ['Args', c.args]] as const) {
      if (!args?.length) continue;
      w.line(2, `${label}:`);
      for (const a of args) for (const l of a.split('\n')) w.line(3, l);
    }
    if (status) {
      stateLines(w, 'State', status.state);
      if (status.lastState?.terminated) stateLines(w, 'Last State', status.lastState);
      w.line(2, `Ready:\t${status.ready ? 'True' : 'False'}`);
      w.line(2, `Restart Count:\t${status.restartCount}`);
    }
    for (const [label, res] of [['Limits', c.resources?.limits], ['Requests', c.resources?.requests]] as const) {
      const keys = Object.keys(res ?? {}).sort();
      if (keys.length === 0) continue;
      w.line(2, `${label}:`);
      for (const k of keys) w.line(3, `${k}:\t${res![k]}`);
    }
    if (c.livenessProbe) w.line(2, `Liveness:\t${probeText(c.livenessProbe)}`);
    if (c.readinessProbe) w.line(2, `Readiness:\t${probeText(c.readinessProbe)}`);
    if (c.startupProbe) w.line(2, `Startup:\t${probeText(c.startupProbe)}`);
    if (c.envFrom?.length) {
      w.line(2, 'Environment Variables from:');
      for (const f of c.envFrom) {
        const [name, kind, optional] = f.configMapRef ? [f.configMapRef.name, 'ConfigMap', f.configMapRef.optional] : [f.secretRef?.name ?? '', 'Secret', f.secretRef?.optional];
        w.line(3, `${name}\t${kind}${f.prefix ? ` with prefix '${f.prefix}'` : ''}\tOptional: ${optional ?? false}`);
      }
    }
    if (!c.env?.length) w.line(2, 'Environment:\t<none>');
    else {
      w.line(2, 'Environment:');
      for (const e of c.env) envLine(w, e, pod);
    }
    const mounts = [...(c.volumeMounts ?? [])].sort((a, b) => a.mountPath.localeCompare(b.mountPath));
    if (mounts.length === 0) w.line(2, 'Mounts:\t<none>');
    else {
      w.line(2, 'Mounts:');
      for (const m of mounts) w.line(3, `${m.mountPath} from ${m.name} (${m.readOnly ? 'ro' : 'rw'}${m.subPath ? `,path=${JSON.stringify(m.subPath)}` : ''})`);
    }
  }
}

function volumes(w: PageWriter, list: Volume[] | undefined, space: string): void {
  if (!list?.length) {
    w.line(0, `${space}Volumes:\t<none>`);
    return;
  }
  w.line(0, `${space}Volumes:`);
  for (const v of list) {
    w.line(1, `${space ? ' ' : ''}${v.name}:`);
    if (v.hostPath) {
      w.line(2, 'Type:\tHostPath (bare host directory volume)');
      w.line(2, `Path:\t${v.hostPath.path}`);
      w.line(2, `HostPathType:\t${v.hostPath.type ?? ''}`);
    } else if (v.emptyDir) {
      w.line(2, 'Type:\tEmptyDir (a temporary directory that shares a pod\'s lifetime)');
      w.line(2, `Medium:\t${v.emptyDir.medium ?? ''}`);
      w.line(2, `SizeLimit:\t${v.emptyDir.sizeLimit ?? '<unset>'}`);
    } else if (v.secret) {
      w.line(2, 'Type:\tSecret (a volume populated by a Secret)');
      w.line(2, `SecretName:\t${v.secret.secretName}`);
      w.line(2, `Optional:\t${v.secret.optional ?? false}`);
    } else if (v.configMap) {
      w.line(2, 'Type:\tConfigMap (a volume populated by a ConfigMap)');
      w.line(2, `Name:\t${v.configMap.name}`);
      w.line(2, `Optional:\t${v.configMap.optional ?? false}`);
    } else if (v.persistentVolumeClaim) {
      w.line(2, 'Type:\tPersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)');
      w.line(2, `ClaimName:\t${v.persistentVolumeClaim.claimName}`);
      w.line(2, `ReadOnly:\t${v.persistentVolumeClaim.readOnly ?? false}`);
    } else {
      w.line(2, 'Type:\t<unknown>');
    }
  }
}

/** The pod's QoS class, as Kubernetes computes it from requests and limits. */
export function qosClass(pod: Pod): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const all = [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
  const any = all.some((c) => Object.keys(c.resources?.requests ?? {}).length > 0 || Object.keys(c.resources?.limits ?? {}).length > 0);
  if (!any) return 'BestEffort';
  const guaranteed = all.every((c) => {
    const lim = c.resources?.limits ?? {};
    const req = { ...lim, ...(c.resources?.requests ?? {}) };
    return ['cpu', 'memory'].every((r) => lim[r] !== undefined && String(req[r]) === String(lim[r]));
  });
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

function podTemplate(w: PageWriter, t: PodTemplateSpec): void {
  w.line(0, 'Pod Template:');
  labels(w, 'Labels', t.metadata?.labels, '  ');
  if (Object.keys(t.metadata?.annotations ?? {}).length) annotations(w, t.metadata?.annotations, '  ');
  if (t.spec.serviceAccountName) w.line(1, `Service Account:\t${t.spec.serviceAccountName}`);
  if (t.spec.initContainers?.length) containers(w, 'Init Containers', t.spec.initContainers, undefined, undefined, '  ');
  containers(w, 'Containers', t.spec.containers, undefined, undefined, '  ');
  volumes(w, t.spec.volumes, '  ');
  labels(w, 'Node-Selectors', t.spec.nodeSelector, '  ');
  tolerations(w, t.spec.tolerations, '  ');
}

function workloadConditions(w: PageWriter, conds: Condition[] | undefined): void {
  if (!conds?.length) return;
  w.line(0, 'Conditions:');
  w.line(1, 'Type\tStatus\tReason');
  w.line(1, '----\t------\t------');
  for (const c of conds) w.line(1, `${c.type} \t${c.status}\t${c.reason ?? ''}`);
}

function header(w: PageWriter, obj: KubeObject, opts: { namespace?: boolean } = {}): void {
  w.line(0, `Name:\t${obj.metadata.name}`);
  if (opts.namespace !== false && obj.metadata.namespace !== undefined) w.line(0, `Namespace:\t${obj.metadata.namespace}`);
}

// ---------------------------------------------------------------- kinds

function describePod(w: PageWriter, pod: Pod): void {
  const st = pod.status ?? {};
  header(w, pod);
  if (pod.spec.priority !== undefined) w.line(0, `Priority:\t${pod.spec.priority}`);
  if (pod.spec.priorityClassName) w.line(0, `Priority Class Name:\t${pod.spec.priorityClassName}`);
  if (pod.spec.serviceAccountName) w.line(0, `Service Account:\t${pod.spec.serviceAccountName}`);
  w.line(0, `Node:\t${pod.spec.nodeName ? `${pod.spec.nodeName}${st.hostIP ? `/${st.hostIP}` : ''}` : '<none>'}`);
  if (st.startTime) w.line(0, `Start Time:\t${describeTime(st.startTime)}`);
  labels(w, 'Labels', pod.metadata.labels);
  annotations(w, pod.metadata.annotations);
  if (pod.metadata.deletionTimestamp) {
    w.line(0, `Status:\tTerminating (lasts ${humanDuration(w.now - Date.parse(pod.metadata.deletionTimestamp))})`);
    w.line(0, `Termination Grace Period:\t${pod.spec.terminationGracePeriodSeconds ?? 30}s`);
  } else {
    w.line(0, `Status:\t${st.phase ?? 'Pending'}`);
  }
  if (st.reason) w.line(0, `Reason:\t${st.reason}`);
  if (st.message) w.line(0, `Message:\t${st.message}`);
  w.line(0, `IP:\t${st.podIP ?? ''}`);
  const ips = st.podIPs?.length ? st.podIPs.map((p) => p.ip) : st.podIP ? [st.podIP] : [];
  if (ips.length === 0) w.line(0, 'IPs:\t<none>');
  else {
    w.line(0, 'IPs:');
    for (const ip of ips) w.line(1, `IP:\t${ip}`);
  }
  if (st.nominatedNodeName) w.line(0, `NominatedNodeName:\t${st.nominatedNodeName}`);
  controlledBy(w, pod);
  if (pod.spec.initContainers?.length) containers(w, 'Init Containers', pod.spec.initContainers, st.initContainerStatuses, pod, '');
  containers(w, 'Containers', pod.spec.containers, st.containerStatuses, pod, '');
  if (st.conditions?.length) {
    w.line(0, 'Conditions:');
    w.line(1, 'Type\tStatus');
    for (const c of st.conditions) w.line(1, `${c.type} \t${c.status} `);
  }
  volumes(w, pod.spec.volumes, '');
  w.line(0, `QoS Class:\t${qosClass(pod)}`);
  labels(w, 'Node-Selectors', pod.spec.nodeSelector);
  tolerations(w, pod.spec.tolerations);
}

function revisionOf(o: KubeObject): number {
  return Number(o.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? 0);
}

function replicaSetsLine(list: ReplicaSet[]): string {
  return list.length ? list.map((rs) => `${rs.metadata.name} (${rs.status?.replicas ?? 0}/${rs.spec.replicas ?? 1} replicas created)`).join(', ') : '<none>';
}

function describeDeployment(w: PageWriter, d: Deployment, ctx: DescribeContext): void {
  const st = d.status ?? {};
  header(w, d);
  w.line(0, `CreationTimestamp:\t${describeTime(d.metadata.creationTimestamp)}`);
  labels(w, 'Labels', d.metadata.labels);
  annotations(w, d.metadata.annotations);
  w.line(0, `Selector:\t${selectorText(d.spec.selector)}`);
  w.line(0, `Replicas:\t${d.spec.replicas ?? 1} desired | ${st.updatedReplicas ?? 0} updated | ${st.replicas ?? 0} total | ${st.availableReplicas ?? 0} available | ${st.unavailableReplicas ?? 0} unavailable`);
  if (d.spec.paused) w.line(0, 'Paused:\ttrue');
  w.line(0, `StrategyType:\t${d.spec.strategy?.type ?? 'RollingUpdate'}`);
  w.line(0, `MinReadySeconds:\t${d.spec.minReadySeconds ?? 0}`);
  if ((d.spec.strategy?.type ?? 'RollingUpdate') === 'RollingUpdate') {
    const ru = d.spec.strategy?.rollingUpdate ?? {};
    w.line(0, `RollingUpdateStrategy:\t${ru.maxUnavailable ?? '25%'} max unavailable, ${ru.maxSurge ?? '25%'} max surge`);
  }
  podTemplate(w, d.spec.template);
  workloadConditions(w, st.conditions);
  // The new ReplicaSet is the one at the Deployment's revision (the newest when it has none);
  // kubectl lists the old ones that still have replicas.
  const owned = (ctx.replicaSets ?? []).filter((rs) => rs.metadata.ownerReferences?.some((r) => r.controller && r.kind === 'Deployment' && (r.uid === d.metadata.uid || r.name === d.metadata.name)));
  const revision = revisionOf(d);
  const newest = [...owned].sort((a, b) => revisionOf(b) - revisionOf(a))[0];
  const newRS = owned.find((rs) => revision > 0 && revisionOf(rs) === revision) ?? newest;
  const old = owned.filter((rs) => rs !== newRS && (rs.spec.replicas ?? 1) > 0);
  w.line(0, `OldReplicaSets:\t${replicaSetsLine(old)}`);
  w.line(0, `NewReplicaSet:\t${newRS ? replicaSetsLine([newRS]) : '<none>'}`);
}

/** kubectl's page of an autoscaling/v2 HorizontalPodAutoscaler (`describeHorizontalPodAutoscalerV2`). */
function describeAutoscaler(w: PageWriter, hpa: HorizontalPodAutoscaler): void {
  header(w, hpa);
  labels(w, 'Labels', hpa.metadata.labels);
  annotations(w, hpa.metadata.annotations);
  w.line(0, `CreationTimestamp:\t${describeTime(hpa.metadata.creationTimestamp)}`);
  w.line(0, `Reference:\t${hpa.spec.scaleTargetRef.kind}/${hpa.spec.scaleTargetRef.name}`);
  w.line(0, 'Metrics:\t( current / target )');
  (hpa.spec.metrics ?? []).forEach((m, i) => {
    if (m.type !== 'Resource' || !m.resource) return;
    const { name, target } = m.resource;
    const current = hpa.status?.currentMetrics?.[i]?.resource?.current;
    if (target.averageValue !== undefined) {
      const now = current?.averageValue !== undefined ? canonicalQuantityText(current.averageValue) : '<unknown>';
      w.line(1, `resource ${name} on pods:\t${now} / ${canonicalQuantityText(target.averageValue)}`);
      return;
    }
    const now = current?.averageUtilization !== undefined ? `${current.averageUtilization}% (${canonicalQuantityText(current.averageValue ?? 0)})` : '<unknown>';
    const want = target.averageUtilization !== undefined ? `${target.averageUtilization}%` : '<auto>';
    w.line(1, `resource ${name} on pods  (as a percentage of request):\t${now} / ${want}`);
  });
  w.line(0, `Min replicas:\t${hpa.spec.minReplicas ?? '<unset>'}`);
  w.line(0, `Max replicas:\t${hpa.spec.maxReplicas}`);
  if (hpa.spec.behavior) {
    w.line(0, 'Behavior:');
    scalingRules(w, 'Scale Up', hpa.spec.behavior.scaleUp);
    scalingRules(w, 'Scale Down', hpa.spec.behavior.scaleDown);
  }
  w.line(0, `${hpa.spec.scaleTargetRef.kind} pods:\t${hpa.status?.currentReplicas ?? 0} current / ${hpa.status?.desiredReplicas ?? 0} desired`);
  const conds = hpa.status?.conditions ?? [];
  if (conds.length === 0) return;
  w.line(0, 'Conditions:');
  w.line(1, 'Type\tStatus\tReason\tMessage');
  w.line(1, '----\t------\t------\t-------');
  for (const c of conds) w.line(1, `${c.type}\t${c.status}\t${c.reason ?? ''}\t${c.message ?? ''}`);
}

function scalingRules(w: PageWriter, direction: string, rules: HPAScalingRules | undefined): void {
  if (!rules) return;
  w.line(1, `${direction}:`);
  if (rules.stabilizationWindowSeconds !== undefined) w.line(2, `Stabilization Window: ${rules.stabilizationWindowSeconds} seconds`);
  if (!rules.policies?.length) return;
  w.line(2, `Select Policy: ${rules.selectPolicy ?? 'Max'}`);
  w.line(2, 'Policies:');
  for (const p of rules.policies) w.line(3, `- Type: ${p.type}\tValue: ${p.value}\tPeriod: ${p.periodSeconds} seconds`);
}

function describeReplicaSet(w: PageWriter, rs: ReplicaSet, ctx: DescribeContext): void {
  header(w, rs);
  w.line(0, `Selector:\t${selectorText(rs.spec.selector)}`);
  labels(w, 'Labels', rs.metadata.labels);
  annotations(w, rs.metadata.annotations);
  controlledBy(w, rs);
  w.line(0, `Replicas:\t${rs.status?.replicas ?? 0} current / ${rs.spec.replicas ?? 1} desired`);
  const pods = (ctx.pods ?? []).filter((p) => p.metadata.ownerReferences?.some((r) => r.controller && r.kind === 'ReplicaSet' && (r.uid === rs.metadata.uid || r.name === rs.metadata.name)));
  const count = (phase: string): number => pods.filter((p) => (p.status?.phase ?? 'Pending') === phase).length;
  w.line(0, `Pods Status:\t${count('Running')} Running / ${count('Pending')} Waiting / ${count('Succeeded')} Succeeded / ${count('Failed')} Failed`);
  podTemplate(w, rs.spec.template);
  workloadConditions(w, rs.status?.conditions);
}

function describeService(w: PageWriter, svc: Service, ctx: DescribeContext): void {
  const spec = svc.spec;
  header(w, svc);
  labels(w, 'Labels', svc.metadata.labels);
  annotations(w, svc.metadata.annotations);
  w.line(0, `Selector:\t${Object.keys(spec.selector ?? {}).sort().map((k) => `${k}=${spec.selector![k]}`).join(',') || '<none>'}`);
  const type = spec.type ?? 'ClusterIP';
  w.line(0, `Type:\t${type}`);
  w.line(0, 'IP Families:\t<none>');
  if (type === 'ExternalName') w.line(0, `External Name:\t${spec.externalName ?? ''}`);
  else {
    w.line(0, `IP:\t${spec.clusterIP ?? ''}`);
    const ips = spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
    w.line(0, `IPs:\t${ips.join(',') || '<none>'}`);
  }
  const lb = (svc.status?.loadBalancer as { ingress?: { ip?: string; hostname?: string }[] } | undefined)?.ingress ?? [];
  if (lb.length) w.line(0, `LoadBalancer Ingress:\t${lb.map((i) => i.ip ?? i.hostname ?? '').join(', ')}`);
  for (const p of spec.ports ?? []) {
    const proto = p.protocol ?? 'TCP';
    w.line(0, `Port:\t${p.name || '<unset>'}\t${p.port}/${proto}`);
    w.line(0, `TargetPort:\t${p.targetPort ?? p.port}/${proto}`);
    if (p.nodePort) w.line(0, `NodePort:\t${p.name || '<unset>'}\t${p.nodePort}/${proto}`);
    w.line(0, `Endpoints:\t${endpointsFor(ctx.endpoints, p.name)}`);
  }
  w.line(0, `Session Affinity:\t${spec.sessionAffinity ?? 'None'}`);
  if (type === 'NodePort' || type === 'LoadBalancer') w.line(0, `External Traffic Policy:\t${spec.externalTrafficPolicy ?? 'Cluster'}`);
  if (spec.internalTrafficPolicy) w.line(0, `Internal Traffic Policy:\t${spec.internalTrafficPolicy}`);
}

/** Ready `ip:port` of one service port (by name), the first three and a count, as kubectl shows. */
function endpointsFor(ep: Endpoints | undefined, portName: string | undefined): string {
  const all: string[] = [];
  for (const s of ep?.subsets ?? []) {
    const port = (s.ports ?? []).find((p) => (p.name ?? '') === (portName ?? '')) ?? ((s.ports ?? []).length === 1 && !portName ? s.ports![0] : undefined);
    if (!port) continue;
    for (const a of s.addresses ?? []) all.push(`${a.ip}:${port.port}`);
  }
  if (all.length === 0) return '<none>';
  return all.length > 3 ? `${all.slice(0, 3).join(',')} + ${all.length - 3} more...` : all.join(',');
}

function nodeRoles(node: Node): string {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(node.metadata.labels ?? {})) {
    if (k.startsWith('node-role.kubernetes.io/')) roles.add(k.slice('node-role.kubernetes.io/'.length));
    else if (k === 'kubernetes.io/role' && v) roles.add(v);
  }
  return [...roles].filter(Boolean).sort().join(',') || '<none>';
}

const nodeInfoLabels: [string, string][] = [
  ['machineID', 'Machine ID'], ['systemUUID', 'System UUID'], ['bootID', 'Boot ID'], ['kernelVersion', 'Kernel Version'],
  ['osImage', 'OS Image'], ['operatingSystem', 'Operating System'], ['architecture', 'Architecture'],
  ['containerRuntimeVersion', 'Container Runtime Version'], ['kubeletVersion', 'Kubelet Version'], ['kubeProxyVersion', 'Kube-Proxy Version'],
];

/** A pod's summed requests and limits of cpu (millicores) and memory (bytes), as the scheduler counts them. */
function podResources(pod: Pod): { cpuReq: number; cpuLim: number; memReq: number; memLim: number; ephReq: number; ephLim: number } {
  const sum = { cpuReq: 0, cpuLim: 0, memReq: 0, memLim: 0, ephReq: 0, ephLim: 0 };
  for (const c of pod.spec.containers) {
    const lim = c.resources?.limits ?? {};
    const req = { ...lim, ...(c.resources?.requests ?? {}) };
    sum.cpuReq += cpuMillis(req.cpu);
    sum.cpuLim += cpuMillis(lim.cpu);
    sum.memReq += bytes(req.memory);
    sum.memLim += bytes(lim.memory);
    sum.ephReq += bytes(req['ephemeral-storage']);
    sum.ephLim += bytes(lim['ephemeral-storage']);
  }
  // An init container runs alone: the pod needs at least the largest of them.
  for (const c of pod.spec.initContainers ?? []) {
    const lim = c.resources?.limits ?? {};
    const req = { ...lim, ...(c.resources?.requests ?? {}) };
    sum.cpuReq = Math.max(sum.cpuReq, cpuMillis(req.cpu));
    sum.cpuLim = Math.max(sum.cpuLim, cpuMillis(lim.cpu));
    sum.memReq = Math.max(sum.memReq, bytes(req.memory));
    sum.memLim = Math.max(sum.memLim, bytes(lim.memory));
    sum.ephReq = Math.max(sum.ephReq, bytes(req['ephemeral-storage']));
    sum.ephLim = Math.max(sum.ephLim, bytes(lim['ephemeral-storage']));
  }
  return sum;
}

function cpuText(m: number): string {
  return m === 0 ? '0' : m % 1000 === 0 ? String(m / 1000) : `${m}m`;
}

function pct(part: number, whole: number): number {
  return whole > 0 ? Math.floor((part / whole) * 100) : 0;
}

function describeNode(w: PageWriter, node: Node, ctx: DescribeContext): void {
  const st = node.status ?? {};
  w.line(0, `Name:\t${node.metadata.name}`);
  w.line(0, `Roles:\t${nodeRoles(node)}`);
  labels(w, 'Labels', node.metadata.labels);
  annotations(w, node.metadata.annotations);
  w.line(0, `CreationTimestamp:\t${describeTime(node.metadata.creationTimestamp)}`);
  multiline(w, '', 'Taints', (node.spec.taints ?? []).map(taintText));
  w.line(0, `Unschedulable:\t${node.spec.unschedulable ?? false}`);
  if (st.conditions?.length) {
    w.line(0, 'Conditions:');
    w.line(1, 'Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage');
    w.line(1, '----\t------\t-----------------\t------------------\t------\t-------');
    for (const c of st.conditions) {
      w.line(1, `${c.type} \t${c.status} \t${describeTime(c.lastHeartbeatTime)} \t${describeTime(c.lastTransitionTime)} \t${c.reason ?? ''} \t${c.message ?? ''}`);
    }
  }
  if (st.addresses?.length) {
    w.line(0, 'Addresses:');
    for (const a of st.addresses) w.line(1, `${a.type}:\t${a.address}`);
  }
  for (const [title, res] of [['Capacity', st.capacity], ['Allocatable', st.allocatable]] as const) {
    if (!res || Object.keys(res).length === 0) continue;
    w.line(0, `${title}:`);
    for (const k of Object.keys(res).sort()) w.line(1, `${k}:\t${res[k]}`);
  }
  if (st.nodeInfo) {
    w.line(0, 'System Info:');
    for (const [key, label] of nodeInfoLabels) w.line(1, `${label}:\t${st.nodeInfo[key] ?? ''}`);
  }
  if (node.spec.podCIDR) w.line(0, `PodCIDR:\t${node.spec.podCIDR}`);
  const pods = (ctx.pods ?? []).filter((p) => p.spec.nodeName === node.metadata.name && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
  const alloc = st.allocatable ?? st.capacity ?? {};
  const cpuAlloc = cpuMillis(alloc.cpu);
  const memAlloc = bytes(alloc.memory);
  w.line(0, `Non-terminated Pods:\t(${pods.length} in total)`);
  w.line(1, 'Namespace\tName\t\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge');
  w.line(1, '---------\t----\t\t------------\t----------\t---------------\t-------------\t---');
  const total = { cpuReq: 0, cpuLim: 0, memReq: 0, memLim: 0, ephReq: 0, ephLim: 0 };
  for (const p of pods) {
    const r = podResources(p);
    total.cpuReq += r.cpuReq;
    total.cpuLim += r.cpuLim;
    total.memReq += r.memReq;
    total.memLim += r.memLim;
    total.ephReq += r.ephReq;
    total.ephLim += r.ephLim;
    w.line(1, `${p.metadata.namespace ?? ''}\t${p.metadata.name}\t\t${cpuText(r.cpuReq)} (${pct(r.cpuReq, cpuAlloc)}%)\t${cpuText(r.cpuLim)} (${pct(r.cpuLim, cpuAlloc)}%)\t${formatBytes(r.memReq)} (${pct(r.memReq, memAlloc)}%)\t${formatBytes(r.memLim)} (${pct(r.memLim, memAlloc)}%)\t${age(p.metadata.creationTimestamp, w.now)}`);
  }
  w.line(0, 'Allocated resources:');
  w.line(1, '(Total limits may be over 100 percent, i.e., overcommitted.)');
  w.line(1, 'Resource\tRequests\tLimits');
  w.line(1, '--------\t--------\t------');
  w.line(1, `cpu\t${cpuText(total.cpuReq)} (${pct(total.cpuReq, cpuAlloc)}%)\t${cpuText(total.cpuLim)} (${pct(total.cpuLim, cpuAlloc)}%)`);
  w.line(1, `memory\t${formatBytes(total.memReq)} (${pct(total.memReq, memAlloc)}%)\t${formatBytes(total.memLim)} (${pct(total.memLim, memAlloc)}%)`);
  const ephAlloc = bytes(alloc['ephemeral-storage']);
  w.line(1, `ephemeral-storage\t${formatBytes(total.ephReq)} (${pct(total.ephReq, ephAlloc)}%)\t${formatBytes(total.ephLim)} (${pct(total.ephLim, ephAlloc)}%)`);
}

function describeEndpoints(w: PageWriter, ep: Endpoints): void {
  header(w, ep);
  labels(w, 'Labels', ep.metadata.labels);
  annotations(w, ep.metadata.annotations);
  w.line(0, 'Subsets:');
  for (const s of ep.subsets ?? []) {
    w.line(1, `Addresses:\t${(s.addresses ?? []).map((a) => a.ip).join(',') || '<none>'}`);
    w.line(1, `NotReadyAddresses:\t${(s.notReadyAddresses ?? []).map((a) => a.ip).join(',') || '<none>'}`);
    if (s.ports?.length) {
      w.line(1, 'Ports:');
      w.line(2, 'Name\tPort\tProtocol');
      w.line(2, '----\t----\t--------');
      for (const p of s.ports) w.line(2, `${p.name || '<unset>'}\t${p.port}\t${p.protocol ?? 'TCP'}`);
    }
    w.line(0, '');
  }
}

/** `podIP` → `Pod IP`, `creationTimestamp` → `Creation Timestamp`, as kubectl's generic describer titles fields. */
function title(key: string): string {
  const spaced = key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2');
  return spaced.charAt(0).toUpperCase() + spaced.slice(1);
}

function describeValue(w: PageWriter, level: number, key: string, value: unknown): void {
  if (value === null || value === undefined) return;
  if (Array.isArray(value)) {
    if (value.length === 0) return;
    w.line(level, `${key}:`);
    for (const item of value) {
      if (item !== null && typeof item === 'object') for (const [k, v] of Object.entries(item)) describeValue(w, level + 1, title(k), v);
      else w.line(level + 1, String(item));
    }
    return;
  }
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) return;
    w.line(level, `${key}:`);
    for (const [k, v] of entries) describeValue(w, level + 1, title(k), v);
    return;
  }
  const lines = String(value).split('\n');
  w.line(level, `${key}:\t${lines[0]}`);
  for (const more of lines.slice(1)) w.line(level, `\t${more}`);
}

function describeGeneric(w: PageWriter, obj: KubeObject): void {
  header(w, obj);
  labels(w, 'Labels', obj.metadata.labels);
  annotations(w, obj.metadata.annotations);
  w.line(0, `API Version:\t${obj.apiVersion}`);
  w.line(0, `Kind:\t${obj.kind}`);
  const meta: Record<string, unknown> = { creationTimestamp: obj.metadata.creationTimestamp, generation: obj.metadata.generation, ownerReferences: obj.metadata.ownerReferences, resourceVersion: obj.metadata.resourceVersion, uid: obj.metadata.uid };
  describeValue(w, 0, 'Metadata', meta);
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'apiVersion' || k === 'kind' || k === 'metadata') continue;
    describeValue(w, 0, title(k), v);
  }
}

function eventTime(e: KubeEvent): number {
  const t = Date.parse(e.lastTimestamp ?? e.firstTimestamp ?? e.metadata.creationTimestamp ?? '');
  return Number.isNaN(t) ? 0 : t;
}

/** Events sorted by when they last happened, oldest first. */
export function sortEvents(events: KubeEvent[]): KubeEvent[] {
  return [...events].sort((a, b) => eventTime(a) - eventTime(b));
}

function describeEvents(w: PageWriter, events: KubeEvent[]): void {
  if (events.length === 0) {
    w.line(0, 'Events:\t<none>');
    return;
  }
  w.line(0, 'Events:');
  w.line(1, 'Type\tReason\tAge\tFrom\tMessage');
  w.line(1, '----\t------\t----\t----\t-------');
  for (const e of sortEvents(events)) {
    const first = age(e.firstTimestamp ?? e.metadata.creationTimestamp, w.now);
    const interval = (e.count ?? 1) > 1 ? `${age(e.lastTimestamp, w.now)} (x${e.count} over ${first})` : first;
    const from = e.source?.component || e.reportingComponent || '<unknown>';
    w.line(1, `${e.type}\t${e.reason}\t${interval}\t${from}\t${e.message.trim()}`);
  }
}
