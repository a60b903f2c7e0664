/**
 * A small HTTP(S) client for tests of gantry's API: trusts the server's CA when given one and
 * sends a bearer token when given one, as kubectl does with a kubeconfig.
 */
import http from 'node:http';
import https from 'node:https';

/** Where an API is and how to talk to it. */
export interface ApiTarget {
  apiUrl: string;
  /** The API's CA (PEM), for https. */
  ca?: string;
  /** Bearer token. */
  token?: string;
}

/** A finished response. */
export interface ApiResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json<T = unknown>(): T;
}

/** One request; resolves once the whole body arrived. */
export function apiRequest(target: ApiTarget, path: string, opts: { method?: string; headers?: Record<string, string | number>; body?: string | Buffer } = {}): Promise<ApiResponse> {
  const url = new URL(path, target.apiUrl);
  const headers: Record<string, string | number> = { ...(target.token ? { authorization: `Bearer ${target.token}` } : {}), ...opts.headers };
  if (opts.body !== undefined) headers['content-length'] = Buffer.byteLength(opts.body);
  return new Promise((resolve, reject) => {
    const onResponse = (res: http.IncomingMessage): void => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: <T>() => JSON.parse(body) as T });
      });
    };
    const req = url.protocol === 'https:'
      ? https.request(url, { method: opts.method ?? 'GET', headers, ...(target.ca ? { ca: target.ca } : {}) }, onResponse)
      : http.request(url, { method: opts.method ?? 'GET', headers }, onResponse);
    req.on('error', reject);
    req.end(opts.body);
  });
}
