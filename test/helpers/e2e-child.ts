// Child process for e2e crash tests (test/helpers/e2e.ts startChild): `gantry up` with every
// component, configured from GANTRY_E2E_CHILD (config and local node settings of the test's
// world; GANTRY_E2E_CHILD may also name the components, e.g. a control plane without a node).
// Prints "ready <api url> <containerd socket or -> <leading|standby>" once the first sync ran
// (a standby on etcd runs none); SIGTERM stops it gracefully.
import path from 'node:path';
import { startGantry } from '../../src/app.js';
import type { GantryConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import type { LocalNodeTuning } from '../../src/node/host.js';
import type { Components } from '../../src/app.js';

const { config, node, components } = JSON.parse(process.env.GANTRY_E2E_CHILD ?? '{}') as { config: GantryConfig; node: LocalNodeTuning; components?: Components };
const logger = createLogger({ level: 'info', file: path.join(config.dataDir, 'gantry.log'), pretty: false });
const gantry = await startGantry({
  config,
  logger,
  components: components ?? { sync: true, api: true, audit: true, controllers: true, scheduler: true, agent: true, ingress: true },
  node,
});
await gantry.sync?.trigger('start');
gantry.startPolling();
process.stdout.write(`ready ${gantry.apiUrl} ${gantry.node?.containerdAddress ?? '-'} ${gantry.leading ? 'leading' : 'standby'}\n`);
await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
await gantry.stop();
process.exit(0);
