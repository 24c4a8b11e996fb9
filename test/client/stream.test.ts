// The POS stream client's duties against a scripted socket: batches of at most batchOpsMax ops,
// never more than windowBatches unacknowledged, results in op order, refusals as results, resends
// after a reconnect, a refused key rejecting every op instead of reconnecting for ever, msgpack
// frames as well as JSON, and whole batches sent with one promise in order with single ops.
import { Packr } from 'msgpackr';
import { afterEach, describe, expect, it } from 'vitest';
import { PosStream, type WebSocketLike } from '../../client/stream.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

class FakeSocket implements WebSocketLike {
  static all: FakeSocket[] = [];
  readyState = 1;
  binaryType = 'blob';
  sent: any[] = [];
  /** Every frame as it went: its encoding and bytes, to compare a resend with the first send. */
  raw: Array<string | Uint8Array> = [];
  /** Answers in msgpack binary frames (as ArrayBuffers, as a browser hands them over) rather than JSON. */
  static binaryAnswers = false;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: unknown) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
    queueMicrotask(() => this.onopen?.({}));
  }
  send(data: string | Uint8Array): void {
    this.raw.push(data);
    this.sent.push(typeof data === 'string' ? JSON.parse(data) : packr.unpack(data));
  }
  close(): void { if (this.readyState === 3) return; this.readyState = 3; queueMicrotask(() => this.onclose?.({})); }
  answer(frame: unknown): void {
    if (!FakeSocket.binaryAnswers) { this.onmessage?.({ data: JSON.stringify(frame) }); return; }
    const bytes = packr.pack(frame);
    this.onmessage?.({ data: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) });
  }
  drop(): void { this.readyState = 3; this.onclose?.({}); }
  batches(): any[] { return this.sent.filter((f) => f.type === 'batch'); }
}

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));
const okResults = (batch: any) => batch.ops.map((op: any) => ({ ok: true, requestId: op.requestId }));
const topup = (i: number) => ({ requestId: `t-${i}`, memberId: 'm', amountCents: 100 + i });

afterEach(() => { FakeSocket.all = []; FakeSocket.binaryAnswers = false; });

