// The uWS streaming helpers on a bare uWS app over loopback: a large body read by a slow consumer
// arrives whole and in order (the socket pauses and resumes), a body past its bound is refused,
// and a large chunked reply arrives whole while a failure mid-reply closes the connection.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import uWS from 'uWebSockets.js';
import { BodyStream, writeChunked } from '../../server/http-streaming.js';
import { LoyaltyError } from '../../engine/errors.js';

const BODY_MAX_BYTES = 12 * 1024 * 1024;
const CHUNK_TEXT = 'x'.repeat(16 * 1024 - 1) + '\n';
const REPLY_CHUNKS = 1_000; // 16 MiB

let listen: uWS.us_listen_socket | null = null;
let port = 0;

function handlers(app: uWS.TemplatedApp): void {
  app.post('/upload', (res) => {
    const abort = new AbortController();
    res.onAborted(() => abort.abort());
    const body = new BodyStream(res, BODY_MAX_BYTES, abort.signal);
    void (async () => {
      const hash = createHash('sha256');
      let bytes = 0;
      let chunks = 0;
      let reply: string;
      let status = '200 OK';
      try {
        for await (const chunk of body) {
          hash.update(chunk);
          bytes += chunk.byteLength;
          // A consumer that stalls at first, far slower than loopback.
          if (chunks++ < 5) await sleep(50);
        }
        reply = JSON.stringify({ bytes, sha: hash.digest('hex'), paused: body.pauses > 0 });
      } catch (err) {
        status = '413 Payload Too Large';
        reply = JSON.stringify({ error: err instanceof LoyaltyError ? err.code : String(err) });
      }
      if (!abort.signal.aborted) res.cork(() => res.writeStatus(status).end(reply, status !== '200 OK'));
    })();
  });
  app.get('/download/:mode', (res, req) => {
    const mode = req.getParameter(0);
    const abort = new AbortController();
    res.onAborted(() => abort.abort());
    async function* chunks(): AsyncGenerator<string> {
      if (mode === 'fail-first') throw new Error('no first page');
      for (let i = 0; i < REPLY_CHUNKS; i++) {
        if (mode === 'fail-middle' && i === 10) throw new Error('a page failed');
        yield CHUNK_TEXT;
        if (i % 100 === 0) await sleep(0);
      }
    }
    writeChunked(res, '200 OK', { 'Content-Type': 'text/csv' }, chunks(), abort.signal).catch(() => {
      if (!abort.signal.aborted) res.cork(() => res.writeStatus('500 Internal Server Error').end('failed'));
    });
  });
}

beforeAll(async () => {
  const app = uWS.App();
  handlers(app);
  listen = await new Promise<uWS.us_listen_socket>((resolve, reject) => app.listen('127.0.0.1', 0, (s) => (s ? resolve(s) : reject(new Error('listen')))));
  port = uWS.us_socket_local_port(listen);
});
afterAll(() => { if (listen !== null) uWS.us_listen_socket_close(listen); });

describe('BodyStream', () => {
  it('delivers a body larger than its buffer whole and in order to a slow consumer', async () => {
    const body = randomBytes(10 * 1024 * 1024);
    const res = await fetch(`http://127.0.0.1:${port}/upload`, { method: 'POST', body });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ bytes: body.length, sha: createHash('sha256').update(body).digest('hex'), paused: true });
  });

  it('refuses a body past its bound with payload_too_large', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/upload`, { method: 'POST', body: randomBytes(BODY_MAX_BYTES + 1) }).catch((err: unknown) => err);
    // The server answers 413 and closes; the client may see the answer or the closed socket.
    if (res instanceof Response) expect(await res.json()).toEqual({ error: 'payload_too_large' });
    else expect(res).toBeInstanceOf(Error);
  });
});

describe('writeChunked', () => {
  it('writes a reply far larger than the socket buffer whole', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/download/ok`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv');
    const text = await res.text();
    expect(text.length).toBe(CHUNK_TEXT.length * REPLY_CHUNKS);
  });

  it('lets the caller answer an error when the first chunk fails', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/download/fail-first`);
    expect(res.status).toBe(500);
  });

  it('closes the connection when a later chunk fails, so the body is never taken as whole', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/download/fail-middle`);
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
  });
});
