/**
 * The SOPS decryptor of a sync loop (or a plan): before a revision's manifests are loaded,
 * {@link SopsDecryptor.prepare} finds its SOPS-encrypted files and decrypts them (age is
 * asynchronous), and answers with that revision's lookup, which the loader asks for each file's
 * plain documents, synchronously. One decryptor serves the sync loop and plans of other refs at
 * once: each load keeps its own lookup.
 *
 * Decrypted files are kept by content id (a Git blob id never changes), so a revision that
 * leaves an encrypted file alone does not decrypt it again. Failures are not kept: a key added
 * to the data directory is picked up by the next pass, as identities are read again whenever a
 * file needs decrypting.
 */
import { createHash } from 'node:crypto';
import { errorMessage } from '../../errors.js';
import { GenerationCache } from '../generation-cache.js';
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

/** A decryptor as the sync loop uses it: prepare a revision's files, and give the loader their lookup. */
export interface Decryption {
  /** Decrypts the SOPS files among `files`; the answer looks them up (never throws: failures are looked up). */
  prepare(files: readonly SourceFile[]): Promise<EncryptedFiles>;
}

/** Options for {@link SopsDecryptor}. */
export interface SopsDecryptorOptions extends AgeKeySources {
  /** Reads the identities; default {@link loadAgeIdentities} over `dataDir` and `env`. */
  loadKeys?: () => Promise<AgeIdentities>;
  /** Files larger than this are left to the loader, which refuses them; default 1 MiB, the loader's limit. */
  maxFileBytes?: number;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** What `prepare` found for one file: its plain documents, that it is no SOPS file, or why it failed. */
type Outcome = { documents: unknown[] } | { plain: true } | { error: string };

/**
 * Decrypts a revision's SOPS files ahead of the loader. What it found is kept for two
 * generations (this `prepare` and the one before, see {@link GenerationCache}): memory stays about
 * two revisions' worth, and a file unchanged since the last revision is not decrypted again.
 */
export class SopsDecryptor implements Decryption {
  private readonly loadKeys: () => Promise<AgeIdentities>;
  private readonly maxFileBytes: number;
  private readonly known = new GenerationCache<Outcome>();

  constructor(opts: SopsDecryptorOptions = {}) {
    this.loadKeys = opts.loadKeys ?? (() => loadAgeIdentities({ dataDir: opts.dataDir, env: opts.env }));
    this.maxFileBytes = opts.maxFileBytes ?? 1024 * 1024;
  }

  /** Decrypts every SOPS file among `files` not decrypted before. Never throws: failures are looked up. */
  async prepare(files: readonly SourceFile[]): Promise<EncryptedFiles> {
    this.known.rotate();
    const found = new Map<string, Outcome>();
    let keys: Promise<AgeIdentities> | undefined;
    for (const file of files) {
      if (!file.content || file.content.byteLength > this.maxFileBytes || !/\.(ya?ml|json)$/i.test(file.path)) continue;
      const id = contentId(file);
      if (found.has(id)) continue;
      let outcome = this.known.get(id);
      // Failures are tried again: the keys may have changed since.
      if (!outcome || 'error' in outcome) {
        outcome = await this.decrypt(file, () => (keys ??= this.loadKeys()));
        this.known.set(id, outcome);
      }
      found.set(id, outcome);
    }
    return {
      lookup(file) {
        if (!file.content) return undefined;
        const outcome = found.get(contentId(file));
        return outcome && !('plain' in outcome) ? outcome : undefined;
      },
    };
  }

  private async decrypt(file: SourceFile, keys: () => Promise<AgeIdentities>): Promise<Outcome> {
    let text: string;
    try {
      text = decoder.decode(file.content);
    } catch {
      return { plain: true };
    }
    const format = formatOf(file.path);
    if (!mayBeEncrypted(text, format)) return { plain: true };
    try {
      return { documents: (await decryptSopsText(text, format, keys)).documents };
    } catch (err) {
      // A file that merely mentions sops is an ordinary manifest.
      return err instanceof NotSopsError ? { plain: true } : { error: errorMessage(err) };
    }
  }
}

/** The format and the Git blob id when known, else a hash of the content. */
function contentId(file: SourceFile): string {
  const id = file.oid ?? `sha256:${createHash('sha256').update(file.content ?? new Uint8Array()).digest('hex')}`;
  return `${formatOf(file.path)}:${id}`;
}
