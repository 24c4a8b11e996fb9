// A Vite plugin that writes each built script, stylesheet and image a second and third time,
// compressed with brotli (`.br`) and gzip (`.gz`) by node:zlib at their highest settings, once at
// build time, so that the server sends the console's ~1.6 MB as about a quarter of it without
// compressing anything per request (server/console-files.ts picks the file by Accept-Encoding).
// A variant that would not be smaller than its file is not written.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import type { Plugin } from 'vite';

const COMPRESSED = /\.(js|css|svg)$/;

export function precompress(assetsDir: string): Plugin {
  return {
    name: 'loyalty-precompress',
    apply: 'build',
    closeBundle() {
      for (const name of readdirSync(assetsDir)) {
        if (!COMPRESSED.test(name)) continue;
        const plain = readFileSync(join(assetsDir, name));
        const br = brotliCompressSync(plain, {
          params: {
            [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
            [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
            [constants.BROTLI_PARAM_SIZE_HINT]: plain.byteLength,
          },
        });
        const gz = gzipSync(plain, { level: constants.Z_BEST_COMPRESSION, memLevel: 9, strategy: constants.Z_DEFAULT_STRATEGY });
        if (br.byteLength < plain.byteLength) writeFileSync(join(assetsDir, `${name}.br`), br);
        if (gz.byteLength < plain.byteLength) writeFileSync(join(assetsDir, `${name}.gz`), gz);
      }
    },
  };
}
