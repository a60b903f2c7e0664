/**
 * Running the host tools the network manager needs (`ip`, `iptables`, CNI plugins) as child
 * processes, with their output captured and failures turned into {@link GantryError}s.
 */
import { spawn } from 'node:child_process';
import { GantryError, type ErrorCode } from '../../errors.js';

/** What a finished child process produced. */
export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options for {@link execTool}. */
export interface ExecToolOptions {
  /** Written to the child's stdin (then closed). */
  input?: string;
  /** Extra environment variables, on top of the process's own. */
  env?: Record<string, string>;
  signal?: AbortSignal;
  /** Code of the error when the program is missing (or a {@link mustExec} failure); default `NetworkSetupFailed`. */
  errorCode?: ErrorCode;
}

/**
 * Runs `file args…` and resolves with its exit code and output, whatever the exit code (callers
 * decide what a failure means). Rejects only when the program cannot be started.
 */
export function execTool(file: string, args: string[], opts: ExecToolOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      env: { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      signal: opts.signal,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') reject(new GantryError(opts.errorCode ?? 'NetworkSetupFailed', `cannot run ${file}: program not found`, { cause: e, disposition: 'stalled' }));
      else reject(e);
    });
    child.on('close', (code, sig) => {
      resolve({ code: code ?? (sig ? 128 : 1), stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    // A plugin that exits before reading stdin must not crash us with EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** Runs a command that must succeed; a non-zero exit becomes a `NetworkSetupFailed` error quoting stderr. */
export async function mustExec(file: string, args: string[], opts: ExecToolOptions = {}): Promise<string> {
  const r = await execTool(file, args, opts);
  if (r.code !== 0) {
    throw new GantryError(opts.errorCode ?? 'NetworkSetupFailed', `${file} ${args.join(' ')} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`);
  }
  return r.stdout;
}
