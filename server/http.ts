// The uWebSockets.js glue for HTTP: reads a bounded body, hands a plain request to routes.handle,
// and writes the reply corked, never touching a response after its client went away.
import uWS from 'uWebSockets.js';
import { BODY_BYTES_MAX, IMPORT_BYTES_MAX, JSON_DEPTH_MAX } from '../engine/limits.js';
import { LoyaltyError } from '../engine/errors.js';
import { BodyStream, writeChunked } from './http-streaming.js';
import { errorReply, handle, routeOf, type Api, type ApiReply } from './routes.js';
import { isLogged, replyCode } from './request-log.js';
import type { Forwarder } from './cluster-forward.js';

/** What the front end needs to know about the server's state: once stopping, new requests are refused. */
export interface Lifecycle {
  stopping: boolean;
  /** Why storage is too full to write, or null; while set, every write is refused with storage_failed. */
  storageFull: string | null;
  /**
   * Cluster mode: while this node does not own the deployment, who does (the refusal's message when
   * no owner is known to forward to: requests are refused with not_owner). Null or absent on the owner.
   */
  notOwner?: string | null;
  /**
   * Cluster mode: forwards requests and stream batches to the owner while this node does not own
   * the deployment and an owner is known (server/cluster-forward.ts).
   */
  forwarder?: Forwarder | null;
}

/**
 * What a node that does not own the deployment answers itself: whether it is alive, its own
 * metrics, the API's description and the console's static files, and the cluster routes, which
 * are about the node that receives them (its role; draining it). Everything else is forwarded.
 */
const answeredByStandby = (method: string, path: string) => path === '/v1/admin/cluster' || path.startsWith('/v1/admin/cluster/') || ((method === 'GET' || method === 'HEAD')
  && (path === '/healthz' || path === '/metrics' || path === '/openapi.json' || path === '/' || path.startsWith('/console/assets/')));

/** Bodies are UTF-8; a decoder that replaced bad bytes with U+FFFD would store what was never sent. */
const utf8 = new TextDecoder('utf-8', { fatal: true });

const isHighSurrogate = (u: number) => u >= 0xd800 && u <= 0xdbff;
const isLowSurrogate = (u: number) => u >= 0xdc00 && u <= 0xdfff;

/**
 * What is wrong with JSON text that JSON.parse would accept, found in one pass without parsing:
 * arrays and objects nested deeper than `depthMax` (a hostile body is refused before any recursive
 * step can overflow the stack), or a `\uD800`-style escape that is half of a surrogate pair (it
 * would be stored as U+FFFD, not as what was sent). Null when neither.
 */
export function jsonTextProblem(text: string, depthMax: number): string | null {
  let depth = 0;
  let inString = false;
  /** The previous string character was an escaped high surrogate, waiting for its low half. */
  let pendingHigh = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c && text.charCodeAt(i + 1) === 0x75) { // a \u escape and its four hex digits
        const unit = Number.parseInt(text.slice(i + 2, i + 6), 16);
        if (pendingHigh !== isLowSurrogate(unit)) return 'a string holds half of a UTF-16 surrogate pair';
        pendingHigh = isHighSurrogate(unit);
        i += 5;
        continue;
      }
      if (pendingHigh) return 'a string holds half of a UTF-16 surrogate pair';
      if (c === 0x5c) i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) { if (++depth > depthMax) return `the body nests arrays and objects deeper than ${depthMax} levels`; }
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return null;
}

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK', 201: '201 Created', 400: '400 Bad Request', 401: '401 Unauthorized', 403: '403 Forbidden',
  404: '404 Not Found', 405: '405 Method Not Allowed', 409: '409 Conflict', 413: '413 Payload Too Large',
  422: '422 Unprocessable Entity', 500: '500 Internal Server Error', 503: '503 Service Unavailable',
};

function send(res: uWS.HttpResponse, reply: ApiReply, closeAfter = false): void {
  res.cork(() => {
    res.writeStatus(STATUS_TEXT[reply.status] ?? String(reply.status));
    if (reply.text === undefined && reply.bytes === undefined) res.writeHeader('Content-Type', 'application/json');
    for (const [k, v] of Object.entries(reply.headers ?? {})) res.writeHeader(k, v);
    if (closeAfter) res.writeHeader('Connection', 'close');
    res.end(reply.bytes ?? reply.text ?? JSON.stringify(reply.body), closeAfter);
  });
}

/** The one route whose body is streamed rather than held whole: the CSV import. */
const isStreamedBody = (method: string, path: string) => method === 'POST' && path === '/v1/import/members';

