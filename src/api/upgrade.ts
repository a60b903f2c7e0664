/**
 * Connection upgrades (WebSocket, SPDY) inside fastify: Node hands upgrade requests only to the
 * server's `upgrade` listeners, so they must be routed into fastify for the routes, the auth
 * guard and the error handling to apply to them like to any request.
 */
import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';

/** True when the request reached us through an HTTP upgrade (Node no longer parses its socket). */
export function isUpgrade(raw: IncomingMessage): boolean {
  return (raw as { upgrade?: boolean }).upgrade === true;
}

const HEADS = new WeakMap<IncomingMessage, Buffer>();

/**
 * The bytes that arrived behind an upgrade request's headers. Node hands them to the `upgrade`
 * listener only; {@link installUpgradeRouting}'s listener keeps them, and @fastify/websocket's
 * (when a plugin installed it) keeps them under its `ws-head` symbol.
 */
export function upgradeHead(raw: IncomingMessage): Buffer {
  const mine = HEADS.get(raw);
  if (mine) return mine;
  const sym = Object.getOwnPropertySymbols(raw).find((s) => s.description === 'ws-head');
  const theirs = sym ? (raw as unknown as Record<symbol, unknown>)[sym] : undefined;
  return Buffer.isBuffer(theirs) ? theirs : Buffer.alloc(0);
}

/**
 * Routes upgrade requests into fastify when no other plugin does (as @fastify/websocket does),
 * so the routes, the auth guard and the error handling apply to them like to any request.
 */
export function installUpgradeRouting(app: FastifyInstance): void {
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    HEADS.set(req, head);
    socket.on('error', () => socket.destroy());
    const res = new ServerResponse(req);
    res.assignSocket(socket as Socket);
    app.routing(req, res);
  };
  app.addHook('onReady', async () => {
    if (app.server.listenerCount('upgrade') === 0) app.server.on('upgrade', onUpgrade);
  });
  app.addHook('preClose', async () => {
    app.server.removeListener('upgrade', onUpgrade);
  });
}
