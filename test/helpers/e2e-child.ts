// Child process for e2e crash tests (test/helpers/e2e.ts startChild): `gantry up` with every
// component, configured from GANTRY_E2E_CHILD (config and local node settings of the test's
// world). Prints "ready <api url> <containerd socket>" once the first sync ran; SIGTERM stops it gracefully.
import path from 'node:path';
import { startGantry } from '../../src/app.js';
import type { GantryConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import type { LocalNodeTuning } from '../../src/node/host.js';

const { config, node } = JSON.parse(process.env.GANTRY_E2E_CHILD ?? '{}') as { config: GantryConfig; node: LocalNodeTuning };
const logger = createLogger({ level: 'info', file: path.join(config.dataDir, 'gantry.log'), pretty: false });
const gantry = await startGantry({
  config,
  logger,
  components: { sync: true, api: true, audit: true, controllers: true, scheduler: true, agent: true, ingress: true },
  node,
});
await gantry.sync!.trigger('start');
gantry.startPolling();
process.stdout.write(`ready ${gantry.apiUrl} ${gantry.node!.containerdAddress}\n`);
await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
await gantry.stop();
process.exit(0);
