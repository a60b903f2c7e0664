/**
 * A Docker Registry HTTP API v2 client: manifests (OCI and Docker media types) with digest checks,
 * blobs streamed by digest, and anonymous, basic and bearer-token auth.
 *
 * Transport: HTTPS, except plain HTTP for hosts listed as insecure and for loopback hosts
 * (`localhost`, 127.0.0.0/8, `::1`), which Docker also treats as insecure by default.
 */
import { createHash } from 'node:crypto';
import { GantryError } from '../../errors.js';
import { registryApiHost, registryHostname, DOCKER_HUB } from './reference.js';

/** Media types gantry understands. */
export const MediaTypes = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

const MANIFEST_ACCEPT = [MediaTypes.ociIndex, MediaTypes.ociManifest, MediaTypes.dockerList, MediaTypes.dockerManifest].join(', ');

/** Username and password for one registry. */
export interface RegistryCredentials {
  username: string;
  password: string;
}

/** Credentials keyed by registry host (`docker.io`, `localhost:5000`). */
export type CredentialsByHost = Record<string, RegistryCredentials>;

/** Options for {@link RegistryClient}. */
export interface RegistryClientOptions {
  /** Registry host as in the image reference, e.g. `docker.io` or `localhost:5000`. */
  registry: string;
  credentials?: RegistryCredentials;
  /** Hosts (with port when not default) allowed over plain HTTP, in addition to loopback. */
  insecureRegistries?: string[];
  signal?: AbortSignal;
}

/** A fetched manifest or index, verified against its digest. */
export interface FetchedManifest {
  mediaType: string;
  digest: string;
  size: number;
  body: Buffer;
}

/**
 * Parses the `.dockerconfigjson` of a `kubernetes.io/dockerconfigjson` Secret (text or bytes;
 * base64 decoding of Secret `data` is the caller's) into credentials by registry host.
 * Accepts `auth` (base64 `user:password`) or `username`/`password`; keys like
 * `https://index.docker.io/v1/` map to `docker.io`.
 * @throws GantryError InvalidArgument when the document is not a docker config.
 */
export function parseDockerConfigJson(secretData: string | Buffer): CredentialsByHost {
  let doc: unknown;
  try {
    doc = JSON.parse(secretData.toString());
  } catch (err) {
    throw new GantryError('InvalidArgument', `.dockerconfigjson is not valid JSON: ${(err as Error).message}`);
  }
  const auths = (doc as { auths?: unknown })?.auths;
  if (!auths || typeof auths !== 'object') throw new GantryError('InvalidArgument', '.dockerconfigjson has no "auths" object');
  const out: CredentialsByHost = {};
  for (const [key, entry] of Object.entries(auths as Record<string, Record<string, unknown>>)) {
    let username = typeof entry?.username === 'string' ? entry.username : '';
    let password = typeof entry?.password === 'string' ? entry.password : '';
    if (typeof entry?.auth === 'string' && entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const sep = decoded.indexOf(':');
      if (sep < 0) throw new GantryError('InvalidArgument', `.dockerconfigjson entry "${key}": auth is not base64 of user:password`);
      username = decoded.slice(0, sep);
      password = decoded.slice(sep + 1);
    }
    if (!username) continue;
    out[normalizeRegistryKey(key)] = { username, password };
  }
  return out;
}

/** `https://index.docker.io/v1/` → `docker.io`; `http://host:5000/x` → `host:5000`. */
export function normalizeRegistryKey(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//, '').replace(/\/.*$/, '');
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? DOCKER_HUB : host;
}

