/**
 * The environment variables the kubelet gives a pod for a Service (Docker-links style, pure):
 * `<NAME>_SERVICE_HOST`, `<NAME>_SERVICE_PORT` (and `…_PORT_<PORTNAME>` per named port),
 * `<NAME>_PORT=tcp://ip:port` and per port `<NAME>_PORT_<port>_<PROTO>[_PROTO|_PORT|_ADDR]`,
 * the name upper-cased with `-` as `_`. Every pod gets those of the `kubernetes` Service in
 * `default` (KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT): that is how in-cluster clients
 * find the API.
 */
import type { Service } from '../../model/types.js';

/** The `kubernetes` Service's namespace and name. */
export const API_SERVICE = { namespace: 'default', name: 'kubernetes' } as const;

const envName = (s: string): string => s.replace(/-/g, '_').toUpperCase();

/** The variables of one Service; none for a Service without a cluster IP (headless, ExternalName). */
export function serviceLinkEnv(svc: Service): Map<string, string> {
  const out = new Map<string, string>();
  const ip = svc.spec.clusterIP;
  const ports = svc.spec.ports ?? [];
  if (!ip || ip === 'None' || ports.length === 0) return out;
  const prefix = envName(svc.metadata.name);
  out.set(`${prefix}_SERVICE_HOST`, ip);
  out.set(`${prefix}_SERVICE_PORT`, String(ports[0]!.port));
  for (const p of ports) if (p.name) out.set(`${prefix}_SERVICE_PORT_${envName(p.name)}`, String(p.port));
  ports.forEach((p, i) => {
    const proto = (p.protocol ?? 'TCP').toLowerCase();
    const url = `${proto}://${ip}:${p.port}`;
    // Docker names the first port's URL on its own.
    if (i === 0) out.set(`${prefix}_PORT`, url);
    const portPrefix = `${prefix}_PORT_${p.port}_${proto.toUpperCase()}`;
    out.set(portPrefix, url);
    out.set(`${portPrefix}_PROTO`, proto);
    out.set(`${portPrefix}_PORT`, String(p.port));
    out.set(`${portPrefix}_ADDR`, ip);
  });
  return out;
}
