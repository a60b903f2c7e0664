/**
 * `gantry agent --server URL --token T` (or `--kubeconfig`): runs this machine as a node of a
 * gantry server until SIGINT/SIGTERM. Pods keep running when it stops; the next start adopts them.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { listenOrOff } from '../../app.js';
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
  /** Where the kubelet endpoint listens (`host:port`). */
  kubeletListen?: string;
  /** Heartbeat period in seconds (text from the command line). */
  nodeStatusUpdateFrequency?: string;
  /** host:port for `GET /metrics`, or `off`. */
  metricsListen?: string;
  /** How often usage is reported (a duration, text from the command line). */
  metricResolution?: string;
  logLevel?: string;
}

/** Where `gantry agent` serves its metrics by default: loopback, the kubelet's old read-only port. */
export const DEFAULT_AGENT_METRICS_LISTEN = '127.0.0.1:10255';

/** Starts the agent and waits for a signal. */
export async function runAgent(o: AgentOptions): Promise<void> {
  const heartbeatMs = o.nodeStatusUpdateFrequency === undefined ? undefined : heartbeatPeriod(o.nodeStatusUpdateFrequency);
  const metricsListen = listenOrOff(o.metricsListen ?? DEFAULT_AGENT_METRICS_LISTEN, '--metrics-listen');
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
    ...(o.kubeletListen ? { kubeletListen: o.kubeletListen } : {}),
    tuning: {
      ...(heartbeatMs !== undefined ? { heartbeatMs } : {}),
      ...(o.metricResolution !== undefined ? { usagePeriodMs: positiveDuration(o.metricResolution, '--metric-resolution') } : {}),
    },
    ...(metricsListen ? { metricsListen: { host: metricsListen[0], port: metricsListen[1] } } : {}),
    network: { ...(o.bridge ? { bridgeName: o.bridge } : {}), ...(o.podCidr ? { podCidr: o.podCidr } : {}), ...(o.clusterCidr ? { clusterCidr: o.clusterCidr } : {}) },
  });
  process.stderr.write(`✔ node ${agent.node.nodeName} running (containerd ${agent.node.containerdAddress}, kubelet endpoint on port ${agent.kubeletPort}); Ctrl-C stops the agent, pods keep running\n`);
  if (agent.metricsAddress) process.stderr.write(`✔ metrics on http://${hostPort(agent.metricsAddress)}/metrics\n`);
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

/** host:port, IPv6 in brackets. */
function hostPort(a: { host: string; port: number }): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
