// A steady POS load for the backup test and benchmark: several terminals stream batches of
// purchases, top-ups and cross-shard wallet transfers for their own members over the stream, each
// keeping a few batches in flight, until told to stop. Every acked op is kept with the moment its
// ack arrived, and every batch with its round trip, so that a test can say which writes were acked
// before a backup began and a benchmark can measure what writes waited while it ran.
import { hashId } from '../engine/router/member-hash.js';
import { StreamTerminal } from './stream-terminal.js';
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

export interface AckedOp { key: string; op: Record<string, unknown> & { op: string }; result: Record<string, any>; ackedAtMs: number }
export interface BatchTiming { sentAtMs: number; ackedAtMs: number; ops: number }

/** Every member's opening top-up, so that transfers have money to move. */
export const OPENING_TOPUP_CENTS = 100_000;
const TRANSFER_CENTS_MAX = 500;
const TOPUP_CENTS_MIN = 100;
const TOPUP_CENTS_MAX = 20_000;
const PURCHASE_CENTS_MAX = 50_000;
const SETUP_TIMEOUT_MS = 60_000;

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

  /** Registers every member and tops each up, in two batches over one connection. */
  async setup(): Promise<void> {
    const everyone = this.members.flat();
    const admin = await StreamTerminal.open(this.settings.streamUrl, this.settings.key, true);
    const registered = await admin.batch(1, everyone.map((memberId) => ({ op: 'register', memberId })), SETUP_TIMEOUT_MS);
    const opening = everyone.map((memberId) => ({ op: 'topup', requestId: `open-${memberId}`, memberId, amountCents: OPENING_TOPUP_CENTS }));
    const funded = await admin.batch(2, opening, SETUP_TIMEOUT_MS);
    admin.close();
    const bad = [...registered, ...funded].find((r: { ok: boolean }) => !r.ok);
    if (bad !== undefined) throw new Error('setup failed: ' + JSON.stringify(bad));
    const now = Date.now();
    opening.forEach((op, i) => this.acked.push({ key: op.requestId, op, result: funded[i], ackedAtMs: now }));
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
    const conn = await StreamTerminal.open(s.streamUrl, s.key, true);
    const pending = new Map<number, { ops: Array<{ key: string; op: AckedOp['op'] }>; sentAtMs: number }>();
    let wake: () => void = () => {};
    conn.onFrame = (frame: any) => {
      if (frame?.type !== 'ack') {
        this.failures.push(`terminal ${t}: ${JSON.stringify(frame).slice(0, 300)}`);
        wake();
        return;
      }
      const batch = pending.get(frame.id);
      if (batch === undefined) return;
      pending.delete(frame.id);
      const ackedAtMs = Date.now();
      this.batches.push({ sentAtMs: batch.sentAtMs, ackedAtMs, ops: batch.ops.length });
      batch.ops.forEach((p, i) => this.acked.push({ key: p.key, op: p.op, result: frame.results[i], ackedAtMs }));
      wake();
    };
    let seq = 0;
    let id = 0;
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
    const between = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));
    const plan = (): { key: string; op: AckedOp['op'] } => {
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
      while (pending.size < s.windowBatches && !this.stopping) {
        const ops = Array.from({ length: s.batchOps }, plan);
        id += 1;
        pending.set(id, { ops, sentAtMs: Date.now() });
        conn.send({ type: 'batch', id, ops: ops.map((p) => p.op) });
        if (s.pauseMs > 0) await new Promise((r) => setTimeout(r, s.pauseMs));
      }
      await new Promise<void>((r) => { wake = r; setTimeout(r, 200); });
      if (conn.isClosed) { this.failures.push(`terminal ${t}: the stream closed`); break; }
    }
    const deadline = Date.now() + SETUP_TIMEOUT_MS;
    while (pending.size > 0 && !conn.isClosed && Date.now() < deadline) await new Promise<void>((r) => { wake = r; setTimeout(r, 200); });
    if (pending.size > 0) this.failures.push(`terminal ${t}: ${pending.size} batches never acked`);
    conn.close();
  }
}
