// Entry point used by test/helpers/cli.ts: the CLI from source.
import { main } from '../../src/cli/main.js';

await main(process.argv);
