/** Timestamps as Kubernetes writes them. */

/** RFC 3339 in UTC with whole seconds (`2026-12-03T08:00:00Z`), as Kubernetes' metav1.Time. */
export function k8sTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/**
 * A duration as Go prints it (time.Duration, metav1.Duration), as kubelet messages and
 * metrics-server show them: "0s", "400ms", "1.6s", "1m20s", "1h2m3s".
 */
export function goDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const totalS = ms / 1000;
  const h = Math.floor(totalS / 3600);
  const m = Math.floor((totalS % 3600) / 60);
  const s = totalS - h * 3600 - m * 60;
  const sText = Number.isInteger(s) ? String(s) : String(Number(s.toFixed(3)));
  if (h > 0) return `${h}h${m}m${sText}s`;
  if (m > 0) return `${m}m${sText}s`;
  return `${sText}s`;
}

/**
 * Waits `ms`, or less when `signal` aborts first (at once when it already has); never rejects.
 * The abort listener goes with the wait, so loops that sleep on one long-lived signal leave none behind.
 */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
