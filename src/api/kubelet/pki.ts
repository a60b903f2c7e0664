/**
 * The trust between the control plane and its nodes' agents for logs, exec and port-forward, as
 * Kubernetes sets it up between kube-apiserver and the kubelets:
 *
 * - The server keeps a **kubelet CA** of its own (`<data-dir>/pki/kubelet-ca.crt`, `.key`),
 *   separate from the API's CA: nothing but the server and the agents trusts it, so whatever it
 *   signs can never pass as the API to kubectl or to pods.
 * - It signs the server's **client certificate** (`pki/kubelet-client.crt`, CN
 *   {@link KUBELET_CLIENT_NAME}, clientAuth only): what an agent's kubelet endpoint demands.
 * - At each start an agent makes a key pair and, over its authenticated HTTPS connection to the
 *   API (an agent token for its node), asks for a **serving certificate** for its node: CN
 *   `system:node:<node>`, serverAuth only (kubelet TLS bootstrap's serving certificate). The
 *   answer carries the kubelet CA, which the agent then trusts for its clients.
 * - The server dials a node's kubelet endpoint only if its certificate chains to the kubelet CA
 *   and names that node; the agent serves only clients whose certificate chains to it and names
 *   the control plane.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { isIP } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { PeerCertificate } from 'node:tls';
import { GantryError } from '../../errors.js';
import { ensureIssued, generateKeyPair, importPublicKey, issueCertificate, openCa, type CertificateAuthority } from '../auth/pki.js';
import type { ApiClient } from '../client.js';

/** The common name of the control plane's client certificate (kube-apiserver's is `kube-apiserver-kubelet-client`). */
export const KUBELET_CLIENT_NAME = 'gantry-apiserver-kubelet-client';
/** Extended key usage OIDs. */
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
/** A node's serving certificate lives a year; its agent asks for a new one long before that. */
export const NODE_CERT_DAYS = 365;
const MAX_NAMES = 16;

/** The common name of node `node`'s serving certificate, as Kubernetes names kubelets. */
export function nodeCommonName(node: string): string {
  return `system:node:${node}`;
}

/** Whether a verified peer certificate is the control plane's kubelet client certificate. */
export function isControlPlaneClient(cert: PeerCertificate | undefined): boolean {
  return !!cert && cert.subject?.CN === KUBELET_CLIENT_NAME && (cert.ext_key_usage ?? []).includes(CLIENT_AUTH);
}

/** Whether a verified peer certificate is node `node`'s serving certificate. */
export function isNodeServer(cert: PeerCertificate | undefined, node: string): boolean {
  return !!cert && cert.subject?.CN === nodeCommonName(node) && (cert.ext_key_usage ?? []).includes(SERVER_AUTH);
}

/** What the control plane holds to dial its nodes' kubelet endpoints. */
export interface KubeletClientCredentials {
  /** The kubelet CA (PEM): node serving certificates must chain to it. */
  ca: string;
  /** The client certificate and key (PEM). */
  cert: string;
  key: string;
}

/** A node serving certificate, as the server hands it to the agent. */
export interface IssuedNodeCertificate {
  /** PEM. */
  certificate: string;
  /** The kubelet CA (PEM): the agent trusts client certificates signed by it. */
  ca: string;
}

/** The server's side: its client credentials, and the signer of node certificates. */
export interface KubeletPki {
  client: KubeletClientCredentials;
  /**
   * Signs a serving certificate for `node` (CN `system:node:<node>`, the node's name and `names`
   * as subject alternative names) for the agent's public key (SPKI PEM).
   * @throws GantryError InvalidArgument for a key or name it will not certify.
   */
  issueNodeCertificate(node: string, req: { publicKey: string; names?: unknown }): Promise<IssuedNodeCertificate>;
}

