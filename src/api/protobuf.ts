/**
 * Request bodies in Kubernetes' protobuf encoding, read into the JSON shape the routes take.
 * kubectl's typed clients send some requests only as protobuf (`auth can-i`, `auth whoami`,
 * `create token`: `Content-Type: application/vnd.kubernetes.protobuf`) while accepting JSON
 * answers, so the API reads these few messages and answers in JSON.
 *
 * The body is the magic `k8s\0` and a `runtime.Unknown` (typeMeta 1, raw 2) whose raw bytes are
 * the object; the messages below name their fields by number as k8s.io/api's generated.proto
 * does. protobufjs' Reader does the wire format (it is already gantry's for containerd).
 */
import type { FastifyInstance } from 'fastify';
import protobuf from 'protobufjs';
import { GantryError } from '../errors.js';

/** Kubernetes' protobuf media type. */
export const PROTOBUF_CONTENT_TYPE = 'application/vnd.kubernetes.protobuf';

/** A message's fields by number: name, and a nested message, `string`, `int` or repeated strings. */
type Message = Record<number, [string, Message | 'string' | 'int' | 'strings']>;

const objectMeta: Message = { 1: ['name', 'string'], 3: ['namespace', 'string'] };
const resourceAttributes: Message = {
  1: ['namespace', 'string'], 2: ['verb', 'string'], 3: ['group', 'string'], 4: ['version', 'string'],
  5: ['resource', 'string'], 6: ['subresource', 'string'], 7: ['name', 'string'],
};
const nonResourceAttributes: Message = { 1: ['path', 'string'], 2: ['verb', 'string'] };
const boundObjectReference: Message = { 1: ['kind', 'string'], 2: ['apiVersion', 'string'], 3: ['name', 'string'], 4: ['uid', 'string'] };

/** The request messages, by kind. */
const MESSAGES: Record<string, Message> = {
  SelfSubjectAccessReview: { 1: ['metadata', objectMeta], 2: ['spec', { 1: ['resourceAttributes', resourceAttributes], 2: ['nonResourceAttributes', nonResourceAttributes] }] },
  SelfSubjectRulesReview: { 1: ['metadata', objectMeta], 2: ['spec', { 1: ['namespace', 'string'] }] },
  SelfSubjectReview: { 1: ['metadata', objectMeta] },
  TokenRequest: { 1: ['metadata', objectMeta], 2: ['spec', { 1: ['audiences', 'strings'], 3: ['boundObjectRef', boundObjectReference], 4: ['expirationSeconds', 'int'] }] },
};

/** Lets a fastify scope take these protobuf bodies (as JSON objects, for its routes). */
export function acceptKubeProtobuf(app: FastifyInstance): void {
  app.addContentTypeParser(PROTOBUF_CONTENT_TYPE, { parseAs: 'buffer' }, (_req, body, done) => {
    try {
      done(null, decodeKubeProtobuf(body as Buffer));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
}

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/**
 * The object in a protobuf body, as JSON (`apiVersion`, `kind` and the fields the routes read).
 * @throws GantryError InvalidArgument for a body that is not one of the messages gantry reads.
 */
export function decodeKubeProtobuf(body: Buffer): Record<string, unknown> {
  if (body.length < MAGIC.length || !body.subarray(0, MAGIC.length).equals(MAGIC)) throw new GantryError('InvalidArgument', 'the protobuf body does not start with Kubernetes\' magic number');
  const unknown = read(body.subarray(MAGIC.length), { 1: ['typeMeta', { 1: ['apiVersion', 'string'], 2: ['kind', 'string'] }], 2: ['raw', 'string'] }, true);
  const typeMeta = (unknown.typeMeta ?? {}) as { apiVersion?: string; kind?: string };
  const message = typeMeta.kind ? MESSAGES[typeMeta.kind] : undefined;
  if (!message || !Buffer.isBuffer(unknown.raw)) throw new GantryError('InvalidArgument', `gantry reads no ${typeMeta.kind ?? 'unnamed'} in protobuf; send it as JSON`);
  return { apiVersion: typeMeta.apiVersion, kind: typeMeta.kind, ...read(unknown.raw, message) };
}

/** Reads one message; with `rawBytes`, a `string` field named `raw` stays bytes. */
function read(bytes: Uint8Array, message: Message, rawBytes = false): Record<string, unknown> {
  const r = protobuf.Reader.create(bytes);
  const out: Record<string, unknown> = {};
  while (r.pos < r.len) {
    const tag = r.uint32();
    const field = message[tag >>> 3];
    if (!field) {
      r.skipType(tag & 7);
      continue;
    }
    const [name, type] = field;
    if (type === 'int') out[name] = Number(r.int64());
    else if (type === 'string' && rawBytes && name === 'raw') out[name] = Buffer.from(r.bytes());
    else if (type === 'string') out[name] = r.string();
    else if (type === 'strings') out[name] = [...((out[name] as string[] | undefined) ?? []), r.string()];
    else out[name] = read(r.bytes(), type);
  }
  return out;
}
