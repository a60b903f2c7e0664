/**
 * gantry's ingress controller: serves HTTP (and HTTPS, with certificates from the Ingresses'
 * TLS Secrets, chosen by SNI) on its own addresses and proxies each request to a ready
 * endpoint of the matched backend, round robin, as ingress-nginx does (straight to pods, not
 * through the cluster IP). It also writes `status.loadBalancer.ingress` of every Ingress it
 * serves.
 *
 * The proxying is @fastify/reply-from: gantry's API already runs on fastify, and reply-from
 * (kept by the fastify team, on undici) streams bodies both ways, drops hop-by-hop headers and
 * pools connections per target; routing is ours ({@link route}). A request with no matching
 * rule and no default backend gets 404; a backend without ready endpoints 503; an endpoint that
 * fails 502.
 */
import { createSecureContext, type SecureContext } from 'node:tls';
import Fastify, { type FastifyInstance } from 'fastify';
import { isGantryError } from '../errors.js';
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

const LEGACY_DISPATCHER = Symbol.for('undici.globalDispatcher.1');

/**
 * Loads reply-from. The undici it brings (v7) makes itself the dispatcher of the process's
 * global `fetch` when none is set yet, which would move Node's own fetch (image pulls, the
 * registry) onto another HTTP client version; the previous value is put back.
 */
async function loadReplyFrom(): Promise<typeof import('@fastify/reply-from').default> {
  const g = globalThis as unknown as Record<symbol, unknown>;
  const before = g[LEGACY_DISPATCHER];
  const mod = await import('@fastify/reply-from');
  if (g[LEGACY_DISPATCHER] !== before) g[LEGACY_DISPATCHER] = before;
  return mod.default;
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
  private servers: FastifyInstance[] = [];
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
    const replyFrom = await loadReplyFrom();
    this.o.view.onChange(() => {
      this.rebuild();
      this.writeStatuses();
    });
    const http = this.server(false, replyFrom);
    await http.listen({ host: this.o.http[0], port: this.o.http[1] });
    this.servers.push(http);
    this.addresses.http = this.address(http);
    if (this.o.https) {
      const https = this.server(true, replyFrom);
      await https.listen({ host: this.o.https[0], port: this.o.https[1] });
      this.servers.push(https);
      this.addresses.https = this.address(https);
    }
    this.writeStatuses();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.servers.map((s) => s.close()));
  }

  private address(s: FastifyInstance): string {
    const a = s.server.address();
    return a && typeof a === 'object' ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : '';
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

  private server(tls: boolean, replyFrom: Awaited<ReturnType<typeof loadReplyFrom>>): FastifyInstance {
    const app = Fastify({
      logger: false,
      ...(tls
        ? {
            https: {
              SNICallback: (name: string, cb: (err: Error | null, ctx?: SecureContext) => void) => {
                try {
                  const ctx = this.secureContext(name);
                  if (ctx) cb(null, ctx);
                  else cb(new Error(`no Ingress TLS certificate for ${name}`));
                } catch (err) {
                  cb(err as Error);
                }
              },
            },
          }
        : {}),
    }) as unknown as FastifyInstance;
    void app.register(replyFrom, { undici: { connections: 64, pipelining: 1 } });
    // Bodies go through untouched: no parsing of any content type.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (_req, _payload, done) => done(null));
    app.all('/*', (req, reply) => {
      const { host } = hostPort(req.headers.host ?? '');
      const path = req.url.split('?')[0] ?? '/';
      const target = route(this.table, host, path);
      if (!target) return reply.code(404).type('text/plain').send(`no Ingress rule for ${host}${path}\n`);
      if (target.addresses.length === 0) return reply.code(503).type('text/plain').send(`Service ${target.namespace}/${target.service} has no ready endpoints\n`);
      const key = `${target.namespace}/${target.service}`;
      const i = (this.next.get(key) ?? 0) % target.addresses.length;
      this.next.set(key, i + 1);
      const upstream = target.addresses[i]!;
      return reply.from(`http://${upstream}${req.url}`, {
        rewriteRequestHeaders: (original, headers) => ({
          ...headers,
          host: original.headers.host ?? headers.host,
          'x-forwarded-for': [original.headers['x-forwarded-for'], original.socket.remoteAddress].filter(Boolean).join(', '),
          'x-forwarded-host': original.headers.host ?? '',
          'x-forwarded-proto': tls ? 'https' : 'http',
        }),
        onError: (r, { error }) => {
          this.log.debug({ err: error, upstream }, 'ingress backend failed');
          void r.code(502).type('text/plain').send(`backend ${upstream} of Service ${key} failed: ${error.message}\n`);
        },
      });
    });
    return app;
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
