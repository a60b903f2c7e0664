/**
 * Container logs for the node agent: file paths for the shim, rotation, and the reader behind
 * `gantry logs`. See {@link FileContainerLogs} and {@link readLogs}.
 */
export * from './container-logs.js';
export * from './read.js';
export { liveLogPath, containerLogDir, logsRoot, rotatedPath, listRuns, type RunLogFiles } from './files.js';
