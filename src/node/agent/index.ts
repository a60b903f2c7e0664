/**
 * The node agent (gantry's kubelet): {@link NodeAgent} and the pure pieces it is built from.
 */
export { NodeAgent, type NodeAgentOptions } from './agent.js';
export { PodSyncer, type PodSyncerOptions } from './pod-sync.js';
export * from './labels.js';
export * from './backoff.js';
export * from './env.js';
export * from './container-config.js';
export * from './pod-status.js';
export * from './probes.js';
export * from './node-object.js';
export * from './images.js';
export type { ContainerRuntime, PodRuntime } from './runtime.js';
