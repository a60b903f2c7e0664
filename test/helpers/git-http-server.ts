/**
 * A real Git smart-HTTP server for tests: node's http server in front of `git http-backend`
 * (the CGI shipped with Git), plus small helpers that build repositories with the `git` CLI.
 *
 * The server serves every repository under `root` (GIT_HTTP_EXPORT_ALL), accepts pushes
 * (http.receivepack), and optionally demands basic auth, so tests exercise the same protocol,
 * status codes and auth challenges a Git host would.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

const execFileAsync = promisify(execFile);

/** Credentials the server demands: a user and password, or a token given as the password. */
export type GitHttpAuth = { username: string; password: string } | { token: string };

/** Options for {@link startGitHttpServer}. */
export interface GitHttpServerOptions {
  /** Directory holding the (bare) repositories served, e.g. `<root>/app.git`. */
  root: string;
  /** When set, every request must carry these credentials (HTTP basic, or bearer for tokens). */
  auth?: GitHttpAuth;
}

/** A running server. */
export interface GitHttpServer {
  /** Base URL, e.g. `http://127.0.0.1:34567`; a repository is `${url}/app.git`. */
  url: string;
  /** Requests served so far (method and path), for tests that check what a client did. */
  requests: Array<{ method: string; path: string; status: number }>;
  /** Stops accepting connections and waits for running CGI processes to finish. */
  close(): Promise<void>;
}

/** Identity used for every commit the helpers make, so tests are reproducible. */
export const TEST_IDENTITY = { name: 'Test Author', email: 'author@example.com' };

let backendPath: Promise<string> | undefined;

/** Path of `git-http-backend`, found through `git --exec-path`. */
export function gitHttpBackendPath(): Promise<string> {
  backendPath ??= execFileAsync('git', ['--exec-path']).then(({ stdout }) =>
    path.join(stdout.trim(), 'git-http-backend'),
  );
  return backendPath;
}

function authorized(header: string | undefined, auth: GitHttpAuth): boolean {
  if (!header) return false;
  const space = header.indexOf(' ');
  const scheme = header.slice(0, space).toLowerCase();
  const value = header.slice(space + 1).trim();
  if ('token' in auth && scheme === 'bearer') return value === auth.token;
  if (scheme !== 'basic') return false;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return false;
  const user = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  // Git hosts accept a token as the password with any (or a conventional) user name.
  if ('token' in auth) return password === auth.token;
  return user === auth.username && password === auth.password;
}

/** Splits the CGI header block from the body; undefined until the blank line has arrived. */
function splitCgiHeaders(buf: Buffer): { headers: string; rest: Buffer } | undefined {
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  if (crlf < 0 && lf < 0) return undefined;
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { headers: buf.subarray(0, crlf).toString('latin1'), rest: buf.subarray(crlf + 4) };
  return { headers: buf.subarray(0, lf).toString('latin1'), rest: buf.subarray(lf + 2) };
}

/**
 * Starts a smart-HTTP Git server on 127.0.0.1 (a free port) serving the repositories under
 * `opts.root` through the real `git http-backend`.
 */
export async function startGitHttpServer(opts: GitHttpServerOptions): Promise<GitHttpServer> {
  const backend = await gitHttpBackendPath();
  const children = new Set<ReturnType<typeof spawn>>();
  const requests: GitHttpServer['requests'] = [];

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const record = (status: number): void => {
      requests.push({ method: req.method ?? 'GET', path: url.pathname + url.search, status });
    };

    if (opts.auth && !authorized(req.headers.authorization, opts.auth)) {
      record(401);
      req.resume();
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="gantry test git"', 'Content-Type': 'text/plain' });
      res.end('authentication required\n');
      return;
    }

    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      GIT_PROJECT_ROOT: opts.root,
      GIT_HTTP_EXPORT_ALL: '1',
      // Without REMOTE_USER http-backend refuses pushes unless receivepack is enabled explicitly.
      GIT_CONFIG_COUNT: '2',
      GIT_CONFIG_KEY_0: 'http.receivepack',
      GIT_CONFIG_VALUE_0: 'true',
      GIT_CONFIG_KEY_1: 'safe.directory',
      GIT_CONFIG_VALUE_1: '*',
      GATEWAY_INTERFACE: 'CGI/1.1',
      SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
      SERVER_SOFTWARE: 'gantry-test',
      REQUEST_METHOD: req.method ?? 'GET',
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.startsWith('?') ? url.search.slice(1) : '',
      REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
      REMOTE_USER: opts.auth ? 'test' : undefined,
      CONTENT_TYPE: req.headers['content-type'] ?? '',
    };
    if (req.headers['git-protocol']) env.GIT_PROTOCOL = String(req.headers['git-protocol']);
    // The body is streamed to the CGI already decompressed and without a length: http-backend
    // then reads stdin to EOF, which also covers clients that send chunked bodies.
    const encoding = (req.headers['content-encoding'] ?? '').toLowerCase();

    const child = spawn(backend, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });

    let head = Buffer.alloc(0);
    let headersDone = false;
    child.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const split = splitCgiHeaders(head);
      if (!split) return;
      headersDone = true;
      let status = 200;
      let statusText = 'OK';
      const headers: Record<string, string> = {};
      for (const line of split.headers.split(/\r?\n/)) {
        const colon = line.indexOf(':');
        if (colon <= 0) continue;
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === 'status') {
          const m = /^(\d{3})\s*(.*)$/.exec(value);
          if (m) {
            status = Number(m[1]);
            statusText = m[2] || statusText;
          }
        } else {
          headers[name] = value;
        }
      }
      record(status);
      res.writeHead(status, statusText, headers);
      if (split.rest.length) res.write(split.rest);
    });
    child.on('close', (code) => {
      children.delete(child);
      if (!headersDone) {
        record(500);
        res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end(`git http-backend failed (exit ${code}): ${stderr}`);
        return;
      }
      res.end();
    });
    child.on('error', (err) => {
      children.delete(child);
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end(String(err));
    });
    // A client that hangs up early must not leave the CGI blocked on a full pipe.
    child.stdin.on('error', () => undefined);
    res.on('close', () => {
      if (child.exitCode === null && child.signalCode === null && !res.writableFinished) child.kill('SIGTERM');
    });

    const body = encoding === 'gzip' || encoding === 'x-gzip' ? req.pipe(zlib.createGunzip()) : req;
    body.on('error', () => child.stdin.destroy());
    body.pipe(child.stdin);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all(
        [...children].map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              child.once('close', () => resolve());
              child.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}

