/**
 * The key of the audit trail's Secret digests (see render.ts `digest`). It lives in the data
 * directory (`history.key`, 32 random bytes in hex, mode 0600, made at first start) and never in
 * the history itself. Servers that share a store (etcd) and push one history must digest with one
 * key, or the same unchanged Secret would read as changed at every failover: the first of them
 * puts its key in the store as a `DigestKey` object of gantry's own group (served by no API route,
 * recorded in no history), and every server adopts that one, rewriting its own file.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { errorMessage, GantryError, isGantryError } from '../errors.js';
import type { Logger } from '../log.js';
import type { KubeObject } from '../model/types.js';
import type { Store } from '../store/types.js';

/** The kind of the store object holding the shared key. */
export const DIGEST_KEY_KIND = 'DigestKey';
/** Its name. */
export const DIGEST_KEY_NAME = 'audit-history';

const KEY_BYTES = 32;
const HEX_KEY = /^[0-9a-f]{64}$/;

/** The store object holding the shared key. */
interface DigestKeyObject extends KubeObject {
  kind: typeof DIGEST_KEY_KIND;
  data: { key: string };
}

function parseKey(text: string, where: string): Buffer {
  const hex = text.trim().toLowerCase();
  if (!HEX_KEY.test(hex)) throw new GantryError('InvalidArgument', `${where} does not hold an audit digest key (64 hex digits); remove it to have a new one made, or restore it from another server`);
  return Buffer.from(hex, 'hex');
}

/** Writes the key file with mode 0600 (also when it existed with a wider mode). */
async function writeKeyFile(file: string, key: Buffer): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `${key.toString('hex')}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
}

/**
 * Reads the key in `file`, making a new random one (mode 0600) when the file does not exist.
 * Throws `InvalidArgument` when the file holds something else.
 */
export async function loadKeyFile(file: string): Promise<Buffer> {
  try {
    return parseKey(await readFile(file, 'utf8'), file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const key = randomBytes(KEY_BYTES);
  try {
    // `wx`: two processes starting at once must not each write their own key.
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, `${key.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return parseKey(await readFile(file, 'utf8'), file);
    throw err;
  }
}

/** Options of {@link sharedDigestKey}. */
export interface SharedKeyOptions {
  store: Store;
  /** The data directory's key file. */
  file: string;
  logger: Logger;
}

/**
 * The key every server on `store` digests with: the store's when it holds one (the file is
 * rewritten to match), else this server's file key, which it then puts in the store.
 */
export async function sharedDigestKey(opts: SharedKeyOptions): Promise<Buffer> {
  const { store, file, logger } = opts;
  const ref = { kind: DIGEST_KEY_KIND, name: DIGEST_KEY_NAME };
  const local = await loadKeyFile(file);
  for (let attempt = 0; attempt < 3; attempt++) {
    const held = await store.get<DigestKeyObject>(ref);
    if (held) {
      const key = parseKey(String(held.data?.key ?? ''), `the store's ${DIGEST_KEY_KIND}/${DIGEST_KEY_NAME}`);
      if (!key.equals(local)) {
        await writeKeyFile(file, key);
        logger.info({ file }, 'audit: using the digest key the other servers of this store share (written to the data dir)');
      }
      return key;
    }
    const obj: DigestKeyObject = { apiVersion: 'gantry.dev/v1', kind: DIGEST_KEY_KIND, metadata: { name: DIGEST_KEY_NAME }, data: { key: local.toString('hex') } };
    try {
      await store.create(obj, { origin: { actor: 'audit', reason: 'the audit trail\'s digest key, shared by the servers of this store' } });
      return local;
    } catch (err) {
      // Another server put its key there first: take that one.
      if (!isGantryError(err, 'AlreadyExists')) throw new GantryError('StoreUnavailable', `cannot share the audit digest key through the store: ${errorMessage(err)}`, { cause: err });
    }
  }
  throw new GantryError('Conflict', 'cannot settle the audit digest key: the store kept changing');
}
