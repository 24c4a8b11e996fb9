// Builds the admin console (a Vue 3 single-page app) into dist/console/: index.html, served by the
// engine at `/`, and hashed assets under /console/assets/. Nothing is fetched from elsewhere at run
// time: Element Plus, ECharts and the messages are bundled. Each asset is also written brotli- and
// gzip-compressed beside itself (precompress.ts).
import { defineConfig } from 'vite';
import vue from '@vitejs/plugin-vue';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { precompress } from './precompress.js';

const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  base: '/console/',
  // node_modules may be shared with other checkouts: keep Vite's cache inside this one's dist/.
  cacheDir: resolve(here, '../dist/.vite-cache'),
  publicDir: false,
  plugins: [vue(), precompress(resolve(here, '../dist/console/assets'))],
  define: {
    __VUE_OPTIONS_API__: 'false',
    __VUE_PROD_DEVTOOLS__: 'false',
    __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: 'false',
    __VUE_I18N_FULL_INSTALL__: 'false',
    __VUE_I18N_LEGACY_API__: 'false',
    __INTLIFY_PROD_DEVTOOLS__: 'false',
  },
  build: {
    outDir: resolve(here, '../dist/console'),
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    target: 'es2022',
    // The polyfill would be one more script; every browser the console supports has modulepreload.
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
    // ECharts (its core with the four charts used) is one chunk of ~600 kB, loaded only by the screens with charts.
    chunkSizeWarningLimit: 700,
  },
});
