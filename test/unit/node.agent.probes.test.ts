import assert from 'node:assert/strict';
import type { Container } from '../../src/model/types.js';
import type { ContainerdClient } from '../../src/node/containerd/client.js';
import { ContainerProbes, runProbe, type ProbeTarget } from '../../src/node/agent/probes.js';

/** An httpGet probe whose header name Node's http client refuses (a space in it). */
function badHeaderContainer(): Container {
  return {
    name: 'main',
    image: 'busybox',
    readinessProbe: { httpGet: { port: 1, path: '/', httpHeaders: [{ name: 'bad header', value: 'x' }] }, periodSeconds: 3600 },
  };
}

function target(container: Container): ProbeTarget {
  // httpGet probes never touch containerd.
  return { client: undefined as unknown as ContainerdClient, containerId: 'c1', podIP: '127.0.0.1', container };
}

describe('node agent probes', () => {
  it('runProbe reports an httpGet probe with an invalid header name as a failure instead of throwing', async () => {
    const r = await runProbe(badHeaderContainer().readinessProbe!, target(badHeaderContainer()));
    assert.equal(r.ok, false);
    assert.match(r.message ?? '', /header/i);
  });

  it('a probe run that throws counts as a failed probe and the loop keeps the container unready', async () => {
    const c = badHeaderContainer();
    let changes = 0;
    const probes = new ContainerProbes({
      target: target(c),
      onChange: () => changes++,
      run: async () => {
        throw new Error('probe handler blew up');
      },
    });
    try {
      probes.start();
      for (let i = 0; i < 100 && !probes.lastFailure.has('readiness'); i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(probes.lastFailure.get('readiness'), 'probe handler blew up');
      assert.equal(probes.ready, false);
      assert.equal(changes, 0);
    } finally {
      probes.stop();
    }
  });
});
