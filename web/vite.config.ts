/**
 * Builds the web dashboard (Preact) into dist/dashboard, which the API server serves at
 * /dashboard/. Everything is bundled: the page loads nothing from outside the server.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('.'),
  base: '/dashboard/',
  publicDir: false,
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: here('../dist/dashboard'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    // One small app: a single script and a single stylesheet.
    cssCodeSplit: false,
    reportCompressedSize: true,
  },
});
