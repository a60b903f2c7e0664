/**
 * The Kubernetes API subset kubectl and client libraries read: discovery (`/version`, `/api`,
 * `/apis`, resource lists per group version), get, list and watch of every kind gantry keeps at
 * Kubernetes' paths, `<Kind>List`s with `metadata.resourceVersion`, label and field selectors,
 * `limit` + `continue`, server-side Tables (`Accept: …;as=Table;g=meta.k8s.io`) with the same
 * columns `gantry get` prints, and errors as `Status` objects.
 *
 * Writes are refused with 405 and a Status that says where the object is declared: gantry is
 * driven by Git, and a change made here would be undone by the next sync. Two writes are not
 * desired state and are served: pod evictions (./eviction.ts) and cordoning a Node (./cordon.ts).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorMessage, isGantryError } from '../errors.js';
import { SOURCE_PATH } from '../model/annotations.js';
import { columnsFor } from '../model/columns.js';
import { matchesRequirements, toRequirements, type Requirements } from '../model/selectors.js';
import { KINDS, type KindInfo } from '../model/kinds.js';
import type { KubeObject } from '../model/types.js';
import type { Store } from '../store/types.js';
import { registerCordonRoute } from './cordon.js';
import { dryRunWrite, isDryRun } from './dryrun.js';
import { registerEvictionRoute } from './eviction.js';
import { registerOpenApiRoutes } from './openapi.js';
import { PATCH_TYPES } from '../model/patch.js';

/** The Kubernetes version gantry's API answers to (the kinds and fields it follows). */
export const KUBE_VERSION = { major: '1', minor: '32', gitVersion: 'v1.32.0-gantry' };

/** Kinds served at Kubernetes paths; gantry's own Sync in its group gantry.dev/v1 (`kubectl get syncs`). */
const served = KINDS;

/** How often a watch that allows bookmarks gets one, as the API server does (about a minute). */
const BOOKMARK_INTERVAL_MS = 60_000;

/** Options of {@link kubeApi}. */
export interface KubeApiOptions {
  store: Store;
  /** The repo gantry follows, named when a write is refused. */
  repo?: string;
  /** Interval of watch bookmarks; default a minute. */
  bookmarkIntervalMs?: number;
  /** API groups served by other routes (the access reviews), for discovery. */
  extraGroups?: readonly { groupVersion: string }[];
}

function groupOf(k: KindInfo): { group: string; version: string } {
  const i = k.apiVersion.indexOf('/');
  return i < 0 ? { group: '', version: k.apiVersion } : { group: k.apiVersion.slice(0, i), version: k.apiVersion.slice(i + 1) };
}

const byPath = new Map(served.map((k) => [`${k.apiVersion}/${k.plural}`, k]));

/** A Kubernetes Status object. */
export function status(code: number, reason: string, message: string, details?: Record<string, unknown>): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

/** Answers with a Kubernetes Status object. */
export function sendStatus(reply: FastifyReply, code: number, reason: string, message: string, details?: Record<string, unknown>): FastifyReply {
  return reply.code(code).type('application/json').send(status(code, reason, message, details));
}

/** One term of a field selector (`a=b`, `a==b`, `a!=b`). */
interface FieldTerm {
  path: string;
  value: string;
  negate: boolean;
}

const FIELD_PATHS: Record<string, (o: KubeObject) => string | undefined> = {
  'metadata.name': (o) => o.metadata.name,
  'metadata.namespace': (o) => o.metadata.namespace,
  'spec.nodeName': (o) => (o.spec as { nodeName?: string } | undefined)?.nodeName ?? '',
  'status.phase': (o) => (o.status as { phase?: string } | undefined)?.phase ?? '',
  'spec.schedulerName': (o) => (o.spec as { schedulerName?: string } | undefined)?.schedulerName ?? 'default-scheduler',
  // Events, as `kubectl describe` selects them.
  'involvedObject.kind': (o) => (o as { involvedObject?: { kind?: string } }).involvedObject?.kind ?? '',
  'involvedObject.name': (o) => (o as { involvedObject?: { name?: string } }).involvedObject?.name ?? '',
  'involvedObject.namespace': (o) => (o as { involvedObject?: { namespace?: string } }).involvedObject?.namespace ?? '',
  'involvedObject.uid': (o) => (o as { involvedObject?: { uid?: string } }).involvedObject?.uid ?? '',
  'type': (o) => (o as { type?: string }).type ?? '',
  'reason': (o) => (o as { reason?: string }).reason ?? '',
};

