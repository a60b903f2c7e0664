/**
 * The pure parts of `kubectl logs` and `kubectl exec` (./streams.ts): Kubernetes' remote command
 * channel protocol (framing, resizes, the final Status), the log and exec queries in the API's and
 * the kubelet's words, and the API server's choice of container. No I/O.
 */
import type { Pod } from '../model/types.js';

/** The WebSocket subprotocols served, preferred first. */
export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'] as const;

/** Channel numbers of the remote command protocol. */
export const Channel = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4, close: 255 } as const;

/** One channel message: the channel byte, then the data. */
export function frame(channel: number, data: Uint8Array | string): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const out = Buffer.allocUnsafe(body.length + 1);
  out[0] = channel;
  out.set(body, 1);
  return out;
}

/** Splits a received message into its channel and data; undefined for an empty message. */
export function parseFrame(message: Uint8Array): { channel: number; data: Buffer } | undefined {
  if (message.length === 0) return undefined;
  const b = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  return { channel: b[0]!, data: b.subarray(1) };
}

/** A resize message's size, or undefined when it is not `{"Width":n,"Height":n}` with sane numbers. */
export function parseResize(data: Uint8Array): { width: number; height: number } | undefined {
  try {
    const v = JSON.parse(Buffer.from(data).toString('utf8')) as { Width?: unknown; Height?: unknown };
    const ok = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 65535;
    return ok(v.Width) && ok(v.Height) ? { width: v.Width, height: v.Height } : undefined;
  } catch {
    return undefined;
  }
}

/** The Status that ends an exec on channel 3: Success, or the exit code as kubectl reads it. */
export function exitStatus(code: number, command: string[]): Record<string, unknown> {
  if (code === 0) return { metadata: {}, status: 'Success' };
  const c = Math.min(255, Math.max(0, code));
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${c}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(c) }] },
  };
}

/** Query of the log route, as parsed. */
export interface LogQuery {
  container?: string;
  follow: boolean;
  previous: boolean;
  tailLines?: number;
  timestamps: boolean;
  limitBytes?: number;
}

/** A request's query as fastify parses it (a repeated name is an array). */
export type RawQuery = Record<string, string | string[] | undefined>;

const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[v.length - 1] : v);
const flag = (v: string | string[] | undefined): boolean => {
  const s = one(v);
  return s === 'true' || s === '1';
};

function intQuery(q: RawQuery, name: string, min: number): number | string | undefined {
  const s = one(q[name]);
  if (s === undefined || s === '') return undefined;
  const n = Number(s);
  if (!/^-?\d+$/.test(s) || !Number.isSafeInteger(n) || n < min) return `${name}: "${s}" must be an integer of at least ${min}`;
  return n;
}

/** The log query as the kubelet takes it (the container is in the kubelet's path). */
export function logSearchParams(q: LogQuery): URLSearchParams {
  const out = new URLSearchParams();
  if (q.follow) out.set('follow', 'true');
  if (q.previous) out.set('previous', 'true');
  if (q.tailLines !== undefined) out.set('tailLines', String(q.tailLines));
  if (q.timestamps) out.set('timestamps', 'true');
  if (q.limitBytes !== undefined) out.set('limitBytes', String(q.limitBytes));
  return out;
}

/** Parses the log route's query; a string is the reason it is refused. */
export function parseLogQuery(q: RawQuery): LogQuery | string {
  if (one(q.sinceSeconds) !== undefined || one(q.sinceTime) !== undefined) {
    return 'sinceSeconds and sinceTime are not supported: gantry\'s container log files keep no time per line';
  }
  const tail = intQuery(q, 'tailLines', 0);
  if (typeof tail === 'string') return tail;
  const limit = intQuery(q, 'limitBytes', 1);
  if (typeof limit === 'string') return limit;
  const container = one(q.container);
  return {
    ...(container ? { container } : {}),
    follow: flag(q.follow),
    previous: flag(q.previous),
    ...(tail !== undefined ? { tailLines: tail } : {}),
    timestamps: flag(q.timestamps),
    ...(limit !== undefined ? { limitBytes: limit } : {}),
  };
}

/** Query of the exec route, as parsed. */
export interface ExecQuery {
  command: string[];
  container?: string;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/** The query names of the streams an exec asks for: the API's, and the kubelet's. */
export const EXEC_FLAGS = {
  api: { stdin: 'stdin', stdout: 'stdout', stderr: 'stderr' },
  kubelet: { stdin: 'input', stdout: 'output', stderr: 'error' },
} as const;

/**
 * Parses the exec route's query (`command` repeated, once per argument; the API's `stdin`,
 * `stdout`, `stderr` or the kubelet's `input`, `output`, `error`); a string is the reason it is
 * refused.
 */
export function parseExecQuery(q: RawQuery, style: keyof typeof EXEC_FLAGS = 'api'): ExecQuery | string {
  const raw = q.command;
  const command = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  if (command.length === 0) return 'you must specify at least one command for the container';
  const container = one(q.container);
  const n = EXEC_FLAGS[style];
  const e: ExecQuery = { command, ...(container ? { container } : {}), stdin: flag(q[n.stdin]), stdout: flag(q[n.stdout]), stderr: flag(q[n.stderr]), tty: flag(q.tty) };
  if (!e.stdin && !e.stdout && !e.stderr) return 'you must specify at least 1 of stdin, stdout, stderr';
  // On a terminal, stderr is merged into stdout, as the kubelet does.
  if (e.tty) e.stderr = false;
  return e;
}

/**
 * Which container: the one named, or the pod's only one; the API server's wording otherwise.
 * @returns the name, or `{ error }`.
 */
export function chooseContainer(pod: Pod, name: string | undefined): string | { error: string } {
  const apps = pod.spec.containers.map((c) => c.name);
  const inits = (pod.spec.initContainers ?? []).map((c) => c.name);
  if (name) return apps.includes(name) || inits.includes(name) ? name : { error: `container ${name} is not valid for pod ${pod.metadata.name}` };
  if (apps.length === 1) return apps[0]!;
  const initPart = inits.length > 0 ? ` or one of the init containers: [${inits.join(' ')}]` : '';
  return { error: `a container name must be specified for pod ${pod.metadata.name}, choose one of: [${apps.join(' ')}]${initPart}` };
}
