/**
 * The node side of `kubectl port-forward`: a byte stream to a TCP port of a pod on this node.
 *
 * As Kubernetes does, the connection is made to `localhost:PORT` inside the pod's network
 * namespace, so a server bound only to 127.0.0.1 in the pod is reachable too. Node cannot enter
 * a namespace itself, so each connection is relayed by `nsenter --net=<ns> busybox nc`
 * (busybox's nc half-closes on end of input and exits non-zero, with a message, when nothing
 * listens). Without nsenter or busybox on the host it connects to the pod's IP on the bridge
 * instead, where servers bound to 127.0.0.1 in the pod cannot be reached. hostNetwork pods
 * share the host's namespace: loopback.
 *
 * The interface is transport-neutral: the API serves it for `gantry up`'s own node, and each
 * `gantry agent` behind its kubelet endpoint (src/api/kubelet/server.ts).
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Duplex, type Readable, type Writable } from 'node:stream';
import { GantryError } from '../errors.js';
import type { Pod } from '../model/types.js';
import type { NetworkManager } from './types.js';

/** What to connect to. */
export interface OpenPodPortOptions {
  namespace: string;
  pod: string;
  port: number;
  /** Aborting closes the connection. */
  signal?: AbortSignal;
}

/** Opens connections to the ports of one node's pods. */
export interface PodPorts {
  /** The node whose pods these are. */
  readonly nodeName: string;
  /**
   * A duplex to `localhost:port` in the pod. Connection failures (nothing listening) surface as
   * the stream's error, which may come after the promise resolved; a pod that does not exist,
   * runs elsewhere or is not running rejects with a {@link GantryError}.
   */
  openPodPort(opts: OpenPodPortOptions): Promise<Duplex>;
}

/** Options for {@link LocalPodPorts}. */
export interface LocalPodPortsOptions {
  /** Reads a pod as the node knows it: the store in `gantry up`, the agent's own pods on `gantry agent`. */
  getPod(namespace: string, name: string): Promise<Pod | undefined> | Pod | undefined;
  /** The node's network manager (only its records are read). */
  network: Pick<NetworkManager, 'get'>;
  nodeName: string;
  /**
   * The relay that connects inside a namespace: `[nsenter, busybox]` paths, found on the PATH by
   * default; `null` connects to the pod IP instead.
   */
  relay?: { nsenter: string; busybox: string } | null;
}

/** {@link PodPorts} for pods run by this node's agent. */
export class LocalPodPorts implements PodPorts {
  private readonly relay: { nsenter: string; busybox: string } | null;

  readonly nodeName: string;

  constructor(private readonly opts: LocalPodPortsOptions) {
    this.relay = opts.relay === undefined ? findRelay() : opts.relay;
    this.nodeName = opts.nodeName;
  }

  /** How connections are made: inside the pod's namespace, or to its IP. */
  get mode(): 'netns' | 'pod-ip' {
    return this.relay ? 'netns' : 'pod-ip';
  }

  async openPodPort(o: OpenPodPortOptions): Promise<Duplex> {
    if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) {
      throw new GantryError('InvalidArgument', `port ${o.port} is not a TCP port (1-65535)`, { field: 'port' });
    }
    const ref = `pod ${o.namespace}/${o.pod}`;
    const pod = await this.opts.getPod(o.namespace, o.pod);
    if (!pod) throw new GantryError('NotFound', `${ref} not found`);
    if (pod.spec.nodeName !== this.opts.nodeName) {
      throw new GantryError('InvalidArgument', `${ref} runs on node ${pod.spec.nodeName ?? '(none yet)'}, not on ${this.opts.nodeName}`);
    }
    if (pod.status?.phase !== 'Running') throw new GantryError('InvalidArgument', `${ref} is not running (phase ${pod.status?.phase ?? 'Pending'})`);
    const what = `${ref} port ${o.port}`;
    if (pod.spec.hostNetwork) return tcp('127.0.0.1', o.port, what, o.signal);
    const netw = pod.metadata.uid ? await this.opts.network.get(pod.metadata.uid) : undefined;
    if (!netw) throw new GantryError('NotFound', `${ref} has no network on node ${this.opts.nodeName} (not started yet, or gone)`);
    if (this.relay && netw.netnsPath) return relayed(this.relay, netw.netnsPath, o.port, what, o.signal);
    return tcp(netw.ip, o.port, what, o.signal);
  }
}

/** nsenter and busybox from the PATH, or null when either is missing. */
export function findRelay(): { nsenter: string; busybox: string } | null {
  const nsenter = onPath('nsenter');
  const busybox = onPath('busybox');
  return nsenter && busybox ? { nsenter, busybox } : null;
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const file = path.join(dir || '.', name);
    try {
      accessSync(file, fsConstants.X_OK);
      return file;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

function connectError(what: string, detail: string): GantryError {
  return new GantryError('Internal', `cannot connect to ${what}: ${detail}`, { disposition: 'transient' });
}

function tcp(host: string, port: number, what: string, signal?: AbortSignal): Duplex {
  const sock = net.connect({ host, port, signal });
  const wrapped = new Duplex({
    allowHalfOpen: true,
    read: () => void sock.resume(),
    write: (chunk: Buffer, _e, cb) => void sock.write(chunk, cb),
    final: (cb) => void sock.end(cb),
    destroy: (err, cb) => {
      sock.destroy();
      cb(err);
    },
  });
  sock.on('data', (d: Buffer) => {
    if (!wrapped.push(d)) sock.pause();
  });
  sock.on('end', () => wrapped.push(null));
  sock.on('error', (err: NodeJS.ErrnoException) => wrapped.destroy(connectError(what, err.code === 'ECONNREFUSED' ? 'connection refused (nothing listens there)' : err.message)));
  return wrapped;
}

function relayed(relay: { nsenter: string; busybox: string }, netnsPath: string, port: number, what: string, signal?: AbortSignal): Duplex {
  const child: ChildProcessByStdio<Writable, Readable, Readable> = spawn(
    relay.nsenter,
    [`--net=${netnsPath}`, '--', relay.busybox, 'nc', '127.0.0.1', String(port)],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const wrapped = new Duplex({
    allowHalfOpen: true,
    read: () => void child.stdout.resume(),
    write: (chunk: Buffer, _e, cb) => {
      if (child.stdin.destroyed) return cb();
      child.stdin.write(chunk, () => cb());
    },
    final: (cb) => {
      child.stdin.end();
      cb();
    },
    destroy: (err, cb) => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      cb(err);
    },
  });
  // A pod that closed while we still write makes the pipe break; the exit status tells the story.
  child.stdin.on('error', () => undefined);
  child.stdout.on('data', (d: Buffer) => {
    if (!wrapped.push(d)) child.stdout.pause();
  });
  // End of the pod's output is reported once the relay exited, so a failed connect is an error,
  // not an empty answer.
  child.on('close', (code, sig) => {
    if (code === 0) wrapped.push(null);
    else if (!wrapped.destroyed) {
      const detail = /refused/i.test(stderr) ? 'connection refused (nothing listens there)' : stderr.trim() || `relay exited with ${code ?? sig}`;
      wrapped.destroy(connectError(what, detail));
    }
  });
  child.on('error', (err) => wrapped.destroy(connectError(what, `cannot run ${relay.nsenter}: ${err.message}`)));
  signal?.addEventListener('abort', () => wrapped.destroy(), { once: true });
  return wrapped;
}