/** True for hosts plain HTTP is allowed to. */
export function isInsecureRegistry(registry: string, insecure: string[] = []): boolean {
  if (insecure.includes(registry)) return true;
  const host = registryHostname(registry);
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The failure of one registry request, shaped into an ImagePullFailed message. */
function pullError(what: string, message: string, cause?: unknown): GantryError {
  return new GantryError('ImagePullFailed', what ? `${what}: ${message}` : message, { cause });
}

/** Talks to one registry for one repository pull. Tokens are cached per scope. */
export class RegistryClient {
  private readonly opts: RegistryClientOptions;
  private readonly base: string;
  private readonly tokens = new Map<string, string>();
  private authHeader?: string;

  constructor(opts: RegistryClientOptions) {
    this.opts = opts;
    const scheme = isInsecureRegistry(opts.registry, opts.insecureRegistries) ? 'http' : 'https';
    this.base = `${scheme}://${registryApiHost(opts.registry)}`;
  }

  /**
   * GETs the manifest or index `reference` (tag or digest) of `repository`, checking
   * Docker-Content-Digest and, for digest references, that the body hashes to it.
   */
  async getManifest(repository: string, reference: string): Promise<FetchedManifest> {
    // The caller names the image; registry messages ("manifest unknown") speak for themselves.
    const what = '';
    const res = await this.request(repository, `/v2/${repository}/manifests/${reference}`, { Accept: MANIFEST_ACCEPT }, what);
    const body = Buffer.from(await res.arrayBuffer());
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    const header = res.headers.get('docker-content-digest');
    if (header && header.startsWith('sha256:') && header !== digest) {
      throw pullError(what, `manifest digest mismatch: registry says ${header}, body is ${digest}`);
    }
    if (reference.startsWith('sha256:') && reference !== digest) {
      throw pullError(what, `manifest ${reference} digest mismatch: got ${digest}`);
    }
    let mediaType = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
    try {
      const parsed = JSON.parse(body.toString()) as { mediaType?: string; manifests?: unknown };
      if (parsed.mediaType) mediaType = parsed.mediaType;
      else if (!mediaType || mediaType === 'application/json') mediaType = parsed.manifests ? MediaTypes.ociIndex : MediaTypes.ociManifest;
    } catch {
      throw pullError(what, `registry returned a manifest for ${reference} that is not JSON`);
    }
    return { mediaType, digest, size: body.length, body };
  }

  /** GETs blob `digest` of `repository` as a byte stream (redirects followed). Verification is the consumer's. */
  async getBlob(repository: string, digest: string, what = 'blob'): Promise<AsyncIterable<Uint8Array>> {
    const res = await this.request(repository, `/v2/${repository}/blobs/${digest}`, {}, `${what} ${digest}`);
    if (!res.body) throw pullError(`${what} ${digest}`, 'registry returned no body');
    return res.body as unknown as AsyncIterable<Uint8Array>;
  }

  /** A GET with auth negotiation: on 401, basic or bearer auth per WWW-Authenticate, then one retry. */
  private async request(repository: string, pathname: string, headers: Record<string, string>, what: string): Promise<Response> {
    const scope = `repository:${repository}:pull`;
    const url = this.base + pathname;
    const auth = this.tokens.get(scope) ?? this.authHeader;
    let res = await this.fetch(url, { ...headers, ...(auth ? { Authorization: auth } : {}) }, what);
    if (res.status === 401) {
      const challenge = res.headers.get('www-authenticate') ?? '';
      await res.body?.cancel();
      const header = await this.authorize(challenge, scope, what, res);
      res = await this.fetch(url, { ...headers, Authorization: header }, what);
    }
    if (!res.ok) throw pullError(what, await describeFailure(res));
    return res;
  }

  private async authorize(challenge: string, scope: string, what: string, first: Response): Promise<string> {
    const creds = this.opts.credentials;
    const scheme = challenge.split(' ')[0]!.toLowerCase();
    if (scheme === 'basic') {
      if (!creds) throw pullError(what, `unauthorized: ${this.opts.registry} requires credentials (add an imagePullSecret)`);
      this.authHeader = basic(creds);
      return this.authHeader;
    }
    if (scheme === 'bearer') {
      const params = parseChallenge(challenge.slice(challenge.indexOf(' ') + 1));
      if (!params.realm) throw pullError(what, `unauthorized: bearer challenge without realm from ${this.opts.registry}`);
      const tokenUrl = new URL(params.realm);
      if (params.service) tokenUrl.searchParams.set('service', params.service);
      tokenUrl.searchParams.set('scope', params.scope ?? scope);
      const res = await this.fetch(tokenUrl.toString(), creds ? { Authorization: basic(creds) } : {}, what ? `token for ${what}` : 'token request');
      if (!res.ok) throw pullError(what, `token request to ${tokenUrl.origin} failed: ${await describeFailure(res)}`);
      const body = (await res.json().catch(() => ({}))) as { token?: string; access_token?: string };
      const token = body.token ?? body.access_token;
      if (!token) throw pullError(what, `token response from ${tokenUrl.origin} has no token`);
      const header = `Bearer ${token}`;
      this.tokens.set(scope, header);
      return header;
    }
    throw pullError(what, `unauthorized: ${await describeFailure(first)}`);
  }

  private async fetch(url: string, headers: Record<string, string>, what: string): Promise<Response> {
    try {
      return await fetch(url, { headers, redirect: 'follow', signal: this.opts.signal });
    } catch (err) {
      const cause = (err as { cause?: { message?: string; code?: string } }).cause;
      throw pullError(what, `cannot reach ${new URL(url).host}: ${cause?.code ?? cause?.message ?? (err as Error).message}`, err);
    }
  }
}

function basic(c: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

/** `realm="https://auth",service="reg",scope="repository:x:pull"` → record. */
export function parseChallenge(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([a-zA-Z_]+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (let m = re.exec(text); m; m = re.exec(text)) out[m[1]!.toLowerCase()] = m[2] ?? m[3] ?? '';
  return out;
}

/** The registry's own words for a failed response: `errors[].code/message`, else the status. */
async function describeFailure(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { errors?: { code?: string; message?: string; detail?: unknown }[] };
    if (body.errors?.length) {
      return body.errors
        .map((e) => {
          const code = (e.code ?? '').toLowerCase().replace(/_/g, ' ');
          const msg = e.message ?? '';
          return code && msg && code !== msg ? `${msg} (${e.code})` : msg || code;
        })
        .join('; ');
    }
  } catch {
    // not JSON: fall through to the status line
  }
  return `HTTP ${res.status} ${res.statusText}${text && text.length < 200 ? `: ${text.trim()}` : ''}`;
}
