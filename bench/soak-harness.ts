// The crash soak: a real server on several shards is fed purchases, returns, top-ups and
// cross-shard wallet transfers from several POS terminals, killed with SIGKILL at random points of
// the run and restarted on the same port; each terminal is the repository's POS stream client
// (client/stream.ts), which reconnects and resends every batch that was not acked. At the end the books must
// be exact: money conserved to the cent, points equal to what the acked orders earned minus what
// the acked returns clawed back, every write applied once, and verify clean.
// `npm run soak` runs it with 10 kills (bench/soak.ts); test/reliability/crash.test.ts runs a small one.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { PosStream, type OpResult, type StreamOp, type WebSocketConstructor } from '../client/stream.js';
import { hashId } from '../engine/router/member-hash.js';
import { ServerChild } from './server-child.js';
import { prng } from './prng.js';
import { freePort } from './free-port.js';

export interface SoakSettings {
  shards: number;
  terminals: number;
  /** Members each terminal buys for; a member belongs to one terminal, so its ops arrive in order. */
  membersPerTerminal: number;
  /** Batches each terminal has acked before it stops (resends not counted). */
  batchesPerTerminal: number;
  batchOps: number;
  /** Unacked batches a terminal keeps in flight (the server allows 64). */
  windowBatches: number;
  /** SIGKILLs during the run, each at a random point of its progress, each followed by a restart. */
  kills: number;
  seed: number;
  /** Bounded wait for the cross-shard transfer credits, delivered after their acks, to land. */
  settleTimeoutMs: number;
  /** The whole run fails rather than hangs past this. */
  deadlineMs: number;
  log: (line: string) => void;
}

export const SOAK_DEFAULTS: SoakSettings = {
  shards: 4, terminals: 4, membersPerTerminal: 25, batchesPerTerminal: 200, batchOps: 50, windowBatches: 8,
  kills: 10, seed: 1, settleTimeoutMs: 30_000, deadlineMs: 30 * 60_000, log: () => {},
};

export interface SoakReport {
  ok: boolean;
  failures: string[];
  seed: number;
  elapsedMs: number;
  kills: number;
  /** Batches sent but not acked when a kill struck, summed over the kills. */
  unackedAtKills: number;
  batchesAcked: number;
  batchesResent: number;
  opsResent: number;
  purchases: number;
  returns: number;
  transfers: number;
  topups: number;
  /** Business rejections by code (e.g. insufficient_wallet for a transfer): final answers, not failures. */
  rejected: Record<string, number>;
  walletCents: number;
  expectedWalletCents: number;
  points: number;
  expectedPoints: number;
  ledgerEntries: number;
}

/** Op answers that mean "nothing was done, send it again": the op is resent under the same key (the client resends whole batches refused so by itself). */
const RETRYABLE = new Set(['overloaded', 'shutting_down', 'storage_failed']);
/** Top-up every member gets before the run, so that transfers have money to move. */
const OPENING_TOPUP_CENTS = 100_000;
const PURCHASE_CENTS_MIN = 100;
const PURCHASE_CENTS_MAX = 100_000;
const TRANSFER_CENTS_MAX = 2_000;
const TOPUP_CENTS_MIN = 100;
const TOPUP_CENTS_MAX = 50_000;
/** Ledger page size when reading members back (the API's maximum). */
const LEDGER_PAGE = 1_000;
/** A terminal that cannot reach the restarted server waits at most this long between attempts. */
const RECONNECT_MAX_MS = 200;
/** Setup ops go in batches of this many, far below the server's 10,000 a batch. */
const SETUP_BATCH_OPS = 1_000;
const POLL_MS = 20;
/** Ledger entries that each acked write makes exactly once, keyed by kind and ref. */
const CHECKED_KINDS = new Set(['purchase', 'return', 'topup', 'transfer_out', 'transfer_in']);

