/**
 * Keeping a set of iptables chains equal to a computed one, level-triggered: the service proxy
 * and the NetworkPolicy enforcer each own a prefix of chain names and describe the whole set
 * ({@link RenderedTable}); a sync replaces every chain of the prefix with one
 * `iptables-restore --noflush` per table (atomic: no moment without rules), deleting chains no
 * longer wanted, then makes sure the built-in chains jump into it. Syncs never overlap; changes
 * during one cause exactly one more; a failed sync is retried after a second.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../../log.js';
import { execTool, mustExec } from '../network/exec.js';
import { parseIptables } from '../network/iptables.js';

/**
 * A prefix of chain names for one node network (7 characters): `tag` (two letters: `GS` for
 * Services, `GP` for policies) and a hash of the network's name.
 */
export function chainPrefix(tag: string, networkName: string): string {
  return `${tag}${createHash('sha256').update(networkName).digest('hex').slice(0, 5)}`;
}

/** 14 characters naming a chain for `text` (a prefix and a letter before it stay within 28). */
export function chainHash(text: string): string {
  return createHash('sha256').update(text).digest('base64url').replace(/[-_]/g, 'x').slice(0, 14).toUpperCase();
}

/** One table's restore input and the chains it declares. */
export interface RenderedTable {
  text: string;
  chains: string[];
}

/** A jump from a built-in chain into the set: table, chain, rule arguments. */
export type Jump = [table: string, chain: string, args: string[]];

/** The chains of `prefix` present in the kernel now, per table. */
export async function existingChains(prefix: string, tables: readonly string[]): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const t of tables) {
    out[t] = [...parseIptables(await mustExec('iptables', ['-w', '-t', t, '-S'])).chains].filter((c) => c.startsWith(`${prefix}-`));
  }
  return out;
}

/** Restore input declaring (and so emptying) `chains`, their rules, and deleting stale chains. */
export function restoreInput(table: string, chains: readonly string[], rules: readonly string[][], existing: readonly string[]): string {
  const want = new Set(chains);
  const stale = existing.filter((c) => !want.has(c));
  const lines = [`*${table}`, ...chains.map((c) => `:${c} - [0:0]`), ...stale.map((c) => `:${c} - [0:0]`), ...rules.map((r) => r.join(' ')), ...stale.map((c) => `-X ${c}`), 'COMMIT', ''];
  return lines.join('\n');
}

/** Options of {@link ChainSync}. */
export interface ChainSyncOptions {
  prefix: string;
  tables: readonly string[];
  /** The wanted tables, given the chains of the prefix the kernel has now. */
  render(existing: Record<string, string[]>): Record<string, RenderedTable>;
  jumps: readonly Jump[];
  logger: Logger;
}

/** Keeps one prefix's chains in step; see the module comment. */
export class ChainSync {
  private readonly o: ChainSyncOptions;
  private running?: Promise<void>;
  private again = false;
  private stopped = false;
  private applied: Record<string, string> = {};
  private chains: Record<string, string[]> = {};
  private jumpsReady = false;
  private writes = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(opts: ChainSyncOptions) {
    this.o = opts;
  }

  /** Reads what the kernel has, then syncs once. */
  async start(): Promise<void> {
    this.chains = await existingChains(this.o.prefix, this.o.tables);
    const done = this.synced();
    this.requestSync();
    await done;
  }

  /** Stops syncing; the rules stay. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running?.catch(() => undefined);
  }

  /** Resolves after the next sync that starts after this call has finished (call, then request). */
  synced(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** How many table writes were made (for tests and benches). */
  get writeCount(): number {
    return this.writes;
  }

  /** Asks for a sync; coalesces with one that is running. */
  requestSync(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.runSyncs();
  }

  private async runSyncs(): Promise<void> {
    for (;;) {
      this.again = false;
      const waiting = this.waiters.splice(0);
      try {
        await this.sync();
      } catch (err) {
        this.o.logger.error({ err }, `${this.o.prefix} rules not applied; retrying in 1 s`);
        setTimeout(() => this.requestSync(), 1000).unref();
      }
      for (const w of waiting) w();
      // Checked and cleared in one step: a request between the two would otherwise be lost.
      if (!this.again || this.stopped) {
        this.running = undefined;
        return;
      }
    }
  }

  private async sync(): Promise<void> {
    const tables = this.o.render(this.chains);
    for (const [table, t] of Object.entries(tables)) {
      if (t.text === this.applied[table]) continue;
      const r = await execTool('iptables-restore', ['-w', '--noflush'], { input: t.text });
      if (r.code !== 0) throw new Error(`iptables-restore (${table}) failed: ${r.stderr.trim()}`);
      this.applied[table] = t.text;
      this.chains[table] = t.chains;
      this.writes++;
    }
    // Chains first, then the jumps into them (a jump needs its chain).
    if (!this.jumpsReady) {
      for (const [table, chain, args] of this.o.jumps) {
        if ((await execTool('iptables', ['-w', '-t', table, '-C', chain, ...args])).code !== 0) await mustExec('iptables', ['-w', '-t', table, '-I', chain, '1', ...args]);
      }
      this.jumpsReady = true;
    }
  }
}

/** Removes a prefix's jumps, then its chains (`gantry down`). */
export async function removeChains(prefix: string, tables: readonly string[], jumps: readonly Jump[]): Promise<void> {
  for (const [table, chain, args] of jumps) {
    while ((await execTool('iptables', ['-w', '-t', table, '-D', chain, ...args])).code === 0);
  }
  const chains = await existingChains(prefix, tables);
  for (const table of tables) {
    for (const c of chains[table] ?? []) await execTool('iptables', ['-w', '-t', table, '-F', c]);
    for (const c of chains[table] ?? []) await execTool('iptables', ['-w', '-t', table, '-X', c]);
  }
}
