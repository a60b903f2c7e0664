/**
 * Typed errors shared by every component.
 *
 * Each error carries a stable `code` (for programs and tests) and a `disposition` that tells a
 * control loop what to do with it: `stalled` means the user must fix something and retrying is
 * pointless, `waiting` means try again after `retryAfterMs`, `transient` means retry with backoff.
 */

/** What a control loop should do with a failure. */
export type Disposition = 'stalled' | 'waiting' | 'transient';

/** Stable error codes. Add new codes here; never rename one. */
export const ErrorCodes = [
  'InvalidManifest',
  'UnsupportedField',
  'DuplicateObject',
  'ManifestTooLarge',
  'UnsafePath',
  'UnsupportedKind',
  'NotFound',
  'AlreadyExists',
  'Conflict',
  'InvalidArgument',
  'SourceUnavailable',
  'RefNotFound',
  'AuthFailed',
  'StoreUnavailable',
  'ApiUnavailable',
  'RuntimeUnavailable',
  'RuntimeTooOld',
  'ImagePullFailed',
  'Unschedulable',
  'Internal',
  'NetworkSetupFailed',
  'VolumeSetupFailed',
  'Timeout',
  'DecryptionFailed',
  'SignatureInvalid',
  'Forbidden',
] as const;

/** One of {@link ErrorCodes}. */
export type ErrorCode = (typeof ErrorCodes)[number];

/** Where in the user's input a problem sits. Every field is optional; render what is known. */
export interface ErrorLocation {
  /** Path of the manifest file relative to the repo (or validated directory). */
  file?: string;
  /** 1-based line of the object (or field) in that file. */
  line?: number;
  /** The object's key, `Kind/namespace/name`. */
  object?: string;
  /** Dotted field path inside the object, e.g. `spec.template.spec.containers[0].image`. */
  field?: string;
}

/** Options for {@link GantryError}. */
export interface GantryErrorOptions extends ErrorLocation {
  disposition?: Disposition;
  retryAfterMs?: number;
  cause?: unknown;
}

/** Default disposition per code, so call sites only override when they know better. */
const defaultDisposition: Partial<Record<ErrorCode, Disposition>> = {
  InvalidManifest: 'stalled',
  UnsupportedField: 'stalled',
  DuplicateObject: 'stalled',
  ManifestTooLarge: 'stalled',
  UnsafePath: 'stalled',
  UnsupportedKind: 'stalled',
  InvalidArgument: 'stalled',
  RefNotFound: 'stalled',
  AuthFailed: 'stalled',
  RuntimeTooOld: 'stalled',
  Unschedulable: 'waiting',
  DecryptionFailed: 'stalled',
  SignatureInvalid: 'stalled',
  // Refused by admission (a quota, a limit range, a missing PriorityClass): a controller tries
  // again later, when the namespace may have room or the class may exist.
  Forbidden: 'waiting',
};

/** The one error class gantry throws on purpose. */
export class GantryError extends Error {
  readonly code: ErrorCode;
  readonly disposition: Disposition;
  readonly retryAfterMs?: number;
  readonly location: ErrorLocation;

  constructor(code: ErrorCode, message: string, opts: GantryErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'GantryError';
    this.code = code;
    this.disposition = opts.disposition ?? defaultDisposition[code] ?? 'transient';
    this.retryAfterMs = opts.retryAfterMs;
    this.location = { file: opts.file, line: opts.line, object: opts.object, field: opts.field };
  }
}

/** True when `err` is a {@link GantryError}, optionally with the given code. */
export function isGantryError(err: unknown, code?: ErrorCode): err is GantryError {
  return err instanceof GantryError && (code === undefined || err.code === code);
}

/** Renders a location as "file line N, Kind/ns/name, field f" for messages. */
export function formatLocation(loc: ErrorLocation): string {
  const parts: string[] = [];
  if (loc.file) parts.push(loc.line ? `${loc.file} line ${loc.line}` : loc.file);
  if (loc.object) parts.push(loc.object);
  if (loc.field) parts.push(`field ${loc.field}`);
  return parts.join(', ');
}

/** The message of any thrown value, for logs. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
