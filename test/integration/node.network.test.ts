/**
 * CniNetworkManager against the real thing: `ip netns`, Debian's CNI plugins, iptables.
 * Needs root and the plugins; skips (saying why) otherwise. Each run uses its own bridge, CIDR
 * and network name so it cannot collide with a running gantry, and removes everything it made.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomInt, randomUUID } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { isGantryError } from '../../src/errors.js';
import type { Pod } from '../../src/model/types.js';
import { cidrContains, gatewayOf, parseCidr } from '../../src/model/cidr.js';
import { cleanupCommands, masqueradeChain, parseIptables, readNatTable } from '../../src/node/network/iptables.js';
import { CniNetworkManager, portMappingsOf, type CniNetworkManagerOptions } from '../../src/node/network/manager.js';
import { execTool } from '../../src/node/network/exec.js';

const CNI_BIN = '/usr/lib/cni';

function prerequisites(): string | undefined {
  if (process.getuid?.() !== 0) return 'network tests need root';
  for (const p of ['loopback', 'bridge', 'host-local', 'portmap']) {
    if (!existsSync(path.join(CNI_BIN, p))) return `CNI plugin ${p} missing in ${CNI_BIN} (Debian: containernetworking-plugins)`;
  }
  return undefined;
}

function pod(name: string, opts: { hostPort?: number; containerPort?: number; hostNetwork?: boolean } = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', uid: `test-${randomUUID()}` },
    spec: {
      hostNetwork: opts.hostNetwork,
      containers: [
        {
          name: 'main',
          image: 'busybox',
          ports: opts.containerPort ? [{ containerPort: opts.containerPort, ...(opts.hostPort ? { hostPort: opts.hostPort } : {}) }] : undefined,
        },
      ],
    },
  };
}

/** Starts a TCP server inside a namespace that answers `hello <tag>` and closes; resolves once it listens. */
async function serveInNetns(nsPath: string, port: number, tag: string): Promise<ChildProcess> {
  const script = `require('net').createServer((s) => s.end('hello ${tag}')).listen(${port}, () => console.log('ready'))`;
  const child = spawn('ip', ['netns', 'exec', path.basename(nsPath), process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
  assert.match(chunk.toString(), /ready/);
  return child;
}

/** Connects, reads until the peer closes, returns what it sent. */
async function fetchText(host: string, port: number): Promise<string> {
  const sock = net.connect({ host, port });
  sock.setTimeout(5000, () => sock.destroy(new Error(`timeout talking to ${host}:${port}`)));
  let text = '';
  sock.on('data', (b: Buffer) => (text += b.toString()));
  await once(sock, 'close');
  return text;
}

describe('CniNetworkManager (real CNI plugins)', function () {
  this.timeout(60_000);
  const tag = randomInt(10_000, 99_999);
  const third = randomInt(1, 250);
  const cidr = `10.99.${third}.0/24`;
  let dir = '';
  let opts: CniNetworkManagerOptions;
  let mgr: CniNetworkManager;
  const servers: ChildProcess[] = [];
  let ipForward: string | undefined;

  before(async function () {
    const why = prerequisites();
    if (why) {
      console.log(`      skipping: ${why}`);
      this.skip();
    }
    ipForward = (await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim();
    dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-net-'));
    opts = { dataDir: dir, podCidr: cidr, bridgeName: `gtest${tag}`, networkName: `gtest-${tag}`, cniBinDir: CNI_BIN };
    mgr = new CniNetworkManager(opts);
  });

  afterEach(() => {
    for (const s of servers.splice(0)) s.kill();
  });

  after(async function () {
    if (!dir) return;
    for (const uid of await mgr.list()) await mgr.tearDown(uid).catch(() => undefined);
    await mgr.cleanupNode().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    // The bridge plugin turns forwarding on (isGateway); put the host back as we found it.
    if (ipForward !== undefined) await writeFile('/proc/sys/net/ipv4/ip_forward', ipForward);
  });

  it('setUp() gives two pods distinct IPs inside the pod CIDR', async () => {
    const a = pod('a');
    const b = pod('b');
    const na = await mgr.setUp(a);
    const nb = await mgr.setUp(b);
    assert.notEqual(na.ip, nb.ip);
    for (const n of [na, nb]) assert.ok(cidrContains(parseCidr(cidr), n.ip), `${n.ip} is outside ${cidr}`);
    assert.equal(na.netnsPath, `/run/netns/gantry-${a.metadata.uid}`);
    assert.ok(existsSync(na.netnsPath));
    assert.deepEqual((await mgr.list()).sort(), [a.metadata.uid!, b.metadata.uid!].sort());
    await mgr.tearDown(a.metadata.uid!);
    await mgr.tearDown(b.metadata.uid!);
  });

  it('the host reaches a server listening inside the pod namespace on the pod IP', async () => {
    const p = pod('web');
    const n = await mgr.setUp(p);
    servers.push(await serveInNetns(n.netnsPath, 8080, 'web'));
    assert.equal(await fetchText(n.ip, 8080), 'hello web');
    await mgr.tearDown(p.metadata.uid!);
  });

  it('two pods on the bridge reach each other by pod IP', async () => {
    const a = pod('a');
    const b = pod('b');
    const na = await mgr.setUp(a);
    const nb = await mgr.setUp(b);
    servers.push(await serveInNetns(nb.netnsPath, 9000, 'b'));
    const r = await execTool('ip', ['netns', 'exec', path.basename(na.netnsPath), process.execPath, '-e',
      `const s=require('net').connect(9000,'${nb.ip}');let t='';s.on('data',d=>t+=d);s.on('close',()=>console.log(t));s.on('error',e=>{console.error(e.message);process.exit(1)})`]);
    assert.equal(r.stdout.trim(), 'hello b', r.stderr);
    await mgr.tearDown(a.metadata.uid!);
    await mgr.tearDown(b.metadata.uid!);
  });

  it('a hostPort is reachable on the bridge gateway address and on 127.0.0.1 through portmap', async () => {
    const hostPort = randomInt(20_000, 40_000);
    const p = pod('hp', { containerPort: 8080, hostPort });
    const n = await mgr.setUp(p);
    servers.push(await serveInNetns(n.netnsPath, 8080, 'hostport'));
    // The gateway is an address of this machine (the bridge's), so DNAT for local destinations applies.
    assert.equal(await fetchText(gatewayOf(parseCidr(cidr)), hostPort), 'hello hostport');
    assert.equal(await fetchText('127.0.0.1', hostPort), 'hello hostport');
    await mgr.tearDown(p.metadata.uid!);
    const nat = await readNatTable();
    assert.ok(!nat.rules.some((r) => r.args.includes(String(hostPort))), 'the hostPort DNAT rule is gone after tearDown');
  });

  it('tearDown() removes the namespace, the record and the IP reservation', async () => {
    const p = pod('gone');
    const uid = p.metadata.uid!;
    const n = await mgr.setUp(p);
    const reservation = path.join(dir, 'network', 'ipam', opts.networkName!, n.ip);
    assert.ok(existsSync(reservation), 'host-local reserved the IP');
    await mgr.tearDown(uid);
    assert.ok(!existsSync(n.netnsPath));
    assert.ok(!existsSync(reservation), 'the IP is free for the next pod');
    assert.equal(await mgr.get(uid), undefined);
    assert.ok(!(await mgr.list()).includes(uid));
    const masq = (await readNatTable()).rules.filter((r) => r.args.some((a) => a.includes(uid)));
    assert.deepEqual(masq, [], 'no NAT rule mentions the pod any more');
  });

  it('pods leaving the pod CIDR are masqueraded by one chain for the network, not a chain per pod', async () => {
    const a = pod('masq-a');
    const b = pod('masq-b');
    await mgr.setUp(a);
    await mgr.setUp(b);
    const nat = await readNatTable();
    const chain = masqueradeChain(opts.networkName!);
    const jumps = nat.rules.filter((r) => r.chain === 'POSTROUTING' && r.args.includes(chain));
    assert.equal(jumps.length, 1, 'one jump to the masquerade chain');
    assert.deepEqual(jumps[0]!.args.slice(0, 2), ['-s', cidr]);
    const inChain = nat.rules.filter((r) => r.chain === chain).map((r) => r.args.at(-1));
    assert.deepEqual(inChain, ['ACCEPT', 'MASQUERADE']);
    for (const p of [a, b]) assert.deepEqual(nat.rules.filter((r) => r.args.some((x) => x.includes(p.metadata.uid!))), [], 'no per-pod NAT rule');
    await mgr.tearDown(a.metadata.uid!);
    await mgr.tearDown(b.metadata.uid!);
  });

  it('createNamespace() makes the namespace first and setUp() fills that same one (containers may already be in it)', async () => {
    const p = pod('ns-first');
    const nsPath = await mgr.createNamespace(p);
    const before = statSync(nsPath).ino;
    assert.equal(await mgr.get(p.metadata.uid!), undefined, 'no network until setUp');
    assert.equal(await mgr.createNamespace(p), nsPath, 'createNamespace() is idempotent');
    const n = await mgr.setUp(p);
    assert.equal(n.netnsPath, nsPath);
    assert.equal(statSync(nsPath).ino, before, 'the namespace was not replaced');
    const addr = await execTool('ip', ['-n', path.basename(nsPath), '-4', 'addr', 'show', 'eth0']);
    assert.match(addr.stdout, new RegExp(`inet ${n.ip.replace(/\./g, '\\.')}/`));
    await mgr.tearDown(p.metadata.uid!);
    assert.ok(!existsSync(nsPath));
  });

  it('setUp() twice returns the same network and tearDown() twice is not an error', async () => {
    const p = pod('twice');
    const first = await mgr.setUp(p);
    const second = await mgr.setUp(p);
    assert.deepEqual(second, first);
    await mgr.tearDown(p.metadata.uid!);
    await mgr.tearDown(p.metadata.uid!);
    await mgr.tearDown('test-never-existed');
  });

  it('a new manager on the same data dir (agent restart) finds the pod network', async () => {
    const p = pod('survivor');
    const n = await mgr.setUp(p);
    const restarted = new CniNetworkManager(opts);
    assert.deepEqual(await restarted.get(p.metadata.uid!), n);
    assert.ok((await restarted.list()).includes(p.metadata.uid!));
    assert.deepEqual(await restarted.setUp(p), n);
    await restarted.tearDown(p.metadata.uid!);
    assert.equal(await mgr.get(p.metadata.uid!), undefined);
  });

  it('setUp() rebuilds a pod network whose namespace vanished (host reboot)', async () => {
    const p = pod('reboot');
    const n = await mgr.setUp(p);
    // Simulate a reboot's empty /run while our record survives; CNI DEL must still run.
    await execTool('ip', ['netns', 'delete', path.basename(n.netnsPath)]);
    assert.equal(await mgr.get(p.metadata.uid!), undefined);
    const again = await mgr.setUp(p);
    assert.ok(existsSync(again.netnsPath));
    servers.push(await serveInNetns(again.netnsPath, 8081, 'again'));
    assert.equal(await fetchText(again.ip, 8081), 'hello again');
    await mgr.tearDown(p.metadata.uid!);
  });

  it('a hostNetwork pod gets the node IP and no namespace', async () => {
    const p = pod('host', { hostNetwork: true });
    const n = await new CniNetworkManager({ ...opts, nodeIP: '192.0.2.10' }).setUp(p);
    assert.deepEqual(n, { netnsPath: '', ip: '192.0.2.10' });
    assert.ok(!existsSync(`/run/netns/gantry-${p.metadata.uid}`));
    assert.ok(!(await mgr.list()).includes(p.metadata.uid!));
  });

  it('a missing CNI plugin fails setUp() with its name and leaves nothing behind', async () => {
    const empty = await mkdtemp(path.join(os.tmpdir(), 'gantry-nocni-'));
    try {
      const broken = new CniNetworkManager({ ...opts, dataDir: empty, cniBinDir: empty });
      const p = pod('broken');
      // loopback and bridge run side by side: either may be the one reported missing first.
      await assert.rejects(broken.setUp(p), (err: unknown) => isGantryError(err, 'NetworkSetupFailed') && /CNI plugin "(loopback|bridge)" not found/.test(err.message));
      assert.ok(!existsSync(`/run/netns/gantry-${p.metadata.uid}`));
      assert.deepEqual(await broken.list(), []);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('cleanupNode() removes the bridge and the NAT rules of this network', async () => {
    const p = pod('last', { containerPort: 80, hostPort: randomInt(40_001, 50_000) });
    await mgr.setUp(p);
    await mgr.tearDown(p.metadata.uid!);
    await mgr.cleanupNode();
    const link = await execTool('ip', ['link', 'show', opts.bridgeName!]);
    assert.notEqual(link.code, 0, 'the bridge is gone');
    const nat = await readNatTable();
    assert.ok(!nat.rules.some((r) => r.args.some((a) => a.includes(`"${opts.networkName}"`))));
    await mgr.cleanupNode();
  });
});

describe('CNI helpers', () => {
  it('portMappingsOf() maps the hostPorts of app containers with lower-case protocols', () => {
    const p = pod('x');
    p.spec.containers[0]!.ports = [
      { containerPort: 80, hostPort: 8080 },
      { containerPort: 53, hostPort: 5353, protocol: 'UDP', hostIP: '127.0.0.1' },
      { containerPort: 9090 },
    ];
    p.spec.initContainers = [{ name: 'init', image: 'busybox', ports: [{ containerPort: 1, hostPort: 1 }] }];
    assert.deepEqual(portMappingsOf(p), [
      { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
      { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '127.0.0.1' },
    ]);
  });

  it('parseCidr() rejects host bits and nonsense, and gatewayOf() is the first address', () => {
    assert.equal(gatewayOf(parseCidr('10.244.0.0/24')), '10.244.0.1');
    assert.ok(cidrContains(parseCidr('10.244.0.0/16'), '10.244.3.9'));
    assert.ok(!cidrContains(parseCidr('10.244.0.0/24'), '10.244.1.9'));
    for (const bad of ['10.244.0.1/24', '10.244.0.0', '300.1.1.0/24', 'x/24']) {
      assert.throws(() => parseCidr(bad), (e: unknown) => isGantryError(e, 'InvalidArgument'), bad);
    }
  });

  it("cleanupCommands() removes only this network's rules and keeps shared chains others still use", () => {
    const text = [
      '-P POSTROUTING ACCEPT',
      '-N CNI-DN-aaa',
      '-N CNI-DN-bbb',
      '-N CNI-HOSTPORT-DNAT',
      '-N CNI-HOSTPORT-MASQ',
      '-N CNI-HOSTPORT-SETMARK',
      '-N CNI-111',
      '-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT',
      '-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ',
      '-A POSTROUTING -s 10.99.1.2/32 -m comment --comment "name: \\"ours\\" id: \\"u1\\"" -j CNI-111',
      '-A CNI-111 ! -d 224.0.0.0/4 -m comment --comment "name: \\"ours\\" id: \\"u1\\"" -j MASQUERADE',
      '-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"ours\\" id: \\"u1\\"" -m multiport --dports 80 -j CNI-DN-aaa',
      '-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"ours-2\\" id: \\"u2\\"" -m multiport --dports 81 -j CNI-DN-bbb',
    ].join('\n');
    const cmds = cleanupCommands(parseIptables(text), 'ours').map((c) => c.join(' '));
    assert.ok(cmds.includes('-t nat -D POSTROUTING -s 10.99.1.2/32 -m comment --comment name: "ours" id: "u1" -j CNI-111'));
    assert.ok(cmds.includes('-t nat -X CNI-111'));
    assert.ok(cmds.includes('-t nat -X CNI-DN-aaa'));
    assert.ok(!cmds.some((c) => c.includes('CNI-DN-bbb')), 'another network keeps its rules');
    assert.ok(!cmds.some((c) => c.includes('-X CNI-HOSTPORT')), 'shared chains stay while another network maps ports');

    const alone = text.split('\n').filter((l) => !l.includes('ours-2')).join('\n');
    const all = cleanupCommands(parseIptables(alone), 'ours').map((c) => c.join(' '));
    assert.ok(all.includes('-t nat -X CNI-HOSTPORT-DNAT'));
    assert.ok(all.includes('-t nat -D PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT'));
  });
});
