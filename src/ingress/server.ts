/**
 * gantry's ingress controller: serves HTTP (and HTTPS, with certificates from the Ingresses'
 * TLS Secrets, chosen by SNI) on its own addresses and proxies each request, WebSocket
 * upgrades included, to a ready endpoint of the matched backend, round robin, as ingress-nginx
 * does (straight to pods, not through the cluster IP). It also writes
 * `status.loadBalancer.ingress` of every Ingress it serves.
 *
 * The proxying is http-proxy-3 (the maintained TypeScript successor of node-http-proxy, on
 * Node's own http client): it streams bodies both ways, handles upgrades, drops hop-by-hop
 * headers and adds `X-Forwarded-*`. It costs ~1 MB of memory where @fastify/reply-from, tried
 * first, brought undici 7 at ~10 MB (and made it the process's fetch dispatcher). Routing is
 * ours ({@link route}). No matching rule and no default backend: 404; a backend without ready
 * endpoints: 503; an endpoint that fails: 502.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { createSecureContext, type SecureContext } from 'node:tls';
import { createProxyServer } from 'http-proxy-3';
import { GantryError, isGantryError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Ingress, IngressClass, Secret } from '../model/types.js';
import { deepEqual } from '../model/json.js';
import type { StoreServiceView } from '../node/proxy/source.js';
import type { Store } from '../store/types.js';
import { buildRoutes, route, servedByGantry, tlsSecretFor, type RouteTable } from './routes.js';

/** Options of {@link IngressController}. */
export interface IngressControllerOptions {
  store: Store;
  /** A view following Service, Endpoints, Ingress and Secret. */
  view: StoreServiceView;
  logger: Logger;
  /** `[host, port]` for HTTP. */
  http: [string, number];
  /** `[host, port]` for HTTPS; omit for none. */
  https?: [string, number];
}

/** Splits `host:port` (IPv6 in brackets). */
function hostPort(addr: string): { host: string; port?: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(addr) ?? /^([^:]+)(?::(\d+))?$/.exec(addr);
  return { host: (m?.[1] ?? addr).toLowerCase(), port: m?.[2] ? Number(m[2]) : undefined };
}

/** The ingress controller: routing table, servers and status. */
export class IngressController {
  private readonly o: IngressControllerOptions;
  private readonly log: Logger;
  private table: RouteTable = buildRoutes({ ingresses: () => [], service: () => undefined, endpointsOf: () => undefined });
  private readonly next = new Map<string, number>();
  private readonly servers: http.Server[] = [];
  /** Upgraded (WebSocket) client sockets: the servers no longer track them. */
  private readonly upgraded = new Set<Socket>();
  private readonly proxy = createProxyServer({ xfwd: true, proxyTimeout: 60_000 });
  private readonly contexts = new Map<string, { version: string; ctx: SecureContext }>();
  private statusRunning = false;
  private statusAgain = false;
  private stopped = false;
  /** The addresses the servers listen on, once started. */
  readonly addresses: { http?: string; https?: string } = {};

  constructor(opts: IngressControllerOptions) {
    this.o = opts;
    this.log = opts.logger;
  }

