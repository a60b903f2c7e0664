import assert from 'node:assert/strict';
import {
  isDns1035Label,
  isDns1123Label,
  isDns1123Subdomain,
  validateConfigKey,
  validateEnvVarName,
  validateLabelKey,
  validateLabelValue,
  validatePortName,
} from '../../src/model/names.js';

describe('names', () => {
  const table: { fn: (s: string) => boolean; name: string; good: string[]; bad: string[] }[] = [
    {
      fn: isDns1123Label,
      name: 'isDns1123Label()',
      good: ['web', 'a', '123-abc', 'my-name', 'a'.repeat(63)],
      bad: ['', 'Web', 'my_name', '-web', 'web-', 'a.b', 'a'.repeat(64)],
    },
    {
      fn: isDns1123Subdomain,
      name: 'isDns1123Subdomain()',
      good: ['web', 'example.com', 'web-1.shop', 'a'.repeat(253)],
      bad: ['', 'Example.com', 'a..b', '.a', 'a.', 'a_b', 'a'.repeat(254)],
    },
    {
      fn: isDns1035Label,
      name: 'isDns1035Label()',
      good: ['web', 'web-1', 'a'],
      bad: ['1web', '', 'web-', 'Web'],
    },
  ];
  for (const t of table) {
    it(`${t.name} accepts ${t.good.length} valid names and rejects ${t.bad.length} invalid ones`, () => {
      for (const s of t.good) assert.equal(t.fn(s), true, `${JSON.stringify(s)} should be valid`);
      for (const s of t.bad) assert.equal(t.fn(s), false, `${JSON.stringify(s)} should be invalid`);
    });
  }

  const messages: { fn: (s: string) => string | undefined; input: string; expect: RegExp | undefined }[] = [
    { fn: validateLabelKey, input: 'app', expect: undefined },
    { fn: validateLabelKey, input: 'app.kubernetes.io/name', expect: undefined },
    { fn: validateLabelKey, input: 'My_Key.1', expect: undefined },
    { fn: validateLabelKey, input: '', expect: /^name part must be non-empty$/ },
    { fn: validateLabelKey, input: '/app', expect: /^prefix part must be non-empty$/ },
    { fn: validateLabelKey, input: 'example.com/', expect: /^name part must be non-empty$/ },
    { fn: validateLabelKey, input: 'a/b/c', expect: /^a qualified name must consist of/ },
    { fn: validateLabelKey, input: 'Example.com/app', expect: /^prefix part a lowercase RFC 1123 subdomain must consist of/ },
    { fn: validateLabelKey, input: 'app-', expect: /^name part must consist of alphanumeric characters, '-', '_' or '\.'/ },
    { fn: validateLabelKey, input: 'k'.repeat(64), expect: /^name part must be no more than 63 characters$/ },
    { fn: validateLabelValue, input: '', expect: undefined },
    { fn: validateLabelValue, input: 'v1.2_beta-3', expect: undefined },
    { fn: validateLabelValue, input: 'has space', expect: /^a valid label must be an empty string or consist of/ },
    { fn: validateLabelValue, input: 'v'.repeat(64), expect: /^must be no more than 63 characters$/ },
    { fn: validatePortName, input: 'http', expect: undefined },
    { fn: validatePortName, input: 'grpc-web2', expect: undefined },
    { fn: validatePortName, input: 'http-frontend-01', expect: /^must be no more than 15 characters$/ },
    { fn: validatePortName, input: 'HTTP', expect: /^must contain only alpha-numeric characters \(a-z, 0-9\), and hyphens/ },
    { fn: validatePortName, input: '8080', expect: /^must contain at least one letter/ },
    { fn: validatePortName, input: 'a--b', expect: /^must not contain consecutive hyphens$/ },
    { fn: validatePortName, input: '-http', expect: /^must not begin or end with a hyphen$/ },
    { fn: validateEnvVarName, input: 'MY_ENV.NAME', expect: undefined },
    { fn: validateEnvVarName, input: '-dash.ok', expect: undefined },
    { fn: validateEnvVarName, input: '1ST', expect: /must not start with a digit/ },
    { fn: validateEnvVarName, input: 'A B', expect: /a valid environment variable name/ },
    { fn: validateConfigKey, input: 'index.html', expect: undefined },
    { fn: validateConfigKey, input: 'a/b', expect: /a valid config key must consist of/ },
    { fn: validateConfigKey, input: '..data', expect: /must not start with '\.\.'/ },
  ];
  for (const m of messages) {
    const verdict = m.expect ? 'rejects' : 'accepts';
    it(`${m.fn.name}() ${verdict} ${JSON.stringify(m.input.length > 20 ? `${m.input.slice(0, 8)}…(${m.input.length})` : m.input)}`, () => {
      const got = m.fn(m.input);
      if (m.expect === undefined) assert.equal(got, undefined);
      else assert.match(got ?? '<valid>', m.expect);
    });
  }
});
