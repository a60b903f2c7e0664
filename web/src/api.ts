/**
 * Talking to gantry's API from the page: the bearer token the user signed in with (kept in
 * sessionStorage: it goes with the tab, never in a cookie, so no other site can make the browser
 * use it), JSON requests, and line-by-line streams (the watch, followed logs) read with fetch.
 */

const TOKEN_KEY = 'gantry.token';

/** The signed-in token, or undefined. */
export function token(): string | undefined {
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

/** Keeps the token for this tab. */
export function signIn(secret: string): void {
  sessionStorage.setItem(TOKEN_KEY, secret);
}

/** Forgets the token. */
export function signOut(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** An answer other than 2xx, with the server's message. */
export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly code?: string) {
    super(message);
  }
}

const listeners = new Set<() => void>();

/** Calls `fn` when the server refuses the token (revoked, or the server's data was reset). */
export function onUnauthorized(fn: () => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function headers(secret = token()): HeadersInit {
  return secret ? { authorization: `Bearer ${secret}`, accept: 'application/json' } : { accept: 'application/json' };
}

async function failure(res: Response): Promise<ApiError> {
  let message = `${res.status} ${res.statusText}`;
  let code: string | undefined;
  try {
    const body = (await res.json()) as { message?: string; code?: string; reason?: string };
    message = body.message ?? message;
    code = body.code ?? body.reason;
  } catch {
    // not JSON: the status line says enough
  }
  if (res.status === 401) for (const fn of listeners) fn();
  return new ApiError(res.status, message, code);
}

/** GET a JSON document; throws {@link ApiError} on a non-2xx answer. */
export async function getJson<T>(path: string, opts: { signal?: AbortSignal; secret?: string } = {}): Promise<T> {
  const res = await fetch(path, { headers: headers(opts.secret), signal: opts.signal, cache: 'no-store' });
  if (!res.ok) throw await failure(res);
  return (await res.json()) as T;
}

/**
 * Reads a streamed answer line by line until it ends or `signal` aborts; resolves when the
 * stream ends. Throws {@link ApiError} when the server refuses the request.
 */
export async function streamLines(path: string, onLine: (line: string) => void, opts: { signal: AbortSignal }): Promise<void> {
  const res = await fetch(path, { headers: headers(), signal: opts.signal, cache: 'no-store' });
  if (!res.ok) throw await failure(res);
  if (!res.body) return;
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let rest = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      rest += value;
      let nl: number;
      while ((nl = rest.indexOf('\n')) >= 0) {
        onLine(rest.slice(0, nl));
        rest = rest.slice(nl + 1);
      }
    }
    if (rest) onLine(rest);
  } finally {
    reader.releaseLock();
  }
}

/** gantry's own API group. */
export const GANTRY = '/apis/gantry.dev/v1';
