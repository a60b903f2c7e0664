import assert from 'node:assert/strict';
import { isGantryError, type ErrorCode } from '../../src/errors.js';
import type { KubeObject } from '../../src/model/types.js';
import { openEtcdStore, type EtcdStore, type EtcdStoreOptions } from '../../src/store/etcd.js';
import type { WatchEvent } from '../../src/store/types.js';
import { etcdBinary, startTestEtcd, type TestEtcd } from '../helpers/etcd.js';
import { describeStoreConformance } from '../store/conformance.js';

const haveEtcd = etcdBinary() !== undefined;
let etcd: TestEtcd | undefined;
let prefixes = 0;
const nextPrefix = (): string => `/gantry-test-${process.pid}-${++prefixes}/`;

async function sharedEtcd(): Promise<TestEtcd> {
  etcd ??= await startTestEtcd();
  return etcd;
}

after(async () => {
  await etcd?.destroy();
});

if (!haveEtcd) {
  describe('store/etcd', () => {
    it('is skipped: etcd is not installed (Debian package etcd-server; scripts/setup.sh installs it)', function () {
      this.skip();
    });
  });
} else {
  describeStoreConformance('etcd', async () => {
    const e = await sharedEtcd();
    const prefix = nextPrefix();
    const store = await openEtcdStore({ endpoints: [e.endpoint], prefix });
    return {
      store,
      cleanup: async () => {
        await store.close();
        await e.deletePrefix(prefix);
      },
    };
  });
}
