import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { openSource } from '../../src/sync/open-source.js';

describe('openSource()', () => {
  const dataDir = join(tmpdir(), 'gantry-open-source-unused');
  const repoDir = join(tmpdir(), 'deploy-repo');

  const cases: Array<{ name: string; repo: string; display: string }> = [
    { name: 'a local path, made absolute', repo: repoDir, display: repoDir },
    { name: 'a file:// URL, as the path it names', repo: pathToFileURL(repoDir).href, display: repoDir },
    { name: 'an https URL, without its credentials', repo: 'https://bot:s3cret@git.example/acme/deploy.git', display: 'https://git.example/acme/deploy.git' },
  ];
  for (const c of cases) {
    it(`shows ${c.name}`, async () => {
      const { display } = await openSource({ repo: c.repo, dataDir });
      assert.equal(display, c.display);
    });
  }
});
