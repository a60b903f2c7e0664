/**
 * Manifest validation: one parsed document in, the problems with it out. Three gates, in
 * order, each run only when the previous one passed: the apiVersion/kind pair, the kind's JSON
 * Schema (unsupported fields, types, enums, ranges, required fields), then the semantic rules
 * the API server applies (names, selectors, ports, quantities, volumes, schedules, …).
 */
import { hpaAsV2 } from '../model/hpa.js';
import { kindInfo } from '../model/kinds.js';
import { objectKey } from '../model/keys.js';
import type { KubeObject } from '../model/types.js';
import { GENERATE_NAME_MESSAGE } from './loader.js';
import type { ManifestIssue } from './types.js';
import { SCHEMA_KINDS, expectedApiVersion, olderApiVersions, schemaProblems } from './validate-schema.js';
import { ruleProblems } from './validate-rules.js';

/** Where the document being validated came from. */
export interface ValidateContext {
  /** Path of the manifest file relative to the repo. */
  file: string;
  /** 1-based line where the document starts. */
  line?: number;
}

/** A kind a repo may declare, with the apiVersion it must carry. */
export interface SupportedKind {
  kind: string;
  apiVersion: string;
}

/** The kinds a manifest may declare, with their apiVersions. */
export function supportedKinds(): SupportedKind[] {
  return SCHEMA_KINDS.map((k) => ({ ...k }));
}

const kindList = SCHEMA_KINDS.map((k) => `${k.kind} (${k.apiVersion})`).join(', ');

/**
 * Validates one parsed manifest document and returns its problems (empty when valid). Each
 * issue carries the file of `ctx`, the object's key when it has a kind and name, and the dotted
 * field path (`spec.template.spec.containers[0].image`, map keys in brackets as Kubernetes
 * writes them: `metadata.labels[app]`) when a field is at fault. Issues without a field carry
 * `ctx.line`; issues with one leave `line` unset for the loader to place at the field's line.
 * Pure: the same object always yields the same issues (the loader caches them by content).
 */
export function validateObject(obj: unknown, ctx: ValidateContext): ManifestIssue[] {
  const issue = (message: string, field?: string, object?: string): ManifestIssue => {
    const out: ManifestIssue = { file: ctx.file, message };
    // An issue naming a field leaves `line` to the loader, which maps the field to its own line
    // in the file (falling back to the document's); whole-object issues get the document's line.
    if (ctx.line !== undefined && field === undefined) out.line = ctx.line;
    if (object !== undefined) out.object = object;
    if (field !== undefined) out.field = field;
    return out;
  };

  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    return [issue(`a manifest must be a mapping with apiVersion, kind and metadata, not ${describeValue(obj)}`)];
  }
  const rec = obj as Record<string, unknown>;
  const { kind, apiVersion } = rec;
  const head: ManifestIssue[] = [];
  if (kind === undefined || kind === '') head.push(issue(`kind is required; supported kinds: ${kindList}`, 'kind'));
  else if (typeof kind !== 'string') head.push(issue(`kind must be a string (got ${describeValue(kind)})`, 'kind'));
  if (apiVersion === undefined || apiVersion === '') head.push(issue('apiVersion is required', 'apiVersion'));
  else if (typeof apiVersion !== 'string') head.push(issue(`apiVersion must be a string (got ${describeValue(apiVersion)})`, 'apiVersion'));
  if (head.length > 0) return head;

  const k = kind as string;
  const expected = expectedApiVersion(k);
  if (expected === undefined) {
    const info = kindInfo(k);
    const why = info && !info.declarable
      ? `kind ${k} is written by gantry itself and cannot be declared in a repo`
      : `kind ${JSON.stringify(k)} is not supported`;
    return [issue(`${why}; supported kinds: ${kindList}`, 'kind')];
  }
  const older = olderApiVersions(k);
  if (apiVersion !== expected && !older.includes(apiVersion as string)) {
    const accepted = [expected, ...older].map((v) => JSON.stringify(v)).join(' or ');
    return [issue(`${k} must have apiVersion ${accepted}, not ${JSON.stringify(apiVersion)}`, 'apiVersion')];
  }

  const meta = rec.metadata as Record<string, unknown> | undefined;
  if (meta && typeof meta === 'object' && !meta.name && typeof meta.generateName === 'string' && meta.generateName !== '') {
    return [issue(GENERATE_NAME_MESSAGE, 'metadata.generateName')];
  }
  const key = keyOf(rec, k);
  const schema = schemaProblems(k, obj, { apiVersion: apiVersion as string });
  if (schema.length > 0) return schema.map((p) => issue(p.message, p.field, key));
  // An older version's object is checked as the version it is stored in (the fields the rules
  // look at keep their names across the conversion).
  const stored = apiVersion === expected ? (obj as KubeObject) : storedVersion(obj as KubeObject);
  return ruleProblems(stored).map((p) => issue(p.message, p.field, key));
}

/** An older version's object converted to the version gantry stores (see src/model/hpa.ts). */
function storedVersion(obj: KubeObject): KubeObject {
  return obj.kind === 'HorizontalPodAutoscaler' ? hpaAsV2(obj) : obj;
}

/** The object's key when its metadata names it; undefined before that is known. */
function keyOf(rec: Record<string, unknown>, kind: string): string | undefined {
  const meta = rec.metadata as Record<string, unknown> | undefined;
  if (!meta || typeof meta !== 'object' || typeof meta.name !== 'string' || meta.name === '') return undefined;
  const namespace = typeof meta.namespace === 'string' ? meta.namespace : undefined;
  return objectKey({ apiVersion: '', kind, metadata: { name: meta.name, namespace } });
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}
