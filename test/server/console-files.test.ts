// The console's files as the server hands them out: the page with a strict Content-Security-Policy
// and no caching, hashed assets cached for a year with their types, nothing outside the build's own
// names, every file bounded; assets sent in the precompressed coding the request's Accept-Encoding
// prefers; and the real build (dist/console/, made by `npm run build`) served whole, compressed too.
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import { chooseCoding } from '../../server/accept-encoding.js';
import { CONSOLE_CSP, ConsoleFiles, consoleFiles } from '../../server/console-files.js';
import { CONSOLE_FILE_BYTES_MAX } from '../../engine/limits.js';
import { LoyaltyError } from '../../engine/errors.js';

const dirs: string[] = [];
function build(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'loyalty-console-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

function refusal(fn: () => unknown): { code: string; message: string } {
  try { fn(); } catch (err) {
    if (err instanceof LoyaltyError) return { code: err.code, message: err.message };
    return { code: 'thrown', message: (err as Error).message };
  }
  return { code: 'none', message: '' };
}

describe('console files', () => {
  const dir = build({
    'index.html': '<!doctype html><script type="module" src="/console/assets/index-AbCd1234.js"></script>',
    'assets/index-AbCd1234.js': 'export {};',
    'assets/index-XyZ98765.css': 'body{margin:0}',
    'assets/logo-Qq11Ww22.svg': '<svg xmlns="http://www.w3.org/2000/svg"/>',
  });
  const files = new ConsoleFiles(dir);

  it('serves the page with the CSP, no caching and no sniffing', () => {
    const page = files.index();
    expect(page.status).toBe(200);
    expect(page.text).toContain('/console/assets/index-AbCd1234.js');
    expect(page.headers).toEqual({
      'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer', 'Content-Security-Policy': CONSOLE_CSP,
    });
    expect(CONSOLE_CSP).toContain("script-src 'self';");
    expect(CONSOLE_CSP).toContain("style-src 'self';");
    expect(CONSOLE_CSP).not.toContain('unsafe');
  });

  it('serves each hashed asset with its type, cached for a year', () => {
    const cases: Array<[string, string]> = [
      ['index-AbCd1234.js', 'text/javascript; charset=utf-8'],
      ['index-XyZ98765.css', 'text/css; charset=utf-8'],
      ['logo-Qq11Ww22.svg', 'image/svg+xml; charset=utf-8'],
    ];
    for (const [name, type] of cases) {
      const reply = files.asset(name);
      expect(reply.headers).toMatchObject({ 'Content-Type': type, 'Cache-Control': 'public, max-age=31536000, immutable', 'X-Content-Type-Options': 'nosniff' });
    }
    expect(files.asset('index-XyZ98765.css').text).toBe('body{margin:0}');
  });

  it('answers 404 for any name the build did not write', () => {
    for (const name of ['index.html', '..', '../index.html', 'index-AbCd1234.JS', 'missing-00000000.js', '']) {
      expect(refusal(() => files.asset(name)), name).toEqual({ code: 'route_not_found', message: 'no such console file' });
    }
  });

  it('says the console is not built when it is not, and serves it once it is', () => {
    const later = mkdtempSync(join(tmpdir(), 'loyalty-console-'));
    dirs.push(later);
    const lazy = new ConsoleFiles(later);
    expect(refusal(() => lazy.index())).toEqual({ code: 'route_not_found', message: 'the console is not built: run npm run build' });
    writeFileSync(join(later, 'index.html'), '<!doctype html>');
    expect(lazy.index().text).toBe('<!doctype html>');
  });

  it('refuses a build with a file over the bound or of a kind it does not serve', () => {
    const big = new ConsoleFiles(build({ 'index.html': 'x', 'assets/big-00000000.js': 'x'.repeat(CONSOLE_FILE_BYTES_MAX + 1) }));
    expect(refusal(() => big.index()).message).toMatch(/big-00000000\.js is 1048577 bytes, over CONSOLE_FILE_BYTES_MAX/);
    const odd = new ConsoleFiles(build({ 'index.html': 'x', 'assets/font-00000000.woff2': 'x' }));
    expect(refusal(() => odd.index()).message).toContain('an asset of a kind it does not serve: font-00000000.woff2');
  });
});

describe('precompressed assets', () => {
  const script = 'export const words = "' + 'loyalty '.repeat(500) + '";';
  const dir = mkdtempSync(join(tmpdir(), 'loyalty-console-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html>');
  writeFileSync(join(dir, 'assets', 'index-AbCd1234.js'), script);
  writeFileSync(join(dir, 'assets', 'index-AbCd1234.js.br'), brotliCompressSync(script));
  writeFileSync(join(dir, 'assets', 'index-AbCd1234.js.gz'), gzipSync(script));
  writeFileSync(join(dir, 'assets', 'plain-XyZ98765.css'), 'body{margin:0}');
  const files = new ConsoleFiles(dir);

  it('sends the coding the browser prefers among those built, as the built bytes', () => {
    const br = files.asset('index-AbCd1234.js', 'gzip, deflate, br, zstd');
    expect(br.headers).toMatchObject({ 'Content-Encoding': 'br', 'Vary': 'Accept-Encoding', 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'public, max-age=31536000, immutable' });
    expect(br.text).toBeUndefined();
    expect(brotliDecompressSync(br.bytes!).toString()).toBe(script);
    expect(br.bytes!.byteLength).toBeLessThan(script.length / 10);
    const gz = files.asset('index-AbCd1234.js', 'gzip, deflate');
    expect(gz.headers!['Content-Encoding']).toBe('gzip');
    expect(gunzipSync(gz.bytes!).toString()).toBe(script);
    const plain = files.asset('index-AbCd1234.js', '');
    expect(plain.text).toBe(script);
    expect(plain.headers!['Content-Encoding']).toBeUndefined();
    expect(plain.headers!['Vary']).toBe('Accept-Encoding');
    // No variant built: as it is, whatever the header, and no Vary.
    const css = files.asset('plain-XyZ98765.css', 'br, gzip');
    expect(css.text).toBe('body{margin:0}');
    expect(css.headers!['Content-Encoding']).toBeUndefined();
    expect(css.headers!['Vary']).toBeUndefined();
    // The compressed files are never served under their own names.
    expect(refusal(() => files.asset('index-AbCd1234.js.br'))).toEqual({ code: 'route_not_found', message: 'no such console file' });
  });

  it('refuses a build with a compressed file of no asset', () => {
    const odd = new ConsoleFiles(build({ 'index.html': 'x', 'assets/gone-00000000.js.br': 'x' }));
    expect(refusal(() => odd.index()).message).toContain('a compressed file of no asset: gone-00000000.js.br');
  });

  it('reads Accept-Encoding by its weights, the server\'s order breaking ties', () => {
    const both = ['br', 'gzip'] as const;
    expect(chooseCoding('gzip, deflate, br', both)).toBe('br');
    expect(chooseCoding('gzip, deflate, br', ['gzip'])).toBe('gzip');
    expect(chooseCoding('br;q=0, gzip;q=0.5', both)).toBe('gzip');
    expect(chooseCoding('gzip;q=1.0, br;q=0.8', both)).toBe('gzip');
    expect(chooseCoding('BR;Q=0.9, GZIP;q=0.9', both)).toBe('br');
    expect(chooseCoding('*', both)).toBe('br');
    expect(chooseCoding('*;q=0.5, br;q=0', both)).toBe('gzip');
    expect(chooseCoding('x-gzip', both)).toBe('gzip');
    expect(chooseCoding('identity', both)).toBe('identity');
    expect(chooseCoding('deflate', both)).toBe('identity');
    expect(chooseCoding('br;q=2, gzip;q=abc', both)).toBe('identity');
    expect(chooseCoding('', both)).toBe('identity');
    expect(chooseCoding(' , ;q=1', both)).toBe('identity');
  });
});

describe.skipIf(!existsSync(join(consoleFiles().dir, 'index.html')) && process.env['CI'] === undefined)('the built console (dist/console)', () => {
  it('serves every script and stylesheet its page names, each within the bound', () => {
    const page = consoleFiles().index().text!;
    const named = [...page.matchAll(/\/console\/assets\/([^"']+)/g)].map((m) => m[1]!);
    expect(named.some((n) => n.endsWith('.js'))).toBe(true);
    expect(named.some((n) => n.endsWith('.css'))).toBe(true);
    for (const name of named) {
      expect(consoleFiles().asset(name).status).toBe(200);
      // Every script and stylesheet was built compressed too, and unpacks to itself.
      const plain = consoleFiles().asset(name).text!;
      expect(brotliDecompressSync(consoleFiles().asset(name, 'br').bytes!).toString()).toBe(plain);
      expect(gunzipSync(consoleFiles().asset(name, 'gzip').bytes!).toString()).toBe(plain);
    }
    expect(page).not.toMatch(/<script(?![^>]*\bsrc=)/);
    expect(page).not.toMatch(/<style|style=/);
    expect(readFileSync(join(consoleFiles().dir, 'index.html'), 'utf8')).not.toMatch(/https?:\/\//);
  });
});
