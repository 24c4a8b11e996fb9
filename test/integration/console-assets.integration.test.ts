// The console's assets over a real server socket: a browser that accepts brotli or gzip gets the
// precompressed bytes with Content-Encoding and Vary, which unpack to the very file sent to one that
// accepts neither; the whole first load is measured in both forms. Skipped where the console is not
// built outside CI (as the console's other tests).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { ROOT, ServerProcess } from '../helpers/server-process.js';

const built = existsSync(join(ROOT, 'dist/console/index.html'));

interface Raw { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }

describe.skipIf(!built && process.env['CI'] === undefined)('console assets over HTTP', () => {
  const server = new ServerProcess(ServerProcess.tempDataDir());
  beforeAll(() => server.start());
  afterAll(async () => { await server.stop(); server.cleanup(); });

  /** A GET with exactly the headers given: node:http neither asks for nor unpacks any coding itself. */
  function get(path: string, headers: Record<string, string>): Promise<Raw> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: server.port, path, method: 'GET', headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('sends brotli or gzip as the request accepts, the same file unpacked, at about a quarter of the bytes', async () => {
    const page = (await get('/', {})).body.toString();
    const assets = [...page.matchAll(/\/console\/assets\/([^"']+)/g)].map((m) => `/console/assets/${m[1]}`);
    expect(assets.length).toBeGreaterThanOrEqual(2);
    let plainBytes = 0;
    let brBytes = 0;
    let gzBytes = 0;
    for (const path of assets) {
      const plain = await get(path, {});
      expect(plain.status).toBe(200);
      expect(plain.headers['content-encoding']).toBeUndefined();
      expect(plain.headers['vary']).toBe('Accept-Encoding');
      const br = await get(path, { 'accept-encoding': 'gzip, deflate, br' });
      expect(br.headers).toMatchObject({ 'content-encoding': 'br', 'vary': 'Accept-Encoding', 'cache-control': 'public, max-age=31536000, immutable' });
      expect(br.headers['content-type']).toBe(plain.headers['content-type']);
      expect(brotliDecompressSync(br.body).equals(plain.body)).toBe(true);
      const gz = await get(path, { 'accept-encoding': 'br;q=0, gzip' });
      expect(gz.headers['content-encoding']).toBe('gzip');
      expect(gunzipSync(gz.body).equals(plain.body)).toBe(true);
      plainBytes += plain.body.byteLength;
      brBytes += br.body.byteLength;
      gzBytes += gz.body.byteLength;
    }
    process.stdout.write(`console first load (page's own assets): ${plainBytes} B plain, ${brBytes} B brotli (${(brBytes / plainBytes).toFixed(3)}), ${gzBytes} B gzip (${(gzBytes / plainBytes).toFixed(3)})\n`);
    expect(brBytes / plainBytes).toBeLessThan(0.35);
    expect(gzBytes / plainBytes).toBeLessThan(0.4);
  });
});
