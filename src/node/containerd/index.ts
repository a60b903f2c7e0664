/**
 * containerd access for the node agent: client, private daemon, runtime spec and container
 * lifecycle. See each module for details.
 */
export * from './client.js';
export * from './daemon.js';
export * from './run.js';
export * from './spec.js';
export * from './types.js';
export { encodeAny, jsonAny, decodeAny, protoDir } from './proto.js';