/** Runs `git` with the test identity; resolves with trimmed stdout. */
export async function git(cwd: string, args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(
    'git',
    ['-c', `user.name=${TEST_IDENTITY.name}`, '-c', `user.email=${TEST_IDENTITY.email}`, '-c', 'init.defaultBranch=main', '-c', 'commit.gpgsign=false', '-c', 'tag.gpgsign=false', '-c', 'gc.auto=0', '-c', 'maintenance.auto=false', ...args],
    { cwd, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1' } },
  );
  return stdout.trim();
}

/**
 * Writes files (path → content; `null` deletes) into a work tree. Values starting with
 * `symlink:` create a symbolic link to the rest of the string.
 */
export async function writeFiles(dir: string, files: Record<string, string | null>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(dir, rel);
    if (content === null) {
      await rm(file, { force: true, recursive: true });
      continue;
    }
    await mkdir(path.dirname(file), { recursive: true });
    await rm(file, { force: true });
    if (content.startsWith('symlink:')) {
      const { symlink } = await import('node:fs/promises');
      await symlink(content.slice('symlink:'.length), file);
    } else {
      await writeFile(file, content);
    }
  }
}

/**
 * Initialises a non-bare repository at `dir` (branch `main`), commits `files` and returns the
 * commit id.
 */
export async function makeRepo(dir: string, files: Record<string, string | null>, message = 'initial'): Promise<string> {
  await mkdir(dir, { recursive: true });
  await git(dir, ['init', '-q', '-b', 'main']);
  await writeFiles(dir, files);
  await git(dir, ['add', '-A']);
  await git(dir, ['commit', '-q', '--allow-empty', '-m', message]);
  return git(dir, ['rev-parse', 'HEAD']);
}

/** Writes `files` in `dir`, commits them on the current branch and returns the commit id. */
export async function commitFiles(dir: string, files: Record<string, string | null>, message: string): Promise<string> {
  await writeFiles(dir, files);
  await git(dir, ['add', '-A']);
  await git(dir, ['commit', '-q', '--allow-empty', '-m', message]);
  return git(dir, ['rev-parse', 'HEAD']);
}

/**
 * Creates `<root>/<name>.git` as a bare copy of the work tree at `workDir` (all branches and
 * tags), and sets it as the work tree's `origin` so {@link pushFiles} can push to it.
 * Returns the repository's path under the server, e.g. `/app.git`.
 */
export async function publishRepo(workDir: string, root: string, name: string): Promise<string> {
  const bare = path.join(root, `${name}.git`);
  await rm(bare, { recursive: true, force: true });
  await git(root, ['clone', '-q', '--bare', workDir, bare]);
  await git(bare, ['config', 'http.receivepack', 'true']);
  await git(workDir, ['remote', 'remove', 'origin']).catch(() => undefined);
  await git(workDir, ['remote', 'add', 'origin', bare]);
  return `/${name}.git`;
}

/**
 * Commits `files` in `workDir` and pushes the current branch (or `opts.branch`, created from
 * the current commit when new) to `origin` — or to `opts.remote` (a path or URL).
 */
export async function pushFiles(
  workDir: string,
  files: Record<string, string | null>,
  message: string,
  opts: { branch?: string; remote?: string } = {},
): Promise<string> {
  if (opts.branch) await git(workDir, ['checkout', '-q', '-B', opts.branch]);
  const commit = await commitFiles(workDir, files, message);
  const branch = opts.branch ?? (await git(workDir, ['rev-parse', '--abbrev-ref', 'HEAD']));
  await git(workDir, ['push', '-q', opts.remote ?? 'origin', `HEAD:refs/heads/${branch}`]);
  return commit;
}

/** A temp directory removed by the returned `cleanup`. */
export async function tempDir(prefix = 'gantry-test-'): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
