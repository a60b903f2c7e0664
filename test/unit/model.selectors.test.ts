import assert from 'node:assert/strict';
import { matchesSelector, matchesRequirements, parseSelector } from '../../src/model/selectors.js';
import { bytes, cpuMillis, parseQuantity } from '../../src/model/quantity.js';

describe('model/selectors', () => {
  const cases: [string, Record<string, string>, boolean][] = [
    ['app=web', { app: 'web' }, true],
    ['app=web', { app: 'db' }, false],
    ['app!=web', {}, true],
    ['app in (web, api),tier', { app: 'api', tier: 'x' }, true],
    ['app notin (web)', { app: 'web' }, false],
    ['!canary', { canary: 'yes' }, false],
    ['', { any: 'thing' }, true],
  ];
  for (const [text, labels, want] of cases) {
    it(`"${text}" ${want ? 'matches' : 'does not match'} ${JSON.stringify(labels)}`, () => {
      assert.equal(matchesRequirements(parseSelector(text), labels), want);
    });
  }
  it('treats an empty selector object as match-all and an absent one as match-nothing', () => {
    assert.equal(matchesSelector({}, { a: 'b' }), true);
    assert.equal(matchesSelector(undefined, { a: 'b' }), false);
  });
  it('rejects a malformed term', () => {
    assert.throws(() => parseSelector('a in b'), /cannot parse selector term/);
  });
});

describe('model/quantity', () => {
  it('parses CPU and memory quantities as Kubernetes does', () => {
    assert.equal(cpuMillis('500m'), 500);
    assert.equal(cpuMillis('2'), 2000);
    assert.equal(cpuMillis('0.1'), 100);
    assert.equal(bytes('128Mi'), 128 * 2 ** 20);
    assert.equal(bytes('1G'), 1e9);
    assert.equal(bytes('1e3'), 1000);
    assert.equal(parseQuantity('12XB'), undefined);
  });
});
