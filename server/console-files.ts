// Serves the admin console as Vite builds it (console/ → dist/console/): index.html at `/` and the
// hashed scripts and styles at /console/assets/<name>, from the package root (found by walking up to
// package.json, so the same code works from server/ under vitest and from dist/server/). The files
// are read once, on the first request, and kept; only names the build wrote are ever served.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { packageRoot } from '../engine/core/package-root.js';
import { CONSOLE_FILES_MAX, CONSOLE_FILE_BYTES_MAX } from '../engine/limits.js';
import { LoyaltyError } from '../engine/errors.js';
import type { ApiReply } from './routes.js';

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

interface ConsoleFile { text: string; type: string }

function readBounded(path: string): string {
  const bytes = statSync(path).size;
  if (bytes > CONSOLE_FILE_BYTES_MAX) throw new Error(`console file ${path} is ${bytes} bytes, over CONSOLE_FILE_BYTES_MAX (${CONSOLE_FILE_BYTES_MAX})`);
  return readFileSync(path, 'utf8');
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
    const names = existsSync(assetsDir) ? readdirSync(assetsDir).sort() : [];
    if (names.length > CONSOLE_FILES_MAX) throw new Error(`the console build has ${names.length} assets, over CONSOLE_FILES_MAX (${CONSOLE_FILES_MAX})`);
    for (const name of names) {
      const type = CONTENT_TYPES[extname(name)];
      if (type === undefined) throw new Error(`the console build has an asset of a kind it does not serve: ${name}`);
      assets.set(name, { text: readBounded(join(assetsDir, name)), type });
    }
    this.assets = assets;
    this.page = readBounded(index);
  }

  /** GET /: the page, asked again on every visit so that a new build's asset names are seen at once. */
  index(): ApiReply {
    this.load();
    return { status: 200, body: null, text: this.page!, headers: { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-cache', ...SECURITY_HEADERS } };
  }

  /** GET /console/assets/{name}: a script, stylesheet or image of the build; any other name is 404. */
  asset(name: string): ApiReply {
    this.load();
    const file = this.assets!.get(name);
    if (file === undefined) throw new LoyaltyError('route_not_found', 'no such console file');
    return { status: 200, body: null, text: file.text, headers: { 'Content-Type': file.type, 'Cache-Control': IMMUTABLE, ...SECURITY_HEADERS } };
  }
}

let shared: ConsoleFiles | null = null;

/** The console of this package: dist/console/ beside dist/server/. */
export function consoleFiles(): ConsoleFiles {
  shared ??= new ConsoleFiles(join(packageRoot(), 'dist', 'console'));
  return shared;
}
