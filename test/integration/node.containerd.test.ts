/**
 * The containerd client, private daemon and container lifecycle against a real containerd with
 * runc: version and error checks, running busybox containers, exit codes, stop with SIGKILL
 * escalation, limits in the cgroup, task metrics (CPU time and working set), exec, events and cleanup.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isGantryError } from '../../src/errors.js';
import { ContainerdClient, versionAtLeast } from '../../src/node/containerd/client.js';
import { findRunningPrivateContainerd, privateContainerdPaths, startPrivateContainerd, stopPrivateContainerd } from '../../src/node/containerd/daemon.js';
import { createContainer, deleteContainer, execInContainer, startTask, stopTask, waitTask } from '../../src/node/containerd/run.js';
import { buildSpec, cgroupVersion, cgroupsPathFor, readCgroupLimits, removeCgroup, type BuildSpecOptions } from '../../src/node/containerd/spec.js';
import type { ContainerdEvent } from '../../src/node/containerd/types.js';
import { cgroupUsage } from '../../src/node/containerd/cgroup-metrics.js';
import { buildBusyboxImage } from '../../src/node/images/busybox-image.js';
import { getImage, type LocalImage } from '../../src/node/images/image-store.js';
import { importImages } from '../../src/node/images/import.js';
import { containerdPrerequisites, startTestContainerd, type TestContainerd } from '../helpers/containerd.js';

describe('node containerd (private daemon, runc)', function () {
  this.timeout(120_000);
  let ctd: TestContainerd;
  let image: LocalImage;
  let seq = 0;
  /** Parent cgroup of this run's containers, removed at the end. */
  const cgroupParent = `test-${process.pid}`;
  const events: ContainerdEvent[] = [];
  const stopEvents = new AbortController();

  before(async function () {
    const why = containerdPrerequisites();
    if (why) {
      console.log(`      skipping: ${why}`);
      this.skip();
    }
    ctd = await startTestContainerd('gantry-run-test');
    await buildBusyboxImage({ outDir: path.join(ctd.dir, 'images', 'busybox') });
    await importImages(ctd.client, path.join(ctd.dir, 'images'));
    const found = await getImage(ctd.client, 'gantry.local/busybox:latest');
    assert.ok(found);
    image = found;
    void (async () => {
      for await (const ev of ctd.client.subscribe({ signal: stopEvents.signal })) events.push(ev);
    })();
  });

  after(async () => {
    stopEvents.abort();
    if (ctd) {
      for (const c of await ctd.client.listContainerRecords()) await deleteContainer(ctd.client, c.id);
      await ctd.stop();
      removeCgroup(cgroupsPathFor(cgroupParent));
      removeCgroup(cgroupsPathFor());
    }
  });

  /** Creates and starts a busybox container running `args`; returns its id and log file. */
  async function run(args: string[], extra: Partial<BuildSpecOptions> = {}): Promise<{ id: string; log: string; cgroupsPath: string }> {
    const id = `t${++seq}-${process.pid}`;
    const log = path.join(ctd.dir, 'logs', `${id}.log`);
    const cgroupsPath = cgroupsPathFor(cgroupParent, id);
    const spec = buildSpec({ args, env: image.config.Env ?? [], cwd: image.config.WorkingDir, hostname: id, cgroupsPath, ...extra });
    await createContainer(ctd.client, { id, image, spec, labels: { 'gantry.dev/test': 'yes' }, stdoutPath: log, stderrPath: log, runcRoot: ctd.daemon.runcRoot });
    await startTask(ctd.client, id);
    return { id, log, cgroupsPath };
  }

  it('connect() reports the daemon version, which is at least 1.6', async () => {
    const { version } = await ctd.client.version();
    assert.ok(versionAtLeast(version, '1.6'), version);
  });

  it('connect() to a missing socket fails with RuntimeUnavailable and says what to do', async () => {
    const missing = path.join(ctd.dir, 'nope.sock');
    await assert.rejects(ContainerdClient.connect({ address: missing, namespace: 'gantry' }), (err: unknown) => {
      assert.ok(isGantryError(err, 'RuntimeUnavailable'));
      assert.equal(err.message, `containerd socket ${missing} does not exist; start containerd or let gantry start a private one (omit --containerd-socket)`);
      return true;
    });
  });

  it('versionAtLeast() rejects daemons older than 1.6 and accepts newer ones', () => {
    const cases: [string, boolean][] = [
      ['1.5.18', false],
      ['v1.4.0', false],
      ['1.6.0', true],
      ['1.6.20~ds1', true],
      ['v1.7.2', true],
      ['2.0.0', true],
    ];
    for (const [version, ok] of cases) assert.equal(versionAtLeast(version, '1.6'), ok, version);
  });

  it('a container running `echo hello` writes hello to its stdout file and exits 0', async () => {
    const { id, log } = await run(['echo', 'hello']);
    const exit = await waitTask(ctd.client, id);
    assert.equal(exit.exitStatus, 0);
    assert.equal(await readFile(log, 'utf8'), 'hello\n');
    await deleteContainer(ctd.client, id);
  });

  it('the exit code of the container\'s process is reported (sh -c "exit 3" → 3), also as a TaskExit event', async () => {
    const { id } = await run(['sh', '-c', 'exit 3']);
    assert.equal((await waitTask(ctd.client, id)).exitStatus, 3);
    const deadline = Date.now() + 10_000;
    let exitEvent: ContainerdEvent | undefined;
    while (!exitEvent && Date.now() < deadline) {
      exitEvent = events.find((e) => e.kind === 'TaskExit' && e.event.container_id === id);
      if (!exitEvent) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(exitEvent && exitEvent.kind === 'TaskExit', 'TaskExit event received');
    assert.equal(exitEvent.event.exit_status, 3);
    assert.equal(exitEvent.topic, '/tasks/exit');
    await deleteContainer(ctd.client, id);
  });

  it('stopTask() escalates to SIGKILL when PID 1 ignores SIGTERM (sleep 1000 → 137)', async () => {
    const { id } = await run(['sleep', '1000']);
    const exit = await stopTask(ctd.client, id, { gracePeriodMs: 300 });
    assert.equal(exit?.exitStatus, 137);
    await deleteContainer(ctd.client, id);
  });

  it('stopTask() lets a process that handles SIGTERM exit on its own', async () => {
    const { id, log } = await run(['sh', '-c', 'trap "echo bye; exit 0" TERM; echo ready; while true; do sleep 0.1; done']);
    const deadline = Date.now() + 10_000;
    while (!(await readFile(log, 'utf8')).includes('ready') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const exit = await stopTask(ctd.client, id, { gracePeriodMs: 20_000 });
    assert.equal(exit?.exitStatus, 0);
    assert.match(await readFile(log, 'utf8'), /bye/);
    await deleteContainer(ctd.client, id);
  });

  it('memory, CPU and pids limits are in effect in the container\'s cgroup, also as seen from inside', async () => {
    const memoryBytes = 48 * 1024 * 1024;
    const file = cgroupVersion() === 2 ? '/sys/fs/cgroup/memory.max' : '/sys/fs/cgroup/memory/memory.limit_in_bytes';
    const { id, log, cgroupsPath } = await run(['sh', '-c', `cat ${file}; sleep 1000`], { resources: { memoryBytes, cpuQuota: 50_000, cpuPeriod: 100_000, pidsLimit: 64 } });
    const limits = readCgroupLimits(cgroupsPath);
    assert.deepEqual(limits, { memoryBytes, cpuQuota: 50_000, cpuPeriod: 100_000, pidsLimit: 64 });
    const deadline = Date.now() + 10_000;
    while (!(await readFile(log, 'utf8')).trim() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal((await readFile(log, 'utf8')).trim(), String(memoryBytes));
    await deleteContainer(ctd.client, id);
  });

  it('taskMetrics() reads a busy container\'s CPU time growing within its quota, and its working set, from the cgroup (v1 or v2)', async () => {
    // A 20% quota keeps the busy loop frugal on a shared machine; the memory holds a 4 MiB string.
    const { id } = await run(['sh', '-c', 'x=$(head -c 4194304 /dev/zero | tr "\\0" a); while :; do :; done'], { resources: { cpuQuota: 20_000, cpuPeriod: 100_000 } });
    const read = async () => {
      const [m] = await ctd.client.taskMetrics([`id==${id}`]);
      assert.ok(m?.data, 'containerd reports the task');
      return { at: m.timestamp!.getTime(), ...cgroupUsage(m.data) };
    };
    await new Promise((r) => setTimeout(r, 1000));
    const first = await read();
    await new Promise((r) => setTimeout(r, 2000));
    const second = await read();
    const cores = (second.cpuNanos - first.cpuNanos) / 1e6 / (second.at - first.at);
    assert.ok(cores > 0.02 && cores < 0.25, `used ${cores.toFixed(3)} cores under a 0.2 quota`);
    assert.ok(second.memoryWorkingSetBytes > 4 * 1024 * 1024, `working set ${second.memoryWorkingSetBytes} bytes`);
    const all = await ctd.client.taskMetrics();
    assert.ok(all.some((m) => m.id === id), 'without filters: every task of the namespace');
    assert.deepEqual(await ctd.client.taskMetrics(['id==no-such-task']), []);
    await deleteContainer(ctd.client, id);
  });

  it('execInContainer() runs a process inside a running container and returns its exit code', async () => {
    const { id } = await run(['sleep', '1000']);
    const out = path.join(ctd.dir, 'logs', `${id}.exec.log`);
    const res = await execInContainer(ctd.client, id, { args: ['sh', '-c', 'echo "in $(hostname)"; exit 7'], stdoutPath: out });
    assert.deepEqual(res, { exitStatus: 7, timedOut: false });
    assert.equal(await readFile(out, 'utf8'), `in ${id}\n`);
    const slow = await execInContainer(ctd.client, id, { args: ['sleep', '100'], timeoutMs: 200 });
    assert.equal(slow.timedOut, true);
    await deleteContainer(ctd.client, id);
  });

  it('deleteContainer() removes a running container with its task and snapshot, and is idempotent', async () => {
    const { id } = await run(['sleep', '1000']);
    await deleteContainer(ctd.client, id);
    await deleteContainer(ctd.client, id);
    assert.equal(await ctd.client.getContainerRecord(id), undefined);
    assert.equal(await ctd.client.getTask(id), undefined);
    assert.equal(await ctd.client.statSnapshot(id), undefined);
    const left = await ctd.client.listContainerRecords(['labels."gantry.dev/test"==yes']);
    assert.deepEqual(left.map((c) => c.id), []);
  });

  it('createContainer() refuses a duplicate id with AlreadyExists and leaves the first container intact', async () => {
    const { id } = await run(['sleep', '1000']);
    const spec = buildSpec({ args: ['true'], env: [], cgroupsPath: cgroupsPathFor(cgroupParent, `${id}-dup`) });
    await assert.rejects(
      createContainer(ctd.client, { id, image, spec, stdoutPath: path.join(ctd.dir, 'dup.log'), stderrPath: path.join(ctd.dir, 'dup.log') }),
      (err: unknown) => isGantryError(err, 'AlreadyExists'),
    );
    assert.equal((await ctd.client.getTask(id))?.status, 'RUNNING');
    await deleteContainer(ctd.client, id);
  });
});

describe('node private containerd daemon', function () {
  this.timeout(60_000);

  before(function () {
    const why = containerdPrerequisites();
    if (why) {
      console.log(`      skipping: ${why}`);
      this.skip();
    }
  });

  it('privateContainerdPaths() moves the socket to a short path when the data dir is too long', () => {
    const long = path.join(os.tmpdir(), 'x'.repeat(120));
    const p = privateContainerdPaths(long);
    assert.ok(Buffer.byteLength(p.socket) <= 100, p.socket);
    assert.equal(privateContainerdPaths(long).socket, p.socket, 'stable per data dir');
    assert.equal(p.root, path.join(long, 'root'));
  });

  it('a detached private containerd is found again by its pidfile and stopped by stopPrivateContainerd()', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-ctd-detached-'));
    try {
      const started = await startPrivateContainerd({ dataDir: dir, detached: true });
      const found = await findRunningPrivateContainerd(dir);
      assert.equal(found?.pid, started.pid);
      assert.equal(found?.address, started.address);
      const again = await startPrivateContainerd({ dataDir: dir, detached: true });
      assert.equal(again.pid, started.pid, 'start reuses the running daemon');
      assert.equal(await stopPrivateContainerd(dir), true);
      assert.equal(await findRunningPrivateContainerd(dir), undefined);
      await assert.rejects(ContainerdClient.connect({ address: started.address, namespace: 'gantry' }), (err: unknown) => isGantryError(err, 'RuntimeUnavailable'));
    } finally {
      const leftover = await findRunningPrivateContainerd(dir);
      await leftover?.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
