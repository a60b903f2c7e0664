/**
 * `gantry agent --server URL --token T` (or `--kubeconfig`): runs this machine as a node of a
 * gantry server until SIGINT/SIGTERM. Pods keep running when it stops; the next start adopts them.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../log.js';
import { GantryError } from '../../errors.js';
import { startRemoteAgent } from '../../remote-agent.js';
import { positiveDuration } from '../options.js';
import { remoteEndpoint, type RemoteOptions } from '../remote.js';
import { untilStopSignal } from '../signals.js';

/** Options of `gantry agent`. */
export interface AgentOptions extends RemoteOptions {
  dataDir: string;
  nodeName?: string;
  containerdSocket?: string;
  podCidr?: string;
  clusterCidr?: string;
  serviceCidr?: string;
  bridge?: string;
  imagesDir?: string;
  insecureRegistries?: string;
  /** Heartbeat period in seconds (text from the command line). */
  nodeStatusUpdateFrequency?: string;
  /** How often usage is reported (a duration, text from the command line). */
  metricResolution?: string;
  logLevel?: string;
}

/** Starts the agent and waits for a signal. */
export async function runAgent(o: AgentOptions): Promise<void> {
  const heartbeatMs = o.nodeStatusUpdateFrequency === undefined ? undefined : heartbeatPeriod(o.nodeStatusUpdateFrequency);
  const endpoint = await remoteEndpoint(o);
  if (!endpoint) throw new GantryError('InvalidArgument', 'gantry agent needs the server: --server URL --token T (an agent token: gantry token create NAME --role agent --node NODE), or --kubeconfig', { field: 'server' });
  const logFile = join(o.dataDir, 'agent.log');
  const logger = createLogger({ level: o.logLevel, file: logFile });
  const nodeName = o.nodeName ?? hostname();
  process.stderr.write(`gantry agent — node ${nodeName}, server ${endpoint.server}, data in ${o.dataDir}, log in ${logFile}\n`);
  const agent = await startRemoteAgent({
    endpoint,
    nodeName,
    dataDir: o.dataDir,
    logger,
    containerdSocket: o.containerdSocket,
    imagesDir: o.imagesDir,
    insecureRegistries: o.insecureRegistries?.split(',').map((h) => h.trim()).filter((h) => h !== ''),
    serviceCidr: o.serviceCidr,
    tuning: {
      ...(heartbeatMs !== undefined ? { heartbeatMs } : {}),
      ...(o.metricResolution !== undefined ? { usagePeriodMs: positiveDuration(o.metricResolution, '--metric-resolution') } : {}),
    },
    network: { ...(o.bridge ? { bridgeName: o.bridge } : {}), ...(o.podCidr ? { podCidr: o.podCidr } : {}), ...(o.clusterCidr ? { clusterCidr: o.clusterCidr } : {}) },
  });
  process.stderr.write(`✔ node ${agent.node.nodeName} running (containerd ${agent.node.containerdAddress}); Ctrl-C stops the agent, pods keep running\n`);
  await untilStopSignal();
  await agent.stop();
  process.stderr.write('✔ agent stopped\n');
}

/** `--node-status-update-frequency`: positive seconds, at most an hour. */
function heartbeatPeriod(text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 3600) {
    throw new GantryError('InvalidArgument', `--node-status-update-frequency "${text}" is not a number of seconds between 0 and 3600`, { field: 'node-status-update-frequency' });
  }
  return Math.round(n * 1000);
}
