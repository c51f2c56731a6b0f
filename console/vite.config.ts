// Vite builds the console into dist/: one HTML file, hashed JS and CSS under assets/, no inline
// script (the manager's Content-Security-Policy allows scripts from 'self' only).
import { defineConfig } from 'vite';

export default defineConfig({
  // JSX through esbuild's automatic runtime with Preact (no Babel, no plugin).
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsInlineLimit: 0, // no data: URLs; every asset is a file served with its own type
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: 'es2020',
  },
  test: {
    include: ['tests/**/*.test.ts'],
    environment: 'node',
  },
});
