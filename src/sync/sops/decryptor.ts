/**
 * The SOPS decryptor of a sync loop (or a plan): before a revision's manifests are loaded,
 * {@link SopsDecryptor.prepare} finds its SOPS-encrypted files and decrypts them (age is
 * asynchronous); the loader then asks {@link SopsDecryptor.lookup} for each file's plain
 * documents, synchronously.
 *
 * Decrypted files are kept by content id (a Git blob id never changes), so a revision that
 * leaves an encrypted file alone does not decrypt it again. Failures are not kept: a key added
 * to the data directory is picked up by the next pass, as identities are read again whenever a
 * file needs decrypting.
 */
import { createHash } from 'node:crypto';
import { errorMessage } from '../../errors.js';
import type { SourceFile } from '../types.js';
import { loadAgeIdentities, type AgeIdentities, type AgeKeySources } from './age-keys.js';
import { NotSopsError, decryptSopsText, formatOf, mayBeEncrypted } from './file.js';

/** What the loader gets for an encrypted file: its plain documents, or why they are not there. */
export type SopsLookup = { documents: unknown[] } | { error: string };

/** The loader's view of a decryptor. */
export interface EncryptedFiles {
  /** The plain documents of a SOPS file (or why it could not be decrypted); undefined when `file` is not one. */
  lookup(file: SourceFile): SopsLookup | undefined;
}

/** A decryptor as the sync loop uses it: prepare a revision's files, then let the loader look them up. */
export interface Decryption extends EncryptedFiles {
  /** Decrypts the SOPS files among `files` (never throws: failures are looked up). */
  prepare(files: readonly SourceFile[]): Promise<void>;
}

/** Options for {@link SopsDecryptor}. */
export interface SopsDecryptorOptions extends AgeKeySources {
  /** Reads the identities; default {@link loadAgeIdentities} over `dataDir` and `env`. */
  loadKeys?: () => Promise<AgeIdentities>;
  /** Decrypted files kept; default 2,000. */
  maxEntries?: number;
  /** Files larger than this are left to the loader, which refuses them; default 1 MiB, the loader's limit. */
  maxFileBytes?: number;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Decrypts a revision's SOPS files ahead of the loader. */
export class SopsDecryptor implements Decryption {
  private readonly loadKeys: () => Promise<AgeIdentities>;
  private readonly maxEntries: number;
  private readonly maxFileBytes: number;
  /** Plain documents by content id, least recently used first. */
  private readonly done = new Map<string, unknown[]>();
  /** Files known not to be SOPS files, by content id. */
  private readonly plain = new Set<string>();
  /** Failures of the last `prepare`, by content id. */
  private failed = new Map<string, string>();

  constructor(opts: SopsDecryptorOptions = {}) {
    this.loadKeys = opts.loadKeys ?? (() => loadAgeIdentities({ dataDir: opts.dataDir, env: opts.env }));
    this.maxEntries = opts.maxEntries ?? 2000;
    this.maxFileBytes = opts.maxFileBytes ?? 1024 * 1024;
  }

  /** Decrypts every SOPS file among `files` not decrypted before. Never throws: failures are looked up. */
  async prepare(files: readonly SourceFile[]): Promise<void> {
    this.failed = new Map();
    let keys: Promise<AgeIdentities> | undefined;
    for (const file of files) {
      if (!file.content || file.content.byteLength > this.maxFileBytes || !/\.(ya?ml|json)$/i.test(file.path)) continue;
      const id = contentId(file);
      if (this.done.has(id) || this.plain.has(id)) continue;
      let text: string;
      try {
        text = decoder.decode(file.content);
      } catch {
        this.remember(this.plain, id);
        continue;
      }
      const format = formatOf(file.path);
      if (!mayBeEncrypted(text, format)) {
        this.remember(this.plain, id);
        continue;
      }
      try {
        const { documents } = await decryptSopsText(text, format, () => (keys ??= this.loadKeys()));
        this.done.set(id, documents);
        while (this.done.size > this.maxEntries) this.done.delete(this.done.keys().next().value as string);
      } catch (err) {
        // A file that merely mentions sops is an ordinary manifest.
        if (err instanceof NotSopsError) this.remember(this.plain, id);
        else this.failed.set(id, errorMessage(err));
      }
    }
  }

  /** The plain documents `prepare` decrypted for `file`, or why it could not; undefined for other files. */
  lookup(file: SourceFile): SopsLookup | undefined {
    if (!file.content) return undefined;
    const id = contentId(file);
    const documents = this.done.get(id);
    if (documents) {
      this.done.delete(id);
      this.done.set(id, documents);
      return { documents };
    }
    const error = this.failed.get(id);
    return error === undefined ? undefined : { error };
  }

  private remember(set: Set<string>, id: string): void {
    set.add(id);
    if (set.size > this.maxEntries * 10) set.delete(set.values().next().value as string);
  }
}

/** The format and the Git blob id when known, else a hash of the content. */
function contentId(file: SourceFile): string {
  const id = file.oid ?? `sha256:${createHash('sha256').update(file.content ?? new Uint8Array()).digest('hex')}`;
  return `${formatOf(file.path)}:${id}`;
}
