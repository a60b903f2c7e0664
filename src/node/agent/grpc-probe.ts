/**
 * The gRPC probe, as the kubelet runs it: one `grpc.health.v1.Health/Check` call over plain
 * HTTP/2 to `<pod IP>:<port>` with the probe's `service`, within the probe's timeout; SERVING is
 * success, anything else (another status, no connection, an unimplemented service) is failure
 * with the kubelet's wording.
 *
 * The two messages of the health protocol (a string field, an enum field) are encoded with
 * protobufjs' wire reader and writer rather than from a .proto file: nothing else is needed.
 */
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';

/** grpc.health.v1.HealthCheckResponse.ServingStatus by number. */
const STATUS_NAMES = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];
const SERVING = 1;
const CHECK = '/grpc.health.v1.Health/Check';

/** A HealthCheckRequest: `string service = 1`. */
export function encodeHealthRequest(service: string): Buffer {
  const w = protobuf.Writer.create();
  if (service) w.uint32((1 << 3) | 2).string(service);
  return Buffer.from(w.finish());
}

/** The `status` (field 1, an enum) of a HealthCheckResponse; 0 (UNKNOWN) when absent. */
export function decodeHealthStatus(buf: Buffer): number {
  const r = protobuf.Reader.create(buf);
  let status = 0;
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === 1 && (tag & 7) === 0) status = r.int32();
    else r.skipType(tag & 7);
  }
  return status;
}

/** The outcome of one gRPC probe. */
export interface GrpcProbeResult {
  ok: boolean;
  message?: string;
}

/** Runs one gRPC health check against `host:port`. */
export function grpcProbe(opts: { host: string; port: number; service?: string; timeoutMs: number }): Promise<GrpcProbeResult> {
  const address = `${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${opts.port}`;
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), {
    'grpc.primary_user_agent': 'kube-probe/gantry',
    // One attempt per probe run, as the kubelet dials afresh each period.
    'grpc.enable_retries': 0,
  });
  const seconds = opts.timeoutMs / 1000;
  return new Promise<GrpcProbeResult>((resolve) => {
    client.makeUnaryRequest(
      CHECK,
      (service: string) => encodeHealthRequest(service),
      (buf: Buffer) => decodeHealthStatus(buf),
      opts.service ?? '',
      new grpc.Metadata(),
      { deadline: Date.now() + opts.timeoutMs },
      (err, status) => {
        if (err) {
          if (err.code === grpc.status.UNIMPLEMENTED) resolve({ ok: false, message: `this server does not implement the grpc health protocol (grpc.health.v1.Health): ${err.details}` });
          else if (err.code === grpc.status.UNAVAILABLE) resolve({ ok: false, message: `timeout: failed to connect service "${address}" within ${seconds}s: ${err.details}` });
          else if (err.code === grpc.status.DEADLINE_EXCEEDED) resolve({ ok: false, message: `timeout: health rpc did not complete within ${seconds}s` });
          else resolve({ ok: false, message: `error: health rpc probe failed: ${err.details || err.message}` });
          return;
        }
        if (status === SERVING) resolve({ ok: true });
        else resolve({ ok: false, message: `service unhealthy (responded with "${STATUS_NAMES[status ?? 0] ?? String(status)}")` });
      },
    );
  }).finally(() => client.close());
}
