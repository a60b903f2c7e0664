/**
 * The node side of gantry: the agent (kubelet) and the parts it is built on. Node data dir
 * layout (`<data-dir>/node`, as src/node/host.ts wires it; every manager gets this dir):
 *
 * ```
 * <node dir>/network/…               CniNetworkManager (per-pod records, host-local IPAM state)
 * <node dir>/pods/<uid>/volumes/…    HostVolumeManager (emptyDir, configMap, secret)
 * <node dir>/logs/<uid>/<c>/<n>.log  FileContainerLogs (read by `gantry logs`)
 * <node dir>/sandboxes/<uid>/        NodeAgent (the pod's generated hosts and resolv.conf)
 * <data-dir>/storage/<pv-name>/      LocalPathVolumes (local-path PersistentVolumes, kept until reclaimed)
 * ```
 */
export * from './types.js';
export type { NodeApi, NodeEvent } from './api.js';
export { StoreNodeApi, type StoreNodeApiOptions } from './store-api.js';
export * from './agent/index.js';
export * as containerd from './containerd/index.js';
export * as images from './images/index.js';
export { CniNetworkManager, type CniNetworkManagerOptions } from './network/manager.js';
export { HostVolumeManager, type HostVolumeManagerOptions } from './volumes/manager.js';
export { FileContainerLogs, readLogs, type FileContainerLogsOptions, type ReadLogsOptions } from './logs/index.js';
