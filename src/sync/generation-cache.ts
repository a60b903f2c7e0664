/**
 * A two-generation cache: entries used by the current or the previous generation survive a
 * rotation, everything older is dropped. Memory stays about two revisions' worth, while a re-read
 * of the same (or an adjacent) revision costs nothing. GitSource keeps trees in one, the SOPS
 * decryptor decrypted files.
 */
export class GenerationCache<V> {
  private current = new Map<string, V>();
  private previous = new Map<string, V>();

  /** The entry of `key`, from this generation or the last (which carries it into this one). */
  get(key: string): V | undefined {
    let v = this.current.get(key);
    if (v === undefined) {
      v = this.previous.get(key);
      if (v !== undefined) this.current.set(key, v);
    }
    return v;
  }

  /** Keeps `value` in this generation. */
  set(key: string, value: V): void {
    this.current.set(key, value);
  }

  /** Starts a new generation; the one before last is dropped. */
  rotate(): void {
    this.previous = this.current;
    this.current = new Map();
  }
}
