/**
 * The node side of gantry: the agent (kubelet) and the parts it is built on. What `gantry up` and
 * `gantry agent` wire together:
 *
 * ```
 * node dir = <data-dir>/node
 * new NodeAgent({ store, nodeName, client, runcRoot: daemon.runcRoot,
 *   network: new CniNetworkManager({ dataDir: nodeDir }),     // <node dir>/network
 *   volumes: new HostVolumeManager({ dataDir: nodeDir }),     // <node dir>/pods/<uid>/volumes, <node dir>/volumes (claims)
 *   logs: new FileContainerLogs({ dataDir: dataDir }),        // <data-dir>/logs (dataPaths().logs; read by `gantry logs`)
 *   dataDir: nodeDir,                                         // <node dir>/sandboxes/<uid> (hosts, resolv.conf)
 *   imagesDir: dataPaths(dataDir).images, logger })
 * ```
 */
export * from './types.js';
export * from './agent/index.js';
export * as containerd from './containerd/index.js';
export * as images from './images/index.js';
export { CniNetworkManager, type CniNetworkManagerOptions } from './network/manager.js';
export { HostVolumeManager, type HostVolumeManagerOptions } from './volumes/manager.js';
export { FileContainerLogs, readLogs, type FileContainerLogsOptions, type ReadLogsOptions } from './logs/index.js';