type Op = StreamOp;
interface Planned { key: string; op: Op }
interface Final { op: Op; result: Record<string, any> }

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function openStream(server: ServerChild, batchOpsMax: number, windowBatches: number): PosStream {
  return new PosStream({
    url: server.streamUrl, key: server.adminKey, WebSocket: WebSocket as unknown as WebSocketConstructor, encoding: 'msgpack',
    batchOpsMax, windowBatches, reconnectMaxMs: RECONNECT_MAX_MS,
  });
}

class Terminal {
  /** Batches given to the client and not yet answered. */
  inFlight = 0;
  /** Ops answered "nothing was done", to go again in a later batch. */
  readonly resend: Planned[][] = [];
  /** Acked purchases of this terminal not yet returned: candidates for a return. */
  readonly returnable: Array<{ orderId: string; amountCents: number }> = [];
  batchesPlanned = 0;
  batchesAcked = 0;
  /** Batches (and their ops) sent again: by the client after a reconnect, or here for ops refused as retryable. */
  batchesResent = 0;
  opsResent = 0;
  private seq = 0;
  private wakeUp: () => void = () => {};

  constructor(
    readonly index: number,
    readonly members: string[],
    readonly everyone: string[],
    readonly settings: SoakSettings,
    readonly server: ServerChild,
    readonly finals: Map<string, Final>,
    readonly failures: string[],
    readonly random: () => number,
  ) {}

  get done(): boolean {
    return this.batchesPlanned >= this.settings.batchesPerTerminal && this.inFlight === 0 && this.resend.length === 0;
  }

  private pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.random() * list.length)]!;
  }

  private between(min: number, max: number): number {
    return min + Math.floor(this.random() * (max - min + 1));
  }

  private plan(): Planned {
    const t = this.index;
    const n = this.seq++;
    const memberId = this.pick(this.members);
    const roll = this.random();
    if (roll < 0.15 && this.returnable.length > 0) {
      const order = this.returnable.splice(Math.floor(this.random() * this.returnable.length), 1)[0]!;
      const amountCents = this.random() < 0.5 ? order.amountCents : Math.max(1, Math.floor(order.amountCents / 2));
      const returnId = `r-${t}-${n}`;
      return { key: returnId, op: { op: 'return', returnId, orderId: order.orderId, amountCents } };
    }
    if (roll < 0.30) {
      const shard = hashId(memberId) % this.settings.shards;
      const others = this.everyone.filter((m) => hashId(m) % this.settings.shards !== shard);
      const requestId = `x-${t}-${n}`;
      return { key: requestId, op: { op: 'transfer', requestId, fromMemberId: memberId, toMemberId: this.pick(others), amountCents: this.between(1, TRANSFER_CENTS_MAX) } };
    }
    if (roll < 0.40) {
      const requestId = `t-${t}-${n}`;
      return { key: requestId, op: { op: 'topup', requestId, memberId, amountCents: this.between(TOPUP_CENTS_MIN, TOPUP_CENTS_MAX) } };
    }
    const orderId = `o-${t}-${n}`;
    return { key: orderId, op: { op: 'purchase', orderId, memberId, amountCents: this.between(PURCHASE_CENTS_MIN, PURCHASE_CENTS_MAX) } };
  }

  private nextBatch(): Planned[] | null {
    const again = this.resend.shift();
    if (again !== undefined) {
      this.batchesResent += 1;
      this.opsResent += again.length;
      return again;
    }
    if (this.batchesPlanned >= this.settings.batchesPerTerminal) return null;
    this.batchesPlanned += 1;
    return Array.from({ length: this.settings.batchOps }, () => this.plan());
  }

  private onResults(batch: Planned[], results: OpResult[]): void {
    const retry: Planned[] = [];
    batch.forEach((planned, i) => {
      const result = results[i]!;
      if (!result.ok && RETRYABLE.has(result.error.code)) { retry.push(planned); return; }
      if (!result.ok && result.error.code === 'internal') this.failures.push(`${planned.key}: internal error ${JSON.stringify(result.error)}`);
      if (this.finals.has(planned.key)) this.failures.push(`${planned.key}: answered twice`);
      this.finals.set(planned.key, { op: planned.op, result });
      if (result.ok && planned.op.op === 'purchase') this.returnable.push({ orderId: planned.key, amountCents: planned.op.amountCents });
    });
    if (retry.length > 0) this.resend.push(retry);
    else this.batchesAcked += 1;
  }

  async run(deadline: number): Promise<void> {
    const stream = openStream(this.server, this.settings.batchOps, this.settings.windowBatches);
    try {
      while (!this.done) {
        if (Date.now() > deadline) throw new Error(`terminal ${this.index} did not finish before the deadline`);
        while (this.inFlight < this.settings.windowBatches) {
          const batch = this.nextBatch();
          if (batch === null) break;
          this.inFlight += 1;
          stream.sendBatch(batch.map((p) => p.op)).then((results) => {
            this.inFlight -= 1;
            this.onResults(batch, results);
            this.wakeUp();
          }, (err: Error) => {
            this.inFlight -= 1;
            this.failures.push(`terminal ${this.index}: ${err.message}`);
            this.wakeUp();
          });
        }
        await new Promise<void>((r) => { this.wakeUp = r; setTimeout(r, 1_000); });
      }
    } finally {
      this.batchesResent += stream.resentBatches;
      this.opsResent += stream.resentOps;
      await stream.close(false);
    }
  }
}

