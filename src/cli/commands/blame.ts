/**
 * `gantry blame KIND/NAME`: for each field of the live object, the desired commit (and its author)
 * that set it, or the controller or node that did, from the audit trail (src/audit/blame.ts) — on
 * the data directory, or through a server's `GET /apis/gantry.dev/v1/blame`.
 */
import { existsSync } from 'node:fs';
import pc from 'picocolors';
import type { BlameLine } from '../../audit/blame.js';
import { UNRECORDED } from '../../audit/blame.js';
import { personName } from '../../audit/message.js';
import { openRecorder } from '../../audit/recorder.js';
import { dataPaths } from '../../config.js';
import { GantryError } from '../../errors.js';
import { parseKey } from '../../model/keys.js';
import { remoteClient, type RemoteOptions } from '../remote.js';
import { historyKey, withStore } from './inspect.js';

/** Options of `gantry blame`. */
export interface BlameOptions extends RemoteOptions {
  dataDir: string;
  namespace?: string;
  output?: string;
}

/** Runs `gantry blame`; exit 0, or an error when the object has neither history nor a live copy. */
export async function runBlame(target: string, o: BlameOptions): Promise<{ output: string; exitCode: number }> {
  if (o.output !== undefined && o.output !== 'json') throw new GantryError('InvalidArgument', `-o ${o.output}: blame prints text, or json with -o json`);
  const key = historyKey(target, o.namespace);
  const client = await remoteClient(o);
  let lines: BlameLine[];
  if (client) {
    lines = await client.json<BlameLine[]>(`/apis/gantry.dev/v1/blame?${new URLSearchParams({ object: key })}`);
  } else {
    const path = dataPaths(o.dataDir).history;
    if (!existsSync(path)) throw new GantryError('NotFound', `no audit history in ${o.dataDir}; run gantry up first, pass --data-dir, or read a server with --kubeconfig / --server`);
    const live = existsSync(dataPaths(o.dataDir).store) ? await withStore(o.dataDir, (store) => store.get(parseKey(key))) : undefined;
    const recorder = await openRecorder(path, { readonly: true });
    try {
      lines = await recorder.blame(key, live ? { live } : {});
    } finally {
      await recorder.close();
    }
  }
  if (o.output === 'json') return { output: JSON.stringify(lines, null, 2), exitCode: 0 };
  return { output: renderBlame(lines), exitCode: 0 };
}

/**
 * `git blame`-style lines: commit (the desired commit for what Git set, else the status-branch
 * commit that recorded a controller's or node's write), who (the desired commit's author, else the
 * actor), when, then the field and its value.
 */
export function renderBlame(lines: readonly BlameLine[]): string {
  if (lines.length === 0) return 'No fields.';
  const who = (l: BlameLine): string => (l.desiredAuthor ? personName(l.desiredAuthor) : l.actor);
  const width = Math.min(32, Math.max(...lines.map((l) => who(l).length)));
  return lines.map((l) => {
    const commit = (l.desiredRevision ?? l.statusCommit ?? '').slice(0, 7).padEnd(7);
    const when = l.at ? l.at.replace('T', ' ').replace(/\.\d+Z$|Z$/, '') : ''.padEnd(19);
    const name = who(l).padEnd(width);
    const value = typeof l.value === 'string' ? l.value : JSON.stringify(l.value);
    const head = `${pc.yellow(commit)} (${l.actor === UNRECORDED ? pc.red(name) : pc.cyan(name)} ${pc.dim(when)})`;
    return `${head} ${l.path}: ${value}`;
  }).join('\n');
}
