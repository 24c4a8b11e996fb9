// The uWebSockets.js glue for HTTP: reads a bounded body, hands a plain request to routes.handle,
// and writes the reply corked, never touching a response after its client went away.
import uWS from 'uWebSockets.js';
import { BODY_BYTES_MAX } from '../engine/limits.js';
import { errorReply, handle, type Api, type ApiReply } from './routes.js';

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK', 201: '201 Created', 400: '400 Bad Request', 401: '401 Unauthorized', 403: '403 Forbidden',
  404: '404 Not Found', 405: '405 Method Not Allowed', 409: '409 Conflict', 413: '413 Payload Too Large',
  422: '422 Unprocessable Entity', 500: '500 Internal Server Error', 503: '503 Service Unavailable',
};

function send(res: uWS.HttpResponse, reply: ApiReply, closeAfter = false): void {
  res.cork(() => {
    res.writeStatus(STATUS_TEXT[reply.status] ?? String(reply.status));
    if (reply.text === undefined) res.writeHeader('Content-Type', 'application/json');
    for (const [k, v] of Object.entries(reply.headers ?? {})) res.writeHeader(k, v);
    if (closeAfter) res.writeHeader('Connection', 'close');
    res.end(reply.text ?? JSON.stringify(reply.body), closeAfter);
  });
}

export function attachHttp(app: uWS.TemplatedApp, api: Api): void {
  app.any('/*', (res, req) => {
    const method = req.getMethod().toUpperCase();
    const path = req.getUrl();
    const query = new URLSearchParams(req.getQuery() ?? '');
    const authorization = req.getHeader('authorization');
    const declared = req.getHeader('content-length');
    let aborted = false;
    res.onAborted(() => { aborted = true; });
    const finish = (reply: ApiReply, closeAfter = false) => {
      if (aborted) return;
      aborted = true; // one reply per request
      api.metrics.countRequest(reply.status);
      send(res, reply, closeAfter);
    };
    if (declared !== '' && Number(declared) > BODY_BYTES_MAX) {
      finish(errorReply('payload_too_large', `the body may be at most ${BODY_BYTES_MAX} bytes`), true);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    res.onData((chunk, isLast) => {
      if (aborted) return;
      size += chunk.byteLength;
      if (size > BODY_BYTES_MAX) {
        finish(errorReply('payload_too_large', `the body may be at most ${BODY_BYTES_MAX} bytes`), true);
        return;
      }
      // uWS reuses the chunk's memory after this callback returns: copy it.
      chunks.push(Buffer.from(new Uint8Array(chunk)));
      if (!isLast) return;
      const body = Buffer.concat(chunks, size).toString('utf8');
      handle(api, { method, path, query, authorization, body }).then(
        (reply) => finish(reply),
        () => finish(errorReply('internal')),
      );
    });
  });
}
