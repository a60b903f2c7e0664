// Child process for the leader election tests: one candidate of an election on a test etcd,
// configured from argv (endpoint, election, identity, ttl seconds). Prints "leading" when it
// leads and "lost <reason>" when it loses; SIGTERM resigns and exits. The tests kill it with
// SIGKILL to play a leader that dies without resigning.
import { LeaderElector } from '../../src/cluster/leader.js';
import { EtcdClient } from '../../src/store/etcd-client.js';

const [endpoint, election, identity, ttl] = process.argv.slice(2);
const client = new EtcdClient({ endpoints: [endpoint!] });
const elector = new LeaderElector({
  client,
  name: election!,
  identity: identity!,
  ttlSeconds: Number(ttl ?? '3'),
  onLost: (reason) => process.stdout.write(`lost ${reason}\n`),
});
const stop = new AbortController();
process.once('SIGTERM', () => stop.abort());
await elector.run(async (leading) => {
  process.stdout.write('leading\n');
  await new Promise<void>((resolve) => leading.addEventListener('abort', () => resolve(), { once: true }));
}, stop.signal);
client.close();
process.exit(0);
