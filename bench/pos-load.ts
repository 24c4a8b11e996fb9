// A steady POS load for the backup test and benchmark: several terminals stream batches of
// purchases, top-ups and cross-shard wallet transfers for their own members over the stream, each
// keeping a few batches in flight, until told to stop. Every acked op is kept with the moment its
// ack arrived, and every batch with its round trip, so that a test can say which writes were acked
// before a backup began and a benchmark can measure what writes waited while it ran. Each terminal
// is the repository's POS stream client (client/stream.ts, msgpack, whole batches).
import WebSocket from 'ws';
import { PosStream, type StreamOp, type WebSocketConstructor } from '../client/stream.js';
import { hashId } from '../engine/router/member-hash.js';
import { prng } from './prng.js';

export interface PosLoadSettings {
  /** ws://host:port/v1/stream */
  streamUrl: string;
  key: string;
  /** The server's shard count: transfers go to members on another shard. */
  shards: number;
  terminals: number;
  membersPerTerminal: number;
  batchOps: number;
  /** Unacked batches each terminal keeps in flight. */
  windowBatches: number;
  /** Wait between a terminal's batches, to hold a steady rate rather than saturate (0: none). */
  pauseMs: number;
  seed: number;
}

export interface AckedOp { key: string; op: StreamOp; result: Record<string, any>; ackedAtMs: number }
export interface BatchTiming { sentAtMs: number; ackedAtMs: number; ops: number }

/** Every member's opening top-up, so that transfers have money to move. */
export const OPENING_TOPUP_CENTS = 100_000;
const TRANSFER_CENTS_MAX = 500;
const TOPUP_CENTS_MIN = 100;
const TOPUP_CENTS_MAX = 20_000;
const PURCHASE_CENTS_MAX = 50_000;
const SETUP_TIMEOUT_MS = 60_000;
/** Setup ops go in batches of this many: registrations and top-ups, far below the server's 10,000 a batch. */
const SETUP_BATCH_OPS = 1_000;

export class PosLoad {
  readonly acked: AckedOp[] = [];
  readonly batches: BatchTiming[] = [];
  readonly failures: string[] = [];
  private stopping = false;
  private running: Promise<void>[] = [];
  readonly members: string[][];

  constructor(readonly settings: PosLoadSettings) {
    this.members = Array.from({ length: settings.terminals }, (_, t) => Array.from({ length: settings.membersPerTerminal }, (_, j) => `p${t}-${j}`));
  }

  /** Registers every member and tops each up, over one connection. */
  async setup(): Promise<void> {
    const everyone = this.members.flat();
    const admin = this.open(SETUP_BATCH_OPS);
    const registered = await withDeadline(Promise.all(everyone.map((memberId) => admin.send('register', { memberId }))), 'registration');
    const opening = everyone.map((memberId) => ({ op: 'topup' as const, requestId: `open-${memberId}`, memberId, amountCents: OPENING_TOPUP_CENTS }));
    const funded = await withDeadline(Promise.all(opening.map(({ op, ...body }) => admin.send(op, body))), 'opening top-ups');
    await admin.close();
    const bad = [...registered, ...funded].find((r) => !r.ok);
    if (bad !== undefined) throw new Error('setup failed: ' + JSON.stringify(bad));
    const now = Date.now();
    opening.forEach((op, i) => this.acked.push({ key: op.requestId, op, result: funded[i]!, ackedAtMs: now }));
  }

  private open(batchOpsMax: number): PosStream {
    const s = this.settings;
    return new PosStream({ url: s.streamUrl, key: s.key, WebSocket: WebSocket as unknown as WebSocketConstructor, encoding: 'msgpack', batchOpsMax, windowBatches: s.windowBatches });
  }

  /** Starts every terminal; they stream until `stop`. */
  start(): void {
    this.running = this.members.map((own, t) => this.terminal(t, own, prng(this.settings.seed * 1000 + t + 1)));
  }

  /** Stops sending and waits for every batch in flight to be acked. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.running);
  }

  private async terminal(t: number, own: string[], random: () => number): Promise<void> {
    const s = this.settings;
    const everyone = this.members.flat();
    const stream = this.open(s.batchOps);
    let inFlight = 0;
    let wake: () => void = () => {};
    let seq = 0;
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
    const between = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));
    const plan = (): { key: string; op: StreamOp } => {
      const n = seq++;
      const memberId = pick(own);
      const roll = random();
      if (roll < 0.2) {
        const shard = hashId(memberId) % s.shards;
        const others = everyone.filter((m) => hashId(m) % s.shards !== shard);
        const requestId = `x-${t}-${n}`;
        return { key: requestId, op: { op: 'transfer', requestId, fromMemberId: memberId, toMemberId: pick(others), amountCents: between(1, TRANSFER_CENTS_MAX) } };
      }
      if (roll < 0.35) {
        const requestId = `t-${t}-${n}`;
        return { key: requestId, op: { op: 'topup', requestId, memberId, amountCents: between(TOPUP_CENTS_MIN, TOPUP_CENTS_MAX) } };
      }
      const orderId = `o-${t}-${n}`;
      return { key: orderId, op: { op: 'purchase', orderId, memberId, amountCents: between(100, PURCHASE_CENTS_MAX) } };
    };
    while (!this.stopping) {
      while (inFlight < s.windowBatches && !this.stopping) {
        const ops = Array.from({ length: s.batchOps }, plan);
        const sentAtMs = Date.now();
        inFlight += 1;
        stream.sendBatch(ops.map((p) => p.op)).then((results) => {
          inFlight -= 1;
          const ackedAtMs = Date.now();
          this.batches.push({ sentAtMs, ackedAtMs, ops: ops.length });
          ops.forEach((p, i) => this.acked.push({ key: p.key, op: p.op, result: results[i]!, ackedAtMs }));
          wake();
        }, (err: Error) => {
          inFlight -= 1;
          this.failures.push(`terminal ${t}: ${err.message}`);
          wake();
        });
        if (s.pauseMs > 0) await new Promise((r) => setTimeout(r, s.pauseMs));
      }
      await new Promise<void>((r) => { wake = r; setTimeout(r, 200); });
    }
    const deadline = Date.now() + SETUP_TIMEOUT_MS;
    while (inFlight > 0 && Date.now() < deadline) await new Promise<void>((r) => { wake = r; setTimeout(r, 200); });
    if (inFlight > 0) this.failures.push(`terminal ${t}: ${inFlight} batches never acked`);
    // The load runs against a server that stays up: a reconnect means it dropped a terminal.
    if (stream.reconnects > 0) this.failures.push(`terminal ${t}: the stream closed and reconnected ${stream.reconnects} times`);
    await stream.close(false);
  }
}

/** Rejects when the setup takes longer than SETUP_TIMEOUT_MS. */
async function withDeadline<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([work, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`setup: no answer to the ${what} within ${SETUP_TIMEOUT_MS} ms`)), SETUP_TIMEOUT_MS); })]);
  } finally {
    clearTimeout(timer);
  }
}
