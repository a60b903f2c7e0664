/**
 * `gantry down`: removes what gantry runs on this machine — containers, pod networks and
 * volumes, the private containerd. The store, the audit trail and StatefulSet claim
 * directories stay, so the next `gantry up` starts the same apps again.
 */
import { createLogger } from '../../log.js';
import { takeDownLocalNode } from '../../node/host.js';

/** Runs `gantry down`. */
export async function runDown(o: { dataDir: string; containerdSocket?: string; bridge?: string }): Promise<{ output: string; exitCode: number }> {
  const logger = createLogger({ level: 'warn' });
  const res = await takeDownLocalNode({
    dataDir: o.dataDir,
    containerdSocket: o.containerdSocket,
    logger,
    network: o.bridge ? { bridgeName: o.bridge } : undefined,
  });
  const parts = [
    `${res.containers} container${res.containers === 1 ? '' : 's'} removed`,
    `${res.networks} pod network${res.networks === 1 ? '' : 's'} torn down`,
    res.containerdStopped ? 'private containerd stopped' : 'no private containerd was running',
  ];
  return { output: `${parts.join(', ')}. State and history stay in ${o.dataDir}.`, exitCode: 0 };
}
