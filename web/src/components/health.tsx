/**
 * A health badge: a coloured mark with the health's word (colour is never the only signal).
 */
import type { Health, HealthStatus } from '../lib/health';

const MARK: Record<HealthStatus, string> = { Healthy: '●', Progressing: '◐', Degraded: '✖', Suspended: '❚❚', Unknown: '?' };

/** The badge of a health status, with its message as a tooltip. */
export function HealthBadge({ status, message }: { status: HealthStatus; message?: string }) {
  return (
    <span class={`health health-${status.toLowerCase()}`} title={message || status} data-health={status}>
      <span aria-hidden="true">{MARK[status]}</span> {status}
    </span>
  );
}

/** The badge of a {@link Health}. */
export function HealthOf({ health }: { health: Health }) {
  return <HealthBadge status={health.status} message={health.message} />;
}
