/**
 * `gantry token create|list|revoke`: the API's bearer tokens, kept in `<data-dir>/tokens.json`.
 * They work on the file, so they work whether or not gantry runs; a running server sees the
 * change within a second.
 */
import { existsSync } from 'node:fs';
import { dataPaths } from '../../config.js';
import { GantryError } from '../../errors.js';
import { readKubeconfig, writeKubeconfig } from '../../api/auth/kubeconfig.js';
import { TOKEN_ROLES, TokenFile, type TokenRole } from '../../api/auth/tokens.js';
import { renderRows } from '../printers.js';

/** Options of `gantry token create`. */
export interface TokenCreateOptions {
  dataDir: string;
  role: string;
  /** For an agent token: its node. */
  node?: string;
  /** Also write a kubeconfig for the new token (server and CA from `<data-dir>/kubeconfig`). */
  kubeconfigOut?: string;
}

/** Makes a token and prints its secret (shown this once only). */
export async function runTokenCreate(name: string, o: TokenCreateOptions): Promise<{ output: string; exitCode: number }> {
  if (!TOKEN_ROLES.includes(o.role as TokenRole)) {
    throw new GantryError('InvalidArgument', `--role ${o.role}: must be one of ${TOKEN_ROLES.join(', ')}`, { field: 'role' });
  }
  const paths = dataPaths(o.dataDir);
  // The server's address and CA for --kubeconfig-out come from the admin kubeconfig gantry writes at start.
  const base = o.kubeconfigOut ? await readKubeconfig(paths.kubeconfig).catch(() => undefined) : undefined;
  if (o.kubeconfigOut && !base) {
    throw new GantryError('NotFound', `--kubeconfig-out needs the server's address and CA from ${paths.kubeconfig}, which gantry writes when its API starts; start gantry up once first`);
  }
  const secret = await new TokenFile(paths.tokens).create(name, o.role as TokenRole, o.node !== undefined ? { node: o.node } : {});
  if (o.kubeconfigOut && base) {
    await writeKubeconfig(o.kubeconfigOut, { server: base.server, ...(base.ca ? { ca: base.ca } : {}), token: secret, user: name });
    return { output: `token "${name}" (${o.role}) written to ${o.kubeconfigOut}`, exitCode: 0 };
  }
  return { output: secret, exitCode: 0 };
}

/** Lists tokens (names, roles, dates; never secrets). */
export async function runTokenList(o: { dataDir: string }): Promise<{ output: string; exitCode: number }> {
  const file = dataPaths(o.dataDir).tokens;
  if (!existsSync(file)) return { output: `No tokens yet: gantry makes the admin token when its API first starts (${file}).`, exitCode: 0 };
  const tokens = await new TokenFile(file).list();
  const rows = tokens.map((t) => [t.name, t.role, t.node ?? '', t.created.replace(/\.\d+Z$/, 'Z')]);
  return { output: renderRows(['NAME', 'ROLE', 'NODE', 'CREATED'], rows), exitCode: 0 };
}

/** Revokes a token by name. */
export async function runTokenRevoke(name: string, o: { dataDir: string }): Promise<{ output: string; exitCode: number }> {
  const removed = await new TokenFile(dataPaths(o.dataDir).tokens).revoke(name);
  if (!removed) return { output: `error: no token named "${name}"`, exitCode: 1 };
  return { output: `token "${name}" revoked`, exitCode: 0 };
}
