/**
 * The CLI's remote mode: `--kubeconfig FILE` (kubectl's file: server, CA, token) or `--server
 * URL --token T`, for read commands against a gantry on another machine. Without either, a
 * command reads the local data directory.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { readKubeconfig } from '../api/auth/kubeconfig.js';
import { ApiClient, type ApiEndpoint } from '../api/client.js';
import { GantryError } from '../errors.js';

/** Options of commands that can read a remote gantry. */
export interface RemoteOptions {
  server?: string;
  token?: string;
  kubeconfig?: string;
  certificateAuthority?: string;
}

/** Adds `--server`, `--token`, `--kubeconfig` and `--certificate-authority`. */
export function withRemote(cmd: Command): Command {
  return cmd
    .addOption(new Option('--server <url>', 'read from the gantry API at URL instead of the data directory').env('GANTRY_SERVER'))
    .addOption(new Option('--token <token>', 'bearer token for --server').env('GANTRY_TOKEN'))
    .addOption(new Option('--kubeconfig <file>', 'server, CA and token from a kubeconfig (e.g. <data-dir>/kubeconfig)').env('GANTRY_KUBECONFIG'))
    .addOption(new Option('--certificate-authority <file>', 'CA certificate (PEM) the server\'s certificate chains to').env('GANTRY_CA'));
}

/** The endpoint the options name, or undefined for local mode. */
export async function remoteEndpoint(o: RemoteOptions): Promise<ApiEndpoint | undefined> {
  if (!o.server && !o.kubeconfig) return undefined;
  const fromFile = o.kubeconfig ? await readKubeconfig(o.kubeconfig) : undefined;
  const server = o.server ?? fromFile!.server;
  const token = o.token ?? fromFile?.token;
  if (!token) throw new GantryError('InvalidArgument', `--server ${server} needs a token: pass --token (or GANTRY_TOKEN), or --kubeconfig`, { field: 'token' });
  let ca = fromFile?.ca;
  if (o.certificateAuthority) {
    try {
      ca = await readFile(o.certificateAuthority, 'utf8');
    } catch (err) {
      throw new GantryError('InvalidArgument', `--certificate-authority ${o.certificateAuthority}: ${(err as Error).message}`, { field: 'certificateAuthority' });
    }
  }
  return { server: server.replace(/\/+$/, ''), token, ...(ca ? { ca } : {}) };
}

/** A client for the options' server, or undefined for local mode. */
export async function remoteClient(o: RemoteOptions): Promise<ApiClient | undefined> {
  const endpoint = await remoteEndpoint(o);
  return endpoint ? new ApiClient(endpoint) : undefined;
}

/**
 * The endpoint of the server the options name, else the local gantry's through
 * `<data-dir>/kubeconfig`: for commands that act on a running gantry (drain, suspend, sync --now).
 */
export async function serverEndpoint(o: RemoteOptions & { dataDir: string }, command: string): Promise<ApiEndpoint> {
  const local = join(o.dataDir, 'kubeconfig');
  const endpoint = await remoteEndpoint(o.server || o.kubeconfig ? o : { ...o, kubeconfig: existsSync(local) ? local : undefined });
  if (!endpoint) throw new GantryError('NotFound', `gantry ${command} goes through gantry's API, and there is no ${local}: start gantry up, or pass --kubeconfig / --server`);
  return endpoint;
}
