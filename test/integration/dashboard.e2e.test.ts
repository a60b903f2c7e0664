/**
 * The web dashboard end to end: `gantry up` (every component, real containerd and pods) on a repo
 * served over smart HTTP, and Debian's headless Chromium driven by playwright-core signing in with
 * the kubeconfig's admin token. One gantry and one browser serve every test of this file, in
 * order (each builds on what the previous one left). Screenshots go to test-artifacts/.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { CDPSession, Page } from 'playwright-core';
import { artifact, browserPrerequisites, ensureDashboardBuilt, launchChromium, type TestBrowser } from '../helpers/browser.js';
import {
  createWorld,
  e2ePrerequisites,
  readIpForward,
  sendPushWebhook,
  startInProcess,
  takeDown,
  waitAttempted,
  type InProcessGantry,
  type World,
} from '../helpers/e2e.js';
import { job, WEB_CONFIGMAP, WEB_SERVICE, webDeployment } from '../helpers/e2e-manifests.js';
import { git, pushFiles } from '../helpers/git-http-server.js';
import type { Node } from '../../src/model/types.js';

/** A Deployment whose pod writes a numbered line every second: a log that grows while watched. */
const TICKER = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ticker
spec:
  replicas: 1
  selector:
    matchLabels:
      app: ticker
  template:
    metadata:
      labels:
        app: ticker
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: main
          image: gantry.local/busybox:1.35
          command: ["sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done"]
`;

function secretManifest(value: string): string {
  return `apiVersion: v1
kind: Secret
metadata:
  name: web-credentials
type: Opaque
stringData:
  password: ${value}
