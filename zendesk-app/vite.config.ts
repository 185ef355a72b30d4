import { defineConfig } from 'vitest/config';

// Zendesk serves the app's files under its own path on its own origin, so every URL in the
// built HTML must be relative (`base: './'`). The entry sits at `assets/iframe.html` because
// that is where the manifest's `location.url` points; `public/` holds what is copied as is
// (manifest, Zendesk translations, logos).
export default defineConfig({
  base: './',
  publicDir: 'public',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    rollupOptions: { input: 'assets/iframe.html' },
  },
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
  },
});
