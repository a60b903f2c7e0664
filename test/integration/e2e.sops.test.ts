/**
 * End to end with real containerd: a Secret kept SOPS-encrypted in Git, decrypted by `gantry up`
 * with the age key in its data directory, reaches a pod as a secret volume and as an environment
 * variable — and its plain value is nowhere in gantry's own log (debug level, node agent
 * included), the audit trail, the status, or a plan.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import * as age from 'age-encryption';
import { pino } from 'pino';
import { runPlan } from '../../src/cli/commands/plan.js';
import { runStatus } from '../../src/cli/commands/inspect.js';
import { runLogs } from '../../src/cli/commands/logs.js';
import { dataPaths } from '../../src/config.js';
import type { Pod } from '../../src/model/types.js';
import { encryptSopsText } from '../../src/sync/sops/file.js';
import {
  E2E_IMAGE, createWorld, describePods, e2ePrerequisites, httpGet, isReady, podsWith, readIpForward, startInProcess, syncStatus, takeDown, waitFor,
  type InProcessGantry, type World,
} from '../helpers/e2e.js';

const PASSWORD = 'e2e-Pl41n-never-logged';

const SECRET = `apiVersion: v1
kind: Secret
metadata:
  name: db
type: Opaque
stringData:
  password: ${PASSWORD}
`;

/** A pod that copies what it was given (a secret file and an env var) into files it serves over HTTP. */
const READER = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: reader
spec:
  replicas: 1
  selector:
    matchLabels: {app: reader}
  template:
    metadata:
      labels: {app: reader}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: reader
          image: ${E2E_IMAGE}
          command: ["sh", "-c", "cp /secret/password /www/file.txt && echo \\"$DB_PASSWORD\\" > /www/env.txt && exec httpd -f -p 8080 -h /www"]
          env:
            - name: DB_PASSWORD
              valueFrom:
                secretKeyRef: {name: db, key: password}
          readinessProbe:
            httpGet: {path: /file.txt, port: 8080}
            periodSeconds: 1
          volumeMounts:
            - {name: secret, mountPath: /secret, readOnly: true}
            - {name: www, mountPath: /www}
      volumes:
        - name: secret
          secret: {secretName: db}
        - name: www
          emptyDir: {}
`;

describe('a SOPS-encrypted Secret deployed with gantry up (real containerd)', function () {
  this.timeout(180_000);
  const why = e2ePrerequisites();
  let world: World | undefined;
  let g: InProcessGantry | undefined;
  let dataDir = '';
  let ipForward: string | undefined;
  const logLines: string[] = [];

  before(async function () {
    if (why) return this.skip();
    ipForward = await readIpForward();
    const identity = await age.generateX25519Identity();
    const recipient = await age.identityToRecipient(identity);
    world = await createWorld({ 'app/db.enc.yaml': await encryptSopsText(SECRET, 'yaml', { recipients: [recipient] }), 'app/reader.yaml': READER });
    dataDir = path.join(world.root, 'data');
    await mkdir(dataDir, { recursive: true });
    await writeFile(dataPaths(dataDir).ageKey, `${identity}\n`, { mode: 0o600 });
    const sink = new Writable({ write(chunk: Buffer, _enc, done) { logLines.push(chunk.toString()); done(); } });
    g = await startInProcess(world, { dataDir, logger: pino({ level: 'debug' }, sink) });
  });

  after(async function () {
    this.timeout(120_000);
    await g?.stop().catch(() => undefined);
    if (world) {
      await takeDown(world, dataDir, ipForward);
      await world.cleanup();
    }
  });

  it('gives the pod the plain value through a secret volume and an env var', async () => {
    const [pod] = await waitFor('a Ready reader pod', async () => {
      const pods = await podsWith(g!.store, { app: 'reader' });
      return pods.length === 1 && pods.every(isReady) ? pods : undefined;
    }, {
      timeoutMs: 120_000,
      describe: async () => {
        const pods = await podsWith(g!.store, { app: 'reader' });
        const logs = await Promise.all(pods.map((p) => runLogs(p.metadata.name, { dataDir, previous: true }).then((r) => r.output, (e: Error) => e.message)));
        const ready = (await syncStatus(g!.store))?.conditions?.find((c) => c.type === 'Ready');
        return `sync: ${ready?.reason}: ${ready?.message}\n${describePods(pods)}\n${logs.join('\n')}`;
      },
    }) as Pod[];
    const ip = pod!.status!.podIP!;
    assert.equal((await httpGet(`http://${ip}:8080/file.txt`)).body, PASSWORD);
    assert.equal((await httpGet(`http://${ip}:8080/env.txt`)).body, `${PASSWORD}\n`);
  });

  it('never shows the plain value in gantry\'s log, the audit trail, the status or a plan', async () => {
    await g!.gantry.recorder!.flush();
    const history = execFileSync('git', ['--git-dir', dataPaths(dataDir).history, 'log', '-p', '--all'], { encoding: 'utf8', maxBuffer: 1 << 26 });
    assert.match(history, /Secret default\/db|default\/secret\/db\.yaml/, 'the Secret is in the audit trail');
    const status = await runStatus({ dataDir });
    const plan = await runPlan(undefined, { repo: world!.work, dataDir, live: true, format: 'json' });
    assert.equal(plan.exitCode, 0, plan.output);
    const b64 = Buffer.from(PASSWORD).toString('base64');
    for (const [where, text] of [['log', logLines.join('')], ['history', history], ['status', status.output], ['plan', plan.output]] as const) {
      assert.ok(!text.includes(PASSWORD) && !text.includes(b64), `no plain value in the ${where}`);
    }
  });
});
