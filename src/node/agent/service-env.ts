/**
 * The Service environment variables the kubelet gives every container (`enableServiceLinks`):
 * for each Service of the pod's namespace that has a cluster IP, `<NAME>_SERVICE_HOST`,
 * `<NAME>_SERVICE_PORT`, `<NAME>_SERVICE_PORT_<PORT NAME>`, and the Docker link variables
 * (`<NAME>_PORT`, `<NAME>_PORT_<port>_<PROTO>`, `…_PROTO`, `…_PORT`, `…_ADDR`). The `kubernetes`
 * Service of the default namespace is always included, links or not. Pure.
 */
import type { Service } from '../../model/types.js';

/** Services whose variables every pod gets, from the default namespace. */
const MASTER_SERVICES = new Set(['kubernetes']);

/** `my-svc` → `MY_SVC`, as the kubelet names the variables. */
function envName(name: string): string {
  return name.replace(/-/g, '_').toUpperCase();
}

function hasClusterIp(s: Service): boolean {
  const ip = s.spec.clusterIP;
  return !!ip && ip !== 'None';
}

/** The Services a pod of `namespace` gets variables for, by name (a namespace's own win over the default's). */
export function linkedServices(services: readonly Service[], namespace: string, enableServiceLinks: boolean): Service[] {
  const byName = new Map<string, Service>();
  for (const s of services) {
    if (!hasClusterIp(s)) continue;
    const ns = s.metadata.namespace ?? 'default';
    if (ns === 'default' && MASTER_SERVICES.has(s.metadata.name)) {
      if (!byName.has(s.metadata.name)) byName.set(s.metadata.name, s);
    } else if (ns === namespace && enableServiceLinks) {
      byName.set(s.metadata.name, s);
    }
  }
  return [...byName.values()];
}

/** The variables of `services` (see the module comment), in the kubelet's order. */
export function serviceEnvVars(services: readonly Service[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of services) {
    const ports = s.spec.ports ?? [];
    if (!hasClusterIp(s) || ports.length === 0) continue;
    const ip = s.spec.clusterIP!;
    const prefix = envName(s.metadata.name);
    out.set(`${prefix}_SERVICE_HOST`, ip);
    out.set(`${prefix}_SERVICE_PORT`, String(ports[0]!.port));
    for (const p of ports) if (p.name) out.set(`${prefix}_SERVICE_PORT_${envName(p.name)}`, String(p.port));
    ports.forEach((p, i) => {
      const proto = (p.protocol ?? 'TCP').toLowerCase();
      const url = `${proto}://${ip}:${p.port}`;
      if (i === 0) out.set(`${prefix}_PORT`, url);
      const portPrefix = `${prefix}_PORT_${p.port}_${proto.toUpperCase()}`;
      out.set(portPrefix, url);
      out.set(`${portPrefix}_PROTO`, proto);
      out.set(`${portPrefix}_PORT`, String(p.port));
      out.set(`${portPrefix}_ADDR`, ip);
    });
  }
  return out;
}
