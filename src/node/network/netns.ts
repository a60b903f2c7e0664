/**
 * Named network namespaces, as `ip netns` manages them: a file under `/run/netns/<name>` that a
 * bind mount keeps the namespace alive on, so it outlives every process in it (and the agent).
 */
import { access, readdir } from 'node:fs/promises';
import path from 'node:path';
import { mustExec } from './exec.js';

/** Where `ip netns` keeps namespace files. */
export const NETNS_DIR = '/run/netns';

/** Path of the namespace file for `name`. */
export function netnsPath(name: string): string {
  return path.join(NETNS_DIR, name);
}

/** True when the named namespace exists. */
export async function netnsExists(name: string): Promise<boolean> {
  try {
    await access(netnsPath(name));
    return true;
  } catch {
    return false;
  }
}

/** Creates the named namespace unless it exists; returns its path. */
export async function addNetns(name: string, opts: { signal?: AbortSignal } = {}): Promise<string> {
  if (!(await netnsExists(name))) await mustExec('ip', ['netns', 'add', name], opts);
  // `ip netns add` leaves lo down; the CNI loopback plugin brings it up.
  return netnsPath(name);
}

/** Deletes the named namespace; no error when it is already gone. */
export async function deleteNetns(name: string): Promise<void> {
  if (await netnsExists(name)) await mustExec('ip', ['netns', 'delete', name]);
}

/** Names of the namespaces whose names start with `prefix`. */
export async function listNetns(prefix: string): Promise<string[]> {
  try {
    return (await readdir(NETNS_DIR)).filter((n) => n.startsWith(prefix));
  } catch {
    return [];
  }
}
