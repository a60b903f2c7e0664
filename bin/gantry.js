#!/usr/bin/env node
// The gantry command: runs the compiled CLI (npm run build writes dist/).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'dist', 'src', 'cli', 'main.js');
if (!existsSync(entry)) {
  process.stderr.write('gantry is not built yet: run `npm run build` (or scripts/setup.sh) in ' + root + '\n');
  process.exit(1);
}
const { main } = await import(entry);
await main(process.argv);
