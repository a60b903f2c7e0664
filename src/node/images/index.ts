/**
 * Images for the node agent: references, registry pulls, air-gap import, and reading present
 * images back. See each module for details.
 */
export * from './reference.js';
export * from './registry.js';
export * from './image-store.js';
export * from './pull.js';
export * from './import.js';
export { buildBusyboxImage, DEFAULT_BUSYBOX_IMAGE, type BuildBusyboxOptions, type BuiltImage } from './busybox-image.js';
