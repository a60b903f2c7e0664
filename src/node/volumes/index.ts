/**
 * Pod volumes for the node agent: emptyDir, hostPath, configMap, secret, projected,
 * persistentVolumeClaim.
 * See {@link HostVolumeManager}.
 */
export * from './manager.js';
export * from './payload.js';
export * from './mounts.js';
export { ensureLocalPathDirectory, localPathDirectory, type LocalPathDirs } from './local-path.js';
export * from './projected.js';
export { writeAtomic, DATA_DIR_NAME } from './atomic-writer.js';
export { checkHostPath, HOST_PATH_TYPES, type HostPathType } from './hostpath.js';