export function attachHttp(app: uWS.TemplatedApp, api: Api, lifecycle: Lifecycle = { stopping: false, storageFull: null }): void {
  app.any('/*', (res, req) => {
    const method = req.getMethod().toUpperCase();
    const path = req.getUrl();
    const rawQuery = req.getQuery() ?? '';
    const query = new URLSearchParams(rawQuery);
    const authorization = req.getHeader('authorization');
    // uWS's request object is valid only during this call: every header is read here, synchronously.
    const acceptEncoding = req.getHeader('accept-encoding');
    const declared = req.getHeader('content-length');
    const streamed = isStreamedBody(method, path);
    const bodyBytesMax = streamed ? IMPORT_BYTES_MAX : BODY_BYTES_MAX;
    // `gone`: the client went away (never touch res again); `replied`: one reply per request.
    let gone = false;
    let replied = false;
    const abort = new AbortController();
    const startedMs = performance.now();
    res.onAborted(() => { gone = true; abort.abort(); });
    const finish = (reply: ApiReply, closeAfter = false) => {
      if (gone || replied) return;
      replied = true;
      const route = reply.route ?? routeOf(method, path);
      api.metrics.countRequest(method, route, reply.status);
      if (api.requestLog !== undefined && isLogged(method, reply.status)) {
        const code = replyCode(reply.body);
        api.requestLog.record({
          keyId: reply.keyId ?? null, method, route, status: reply.status,
          latencyMs: Math.round((performance.now() - startedMs) * 100) / 100, ...(code === undefined ? {} : { code }),
          ...(reply.forwardedTo === undefined ? {} : { forwardedTo: reply.forwardedTo }),
        });
      }
      if (reply.chunks === undefined) { send(res, reply, closeAfter); return; }
      // A streamed reply (the CSV exports) goes out chunk by chunk as the socket drains.
      writeChunked(res, STATUS_TEXT[reply.status] ?? String(reply.status), reply.headers ?? {}, reply.chunks, abort.signal).catch((err: unknown) => {
        if (gone) return;
        const e = err instanceof LoyaltyError ? errorReply(err.code, err.message, err.field) : errorReply('internal');
        send(res, e, true);
      });
    };
    if (lifecycle.stopping) {
      finish(errorReply('shutting_down'), true);
      return;
    }
    // Cluster mode: a node that does not own the deployment forwards to the owner, or refuses while none is known.
    const owner = lifecycle.notOwner != null && !answeredByStandby(method, path) ? lifecycle.forwarder?.owner ?? null : null;
    if (lifecycle.notOwner != null && !answeredByStandby(method, path) && owner === null) {
      finish(errorReply('not_owner', lifecycle.notOwner), true);
      return;
    }
    if (owner !== null && streamed) {
      // The import's body may be hundreds of megabytes, more than a NATS message carries: it goes to the owner directly.
      finish(errorReply('not_owner', `the CSV import is not forwarded between nodes: send it to the owner, node ${lifecycle.forwarder!.describe(owner)}`), true);
      return;
    }
    if (declared !== '' && Number(declared) > bodyBytesMax) {
      finish(errorReply('payload_too_large', `the body may be at most ${bodyBytesMax} bytes`), true);
      return;
    }
    if (streamed) {
      // The import reads its body as it arrives, pausing the socket while the engine catches up.
      const bodyStream = new BodyStream(res, bodyBytesMax, abort.signal);
      if (lifecycle.storageFull !== null) {
        finish(errorReply('storage_failed', `writes are refused until there is room: ${lifecycle.storageFull}`), true);
        return;
      }
      handle(api, { method, path, query, authorization, body: '', bodyStream, acceptEncoding }).then(
        (reply) => finish(reply, !bodyStream.complete),
        () => finish(errorReply('internal'), true),
      );
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    res.onData((chunk, isLast) => {
      if (gone || replied) return;
      size += chunk.byteLength;
      if (size > bodyBytesMax) {
        finish(errorReply('payload_too_large', `the body may be at most ${bodyBytesMax} bytes`), true);
        return;
      }
      // uWS reuses the chunk's memory after this callback returns: copy it.
      chunks.push(Buffer.from(new Uint8Array(chunk)));
      if (!isLast) return;
      let body: string;
      try {
        body = utf8.decode(Buffer.concat(chunks, size));
      } catch {
        finish(errorReply('invalid_request', 'the body is not valid UTF-8', '(root)'));
        return;
      }
      const problem = /^\s*[[{]/.test(body) ? jsonTextProblem(body, JSON_DEPTH_MAX) : null;
      if (problem !== null) {
        finish(errorReply('invalid_request', problem, '(root)'));
        return;
      }
      if (owner !== null) {
        lifecycle.forwarder!.http(owner, { method, path, query: rawQuery, authorization, acceptEncoding, body }).then(
          (reply) => finish(reply),
          () => finish(errorReply('internal')),
        );
        return;
      }
      if (lifecycle.storageFull !== null && method !== 'GET' && method !== 'HEAD') {
        finish(errorReply('storage_failed', `writes are refused until there is room: ${lifecycle.storageFull}`));
        return;
      }
      handle(api, { method, path, query, authorization, body, acceptEncoding }).then(
        (reply) => finish(reply),
        () => finish(errorReply('internal')),
      );
    });
  });
}
