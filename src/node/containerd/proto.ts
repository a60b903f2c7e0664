/**
 * Loads gantry's own containerd `.proto` subset (top-level `proto/containerd/` of the package) at
 * run time: @grpc/proto-loader builds the gRPC method definitions, and a protobufjs root of the
 * same files encodes and decodes `google.protobuf.Any` payloads (events, runc options) by their
 * bare type name, which is how containerd names them.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { GantryError } from '../../errors.js';

/** The `.proto` files gantry loads, relative to {@link protoDir}. */
const PROTO_FILES = [
  'containerd/services/version.proto',
  'containerd/services/namespaces.proto',
  'containerd/services/leases.proto',
  'containerd/services/content.proto',
  'containerd/services/images.proto',
  'containerd/services/snapshots.proto',
  'containerd/services/diff.proto',
  'containerd/services/containers.proto',
  'containerd/services/tasks.proto',
  'containerd/services/events.proto',
  'containerd/events/events.proto',
  'containerd/events/image.proto',
  'containerd/runc/options.proto',
  'containerd/cgroups/v1/metrics.proto',
  'containerd/cgroups/v2/metrics.proto',
];

/** Options shared by gRPC decoding and Any decoding so both see the same object shapes. */
export const CONVERSION = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true } as const;

let cachedDir: string | undefined;

/**
 * The `proto/` directory of the gantry package. Found by walking up from this module, so it works
 * from `src/` under tsx and from `dist/src/` after `tsc` (which does not copy `.proto` files).
 */
export function protoDir(): string {
  if (cachedDir) return cachedDir;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'proto', 'containerd');
    if (existsSync(candidate) && existsSync(path.join(dir, 'package.json'))) {
      cachedDir = path.join(dir, 'proto');
      return cachedDir;
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new GantryError('Internal', 'cannot find gantry\'s proto/containerd directory above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

/** The loaded protos: gRPC method definitions and a protobufjs root for Any payloads. */
export interface LoadedProtos {
  definition: protoLoader.PackageDefinition;
  root: protobuf.Root;
}

let loaded: LoadedProtos | undefined;

/** Loads (once per process) and returns the containerd protos. */
export function loadProtos(): LoadedProtos {
  if (loaded) return loaded;
  const dir = protoDir();
  const definition = protoLoader.loadSync(PROTO_FILES, { ...CONVERSION, includeDirs: [dir] });
  const root = new protobuf.Root();
  // Imports are written relative to proto/ (e.g. "containerd/types/types.proto").
  root.resolvePath = (_origin, target) => (path.isAbsolute(target) ? target : path.join(dir, target));
  root.loadSync(PROTO_FILES.map((f) => path.join(dir, f)), { keepCase: true });
  root.resolveAll();
  loaded = { definition, root };
  return loaded;
}

/** A `google.protobuf.Any` as it travels: containerd uses bare type names as `type_url`. */
export interface AnyValue {
  type_url: string;
  value: Buffer;
}

/** Encodes `obj` as message `typeName` (e.g. `containerd.runc.v1.Options`) inside an Any. */
export function encodeAny(typeName: string, obj: Record<string, unknown>): AnyValue {
  const type = loadProtos().root.lookupType(typeName);
  const err = type.verify(obj);
  if (err) throw new GantryError('Internal', `cannot encode ${typeName}: ${err}`);
  return { type_url: typeName, value: Buffer.from(type.encode(type.fromObject(obj)).finish()) };
}

/** An Any whose value is JSON (how containerd carries the OCI runtime spec). */
export function jsonAny(typeUrl: string, obj: unknown): AnyValue {
  return { type_url: typeUrl, value: Buffer.from(JSON.stringify(obj)) };
}

/**
 * Decodes an Any by its bare type name. Returns undefined when gantry's protos do not know the
 * type (containerd may send events gantry does not model).
 */
export function decodeAny(any: AnyValue): Record<string, unknown> | undefined {
  const name = any.type_url.slice(any.type_url.lastIndexOf('/') + 1);
  let type: protobuf.Type;
  try {
    type = loadProtos().root.lookupType(name);
  } catch {
    return undefined;
  }
  return type.toObject(type.decode(any.value), { longs: Number, enums: String, defaults: true }) as Record<string, unknown>;
}
