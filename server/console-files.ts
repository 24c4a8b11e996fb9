// Serves the admin console's static files (server/console/: plain HTML, JS and CSS, no build step)
// from the package root, found by walking up to package.json, so the same code works from
// server/ under vitest and from dist/server/ in production. Files are read once and kept.
import { readFileSync, statSync } from 'node:fs';
import { packageRoot } from '../engine/core/package-root.js';
import { join } from 'node:path';
import { CONSOLE_FILE_BYTES_MAX } from '../engine/limits.js';
import { LoyaltyError } from '../engine/errors.js';
import type { ApiReply } from './routes.js';

const CONTENT_TYPES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

/** The page loads only its own files and talks only to its own server; no inline script or markup style. */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const cache = new Map<string, string>();

function read(name: string): string {
  let text = cache.get(name);
  if (text === undefined) {
    const path = join(packageRoot(), 'server', 'console', name);
    if (statSync(path).size > CONSOLE_FILE_BYTES_MAX) throw new Error(`console file ${path} is over ${CONSOLE_FILE_BYTES_MAX} bytes`);
    text = readFileSync(path, 'utf8');
    cache.set(name, text);
  }
  return text;
}

/** GET / and GET /console/{file}: the page and its assets, public (the page asks for a key). */
export function consoleFile(name: string): ApiReply {
  const type = CONTENT_TYPES[name];
  if (type === undefined) throw new LoyaltyError('route_not_found', 'no such console file');
  return { status: 200, body: null, text: read(name), headers: { 'Content-Type': type, 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff', 'Content-Security-Policy': CSP } };
}
