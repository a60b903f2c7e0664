/**
 * The cluster DNS server, in gantry's process: UDP and TCP on one address, answers for the
 * cluster domain from the Service view ({@link lookup}), every other name forwarded as it came
 * to the host's resolvers (from /etc/resolv.conf, read at start), their answer relayed as is.
 *
 * The wire format is dns-packet's (a small, widely used encoder/decoder, also under
 * multicast-dns); the protocol handling here is what a cluster DNS must decide itself.
 * gantry listens on the node's bridge address at a port of the kernel's choosing; the service
 * proxy sends the cluster DNS address's port 53 there, so nothing else on the machine that
 * holds port 53 is in the way.
 */
import dgram from 'node:dgram';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import dnsPacket, { type Answer, type Packet } from 'dns-packet';
import type { Logger } from '../../log.js';
import type { ServiceView } from '../proxy/source.js';
import { lookup, type DnsAnswer } from './records.js';

/** How long a forwarded query may take before the client gets SERVFAIL. */
const FORWARD_TIMEOUT_MS = 2000;

/** Options of {@link ClusterDnsServer}. */
export interface ClusterDnsServerOptions {
  view: ServiceView;
  /** Address to listen on. */
  host: string;
  /** Port (default 0: the kernel picks; read {@link ClusterDnsServer.port}). */
  port?: number;
  /** Resolvers (`ip` or `ip:port`) for names outside the cluster; default the host's /etc/resolv.conf nameservers. */
  upstreams?: string[];
  domain?: string;
  logger: Logger;
}

/** The nameservers of a resolv.conf text (IPv4 only: the server forwards over udp4). */
export function resolvNameservers(text: string): string[] {
  return [...text.matchAll(/^\s*nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/gm)].map((m) => m[1]!);
}

function toAnswer(a: DnsAnswer): Answer {
  return { type: a.type, name: a.name, ttl: a.ttl, class: 'IN', data: a.data } as Answer;
}

/** The cluster DNS server. */
export class ClusterDnsServer {
  private readonly opts: ClusterDnsServerOptions;
  private readonly log: Logger;
  private udp?: dgram.Socket;
  private tcp?: net.Server;
  private upstreams: string[] = [];
  private boundPort = 0;
  /** Queries answered (cluster names) and forwarded, for metrics and benches. */
  readonly counts = { answered: 0, forwarded: 0, failed: 0 };

  constructor(opts: ClusterDnsServerOptions) {
    this.opts = opts;
    this.log = opts.logger;
  }