  async start(): Promise<void> {
    this.rebuild();
    this.o.view.onChange(() => {
      this.rebuild();
      this.writeStatuses();
    }, ['Service', 'Endpoints', 'EndpointSlice', 'Ingress', 'IngressClass', 'Secret']);
    this.addresses.http = await this.listen(http.createServer(), this.o.http);
    if (this.o.https) {
      const server = https.createServer({
        SNICallback: (name, cb) => {
          try {
            const ctx = this.secureContext(name);
            if (ctx) cb(null, ctx);
            else cb(new Error(`no Ingress TLS certificate for ${name}`));
          } catch (err) {
            cb(err as Error);
          }
        },
      });
      this.addresses.https = await this.listen(server, this.o.https);
    }
    this.writeStatuses();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    // Upgraded sockets still count as the server's connections: close would wait for them.
    for (const sock of this.upgraded) sock.destroy();
    await Promise.all(
      this.servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
            s.closeAllConnections();
          }),
      ),
    );
    this.proxy.close();
  }

  private async listen(server: http.Server, [host, port]: [string, number]): Promise<string> {
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.onRequest(req, res));
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.onUpgrade(req, socket, head));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) =>
        reject(new GantryError('InvalidArgument', `the ingress cannot listen on ${host}:${port} (--ingress-listen / --ingress-tls-listen, or off): ${err.message}`, { cause: err })),
      );
      server.listen(port, host, () => resolve());
    });
    this.servers.push(server);
    const a = server.address() as AddressInfo;
    return `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }

  /** The endpoint this request goes to, or the status to answer with. */
  private pick(req: IncomingMessage): { upstream: string; key: string } | { status: number; message: string } {
    const { host } = hostPort(req.headers.host ?? '');
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const target = route(this.table, host, path);
    if (!target) return { status: 404, message: `no Ingress rule for ${host}${path}` };
    const key = `${target.namespace}/${target.service}`;
    if (target.addresses.length === 0) return { status: 503, message: `Service ${key} has no ready endpoints` };
    const i = (this.next.get(key) ?? 0) % target.addresses.length;
    this.next.set(key, i + 1);
    return { upstream: target.addresses[i]!, key };
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const picked = this.pick(req);
    if ('status' in picked) {
      res.writeHead(picked.status, { 'content-type': 'text/plain' }).end(`${picked.message}\n`);
      return;
    }
    this.proxy.web(req, res, { target: `http://${picked.upstream}` }, (err: Error) => {
      this.log.debug({ err, upstream: picked.upstream }, 'ingress backend failed');
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`backend ${picked.upstream} of Service ${picked.key} failed: ${err.message}\n`);
    });
  }

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const picked = this.pick(req);
    if ('status' in picked) {
      socket.end(`HTTP/1.1 ${picked.status} ${http.STATUS_CODES[picked.status]}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${picked.message}\n`);
      return;
    }
    this.upgraded.add(socket);
    socket.once('close', () => this.upgraded.delete(socket));
    this.proxy.ws(req, socket, head, { target: `ws://${picked.upstream}` }, () => socket.destroy());
  }

  private rebuild(): void {
    const v = this.o.view;
    this.table = buildRoutes({ ingresses: () => v.list<Ingress>('Ingress'), classes: () => v.list<IngressClass>('IngressClass'), service: (ns, n) => v.service(ns, n), endpointsOf: (ns, n) => v.endpointsOf(ns, n) });
  }

  /** The certificate for an SNI name, from the matching Ingress TLS Secret. */
  private secureContext(servername: string): SecureContext | undefined {
    const ref = tlsSecretFor(this.table, servername);
    if (!ref) return undefined;
    const secret = this.o.view.get<Secret>('Secret', ref.namespace, ref.secret);
    const crt = secret?.data?.['tls.crt'];
    const key = secret?.data?.['tls.key'];
    if (!crt || !key) return undefined;
    const id = `${ref.namespace}/${ref.secret}`;
    const version = secret.metadata.resourceVersion ?? `${crt.length}`;
    const cached = this.contexts.get(id);
    if (cached?.version === version) return cached.ctx;
    const ctx = createSecureContext({ cert: Buffer.from(crt, 'base64'), key: Buffer.from(key, 'base64') });
    this.contexts.set(id, { version, ctx });
    return ctx;
  }

  /** The status every served Ingress should carry. */
  private wantedStatus(): { ingress: { ip?: string; hostname?: string; ports?: { port: number; protocol: string }[] }[] } {
    const { host, port } = hostPort(this.addresses.http ?? '');
    const ip = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host;
    const https = this.addresses.https ? hostPort(this.addresses.https).port : undefined;
    const ports = [...(port ? [{ port, protocol: 'TCP' }] : []), ...(https ? [{ port: https, protocol: 'TCP' }] : [])];
    return { ingress: [{ ip, ...(ports.length ? { ports } : {}) }] };
  }

  /** Writes `status.loadBalancer` where it differs; one pass at a time, coalesced. */
  private writeStatuses(): void {
    if (this.stopped || !this.addresses.http) return;
    if (this.statusRunning) {
      this.statusAgain = true;
      return;
    }
    this.statusRunning = true;
    void (async () => {
      do {
        this.statusAgain = false;
        const want = this.wantedStatus();
        for (const ing of this.o.view.list<Ingress>('Ingress')) {
          if (!servedByGantry(ing, this.o.view.list<IngressClass>('IngressClass')) || deepEqual(ing.status?.loadBalancer ?? null, want)) continue;
          const next = structuredClone(ing) as Ingress;
          next.status = { ...(next.status ?? {}), loadBalancer: want };
          try {
            await this.o.store.update(next, { origin: { actor: 'controller/ingress', reason: `address of Ingress ${ing.metadata.name}` } });
          } catch (err) {
            // A newer version is on its way through the view: the next pass writes it.
            if (!isGantryError(err, 'Conflict') && !isGantryError(err, 'NotFound')) this.log.warn({ err }, 'cannot write Ingress status');
          }
        }
      } while (this.statusAgain && !this.stopped);
      this.statusRunning = false;
    })();
  }
}