/** Where the server keeps its kubelet PKI files. */
export function kubeletPkiPaths(dataDir: string): { caCert: string; caKey: string; cert: string; key: string } {
  const dir = path.join(dataDir, 'pki');
  return { caCert: path.join(dir, 'kubelet-ca.crt'), caKey: path.join(dir, 'kubelet-ca.key'), cert: path.join(dir, 'kubelet-client.crt'), key: path.join(dir, 'kubelet-client.key') };
}

/**
 * Loads (or makes, at first start) the kubelet CA and the control plane's client certificate of
 * `dataDir`; the client certificate is made again when it nears expiry or the CA changed.
 * Servers sharing one store must share `pki/kubelet-ca.crt` and `kubelet-ca.key` (copy them
 * before their first start), as Kubernetes API servers share their kubelet CA.
 */
export async function ensureKubeletPki(dataDir: string): Promise<KubeletPki> {
  const p = kubeletPkiPaths(dataDir);
  const ca = await openCa(p.caCert, p.caKey, `gantry-kubelet-ca-${os.hostname()}`);
  const client = await ensureIssued(ca, p, { subject: `CN=${KUBELET_CLIENT_NAME}, O=system:masters`, usage: 'client' });
  return {
    client: { ca: ca.pem, ...client },
    issueNodeCertificate: (node, req) => issueNodeCertificate(ca, node, req),
  };
}

async function issueNodeCertificate(ca: CertificateAuthority, node: string, req: { publicKey: string; names?: unknown }): Promise<IssuedNodeCertificate> {
  if (typeof req.publicKey !== 'string') throw new GantryError('InvalidArgument', 'publicKey: the agent\'s public key (SPKI PEM) is required', { field: 'publicKey' });
  const names = req.names === undefined ? [] : req.names;
  if (!Array.isArray(names) || names.length > MAX_NAMES || !names.every((n): n is string => typeof n === 'string' && isAddress(n))) {
    throw new GantryError('InvalidArgument', `names: at most ${MAX_NAMES} IP addresses and DNS names the node answers on`, { field: 'names' });
  }
  const publicKey = await importPublicKey(req.publicKey);
  const all = [...new Set([...(isAddress(node) ? [node] : []), ...names])];
  const { cert } = await issueCertificate(ca, { subject: `CN=${nodeCommonName(node)}, O=system:nodes`, usage: 'server', names: all, publicKey, days: NODE_CERT_DAYS });
  return { certificate: cert, ca: ca.pem };
}

/** An IP address or a DNS name (letters, digits, '-', '.'). */
function isAddress(n: string): boolean {
  return isIP(n) !== 0 || (n.length <= 253 && /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/i.test(n));
}

/** What an agent's kubelet endpoint serves with. */
export interface KubeletServingCredentials {
  /** PEM certificate and private key. */
  cert: string;
  key: string;
  /** The kubelet CA (PEM): clients must present a certificate it signed. */
  clientCa: string;
  /** When the certificate expires. */
  notAfter: Date;
}

/**
 * The agent's side: makes a key pair (kept in memory only) and has the server sign a serving
 * certificate for it, over the agent's authenticated connection to the API.
 */
export async function requestServingCertificate(client: ApiClient, o: { nodeName: string; names: readonly string[] }): Promise<KubeletServingCredentials> {
  const pair = await generateKeyPair();
  const issued = await client.json<IssuedNodeCertificate>(`/apis/gantry.dev/v1/nodes/${encodeURIComponent(o.nodeName)}/agent/kubelet-certificate`, {
    method: 'POST',
    body: { publicKey: pair.publicKey, names: o.names.filter(isAddress) },
  });
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(issued.certificate);
    if (!cert.checkPrivateKey(createPrivateKey(pair.key)) || !cert.checkIssued(new X509Certificate(issued.ca))) throw new Error('it is not for this key, or not signed by the CA it came with');
  } catch (err) {
    throw new GantryError('Internal', `the server's kubelet serving certificate for node ${o.nodeName} is unusable: ${(err as Error).message}`);
  }
  return { cert: issued.certificate, key: pair.key, clientCa: issued.ca, notAfter: new Date(cert.validTo) };
}
