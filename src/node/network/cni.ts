/**
 * Invoking one CNI plugin the way the CNI spec says a runtime does: the plugin binary from the
 * plugin directory, the operation in `CNI_*` environment variables, the network configuration as
 * JSON on stdin, a JSON result (or a JSON error object) on stdout.
 */
import { access } from 'node:fs/promises';
import path from 'node:path';
import { GantryError } from '../../errors.js';
import { execTool } from './exec.js';

/** The CNI spec version gantry speaks (containernetworking-plugins ≥ 1.0 support it). */
export const CNI_VERSION = '1.0.0';

/** A CNI operation. */
export type CniCommand = 'ADD' | 'DEL' | 'CHECK';

/** One IP address of a CNI result. */
export interface CniIpConfig {
  /** Index into `interfaces`. */
  interface?: number;
  /** CIDR notation, e.g. `10.244.0.5/24`. */
  address: string;
  gateway?: string;
}

/** The result of an ADD, as defined by the CNI spec (the fields gantry reads). */
export interface CniResult {
  cniVersion: string;
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: CniIpConfig[];
  routes?: { dst: string; gw?: string }[];
  dns?: Record<string, unknown>;
}

/** A plugin's network configuration: at least `type`; `cniVersion` and `name` are filled in. */
export type CniNetConf = { type: string } & Record<string, unknown>;

/** Options for {@link invokeCni}. */
export interface CniInvocation {
  /** Directory holding the plugin binaries (CNI_PATH). */
  binDir: string;
  command: CniCommand;
  /** CNI_CONTAINERID: the key the plugins (host-local, portmap, bridge's ipMasq) file state under. */
  containerId: string;
  /** CNI_NETNS: path of the network namespace; may be empty for DEL when it is already gone. */
  netns: string;
  /** CNI_IFNAME inside the namespace. */
  ifName: string;
  /** The plugin's configuration (written to stdin). */
  config: CniNetConf;
  signal?: AbortSignal;
}

/**
 * Runs the plugin named by `config.type`. ADD resolves with the plugin's result; DEL and CHECK
 * with `undefined`. A plugin failure is a `NetworkSetupFailed` {@link GantryError} carrying the
 * plugin's own `msg` and `details` (CNI error object).
 */
export async function invokeCni(inv: CniInvocation): Promise<CniResult | undefined> {
  const plugin = inv.config.type;
  if (!/^[A-Za-z0-9_.-]+$/.test(plugin)) {
    throw new GantryError('InvalidArgument', `CNI plugin type "${plugin}" is not a plain program name`);
  }
  const bin = path.join(inv.binDir, plugin);
  try {
    await access(bin);
  } catch {
    throw new GantryError('NetworkSetupFailed', `CNI plugin "${plugin}" not found in ${inv.binDir} (install containernetworking-plugins or set cniBinDir)`, {
      disposition: 'stalled',
    });
  }
  const r = await execTool(bin, [], {
    input: JSON.stringify(inv.config),
    env: {
      CNI_COMMAND: inv.command,
      CNI_CONTAINERID: inv.containerId,
      CNI_NETNS: inv.netns,
      CNI_IFNAME: inv.ifName,
      CNI_PATH: inv.binDir,
    },
    signal: inv.signal,
  });
  if (r.code !== 0) {
    throw new GantryError('NetworkSetupFailed', `CNI ${plugin} ${inv.command} for ${inv.containerId} failed: ${describeCniError(r.stdout, r.stderr)}`);
  }
  if (inv.command !== 'ADD') return undefined;
  try {
    return JSON.parse(r.stdout) as CniResult;
  } catch (err) {
    throw new GantryError('NetworkSetupFailed', `CNI ${plugin} ADD for ${inv.containerId} printed no JSON result: ${r.stdout.slice(0, 200)}`, { cause: err });
  }
}

/** The message of a CNI error object (`{code, msg, details}`), or the raw output when it is not one. */
export function describeCniError(stdout: string, stderr: string): string {
  try {
    const e = JSON.parse(stdout) as { code?: number; msg?: string; details?: string };
    if (e && typeof e.msg === 'string') {
      return `${e.msg}${e.details ? `: ${e.details}` : ''}${e.code !== undefined ? ` (CNI error ${e.code})` : ''}`;
    }
  } catch {
    // not JSON: fall through to the raw text
  }
  return (stderr.trim() || stdout.trim() || 'no output').slice(0, 500);
}

/** The first IPv4 address of a result, without its prefix length. */
export function firstIPv4(result: CniResult | undefined): string | undefined {
  for (const ip of result?.ips ?? []) {
    const addr = ip.address.split('/')[0];
    if (addr && /^\d+\.\d+\.\d+\.\d+$/.test(addr)) return addr;
  }
  return undefined;
}