/** Parses a field selector; undefined (with the reason) when it names a field gantry cannot select on. */
export function parseFieldSelector(text: string): FieldTerm[] | string {
  const terms: FieldTerm[] = [];
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([A-Za-z.]+)\s*(==|!=|=)\s*(.*)$/.exec(part);
    if (!m) return `"${part}" is not field=value or field!=value`;
    if (!FIELD_PATHS[m[1]!]) return `field "${m[1]}" is not supported (supported: ${Object.keys(FIELD_PATHS).join(', ')})`;
    terms.push({ path: m[1]!, value: m[3]!, negate: m[2] === '!=' });
  }
  return terms;
}

function matchesFields(o: KubeObject, terms: FieldTerm[]): boolean {
  return terms.every((t) => (FIELD_PATHS[t.path]!(o) === t.value) !== t.negate);
}

interface ListQuery {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: string;
  continue?: string;
  watch?: string;
  resourceVersion?: string;
  allowWatchBookmarks?: string;
  sendInitialEvents?: string;
  timeoutSeconds?: string;
}

/** `continue` tokens: the revision of the first page and the key after which the next starts. */
function encodeContinue(revision: number, after: string): string {
  return Buffer.from(JSON.stringify({ r: revision, a: after })).toString('base64url');
}
function decodeContinue(token: string): { r: number; a: string } | undefined {
  try {
    const v = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { r?: unknown; a?: unknown };
    return typeof v.r === 'number' && typeof v.a === 'string' ? { r: v.r, a: v.a } : undefined;
  } catch {
    return undefined;
  }
}

const keyOf = (o: KubeObject): string => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

function wantsTable(req: FastifyRequest): boolean {
  return /as=Table/.test(String(req.headers.accept ?? ''));
}

/** A meta.k8s.io/v1 Table of objects, with kubectl's columns for the kind (wide ones at priority 1). */
function toTable(kind: KindInfo, objects: KubeObject[], meta: Record<string, unknown>): Record<string, unknown> {
  const all = columnsFor(kind.kind, { wide: true });
  const now = Date.now();
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: meta,
    columnDefinitions: all.map((c) => ({ name: c.header === 'NAME' ? 'Name' : c.header.charAt(0) + c.header.slice(1).toLowerCase(), type: 'string', format: c.header === 'NAME' ? 'name' : '', description: '', priority: c.wide ? 1 : 0 })),
    rows: objects.map((o) => ({
      cells: all.map((c) => {
        // A cell that cannot be read (an object missing a field the column reads) stays empty.
        try {
          return c.cell(o, now);
        } catch {
          return '';
        }
      }),
      object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata },
    })),
  };
}

/** The Kubernetes routes, as a fastify plugin (its own scope: the patch body parsers stay in it). */
export function kubeApi(opts: KubeApiOptions): (app: FastifyInstance) => Promise<void> {
  return async (app) => registerKubeRoutes(app, opts);
}

