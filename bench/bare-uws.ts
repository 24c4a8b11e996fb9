// The HTTP baseline: a bare uWebSockets.js server that reads each POST body, parses it as JSON and
// answers a small JSON object, with no engine behind it; the ceiling of the real server's HTTP path.
// Run as a child process: it prints {"port":N,"uws":"native"|"fallback (slow)"} on one line and
// exits on SIGTERM, SIGINT or when its stdin closes (the parent went away).
import uWS from 'uWebSockets.js';
import { createRequire } from 'node:module';

const HOST = '127.0.0.1';
/** The same bound the real server puts on a body (engine/limits.ts BODY_BYTES_MAX). */
const BODY_BYTES_MAX = 1024 * 1024;

function uwsIsNative(): boolean {
  const require = createRequire(import.meta.url);
  return Object.keys(require.cache).some((p) => /uws_.*\.node$/.test(p));
}

const app = uWS.App();

app.post('/*', (res) => {
  let aborted = false;
  res.onAborted(() => { aborted = true; });
  const chunks: Buffer[] = [];
  let sizeBytes = 0;
  res.onData((chunk, isLast) => {
    if (aborted) return;
    sizeBytes += chunk.byteLength;
    if (sizeBytes > BODY_BYTES_MAX) {
      aborted = true;
      res.cork(() => { res.writeStatus('413 Payload Too Large').end('{"error":"payload_too_large"}', true); });
      return;
    }
    // uWS reuses the chunk's memory after this callback returns: copy it.
    chunks.push(Buffer.from(new Uint8Array(chunk)));
    if (!isLast) return;
    let reply: string;
    let status = '200 OK';
    try {
      const body = JSON.parse(Buffer.concat(chunks, sizeBytes).toString('utf8')) as { orderId?: unknown };
      reply = JSON.stringify({ ok: true, orderId: body.orderId ?? null });
    } catch {
      status = '400 Bad Request';
      reply = '{"error":"invalid_request"}';
    }
    res.cork(() => { res.writeStatus(status).writeHeader('Content-Type', 'application/json').end(reply); });
  });
});

app.any('/*', (res) => {
  res.cork(() => { res.writeStatus('404 Not Found').end(); });
});

app.listen(HOST, 0, (listenSocket) => {
  if (!listenSocket) {
    console.error(`bare-uws: cannot listen on ${HOST}`);
    process.exit(1);
  }
  const port = uWS.us_socket_local_port(listenSocket);
  console.log(JSON.stringify({ port, uws: uwsIsNative() ? 'native' : 'fallback (slow)' }));
  const stop = (): void => {
    uWS.us_listen_socket_close(listenSocket);
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
});
