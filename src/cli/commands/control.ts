/**
 * Commands that steer a running gantry's sync through its API (the server `--kubeconfig` /
 * `--server` name, else the local gantry through `<data-dir>/kubeconfig`): `gantry suspend`,
 * `gantry resume` and `gantry sync --now [--force]`.
 */
import { ApiClient } from '../../api/client.js';
import type { SyncOutcome } from '../../sync/loop.js';
import { serverEndpoint, type RemoteOptions } from '../remote.js';

/** Options of the commands here. */
export type ControlOptions = RemoteOptions & { dataDir: string };

/** `gantry suspend` (`suspend` true) or `gantry resume`. */
export async function runSuspend(suspend: boolean, o: ControlOptions): Promise<{ output: string; exitCode: number }> {
  const action = suspend ? 'suspend' : 'resume';
  const client = new ApiClient(await serverEndpoint(o, action));
  const res = await client.json<{ suspended: boolean; by: string; at?: string }>(`/apis/gantry.dev/v1/${action}`, { method: 'POST', body: {} });
  return {
    output: res.suspended
      ? `sync suspended by ${res.by}${res.at ? ` at ${res.at}` : ''}: nothing is applied until gantry resume`
      : `sync resumed by ${res.by}: the revision in the repo is being applied`,
    exitCode: 0,
  };
}

/** What `POST /apis/gantry.dev/v1/sync` answers. */
interface SyncAnswer {
  outcome: SyncOutcome['outcome'];
  revision?: string;
  issues?: Array<{ file: string; line?: number; object?: string; message: string }>;
  error?: string;
  message?: string;
  until?: string;
}

/** `gantry sync --now [--force]`: one pass on the live server now; exit 0 applied or unchanged, else 1. */
export async function runSyncNow(o: ControlOptions & { force?: boolean }): Promise<{ output: string; exitCode: number }> {
  const client = new ApiClient(await serverEndpoint(o, 'sync --now'));
  const res = await client.json<SyncAnswer>('/apis/gantry.dev/v1/sync', { method: 'POST', body: { force: o.force === true } });
  const rev = res.revision?.slice(0, 7) ?? '?';
  switch (res.outcome) {
    case 'applied':
    case 'unchanged':
      return { output: `revision ${rev} ${res.outcome}`, exitCode: 0 };
    case 'held':
      return { output: `nothing applied: ${res.message ?? 'the sync is held'}`, exitCode: 1 };
    case 'rejected':
      return { output: `revision ${rev} rejected; nothing applied:\n${(res.issues ?? []).map((i) => `  ${i.line ? `${i.file} line ${i.line}` : i.file}: ${i.object ? `${i.object}: ` : ''}${i.message}`).join('\n')}`, exitCode: 1 };
    default:
      return { output: `sync failed: ${res.error ?? 'no reason given'}`, exitCode: 1 };
  }
}