  /** The port both sockets listen on. */
  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    this.upstreams = this.opts.upstreams ?? resolvNameservers(await readFile('/etc/resolv.conf', 'utf8').catch(() => ''));
    // One port for both: bind UDP, then TCP on the same number; the kernel's pick may be taken
    // for TCP, so try a few times.
    for (let attempt = 0; ; attempt++) {
      const udp = dgram.createSocket('udp4');
      udp.on('message', (msg, rinfo) => void this.onUdp(udp, msg, rinfo));
      udp.on('error', (err) => this.log.warn({ err }, 'cluster DNS UDP socket error'));
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(this.opts.port ?? 0, this.opts.host, () => resolve());
      });
      const port = udp.address().port;
      const tcp = net.createServer((sock) => this.onTcp(sock));
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen(port, this.opts.host, () => resolve());
        });
      } catch (err) {
        udp.close();
        if (attempt < 5 && !this.opts.port) continue;
        throw err;
      }
      this.udp = udp;
      this.tcp = tcp;
      this.boundPort = port;
      return;
    }
  }

  async stop(): Promise<void> {
    this.udp?.close();
    await new Promise<void>((resolve) => (this.tcp ? this.tcp.close(() => resolve()) : resolve()));
  }

  /** Answers a query from the cluster, or undefined when it must be forwarded. */
  answer(query: Packet): Buffer | undefined {
    const q = query.questions?.[0];
    const base = { id: query.id, type: 'response' as const, flags: 0, questions: query.questions };
    if (!q) return dnsPacket.encode({ ...base, flags: dnsPacket.RECURSION_AVAILABLE | 1 /* FORMERR */ });
    const found = lookup(this.opts.view, q.name, q.type, this.opts.domain);
    if ('forward' in found) return undefined;
    const rd = (query.flags ?? 0) & dnsPacket.RECURSION_DESIRED;
    const rcode = found.rcode === 'NXDOMAIN' ? 3 : 0;
    return dnsPacket.encode({
      ...base,
      flags: dnsPacket.AUTHORITATIVE_ANSWER | rd | dnsPacket.RECURSION_AVAILABLE | rcode,
      answers: found.answers.map(toAnswer),
    });
  }

  private servfail(raw: Buffer): Buffer {
    const id = raw.length >= 2 ? raw.readUInt16BE(0) : 0;
    let questions: Packet['questions'] = [];
    try {
      questions = dnsPacket.decode(raw).questions ?? [];
    } catch {
      // unparsable: no question section
    }
    return dnsPacket.encode({ id, type: 'response', flags: dnsPacket.RECURSION_AVAILABLE | 2 /* SERVFAIL */, questions });
  }

  private async respond(raw: Buffer, tcp: boolean): Promise<Buffer> {
    let query: Packet;
    try {
      query = dnsPacket.decode(raw);
    } catch {
      this.counts.failed++;
      return this.servfail(raw);
    }
    const local = this.answer(query);
    if (local) {
      this.counts.answered++;
      return local;
    }
    this.counts.forwarded++;
    for (const upstream of this.upstreams) {
      try {
        return tcp ? await forwardTcp(raw, upstream) : await forwardUdp(raw, upstream);
      } catch (err) {
        this.log.debug({ err, upstream }, 'upstream resolver did not answer');
      }
    }
    this.counts.failed++;
    return this.servfail(raw);
  }

  private async onUdp(sock: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): Promise<void> {
    const out = await this.respond(msg, false);
    sock.send(out, rinfo.port, rinfo.address);
  }

  private onTcp(sock: net.Socket): void {
    let buf = Buffer.alloc(0);
    sock.setTimeout(10_000, () => sock.destroy());
    sock.on('error', () => undefined);
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const len = buf.readUInt16BE(0);
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        void this.respond(Buffer.from(msg), true).then((out) => {
          const framed = Buffer.alloc(2 + out.length);
          framed.writeUInt16BE(out.length, 0);
          out.copy(framed, 2);
          if (!sock.destroyed) sock.write(framed);
        });
      }
    });
  }
}

/** `ip` or `ip:port` → address and port (53 by default). */
function upstreamAddress(upstream: string): [string, number] {
  const m = /^(.+):(\d+)$/.exec(upstream);
  return m ? [m[1]!, Number(m[2])] : [upstream, 53];
}

function forwardUdp(raw: Buffer, upstream: string): Promise<Buffer> {
  const [host, port] = upstreamAddress(upstream);
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4');
    const id = raw.readUInt16BE(0);
    const timer = setTimeout(() => {
      sock.close();
      reject(new Error(`${upstream}: no answer in ${FORWARD_TIMEOUT_MS} ms`));
    }, FORWARD_TIMEOUT_MS);
    sock.on('error', (err) => {
      clearTimeout(timer);
      sock.close();
      reject(err);
    });
    sock.on('message', (msg) => {
      if (msg.length < 2 || msg.readUInt16BE(0) !== id) return;
      clearTimeout(timer);
      sock.close();
      resolve(msg);
    });
    sock.send(raw, port, host);
  });
}

function forwardTcp(raw: Buffer, upstream: string): Promise<Buffer> {
  const [host, port] = upstreamAddress(upstream);
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, host);
    let buf = Buffer.alloc(0);
    sock.setTimeout(FORWARD_TIMEOUT_MS, () => {
      sock.destroy();
      reject(new Error(`${upstream}: no answer in ${FORWARD_TIMEOUT_MS} ms`));
    });
    sock.on('error', reject);
    sock.on('connect', () => {
      const framed = Buffer.alloc(2 + raw.length);
      framed.writeUInt16BE(raw.length, 0);
      raw.copy(framed, 2);
      sock.write(framed);
    });
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        sock.end();
        resolve(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      }
    });
  });
}
