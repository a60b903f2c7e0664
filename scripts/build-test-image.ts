/**
 * Builds the air-gap busybox image (OCI layout) from Debian's busybox-static. No network.
 *   npx tsx scripts/build-test-image.ts <outDir> [imageName]
 * imageName defaults to gantry.local/busybox:latest. Prints the image name and manifest digest.
 */
import { buildBusyboxImage, DEFAULT_BUSYBOX_IMAGE } from '../src/node/images/busybox-image.js';

const [outDir, name = DEFAULT_BUSYBOX_IMAGE] = process.argv.slice(2);
if (!outDir) {
  process.stderr.write('usage: npx tsx scripts/build-test-image.ts <outDir> [imageName]\n');
  process.exit(2);
}
const built = await buildBusyboxImage({ outDir, name });
process.stdout.write(`${built.name} ${built.manifestDigest} -> ${outDir}\n`);
