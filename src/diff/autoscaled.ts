/**
 * The replicas an autoscaler owns. When a HorizontalPodAutoscaler of the desired set targets a
 * Deployment, StatefulSet or ReplicaSet, that workload's `spec.replicas` belongs to the
 * autoscaler, not to Git: the plan keeps the live value, so a sync never resets what the
 * autoscaler chose, the diff shows no replicas change for it, and a manifest that leaves
 * `replicas` out works too (it only sets the count a new workload starts with). This is what
 * Argo CD users get with `ignoreDifferences` on `/spec/replicas` (plus `RespectIgnoreDifferences`)
 * and Flux users by leaving `replicas` out, here without configuration. An autoscaler that is
 * removed from Git gives the field back: the next plan applies the manifest's count again.
 *
 * Pure, like the rest of src/diff.
 */
import { apiGroup, SCALABLE_KINDS, scaleTargetKey } from '../model/hpa.js';
import type { HorizontalPodAutoscaler, KubeObject } from '../model/types.js';
import type { DesiredObject } from '../model/desired.js';

/**
 * The workloads whose replicas an autoscaler of `desired` manages: workload key
 * (`Deployment/default/web`) → the autoscaler (`default/web`). Targets of kinds gantry does not
 * scale, or named in another API group, are not managed (validation refuses those anyway).
 */
export function autoscaledWorkloads(desired: readonly DesiredObject[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const d of desired) {
    if (d.object.kind !== 'HorizontalPodAutoscaler') continue;
    const hpa = d.object as HorizontalPodAutoscaler;
    const ref = hpa.spec?.scaleTargetRef;
    if (!ref || !SCALABLE_KINDS.has(ref.kind)) continue;
    if (ref.apiVersion !== undefined && apiGroup(ref.apiVersion) !== SCALABLE_KINDS.get(ref.kind)) continue;
    out.set(scaleTargetKey(hpa), `${hpa.metadata.namespace || 'default'}/${hpa.metadata.name}`);
  }
  return out;
}

/**
 * `written` with the live object's `spec.replicas` (a new object sharing everything else with
 * `written`, which is left as is), or `written` itself when the counts already agree or the live
 * object has none.
 */
export function withLiveReplicas(written: KubeObject, live: KubeObject): KubeObject {
  const liveReplicas = replicasOf(live);
  if (liveReplicas === undefined || liveReplicas === replicasOf(written)) return written;
  return { ...written, spec: { ...(written.spec as Record<string, unknown>), replicas: liveReplicas } };
}

/** `spec.replicas` of a workload, when it is a number. */
export function replicasOf(obj: KubeObject): number | undefined {
  const r = (obj.spec as { replicas?: unknown } | undefined)?.replicas;
  return typeof r === 'number' ? r : undefined;
}

/**
 * The plan's note on an autoscaled workload: who owns its replicas, and, when Git says another
 * count than the live one, that the live one stays.
 */
export function autoscaledNote(hpa: string, counts: { manifest?: number; live?: number }): string {
  const base = `replicas managed by HorizontalPodAutoscaler ${hpa}`;
  if (counts.live === undefined) return counts.manifest === undefined ? base : `${base} (starts at the manifest's ${counts.manifest})`;
  if (counts.manifest === undefined || counts.manifest === counts.live) return `${base} (live ${counts.live})`;
  return `${base}: live ${counts.live} kept, the manifest's ${counts.manifest} not applied`;
}
