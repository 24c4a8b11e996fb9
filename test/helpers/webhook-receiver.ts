// A real HTTP receiver of webhook deliveries on loopback (node:http on 127.0.0.1): it records every
// delivery with its signature checked by the documented recipe, and can be told to answer 503, to
// hang without answering, or to answer 200.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface Received { id: string; type: string; memberId: string; at: string; data: Record<string, unknown>; headerId: string; verified: boolean; tSeconds: number }

/** The recipe of docs/api.md, "Verifying a delivery", as a receiver would write it. */
export function verifyDelivery(secret: string, header: string, rawBody: string): boolean {
  const parts = Object.fromEntries(header.split(',').map((kv) => kv.split('=') as [string, string]));
  const expected = createHmac('sha256', secret).update(`${parts['t']}.${rawBody}`).digest();
  const given = Buffer.from(parts['v1'] ?? '', 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export class WebhookReceiver {
  mode: 'ok' | 'down' | 'hang' = 'ok';
  /** How long an answer of 200 waits: a delivery stays in flight that long. */
  delayMs = 0;
  secret = '';
  readonly received: Received[] = [];
  private server: Server | null = null;
  private readonly hanging: ServerResponse[] = [];
  port = 0;

  async start(port = 0): Promise<void> {
    this.server = createServer((req, res) => this.onRequest(req, res));
    this.server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (this.mode === 'hang') { this.hanging.push(res); return; }
      if (this.mode === 'down') { res.writeHead(503).end('down'); return; }
      const raw = Buffer.concat(chunks).toString('utf8');
      const event = JSON.parse(raw) as Omit<Received, 'headerId' | 'verified' | 'tSeconds'>;
      const header = String(req.headers['loyalty-signature'] ?? '');
      this.received.push({ ...event, headerId: String(req.headers['loyalty-event-id'] ?? ''), verified: verifyDelivery(this.secret, header, raw), tSeconds: Number(/t=(\d+)/.exec(header)?.[1]) });
      if (this.delayMs > 0) setTimeout(() => res.writeHead(200).end('ok'), this.delayMs);
      else res.writeHead(200).end('ok');
    });
  }

  /** The deliveries with repeats dropped by id, in the order they first arrived: what a deduping receiver keeps. */
  unique(): Received[] {
    const seen = new Set<string>();
    return this.received.filter((r) => (seen.has(r.id) ? false : (seen.add(r.id), true)));
  }

  async waitFor(predicate: () => boolean, timeoutMs = 20_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > until) throw new Error(`receiver: condition not met within ${timeoutMs} ms (${this.received.length} received)`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async stop(): Promise<void> {
    for (const res of this.hanging.splice(0)) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server === null ? resolve() : this.server.close(() => resolve())));
    this.server = null;
  }
}
