/**
 * `kubectl logs` and `kubectl exec` with the real kubectl against a real gantry (containerd, runc,
 * CNI): logs plain, by container, tailed, followed, of the previous instance and of a
 * Deployment; exec with output, piped stdin, the exit code, and a TTY (driven through util-linux
 * `script`); and the errors kubectl users see. One gantry for the whole file. Skips with a
 * message where kubectl (or the e2e prerequisites) are missing.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { Pod } from '../../src/model/types.js';
import { ContainerdClient } from '../../src/node/containerd/client.js';
import { CONTAINERD_NAMESPACE } from '../../src/node/host.js';
import { apiRequest } from '../helpers/api-client.js';
import { runCli } from '../helpers/cli.js';
import { E2E_IMAGE, createWorld, e2ePrerequisites, isReady, podsWith, readIpForward, startInProcess, takeDown, waitFor, type InProcessGantry, type World } from '../helpers/e2e.js';

function onPath(tool: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => existsSync(path.join(d, tool)));
}

const MANIFESTS: Record<string, string> = {
  'web.yaml': `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      terminationGracePeriodSeconds: 0
      containers:
        - name: main
          image: ${E2E_IMAGE}
          command: ["sh", "-c", "echo hello from web; i=0; while true; do i=$((i+1)); echo tick-$i; sleep 1; done"]
`,
  'duo.yaml': `apiVersion: v1
kind: Pod
metadata:
  name: duo
  labels:
    app: duo
spec:
  terminationGracePeriodSeconds: 0
  containers:
    - name: alpha
      image: ${E2E_IMAGE}
      command: ["sh", "-c", "echo from-alpha; exec sleep 3600"]
    - name: beta
      image: ${E2E_IMAGE}
      command: ["sh", "-c", "echo from-beta; exec sleep 3600"]
`,
  'crasher.yaml': `apiVersion: v1
kind: Pod
metadata:
  name: crasher
  labels:
    app: crasher
spec:
  terminationGracePeriodSeconds: 0
  containers:
    - name: main
      image: ${E2E_IMAGE}
      command: ["sh", "-c", "echo run-started; sleep 1; echo run-ending; exit 3"]
`,
};

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('kubectl logs and exec against gantry', function () {
  this.timeout(120_000);
  const why = !onPath('kubectl') ? 'kubectl is not installed' : e2ePrerequisites();
  let world: World | undefined;
  let g: InProcessGantry | undefined;
  let ipForward: string | undefined;
  let dataDir = '';
  let web = '';
  let webId = '';
  let ctd: ContainerdClient | undefined;

  /** Exec FIFO directories left on the node (none once every exec has been cleaned up). */
  const execDirs = async (): Promise<string[]> => readdir(path.join(dataDir, 'node', 'exec')).catch(() => []);
  /** Processes in web's container: its shell and its sleep, plus any exec still running. */
  const webPids = async (): Promise<number> => (await ctd!.listPids(webId)).length;

  const kubectl = (args: string[], opts: { input?: string; timeoutMs?: number; kubeconfig?: string } = {}): Promise<Run> =>
    new Promise((resolve) => {
      const child = execFile('kubectl', ['--kubeconfig', opts.kubeconfig ?? g!.kubeconfig, ...args], { timeout: opts.timeoutMs ?? 20_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, stdout, stderr });
      });
      if (opts.input !== undefined) child.stdin!.end(opts.input);
      else child.stdin!.end();
    });
  const ok = async (args: string[], opts?: { input?: string }): Promise<string> => {
    const r = await kubectl(args, opts);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')} exited ${r.code}:\n${r.stderr}`);
    return r.stdout;
  };

  before(async function () {
    if (why) {
      console.log(`      skipped: ${why}`);
      return this.skip();
    }
    ipForward = await readIpForward();
    world = await createWorld(MANIFESTS);
    dataDir = path.join(world.root, 'data');
    g = await startInProcess(world, { dataDir });
    const pods = await waitFor('web and duo running', async () => {
      const w = await podsWith(g!.store, { app: 'web' });
      const d = await podsWith(g!.store, { app: 'duo' });
      return w.length === 1 && w.every(isReady) && d.length === 1 && d.every(isReady) ? w : undefined;
    }, { timeoutMs: 60_000 });
    web = pods[0]!.metadata.name;
    webId = pods[0]!.status!.containerStatuses![0]!.containerID!.replace(/^containerd:\/\//, '');
    ctd = await ContainerdClient.connect({ address: g.containerdAddress, namespace: CONTAINERD_NAMESPACE });
  });

  after(async function () {
    this.timeout(60_000);
    ctd?.close();
    await g?.stop();
    if (world) {
      await takeDown(world, dataDir, ipForward);
      await world.cleanup();
    }
  });

  it('kubectl logs prints a container\'s output, by pod, by container and by Deployment', async () => {
    const out = await waitFor('web has logged two ticks', async () => {
      const s = await ok(['logs', web]);
      return /tick-2\n/.test(s) ? s : undefined;
    }, { timeoutMs: 15_000 });
    assert.match(out, /^hello from web\ntick-1\ntick-2\n/);
    assert.equal(await ok(['logs', 'duo', '-c', 'beta']), 'from-beta\n');
    assert.equal(await ok(['logs', 'duo', '-c', 'alpha']), 'from-alpha\n');
    assert.match(await ok(['logs', 'deploy/web']), /^hello from web\ntick-1\n/);
  });

  it('kubectl logs --tail prints only the last lines, and --timestamps prefixes each with a time', async () => {
    const out = await ok(['logs', web, '--tail=2']);
    const lines = out.trimEnd().split('\n');
    assert.equal(lines.length, 2, out);
    const [a, b] = lines.map((l) => Number(/^tick-(\d+)$/.exec(l)?.[1]));
    assert.equal(b, a! + 1, out);
    const stamped = await ok(['logs', web, '--tail=1', '--timestamps']);
    assert.match(stamped, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z tick-\d+\n$/);
    const limited = await ok(['logs', web, '--limit-bytes=5']);
    assert.equal(limited, 'hello');
  });

  it('kubectl logs -f shows lines written after it started, until it is stopped', async () => {
    const before = (await ok(['logs', web])).trimEnd().split('\n').at(-1)!;
    const last = Number(/tick-(\d+)/.exec(before)![1]);
    const child = spawn('kubectl', ['--kubeconfig', g!.kubeconfig, 'logs', '-f', web], { stdio: ['ignore', 'pipe', 'pipe'] });
    let seen = '';
    child.stdout.on('data', (d: Buffer) => (seen += d.toString()));
    try {
      await waitFor(`a tick after tick-${last} through -f`, async () => new RegExp(`tick-${last + 2}\\n`).test(seen), { timeoutMs: 10_000 });
      assert.match(seen, /^hello from web\n/);
    } finally {
      child.kill('SIGINT');
    }
  });

  it('kubectl logs --previous shows the last terminated instance of a restarted container', async () => {
    await waitFor('crasher restarted', async () => {
      const p = await g!.store.get<Pod>({ kind: 'Pod', namespace: 'default', name: 'crasher' });
      return (p?.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1;
    }, { timeoutMs: 30_000 });
    assert.equal(await ok(['logs', 'crasher', '--previous']), 'run-started\nrun-ending\n');
    // Following ends by itself when the followed instance exits.
    const started = Date.now();
    const followed = await kubectl(['logs', '-f', 'crasher'], { timeoutMs: 15_000 });
    assert.equal(followed.code, 0, followed.stderr);
    assert.match(followed.stdout, /run-started\n(run-ending\n)?$/);
    assert.ok(Date.now() - started < 10_000);
  });

  it('kubectl exec runs a command in the container and shows its stdout and stderr', async () => {
    const r = await kubectl(['exec', web, '--', 'sh', '-c', 'echo out-$((6*7)); echo err-line >&2; cat /proc/1/cmdline | tr "\\0" " "']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^out-42\nsh -c echo hello from web/);
    assert.match(r.stderr, /err-line/);
    assert.equal(await ok(['exec', 'duo', '-c', 'beta', '--', 'sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "']), 'sleep 3600 ');
  });

  it('kubectl exec -i passes piped stdin to the command', async () => {
    assert.equal(await ok(['exec', '-i', web, '--', 'cat'], { input: 'hi there\nsecond line\n' }), 'hi there\nsecond line\n');
    assert.equal(await ok(['exec', '-i', web, '--', 'wc', '-l'], { input: 'a\nb\nc\n' }).then((s) => s.trim()), '3');
    // More than a pipe holds: the input is taken in as the process reads it, none lost.
    assert.equal(await ok(['exec', '-i', web, '--', 'wc', '-c'], { input: 'x'.repeat(3 * 1024 * 1024) }).then((s) => s.trim()), String(3 * 1024 * 1024));
  });

  it('kubectl exec exits with the command\'s exit code', async () => {
    const r = await kubectl(['exec', web, '--', 'sh', '-c', 'echo partial; exit 7']);
    assert.equal(r.code, 7);
    assert.equal(r.stdout, 'partial\n');
    assert.match(r.stderr, /command terminated with exit code 7/);
  });

  it('kubectl exec -it gives the command a terminal', async function () {
    if (!onPath('script')) {
      console.log('      skipped: util-linux script (a pty for kubectl -it) is not installed');
      return this.skip();
    }
    // kubectl sends its terminal's size as a resize; script's pty gets one of its own first.
    const cmd = `stty cols 123 rows 45; kubectl --kubeconfig ${g!.kubeconfig} exec -it ${web} -- sh`;
    const r = await new Promise<Run>((resolve) => {
      const child = execFile('script', ['-qec', cmd, '/dev/null'], { timeout: 20_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, stdout, stderr });
      });
      // A shell on a terminal: it reads our lines as a user's typing, and answers with a prompt.
      child.stdin!.write('tty; echo "[$TERM]"; echo "size:$(stty size)"; echo answer-$((6*7))\n');
      setTimeout(() => child.stdin!.end('exit 4\n'), 1500);
    });
    assert.match(r.stdout, /\/dev\/pts\/\d+/, r.stdout + r.stderr);
    assert.match(r.stdout, /\[xterm\]/);
    assert.match(r.stdout, /answer-42/);
    assert.match(r.stdout, /size:45 123/);
    assert.equal(r.code, 4, r.stdout + r.stderr);
  });

  it('leaves no exec process or FIFO behind, also when kubectl goes away mid-command', async () => {
    await waitFor('finished execs cleaned up', async () => (await execDirs()).length === 0, { timeoutMs: 5000 });
    const baseline = await webPids();
    const child = spawn('kubectl', ['--kubeconfig', g!.kubeconfig, 'exec', web, '--', 'sleep', '300'], { stdio: 'ignore' });
    await waitFor('the exec running', async () => (await webPids()) > baseline, { timeoutMs: 10_000 });
    assert.equal((await execDirs()).length, 1);
    child.kill('SIGKILL');
    await waitFor('the exec killed and its FIFOs removed', async () => (await webPids()) === baseline && (await execDirs()).length === 0, { timeoutMs: 10_000 });
  });

  it('lets a read-only token read logs but not exec', async () => {
    const file = path.join(world!.root, 'viewer.kubeconfig');
    const made = await runCli(['token', 'create', 'viewer', '--role', 'read-only', '--kubeconfig-out', file, '--data-dir', dataDir]);
    assert.equal(made.code, 0, made.stderr);
    const logs = await waitFor('the new token accepted', async () => {
      const r = await kubectl(['logs', 'duo', '-c', 'alpha'], { kubeconfig: file });
      return r.code === 0 ? r : undefined;
    }, { timeoutMs: 5000 });
    assert.equal(logs.stdout, 'from-alpha\n');
    const exec = await kubectl(['exec', web, '--', 'true'], { kubeconfig: file });
    assert.notEqual(exec.code, 0);
    assert.match(exec.stderr, /Forbidden|forbidden/);
    await waitFor('no exec ran', async () => (await execDirs()).length === 0, { timeoutMs: 2000 });
  });

  it('refuses an unknown container, and asks for one when a pod has several', async () => {
    const logs = await kubectl(['logs', 'duo', '-c', 'gamma']);
    assert.notEqual(logs.code, 0);
    assert.match(logs.stderr, /container gamma is not valid for pod duo/);
    const exec = await kubectl(['exec', 'duo', '-c', 'gamma', '--', 'true']);
    assert.notEqual(exec.code, 0);
    assert.match(exec.stderr, /container gamma is not valid for pod duo/);
    const missing = await kubectl(['logs', 'nosuchpod']);
    assert.match(missing.stderr, /pods "nosuchpod" not found/);
    // kubectl picks the first container itself; the API asks, as Kubernetes' does.
    const res = await apiRequest(g!, '/api/v1/namespaces/default/pods/duo/log');
    assert.equal(res.status, 400);
    assert.equal(res.json<{ message: string }>().message, 'a container name must be specified for pod duo, choose one of: [alpha beta]');
  });
});
