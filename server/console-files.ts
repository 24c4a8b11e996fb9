// Serves the admin console as Vite builds it (console/ → dist/console/): index.html at `/` and the
// hashed scripts and styles at /console/assets/<name>, from the package root (found by walking up to
// package.json, so the same code works from server/ under vitest and from dist/server/). The files
// are read once, on the first request, and kept; only names the build wrote are ever served. An
// asset the build also wrote compressed (`<name>.br`, `<name>.gz`: console/precompress.ts) is sent
// in the coding the request's Accept-Encoding prefers, as those bytes, never compressed per request.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { packageRoot } from '../engine/core/package-root.js';
import { CONSOLE_FILES_MAX, CONSOLE_FILE_BYTES_MAX } from '../engine/limits.js';
import { LoyaltyError } from '../engine/errors.js';
import type { ApiReply } from './routes.js';
import { chooseCoding, type Coding } from './accept-encoding.js';

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml; charset=utf-8',
};

/**
 * The page loads only its own files and talks only to its own server. No inline script, no inline
 * `<style>` and no `style` attribute in markup: Vue, Element Plus and ECharts set styles through
 * the CSSOM (`element.style`), which `style-src 'self'` allows, and the charts draw their tooltips
 * on the canvas. Images: the build's own and the `data:` URLs of Element Plus's stylesheet.
 */
export const CONSOLE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const SECURITY_HEADERS = { 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer', 'Content-Security-Policy': CONSOLE_CSP };

/** Vite names every asset `<name>-<hash>.<ext>`: a name never changes content, so it may be kept for a year. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

/** The suffix of each compressed variant the build writes beside an asset. */
const VARIANT_SUFFIX: Record<Coding, string> = { br: '.br', gzip: '.gz' };

interface ConsoleFile { text: string; type: string; variants: Map<Coding, Buffer> }

function checkBound(path: string): void {
  const bytes = statSync(path).size;
  if (bytes > CONSOLE_FILE_BYTES_MAX) throw new Error(`console file ${path} is ${bytes} bytes, over CONSOLE_FILE_BYTES_MAX (${CONSOLE_FILE_BYTES_MAX})`);
}

function readBounded(path: string): string {
  checkBound(path);
  return readFileSync(path, 'utf8');
}

function readBoundedBytes(path: string): Buffer {
  checkBound(path);
  return readFileSync(path);
}

/** The asset a compressed variant's name stands for, with its coding; null for an asset itself. */
function variantOf(name: string): { base: string; coding: Coding } | null {
  for (const [coding, suffix] of Object.entries(VARIANT_SUFFIX) as Array<[Coding, string]>) {
    if (name.endsWith(suffix)) return { base: name.slice(0, -suffix.length), coding };
  }
  return null;
}

/** The built console in one folder: its page and its assets, by name. */
export class ConsoleFiles {
  private page: string | null = null;
  private assets: Map<string, ConsoleFile> | null = null;

  constructor(readonly dir: string) {}

  private load(): void {
    if (this.page !== null) return;
    const index = join(this.dir, 'index.html');
    // Not cached while absent: a console built after the server started is served without a restart.
    if (!existsSync(index)) throw new LoyaltyError('route_not_found', 'the console is not built: run npm run build');
    const assets = new Map<string, ConsoleFile>();
    const assetsDir = join(this.dir, 'assets');
    const all = existsSync(assetsDir) ? readdirSync(assetsDir).sort() : [];
    const names = all.filter((n) => variantOf(n) === null);
    if (names.length > CONSOLE_FILES_MAX) throw new Error(`the console build has ${names.length} assets, over CONSOLE_FILES_MAX (${CONSOLE_FILES_MAX})`);
    for (const name of names) {
      const type = CONTENT_TYPES[extname(name)];
      if (type === undefined) throw new Error(`the console build has an asset of a kind it does not serve: ${name}`);
      assets.set(name, { text: readBounded(join(assetsDir, name)), type, variants: new Map() });
    }
    for (const name of all) {
      const v = variantOf(name);
      if (v === null) continue;
      const file = assets.get(v.base);
      if (file === undefined) throw new Error(`the console build has a compressed file of no asset: ${name}`);
      file.variants.set(v.coding, readBoundedBytes(join(assetsDir, name)));
    }
    this.assets = assets;
    this.page = readBounded(index);
  }

  /** GET /: the page, asked again on every visit so that a new build's asset names are seen at once. */
  index(): ApiReply {
    this.load();
    return { status: 200, body: null, text: this.page!, headers: { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-cache', ...SECURITY_HEADERS } };
  }

  /**
   * GET /console/assets/{name}: a script, stylesheet or image of the build, in the coding
   * `acceptEncoding` (the request's header) prefers among those the build wrote; any other name is 404.
   */
  asset(name: string, acceptEncoding = ''): ApiReply {
    this.load();
    const file = this.assets!.get(name);
    if (file === undefined) throw new LoyaltyError('route_not_found', 'no such console file');
    const headers: Record<string, string> = { 'Content-Type': file.type, 'Cache-Control': IMMUTABLE, ...SECURITY_HEADERS };
    if (file.variants.size === 0) return { status: 200, body: null, text: file.text, headers };
    // The answer depends on the header: a cache between must key on it.
    headers['Vary'] = 'Accept-Encoding';
    const coding = chooseCoding(acceptEncoding, [...file.variants.keys()]);
    if (coding === 'identity') return { status: 200, body: null, text: file.text, headers };
    return { status: 200, body: null, bytes: file.variants.get(coding)!, headers: { ...headers, 'Content-Encoding': coding } };
  }
}

let shared: ConsoleFiles | null = null;

/** The console of this package: dist/console/ beside dist/server/. */
export function consoleFiles(): ConsoleFiles {
  shared ??= new ConsoleFiles(join(packageRoot(), 'dist', 'console'));
  return shared;
}
