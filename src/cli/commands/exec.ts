/**
 * `gantry exec POD [-c C] [-i] [-t] -- COMMAND…`: runs a command in a pod's container through the
 * API's exec endpoint (WebSocket, `v5.channel.k8s.io`, as kubectl 1.30+ speaks it), with stdin,
 * a TTY and resizes, and exits with the command's exit code. Exec needs the node agent that runs
 * the pod, so it always goes through a server: the one `--kubeconfig`/`--server` name, else the
 * local gantry through `<data-dir>/kubeconfig`.
 */
import { existsSync } from 'node:fs';
import { WebSocket } from 'ws';
import { dataPaths } from '../../config.js';
import { GantryError } from '../../errors.js';
import { Channel, frame, parseFrame } from '../../api/streams.js';
import { remoteEndpoint, type RemoteOptions } from '../remote.js';

/** Options of {@link runExec}. */
export interface ExecOptions extends RemoteOptions {
  dataDir: string;
  namespace?: string;
  container?: string;
  /** Pass stdin to the command. */
  stdin?: boolean;
  /** Allocate a TTY (stdin in raw mode when it is a terminal). */
  tty?: boolean;
  /** Streams, for tests; default the process's. */
  input?: NodeJS.ReadableStream;
  out?: NodeJS.WritableStream;
  err?: NodeJS.WritableStream;
}

/** The exit code the final Status on channel 3 reports (0 for Success). */
export function exitCodeOf(status: { status?: string; reason?: string; message?: string; details?: { causes?: { reason?: string; message?: string }[] } }): { code: number; message?: string } {
  if (status.status === 'Success') return { code: 0 };
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  if (status.reason === 'NonZeroExitCode' && cause?.message && /^\d+$/.test(cause.message)) return { code: Number(cause.message) };
  return { code: 1, message: status.message ?? 'exec failed' };
}

/** Runs the command; resolves with its exit code once the server closed the session. */
export async function runExec(pod: string, command: string[], o: ExecOptions): Promise<{ output: string; exitCode: number }> {
  if (command.length === 0) throw new GantryError('InvalidArgument', 'gantry exec needs a command after --, e.g. gantry exec web-1 -- ls /', { field: 'command' });
  const local = dataPaths(o.dataDir).kubeconfig;
  const endpoint = await remoteEndpoint(o.server || o.kubeconfig ? o : { ...o, kubeconfig: existsSync(local) ? local : undefined });
  if (!endpoint) throw new GantryError('NotFound', `gantry exec goes through gantry's API, and there is no ${local}: start gantry up, or pass --kubeconfig / --server`);
  const q = new URLSearchParams();
  for (const c of command) q.append('command', c);
  if (o.container) q.set('container', o.container);
  q.set('stdout', 'true');
  q.set('stderr', o.tty ? 'false' : 'true');
  if (o.stdin) q.set('stdin', 'true');
  if (o.tty) q.set('tty', 'true');
  const url = `${endpoint.server.replace(/^http/, 'ws')}/api/v1/namespaces/${encodeURIComponent(o.namespace ?? 'default')}/pods/${encodeURIComponent(pod)}/exec?${q}`;
  const input = o.input ?? process.stdin;
  const out = o.out ?? process.stdout;
  const err = o.err ?? process.stderr;
  const ws = new WebSocket(url, ['v5.channel.k8s.io', 'v4.channel.k8s.io'], { headers: { authorization: `Bearer ${endpoint.token}` }, ...(endpoint.ca ? { ca: endpoint.ca } : {}) });

  const raw = o.tty && o.stdin && (input as NodeJS.ReadStream).isTTY ? (input as NodeJS.ReadStream) : undefined;
  let result: { code: number; message?: string } | undefined;
  const done = new Promise<{ code: number; message?: string }>((resolve, reject) => {
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        let message = body;
        try {
          message = (JSON.parse(body) as { message?: string }).message ?? body;
        } catch {
          // not a Status
        }
        reject(new GantryError(res.statusCode === 404 ? 'NotFound' : res.statusCode === 401 || res.statusCode === 403 ? 'AuthFailed' : 'InvalidArgument', message.trim() || `HTTP ${res.statusCode}`));
      });
    });
    ws.on('error', (e) => reject(new GantryError('ApiUnavailable', `cannot reach gantry at ${endpoint.server}: ${e.message}`)));
    ws.on('message', (data: Buffer) => {
      const f = parseFrame(data);
      if (!f) return;
      if (f.channel === Channel.stdout) out.write(f.data);
      else if (f.channel === Channel.stderr) err.write(f.data);
      else if (f.channel === Channel.error) {
        try {
          result = exitCodeOf(JSON.parse(f.data.toString('utf8')) as Parameters<typeof exitCodeOf>[0]);
        } catch {
          result = { code: 1, message: f.data.toString('utf8') };
        }
      }
    });
    ws.on('close', () => resolve(result ?? { code: 0 }));
  });

  const sendResize = (): void => {
    const tty = out as NodeJS.WriteStream;
    if (ws.readyState === ws.OPEN && tty.columns) ws.send(frame(Channel.resize, JSON.stringify({ Width: tty.columns, Height: tty.rows })));
  };
  ws.on('open', () => {
    if (o.tty) {
      sendResize();
      process.on('SIGWINCH', sendResize);
    }
    if (!o.stdin) return;
    raw?.setRawMode(true);
    input.on('data', (d: Buffer) => {
      if (ws.readyState === ws.OPEN) ws.send(frame(Channel.stdin, d));
    });
    input.on('end', () => {
      // v5: closing channel 0 ends the command's stdin (cat sees EOF) while output still flows.
      if (ws.readyState === ws.OPEN && ws.protocol === 'v5.channel.k8s.io') ws.send(frame(Channel.close, Buffer.from([Channel.stdin])));
    });
    input.resume();
  });
  try {
    const r = await done;
    // As kubectl: the reason on stderr, the command's own exit code as ours.
    if (r.message) err.write(`error: ${r.message}\n`);
    else if (r.code !== 0) err.write(`command terminated with exit code ${r.code}\n`);
    return { output: '', exitCode: r.code };
  } finally {
    process.off('SIGWINCH', sendResize);
    raw?.setRawMode(false);
    input.pause();
  }
}
