/**
 * Pod networking for the node agent: network namespaces and CNI (loopback, bridge + host-local,
 * portmap). See {@link CniNetworkManager}.
 */
export * from './manager.js';
export * from './cni.js';
export * from '../../model/cidr.js';
export { NETNS_DIR, netnsPath, netnsExists, listNetns } from './netns.js';
export { cleanupNetworkRules, parseIptables, splitRule, cleanupCommands, type IptRule, type IptTable } from './iptables.js';
