/**
 * The web dashboard (web/, built by `npm run build` into dist/dashboard) served at
 * `/dashboard/` by the API server, with @fastify/static (content types, ETags, ranges and path
 * checks we would otherwise write ourselves).
 *
 * The files are public, like a login page: they hold no cluster data. Everything the dashboard
 * shows it fetches from the API with the bearer token the user signs in with, which the page
 * keeps in sessionStorage and sends in the Authorization header, exactly as kubectl does; the
 * API's guard is unchanged, and no cookie means no cross-site request can act with it. A strict
 * Content-Security-Policy (scripts, styles and connections from this origin only) keeps injected
 * markup from running code that could read the token.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';

/** Where the dashboard is served. */
export const DASHBOARD_PATH = '/dashboard/';

/** The headers every dashboard file is served with. */
export const DASHBOARD_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/** True for the paths of the dashboard's files (served without a token). */
export function isDashboardPath(path: string): boolean {
  return path === '/dashboard' || path.startsWith(DASHBOARD_PATH);
}

/**
 * The built dashboard of this installation (`<project>/dist/dashboard`), or undefined when it
 * was not built. Found from this file's place, in src/ (tsx) or dist/src/ (built) alike.
 */
export function builtDashboardDir(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json'))) {
      const built = join(dir, 'dist', 'dashboard');
      return existsSync(join(built, 'index.html')) ? built : undefined;
    }
    dir = dirname(dir);
  }
  return undefined;
}

/** Options of {@link dashboardApi}. */
export interface DashboardOptions {
  /** The built files; without them every dashboard path answers 503 saying how to build them. */
  dir?: string;
}

/**
 * Serves the dashboard at {@link DASHBOARD_PATH}; `/dashboard` and a browser's `GET /` are sent
 * there. Hashed assets are cached for a year, `index.html` is revalidated every time.
 */
export function dashboardApi(opts: DashboardOptions): FastifyPluginAsync {
  return async (app) => {
    app.get('/', async (req, reply) => {
      // kubectl and API clients never ask for HTML; a browser opening the server's address does.
      if (!/text\/html/.test(req.headers.accept ?? '')) return reply.code(404).send({ code: 'NotFound', message: 'nothing here: the API is under /api and /apis, the dashboard under /dashboard/' });
      return reply.redirect(DASHBOARD_PATH, 302);
    });
    app.get('/dashboard', async (_req, reply) => reply.redirect(DASHBOARD_PATH, 301));
    if (!opts.dir) {
      app.get(`${DASHBOARD_PATH}*`, async (_req, reply) => reply.code(503).type('text/plain; charset=utf-8').send('The gantry dashboard is not built on this server: run `npm run build` in the gantry folder, then restart gantry.\n'));
      return;
    }
    await app.register(fastifyStatic, {
      root: opts.dir,
      prefix: DASHBOARD_PATH,
      index: ['index.html'],
      wildcard: true,
      cacheControl: false,
      setHeaders(reply, path) {
        reply.headers(DASHBOARD_HEADERS);
        reply.header('cache-control', /[\\/]assets[\\/]/.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache');
      },
    });
  };
}
