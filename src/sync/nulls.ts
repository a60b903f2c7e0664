/**
 * `null` in a manifest, read as Kubernetes reads it. The API server decodes JSON into Go
 * structs, where null leaves a field unset: `annotations:` left empty, `rollingUpdate: null` or
 * `resources: ~` mean the field is absent (and gets its default), not a value of the wrong type.
 * Inside a string map (labels, annotations, ConfigMap data) null decodes to the empty string.
 *
 * Which keys are struct fields and which are map keys is read off the kind's JSON Schema, so the
 * rule holds everywhere at once rather than field by field. A null anywhere else (a list item, a
 * map of quantities) is left for validation to report.
 *
 * A Service port's `nodePort: 0` is unset too: the field is an integer Kubernetes leaves out
 * when zero, and charts render 0 for "pick one" (the API server then allocates a port).
 */
import type { KubeObject } from '../model/types.js';
import type { SchemaNode } from './validate-schemas.js';
import { deref, kindSchema } from './validate-schema.js';

type Rec = Record<string, unknown>;

function isRec(v: unknown): v is Rec {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Removes null-valued fields from `obj` in place (and turns null values of string maps into ""),
 * following the schema of its kind. Objects of kinds without a schema are left as they are.
 * @returns `obj`.
 */
export function dropNullFields<T extends KubeObject>(obj: T): T {
  const schema = kindSchema(obj.kind);
  if (schema) clean(obj as unknown as Rec, schema, schema.$id!);
  if (obj.kind === 'Service') dropZeroNodePorts(obj as unknown as Rec);
  return obj;
}

function dropZeroNodePorts(svc: Rec): void {
  const ports = isRec(svc.spec) && Array.isArray(svc.spec.ports) ? svc.spec.ports : [];
  for (const port of ports) if (isRec(port) && port.nodePort === 0) delete port.nodePort;
}

function clean(value: unknown, node: SchemaNode, doc: string): void {
  const [at, atDoc] = deref(node, doc);
  if (!at) return;
  if (Array.isArray(value)) {
    if (at.items) for (const item of value) if (item !== null && typeof item === 'object') clean(item, at.items, atDoc);
    return;
  }
  if (!isRec(value)) return;
  const mapOf = typeof at.additionalProperties === 'object' ? at.additionalProperties : undefined;
  for (const key of Object.keys(value)) {
    const field = at.properties?.[key];
    const v = value[key];
    if (v === null) {
      if (field) delete value[key];
      else if (mapOf && isStringSchema(mapOf, atDoc)) value[key] = '';
      continue;
    }
    const child = field ?? mapOf;
    if (child && typeof v === 'object') clean(v, child, atDoc);
  }
}

function isStringSchema(node: SchemaNode, doc: string): boolean {
  const [at] = deref(node, doc);
  return at?.type === 'string';
}
