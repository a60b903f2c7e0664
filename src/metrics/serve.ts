/**
 * A small HTTP listener for `GET /metrics`, for a process without an API server (`gantry
 * agent`), as the kubelet's read-only port or node_exporter serve theirs: plain HTTP, no token.
 * Metrics carry no secret and no object name; the default address is loopback, so only the
 * machine itself (or a scraper on it) reads them unless the operator chooses otherwise.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorMessage, GantryError } from '../errors.js';
import type { Metrics } from './index.js';

/** A running metrics listener. */
export interface MetricsListener {
  /** Where it listens (the port chosen when 0 was asked for). */
  address: { host: string; port: number };
  close(): Promise<void>;
}

/**
 * Serves `metrics` on `host:port`. A port in use (or any listen error) is a clear error naming
 * `flag` and the address, never a silent agent without metrics.
 */
export async function serveMetrics(metrics: Metrics, opts: { host: string; port: number; flag?: string }): Promise<MetricsListener> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('only /metrics is served here\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('use GET\n');
      return;
    }
    metrics.render().then(
      (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(req.method === 'HEAD' ? undefined : text),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`cannot collect metrics: ${errorMessage(err)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new GantryError('InvalidArgument', `${opts.flag ?? 'metrics listener'}: cannot listen on ${opts.host}:${opts.port}: ${errorMessage(err)}`, { cause: err })));
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    address: { host: addr.address, port: addr.port },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
