/**
 * An in-memory index of the status branch's tree, so a commit costs one blob plus the trees on
 * its path (three levels: namespace/kind/name.yaml), not a rebuild of the whole tree.
 */
import { encodeObject, type EncodedObject } from './objects.js';

const FILE_MODE = '100644';
const DIR_MODE = '40000';

interface Entry {
  /** Cached `<mode> <name>\0`. */
  head: Buffer;
  oid: Buffer;
  /** Present for subdirectories. */
  dir?: TreeNode;
}

/** One directory of the index. */
export class TreeNode {
  readonly entries = new Map<string, Entry>();
  /**
   * Names in Git's tree order: by bytes, directories as if their name ended in `/`. Kept sorted
   * on insert so that adding a file to a large directory costs a binary search, not a sort.
   * Names are ASCII (see render.ts), so string order is byte order.
   */
  private readonly sorted: string[] = [];
  /** The tree's oid when nothing below it changed since it was last encoded. */
  oid: string | undefined;

  private sortKey(name: string, isDir: boolean): string {
    return isDir ? `${name}/` : name;
  }

  /** Index where `key` is or would be inserted in {@link sorted}. */
  private search(key: string): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const name = this.sorted[mid]!;
      const k = this.sortKey(name, this.entries.get(name)!.dir !== undefined);
      if (k < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private insert(name: string, entry: Entry): void {
    const i = this.search(this.sortKey(name, entry.dir !== undefined));
    this.entries.set(name, entry);
    this.sorted.splice(i, 0, name);
  }

  /** Sets a file's blob oid (hex). */
  setFile(name: string, oid: string): void {
    const existing = this.entries.get(name);
    if (existing && !existing.dir) {
      existing.oid = Buffer.from(oid, 'hex');
    } else {
      if (existing) this.remove(name);
      this.insert(name, { head: Buffer.from(`${FILE_MODE} ${name}\0`), oid: Buffer.from(oid, 'hex') });
    }
    this.oid = undefined;
  }

  /** The subdirectory `name`, created when missing and `create` is set. */
  subdir(name: string, create: boolean): TreeNode | undefined {
    const existing = this.entries.get(name);
    if (existing?.dir) return existing.dir;
    if (!create) return undefined;
    const dir = new TreeNode();
    if (existing) this.remove(name);
    this.insert(name, { head: Buffer.from(`${DIR_MODE} ${name}\0`), oid: Buffer.alloc(20), dir });
    this.oid = undefined;
    return dir;
  }

  /** Adds a subdirectory loaded from an existing tree (its oid known). */
  attach(name: string, oid: string, dir: TreeNode): void {
    dir.oid = oid;
    if (this.entries.has(name)) this.remove(name);
    this.insert(name, { head: Buffer.from(`${DIR_MODE} ${name}\0`), oid: Buffer.from(oid, 'hex'), dir });
  }

  /** Removes an entry; returns whether it existed. */
  remove(name: string): boolean {
    const entry = this.entries.get(name);
    if (!entry) return false;
    const i = this.search(this.sortKey(name, entry.dir !== undefined));
    this.sorted.splice(i, 1);
    this.entries.delete(name);
    this.oid = undefined;
    return true;
  }

  /** Adds a file loaded from an existing tree. */
  attachFile(name: string, oid: string): void {
    this.insert(name, { head: Buffer.from(`${FILE_MODE} ${name}\0`), oid: Buffer.from(oid, 'hex') });
  }

  /** Marks this directory changed (a file below it changed). */
  touch(): void {
    this.oid = undefined;
  }

  /**
   * Encodes this tree, re-encoding changed subdirectories first; new objects are appended to
   * `out`. Empty subdirectories are dropped, as Git cannot record them.
   */
  encode(out: EncodedObject[]): string {
    if (this.oid) return this.oid;
    for (const [name, entry] of [...this.entries]) {
      if (!entry.dir || entry.dir.oid) continue;
      // Encoding prunes the subdirectory's own empty children first, so emptiness is known after.
      const sub: EncodedObject[] = [];
      const oid = entry.dir.encode(sub);
      if (entry.dir.entries.size === 0) {
        this.remove(name);
        continue;
      }
      out.push(...sub);
      entry.oid = Buffer.from(oid, 'hex');
    }
    const parts: Buffer[] = [];
    for (const name of this.sorted) {
      const e = this.entries.get(name)!;
      parts.push(e.head, e.oid);
    }
    const obj = encodeObject('tree', Buffer.concat(parts));
    out.push(obj);
    this.oid = obj.oid;
    return obj.oid;
  }
}

/** The whole tree of the status branch. */
export class TreeIndex {
  root = new TreeNode();

  /** Writes a file at `segments` (directories created as needed). */
  setFile(segments: readonly string[], blobOid: string): void {
    let node = this.root;
    node.touch();
    for (const dir of segments.slice(0, -1)) {
      node = node.subdir(dir, true)!;
      node.touch();
    }
    node.setFile(segments[segments.length - 1]!, blobOid);
  }

  /** Removes a file; returns whether it existed. Directories left empty vanish at the next encode. */
  removeFile(segments: readonly string[]): boolean {
    const chain: TreeNode[] = [this.root];
    let node: TreeNode | undefined = this.root;
    for (const dir of segments.slice(0, -1)) {
      node = node.subdir(dir, false);
      if (!node) return false;
      chain.push(node);
    }
    const removed = node.remove(segments[segments.length - 1]!);
    if (removed) for (const n of chain) n.touch();
    return removed;
  }

  /** Encodes changed trees; returns the root tree's oid. New tree objects are appended to `out`. */
  encode(out: EncodedObject[]): string {
    return this.root.encode(out);
  }
}
