/**
 * Logging with pino: JSON lines, or pretty output when stderr is a terminal. A long-running
 * process can also keep the full log in a file while the terminal shows only warnings and
 * errors, next to its progress output.
 */
import { createRequire } from 'node:module';
import { pino, type Logger, type StreamEntry } from 'pino';
import type PinoPretty from 'pino-pretty';

/** pino-pretty is loaded only for a terminal: a service writing JSON never pays for it. */
function prettyStream(): ReturnType<typeof PinoPretty> {
  const pretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
  return pretty({ destination: 2, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname', sync: true });
}

export type { Logger } from 'pino';

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  level?: string;
  /** Force pretty (true) or JSON (false) on stderr; default: pretty when stderr is a TTY. */
  pretty?: boolean;
  /** Also write the log, at `level`, to this file (JSON lines); stderr then shows warnings and up. */
  file?: string;
}

/** The process logger. Writes to stderr so that command output on stdout stays clean. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? process.env.GANTRY_LOG_LEVEL ?? 'info';
  const usePretty = opts.pretty ?? Boolean(process.stderr.isTTY);
  const console = usePretty ? prettyStream() : pino.destination(2);
  if (!opts.file) return pino({ level }, console);
  const consoleLevel = pino.levels.values[level]! > pino.levels.values.warn! ? level : 'warn';
  const streams: StreamEntry[] = [
    { level: consoleLevel as pino.Level, stream: console },
    { level: level as pino.Level, stream: pino.destination({ dest: opts.file, mkdir: true, sync: false }) },
  ];
  return pino({ level }, pino.multistream(streams));
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
