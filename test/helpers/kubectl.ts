/** Whether the real kubectl is on the PATH (tests that drive it skip, saying so, when not). */
import { existsSync } from 'node:fs';
import path from 'node:path';

export function kubectlPresent(): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => existsSync(path.join(d, 'kubectl')));
}
