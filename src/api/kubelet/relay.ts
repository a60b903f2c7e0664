/**
 * How the API server reaches a pod on another node, as kube-apiserver reaches a kubelet: the
 * request (after the API's own checks — token, RBAC, pod, container) goes to the node's kubelet
 * endpoint over TLS, with the control plane's client certificate, to the address and port the
 * node publishes (`status.addresses`, `status.daemonEndpoints.kubeletEndpoint.Port`), and is
 * accepted only if the endpoint's certificate chains to the kubelet CA and names that node. A
 * log's answer is streamed back as it comes; an upgrade (exec's WebSocket, port-forward's
 * WebSocket or SPDY) is answered by the agent and then relayed byte for byte both ways, as
 * Kubernetes' UpgradeAwareHandler does, so the protocol is spoken end to end by kubectl and the
 * agent. The caller's bearer token and cookies never leave the server.
 *
 * Built on Node's https client rather than http-proxy-3 (which the ingress uses): that one
 * refuses any upgrade but a WebSocket GET, and kubectl's port-forward falls back to a SPDY POST.
 */
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Node } from '../../model/types.js';
import { sendStatus } from '../kube.js';
import { upgradeHead } from '../upgrade.js';
import { isNodeServer, type KubeletClientCredentials } from './pki.js';

/** A request for a node's kubelet endpoint. */
export interface RelayTarget {
  node: string;
  /** Path and query at the kubelet endpoint (./paths.ts). */
  path: string;
}

/** What the API's pod routes need to serve a pod on another node. */
export interface KubeletRelay {
  /** Sends a plain GET (a log) to the node and streams its answer back as it comes. */
  forward(req: FastifyRequest, reply: FastifyReply, to: RelayTarget): Promise<FastifyReply>;
  /** Sends the client's upgrade request to the node; after its 101, relays bytes both ways until either side closes. */
  upgrade(req: FastifyRequest, reply: FastifyReply, to: RelayTarget): Promise<FastifyReply>;
}

/** Options of {@link KubeletProxy}. */
export interface KubeletProxyOptions {
  /** Reads a Node (its addresses and kubelet port). */
  getNode(name: string): Promise<Node | undefined>;
  credentials: KubeletClientCredentials;
  /** How long connecting and the agent's first answer may take; default 10 s. */
  connectTimeoutMs?: number;
}

