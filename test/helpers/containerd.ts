/**
 * Test helper: a private containerd in a temp dir, shared by the tests of one file.
 * Tests call {@link containerdPrerequisites} first and skip (with its message) when not root or
 * containerd/runc are not installed.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ContainerdClient } from '../../src/node/containerd/client.js';
import { startPrivateContainerd, type PrivateContainerd } from '../../src/node/containerd/daemon.js';

/** Why containerd tests cannot run here, or undefined when they can. */
export function containerdPrerequisites(): string | undefined {
  if (process.getuid?.() !== 0) return 'containerd integration tests need root (run the suite as root)';
  for (const bin of ['containerd', 'runc']) {
    try {
      execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    } catch {
      return `${bin} is not installed (Debian: apt-get install containerd runc)`;
    }
  }
  return undefined;
}

/** A running test containerd with a connected client. */
export interface TestContainerd {
  daemon: PrivateContainerd;
  client: ContainerdClient;
  /** Temp dir holding the daemon's data dir; also free for the test's own files. */
  dir: string;
  /** Stops the daemon and removes the temp dir. */
  stop(): Promise<void>;
}

/** Starts a private containerd in a fresh temp dir and connects to it in namespace `namespace`. */
export async function startTestContainerd(namespace = 'gantry-test'): Promise<TestContainerd> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-ctd-'));
  const daemon = await startPrivateContainerd({ dataDir: path.join(dir, 'containerd') });
  const client = await ContainerdClient.connect({ address: daemon.address, namespace });
  return {
    daemon,
    client,
    dir,
    async stop() {
      client.close();
      await daemon.stop();
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    },
  };
}