async function readLedger(server: ServerChild, memberId: string): Promise<Array<{ kind: string; ref: string; walletDeltaCents: number; pointsDelta: number }>> {
  const entries: Array<{ kind: string; ref: string; walletDeltaCents: number; pointsDelta: number }> = [];
  let cursor: string | null = null;
  do {
    const page = await server.get(`/v1/members/${memberId}/ledger?limit=${LEDGER_PAGE}${cursor === null ? '' : `&cursor=${cursor}`}`);
    if (page.status !== 200) throw new Error(`ledger of ${memberId}: ${page.status} ${JSON.stringify(page.body)}`);
    entries.push(...page.body.entries);
    cursor = page.body.nextCursor;
  } while (cursor !== null);
  return entries;
}

/** Runs one soak on a fresh data folder and reports; the server is stopped and the folder removed. */
export async function runSoak(settings: SoakSettings): Promise<SoakReport> {
  const started = Date.now();
  const deadline = started + settings.deadlineMs;
  const random = prng(settings.seed);
  const dataDir = mkdtempSync(join(tmpdir(), 'loyalty-soak-'));
  const server = new ServerChild({ dataDir, env: { PORT: String(await freePort()), LOYALTY_SHARDS: String(settings.shards) } });
  const finals = new Map<string, Final>();
  const failures: string[] = [];
  const log = settings.log;
  let kills = 0;
  let unackedAtKills = 0;
  try {
    await server.start();
    log(`server up on ${server.port} with ${settings.shards} shards (seed ${settings.seed})`);

    // Members, each with an opening top-up, before any kill.
    const owned = Array.from({ length: settings.terminals }, (_, t) => Array.from({ length: settings.membersPerTerminal }, (_, j) => `s${t}-${j}`));
    const everyone = owned.flat();
    const admin = openStream(server, SETUP_BATCH_OPS, settings.windowBatches);
    const registered = await Promise.all(everyone.map((memberId) => admin.send('register', { memberId })));
    const opening = everyone.map((memberId) => ({ op: 'topup' as const, requestId: `open-${memberId}`, memberId, amountCents: OPENING_TOPUP_CENTS }));
    const funded = await Promise.all(opening.map(({ op, ...body }) => admin.send(op, body)));
    await admin.close();
    if (![...registered, ...funded].every((r) => r.ok)) throw new Error('setup failed: ' + JSON.stringify([...registered, ...funded].find((r) => !r.ok)));
    opening.forEach((op, i) => finals.set(op.requestId, { op, result: funded[i]! }));

    const terminals = owned.map((members, t) => new Terminal(t, members, everyone, settings, server, finals, failures, prng(settings.seed * 1000 + t + 1)));
    const running = terminals.map((t) => t.run(deadline));
    const total = settings.terminals * settings.batchesPerTerminal;
    const acked = () => terminals.reduce((s, t) => s + t.batchesAcked, 0);
    // Each kill strikes at a random point of the run's progress, so that every kill lands mid-stream.
    const killAt = Array.from({ length: settings.kills }, () => Math.floor(total * (0.05 + 0.85 * random()))).sort((a, b) => a - b);
    const chaosLoop = (async () => {
      let ackedAtRestart = 0;
      for (const at of killAt) {
        // At least one batch acked by the restarted server, so that no kill strikes an idle one.
        while (acked() < Math.max(at, ackedAtRestart + 1)) {
          if (Date.now() > deadline) throw new Error('the run stalled before all kills');
          await sleep(POLL_MS);
        }
        await sleep(random() * 50);
        unackedAtKills += terminals.reduce((s, t) => s + t.inFlight, 0);
        await server.kill();
        kills += 1;
        await server.start();
        ackedAtRestart = acked();
        log(`kill ${kills}/${settings.kills} at ${acked()}/${total} batches acked; restarted on ${server.port}`);
      }
    })();
    await Promise.all([...running, chaosLoop]);
    log(`all ${total} batches acked after ${kills} kills; settling`);

    // Expected books from the final answers alone.
    let expectedWalletCents = 0;
    let expectedPoints = 0;
    const counts = { purchases: 0, returns: 0, transfers: 0, topups: 0 };
    const rejected: Record<string, number> = {};
    const expectedRefs = new Map<string, Map<string, number>>(); // memberId → "kind ref" → count
    const expect = (memberId: string, kind: string, ref: string) => {
      let m = expectedRefs.get(memberId);
      if (m === undefined) { m = new Map(); expectedRefs.set(memberId, m); }
      m.set(`${kind} ${ref}`, (m.get(`${kind} ${ref}`) ?? 0) + 1);
    };
    for (const [key, { op, result }] of finals) {
      if (!result['ok']) { const code = result['error']?.code as string; rejected[code] = (rejected[code] ?? 0) + 1; continue; }
      switch (op.op) {
        case 'purchase': counts.purchases += 1; expectedPoints += result['earnedPoints']; expect(op['memberId'] as string, 'purchase', key); break;
        case 'return':
          counts.returns += 1;
          expectedPoints += -result['clawedBackPoints'] + result['restoredPoints'];
          expectedWalletCents += result['walletRefundCents'];
          expect(result['memberId'], 'return', key);
          break;
        case 'topup': counts.topups += 1; expectedWalletCents += result['amountCents'] + result['bonusCents']; expect(op['memberId'] as string, 'topup', 'req:' + key); break;
        case 'transfer':
          counts.transfers += 1;
          expect(op['fromMemberId'] as string, 'transfer_out', 'req:' + key);
          expect(op['toMemberId'] as string, 'transfer_in', 'req:' + key);
          break;
      }
    }

    // Cross-shard credits land after their acks: wait, boundedly, for the totals to settle.
    const settleBy = Date.now() + settings.settleTimeoutMs;
    let summary: any;
    for (;;) {
      summary = (await server.get('/v1/reports/summary')).body;
      if (summary.walletOutstandingCents === expectedWalletCents || Date.now() > settleBy) break;
      await sleep(POLL_MS * 5);
    }
    if (summary.walletOutstandingCents !== expectedWalletCents) failures.push(`summary walletOutstandingCents ${summary.walletOutstandingCents} != ${expectedWalletCents} after ${settings.settleTimeoutMs} ms`);
    if (summary.pointsOutstanding !== expectedPoints) failures.push(`summary pointsOutstanding ${summary.pointsOutstanding} != ${expectedPoints}`);
    if (summary.purchases !== counts.purchases) failures.push(`summary purchases ${summary.purchases} != ${counts.purchases} acked orders`);
    if (summary.returns !== counts.returns) failures.push(`summary returns ${summary.returns} != ${counts.returns} acked returns`);

    // Member by member: balances, and every acked write exactly once in the ledger, nothing else.
    let walletCents = 0;
    let points = 0;
    let ledgerEntries = 0;
    let creditedCents = 0;
    for (const memberId of everyone) {
      const member = (await server.get(`/v1/members/${memberId}`)).body;
      walletCents += member.walletCents;
      points += member.points;
      const entries = await readLedger(server, memberId);
      ledgerEntries += entries.length;
      const seen = new Map<string, number>();
      for (const e of entries) {
        // Tier moves and the like follow from the writes checked here; they are verify's business.
        if (!CHECKED_KINDS.has(e.kind)) continue;
        if (e.kind === 'transfer_in') creditedCents += e.walletDeltaCents;
        const k = `${e.kind} ${e.ref}`;
        seen.set(k, (seen.get(k) ?? 0) + 1);
      }
      const want = expectedRefs.get(memberId) ?? new Map<string, number>();
      for (const [k, n] of seen) if (want.get(k) !== n) failures.push(`${memberId}: ledger holds "${k}" ${n} time(s), acked ${want.get(k) ?? 0}`);
      for (const [k, n] of want) if (!seen.has(k)) failures.push(`${memberId}: acked "${k}" (${n}) is not in the ledger`);
    }
    const movedCents = [...finals.values()].filter((f) => f.result['ok'] && f.op.op === 'transfer').reduce((s, f) => s + (f.op as { amountCents: number }).amountCents, 0);
    if (creditedCents !== movedCents) failures.push(`transfer credits ${creditedCents} != ${movedCents} cents debited by acked transfers`);
    if (walletCents !== expectedWalletCents) failures.push(`wallets hold ${walletCents} cents, top-ups put in ${expectedWalletCents}`);
    if (points !== expectedPoints) failures.push(`members hold ${points} points, acked orders and returns make ${expectedPoints}`);

    const verify = (await server.get('/v1/admin/verify')).body;
    if (verify.ok !== true) failures.push(`verify: ${JSON.stringify(verify).slice(0, 1000)}`);
    const exit = await server.stop('SIGTERM');
    if (exit.code !== 0) failures.push(`the final SIGTERM exited ${exit.code ?? exit.signal}`);

    return {
      ok: failures.length === 0, failures, seed: settings.seed, elapsedMs: Date.now() - started, kills, unackedAtKills,
      batchesAcked: acked(), batchesResent: terminals.reduce((s, t) => s + t.batchesResent, 0), opsResent: terminals.reduce((s, t) => s + t.opsResent, 0),
      ...counts, rejected, walletCents, expectedWalletCents, points, expectedPoints, ledgerEntries,
    };
  } catch (err) {
    const cause = err instanceof Error && err.cause !== undefined ? ` (${String(err.cause)})` : '';
    failures.push((err instanceof Error ? err.stack ?? err.message : String(err)) + cause);
    failures.push('server log tail:\n' + server.logs.slice(-20).join('\n'));
    return {
      ok: false, failures, seed: settings.seed, elapsedMs: Date.now() - started, kills, unackedAtKills, batchesAcked: 0, batchesResent: 0,
      opsResent: 0, purchases: 0, returns: 0, transfers: 0, topups: 0, rejected: {}, walletCents: 0, expectedWalletCents: 0, points: 0, expectedPoints: 0, ledgerEntries: 0,
    };
  } finally {
    await server.kill();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