/** Address types tried in turn (kube-apiserver's `--kubelet-preferred-address-types`, InternalIP first). */
const ADDRESS_TYPES = ['InternalIP', 'ExternalIP', 'InternalDNS', 'ExternalDNS', 'Hostname'];
/** Request headers an upgrade carries on to the agent: the protocol's, nothing of the caller's identity. */
const UPGRADE_HEADERS = ['upgrade', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-protocol', 'sec-websocket-extensions', 'x-stream-protocol-version'];
/** Response headers of a plain answer passed back (hop-by-hop ones are the server's own). */
const RESPONSE_HEADERS = ['content-type', 'content-length', 'cache-control'];
/** A refusal the agent sends instead of a 101 is a Status: small. */
const MAX_REFUSAL_BYTES = 64 * 1024;

/** Where node `node`'s kubelet endpoint is, or why it cannot be reached. */
export function kubeletEndpoint(node: Node): { host: string; port: number } | string {
  const name = node.metadata.name;
  const port = node.status?.daemonEndpoints?.kubeletEndpoint?.Port;
  if (!port) return `node ${name} publishes no kubelet endpoint (status.daemonEndpoints.kubeletEndpoint): its agent serves no logs, exec or port-forward`;
  const addresses = node.status?.addresses ?? [];
  for (const type of ADDRESS_TYPES) {
    const a = addresses.find((x) => x.type === type && x.address);
    if (a) return { host: a.address, port };
  }
  return `node ${name} has no address (status.addresses) to reach its agent at`;
}

type Dialled = { res: IncomingMessage; socket?: Duplex; head?: Buffer } | { error: string };

/** The API server's {@link KubeletRelay}. */
export class KubeletProxy implements KubeletRelay {
  /** Both ends of every relayed upgrade, for {@link closeAll}: the HTTP server no longer tracks them. */
  private readonly relayed = new Set<Duplex>();

  constructor(private readonly o: KubeletProxyOptions) {}

  async forward(req: FastifyRequest, reply: FastifyReply, to: RelayTarget): Promise<FastifyReply> {
    const ac = new AbortController();
    reply.raw.once('close', () => ac.abort());
    const d = await this.dial(to, { method: 'GET', headers: {}, signal: ac.signal });
    if (ac.signal.aborted) {
      if ('res' in d) (d.socket ?? d.res).destroy();
      return reply.hijack();
    }
    if ('error' in d) return sendStatus(reply, 503, 'ServiceUnavailable', d.error);
    const res = d.res;
    if (d.socket) {
      d.socket.destroy();
      return sendStatus(reply, 502, 'InternalError', `the agent of node ${to.node} upgraded a plain request`);
    }
    reply.hijack();
    const headers: OutgoingHttpHeaders = {};
    for (const h of RESPONSE_HEADERS) if (res.headers[h] !== undefined) headers[h] = res.headers[h];
    reply.raw.writeHead(res.statusCode ?? 502, headers);
    // kubectl waits for the headers before it prints anything, and a followed log may be quiet.
    reply.raw.flushHeaders();
    // An answer cut short (the agent went away mid-log) cuts the client's too, so it sees an error, not an end.
    res.once('close', () => {
      if (!res.complete) reply.raw.destroy();
    });
    res.on('error', () => undefined);
    reply.raw.once('close', () => res.destroy());
    res.pipe(reply.raw);
    return reply;
  }

  async upgrade(req: FastifyRequest, reply: FastifyReply, to: RelayTarget): Promise<FastifyReply> {
    const client = req.raw.socket;
    const headers: OutgoingHttpHeaders = { connection: 'Upgrade' };
    for (const h of UPGRADE_HEADERS) if (req.headers[h] !== undefined) headers[h] = req.headers[h];
    // No body, said so: a POST without a length would be sent chunked, and the chunk trailer
    // would land in the upgraded stream.
    if (req.method !== 'GET') headers['content-length'] = '0';
    const ac = new AbortController();
    const gone = (): void => ac.abort();
    client.once('close', gone);
    const d = await this.dial(to, { method: req.method, headers, signal: ac.signal });
    client.off('close', gone);
    if (ac.signal.aborted) {
      if ('res' in d) (d.socket ?? d.res).destroy();
      return reply.hijack();
    }
    if ('error' in d) return sendStatus(reply, 503, 'ServiceUnavailable', d.error);
    const { res, socket: upstream, head } = d;
    if (!upstream) {
      // The agent refused (its Status): the client gets the same answer.
      const body = await readBody(res, MAX_REFUSAL_BYTES);
      reply.code(res.statusCode ?? 502);
      if (typeof res.headers['content-type'] === 'string') reply.type(res.headers['content-type']);
      return reply.send(body);
    }
    reply.hijack();
    const lines = [`HTTP/1.1 ${res.statusCode ?? 101} ${res.statusMessage ?? 'Switching Protocols'}`];
    for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) lines.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
    client.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head && head.length > 0) client.write(head);
    // Bytes the client sent right behind its request belong to the upgraded stream.
    const early = upgradeHead(req.raw);
    if (early.length > 0) upstream.write(early);
    this.splice(client, upstream);
    return reply;
  }

  /** Ends every relayed upgrade (the API server is closing). */
  closeAll(): void {
    for (const s of [...this.relayed]) s.destroy();
    this.relayed.clear();
  }

  /** Copies bytes both ways until either side ends or fails, then closes both. */
  private splice(a: Duplex, b: Duplex): void {
    this.relayed.add(a);
    this.relayed.add(b);
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      this.relayed.delete(a);
      this.relayed.delete(b);
      a.destroy();
      b.destroy();
    };
    for (const s of [a, b]) {
      s.on('error', end);
      s.once('close', end);
      // A session may sit idle for hours (an exec shell): keepalives tell a dead peer from a quiet one.
      (s as Duplex & { setKeepAlive?: (on: boolean, ms: number) => void }).setKeepAlive?.(true, 30_000);
    }
    a.pipe(b);
    b.pipe(a);
  }

  /** Opens the request to the node's kubelet endpoint: its answer, its upgrade, or why it failed. */
  private async dial(to: RelayTarget, opts: { method: string; headers: OutgoingHttpHeaders; signal: AbortSignal }): Promise<Dialled> {
    const node = await this.o.getNode(to.node);
    const where = node ? kubeletEndpoint(node) : `node ${to.node} not found`;
    if (typeof where === 'string') return { error: where };
    const { host, port } = where;
    const url = `https://${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
    const ms = this.o.connectTimeoutMs ?? 10_000;
    const c = this.o.credentials;
    return new Promise<Dialled>((resolve) => {
      let settled = false;
      const done = (d: Dialled): void => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        resolve(d);
      };
      const out = https.request({
        host,
        port,
        method: opts.method,
        path: to.path,
        headers: opts.headers,
        ca: c.ca,
        cert: c.cert,
        key: c.key,
        agent: false,
        signal: opts.signal,
        ...(isIP(host) === 0 ? { servername: host } : {}),
        // The endpoint is named by its node, not by an address the node itself publishes.
        checkServerIdentity: (_host, cert) => (isNodeServer(cert, to.node) ? undefined : new Error(`its certificate is not node ${to.node}'s serving certificate (subject ${cert.subject?.CN ?? 'none'})`)),
      });
      const timer = setTimeout(() => out.destroy(new Error(`no answer within ${Math.round(ms / 1000)} s`)), ms);
      out.once('response', (res) => done({ res }));
      out.once('upgrade', (res, socket, head) => done({ res, socket, head }));
      out.on('error', (err) => done({ error: `cannot reach the agent of node ${to.node} at ${url}: ${err.message}` }));
      out.end();
    });
  }
}

/** The body of a short answer, at most `limit` bytes. */
async function readBody(res: IncomingMessage, limit: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) {
        res.destroy();
        break;
      }
      parts.push(chunk);
    }
  } catch {
    // Cut short: what arrived is what there is.
  }
  return Buffer.concat(parts);
}
