/**
 * Positions inside YAML/JSON text, from `yaml`'s syntax tree (which keeps exact source ranges).
 *
 * Used only when something must be placed on a line the fast parse did not record (a field a
 * validator complains about, the items of a `List`): the loader's common path never calls these.
 */
import { createRequire } from 'node:module';
import type { Alias, Document, Node as YamlNode, Scalar, YAMLMap, YAMLSeq } from 'yaml';

/**
 * `yaml` is loaded on first use: source positions are only needed on the error path, and the
 * library costs several MB of memory in a long-running gantry that never sees a bad manifest.
 */
let yamlLib: typeof import('yaml') | undefined;
/** The `yaml` package, loaded on its first use (see above). */
export function lazyYaml(): typeof import('yaml') {
  yamlLib ??= createRequire(import.meta.url)('yaml') as typeof import('yaml');
  return yamlLib;
}
const isAlias = (n: unknown): n is Alias => lazyYaml().isAlias(n);
const isMap = (n: unknown): n is YAMLMap => lazyYaml().isMap(n);
const isNode = (n: unknown): n is YamlNode => lazyYaml().isNode(n);
const isScalar = (n: unknown): n is Scalar => lazyYaml().isScalar(n);
const isSeq = (n: unknown): n is YAMLSeq => lazyYaml().isSeq(n);

/** One segment of a field path: a mapping key or a sequence index. */
export type PathSegment = string | number;

/**
 * Parses a field path such as `spec.template.spec.containers[0].image`,
 * `metadata.labels["app.kubernetes.io/name"]` or a JSON Pointer (`/spec/replicas`).
 */
export function parseFieldPath(field: string): PathSegment[] {
  if (field.startsWith('/')) {
    return field
      .slice(1)
      .split('/')
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
      .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
  }
  const out: PathSegment[] = [];
  const re = /\[(\d+)\]|\[\s*"((?:[^"\\]|\\.)*)"\s*\]|\[\s*'([^']*)'\s*\]|([^.[\]]+)/g;
  for (let m = re.exec(field); m; m = re.exec(field)) {
    if (m[1] !== undefined) out.push(Number(m[1]));
    else if (m[2] !== undefined) out.push(m[2].replace(/\\(.)/g, '$1'));
    else if (m[3] !== undefined) out.push(m[3]);
    else if (m[4] !== undefined) out.push(m[4]);
  }
  return out;
}

/**
 * Whether a mapping key names path segment `seg`: by its value as the loader resolved it
 * (`yes` is the key `true`) or by its text (this parser and the loader's may resolve some
 * plain scalars differently, e.g. timestamps).
 */
function keyMatches(node: unknown, seg: PathSegment): boolean {
  if (!isScalar(node)) return false;
  const want = String(seg);
  const v = node.value;
  return (v === null ? 'null' : String(v)) === want || node.source === want;
}

/**
 * The documents of one YAML (or JSON) text with their source ranges. Documents are found by
 * the offset where their root node starts (as the fast parser reported it), so the two
 * parsers never need to agree on how they count empty documents.
 */
export class SourceMap {
  private readonly lines = new (lazyYaml().LineCounter)();
  private readonly docs: Document.Parsed[];
  private readonly text: string;

  constructor(text: string) {
    this.text = text;
    // YAML 1.1 so plain keys such as `yes` or `0644` read as the loader read them.
    this.docs = lazyYaml().parseAllDocuments(text, { lineCounter: this.lines, version: '1.1', uniqueKeys: false, prettyErrors: false }) as Document.Parsed[];
  }

  /** 1-based line of a 0-based offset. */
  lineOf(offset: number): number {
    return this.lines.linePos(offset).line;
  }

  /**
   * Offset where a node starts: at its anchor when it has one (`- &base` starts the item),
   * else at its value (a tag is not where the content is).
   */
  private start(node: unknown): number | undefined {
    if (!isNode(node) && !isAlias(node)) return undefined;
    const range = node.range;
    if (!range) return undefined;
    if (isNode(node) && node.anchor) {
      const at = this.text.lastIndexOf(`&${node.anchor}`, range[0]);
      if (at >= 0) return at;
    }
    return range[0];
  }

  /** The value of the entry `seg` of a mapping or sequence node, with where its key or item starts. */
  private child(node: unknown, seg: PathSegment): { node: unknown; start: number | undefined } | undefined {
    if (isMap(node)) {
      for (const pair of node.items) {
        if (keyMatches(pair.key, seg)) return { node: pair.value, start: this.start(pair.key) };
      }
      return undefined;
    }
    if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      return item === undefined ? undefined : { node: item, start: this.start(item) };
    }
    return undefined;
  }

  /** The document whose text holds `offset` (the last one starting at or before it). */
  private documentAt(offset: number): Document.Parsed | undefined {
    let found: Document.Parsed | undefined;
    for (const doc of this.docs) {
      if (doc.range[0] <= offset) found = doc;
      else break;
    }
    return found;
  }

  /**
   * Line of the node at `path` in the document whose root starts at `rootOffset`: the key's
   * line for a mapping entry, the item's for a sequence element. When the path leads somewhere
   * that is not in the text (a missing field, a value from a merge key or an alias), the line of
   * the deepest part that exists; undefined when not even the root is found.
   */
  fieldLine(rootOffset: number, path: PathSegment[]): number | undefined {
    const doc = this.documentAt(rootOffset);
    if (!doc) return undefined;
    let node: unknown = doc.contents;
    let best = this.start(node);
    for (const seg of path) {
      if (isAlias(node)) break;
      const next = this.child(node, seg);
      if (!next) break;
      if (next.start !== undefined) best = next.start;
      node = next.node;
    }
    return best === undefined ? undefined : this.lineOf(best);
  }

  /**
   * Lines where the items of the sequence at `path` start (e.g. a `List`'s `items`), in order;
   * empty when there is no such sequence.
   */
  itemLines(rootOffset: number, path: PathSegment[]): Array<number | undefined> {
    const doc = this.documentAt(rootOffset);
    let node: unknown = doc?.contents;
    for (const seg of path) node = this.child(node, seg)?.node;
    if (!isSeq(node)) return [];
    return node.items.map((item) => {
      const start = this.start(item);
      return start === undefined ? undefined : this.lineOf(start);
    });
  }
}
