import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadKeyFile, sharedDigestKey } from '../../src/audit/digest-key.js';
import { silentLogger } from '../../src/log.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { tempDir } from '../helpers/git-http-server.js';

describe('audit digest key', () => {
  let tmp: { dir: string; cleanup(): Promise<void> };
  beforeEach(async () => (tmp = await tempDir('gantry-digest-key-')));
  afterEach(async () => tmp.cleanup());

  it('is made at first start with mode 0600 and read back unchanged afterwards', async () => {
    const file = path.join(tmp.dir, 'data', 'history.key');
    const key = await loadKeyFile(file);
    assert.equal(key.length, 32);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.ok((await loadKeyFile(file)).equals(key));
  });

  it('refuses a key file that holds something else, naming the file', async () => {
    const file = path.join(tmp.dir, 'history.key');
    await writeFile(file, 'not a key\n');
    await assert.rejects(loadKeyFile(file), /history\.key does not hold an audit digest key/);
  });

  it('is shared by the servers of one store: the second adopts the first one\'s key and rewrites its file', async () => {
    const store = openSqliteStore(path.join(tmp.dir, 'state.db'));
    try {
      const fileA = path.join(tmp.dir, 'a', 'history.key');
      const fileB = path.join(tmp.dir, 'b', 'history.key');
      const own = await loadKeyFile(fileB);
      const a = await sharedDigestKey({ store, file: fileA, logger: silentLogger() });
      const b = await sharedDigestKey({ store, file: fileB, logger: silentLogger() });
      assert.ok(a.equals(b), 'both servers digest with one key');
      assert.ok(!own.equals(b), 'server b gave up the key it had made alone');
      assert.equal((await readFile(fileB, 'utf8')).trim(), a.toString('hex'));
      assert.equal((await stat(fileB)).mode & 0o777, 0o600);
    } finally {
      await store.close();
    }
  });
});
