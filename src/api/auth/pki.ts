/**
 * The API server's certificates: a CA made at first start in `<data-dir>/pki`, and a serving
 * certificate it signs for the names clients use (localhost, the loopback addresses, this
 * host's name, the address gantry listens on and any `--tls-san`). The CA stays for the life of
 * the data directory, so a kubeconfig keeps working across restarts; the serving certificate is
 * made again when the names it must cover change or it nears expiry. The same helpers make the
 * kubelet CA of ./kubelet-pki.ts and the certificates it signs.
 *
 * Keys are ECDSA P-256 (fast to make, accepted by kubectl and Node). @peculiar/x509 builds the
 * certificates on Node's WebCrypto: Node can parse X.509 but not write it, and shelling out to
 * openssl would make a binary a runtime dependency.
 */
import { webcrypto, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import os from 'node:os';
import path from 'node:path';
// @peculiar/x509 resolves its parts through tsyringe, which needs the Reflect metadata API first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { GantryError } from '../../errors.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 24 * 3600 * 1000;
/** The CA outlives any serving certificate it signs. */
const CA_DAYS = 3650;
const SERVING_DAYS = 365;
/** A serving certificate this close to expiry is made again at start. */
const RENEW_BEFORE_DAYS = 30;

/** PEM texts the HTTPS server and its clients need. */
export interface ServingPki {
  /** The CA certificate (PEM): what a kubeconfig's certificate-authority-data holds. */
  ca: string;
  /** The serving certificate (PEM). */
  cert: string;
  /** The serving key (PEM, PKCS#8). */
  key: string;
}

/** Where the PKI files of a data directory live. */
export function pkiPaths(dataDir: string): { dir: string; caCert: string; caKey: string; cert: string; key: string } {
  const dir = path.join(dataDir, 'pki');
  return { dir, caCert: path.join(dir, 'ca.crt'), caKey: path.join(dir, 'ca.key'), cert: path.join(dir, 'apiserver.crt'), key: path.join(dir, 'apiserver.key') };
}

/** The names a serving certificate must cover: the defaults plus the listen host and extra SANs. */
export function servingNames(listenHost: string | undefined, extra: readonly string[] = []): string[] {
  const names = new Set(['localhost', '127.0.0.1', '::1', os.hostname()]);
  if (listenHost && listenHost !== '0.0.0.0' && listenHost !== '::') names.add(listenHost);
  for (const n of extra) if (n.trim()) names.add(n.trim());
  return [...names];
}

/**
 * Loads the CA and serving certificate of `dataDir`, making what is missing, or a new serving
 * certificate when `names` are not all covered or it expires within 30 days.
 */
export async function ensureServingPki(dataDir: string, names: readonly string[]): Promise<ServingPki> {
  const p = pkiPaths(dataDir);
  const ca = await openCa(p.caCert, p.caKey, `gantry-ca-${os.hostname()}`);
  const serving = await ensureIssued(ca, p, { subject: 'CN=gantry-apiserver', usage: 'server', names });
  return { ca: ca.pem, ...serving };
}

/**
 * The certificate and key kept at `paths`, issued again by `ca` for `req` (and written there)
 * when they are missing, were not issued by `ca` for all of `req.names`, or expire within 30 days.
 */
export async function ensureIssued(ca: CertificateAuthority, paths: { cert: string; key: string }, req: CertificateRequest): Promise<{ cert: string; key: string }> {
  if (existsSync(paths.cert) && existsSync(paths.key)) {
    const cert = await readFile(paths.cert, 'utf8');
    if (covers(cert, ca.pem, req.names ?? [])) return { cert, key: await readFile(paths.key, 'utf8') };
  }
  const issued = await issueCertificate(ca, req);
  await writeSecret(paths.key, issued.key);
  await writeSecret(paths.cert, issued.cert);
  return issued;
}

/** A certificate authority: its certificate (PEM and parsed) and signing key. */
export interface CertificateAuthority {
  pem: string;
  cert: x509.X509Certificate;
  key: CryptoKey;
}

/** Loads the CA kept in `certPath`/`keyPath`, making it (named `commonName`) at first use. */
export async function openCa(certPath: string, keyPath: string, commonName: string): Promise<CertificateAuthority> {
  await mkdir(path.dirname(certPath), { recursive: true, mode: 0o700 });
  return existsSync(certPath) && existsSync(keyPath) ? loadCa(certPath, keyPath) : makeCa(certPath, keyPath, commonName);
}

async function loadCa(certPath: string, keyPath: string): Promise<CertificateAuthority> {
  const pem = await readFile(certPath, 'utf8');
  let key: CryptoKey;
  try {
    key = await webcrypto.subtle.importKey('pkcs8', pemBody(await readFile(keyPath, 'utf8')), ALG, true, ['sign']) as CryptoKey;
  } catch (err) {
    throw new GantryError('InvalidArgument', `${keyPath}: not an ECDSA P-256 private key in PKCS#8 PEM (${(err as Error).message}); remove it and its certificate to make a new CA (whatever the old one signed then stops being trusted: for the API's CA, every kubeconfig)`);
  }
  return { pem, cert: new x509.X509Certificate(pem), key };
}

async function makeCa(certPath: string, keyPath: string, commonName: string): Promise<CertificateAuthority> {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${commonName}`,
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + CA_DAYS * DAY),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pem = cert.toString('pem');
  await writeSecret(keyPath, toPem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)));
  await writeSecret(certPath, pem);
  return { pem, cert, key: keys.privateKey };
}

/** What {@link issueCertificate} makes. */
export interface CertificateRequest {
  /** The subject as a distinguished name, e.g. `CN=system:node:node-b, O=system:nodes`. */
  subject: string;
  /** A TLS server's certificate (EKU serverAuth) or a client's (clientAuth). */
  usage: 'server' | 'client';
  /** DNS names and IP addresses (subject alternative names). */
  names?: readonly string[];
  /** The key to certify (SPKI); without it a new key pair is made and its private key returned. */
  publicKey?: CryptoKey;
  /** Validity in days; default 365. */
  days?: number;
}

/**
 * A certificate signed by `ca`. With the caller's public key only the certificate comes back;
 * otherwise the new private key too (PKCS#8 PEM).
 */
export async function issueCertificate(ca: CertificateAuthority, req: CertificateRequest): Promise<{ cert: string; key: string }> {
  const keys = req.publicKey ? undefined : await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as CryptoKeyPair;
  const publicKey = req.publicKey ?? keys!.publicKey;
  const now = Date.now();
  const names = req.names ?? [];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: req.subject,
    issuer: ca.cert.subject,
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + (req.days ?? SERVING_DAYS) * DAY),
    publicKey,
    signingKey: ca.key,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([req.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
      ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names.map((n) => (isIP(n) ? { type: 'ip' as const, value: n } : { type: 'dns' as const, value: n })))] : []),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  });
  return { cert: cert.toString('pem'), key: keys ? toPem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)) : '' };
}

/** A new ECDSA P-256 key pair as PEM: the private key (PKCS#8) and the public key (SPKI). */
export async function generateKeyPair(): Promise<{ key: string; publicKey: string }> {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as CryptoKeyPair;
  return {
    key: toPem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)),
    publicKey: toPem('PUBLIC KEY', await webcrypto.subtle.exportKey('spki', keys.publicKey)),
  };
}

/**
 * Reads an ECDSA P-256 public key (SPKI PEM), for a certificate of a key made elsewhere.
 * @throws GantryError InvalidArgument when it is not one.
 */
export async function importPublicKey(pem: string): Promise<CryptoKey> {
  try {
    return await webcrypto.subtle.importKey('spki', pemBody(pem), ALG, true, ['verify']) as CryptoKey;
  } catch (err) {
    throw new GantryError('InvalidArgument', `not an ECDSA P-256 public key in SPKI PEM (${(err as Error).message})`, { field: 'publicKey' });
  }
}

/** Whether `certPem` is signed by `caPem`, names every one of `names`, and is not near expiry. */
export function covers(certPem: string, caPem: string, names: readonly string[]): boolean {
  try {
    const cert = new X509Certificate(certPem);
    if (!cert.checkIssued(new X509Certificate(caPem))) return false;
    if (Date.parse(cert.validTo) - Date.now() < RENEW_BEFORE_DAYS * DAY) return false;
    return names.every((n) => (isIP(n) ? cert.checkIP(n) !== undefined : cert.checkHost(n) !== undefined));
  } catch {
    return false;
  }
}

function serial(): string {
  // Positive (high bit clear) and unique enough for one data directory's certificates.
  const b = webcrypto.getRandomValues(new Uint8Array(16));
  b[0]! &= 0x7f;
  return Buffer.from(b).toString('hex');
}

/** DER bytes as a PEM block with `label` (`PRIVATE KEY`, `PUBLIC KEY`, …). */
export function toPem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

function pemBody(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----(BEGIN|END) [^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

/** Writes a file only its owner can read, atomically (a crash never leaves half a key). */
export async function writeSecret(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, text, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}
