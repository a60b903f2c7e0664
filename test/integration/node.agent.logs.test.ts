/**
 * `gantry logs` over what the node agent wrote: the pod resolved in the store (read-only), the
 * lines from the real log files, `--previous` after a restart, `--tail`, `-f`, and kubectl's
 * messages when the container is ambiguous or the pod is missing.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { runLogs } from '../../src/cli/commands/logs.js';
import { busybox, containerStatus, startAgentBedOrSkip, type AgentBed } from '../fakes/node-agent-bed.js';

const cs = containerStatus;

describe('gantry logs over the node agent\'s files (real containerd)', function () {
  this.timeout(120_000);
  let bed: AgentBed;
  let dataDir: string;

  before(async function () {
    bed = await startAgentBedOrSkip(this);
    dataDir = bed.ctd.dir;
    // Run 1 prints "run 1" and fails; run 2 prints "run 2" and then three more lines, and stays up.
    await bed.createPod('twice', {
      restartPolicy: 'OnFailure',
      volumes: [{ name: 's', emptyDir: {} }],
      containers: [
        busybox('main', ['sh', '-c', 'n=$(cat /s/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /s/n; echo "run $n"; if [ $n = 1 ]; then exit 1; fi; echo a; echo b; echo c; sleep 3600'], {
          volumeMounts: [{ name: 's', mountPath: '/s' }],
        }),
      ],
    });
    await bed.waitPod('twice', (p) => cs(p, 'main')?.restartCount === 1 && !!cs(p, 'main')?.state.running);
    await bed.createPod('duo', { containers: [busybox('a', ['sleep', '3600']), busybox('b', ['sleep', '3600'])], initContainers: [busybox('prep', ['true'])] });
  });

  after(async () => {
    if (bed) await bed.stop();
  });

  async function logsOf(pod: string, opts: Parameters<typeof runLogs>[1]): Promise<{ output: string; exitCode: number }> {
    // The container writes asynchronously; give the lines a moment to land.
    for (let i = 0; i < 30; i++) {
      const r = await runLogs(pod, opts);
      if (r.exitCode !== 0 || r.output.includes('c\n') || opts.previous) return r;
      await sleep(100);
    }
    return runLogs(pod, opts);
  }

  it('prints the current run of the only container', async () => {
    assert.deepEqual(await logsOf('twice', { dataDir }), { output: 'run 2\na\nb\nc\n', exitCode: 0 });
  });

  it('--previous prints the run before the restart', async () => {
    assert.deepEqual(await logsOf('twice', { dataDir, previous: true }), { output: 'run 1\n', exitCode: 0 });
  });

  it('--tail 2 prints the last two lines', async () => {
    assert.deepEqual(await logsOf('twice', { dataDir, tail: '2' }), { output: 'b\nc\n', exitCode: 0 });
  });

  it('-f streams the lines until stopped', async () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (b: Buffer) => (text += b.toString()));
    const ac = new AbortController();
    const done = runLogs('twice', { dataDir, follow: true, out, signal: ac.signal });
    for (let i = 0; i < 50 && !text.includes('c\n'); i++) await sleep(100);
    ac.abort();
    assert.deepEqual(await done, { output: '', exitCode: 0 });
    assert.equal(text, 'run 2\na\nb\nc\n');
  });

  it('a pod with several containers needs -c, in kubectl\'s words', async () => {
    assert.deepEqual(await runLogs('duo', { dataDir }), {
      output: 'error: a container name must be specified for pod duo, choose one of: [a b] or one of the init containers: [prep]',
      exitCode: 1,
    });
  });

  it('a missing pod is reported as kubectl does', async () => {
    assert.deepEqual(await runLogs('nope', { dataDir }), { output: 'Error from server (NotFound): pods "nope" not found', exitCode: 1 });
  });

  it('--previous without a previous run says so', async () => {
    await bed.waitPod('duo', (p) => p.status?.phase === 'Running');
    const r = await runLogs('duo', { dataDir, container: 'a', previous: true });
    assert.equal(r.exitCode, 1);
    assert.equal(r.output, 'Error from server (BadRequest): previous terminated container "a" in pod "duo" not found');
  });
});
