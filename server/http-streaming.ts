// uWebSockets.js helpers for bodies too large to hold whole: a request body read as an async
// iterable that pauses the socket while its consumer lags (the CSV import), and a reply written
// from an async iterable of chunks that waits for the socket to drain (the CSV exports). Both stop
// touching the response once the signal says the client went away (uWS's onAborted).
import type uWS from 'uWebSockets.js';
import { LoyaltyError } from '../engine/errors.js';

/** Body bytes buffered before the socket is paused, and the level at which it is resumed. */
const BODY_HIGH_WATER_BYTES = 4 * 1024 * 1024;
const BODY_LOW_WATER_BYTES = 1024 * 1024;

/**
 * The request body as it arrives. Attach it synchronously in the uWS handler (it calls onData);
 * iterating it throws LoyaltyError('payload_too_large') past `maxBytes`, and an Error once aborted.
 */
export class BodyStream implements AsyncIterable<Uint8Array> {
  private readonly queue: Buffer[] = [];
  private queuedBytes = 0;
  private receivedBytes = 0;
  private paused = false;
  /** Times the socket was paused because the consumer lagged: a figure for tests and metrics. */
  pauses = 0;
  private ended = false;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;

  constructor(private readonly res: uWS.HttpResponse, private readonly maxBytes: number, private readonly signal: AbortSignal) {
    signal.addEventListener('abort', () => this.fail(new Error('the client went away')), { once: true });
    res.onData((chunk, isLast) => {
      if (this.failure !== null || signal.aborted) return;
      this.receivedBytes += chunk.byteLength;
      if (this.receivedBytes > maxBytes) {
        this.fail(new LoyaltyError('payload_too_large', `the body may be at most ${maxBytes} bytes`));
        return;
      }
      // uWS reuses the chunk's memory after this callback returns: copy it.
      const copy = Buffer.from(new Uint8Array(chunk));
      this.queue.push(copy);
      this.queuedBytes += copy.length;
      if (isLast) this.ended = true;
      if (!this.paused && this.queuedBytes > BODY_HIGH_WATER_BYTES && !isLast) { this.paused = true; this.pauses += 1; res.pause(); }
      this.notify();
    });
  }

  /** Bytes received so far. */
  get bytes(): number { return this.receivedBytes; }

  /** Whether the whole body arrived: if not when the reply goes out, the reply must close the connection. */
  get complete(): boolean { return this.ended && this.failure === null; }

  private fail(err: Error): void {
    this.failure ??= err;
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    for (;;) {
      if (this.failure !== null) throw this.failure;
      const chunk = this.queue.shift();
      if (chunk !== undefined) {
        this.queuedBytes -= chunk.length;
        if (this.paused && this.queuedBytes < BODY_LOW_WATER_BYTES && !this.signal.aborted) { this.paused = false; this.res.resume(); }
        yield chunk;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => { this.wake = resolve; });
    }
  }
}

/**
 * Writes a reply whose body is an async iterable of text chunks: the status and headers once the
 * first chunk is ready (so a failure before it can still be answered with an error reply by the
 * caller: this function then rethrows), each chunk once the socket has drained the one before, and
 * the end. A failure after the first chunk closes the connection, so a client never takes a
 * truncated body for a whole one. Returns once the reply is complete or the client went away.
 */
export async function writeChunked(
  res: uWS.HttpResponse, status: string, headers: Record<string, string>, chunks: AsyncIterable<string>, signal: AbortSignal,
): Promise<void> {
  const iterator = chunks[Symbol.asyncIterator]();
  const aborted = new Promise<'aborted'>((resolve) => {
    if (signal.aborted) resolve('aborted');
    else signal.addEventListener('abort', () => resolve('aborted'), { once: true });
  });
  let started = false;
  try {
    for (;;) {
      const next = await iterator.next();
      if (signal.aborted) { await iterator.return?.(); return; }
      if (next.done === true) break;
      let ok = true;
      res.cork(() => {
        if (!started) {
          res.writeStatus(status);
          for (const [k, v] of Object.entries(headers)) res.writeHeader(k, v);
          started = true;
        }
        ok = res.write(next.value);
      });
      if (!ok) {
        const drained = new Promise<'drained'>((resolve) => { res.onWritable(() => { resolve('drained'); return true; }); });
        if (await Promise.race([drained, aborted]) === 'aborted') { await iterator.return?.(); return; }
      }
    }
    res.cork(() => {
      if (!started) {
        res.writeStatus(status);
        for (const [k, v] of Object.entries(headers)) res.writeHeader(k, v);
      }
      res.end();
    });
  } catch (err) {
    if (!started || signal.aborted) throw err;
    res.close();
  }
}