`;
}

describe('web dashboard end to end (headless Chromium against gantry up with real pods)', function () {
  this.timeout(120_000);
  const why = e2ePrerequisites() ?? browserPrerequisites();
  let world: World | undefined;
  let g: InProcessGantry;
  let ipForward: string | undefined;
  let browser: TestBrowser | undefined;
  let page: Page;
  const browserLog: string[] = [];
  let cdp: CDPSession;
  // Two values the Secret holds in turn; neither may ever reach the browser.
  const secrets = [`e2e-first-${randomBytes(6).toString('hex')}`, `e2e-second-${randomBytes(6).toString('hex')}`];
  /** Every response body the page received (URL and text), the watch stream included. */
  const bodies: { url: string; text: () => string }[] = [];
  let serverUrl = '';
  let initialCommit = '';
  let v2Commit = '';

  /** Pushes `files` to main, announces the push, and waits until the sync attempted it. */
  async function pushAndSync(files: Record<string, string | null>, message: string): Promise<string> {
    const commit = await world!.push(files, message);
    assert.equal(await sendPushWebhook(g, commit), 202);
    await waitAttempted(g.store, commit);
    return commit;
  }

  /** Records every response's body; streams (the watch) through CDP, as they arrive. */
  async function captureResponses(p: Page): Promise<void> {
    p.on('response', (res) => {
      const url = res.url();
      // Streams never end, so Playwright cannot hand over their body: CDP streams it below.
      if (url.includes('/watch?') || url.includes('/log?')) return;
      let text = '';
      bodies.push({ url, text: () => text });
      res.body().then((b) => (text = b.toString('utf8')), () => undefined);
    });
    cdp = await p.context().newCDPSession(p);
    await cdp.send('Network.enable');
    const streams = new Map<string, { text: string }>();
    const send = cdp.send.bind(cdp) as unknown as (method: string, params: object) => Promise<{ bufferedData?: string }>;
    cdp.on('Network.responseReceived', (ev) => {
      if (!ev.response.url.includes('/watch?')) return;
      const entry = { text: '' };
      streams.set(ev.requestId, entry);
      bodies.push({ url: ev.response.url, text: () => entry.text });
      void send('Network.streamResourceContent', { requestId: ev.requestId }).then((r) => {
        entry.text = Buffer.from(r.bufferedData ?? '', 'base64').toString('utf8') + entry.text;
      }, () => undefined);
    });
    cdp.on('Network.dataReceived', (ev) => {
      const entry = streams.get(ev.requestId);
      const data = (ev as { data?: string }).data;
      if (entry && data) entry.text += Buffer.from(data, 'base64').toString('utf8');
    });
  }

  before(async function () {
    if (why) return this.skip();
    this.timeout(240_000);
    await ensureDashboardBuilt();
    ipForward = await readIpForward();
    world = await createWorld({
      'web/deployment.yaml': webDeployment(),
      'web/configmap.yaml': WEB_CONFIGMAP,
      'web/service.yaml': WEB_SERVICE,
      'web/secret.yaml': secretManifest(secrets[0]!),
      'jobs/hello.yaml': job('hello', 'echo hello from e2e'),
      'ticker/deployment.yaml': TICKER,
    });
    initialCommit = await git(world.work, ['rev-parse', 'HEAD']);
    // Usage reported every 2 s rather than 15, so that the overview has figures to show soon.
    g = await startInProcess(world, { config: { node: { metricResolutionMs: 2000 } } });
    browser = await launchChromium();
    // The server's address as the browser reaches it (from its own network namespace, as root).
    serverUrl = (await browser.reach(g.apiUrl)).replace(/\/$/, '');
    page = browser.context.pages()[0] ?? await browser.context.newPage();
    await captureResponses(page);
    // What the browser said, printed when a test fails (a blank page tells nothing by itself).
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') browserLog.push(`console ${m.type()}: ${m.text()}`); });
    page.on('pageerror', (err) => browserLog.push(`page error: ${err.message}`));
    page.on('requestfailed', (r) => browserLog.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText ?? ''}`));
    page.on('response', (r) => { if (r.status() >= 400) browserLog.push(`response ${r.status()}: ${r.request().method()} ${r.url()}`); });
  });

  beforeEach(() => {
    browserLog.length = 0;
  });

  afterEach(async function () {
    // What the page showed when a test failed, beside the tests' own screenshots.
    if (this.currentTest?.state === 'failed' && page) {
      const name = this.currentTest.title.replace(/[^a-z0-9]+/gi, '-').slice(0, 60);
      await page.screenshot({ path: await artifact(`failed-${name}.png`), fullPage: true }).catch(() => undefined);
      console.log(`    browser, during "${this.currentTest.title}" (${page.url()}):\n${browserLog.slice(-30).map((l) => `      ${l}`).join('\n') || '      (nothing)'}`);
    }
  });

  after(async function () {
    this.timeout(120_000);
    await browser?.close();
    await g?.stop().catch(() => undefined);
    if (world) {
      await takeDown(world, g?.dataDir ?? path.join(world.root, 'data'), ipForward);
      await world.cleanup();
    }
  });

  it('sends a browser at the server\'s address to the sign-in page, refuses a wrong token, and signs in with the kubeconfig\'s admin token', async () => {
    await page.goto(`${serverUrl}/`);
    assert.match(page.url(), /\/dashboard\/$/);
    await page.getByLabel('API token').fill('not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'does not know this token' }).waitFor();
    await page.getByLabel('API token').fill(g.token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: /^Overview/ }).waitFor();
  });

  it('lists the sample app healthy on the overview, with the revision in force, the node with its usage and requests, and nothing out of sync', async () => {
    await page.locator('[data-workload="Deployment/default/web"] [data-health="Healthy"]').waitFor({ timeout: 90_000 });
    await page.locator('[data-workload="Job/default/hello"] [data-health="Healthy"]').waitFor({ timeout: 60_000 });
    await page.locator('[data-workload="Deployment/default/ticker"] [data-health="Healthy"]').waitFor({ timeout: 60_000 });
    assert.equal(await page.getByTestId('revision').innerText(), initialCommit.slice(0, 7));
    await page.getByTestId('in-sync').waitFor({ timeout: 30_000 });
    const nodeRow = page.locator('tr', { has: page.getByRole('link', { name: world!.node.nodeName }) });
    await nodeRow.locator('[data-health="Healthy"]').waitFor();
    // The web pods request 10m CPU each, the ticker none: 20m in all on the one node.
    assert.match(await nodeRow.locator('td').nth(4).innerText(), /^20m \//);
    // What the node uses, as `kubectl top node` reads it from metrics.k8s.io, against its allocatable.
    const allocatable = (await g.store.get<Node>({ kind: 'Node', name: world!.node.nodeName }))!.status!.allocatable!;
    await nodeRow.locator('[data-usage="cpu"] .meter').waitFor({ timeout: 30_000 });
    assert.match(await nodeRow.locator('[data-usage="cpu"]').innerText(), new RegExp(`^\\d+(m|\\.\\d)? / ${allocatable.cpu}\\s+\\(\\d+%\\)$`));
    assert.match(await nodeRow.locator('[data-usage="memory"]').innerText(), /^[\d.]+[KMG]i \/ [\d.]+[MG]i\s+\(\d+%\)$/);
    await page.screenshot({ path: await artifact('dashboard-overview.png') });
    await page.keyboard.press('t');
    assert.equal(await page.evaluate('document.documentElement.dataset.theme'), 'dark');
    await page.screenshot({ path: await artifact('dashboard-overview-dark.png') });
    await page.keyboard.press('t');
  });

  it('shows a push roll out live in the namespace\'s tree (Deployment → ReplicaSets → Pods), without a reload', async () => {
    // Keyboard only: g n to the namespaces, j to the first row, Enter to open it.
    await page.keyboard.press('g');
    await page.keyboard.press('n');
    await page.getByRole('heading', { name: 'Namespaces' }).waitFor();
    await page.keyboard.press('j');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: /^Namespace default/ }).waitFor();
    const web = page.locator('li[data-kind="Deployment"][data-name="web"]');
    await web.locator('li[data-kind="Pod"][data-health="Healthy"]').nth(1).waitFor();
    const oldSets = await web.locator('li[data-kind="ReplicaSet"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-name')));
    assert.equal(oldSets.length, 1);
    await page.evaluate('window.e2eMark = 1');

    v2Commit = await pushAndSync({ 'web/deployment.yaml': webDeployment({ version: 'v2' }) }, 'web: v2');
    await page.locator('li[data-kind="Deployment"][data-name="web"][data-health="Progressing"]').waitFor({ timeout: 30_000 });
    await page.screenshot({ path: await artifact('dashboard-rollout.png') });
    // Done: a second ReplicaSet with both pods healthy, the first scaled to nothing.
    await page.waitForFunction((old) => {
      // This file is type-checked without the DOM's types: the little of it used here, by hand.
      type El = { getAttribute(n: string): string | null; querySelectorAll(s: string): ArrayLike<El>; classList: { contains(c: string): boolean } };
      const doc = (globalThis as unknown as { document: { querySelector(s: string): El | null } }).document;
      const dep = doc.querySelector('li[data-kind="Deployment"][data-name="web"]');
      if (!dep || dep.getAttribute('data-health') !== 'Healthy') return false;
      const sets = Array.from(dep.querySelectorAll('li[data-kind="ReplicaSet"]'));
      const fresh = sets.find((s) => s.getAttribute('data-name') !== old);
      const stale = sets.find((s) => s.getAttribute('data-name') === old);
      return sets.length === 2 && !!fresh && fresh.querySelectorAll('li[data-kind="Pod"][data-health="Healthy"]').length === 2 && !!stale && stale.classList.contains('idle');
    }, oldSets[0], { timeout: 60_000 });
    assert.equal(await page.evaluate('window.e2eMark'), 1, 'the page was not reloaded');
    await page.screenshot({ path: await artifact('dashboard-namespace.png'), fullPage: true });
  });

  it('shows the change in the Deployment\'s history timeline, with its diff and the desired commit that caused it', async () => {
    await page.locator('li[data-kind="Deployment"][data-name="web"] > .node a').click();
    await page.keyboard.press('4');
    await page.getByRole('tab', { name: 'History', selected: true }).waitFor();
    const entry = page.locator('ol.timeline > li', { has: page.locator('.desired', { hasText: v2Commit.slice(0, 7) }) })
      .filter({ has: page.locator('.line.add', { hasText: 'v2' }) });
    await entry.first().waitFor({ timeout: 30_000 });
    const diff = await entry.first().locator('.diff').innerText();
    assert.match(diff, /-\s+value: v1/);
    assert.match(diff, /\+\s+value: v2/);
    await page.screenshot({ path: await artifact('dashboard-history.png'), fullPage: true });
  });

  it('follows a pod\'s log as it is written, and lists the pod\'s events', async () => {
    const ticker = (await g.store.list('Pod', { namespace: 'default', labelSelector: 'app=ticker' })).items[0]!;
    await page.goto(`${serverUrl}/dashboard/#/o/Pod/default/${ticker.metadata.name}/logs`);
    const log = page.getByTestId('logs');
    await log.filter({ hasText: /tick \d+/ }).waitFor({ timeout: 30_000 });
    const seen = Math.max(...[...(await log.innerText()).matchAll(/tick (\d+)/g)].map((m) => Number(m[1])));
    await log.filter({ hasText: `tick ${seen + 2}` }).waitFor({ timeout: 15_000 });
    await page.keyboard.press('2');
    await page.getByRole('cell', { name: 'Scheduled' }).waitFor();
  });

  it('plans a branch against the live state as gantry plan does', async () => {
    // A branch gantry does not follow: main stays as it is.
    await pushFiles(world!.work, { 'web/deployment.yaml': webDeployment({ version: 'v2', replicas: 3 }) }, 'web: three replicas', { branch: 'feature' });
    await git(world!.work, ['checkout', '-q', 'main']);
    await page.keyboard.press('g');
    await page.keyboard.press('p');
    await page.getByRole('heading', { name: 'Plan', exact: true }).waitFor();
    await page.getByLabel('Branch, tag or commit').fill('feature');
    await page.keyboard.press('Enter');
    const result = page.getByTestId('plan-result');
    await result.getByRole('heading', { name: /^Plan for feature@/ }).waitFor({ timeout: 30_000 });
    assert.match(await result.innerText(), /Plan: 0 to create, 1 to update, 0 to prune/);
    assert.match(await result.locator('article.change').innerText(), /~ update Deployment default\/web[\s\S]*-\s*spec\.replicas: 2[\s\S]*\+\s*spec\.replicas: 3/);
    await page.screenshot({ path: await artifact('dashboard-plan.png'), fullPage: true });
  });

  it('never lets a Secret\'s value reach the browser: not in the page, not in any response, the watch stream included', async () => {
    await pushAndSync({ 'web/secret.yaml': secretManifest(secrets[1]!) }, 'web: rotate the password');
    await page.goto(`${serverUrl}/dashboard/#/o/Secret/default/web-credentials`);
    const yaml = page.getByTestId('yaml');
    await yaml.filter({ hasText: 'password: (hidden)' }).waitFor();
    await page.keyboard.press('4');
    await page.locator('ol.timeline > li').first().waitFor();
    await page.locator('ol.timeline .line.add', { hasText: 'sha256:' }).first().waitFor({ timeout: 30_000 });
    await page.screenshot({ path: await artifact('dashboard-secret.png'), fullPage: true });
    const forbidden = secrets.flatMap((s) => [s, Buffer.from(s).toString('base64')]);
    const content = `${await page.content()}\n${await page.locator('body').innerText()}`;
    for (const f of forbidden) assert.ok(!content.includes(f), `the page shows ${f}`);
    // The watch stream did carry the Secret (redacted), so the check below looked where it matters.
    const watch = bodies.filter((b) => b.url.includes('/watch?')).map((b) => b.text()).join('\n');
    assert.match(watch, /"name":"web-credentials"[\s\S]*\(hidden\)|\(hidden\)[\s\S]*"name":"web-credentials"/);
    const all = bodies.map((b) => b.text());
    assert.ok(all.some((t) => t.includes('web-credentials')), 'some response named the Secret');
    for (const [i, text] of all.entries()) {
      for (const f of forbidden) assert.ok(!text.includes(f), `${bodies[i]!.url} carried ${f}`);
    }
  });
});
