/**
 * Bearer tokens of the API: `<data-dir>/tokens.json` keeps, per token, a name, a role and the
 * SHA-256 of the secret (never the secret: a copy of the file opens nothing). The admin token is
 * made at first start and handed out only through `<data-dir>/kubeconfig`; `gantry token create`
 * makes more. The file is the only state, so the commands work whether or not gantry runs, and a
 * running server sees a new or revoked token within a second.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { GantryError } from '../../errors.js';
import { validateDns1123Label } from '../../model/names.js';
import { writeSecret } from './pki.js';

/**
 * What a token may do. `read-only` reads everything but Secrets and cannot exec, forward or
 * trigger syncs; `agent` is a node agent's: its own node's pods and what they refer to, and the
 * Services view every node needs (see ./guard.ts).
 */
export type TokenRole = 'admin' | 'read-only' | 'agent';
export const TOKEN_ROLES: readonly TokenRole[] = ['admin', 'read-only', 'agent'];

/** One token as the file keeps it. */
export interface TokenRecord {
  name: string;
  role: TokenRole;
  /** The node an `agent` token acts for. */
  node?: string;
  /** hex SHA-256 of the secret. */
  sha256: string;
  created: string;
}

/** Who a request is, once its token checked out. */
export interface Identity {
  /** The token's name, or a service account's user name (`system:serviceaccount:<ns>:<name>`). */
  name: string;
  /** The token's role; `service-account` for a service account's token, which RBAC authorizes. */
  role: TokenRole | 'service-account';
  /** For an `agent` token: the node it acts for. */
  node?: string;
  /** The groups RBAC matches (service accounts: theirs, their namespace's, every authenticated user's). */
  groups?: string[];
  /** For a service account's token: the account's uid, and the pod it is bound to. */
  uid?: string;
  pod?: { name: string; uid: string };
}

/** The name of the token made at first start. */
export const ADMIN_TOKEN_NAME = 'admin';

const hash = (secret: string): string => createHash('sha256').update(secret).digest('hex');

/** The tokens of one data directory. */
export class TokenFile {
  private records: TokenRecord[] = [];
  private byHash = new Map<string, TokenRecord>();
  private mtimeMs = -1;
  private checkedAt = 0;

  constructor(readonly file: string) {}

  /** Every token, secrets not included. */
  async list(): Promise<TokenRecord[]> {
    await this.load();
    return [...this.records];
  }

  /**
   * Makes a token and returns its secret, the only time it is ever shown.
   * @throws GantryError InvalidArgument for a bad name or role, Conflict when the name is taken.
   */
  async create(name: string, role: TokenRole, opts: { node?: string } = {}): Promise<string> {
    const bad = validateDns1123Label(name);
    if (bad) throw new GantryError('InvalidArgument', `token name "${name}": ${bad}`, { field: 'name' });
    if (!TOKEN_ROLES.includes(role)) throw new GantryError('InvalidArgument', `token role "${role}": must be one of ${TOKEN_ROLES.join(', ')}`, { field: 'role' });
    if ((role === 'agent') !== (opts.node !== undefined)) {
      throw new GantryError('InvalidArgument', role === 'agent' ? 'an agent token needs the node it acts for (--node NAME)' : `only an agent token names a node (role ${role})`, { field: 'node' });
    }
    await this.load();
    if (this.records.some((r) => r.name === name)) throw new GantryError('Conflict', `a token named "${name}" exists already; revoke it first or choose another name`);
    const secret = `gantry-${randomBytes(24).toString('base64url')}`;
    this.records.push({ name, role, ...(opts.node ? { node: opts.node } : {}), sha256: hash(secret), created: new Date().toISOString() });
    await this.save();
    return secret;
  }

  /** Removes the token `name`; false when there was none. */
  async revoke(name: string): Promise<boolean> {
    await this.load();
    const before = this.records.length;
    this.records = this.records.filter((r) => r.name !== name);
    if (this.records.length === before) return false;
    await this.save();
    return true;
  }

  /**
   * The identity of a presented secret, or undefined. Rereads the file when it changed, at most
   * once a second, so a token made or revoked by `gantry token` takes effect without a restart.
   */
  authenticate(secret: string): Identity | undefined {
    this.refresh();
    const r = this.byHash.get(hash(secret));
    return r ? { name: r.name, role: r.role, ...(r.node ? { node: r.node } : {}) } : undefined;
  }

  private refresh(): void {
    const now = Date.now();
    if (now - this.checkedAt < 1000) return;
    this.checkedAt = now;
    let mtime: number;
    try {
      mtime = statSync(this.file).mtimeMs;
    } catch {
      this.index([]);
      return;
    }
    if (mtime === this.mtimeMs) return;
    try {
      this.index(parse(readFileSync(this.file, 'utf8'), this.file));
      this.mtimeMs = mtime;
    } catch {
      // A half-written or hand-broken file: keep the tokens we knew rather than lock everyone out.
    }
  }

  private async load(): Promise<void> {
    this.index(existsSync(this.file) ? parse(await readFile(this.file, 'utf8'), this.file) : []);
    this.checkedAt = 0;
  }

  private async save(): Promise<void> {
    await writeSecret(this.file, `${JSON.stringify({ tokens: this.records }, null, 2)}\n`);
    this.index(this.records);
    this.checkedAt = 0;
  }

  private index(records: TokenRecord[]): void {
    this.records = records;
    this.byHash = new Map(records.map((r) => [r.sha256, r]));
  }
}

function parse(text: string, file: string): TokenRecord[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new GantryError('InvalidArgument', `${file}: not JSON (${(err as Error).message})`);
  }
  const tokens = (doc as { tokens?: unknown }).tokens;
  if (!Array.isArray(tokens)) throw new GantryError('InvalidArgument', `${file}: expected {"tokens": [...]}`);
  return tokens.map((t, i) => {
    const r = t as Partial<TokenRecord>;
    if (typeof r.name !== 'string' || typeof r.sha256 !== 'string' || !TOKEN_ROLES.includes(r.role as TokenRole)) {
      throw new GantryError('InvalidArgument', `${file}: tokens[${i}] needs a name, a sha256 and a role (${TOKEN_ROLES.join(' or ')})`, { field: `tokens[${i}]` });
    }
    return { name: r.name, role: r.role as TokenRole, ...(typeof r.node === 'string' ? { node: r.node } : {}), sha256: r.sha256, created: r.created ?? '' };
  });
}
