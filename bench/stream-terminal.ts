// One POS stream connection for harnesses and tests: sends frames (msgpack or JSON), keeps every
// frame the server sends until asked for, waits for acks by batch id, and reports how it closed.
import { Packr } from 'msgpackr';
import WebSocket from 'ws';

/** Opening a connection takes at most this long. */
const OPEN_TIMEOUT_MS = 15_000;
/** How long `next` waits for a frame unless told, generous for a loaded machine. */
const FRAME_TIMEOUT_MS = 20_000;

const packr = new Packr({ useRecords: false });

export interface Closed { code: number; reason: string }

export class StreamTerminal {
  /** Frames received and not yet taken by `next`. */
  readonly frames: any[] = [];
  readonly closed: Promise<Closed>;
  isClosed = false;
  /** Called with every frame as it arrives (before it is queued). */
  onFrame: ((frame: any) => void) | null = null;
  private waiters: Array<() => void> = [];

  private constructor(readonly ws: WebSocket, readonly binary: boolean) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const frame: unknown = isBinary ? packr.unpack(data) : JSON.parse(data.toString('utf8'));
      this.onFrame?.(frame);
      this.frames.push(frame);
      this.wake();
    });
    this.closed = new Promise((resolve) => ws.once('close', (code: number, reason: Buffer) => {
      this.isClosed = true;
      this.wake();
      resolve({ code, reason: reason.toString() });
    }));
    ws.on('error', () => { /* reported through close */ });
  }

  /** Opens a stream; `key` null sends no Authorization header (authenticate with a hello frame). */
  static open(url: string, key: string | null, binary = true): Promise<StreamTerminal> {
    const headers: Record<string, string> = key === null ? {} : { authorization: `Bearer ${key}` };
    const ws = new WebSocket(url, { headers, maxPayload: 256 * 1024 * 1024 });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { ws.terminate(); reject(new Error(`no connection to ${url}`)); }, OPEN_TIMEOUT_MS);
      ws.once('open', () => { clearTimeout(timer); resolve(new StreamTerminal(ws, binary)); });
      ws.once('error', (err) => { clearTimeout(timer); reject(err); });
      ws.once('unexpected-response', (_req, res) => { clearTimeout(timer); ws.terminate(); reject(new Error(`upgrade refused: ${res.statusCode}`)); });
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  encode(frame: unknown): Buffer | string {
    return this.binary ? packr.pack(frame) : JSON.stringify(frame);
  }

  send(frame: unknown): void {
    this.sendRaw(this.encode(frame), this.binary);
  }

  sendRaw(data: Buffer | Uint8Array | string, binary: boolean): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(data, { binary });
  }

  /** The first queued frame that matches, waiting for it; throws after the timeout or when the connection closed without it. */
  async next(pred: (f: any) => boolean, timeoutMs = FRAME_TIMEOUT_MS): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex(pred);
      if (i !== -1) return this.frames.splice(i, 1)[0];
      if (this.isClosed) throw new Error('the stream closed; frames left: ' + JSON.stringify(this.frames).slice(0, 500));
      if (Date.now() > deadline) throw new Error('no such frame; got ' + JSON.stringify(this.frames).slice(0, 500));
      await new Promise<void>((r) => { this.waiters.push(r); setTimeout(r, 50); });
    }
  }

  ack(id: number, timeoutMs?: number): Promise<any> {
    return this.next((f) => f.type === 'ack' && f.id === id, timeoutMs);
  }

  /** Sends a batch and returns its ack's results. */
  async batch(id: number, ops: unknown[], timeoutMs?: number): Promise<any[]> {
    this.send({ type: 'batch', id, ops });
    return (await this.ack(id, timeoutMs)).results;
  }

  close(): void {
    this.ws.close();
  }
}