describe('PosStream', () => {
  it('says hello, batches, keeps the window, and answers each op in order', async () => {
    const stream = new PosStream({ url: 'ws://x/v1/stream', key: 'k1', WebSocket: FakeSocket, batchOpsMax: 3, windowBatches: 2 });
    const results = Array.from({ length: 10 }, (_, i) => stream.send('topup', topup(i)));
    await tick();
    const ws = FakeSocket.all[0]!;
    expect(ws.sent[0]).toEqual({ type: 'hello', key: 'k1' });
    ws.answer({ type: 'welcome', role: 'pos' });
    expect(ws.batches().map((b) => b.ops.length)).toEqual([3, 3]);
    expect(ws.batches()[0].ops[0]).toEqual({ op: 'topup', ...topup(0) });
    ws.answer({ type: 'ack', id: ws.batches()[0].id, results: okResults(ws.batches()[0]) });
    expect(ws.batches().map((b) => b.ops.length)).toEqual([3, 3, 3]);
    const second = ws.batches()[1];
    ws.answer({ type: 'ack', id: second.id, results: [{ ok: true }, { ok: false, error: { code: 'insufficient_wallet', message: 'no' } }, { ok: true }] });
    for (const b of ws.batches().slice(2)) ws.answer({ type: 'ack', id: b.id, results: okResults(b) });
    expect(ws.batches().map((b) => b.ops.length)).toEqual([3, 3, 3, 1]);
    await stream.flush();
    const answered = await Promise.all(results);
    expect(answered[0]).toEqual({ ok: true, requestId: 't-0' });
    expect(answered[4]).toEqual({ ok: false, error: { code: 'insufficient_wallet', message: 'no' } });
    expect(ws.batches().flatMap((b) => b.ops.map((o: any) => o.requestId))).toEqual(Array.from({ length: 10 }, (_, i) => `t-${i}`));
    await stream.close();
  });

  it('resends every unacknowledged batch, in order, after a reconnect', async () => {
    const stream = new PosStream({ url: 'ws://x/v1/stream', key: 'k1', WebSocket: FakeSocket, batchOpsMax: 2, reconnectMinMs: 1, reconnectMaxMs: 2 });
    const results = Array.from({ length: 6 }, (_, i) => stream.send('topup', topup(i)));
    await tick();
    const first = FakeSocket.all[0]!;
    first.answer({ type: 'welcome', role: 'pos' });
    const [b1, b2, b3] = first.batches();
    first.answer({ type: 'ack', id: b1.id, results: okResults(b1) });
    first.drop();
    await tick(20);
    const second = FakeSocket.all[1]!;
    second.answer({ type: 'welcome', role: 'pos' });
    expect(second.batches().map((b) => b.id)).toEqual([b2.id, b3.id]);
    expect(second.batches()[0]).toEqual(b2);
    for (const b of second.batches()) second.answer({ type: 'ack', id: b.id, results: b.ops.map(() => ({ ok: true, replayed: true })) });
    expect((await Promise.all(results)).map((r) => r.ok)).toEqual([true, true, true, true, true, true]);
    expect(stream.reconnects).toBe(1);
    expect(stream.resentBatches).toBe(2);
    await stream.close();
  });

  it('answers a malformed batch\'s refusal to each of its ops, and keeps a stopping server\'s batch for later', async () => {
    const stream = new PosStream({ url: 'ws://x/v1/stream', key: 'k1', WebSocket: FakeSocket, batchOpsMax: 1, retryDelayMs: 1 });
    const a = stream.send('topup', topup(1));
    const b = stream.send('topup', topup(2));
    await tick();
    const ws = FakeSocket.all[0]!;
    ws.answer({ type: 'welcome', role: 'pos' });
    const [first, second] = ws.batches();
    ws.answer({ type: 'error', id: first.id, error: { code: 'payload_too_large', message: 'too big' } });
    ws.answer({ type: 'error', id: second.id, error: { code: 'storage_failed', message: 'full' } });
    await tick(10);
    expect(ws.batches().at(-1)).toEqual(second);
    ws.answer({ type: 'ack', id: second.id, results: [{ ok: true }] });
    expect(await a).toEqual({ ok: false, error: { code: 'payload_too_large', message: 'too big' } });
    expect(await b).toEqual({ ok: true });
    await stream.close();
  });

  it('rejects every op when the key is refused, and does not reconnect', async () => {
    const stream = new PosStream({ url: 'ws://x/v1/stream', key: 'wrong', WebSocket: FakeSocket, reconnectMinMs: 1 });
    const op = stream.send('topup', topup(1));
    await tick();
    FakeSocket.all[0]!.answer({ type: 'error', error: { code: 'unauthorized', message: 'a valid API key is required' } });
    await expect(op).rejects.toThrow(/refused the key/);
    await expect(stream.send('topup', topup(2))).rejects.toThrow(/refused the key/);
    await tick(20);
    expect(FakeSocket.all.length).toBe(1);
    await stream.close();
  });

  it('speaks msgpack in binary frames when told, and reads binary acks a browser hands over as ArrayBuffers', async () => {
    FakeSocket.binaryAnswers = true;
    const stream = new PosStream({ url: 'ws://x/v1/stream', key: 'k1', WebSocket: FakeSocket, encoding: 'msgpack', batchOpsMax: 2 });
    const results = [0, 1, 2].map((i) => stream.send('topup', topup(i)));
    await tick();
    const ws = FakeSocket.all[0]!;
    expect(ws.binaryType).toBe('arraybuffer');
    expect(ws.raw[0]).toBeInstanceOf(Uint8Array);
    expect(ws.sent[0]).toEqual({ type: 'hello', key: 'k1' });
    ws.answer({ type: 'welcome', role: 'pos' });
    expect(ws.raw.slice(1).every((f) => f instanceof Uint8Array)).toBe(true);
    expect(ws.batches().map((b) => b.ops)).toEqual([[{ op: 'topup', ...topup(0) }, { op: 'topup', ...topup(1) }], [{ op: 'topup', ...topup(2) }]]);
    for (const b of ws.batches()) ws.answer({ type: 'ack', id: b.id, results: okResults(b) });
    expect(await Promise.all(results)).toEqual([{ ok: true, requestId: 't-0' }, { ok: true, requestId: 't-1' }, { ok: true, requestId: 't-2' }]);
    await stream.close();
  });

  it('sends a whole batch after the single ops before it, within the window, and resends the same bytes after a reconnect', async () => {
    const stream = new PosStream({ url: 'ws://x/v1/stream', key: 'k1', WebSocket: FakeSocket, encoding: 'msgpack', batchOpsMax: 3, windowBatches: 2, reconnectMinMs: 1, reconnectMaxMs: 2 });
    expect(() => stream.sendBatch([0, 1, 2, 3].map((i) => ({ op: 'topup' as const, ...topup(i) })))).toThrow(RangeError);
    const connected = stream.connected();
    const single = stream.send('topup', topup(0));
    const whole = stream.sendBatch([1, 2, 3].map((i) => ({ op: 'topup' as const, ...topup(i) })));
    const later = stream.sendBatch([{ op: 'topup', ...topup(4) }]);
    await tick();
    const first = FakeSocket.all[0]!;
    first.answer({ type: 'welcome', role: 'pos' });
    await connected;
    // The window holds two batches: the single op's, then the whole batch; the third waits.
    const [b1, b2] = first.batches();
    expect(first.batches().length).toBe(2);
    expect(b1.ops.map((o: any) => o.requestId)).toEqual(['t-0']);
    expect(b2.ops.map((o: any) => o.requestId)).toEqual(['t-1', 't-2', 't-3']);
    expect(stream.pendingOps).toBe(5);
    first.answer({ type: 'ack', id: b1.id, results: okResults(b1) });
    const b3 = first.batches()[2];
    expect(b3.ops.map((o: any) => o.requestId)).toEqual(['t-4']);
    const b2Bytes = first.raw[first.sent.indexOf(b2)];
    first.drop();
    await tick(20);
    const second = FakeSocket.all[1]!;
    second.answer({ type: 'welcome', role: 'pos' });
    expect(second.batches().map((b) => b.id)).toEqual([b2.id, b3.id]);
    expect(second.raw[second.sent.indexOf(second.batches()[0])]).toEqual(b2Bytes);
    second.answer({ type: 'ack', id: b2.id, results: [{ ok: true, replayed: true }, { ok: false, error: { code: 'insufficient_wallet', message: 'no' } }, { ok: true, replayed: true }] });
    second.answer({ type: 'ack', id: b3.id, results: okResults(b3) });
    expect(await single).toEqual({ ok: true, requestId: 't-0' });
    expect(await whole).toEqual([{ ok: true, replayed: true }, { ok: false, error: { code: 'insufficient_wallet', message: 'no' } }, { ok: true, replayed: true }]);
    expect(await later).toEqual([{ ok: true, requestId: 't-4' }]);
    expect(stream.resentBatches).toBe(2);
    await stream.close();
  });

  it('rejects a waiting whole batch, and the wait for a welcome, when closed without draining', async () => {
    const stream = new PosStream({ url: 'ws://x/v1/stream', key: 'k1', WebSocket: FakeSocket, windowBatches: 1 });
    const connected = stream.connected();
    const a = stream.sendBatch([{ op: 'topup', ...topup(1) }]);
    const b = stream.sendBatch([{ op: 'topup', ...topup(2) }]);
    await tick();
    await stream.close(false);
    await expect(connected).rejects.toThrow(/closed/);
    await expect(a).rejects.toThrow(/closed before the server answered/);
    await expect(b).rejects.toThrow(/closed before the server answered/);
  });
});
