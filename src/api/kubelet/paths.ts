/**
 * The paths of an agent's kubelet endpoint, as the kubelet's own server names them, and how the
 * API turns kubectl's query into the kubelet's (kube-apiserver's `LogLocation`, `ExecLocation`,
 * `PortForwardLocation`): the pod's uid is part of the exec and port-forward paths, so the agent
 * serves exactly the pod the API authorized, never a namesake made since.
 */

/** Route patterns (fastify) of the kubelet endpoint. */
export const KUBELET_ROUTES = {
  log: '/containerLogs/:namespace/:name/:container',
  exec: '/exec/:namespace/:name/:uid/:container',
  portForward: '/portForward/:namespace/:name/:uid',
} as const;

const seg = encodeURIComponent;

/** The log of one container; `query` as the API got it (follow, previous, tailLines, …). */
export function kubeletLogPath(t: { namespace: string; pod: string; container: string }, query: URLSearchParams): string {
  const q = query.toString();
  return `/containerLogs/${seg(t.namespace)}/${seg(t.pod)}/${seg(t.container)}${q ? `?${q}` : ''}`;
}

/** An exec in one container of the pod with `uid`: the command, then the streams asked for, in the kubelet's words. */
export function kubeletExecPath(t: { namespace: string; pod: string; uid: string; container: string }, e: { command: string[]; stdin: boolean; stdout: boolean; stderr: boolean; tty: boolean }): string {
  const q = new URLSearchParams();
  for (const arg of e.command) q.append('command', arg);
  if (e.stdin) q.set('input', '1');
  if (e.stdout) q.set('output', '1');
  if (e.stderr) q.set('error', '1');
  if (e.tty) q.set('tty', '1');
  return `/exec/${seg(t.namespace)}/${seg(t.pod)}/${seg(t.uid)}/${seg(t.container)}?${q.toString()}`;
}

/** Port-forward to the pod with `uid`. */
export function kubeletPortForwardPath(t: { namespace: string; pod: string; uid: string }): string {
  return `/portForward/${seg(t.namespace)}/${seg(t.pod)}/${seg(t.uid)}`;
}