function registerKubeRoutes(app: FastifyInstance, opts: KubeApiOptions): void {
  const { store } = opts;
  // kubectl's patch and apply bodies, kept as text: a dry run parses them by patch type
  // (./dryrun.ts); any other write gets its 405 whatever the body holds.
  app.addContentTypeParser(Object.values(PATCH_TYPES), { parseAs: 'string' }, (_req, body, done) => done(null, body));
  registerOpenApiRoutes(app);
  // Before the generic routes: their paths are more specific, and fastify prefers them.
  registerEvictionRoute(app, { store });
  registerCordonRoute(app, { store });

  app.get('/version', async () => ({ ...KUBE_VERSION, gitCommit: '', gitTreeState: 'clean', buildDate: '', goVersion: '', compiler: 'gantry', platform: `${process.platform}/${process.arch}` }));

  app.get('/api', async (req) => ({ kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: req.headers.host ?? '' }] }));

  app.get('/apis', async () => {
    const groups = new Map<string, string[]>();
    for (const k of served) {
      const g = groupOf(k);
      if (!g.group) continue;
      const list = groups.get(g.group) ?? [];
      if (!list.includes(g.version)) list.push(g.version);
      groups.set(g.group, list);
    }
    for (const e of opts.extraGroups ?? []) {
      const [group, version] = e.groupVersion.split('/') as [string, string];
      const list = groups.get(group) ?? [];
      if (!list.includes(version)) list.push(version);
      groups.set(group, list);
    }
    return {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: [...groups].map(([name, versions]) => ({
        name,
        versions: versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v })),
        preferredVersion: { groupVersion: `${name}/${versions[0]}`, version: versions[0] },
      })),
    };
  });

  const resourceList = (groupVersion: string) => ({
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion,
    resources: [
      ...served
        .filter((k) => k.apiVersion === groupVersion)
        .map((k) => ({ name: k.plural, singularName: k.kind.toLowerCase(), namespaced: k.namespaced, kind: k.kind, verbs: k.kind === 'Node' ? ['get', 'list', 'patch', 'watch'] : ['get', 'list', 'watch'], shortNames: k.shortNames })),
      // kubectl drain looks for this entry to evict (policy/v1) rather than delete.
      ...(groupVersion === 'v1' ? [{ name: 'pods/eviction', singularName: '', namespaced: true, group: 'policy', version: 'v1', kind: 'Eviction', verbs: ['create'] }] : []),
      // kubectl create token asks for a TokenRequest (./token-request.ts).
      ...(groupVersion === 'v1' ? [{ name: 'serviceaccounts/token', singularName: '', namespaced: true, group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest', verbs: ['create'] }] : []),
    ],
  });
  app.get('/api/v1', async () => resourceList('v1'));
  app.get<{ Params: { group: string; version: string } }>('/apis/:group/:version', async (req, reply) => {
    const gv = `${req.params.group}/${req.params.version}`;
    if (!served.some((k) => k.apiVersion === gv)) return sendStatus(reply, 404, 'NotFound', `the server could not find the requested resource (${gv})`);
    return resourceList(gv);
  });

  /** Resolves a path to a kind, or answers 404. */
  const kindAt = (reply: FastifyReply, groupVersion: string, resource: string): KindInfo | undefined => {
    const k = byPath.get(`${groupVersion}/${resource}`);
    if (!k) sendStatus(reply, 404, 'NotFound', `the server could not find the requested resource (${resource}.${groupVersion})`);
    return k;
  };

  const list = async (req: FastifyRequest<{ Querystring: ListQuery }>, reply: FastifyReply, kind: KindInfo, namespace: string | undefined) => {
    const q = req.query;
    const fields = q.fieldSelector ? parseFieldSelector(q.fieldSelector) : [];
    if (typeof fields === 'string') return sendStatus(reply, 400, 'BadRequest', `fieldSelector: ${fields}`);
    if (q.watch === 'true' || q.watch === '1') return watch(req, reply, kind, namespace, fields);
    let listed;
    try {
      listed = await store.list(kind.kind, { ...(namespace ? { namespace } : {}), ...(q.labelSelector ? { labelSelector: q.labelSelector } : {}) });
    } catch (err) {
      if (isGantryError(err, 'InvalidArgument')) return sendStatus(reply, 400, 'BadRequest', `labelSelector: ${err.message}`);
      throw err;
    }
    let items = listed.items.filter((o) => matchesFields(o, fields));
    const limit = q.limit ? Number(q.limit) : 0;
    if (q.limit && (!Number.isSafeInteger(limit) || limit < 0)) return sendStatus(reply, 400, 'BadRequest', `limit: "${q.limit}" is not a non-negative integer`);
    let cont: string | undefined;
    if (q.continue) {
      const c = decodeContinue(q.continue);
      if (!c) return sendStatus(reply, 400, 'BadRequest', 'continue: the token is not one this server gave out');
      items = items.filter((o) => keyOf(o) > c.a);
    }
    if (limit > 0 && items.length > limit) {
      items = items.slice(0, limit);
      cont = encodeContinue(listed.revision, keyOf(items[items.length - 1]!));
    }
    const meta = { resourceVersion: String(listed.revision), ...(cont ? { continue: cont } : {}) };
    if (wantsTable(req)) return toTable(kind, items, meta);
    return { kind: `${kind.kind}List`, apiVersion: kind.apiVersion, metadata: meta, items };
  };

  const watch = async (req: FastifyRequest<{ Querystring: ListQuery }>, reply: FastifyReply, kind: KindInfo, namespace: string | undefined, fields: FieldTerm[]) => {
    let labels: Requirements;
    try {
      labels = toRequirements(req.query.labelSelector);
    } catch (err) {
      return sendStatus(reply, 400, 'BadRequest', `labelSelector: ${errorMessage(err)}`);
    }
    const ac = new AbortController();
    req.raw.on('close', () => ac.abort());
    const timeout = Number(req.query.timeoutSeconds ?? 0);
    const timer = timeout > 0 ? setTimeout(() => ac.abort(), timeout * 1000) : undefined;
    let from = req.query.resourceVersion && req.query.resourceVersion !== '0' ? Number(req.query.resourceVersion) : undefined;
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'cache-control': 'no-cache' });
    // Headers now: a client waits for them before it reads events, and the first may be long in coming.
    reply.raw.flushHeaders();
    const send = (type: string, object: unknown) => reply.raw.write(`${JSON.stringify({ type, object })}\n`);
    const selected = (o: KubeObject | undefined): boolean => !!o && (!namespace || o.metadata.namespace === namespace) && matchesFields(o, fields) && matchesRequirements(labels, o.metadata.labels);
    const bookmarks = req.query.allowWatchBookmarks === 'true' || req.query.allowWatchBookmarks === '1';
    const initialEvents = req.query.sendInitialEvents === 'true';
    // The revision the client has seen everything up to: what a bookmark tells it to resume from.
    let seen = from ?? 0;
    const bookmark = (annotations?: Record<string, string>): void => {
      send('BOOKMARK', { kind: kind.kind, apiVersion: kind.apiVersion, metadata: { resourceVersion: String(seen), ...(annotations ? { annotations } : {}) } });
    };
    const ticker = bookmarks ? setInterval(() => bookmark(), opts.bookmarkIntervalMs ?? BOOKMARK_INTERVAL_MS) : undefined;
    try {
      if (from === undefined || initialEvents) {
        // No revision (or streaming list): the current objects as ADDED, then changes, as the API server does.
        const listed = await store.list(kind.kind, namespace ? { namespace } : {});
        for (const o of listed.items) if (selected(o)) send('ADDED', o);
        from = listed.revision;
        seen = from;
        // client-go's streaming list waits for this bookmark to know the initial state is complete.
        if (initialEvents && bookmarks) bookmark({ 'k8s.io/initial-events-end': 'true' });
      }
      for await (const ev of store.watch({ fromRevision: from, kinds: [kind.kind], signal: ac.signal })) {
        seen = Math.max(seen, Number(ev.object.metadata.resourceVersion ?? seen));
        // As the API server filters: an object that comes into the selection is ADDED, one that
        // leaves it is DELETED.
        const now = ev.type !== 'DELETED' && selected(ev.object);
        const before = ev.type === 'ADDED' ? false : selected(ev.prevObject ?? (ev.type === 'DELETED' ? ev.object : undefined));
        if (now) send(before ? ev.type : 'ADDED', ev.object);
        else if (before) send('DELETED', ev.object);
      }
    } catch (err) {
      if (!ac.signal.aborted) {
        const gone = isGantryError(err, 'Conflict');
        send('ERROR', status(gone ? 410 : 500, gone ? 'Expired' : 'InternalError', gone ? `too old resource version: ${from}` : errorMessage(err)));
      }
    }
    if (timer) clearTimeout(timer);
    if (ticker) clearInterval(ticker);
    reply.raw.end();
  };

  const getOne = async (req: FastifyRequest, reply: FastifyReply, kind: KindInfo, namespace: string | undefined, name: string) => {
    const obj = await store.get({ kind: kind.kind, ...(namespace ? { namespace } : {}), name });
    if (!obj) return sendStatus(reply, 404, 'NotFound', `${kind.plural} "${name}" not found`, { name, kind: kind.plural });
    if (wantsTable(req)) return toTable(kind, [obj], { resourceVersion: obj.metadata.resourceVersion });
    return obj;
  };

  /** A refused write: where the object comes from, and what to do instead. */
  const refuse = async (reply: FastifyReply, kind: KindInfo, namespace: string | undefined, name: string | undefined) => {
    const obj = name ? await store.get({ kind: kind.kind, ...(namespace ? { namespace } : {}), name }) : undefined;
    const file = obj?.metadata.annotations?.[SOURCE_PATH];
    const what = name ? `${kind.kind} ${namespace ? `${namespace}/` : ''}${name}` : kind.plural;
    const where = file ? `: it is declared in ${file}` : '';
    return sendStatus(reply, 405, 'MethodNotAllowed', `gantry is driven by Git: change ${what} by committing to the repo${opts.repo ? ` (${opts.repo})` : ''}${where}; writes through the API would be undone by the next sync`, { ...(name ? { name } : {}), kind: kind.plural });
  };

  type P = { Params: Record<string, string>; Querystring: ListQuery };
  const routes: { path: string; gv: (p: Record<string, string>) => string; ns: boolean; named: boolean }[] = [
    { path: '/api/v1/:resource', gv: () => 'v1', ns: false, named: false },
    { path: '/api/v1/:resource/:name', gv: () => 'v1', ns: false, named: true },
    { path: '/api/v1/namespaces/:namespace/:resource', gv: () => 'v1', ns: true, named: false },
    { path: '/api/v1/namespaces/:namespace/:resource/:name', gv: () => 'v1', ns: true, named: true },
    { path: '/apis/:group/:version/:resource', gv: (p) => `${p.group}/${p.version}`, ns: false, named: false },
    { path: '/apis/:group/:version/:resource/:name', gv: (p) => `${p.group}/${p.version}`, ns: false, named: true },
    { path: '/apis/:group/:version/namespaces/:namespace/:resource', gv: (p) => `${p.group}/${p.version}`, ns: true, named: false },
    { path: '/apis/:group/:version/namespaces/:namespace/:resource/:name', gv: (p) => `${p.group}/${p.version}`, ns: true, named: true },
  ];
  for (const r of routes) {
    app.get<P>(r.path, async (req, reply) => {
      const kind = kindAt(reply, r.gv(req.params), req.params.resource!);
      if (!kind) return reply;
      const ns = r.ns ? req.params.namespace : undefined;
      if (r.ns && !kind.namespaced) return sendStatus(reply, 404, 'NotFound', `${kind.plural} are not namespaced`);
      if (r.named) return getOne(req, reply, kind, kind.namespaced ? ns ?? 'default' : undefined, req.params.name!);
      if (!r.ns && kind.namespaced) return list(req, reply, kind, undefined);
      return list(req, reply, kind, ns);
    });
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'] as const) {
      app.route<P>({
        method,
        url: r.path,
        handler: async (req, reply) => {
          const kind = kindAt(reply, r.gv(req.params), req.params.resource!);
          if (!kind) return reply;
          // A dry run is answered (validated, merged, never stored); kinds gantry writes itself stay refused.
          if (kind.declarable && isDryRun(req.query, req.body)) {
            const contentType = String(req.headers['content-type'] ?? '').split(';')[0]!.trim();
            const a = await dryRunWrite(store, { method, kind, namespace: r.ns ? req.params.namespace : undefined, name: r.named ? req.params.name : undefined, contentType, body: req.body });
            return reply.code(a.code).type('application/json').send(a.body);
          }
          return refuse(reply, kind, r.ns ? req.params.namespace : undefined, r.named ? req.params.name : undefined);
        },
      });
    }
  }
  // Subresources (`scale`, `status`): writes are refused like the object's own.
  for (const r of routes.filter((x) => x.named)) {
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'] as const) {
      app.route<P>({
        method,
        url: `${r.path}/:subresource`,
        handler: async (req, reply) => {
          const kind = kindAt(reply, r.gv(req.params), req.params.resource!);
          if (!kind) return reply;
          return refuse(reply, kind, r.ns ? req.params.namespace : undefined, req.params.name);
        },
      });
    }
  }
  // `/api/v1/namespaces/<name>` is the Namespace itself.
  app.get<{ Params: { name: string } }>('/api/v1/namespaces/:name', async (req, reply) => getOne(req, reply, byPath.get('v1/namespaces')!, undefined, req.params.name));
}
