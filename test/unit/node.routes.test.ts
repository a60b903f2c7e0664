import assert from 'node:assert/strict';
import type { Node } from '../../src/model/types.js';
import { desiredRoutes } from '../../src/node/network/routes.js';

function node(name: string, opts: { cidr?: string; ip?: string; ready?: 'True' | 'False' | 'Unknown' } = {}): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name },
    spec: opts.cidr ? { podCIDR: opts.cidr } : {},
    status: {
      conditions: [{ type: 'Ready', status: opts.ready ?? 'True' }],
      addresses: [...(opts.ip ? [{ type: 'InternalIP', address: opts.ip }] : []), { type: 'Hostname', address: name }],
    },
  };
}

describe('node: routes to other nodes\' pods', () => {
  it('routes every other Ready node\'s pod CIDR through its InternalIP, never its own', () => {
    const nodes = [
      node('a', { cidr: '10.244.0.0/24', ip: '10.7.0.2' }),
      node('b', { cidr: '10.244.1.0/24', ip: '10.7.0.3' }),
      node('c', { cidr: '10.244.2.0/24', ip: '10.7.0.4' }),
    ];
    assert.deepEqual(desiredRoutes('a', nodes), [
      { cidr: '10.244.1.0/24', via: '10.7.0.3', node: 'b' },
      { cidr: '10.244.2.0/24', via: '10.7.0.4', node: 'c' },
    ]);
  });

  it('drops nodes that are not Ready, have no pod CIDR yet, or no InternalIP', () => {
    const nodes = [
      node('a', { cidr: '10.244.0.0/24', ip: '10.7.0.2' }),
      node('down', { cidr: '10.244.1.0/24', ip: '10.7.0.3', ready: 'Unknown' }),
      node('sick', { cidr: '10.244.2.0/24', ip: '10.7.0.4', ready: 'False' }),
      node('new', { ip: '10.7.0.5' }),
      node('noip', { cidr: '10.244.4.0/24' }),
    ];
    assert.deepEqual(desiredRoutes('a', nodes), []);
  });
});
