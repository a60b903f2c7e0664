/**
 * Outbound notifications: what gantry tells the outside world (a webhook receiver, a Git host's
 * commit statuses) about the revisions it applies and the app's health.
 */

/** What happened. `healthy`: a rollout finished; `recovered`: healthy again after Degraded. */
export type NotificationType = 'applied' | 'rejected' | 'degraded' | 'recovered' | 'healthy';

/** One notification, as the webhook receives it (JSON). */
export interface Notification {
  type: NotificationType;
  /** ISO time the event was seen. */
  at: string;
  /** The desired commit it concerns (for health: the revision in force). */
  revision?: string;
  /** The repo gantry follows, as shown to users. */
  repo?: string;
  /** One sentence a person can act on. */
  message: string;
  /** applied: what changed. */
  summary?: { created: number; updated: number; pruned: number; unchanged: number };
  /** rejected: the problems (file, line, object, message). */
  issues?: { file: string; line?: number; object?: string; message: string }[];
  /** degraded / recovered / healthy: the app's health and its worst objects. */
  health?: { status: string; reason?: string; message?: string; objects?: { key: string; status: string; reason?: string; message?: string }[] };
}

/** Where notifications go; each sink turns one into (at most) one HTTP request. */
export interface Sink {
  /** Named in logs. */
  readonly name: string;
  /** The request for `n`, or undefined when this sink has nothing to say about it. */
  request(n: Notification): OutboundRequest | undefined;
}

/** An HTTP request a sink wants sent. */
export interface OutboundRequest {
  url: string;
  method: 'POST';
  headers: Record<string, string>;
  body: string;
}
