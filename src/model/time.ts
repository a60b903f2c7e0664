/** Timestamps as Kubernetes writes them. */

/** RFC 3339 in UTC with whole seconds (`2026-12-03T08:00:00Z`), as Kubernetes' metav1.Time. */
export function k8sTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}
