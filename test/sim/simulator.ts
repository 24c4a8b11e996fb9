// The deterministic simulation of the whole engine, in the spirit of TigerBeetle's VOPR: from one
// seed it draws a program and a long history of every op and endpoint, runs it against a real
// server process (HTTP and the POS stream, SIGKILLs and restarts included), and after every step
// requires the server to agree with the reference model (test/sim/model.ts) on every answer and
// every touched member; at checkpoints and at the end it also requires `verify` to be clean, the
// summary to equal the members' sums and each member's ledger to equal the model's entries.
import { isDeepStrictEqual } from 'node:util';
import { Random } from './prng.js';
import { DAY_MS, iso, localDay } from './calendar.js';
import { generateProgram, type SimProgram } from './program.js';
import { CouponBook } from './coupons.js';
import { AT_MIN_MS, Model, SAFE_MAX, entryOf, parseAt, shardOf, type Body, type Member, type OpName, type Outcome, type Role } from './model.js';
import { OP_AMOUNT_MAX, Planner, withOffset, type Planned } from './plan.js';
import { SimServer, type Answer } from './server.js';
import { RewardPlanner } from './rewards.js';

/**
 * Edge classes, each behind a switch. The `defaultOn` ones run in `npm test` (turning one off narrows
 * a failure down); the others probe defects being fixed elsewhere and fail on a tree without the fix.
 */
export const EDGES = {
  'kills': { defaultOn: true, about: 'SIGKILLs at seeded steps while ops are in flight, restarts, unacked ops settled from the ledger and resent in a new order' },
  'backdated': { defaultOn: true, about: 'ops dated up to 400 days back, and ops exactly at a member\'s next period end, expiry, activation or birthday, or a return window before it' },
  'batches': { defaultOn: true, about: 'multi-op stream batches (independent members, repeats of an op inside its batch) and shuffled replay batches' },
  'program-changes': { defaultOn: true, about: 'PUT /v1/program mid-run: new rates, thresholds, periods, expiry, return window, referral levels, products; tiers nobody held may go' },
  'near-limit': { defaultOn: true, about: 'balances within 10^12 of 2^53-1 (built by thousands of adjustments and top-ups), then credits that would pass it' },
  'ancient-times': { defaultOn: true, about: 'instants before 2000-01-01T00:00:00Z (and before 1970) as an op\'s `at`, `balance?at=` and the sweep\'s `asOf`, which the server must refuse with 400 invalid_request on that field; ops at the bound itself' },
  'tier-removal': { defaultOn: true, about: 'a program change removing a tier that members hold: they move to the first tier at the change' },
  'patch-birthday': { defaultOn: true, about: 'birthdays PATCHed to any date (also onto members without one) with birthday gifts on, then sweeps across period ends' },
  'cross-shard-keys': { defaultOn: true, about: 'one requestId used for members on different shards: the second must be 409 idempotency_conflict' },
  'equivalent-retry': { defaultOn: true, about: 'a retry spelling a default explicitly or the same instant with another offset, which must replay' },
  'same-batch-deps': { defaultOn: true, about: 'stream batches [purchase o, return o], [register R, register S referred by R], [register T, transfer to T]: all must succeed' },
  'batch-events': { defaultOn: true, about: 'ops of one member in one stream batch at different times, so an event one op creates falls due before a later op' },
  'timezone-change': { defaultOn: true, about: 'program changes that move the time zone: an op after a birthday gift falls due under the new zone must get the gift first' },
  'replay-after-return': { defaultOn: true, about: 'a purchase replayed after a return of its order reversed part of its referral share rewards: the replay must answer the first answer' },
  'coupons': { defaultOn: true, about: 'coupon templates and rules of the register, purchase and upgrade triggers, and campaigns\' coupons; issues and revocations by hand; purchases and quotes naming coupons (usable ones and every refusal); two purchases of one coupon in a batch; full and partial returns; expiry by sweep; caps reached' },
  'birthday-coupons': { defaultOn: true, about: 'coupon rules of the birthday trigger: the gift\'s coupons, given by the sweep or by whatever op of the member comes first' },
  'erasure': { defaultOn: true, about: 'at the end of the run, a tenth of the members erased (every op family in their history, imports and birthdays included) and the data files compacted: the final checks and the replay of every shard\'s log, with its redacted entries, must still hold' },
  'rewards': { defaultOn: true, about: 'rewards for points (goods and coupons, small stocks, caps, tiers, windows): redemptions, fulfilments, cancellations back to the grants, restocks; products with count cards, card uses and adjustments, expiry by sweep; the rewards list, the reward report, members\' cards and redemptions' },
} as const;
export type EdgeName = keyof typeof EDGES;
export const EDGE_NAMES = Object.keys(EDGES) as EdgeName[];
export const DEFAULT_EDGES: EdgeName[] = EDGE_NAMES.filter((e) => EDGES[e].defaultOn);

export interface SimSettings {
  seed: number;
  steps: number;
  edges: ReadonlySet<EdgeName>;
  /** 2-4 from the seed unless given. */
  shards?: number;
  /** Runs on the data folder once the server has stopped cleanly, before it is removed (the replay check). */
  afterStop?: (dataDir: string) => void;
}

export interface SimReport {
  seed: number; steps: number; shards: number; elapsedMs: number;
  ops: number; opsByName: Record<string, number>; refusals: Record<string, number>;
  replays: number; conflicts: number; kills: number; unackedAtKills: number; sweeps: number; programChanges: number;
  checkpoints: number; members: number; orders: number; entries: number;
  /** Ledger entries by kind, from the model: how much of the rules the run reached. */
  entryKinds: Record<string, number>;
  /** Purchases and quotes some campaign applied to, and the coupons campaigns issued (first answers). */
  campaigns: { purchases: number; quotes: number; coupons: number };
  /**
   * How much of the return window the run reached (§13.5), from the model's ledgers: purchases and
   * referral rewards whose points waited, activations (those that paid only what fit below
   * 2^53 − 1, and those at the instant of a period end, an expiry or a birthday), upgrades an activation made, pending points cancelled by returns and by referral
   * reversals; and spends refused that the pending points would have covered.
   */
  pending: {
    purchases: number; rewards: number; activations: number; activationsCut: number; activationUpgrades: number;
    /** Activations at the instant of another event, by the other event's entry kind. */
    activationTies: Record<string, number>;
    cancelledByReturns: number; cancelledByReversals: number; refusedPendingWouldCover: number;
  };
}

/**
 * An op as a stream batch carries it. The stream runs under the admin key, so a product purchase
 * drawn for a pos or storefront key names the channel that key implies (offline, online): the same
 * request as over HTTP under that key, and the same fingerprint.
 */
function streamOp(p: Planned): Record<string, unknown> {
  if (p.name === 'product_purchase' && p.body['channel'] === undefined && (p.role === 'pos' || p.role === 'storefront')) {
    return { op: p.name, ...p.body, channel: p.role === 'pos' ? 'offline' : 'online' };
  }
  return { op: p.name, ...p.body };
}

/**
 * An op resent on the stream as the server receives it, for the model: under the admin's key, with
 * the channel the first key implied (streamOp). A product purchase first sent under a POS key
 * without `channel` and applied before a kill must replay when resent so; modelled under the
 * admin's key with the body as drawn, it would be a conflict the server never answers.
 */
export function asStreamSent(p: Planned): Planned {
  if (p.role === 'admin') return p;
  const { op: _op, ...body } = streamOp(p);
  return { ...p, role: 'admin', body };
}

/** Coupon issues and revocations travel over HTTP only. */
function streamable(p: Planned): boolean {
  return !['coupon_issue', 'coupon_revoke', 'reward_fulfil', 'reward_cancel', 'reward_stock', 'card_adjust'].includes(p.name);
}

/** A discrepancy between the server and the model, or a server that stopped: the run's failure. */
export class SimFailure extends Error {
  constructor(readonly seed: number, readonly step: number, readonly detail: string, readonly replay: string, readonly trace: string[]) {
    super(`seed=${seed} step=${step}: ${detail}\nreplay: ${replay}\nlast steps:\n  ${trace.join('\n  ')}`);
    this.name = 'SimFailure';
  }
}

/**
 * The edge set a `--edges` argument names: `a,b` exactly those, `none`, `all`, or changes to the
 * defaults such as `+near-limit,-kills`. Throws on an unknown name.
 */
export function parseEdges(arg: string): Set<EdgeName> {
  if (arg === 'none') return new Set();
  if (arg === 'all') return new Set(EDGE_NAMES);
  const items = arg.split(',');
  const relative = items.every((x) => x.startsWith('+') || x.startsWith('-'));
  const out = new Set<EdgeName>(relative ? DEFAULT_EDGES : []);
  for (const item of items) {
    const name = relative ? item.slice(1) : item;
    if (!(EDGE_NAMES as string[]).includes(name)) throw new RangeError(`no edge class ${name}`);
    if (relative && item.startsWith('-')) out.delete(name as EdgeName); else out.add(name as EdgeName);
  }
  return out;
}

export function replayCommand(s: { seed: number; steps: number; edges: ReadonlySet<EdgeName>; shards?: number }): string {
  const added = EDGE_NAMES.filter((e) => s.edges.has(e) && !EDGES[e].defaultOn).map((e) => `+${e}`);
  const removed = EDGE_NAMES.filter((e) => !s.edges.has(e) && EDGES[e].defaultOn).map((e) => `-${e}`);
  const changes = [...added, ...removed];
  const edgeFlag = changes.length === 0 ? '' : ` --edges ${changes.join(',')}`;
  return `npm run sim -- --seed ${s.seed} --steps ${s.steps}${edgeFlag}${s.shards === undefined ? '' : ` --shards ${s.shards}`}`;
}

/** The timeline starts in 2021 (a seeded day of its first half) and never passes this, which is in the past. */
const TIMELINE_END_MS = Date.UTC(2026, 5, 1);
const TIMELINE_START_MS = Date.UTC(2021, 0, 1);
/** The clock moves at most this much per step (on average half of it). */
const STEP_MS_MAX = 10 * DAY_MS;
/** The longest window of local days the campaign report takes, less one: both ends count (docs/rules.md §10.7). */
const CAMPAIGN_REPORT_DAYS_MAX = 3_659;
/** How long a credit delivered through the outbox may take to land before its member counts as wrong. */
const CONVERGE_TIMEOUT_MS = 5_000;
const POLL_MS = 15;
/** Full checks (verify, summary, every member) every this many steps, and at the end. */
const CHECKPOINT_STEPS = 50;
/** Lines of the trace kept for a failure's report. */
const TRACE_LINES = 25;
/** Ledger entries read per request (the API's page limit). */
const LEDGER_PAGE = 1_000;

/** The HTTP status of each error code the simulator can meet (README, Errors). */
const STATUS: Record<string, number> = {
  invalid_request: 400, member_not_found: 404, order_not_found: 404, referrer_not_found: 404, product_not_found: 404,
  tier_not_found: 404, member_exists: 409, phone_taken: 409, email_taken: 409, idempotency_conflict: 409,
  insufficient_points: 422, insufficient_wallet: 422, wallet_limit: 422, negative_net: 422, topup_below_minimum: 422,
  redemption_too_small: 422, product_inactive: 422, channel_not_allowed: 422, tier_not_eligible: 422,
  return_exceeds_order: 422, balance_limit: 422,
  coupon_not_found: 404, coupon_template_not_found: 404, coupon_not_usable: 422, coupon_limit: 422, coupon_not_active: 422,
  reward_not_found: 404, redemption_not_found: 404, card_not_found: 404, reward_unavailable: 422, out_of_stock: 422,
  reward_limit: 422, redemption_closed: 422, card_exhausted: 422, card_expired: 422,
};

const PATHS: Record<Exclude<OpName, 'patch' | 'coupon_revoke' | 'reward_fulfil' | 'reward_cancel' | 'reward_stock'>, string> = {
  register: '/v1/members', purchase: '/v1/purchases', return: '/v1/returns', quote: '/v1/checkout/quote',
  topup: '/v1/wallet/topups', withdraw: '/v1/wallet/withdrawals', transfer: '/v1/wallet/transfers',
  redeem: '/v1/points/redemptions', adjust: '/v1/points/adjustments', product_purchase: '/v1/product-purchases',
  coupon_issue: '/v1/coupons/issue', reward_redeem: '/v1/rewards/redemptions', card_use: '/v1/cards/uses', card_adjust: '/v1/cards/adjustments',
};

type Transport = 'http' | 'msgpack' | 'json';
/** An op acked with ok: true the first time, kept for replays and conflicts. */
interface Sent { p: Planned; answer: Body }

export async function runSimulation(settings: SimSettings): Promise<SimReport> {
  const sim = new Simulation(settings);
  return sim.run();
}

class Simulation {
  private readonly rng: Random;
  private readonly shards: number;
  private readonly server: SimServer;
  private model!: Model;
  private planner!: Planner;
  private step = 0;
  private clockMs: number;
  private readonly startMs: number;
  private readonly trace: string[] = [];
  private readonly history: Sent[] = [];
  /** The ops in `history`, so an op settled by a kill's resend is recorded once. */
  private readonly recorded = new Set<Planned>();
  /**
   * During a kill step, first answers wait here and join `history` in the step's own op order, so
   * that where the kill fell (which ops answered first) does not change what later steps draw.
   */
  private deferred: Map<Planned, Body> | null = null;
  /** A discrepancy found where the check cannot wait for the member's ledger; raised by `checkMembers`. */
  private pendingFailure: { memberId: string; detail: string } | null = null;
  private readonly killSteps = new Set<number>();
  private whales: string[] = [];
  /** Whether any program so far allowed negative points; if none did, no member may be below zero. */
  private negativeEverAllowed = false;
  private readonly report: SimReport;
  private readonly edges: ReadonlySet<EdgeName>;

  constructor(readonly settings: SimSettings) {
    this.rng = new Random(settings.seed);
    this.edges = settings.edges;
    this.shards = settings.shards ?? this.rng.int(2, 4);
    this.server = new SimServer(this.shards);
    this.startMs = TIMELINE_START_MS + this.rng.int(0, 180) * DAY_MS;
    this.clockMs = this.startMs;
    // Kills fall on seeded steps, about one per 80 steps, never in the first 10.
    const kills = Math.max(1, Math.round(settings.steps / 80));
    for (let i = 0; i < kills && settings.steps > 12; i++) this.killSteps.add(this.rng.int(10, settings.steps - 1));
    if (!this.edges.has('kills')) this.killSteps.clear();
    this.report = {
      seed: settings.seed, steps: settings.steps, shards: this.shards, elapsedMs: 0, ops: 0, opsByName: {}, refusals: {},
      replays: 0, conflicts: 0, kills: 0, unackedAtKills: 0, sweeps: 0, programChanges: 0, checkpoints: 0, members: 0, orders: 0, entries: 0, entryKinds: {},
      campaigns: { purchases: 0, quotes: 0, coupons: 0 },
      pending: { purchases: 0, rewards: 0, activations: 0, activationsCut: 0, activationTies: {}, activationUpgrades: 0, cancelledByReturns: 0, cancelledByReversals: 0, refusedPendingWouldCover: 0 },
    };
  }

  private on(edge: EdgeName): boolean {
    return this.edges.has(edge);
  }

  private note(line: string): void {
    this.trace.push(`${this.step}: ${line}`);
    if (this.trace.length > TRACE_LINES) this.trace.shift();
  }

  private fail(detail: string): never {
    throw new SimFailure(this.settings.seed, this.step, detail, replayCommand(this.settings), [...this.trace]);
  }

  /** The member an op acts on, as far as the model knows. */
  private memberOf(p: Planned): string {
    const b = p.body;
    if (p.name === 'return') return this.model.orders.get(b['orderId'] as string)?.memberId ?? '';
    if (p.name === 'coupon_revoke') return this.planner.reach(p, new Map()).direct[0] ?? '';
    return String(p.memberId ?? b['memberId'] ?? b['fromMemberId'] ?? '');
  }

  /** Fails with the member's last ledger entries as the server and the model have them, side by side. */
  private async failOn(memberId: string, detail: string): Promise<never> {
    const m = this.model.members.get(memberId);
    if (m === undefined) this.fail(detail);
    const server = await this.ledger(memberId).catch(() => null);
    const line = (e: { kind: string; ref: string; at: string | null; points: number; wallet: number; growth: number; pending: number; tierId: string | null }) =>
      `${e.at} ${e.kind} ${e.ref} points ${e.points} wallet ${e.wallet} growth ${e.growth}${e.pending === 0 ? '' : ` pending ${e.pending}`}${e.tierId === null ? '' : ` tier ${e.tierId}`}`;
    const theirs = (server ?? []).slice(-20).map((e) => line({ kind: e['kind'], ref: e['ref'], at: e['at'], points: e['pointsDelta'], wallet: e['walletDeltaCents'], growth: e['growthDelta'], pending: e['pendingDelta'], tierId: e['tierId'] }));
    const ours = (m?.entries ?? []).slice(-20).map((e) => line({ ...e, at: iso(e.at) }));
    const state = m === undefined ? '' : `\n  model state: tier ${m.tierId} period ${iso(m.periodStart)}..${iso(m.periodEnd)} metric ${m.periodMetric} birthday ${m.birthdayMonth}/${m.birthdayDay} last gift year ${m.lastBirthdayYear} grants ${JSON.stringify(m.grants.map((g) => [iso(g.expiresAt), g.remaining]))} pending ${JSON.stringify(m.pending.map((l) => [l.orderId, iso(l.activatesAt), l.points, l.growth]))}`;
    this.fail(`${detail}\n  ledger of ${memberId} on the server (last 20 of ${server?.length ?? 0}):\n    ${theirs.join('\n    ')}\n  in the model (last 20 of ${m?.entries.length ?? 0}):\n    ${ours.join('\n    ')}${state}`);
  }

  async run(): Promise<SimReport> {
    const started = performance.now();
    try {
      await this.server.start();
      await this.installFirstProgram();
      if (this.on('near-limit')) await this.buildWhales();
      for (this.step = 1; this.step <= this.settings.steps; this.step++) {
        this.clockMs = Math.min(TIMELINE_END_MS, this.clockMs + this.rng.int(0, Math.min(STEP_MS_MAX, Math.floor((TIMELINE_END_MS - this.startMs) / this.settings.steps) * 2)));
        if (this.killSteps.has(this.step)) await this.killStep();
        else await this.oneStep();
        if (this.step % CHECKPOINT_STEPS === 0) await this.checkpoint(false);
      }
      this.step = this.settings.steps;
      if (this.on('erasure')) await this.eraseSome();
      await this.checkpoint(true);
      const exit = await this.server.stop();
      if (exit.code !== 0) this.fail(`a SIGTERM at the end did not exit 0: ${JSON.stringify(exit)}\n${this.server.logs}`);
      this.settings.afterStop?.(this.server.dataDir);
      this.server.cleanup();
    } catch (err) {
      await this.server.kill().catch(() => {});
      if (err instanceof SimFailure) throw new SimFailure(err.seed, err.step, `${err.detail}\n(data folder kept: ${this.server.dataDir})`, err.replay, err.trace);
      const message = err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err);
      throw new SimFailure(this.settings.seed, this.step, `${message}\nserver log:\n${this.server.logs}\n(data folder kept: ${this.server.dataDir})`, replayCommand(this.settings), [...this.trace]);
    }
    this.report.elapsedMs = performance.now() - started;
    this.report.members = this.model.members.size;
    this.report.orders = this.model.orders.size;
    this.report.entries = this.model.entriesCount();
    for (const m of this.model.members.values()) for (const e of m.entries) this.report.entryKinds[e.kind] = (this.report.entryKinds[e.kind] ?? 0) + 1;
    this.countPending();
    return this.report;
  }

  // ---------------------------------------------------------------- the program

  private async installFirstProgram(): Promise<void> {
    const program = generateProgram(this.rng, { keepTiers: new Set(), dropTier: null, timezone: null, coupons: this.couponDraw(), clockMs: this.clockMs, rewards: this.on('rewards') });
    const reply = await this.server.request('PUT', '/v1/program', program);
    if (reply.status !== 200) this.fail(`the first program was refused: ${JSON.stringify(reply.body)}`);
    this.model = new Model(program, reply.body.version as number, {
      shards: this.shards,
      globalRequestKeys: this.on('cross-shard-keys'),
      refuseAncientAt: this.on('ancient-times'),
      patchBirthdayFully: this.on('patch-birthday'),
    });
    // The demo program a fresh install starts with is on the ledger too.
    this.model.programEntries = 2;
    this.negativeEverAllowed = program.allowNegativePoints;
    this.planner = new Planner(this.rng, this.model, this.startMs, this.on('backdated'), this.on('coupons'));
    this.note(`program v${this.model.version}: ${describeProgram(program)}`);
  }

  private couponDraw(): { birthdayRules: boolean } | null {
    return this.on('coupons') ? { birthdayRules: this.on('birthday-coupons') } : null;
  }

  private async changeProgram(): Promise<void> {
    const p = this.model.program;
    let dropTier: string | null = null;
    if (this.on('tier-removal') && this.rng.chance(0.6)) {
      const held = p.tiers.slice(1).map((t) => t.id).filter((id) => this.model.everHeld.has(id));
      if (held.length > 0) dropTier = this.rng.pick(held);
    }
    const keep = new Set(this.model.everHeld);
    if (dropTier !== null) keep.delete(dropTier);
    const program = generateProgram(this.rng, { keepTiers: keep, dropTier, timezone: this.on('timezone-change') ? null : p.timezone, coupons: this.couponDraw(), clockMs: this.clockMs, rewards: this.on('rewards') });
    const moving = this.model.holdingDropped(program);
    const sentMs = Date.now();
    const reply = await this.server.request('PUT', '/v1/program', program);
    const answeredMs = Date.now();
    this.note(`program → v${this.model.version + 1}${dropTier === null ? '' : ` dropping held tier ${dropTier}`}: ${describeProgram(program)}`);
    if (reply.status !== 200) this.fail(`a program change was refused: ${JSON.stringify(reply.body)}`);
    if (reply.body.version !== this.model.version + 1) this.fail(`the program's version is ${reply.body.version}, the model's ${this.model.version + 1}`);
    const ids = (reply.body.tiers as Array<{ id: string }>).map((t) => t.id);
    if (!isDeepStrictEqual(ids, program.tiers.map((t) => t.id))) this.fail(`the program came back with tiers ${ids}`);
    const gifts = new Map(this.model.memberOrder.map((id) => [id, this.model.nextBirthday(this.model.members.get(id)!)]));
    this.model.setProgram(program, moving.length === 0 ? answeredMs : await this.changeTime(moving[0]!, sentMs, answeredMs));
    this.negativeEverAllowed ||= program.allowNegativePoints;
    if (dropTier !== null) this.model.everHeld.delete(dropTier);
    this.report.programChanges += 1;
    if (moving.length > 0) {
      this.note(`moved to ${program.tiers[0]!.id} at the change: ${moving.join(', ')}`);
      await this.checkMembers(moving);
    }
    if (this.on('timezone-change') && program.timezone !== p.timezone) await this.probeMovedGifts(gifts);
  }

  /**
   * When the server took the program change, read from the `downgrade` entry it gave a member who
   * held a dropped tier (the server's clock, which the change's answer does not carry); it must
   * fall between sending the change and its answer.
   */
  private async changeTime(memberId: string, sentMs: number, answeredMs: number): Promise<number> {
    const ref = `program:${this.model.version + 1}`;
    const e = ((await this.ledger(memberId)) ?? []).find((x) => x['kind'] === 'downgrade' && x['ref'] === ref);
    if (e === undefined) this.fail(`${memberId} held a tier program v${this.model.version + 1} dropped, and has no downgrade entry ${ref}`);
    const atMs = Date.parse(e['at'] as string);
    if (!(atMs >= sentMs && atMs <= answeredMs)) this.fail(`the program change is dated ${e['at']}, not while it was sent (${iso(sentMs)} to ${iso(answeredMs)})`);
    return atMs;
  }

  /**
   * `timezone-change`: after the zone moved east, a member's next birthday gift falls due earlier
   * than it did; a quote exactly at the new time must see the gift first (the quote's `points`).
   */
  private async probeMovedGifts(before: ReadonlyMap<string, number | null>): Promise<void> {
    const moved = this.model.memberOrder.filter((id) => {
      const m = this.model.members.get(id)!;
      const now = this.model.nextBirthday(m);
      const then = before.get(id) ?? null;
      return now !== null && then !== null && now < then && now <= this.clockMs;
    });
    for (const id of this.rng.shuffle(moved).slice(0, 3)) {
      const m = this.model.members.get(id)!;
      const p = this.planner.quote(m, this.model.nextBirthday(m)!);
      p.note = 'at the birthday gift as the new time zone places it';
      await this.single(p);
    }
  }

  // ---------------------------------------------------------------- one step

  private async oneStep(): Promise<void> {
    const rng = this.rng;
    const members = this.model.members.size;
    const weights = {
      register: members < 6 ? 40 : 7, purchase: 22, return: 8, topup: 6, withdraw: 3, transfer: 5, redeem: 4, adjust: 3,
      product: 4, quote: 3, patch: 3, program: this.on('program-changes') ? 1 : 0, sweep: 3, balance: 3, order: 2, replay: 4, conflict: 2,
      batch: this.on('batches') ? 8 : 0,
      ancient: this.on('ancient-times') ? 2 : 0, crossKey: this.on('cross-shard-keys') ? 2 : 0,
      equivalent: this.on('equivalent-retry') ? 3 : 0, deps: this.on('same-batch-deps') ? 3 : 0,
      whale: this.whales.length > 0 ? 6 : 0,
      coupon: this.on('coupons') ? 16 : 0,
      reward: this.on('rewards') ? 14 : 0,
    };
    const action = members === 0 ? 'register' : rng.weighted(weights);
    switch (action) {
      case 'program': return this.changeProgram();
      case 'sweep': return this.sweepStep();
      case 'balance': return this.balanceStep();
      case 'order': return this.orderStep();
      case 'replay': return this.replayStep();
      case 'conflict': return this.conflictStep();
      case 'batch': return this.batchStep();
      case 'ancient': return this.ancientStep();
      case 'crossKey': return this.crossKeyStep();
      case 'equivalent': return this.equivalentStep();
      case 'deps': return this.depsStep();
      case 'whale': return this.whaleStep();
      case 'coupon': return this.couponStep();
      case 'reward': return this.rewardStep();
      default: {
        const p = this.drawSingle(action);
        if (p !== null) await this.single(p);
      }
    }
  }

  private drawSingle(action: string): Planned | null {
    const { planner, rng } = this;
    const m = planner.member();
    if (m === null) return planner.register(this.clockMs);
    const at = planner.atFor(this.clockMs, m);
    switch (action) {
      case 'register': return planner.register(planner.atFor(this.clockMs));
      case 'purchase': return rng.chance(0.03) ? planner.purchase(null, at) : planner.withCoupons(planner.purchase(m, at), m, at);
      case 'return': {
        if (rng.chance(0.02)) return { name: 'return', body: { returnId: `r${planner.next()}`, orderId: `nope${planner.next()}`, amountCents: 100, at: planner.spell(at) }, role: 'admin' };
        // Orders that used or issued coupons a third of the time: their full returns give coupons back and take them back.
        const withCoupons = (id: string) => { const c = this.model.orders.get(id)!.coupons; return c !== undefined && c.used.length + c.issued.length > 0; };
        // Orders whose points still wait two times in five: their returns cancel pending points (§13.5).
        const orderId = this.on('coupons') && rng.chance(0.33) ? planner.returnableOrder(() => true, withCoupons) ?? planner.returnableOrder()
          : rng.chance(0.4) ? planner.returnableOrder(() => true, (id) => planner.stillPending(id)) ?? planner.returnableOrder() : planner.returnableOrder();
        if (orderId === null) return planner.purchase(m, at);
        const o = this.model.orders.get(orderId)!;
        return planner.returnOf(orderId, planner.atFor(this.clockMs, this.model.members.get(o.memberId)));
      }
      case 'topup': return planner.topup(m, at);
      case 'withdraw': return planner.withdraw(m, at);
      case 'transfer': {
        if (rng.chance(0.03)) return { ...planner.transfer(m, m.memberId, at), note: 'to itself' };
        const to = rng.chance(0.03) ? `ghost${planner.next()}` : planner.transferTarget(m);
        return to === null ? planner.topup(m, at) : planner.transfer(m, to, at);
      }
      case 'redeem': return planner.redeem(m, at);
      case 'adjust': return planner.adjust(m, at);
      case 'product': return planner.product(m, at);
      case 'quote': return planner.withCoupons(planner.quote(m, at), m, at);
      case 'patch': {
        if (rng.chance(0.03)) return { name: 'patch', body: { name: 'Nobody' }, role: 'admin', memberId: `ghost${planner.next()}` };
        return planner.patch(m, this.on('patch-birthday'));
      }
      default: throw new Error(`no action ${action}`);
    }
  }

  private transportFor(p: Planned): Transport {
    // The stream connections are the admin's; PATCH and the coupon ops have no stream op.
    if (p.name === 'patch' || p.role !== 'admin' || !streamable(p)) return 'http';
    const roll = this.rng.next();
    return roll < 0.5 ? 'http' : roll < 0.75 ? 'msgpack' : 'json';
  }

  /** Sends one op and returns its answer, or null when the connection failed (the server died). */
  private async send(p: Planned, transport: Transport): Promise<Answer> {
    if (transport === 'http') {
      if (p.name === 'patch') return this.server.op('PATCH', `/v1/members/${encodeURIComponent(p.memberId!)}`, p.body, p.role);
      if (p.name === 'coupon_revoke') {
        const { code, ...body } = p.body;
        return this.server.op('POST', `/v1/coupons/${encodeURIComponent(String(code))}/revoke`, body, p.role);
      }
      if (p.name === 'reward_fulfil' || p.name === 'reward_cancel') {
        const { redemptionId, ...body } = p.body;
        return this.server.op('POST', `/v1/rewards/redemptions/${encodeURIComponent(String(redemptionId))}/${p.name === 'reward_fulfil' ? 'fulfil' : 'cancel'}`, body, p.role);
      }
      if (p.name === 'reward_stock') {
        const { rewardId, ...body } = p.body;
        return this.server.op('POST', `/v1/rewards/${encodeURIComponent(String(rewardId))}/stock`, body, p.role);
      }
      return this.server.op('POST', PATHS[p.name], p.body, p.role);
    }
    const [answer] = await this.server.sendBatch([streamOp(p)], transport === 'msgpack');
    return answer!;
  }

  private modelApply(p: Planned, answer: Answer | null, nowMs: number): Outcome {
    const body = p.name === 'patch' ? { ...p.body, memberId: p.memberId } : p.body;
    const generatedId = p.name === 'register' && p.body['memberId'] === undefined && answer?.ok === true ? answer.body['memberId'] as string : undefined;
    if (generatedId !== undefined) {
      // A generated id lands on the shard of its requestId, so that a retry meets its key (README).
      const expected = shardOf(`reg:${String(p.body['requestId'])}`, this.shards);
      if (shardOf(generatedId, this.shards) !== expected) this.fail(`generated member id ${generatedId} is on shard ${shardOf(generatedId, this.shards)}, its requestId's shard is ${expected}`);
    }
    const ctx = { role: p.role, nowMs, ...(generatedId === undefined ? {} : { generatedId }), ...(answer?.ok === true ? { answer: answer.body } : {}) };
    return this.model.apply(p.name, body, ctx);
  }

  /** One op on its own: sent, answered, compared with the model, and its members checked. */
  private async single(p: Planned, transport = this.transportFor(p), first?: Sent): Promise<Outcome> {
    this.note(`${transport} ${describe(p)}`);
    const answer = await this.send(p, transport).catch((err: unknown) => this.fail(`the server did not answer ${describe(p)}: ${String(err)}\n${this.server.logs}`));
    const outcome = this.modelApply(p, answer, Date.now());
    await this.learnCodes();
    this.compare(p, outcome, answer, transport, first);
    await this.checkMembers(outcome.touched);
    return outcome;
  }

  /** The server's answer against the model's outcome; a replay also against the first answer. */
  private compare(p: Planned, outcome: Outcome, answer: Answer, transport: Transport, first?: Sent): void {
    const what = describe(p);
    this.report.ops += 1;
    this.report.opsByName[p.name] = (this.report.opsByName[p.name] ?? 0) + 1;
    if (outcome.ok) {
      if (!answer.ok) this.fail(`${what}: the model accepts it but the server refused it: ${JSON.stringify(answer.body)}\nmodel: ${JSON.stringify(outcome.answer)}`);
      if (transport === 'http') {
        const status = (p.name === 'register' || p.name === 'coupon_issue' || p.name === 'reward_redeem') && !outcome.replayed ? 201 : 200;
        if (answer.status !== status) this.fail(`${what}: HTTP ${answer.status}, expected ${status}`);
      }
      if (!outcome.replayed) this.countCampaigns(p, outcome.answer);
      const diffs = diffFields(answer.body, outcome.answer);
      if (diffs.length > 0) this.pendingFailure = { memberId: outcome.touched[0] ?? this.memberOf(p), detail: `${what}: the answer differs from the model's:\n  ${diffs.join('\n  ')}` };
      if (this.pendingFailure !== null) return;
      if (p.name !== 'patch' && p.name !== 'quote' && answer.body['replayed'] !== outcome.replayed) {
        this.fail(`${what}: replayed is ${answer.body['replayed']}, the model says ${outcome.replayed}`);
      }
      if (outcome.replayed) {
        this.report.replays += 1;
        if (first !== undefined) {
          const { replayed: _a, ok: _b, ...now } = answer.body;
          const { replayed: _c, ok: _d, ...then } = first.answer;
          const d = diffFields(now, then);
          if (d.length > 0 || Object.keys(now).length !== Object.keys(then).length) this.fail(`${what}: the replay's answer is not the first answer:\n  ${d.join('\n  ')}`);
        }
      }
      // A first answer, or the replay of an op that applied before a kill and was never answered.
      if ((!outcome.replayed || first === undefined) && p.name !== 'quote' && p.name !== 'patch' && !this.recorded.has(p)) {
        if (this.deferred !== null) this.deferred.set(p, answer.body);
        else {
          this.recorded.add(p);
          this.history.push({ p, answer: answer.body });
        }
      }
      return;
    }
    if (answer.ok) this.fail(`${what}: the model refuses it with ${outcome.codes.join(' or ')} but the server accepted it: ${JSON.stringify(answer.body)}`);
    const error = answer.body['error'] as { code?: string; field?: string } | undefined;
    const code = error?.code ?? '(none)';
    // A coupon refusal's reason is its message: counted apart, to show which reasons a run reached.
    const tally = ['coupon_not_usable', 'coupon_limit', 'coupon_not_active'].includes(code) ? `${code}:${String((error as { message?: unknown }).message)}` : code;
    this.report.refusals[tally] = (this.report.refusals[tally] ?? 0) + 1;
    if (code === 'insufficient_points' && this.pendingWouldCover(p)) this.report.pending.refusedPendingWouldCover += 1;
    if (code === 'idempotency_conflict' || code === 'member_exists') this.report.conflicts += 1;
    if (!outcome.codes.includes(code)) this.fail(`${what}: refused with ${code} (${JSON.stringify(error)}), the model says ${outcome.codes.join(' or ')}`);
    if (outcome.field !== undefined && error?.field !== outcome.field) this.fail(`${what}: refused with ${code} on field ${error?.field}, the model says ${outcome.field}`);
    if (outcome.message !== undefined && (error as { message?: string } | undefined)?.message !== outcome.message) this.fail(`${what}: refused with ${code} (${JSON.stringify(error)}), the model's reason is ${outcome.message}`);
    if (transport === 'http' && answer.status !== STATUS[code]) this.fail(`${what}: ${code} answered HTTP ${answer.status}, expected ${STATUS[code]}`);
  }

  /** The run's reach into pending points, from the model's ledgers (SimReport.pending). */
  private countPending(): void {
    const r = this.report.pending;
    for (const m of this.model.members.values()) {
      m.entries.forEach((e, i) => {
        if (e.kind === 'purchase' && e.pending > 0) r.purchases += 1;
        if (e.kind === 'referral_reward' && e.pending > 0) r.rewards += 1;
        if (e.kind === 'upgrade' && e.ref.startsWith('upgrade:')) r.activationUpgrades += 1;
        if (e.kind === 'points_cancel' && m.entries[i - 1]?.kind === 'return') r.cancelledByReturns += 1;
        if (e.kind === 'points_cancel' && m.entries[i - 1]?.kind === 'referral_reversal') r.cancelledByReversals += 1;
        if (e.kind !== 'points_activate') return;
        r.activations += 1;
        if (e.points < -e.pending) r.activationsCut += 1;
        for (const x of [m.entries[i - 1], m.entries[i + 1]]) {
          if (x !== undefined && x.at === e.at && ['renew', 'downgrade', 'expire', 'birthday'].includes(x.kind)) r.activationTies[x.kind] = (r.activationTies[x.kind] ?? 0) + 1;
        }
      });
    }
  }

  /** Whether a spend refused for want of points asked for no more than the spendable and the pending points together. */
  private pendingWouldCover(p: Planned): boolean {
    const m = this.model.members.get(String(p.body['memberId']));
    if (m === undefined) return false;
    const asked = p.name === 'redeem' ? p.body['points'] : p.name === 'purchase' ? p.body['redeemPoints'] : p.name === 'adjust' ? -(p.body['points'] as number) : 0;
    return typeof asked === 'number' && asked > m.points && asked <= m.points + this.model.pendingTotal(m);
  }

  /** How much of the campaigns a first answer shows: whether any applied, and the coupons they issued. */
  private countCampaigns(p: Planned, answer: Body): void {
    const applied = Array.isArray(answer['campaigns']) && answer['campaigns'].length > 0;
    if (p.name === 'quote' && applied) this.report.campaigns.quotes += 1;
    if (p.name !== 'purchase') return;
    if (applied) this.report.campaigns.purchases += 1;
    const issued = (answer['couponsIssued'] as Array<{ campaignId?: string }> | undefined) ?? [];
    this.report.campaigns.coupons += issued.filter((c) => c.campaignId !== undefined).length;
  }

  /** Each member as the server shows it against the model, waiting a little for outbox credits to land. */
  private async checkMembers(ids: Iterable<string>): Promise<void> {
    if (this.pendingFailure !== null) await this.failOn(this.pendingFailure.memberId, this.pendingFailure.detail);
    // First the codes the answers did not carry: the member view lists the active coupons by code.
    await this.learnCodes();
    for (const id of new Set(ids)) {
      const m = this.model.members.get(id);
      if (m === undefined) continue;
      const expected = this.on('coupons') ? { ...this.model.view(m), coupons: this.model.heldCoupons(id) } : this.model.view(m);
      const deadline = Date.now() + CONVERGE_TIMEOUT_MS;
      for (;;) {
        const reply = await this.server.request('GET', `/v1/members/${encodeURIComponent(id)}`);
        const diffs = reply.status === 200 ? diffFields(reply.body, expected) : [`GET answered ${reply.status} ${JSON.stringify(reply.body)}`];
        if (diffs.length === 0) break;
        if (Date.now() > deadline) await this.failOn(id, `member ${id} differs from the model:\n  ${diffs.join('\n  ')}`);
        await sleep(POLL_MS);
      }
    }
  }

  /**
   * Codes the model has not seen in an answer (a birthday gift's coupons, an op applied before a
   * kill took its answer) are read from the members' ledgers; one the ledger does not have where
   * the model expects it fails the run with the ledgers side by side.
   */
  private async learnCodes(): Promise<void> {
    for (const id of this.model.coupons.unresolvedMembers()) {
      // A credit through the outbox (and the birthday it catches up to) lands a little later.
      const deadline = Date.now() + CONVERGE_TIMEOUT_MS;
      for (;;) {
        const entries = (await this.ledger(id)) ?? [];
        if (this.model.learnCodes(id, entries.map((e) => ({ kind: String(e['kind']), ref: String(e['ref']) }))) === 0) break;
        if (Date.now() > deadline) {
          await this.checkLedger(id);
          this.fail(`the model issued ${id} a coupon its ledger does not show`);
        }
        await sleep(POLL_MS);
      }
    }
  }

  // ---------------------------------------------------------------- reads and sweeps

  private async sweepStep(): Promise<void> {
    const asOfMs = Math.max(this.startMs, this.clockMs - (this.rng.chance(0.3) ? this.rng.int(0, 60) * DAY_MS : 0));
    this.note(`sweep as of ${iso(asOfMs)}`);
    const due = this.model.memberOrder.filter((id) => {
      const next = this.model.nextEvent(this.model.members.get(id)!);
      return next !== null && next <= asOfMs;
    });
    const reply = await this.server.request('POST', '/v1/admin/sweep', { asOf: this.planner.spell(asOfMs) });
    if (reply.status !== 200) this.fail(`sweep: ${reply.status} ${JSON.stringify(reply.body)}`);
    const count = this.model.sweep(asOfMs);
    // The members first: a member the sweep missed shows there, with what differs.
    await this.checkMembers(due);
    if (reply.body.members !== count) this.fail(`sweep as of ${iso(asOfMs)} brought ${reply.body.members} members up to date, the model ${count} (${due.join(', ')})`);
    this.report.sweeps += 1;
  }

  private async balanceStep(): Promise<void> {
    const m = this.planner.member()!;
    const rng = this.rng;
    let atMs: number;
    const e = m.entries.length > 0 ? rng.pick(m.entries) : null;
    const roll = rng.next();
    if (e !== null && roll < 0.4) atMs = e.at;
    else if (e !== null && roll < 0.6) atMs = e.at - 1;
    else atMs = rng.int(Math.max(0, m.createdAt - DAY_MS), Math.min(Date.now(), Math.max(this.clockMs, m.createdAt)));
    // A member registered at the bound of 2000 (`ancient-times`): no instant before it is asked.
    atMs = Math.max(atMs, AT_MIN_MS);
    const expected = this.model.balanceAt(m, atMs);
    this.note(`balance of ${m.memberId} at ${iso(atMs)}`);
    const got = await this.server.get(`/v1/members/${encodeURIComponent(m.memberId)}/balance?at=${encodeURIComponent(iso(atMs)!)}`);
    const diffs = diffFields(got, { ...expected, at: iso(atMs) });
    if (diffs.length > 0) this.fail(`balance of ${m.memberId} at ${iso(atMs)}:\n  ${diffs.join('\n  ')}`);
  }

  private async orderStep(): Promise<void> {
    const orders = [...this.model.orders.values()];
    if (orders.length === 0) return;
    const o = this.rng.pick(orders);
    this.note(`order ${o.orderId}`);
    const got = await this.server.get(`/v1/orders/${encodeURIComponent(o.orderId)}`);
    const returned = o.returns.reduce((s, r) => s + r.amountCents, 0);
    const diffs = diffFields(got, {
      orderId: o.orderId, memberId: o.memberId, at: iso(o.at), amountCents: o.amountCents, netCents: o.netCents,
      earnedPoints: o.earnedPoints, redeemPoints: o.redeemPoints, walletCents: o.walletCents, tierIdBefore: o.tierIdBefore,
      upgradedTo: o.upgradedTo, remainingCents: o.netCents - returned,
      returns: o.returns.map((r) => ({ returnId: r.returnId, amountCents: r.amountCents, at: iso(r.at) })),
      // What the order did with coupons, as the purchase answered it (absent when it had nothing to do with them).
      coupons: o.coupons,
    });
    if (diffs.length > 0) this.fail(`order ${o.orderId}:\n  ${diffs.join('\n  ')}`);
  }

  // ---------------------------------------------------------------- keys: replays and conflicts

  /** Earlier acked ops sent again unchanged, alone or several in a shuffled batch: each must replay its first answer. */
  private async replayStep(): Promise<void> {
    if (this.history.length === 0) return;
    const reversed = this.history.filter((s) => this.shareReversed(s.p));
    const picks = Array.from({ length: this.rng.int(1, 4) }, () => this.rng.pick(this.history))
      .filter((s) => (this.on('replay-after-return') || !this.shareReversed(s.p)) && this.replayable(s.p));
    // With its edge on, a purchase whose share rewards a return reversed is replayed half the time.
    if (this.on('replay-after-return') && reversed.length > 0 && this.rng.chance(0.5)) picks.push(this.rng.pick(reversed));
    if (picks.length === 0) return;
    const unique = [...new Map(picks.map((s) => [s, s])).values()];
    if (unique.length > 1 && this.rng.chance(0.5) && this.on('batches') && unique.every((x) => streamable(x.p))) {
      const ordered = this.rng.shuffle(unique);
      this.note(`replay batch of ${ordered.length}: ${ordered.map((s) => describe(s.p)).join(' | ')}`);
      const binary = this.rng.chance(0.5);
      const answers = await this.server.sendBatch(ordered.map((s) => streamOp(s.p)), binary).catch((err: unknown) => this.fail(`replay batch: ${String(err)}`));
      const touched: string[] = [];
      ordered.forEach((s, i) => {
        const outcome = this.modelApply(s.p, answers[i]!, Date.now());
        if (!outcome.ok || !outcome.replayed) this.fail(`replay of ${describe(s.p)}: the model does not replay it (${JSON.stringify(outcome)})`);
        this.compare(s.p, outcome, answers[i]!, binary ? 'msgpack' : 'json', s);
        touched.push(...outcome.touched);
      });
      await this.checkMembers(touched);
      return;
    }
    for (const s of unique) {
      const outcome = await this.single(s.p, this.transportFor(s.p), s);
      if (!outcome.ok || !outcome.replayed) this.fail(`replay of ${describe(s.p)}: the model does not replay it`);
    }
  }

  /** An issue by hand of a template the program no longer has is refused before its key is looked at (docs/api.md). */
  private replayable(p: Planned): boolean {
    // A restock's answer adds the stock left when it is answered: its replay may tell another.
    if (p.name === 'reward_stock') return false;
    return p.name !== 'coupon_issue' || this.model.couponTemplate(p.body['templateId'] as string) !== undefined;
  }

  /**
   * Whether a purchase's order had part of its referral share rewards reversed by a return: its
   * replay then answers the reduced rewards instead of the first answer (the `replay-after-return` edge).
   */
  private shareReversed(p: Planned): boolean {
    if (p.name !== 'purchase') return false;
    const o = this.model.orders.get(p.body['orderId'] as string);
    return o !== undefined && o.returns.length > 0 && o.rewards.some((r) => r.sharePct > 0);
  }

  /** An earlier acked op's key with a different body: 409, and nothing changes. */
  private async conflictStep(): Promise<void> {
    // A revocation names its coupon in the path: another code is another coupon, not another body.
    // A redemption's fulfilment or cancellation has no body to change but its time; the rewards step sends their conflicts.
    const candidates = this.history.filter((s) => (s.p.name !== 'register' || s.p.body['memberId'] !== undefined) && !['coupon_revoke', 'reward_redeem', 'reward_fulfil', 'reward_cancel', 'reward_stock', 'card_use', 'card_adjust'].includes(s.p.name));
    if (candidates.length === 0) return;
    const s = this.rng.pick(candidates);
    const body = { ...s.p.body };
    // Another amount within the op's bounds.
    const other = (n: number) => (n >= OP_AMOUNT_MAX || n === -1 ? n - 1 : n + 1);
    if (typeof body['amountCents'] === 'number') body['amountCents'] = other(body['amountCents'] as number);
    else if (typeof body['points'] === 'number') body['points'] = other(body['points'] as number);
    else if (s.p.name === 'product_purchase') {
      // The other channel than the one it was bought on, which its key implies when it named none.
      const bought = body['channel'] ?? (s.p.role === 'pos' ? 'offline' : s.p.role === 'storefront' ? 'online' : undefined);
      body['channel'] = bought === 'online' ? 'offline' : 'online';
    }
    else if (s.p.name === 'coupon_issue') {
      // Another template of the program: one it lacks is refused before the key is looked at.
      const others = this.model.program.coupons.filter((t) => t.id !== body['templateId']);
      if (others.length === 0) return;
      body['templateId'] = this.rng.pick(others).id;
    }
    else body['name'] = `Other ${this.planner.next()}`;
    const p: Planned = { ...s.p, body, note: 'same key, another body' };
    const outcome = await this.single(p);
    if (outcome.ok) this.fail(`${describe(p)}: the model accepts a changed body under a used key`);
  }

  // ---------------------------------------------------------------- batches

  /** A stream batch of independent ops (README, POS stream: ops of one member apply in batch order). */
  private async batchStep(): Promise<void> {
    const ops = this.drawIndependent(this.rng.int(2, 8), { sameAt: !this.on('batch-events') ? 'perMember' : 'spread' });
    if (ops.length === 0) return;
    await this.sendBatchStep(ops);
  }

  private async sendBatchStep(planned: Planned[]): Promise<void> {
    // The stream connections are the admin's: that is the role every op of a batch runs under.
    const ops = planned.map((p) => (p.role === 'admin' ? p : { ...p, role: 'admin' as const }));
    const binary = this.rng.chance(0.5);
    this.note(`${binary ? 'msgpack' : 'json'} batch: ${ops.map(describe).join(' | ')}`);
    const answers = await this.server.sendBatch(ops.map(streamOp), binary).catch((err: unknown) => this.fail(`batch: ${String(err)}\n${this.server.logs}`));
    const touched: string[] = [];
    const now = Date.now();
    const outcomes = ops.map((p, i) => this.modelApply(p, answers[i]!, now));
    // The answers name coupons whose codes only the ledger tells (a quote lists a birthday's).
    await this.learnCodes();
    ops.forEach((p, i) => {
      this.compare(p, outcomes[i]!, answers[i]!, binary ? 'msgpack' : 'json');
      touched.push(...outcomes[i]!.touched);
    });
    await this.checkMembers(touched);
  }

  /**
   * Ops that can share a batch or a kill step without their order across members mattering: a
   * member an outbox message credits is touched by nothing else; phones and emails are not shared;
   * nothing looks up a member or order made in the same batch. `perMember` puts all of a member's
   * ops at one instant (events a batch creates then fall after it), `spread` puts its first op well
   * before the others, a number puts every op at that instant; `killStep` also keeps each member to
   * one op and registrations to memberId keys.
   */
  private drawIndependent(count: number, opts: { sameAt: 'perMember' | 'spread' | number; killStep?: boolean }): Planned[] {
    const { planner, rng } = this;
    const out: Planned[] = [];
    const direct = new Set<string>();
    const credited = new Set<string>();
    const chains = new Map<string, string[]>();
    const unique = new Set<string>();
    const units = new Map<string, number>();
    const atOf = new Map<string, number>();
    const atFor = (memberId: string, m?: Member): number => {
      if (typeof opts.sameAt === 'number') return opts.sameAt;
      if (opts.sameAt === 'spread') {
        // `batch-events`: a member's first op well back, its later ones at the clock, so that what
        // the first creates (a grant's expiry, a period's end) falls due between them.
        if (atOf.has(memberId)) return this.clockMs;
        const at = Math.max(this.startMs, this.clockMs - rng.int(30, 400) * DAY_MS);
        atOf.set(memberId, at);
        return at;
      }
      const known = atOf.get(memberId);
      if (known !== undefined) return known;
      const at = planner.atFor(this.clockMs, m);
      atOf.set(memberId, at);
      return at;
    };
    for (let attempt = 0; out.length < count && attempt < count * 6; attempt++) {
      const kind = rng.weighted({
        register: 3, purchase: 6, return: 2, topup: 2, withdraw: 1, transfer: 2, redeem: 1, adjust: 1, product: 1, quote: opts.killStep === true ? 0 : 1,
        // Issues by hand go over HTTP: in a kill step, on its HTTP channels.
        coupon: this.on('coupons') && opts.killStep === true ? 1 : 0,
      });
      const fresh = [...chains.keys()];
      let p: Planned | null = null;
      if (kind === 'register') {
        p = planner.register(0, { byIdOnly: opts.killStep === true });
        const id = p.body['memberId'] as string | undefined ?? `(request ${String(p.body['requestId'])})`;
        p.body['at'] = planner.spell(atFor(id));
        if (p.body['tierId'] === 'no-such-tier') delete p.body['tierId'];
      } else if (kind === 'return') {
        const orderId = planner.returnableOrder();
        if (orderId === null) continue;
        const o = this.model.orders.get(orderId)!;
        p = planner.returnOf(orderId, atFor(o.memberId, this.model.members.get(o.memberId)));
      } else {
        // Sometimes an op on a member registered earlier in this batch (no lookup needed for these).
        const useFresh = fresh.length > 0 && rng.chance(0.3) && kind !== 'transfer';
        const m = useFresh ? stubMember(rng.pick(fresh)) : planner.member();
        if (m === null) continue;
        const at = atFor(m.memberId, useFresh ? undefined : m);
        switch (kind) {
          case 'purchase': p = useFresh ? planner.purchase(m, at) : planner.withCoupons(planner.purchase(m, at), m, at); break;
          case 'coupon': p = planner.couponIssue(m, at); break;
          case 'topup': p = planner.topup(m, at); break;
          case 'withdraw': p = planner.withdraw(m, at); break;
          case 'redeem': p = planner.redeem(m, at); break;
          case 'adjust': p = planner.adjust(m, at); break;
          case 'product': p = planner.product(m, at); break;
          case 'quote': p = planner.quote(m, at); break;
          case 'transfer': {
            const to = planner.transferTarget(m, new Set([...direct, ...credited]));
            if (to === null) continue;
            p = planner.transfer(m, to, at);
            break;
          }
        }
      }
      if (p === null) continue;
      if (p.body['at'] !== undefined && typeof opts.sameAt === 'number') p.body['at'] = planner.spell(opts.sameAt);
      const reach = planner.reach(p, chains);
      if (reach.direct.some((id) => credited.has(id))) continue;
      // In a kill step each member has one op, so where the kill falls cannot change what it meets.
      if (opts.killStep === true && reach.direct.some((id) => direct.has(id))) continue;
      if (reach.credited.some((id) => direct.has(id) || credited.has(id) || reach.direct.includes(id))) continue;
      const taken = [p.body['phone'], p.body['email']].filter((v): v is string => typeof v === 'string');
      if (taken.some((v) => unique.has(v))) continue;
      // Never more ops that may take a capped template's unit than units are left (Planner.capTakers).
      const takers = planner.capTakers(p);
      const repeat = opts.killStep !== true && p.name !== 'quote' && rng.chance(0.08);
      if (!this.unitsLeft(units, takers, repeat ? 2 : 1)) continue;
      for (const t of takers) units.set(t, (units.get(t) ?? 0) + (repeat ? 2 : 1));
      taken.forEach((v) => unique.add(v));
      reach.direct.forEach((id) => direct.add(id));
      reach.credited.forEach((id) => credited.add(id));
      // A transfer the target's wallet cannot take comes back to its sender through the outbox,
      // after the batch: no later op of the batch may touch the sender.
      const target = p.name === 'transfer' ? this.model.members.get(p.body['toMemberId'] as string) : undefined;
      if (target !== undefined && !Number.isSafeInteger(target.walletCents + (p.body['amountCents'] as number))) credited.add(p.body['fromMemberId'] as string);
      if (p.name === 'register' && p.body['memberId'] !== undefined) {
        const ref = p.body['referrerId'] as string | undefined;
        const referrer = ref === undefined ? undefined : this.model.members.get(ref);
        chains.set(p.body['memberId'] as string, referrer === undefined ? [] : [ref!, ...referrer.referralChain].slice(0, this.model.program.referral.levels.length));
      }
      out.push(p);
      // An op repeated at once in the same batch replays its first answer.
      if (repeat) out.push(p);
    }
    return out;
  }

  /** Whether `times` more of each template in `takers` stay within the units the template has left. */
  private unitsLeft(units: ReadonlyMap<string, number>, takers: readonly string[], times: number): boolean {
    return takers.every((t) => {
      const template = this.model.couponTemplate(t)!;
      const left = template.totalMax! - this.model.coupons.issuedTotal(t);
      return left <= 0 || (units.get(t) ?? 0) + takers.filter((x) => x === t).length * times <= left;
    });
  }

  // ---------------------------------------------------------------- kills

  /**
   * A kill step: several channels (stream batches in both encodings, HTTP requests one after
   * another) carry keyed ops of distinct, independent members, all at one instant; the server is
   * SIGKILLed a seeded few milliseconds in and restarted. Acked ops must be on the ledger; each
   * unacked op is found there or not, and the model applies the ones that are; then every unacked
   * op is resent in a new order and must replay (if it applied) or apply now. Each member having
   * one op, the books after the step are the same wherever the kill fell, so later steps are too.
   */
  private async killStep(): Promise<void> {
    const { rng, planner } = this;
    if (this.model.members.size < 3) return this.oneStep();
    const atMs = planner.atFor(this.clockMs);
    const ops = this.drawIndependent(rng.int(5, 16), { sameAt: atMs, killStep: true });
    const channelCount = rng.int(1, 4);
    const kinds: Transport[] = Array.from({ length: channelCount }, () => rng.pick(['http', 'msgpack', 'json'] as const));
    const channels: Planned[][] = kinds.map(() => []);
    const httpChannels = kinds.flatMap((k, i) => (k === 'http' ? [i] : []));
    for (const p of ops) {
      // An op the stream does not carry goes on an HTTP channel, or is left out when there is none.
      const c = streamable(p) ? rng.int(0, channelCount - 1) : httpChannels.length === 0 ? -1 : rng.pick(httpChannels);
      if (c === -1) continue;
      channels[c]!.push(kinds[c] === 'http' ? p : { ...p, role: 'admin' });
    }
    const all = channels.flat();
    // Every draw the resend needs is made now, whatever the kill leaves unacked.
    const resendOrder = rng.shuffle(all);
    const resendAsBatch = rng.chance(0.5);
    const resendBinary = rng.chance(0.5);
    const resendTransports = new Map(all.map((p) => [p, this.transportFor(p)]));
    const delayMs = rng.int(0, 25);
    this.note(`kill step at ${iso(atMs)} after ${delayMs} ms: ${channels.map((ch, i) => `${kinds[i]}[${ch.map(describe).join(' | ')}]`).join(' ')}`);
    const results = new Map<Planned, Answer>();
    const running = channels.map(async (ch, i) => {
      if (ch.length === 0) return;
      if (kinds[i] === 'http') {
        for (const p of ch) {
          const answer = await this.send(p, 'http').catch(() => null);
          if (answer === null) return;
          results.set(p, answer);
        }
        return;
      }
      const answers = await this.server.sendBatch(ch.map(streamOp), kinds[i] === 'msgpack').catch(() => null);
      if (answers !== null) ch.forEach((p, k) => results.set(p, answers[k]!));
    });
    await sleep(delayMs);
    await this.server.kill();
    await Promise.all(running);
    this.report.kills += 1;
    const unacked = all.filter((p) => !results.has(p));
    this.report.unackedAtKills += unacked.length;
    await this.server.start();
    this.note(`restarted: ${all.length - unacked.length} acked, ${unacked.length} unacked`);

    this.deferred = new Map();
    const mark = this.model.mark();
    const touched: string[] = [];
    const nowMs = Date.now();
    for (const p of all) {
      const transport = kinds[channels.findIndex((ch) => ch.includes(p))]!;
      const answer = results.get(p);
      if (answer !== undefined) {
        const outcome = this.modelApply(p, answer, nowMs);
        this.compare(p, outcome, answer, transport);
        touched.push(...outcome.touched);
      } else if (await this.onLedger(p)) {
        // It applied before the kill: the model applies it now, and its resend must replay.
        const outcome = this.modelApply(p, null, nowMs);
        if (!outcome.ok) this.fail(`${describe(p)}: the model refuses it (${outcome.codes}), yet it is on the ledger after the kill`);
        touched.push(...outcome.touched);
      }
    }
    const resend = resendOrder.filter((p) => !results.has(p));
    // The model learns the codes of coupons issued by ops that applied unanswered before their resends replay them.
    await this.learnCodes();
    // Ops the stream does not carry (coupon issues) are resent over HTTP, so one by one.
    const asBatch = resendAsBatch && resend.every(streamable);
    if (resend.length > 0) {
      this.note(`resend ${asBatch ? 'as one batch' : 'one by one'}: ${resend.map(describe).join(' | ')}`);
      if (asBatch) {
        const answers = await this.server.sendBatch(resend.map(streamOp), resendBinary).catch((err: unknown) => this.fail(`resend batch: ${String(err)}`));
        resend.forEach((p, k) => {
          const asSent = asStreamSent(p);
          const outcome = this.modelApply(asSent, answers[k]!, Date.now());
          this.compare(asSent, outcome, answers[k]!, resendBinary ? 'msgpack' : 'json');
          const first = this.deferred!.get(asSent);
          if (asSent !== p && first !== undefined) { this.deferred!.delete(asSent); this.deferred!.set(p, first); }
          touched.push(...outcome.touched);
        });
      } else {
        for (const p of resend) {
          const transport = resendTransports.get(p)!;
          const answer = await this.send(p, transport).catch((err: unknown) => this.fail(`resend ${describe(p)}: ${String(err)}`));
          const outcome = this.modelApply(p, answer, Date.now());
          this.compare(p, outcome, answer, transport);
          touched.push(...outcome.touched);
        }
      }
    }
    // What the step added to the books goes in its ops' order, wherever the kill fell.
    const rank = new Map<string, number>();
    all.forEach((p, i) => {
      const reach = this.planner.reach(p, new Map());
      for (const id of [...reach.direct, ...reach.credited]) if (!rank.has(id)) rank.set(id, i);
    });
    this.model.reorderSince(mark, (id) => rank.get(id) ?? -1);
    const deferred = this.deferred;
    this.deferred = null;
    for (const p of all) {
      const answer = deferred.get(p);
      if (answer === undefined || this.recorded.has(p)) continue;
      this.recorded.add(p);
      this.history.push({ p, answer });
    }
    await this.checkMembers(touched);
    // Everything acknowledged is on the ledger exactly once.
    for (const id of new Set(touched)) await this.checkLedger(id);
  }

  /** Whether an op's own entry (its kind and ref) is in its member's ledger. */
  private async onLedger(p: Planned): Promise<boolean> {
    if (p.name === 'coupon_issue') {
      // Its entry's ref is the code the server drew: the issue applied when the ledger holds one
      // more coupon_issue than the model (in a kill step nothing else writes to its member).
      const memberId = p.body['memberId'] as string;
      const m = this.model.members.get(memberId);
      const entries = await this.ledger(memberId);
      if (m === undefined || entries === null) return false;
      return entries.filter((e) => e['kind'] === 'coupon_issue').length > m.entries.filter((e) => e.kind === 'coupon_issue').length;
    }
    let target = entryOf(p.name, p.body);
    if (p.name === 'return') {
      const o = this.model.orders.get(p.body['orderId'] as string);
      target = o === undefined ? null : { memberId: o.memberId, kind: 'return', ref: p.body['returnId'] as string };
    }
    if (target === null) return false;
    const entries = await this.ledger(target.memberId);
    return entries !== null && entries.some((e) => e.kind === target!.kind && e.ref === target!.ref);
  }

  /** A member's whole ledger, oldest first, or null when the member does not exist. */
  private async ledger(memberId: string): Promise<Array<Record<string, any>> | null> {
    const out: Array<Record<string, any>> = [];
    let cursor = '';
    for (;;) {
      const reply = await this.server.request('GET', `/v1/members/${encodeURIComponent(memberId)}/ledger?limit=${LEDGER_PAGE}${cursor === '' ? '' : `&cursor=${cursor}`}`);
      if (reply.status === 404) return null;
      if (reply.status !== 200) this.fail(`ledger of ${memberId}: ${reply.status} ${JSON.stringify(reply.body)}`);
      out.push(...(reply.body.entries as Array<Record<string, any>>));
      if (reply.body.nextCursor === null) break;
      cursor = reply.body.nextCursor as string;
    }
    return out.reverse();
  }

  /** The member's ledger, entry for entry, against the model's: every write there exactly once, in order. */
  private async checkLedger(memberId: string): Promise<void> {
    const m = this.model.members.get(memberId);
    if (m === undefined) return;
    const got = await this.ledger(memberId);
    if (got === null) this.fail(`member ${memberId} has no ledger`);
    const want = m.entries.map((e) => ({ kind: e.kind, ref: e.ref, at: iso(e.at), pointsDelta: e.points, growthDelta: e.growth, walletDeltaCents: e.wallet, spendDeltaCents: e.spend, pendingDelta: e.pending, tierId: e.tierId, ...(e.uses === undefined ? {} : { usesDelta: e.uses }) }));
    for (let i = 0; i < Math.max(got.length, want.length); i++) {
      const g = got[i];
      const w = want[i];
      // A profile change is dated by the server's clock when it runs, which the model only estimates.
      if (g !== undefined && w !== undefined && g['kind'] === 'member_update' && w.kind === 'member_update') w.at = g['at'] as string;
      const d = g === undefined || w === undefined ? ['missing'] : diffFields(g, w);
      if (d.length > 0) {
        const around = (list: unknown[]) => list.slice(Math.max(0, i - 2), i + 3).map((x) => JSON.stringify(x)).join('\n    ');
        this.fail(`ledger of ${memberId} differs at entry ${i} of ${got.length} (model ${want.length}): ${d.join('; ')}\n  server:\n    ${around(got)}\n  model:\n    ${around(want)}`);
      }
    }
  }

  /**
   * Erases a tenth of the members, each answer against the model, then compacts every shard: what
   * follows (the final checkpoint, the replay of the logs after the stop) runs over redacted logs.
   */
  private async eraseSome(): Promise<void> {
    const ids = this.rng.shuffle(this.model.memberOrder).slice(0, Math.max(1, Math.floor(this.model.memberOrder.length / 10)));
    for (const id of ids) {
      const requestId = `erase-${id}`;
      this.note(`http erase ${id}`);
      const answer = await this.server.op('POST', `/v1/members/${encodeURIComponent(id)}/erase`, { requestId }, 'admin');
      if (!answer.ok) this.fail(`erase ${id}: refused ${JSON.stringify(answer.body)}`);
      const outcome = this.model.erase(id, requestId, Date.parse(String(answer.body['erasedAt'])));
      if (!outcome.ok) this.fail(`erase ${id}: the model refuses it`);
      const diffs = diffFields(answer.body, { ...outcome.answer, replayed: false });
      if (diffs.length > 0) this.fail(`erase ${id}: the answer differs from the model's:\n  ${diffs.join('\n  ')}`);
      await this.checkMembers([id]);
    }
    this.report.opsByName['erase'] = ids.length;
    const compacted = await this.server.request('POST', '/v1/admin/compact');
    if (compacted.status !== 200 || (compacted.body.shards as unknown[]).length !== this.shards) this.fail(`compact: ${JSON.stringify(compacted.body)}`);
  }

  // ---------------------------------------------------------------- checkpoints

  /** Verify, the summary against the members, every member against the model, and ledgers (all of them at the end). */
  private async checkpoint(final: boolean): Promise<void> {
    this.note(`checkpoint${final ? ' (final)' : ''}`);
    this.report.checkpoints += 1;
    const verify = await this.server.get('/v1/admin/verify');
    if (verify.ok !== true || verify.mismatches.length > 0) this.fail(`verify: ${JSON.stringify(verify).slice(0, 2_000)}`);
    if (verify.members !== this.model.members.size) this.fail(`verify counts ${verify.members} members, the model ${this.model.members.size}`);
    if (verify.entries !== this.model.entriesCount()) this.fail(`verify counts ${verify.entries} ledger entries, the model ${this.model.entriesCount()}`);
    await this.checkMembers(this.model.memberOrder);
    const summary = await this.server.get('/v1/reports/summary');
    const want = this.model.summary();
    const diffs: string[] = [];
    for (const [k, v] of Object.entries(want)) {
      const g = summary[k];
      // A tier everyone left may stay in the server's map with 0 members.
      const got = k === 'membersPerTier' ? this.tierCounts(g as Record<string, number>) : g;
      const wanted = k === 'membersPerTier' ? this.tierCounts(v as Record<string, number>) : v;
      const same = typeof v === 'bigint' ? exactTotal(g) === v : isDeepStrictEqual(got, wanted);
      if (!same) diffs.push(`${k}: server ${JSON.stringify(g)}, model ${typeof v === 'bigint' ? v.toString() : JSON.stringify(v)}`);
    }
    if (diffs.length > 0) this.fail(`summary:\n  ${diffs.join('\n  ')}`);
    // Invariants on the server's own figures: the summary is the sum of the members it lists.
    let listed = 0;
    let wallets = 0n;
    let points = 0n;
    const negative: string[] = [];
    for (let cursor = ''; ;) {
      const page = await this.server.get(`/v1/members?limit=1000${cursor === '' ? '' : `&cursor=${encodeURIComponent(cursor)}`}`);
      for (const m of page.members as Array<Record<string, number>>) {
        listed += 1;
        wallets += BigInt(m['walletCents']!);
        points += BigInt(m['points']!);
        if (m['points']! < 0) negative.push(String(m['memberId']));
      }
      if (page.nextCursor === null) break;
      cursor = page.nextCursor as string;
    }
    if (listed !== this.model.members.size || wallets !== BigInt(summary.walletOutstandingCents) || points !== BigInt(summary.pointsOutstanding)) {
      this.fail(`the members listed (${listed}, wallets ${wallets}, points ${points}) do not sum to the summary (${summary.members}, ${summary.walletOutstandingCents}, ${summary.pointsOutstanding})`);
    }
    if (!this.negativeEverAllowed && negative.length > 0) this.fail(`members below zero points though no program ever allowed it: ${negative.join(', ')}`);
    const ledgers = final ? this.model.memberOrder : this.rng.shuffle(this.model.memberOrder).slice(0, 5);
    for (const id of ledgers) await this.checkLedger(id);
    if (final) await this.checkConservation(summary);
    if (this.on('coupons')) await this.checkCoupons(final ? this.model.memberOrder : this.rng.shuffle(this.model.memberOrder).slice(0, 5), true);
    await this.checkReferrals(final ? this.model.memberOrder : this.rng.shuffle(this.model.memberOrder).slice(0, 3));
    await this.checkCampaignReport();
    await this.checkDailyPending();
  }

  /**
   * The daily report's pending columns (§10.2) against the model, day by day and in total, over
   * the same two windows as the campaign report: the points that started waiting each local day
   * and the pending points cancelled. (The report's other columns are not modelled.)
   */
  private async checkDailyPending(): Promise<void> {
    const zone = this.model.program.timezone;
    for (const [fromMs, toMs] of [[this.clockMs - CAMPAIGN_REPORT_DAYS_MAX * DAY_MS, this.clockMs], [this.clockMs - 60 * DAY_MS, this.clockMs - 30 * DAY_MS]] as const) {
      const from = localDay(fromMs, zone);
      const to = localDay(toMs, zone);
      const got = await this.server.get(`/v1/reports/daily?from=${from}&to=${to}`);
      const want = this.model.dailyPending(from, to);
      const diffs: string[] = [];
      const total = { pointsPending: 0, pointsPendingCancelled: 0 };
      for (const w of want.values()) { total.pointsPending += w.pointsPending; total.pointsPendingCancelled += w.pointsPendingCancelled; }
      for (const row of got.days as Array<Record<string, unknown>>) {
        const w = want.get(row['date'] as string) ?? { pointsPending: 0, pointsPendingCancelled: 0 };
        diffs.push(...diffFields(row, w).map((d) => `${String(row['date'])} ${d}`));
      }
      diffs.push(...diffFields(got.totals, total).map((d) => `totals ${d}`));
      const dates = new Set((got.days as Array<{ date: string }>).map((r) => r.date));
      for (const day of want.keys()) if (!dates.has(day)) diffs.push(`${day}: no row, the model has one`);
      if (diffs.length > 0) this.fail(`daily report ${from}..${to}, pending points:\n  ${diffs.slice(0, 20).join('\n  ')}`);
    }
  }

  /**
   * The campaign report against the model over two windows of local days, drawn from the clock
   * alone (no draw of the seed): the longest a report takes, up to today, and a month some weeks
   * back, whose edges cut through the orders.
   */
  private async checkCampaignReport(): Promise<void> {
    const zone = this.model.program.timezone;
    for (const [fromMs, toMs] of [[this.clockMs - CAMPAIGN_REPORT_DAYS_MAX * DAY_MS, this.clockMs], [this.clockMs - 60 * DAY_MS, this.clockMs - 30 * DAY_MS]] as const) {
      const from = localDay(fromMs, zone);
      const to = localDay(toMs, zone);
      const got = await this.server.get(`/v1/reports/campaigns?from=${from}&to=${to}`);
      const want = this.model.campaignReport(from, to);
      const diffs: string[] = [];
      const figures = (label: string, g: Record<string, unknown> | undefined, w: Record<string, unknown>): void => {
        for (const [k, v] of Object.entries(w)) {
          const same = typeof v === 'bigint' ? exactTotal(g?.[k]) === v : g?.[k] === v;
          if (!same) diffs.push(`${label} ${k}: server ${JSON.stringify(g?.[k])}, model ${String(v)}`);
        }
      };
      const rows = got.campaigns as Array<Record<string, unknown>>;
      if (rows.length !== want.campaigns.length) diffs.push(`rows: server ${rows.map((r) => r['campaignId']).join(',')}, model ${want.campaigns.map((r) => r.campaignId).join(',')}`);
      want.campaigns.forEach((w, i) => figures(`campaigns[${i}]`, rows[i], { ...w }));
      figures('totals', got.totals as Record<string, unknown>, { ...want.totals });
      if (diffs.length > 0) this.fail(`campaign report ${from}..${to}:\n  ${diffs.join('\n  ')}`);
    }
  }

  /** Members per tier without empty tiers. */
  private tierCounts(counts: Record<string, number>): Record<string, number> {
    return Object.fromEntries(Object.entries(counts).filter(([, n]) => n !== 0).sort());
  }

  /**
   * Money conservation on the server's own ledgers, whatever the model says: what transfers took
   * out arrived (or came back) exactly once, and the top-ups on the ledgers are the summary's top-ups.
   */
  private async checkConservation(summary: Record<string, number>): Promise<void> {
    let out = 0n;
    let arrived = 0n;
    let topups = 0n;
    for (const id of this.model.memberOrder) {
      for (const e of (await this.ledger(id)) ?? []) {
        if (e['kind'] === 'transfer_out') out -= BigInt(e['walletDeltaCents']);
        // Money a full wallet could not take comes back to its sender, once.
        if (e['kind'] === 'transfer_in' || e['kind'] === 'transfer_return') arrived += BigInt(e['walletDeltaCents']);
        if (e['kind'] === 'topup') topups += BigInt(e['walletDeltaCents']);
      }
    }
    if (out !== arrived) this.fail(`transfers took ${out} cents out of wallets and put ${arrived} in (or back)`);
    if (topups !== BigInt(summary['topupsCents']!)) this.fail(`the ledgers hold ${topups} cents of top-ups, the summary ${summary['topupsCents']}`);
  }

  private async checkReferrals(ids: string[]): Promise<void> {
    for (const id of ids) {
      const got = await this.server.get(`/v1/reports/referrals/${encodeURIComponent(id)}`);
      const levels = [1, 2, 3].map((level) => ({
        level,
        members: this.model.memberOrder.filter((x) => this.model.members.get(x)!.referralChain[level - 1] === id).sort(),
        points: this.model.referralPoints.get(`${id}|${level}`) ?? 0,
      }));
      const d = diffFields(got, { memberId: id, levels });
      if (d.length > 0) this.fail(`referral report of ${id}:\n  ${d.join('\n  ')}`);
    }
  }

  // ---------------------------------------------------------------- coupons

  /**
   * `coupons`: an issue or a revocation by hand, a purchase or a quote naming coupons, a stream
   * batch naming one coupon twice, or a look at coupons as the server shows them.
   */
  /**
   * `rewards`: a redemption (often of a reward the member can afford), a fulfilment or cancellation
   * of one made, a conflict on a redemption's key, a restock, a product purchase of a product with a
   * count card followed by a use, a card use or adjustment; then the rewards list, the reward report
   * and the member's cards and redemptions against the model. Reward ops go one at a time: units of
   * one stock taken by ops in one batch on several shards are given in the order the shards' batches
   * form, not in op order.
   */
  private async rewardStep(): Promise<void> {
    const { planner, rng } = this;
    const rewards = new RewardPlanner(rng, this.model.rewards, () => this.model.program, () => planner.next());
    const kind = rng.weighted({ redeem: 8, step: 4, conflict: 1, restock: 2, card: 3, use: 4 });
    // Redemptions go to members who can pay for a reward, uses to members holding a card, when there are any.
    const cheapest = Math.min(...(this.model.program.rewards ?? []).map((r) => r.pointsCost));
    const holders = new Set([...this.model.rewards.cards.values()].map((c) => c.memberId));
    const m = (kind === 'redeem' ? planner.member((x) => x.points >= cheapest) : kind === 'use' ? planner.member((x) => holders.has(x.memberId)) : null) ?? planner.member()!;
    const at = planner.atFor(this.clockMs, m);
    switch (kind) {
      case 'redeem': await this.single(rewards.redeem(m, planner.spell(at))); break;
      case 'step': {
        const p = rewards.step((id) => planner.spell(planner.atFor(this.clockMs, this.model.members.get(id))));
        if (p !== null) await this.single(p);
        break;
      }
      case 'conflict': {
        const made = this.history.filter((s) => s.p.name === 'reward_redeem');
        if (made.length === 0) return;
        const s = rng.pick(made);
        const p: Planned = { ...s.p, body: { ...s.p.body, quantity: ((s.p.body['quantity'] as number | undefined) ?? 1) % 3 + 1 }, note: 'same key, another body' };
        const outcome = await this.single(p);
        if (outcome.ok) this.fail(`${describe(p)}: the model accepts a changed body under a used key`);
        break;
      }
      case 'restock': {
        const p = rewards.restock(planner.spell(this.clockMs));
        if (p !== null) await this.single(p);
        break;
      }
      case 'card': {
        const product = rewards.cardProduct();
        if (product === null) return;
        const p = planner.product(m, at);
        p.body['productId'] = product.id;
        const bought = await this.single(p);
        if (bought.ok && !bought.replayed && rng.chance(0.6)) await this.single(rewards.cardOp(m, planner.spell(Math.min(this.clockMs, at + rng.int(0, 5 * DAY_MS)))));
        break;
      }
      case 'use': await this.single(rewards.cardOp(m, planner.spell(at))); break;
    }
    await this.checkRewards(m.memberId);
  }

  /** The rewards list, the reward report and a member's cards and redemptions against the model. */
  private async checkRewards(memberId: string): Promise<void> {
    const listed = await this.server.request('GET', '/v1/rewards');
    const want = this.model.rewards.listing();
    if (listed.status !== 200 || !isDeepStrictEqual(listed.body.rewards, want)) this.fail(`GET /v1/rewards: ${JSON.stringify(listed.body)}, the model ${JSON.stringify(want)}`);
    // A window over the whole run (every op is dated within 400 days of the timeline; a report spans at most 3,660 days).
    const report = await this.server.request('GET', `/v1/reports/rewards?from=${iso(this.clockMs - 3_000 * DAY_MS)!.slice(0, 10)}&to=${iso(this.clockMs + 2 * DAY_MS)!.slice(0, 10)}`);
    const expected = this.model.rewards.report();
    if (report.status !== 200 || !isDeepStrictEqual(report.body.rewards, expected.rewards) || !isDeepStrictEqual(report.body.totals, expected.totals)) {
      this.fail(`the reward report: ${JSON.stringify(report.body)}, the model ${JSON.stringify(expected)}`);
    }
    if (!this.model.members.has(memberId)) return;
    const cards = await this.server.request('GET', `/v1/members/${encodeURIComponent(memberId)}/cards`);
    if (!isDeepStrictEqual(cards.body.cards, this.model.rewards.memberCards(memberId))) await this.failOn(memberId, `cards of ${memberId}: ${JSON.stringify(cards.body)}, the model ${JSON.stringify(this.model.rewards.memberCards(memberId))}`);
    const redemptions = await this.server.request('GET', `/v1/members/${encodeURIComponent(memberId)}/redemptions`);
    if (!isDeepStrictEqual(redemptions.body.redemptions, this.model.rewards.memberRedemptions(memberId))) await this.failOn(memberId, `redemptions of ${memberId}: ${JSON.stringify(redemptions.body)}, the model ${JSON.stringify(this.model.rewards.memberRedemptions(memberId))}`);
  }

  private async couponStep(): Promise<void> {
    const { planner, rng } = this;
    const welcomes = this.model.program.couponRules.some((r) => r.trigger === 'register');
    const kind = rng.weighted({ issue: 10, welcome: welcomes ? 3 : 0, revoke: 3, purchase: 6, quote: 2, twice: this.on('batches') ? 2 : 0, look: 2 });
    // Orders go to members holding a coupon they can use now, when there are any.
    const m = (kind === 'purchase' || kind === 'quote' ? planner.member((x) => this.usableNow(x)) : null) ?? planner.member()!;
    const at = planner.atFor(this.clockMs, m);
    switch (kind) {
      case 'issue': {
        const issued = await this.single(planner.couponIssue(m, at));
        // Often used at once: a member's next order is otherwise weeks of the clock away.
        if (issued.ok && !issued.replayed && rng.chance(0.7)) {
          const soon = Math.min(this.clockMs, at + rng.int(0, 3 * DAY_MS));
          await this.single(planner.withCoupons(planner.purchase(m, soon), m, soon, true));
        }
        return;
      }
      case 'welcome': {
        // A sign-up with its welcome coupons, then the first purchase a little later.
        const at = planner.atFor(this.clockMs);
        const r = planner.register(at, { byIdOnly: true });
        const joined = await this.single(r);
        const newcomer = this.model.members.get(r.body['memberId'] as string);
        if (!joined.ok || joined.replayed || newcomer === undefined) return;
        const soon = Math.min(this.clockMs, at + rng.int(0, 7 * DAY_MS));
        await this.single(planner.withCoupons(planner.purchase(newcomer, soon), newcomer, soon, true));
        return;
      }
      case 'revoke': {
        const p = planner.couponRevoke((x) => planner.atFor(this.clockMs, x));
        if (p !== null) await this.single(p);
        return;
      }
      case 'purchase': await this.single(planner.withCoupons(planner.purchase(m, at), m, at, true)); return;
      case 'quote': await this.single(planner.withCoupons(planner.quote(m, at), m, at, true)); return;
      case 'twice': return this.couponTwiceStep();
      case 'look': return this.checkCoupons([m.memberId], rng.chance(0.5));
    }
  }

  /**
   * One coupon named by two purchases of one stream batch (§12.6): the second is refused `used`,
   * unless the core refused the first (sometimes drawn to redeem more points than the member has),
   * which leaves the coupon free. Now and then the second purchase is another member's of the same
   * shard, whose refusal is `other_member` whatever the first did.
   */
  private async couponTwiceStep(): Promise<void> {
    const { planner, rng } = this;
    const m = planner.member((x) => this.usableNow(x));
    if (m === null) return;
    const at = planner.atFor(this.clockMs, m);
    const first = planner.withCoupons(planner.purchase(m, at), m, at, true);
    const codes = first.body['couponCodes'] as string[] | undefined;
    if (codes === undefined) return;
    if (rng.chance(0.3)) first.body['redeemPoints'] = Math.min(OP_AMOUNT_MAX, Math.max(0, m.points) + rng.int(1, 100));
    const other = rng.chance(0.25) ? planner.member((x) => x.shard === m.shard && x.memberId !== m.memberId && !this.planner.reach(first, new Map()).credited.includes(x.memberId)) : null;
    const second = planner.purchase(other ?? m, at);
    second.body['couponCodes'] = [rng.pick(codes)];
    second.note = other === null ? 'the same coupon again' : `${m.memberId}'s coupon`;
    await this.sendBatchStep([first, second]);
  }

  /** Whether the member holds an active coupon, not past its expiry at the clock, whose code the model knows. */
  private usableNow(m: Member): boolean {
    return this.model.coupons.ofMember(m.memberId).some((c) => c.state === 'active' && c.expiresAt > this.clockMs && !CouponBook.isPlaceholder(c.code));
  }

  /**
   * The members' coupons as the server lists them (`GET /v1/members/{id}/coupons`, all or of one
   * state) and each coupon by its code (`GET /v1/coupons/{code}`), against the model.
   */
  private async checkCoupons(ids: readonly string[], byCode: boolean): Promise<void> {
    const order = (a: { code: string }, b: { code: string }) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0);
    for (const id of ids) {
      const state = this.rng.pick([undefined, undefined, 'active', 'used', 'expired', 'revoked'] as const);
      const want = this.model.coupons.ofMember(id).filter((c) => state === undefined || c.state === state).map((c) => this.model.couponAnswer(c) as { code: string }).sort(order);
      const reply = await this.server.request('GET', `/v1/members/${encodeURIComponent(id)}/coupons${state === undefined ? '' : `?state=${state}`}`);
      if (reply.status !== 200) this.fail(`coupons of ${id}: ${reply.status} ${JSON.stringify(reply.body)}`);
      const got = [...(reply.body.coupons as Array<{ code: string }>)].sort(order);
      const diffs = got.length === want.length ? got.flatMap((g, i) => diffFields(g, want[i]!).map((d) => `${want[i]!.code} ${d}`)) : [`${got.length} coupons, the model ${want.length}: server ${got.map((c) => c.code).join(',')}, model ${want.map((c) => c.code).join(',')}`];
      if (diffs.length > 0) await this.failOn(id, `coupons of ${id}${state === undefined ? '' : ` (${state})`}:\n  ${diffs.join('\n  ')}`);
      if (!byCode) continue;
      for (const c of this.model.coupons.ofMember(id)) {
        // Now and then with its state at an instant: one it changed at, just before one, or before its issue.
        // (Never before 2000, which `at` may not name: a member registered at the bound of 2000 has coupons issued then.)
        const when = this.rng.chance(0.3) ? Math.max(AT_MIN_MS, this.rng.pick(c.history)[1] - this.rng.pick([0, 0, 1])) : null;
        const one = await this.server.request('GET', `/v1/coupons/${encodeURIComponent(c.code)}${when === null ? '' : `?at=${iso(when)}`}`);
        const want = when === null ? this.model.couponView(c) : { ...this.model.couponView(c), at: iso(when), stateAt: this.model.couponStateAt(c, when) };
        const d = one.status === 200 ? diffFields(one.body, want) : [`GET answered ${one.status} ${JSON.stringify(one.body)}`];
        if (d.length > 0) await this.failOn(id, `coupon ${c.code} of ${id}:\n  ${d.join('\n  ')}`);
      }
    }
  }

  // ---------------------------------------------------------------- edges

  /**
   * `ancient-times`: an instant before 2000-01-01T00:00:00Z, whatever local time its offset shows,
   * is refused on its field and changes nothing: an op's `at` (alone, or inside a batch of other
   * ops, which its refusal must not touch), `balance?at=` and the sweep's `asOf`. An op at the bound
   * itself, or just after it in UTC but in 1999 in its offset, is accepted like any backdated op.
   */
  private async ancientStep(): Promise<void> {
    const ancient = this.rng.pick<string | number>([
      '1999-12-31T23:59:59.999Z', '2000-01-01T04:59:59.999+05:00', '1999-12-31T23:30:00.000+05:00', AT_MIN_MS - 1,
      '1970-01-01T00:00:00.000Z', '1969-07-20T20:17:40.000Z', '1900-01-01T00:00:00.000Z',
    ]);
    const m = this.planner.member()!;
    const roll = this.rng.next();
    if (roll < 0.15) {
      this.note(`balance of ${m.memberId} at ${String(ancient)} (ancient)`);
      const reply = await this.server.request('GET', `/v1/members/${encodeURIComponent(m.memberId)}/balance?at=${encodeURIComponent(String(ancient))}`);
      if (reply.status !== 400 || reply.body.error?.code !== 'invalid_request' || reply.body.error?.field !== 'at') this.fail(`balance?at=${String(ancient)}: ${reply.status} ${JSON.stringify(reply.body)}`);
      return;
    }
    if (roll < 0.3) {
      this.note(`sweep as of ${String(ancient)} (ancient)`);
      const reply = await this.server.request('POST', '/v1/admin/sweep', { asOf: ancient });
      if (reply.status !== 400 || reply.body.error?.code !== 'invalid_request' || reply.body.error?.field !== 'asOf') this.fail(`sweep as of ${String(ancient)}: ${reply.status} ${JSON.stringify(reply.body)}`);
      return;
    }
    const at = roll < 0.4 ? this.rng.pick(['2000-01-01T00:00:00.000Z', '1999-12-31T23:30:00.000-05:00', '1999-12-31T19:00:00.000-05:00']) : ancient;
    const p = this.rng.pick([this.planner.purchase(m, 0), this.planner.topup(m, 0), this.planner.register(0), this.planner.adjust(m, 0)]);
    p.body['at'] = at;
    p.note = parseAt(at) < AT_MIN_MS ? 'ancient at' : 'at the bound of 2000';
    if (this.on('batches') && this.rng.chance(0.5)) {
      // Inside a batch with other ops, which its refusal must not touch.
      const others = this.drawIndependent(this.rng.int(1, 3), { sameAt: 'perMember' })
        .filter((o) => this.planner.reach(o, new Map()).direct.every((id) => !this.planner.reach(p, new Map()).direct.includes(id)));
      const ops = [...others];
      ops.splice(this.rng.int(0, ops.length), 0, p);
      await this.sendBatchStep(ops);
      return;
    }
    const outcome = await this.single(p);
    if (outcome.ok && parseAt(at) < AT_MIN_MS) this.fail('the model accepts an ancient at');
  }

  /** `cross-shard-keys`: a used requestId on a member of another shard is a conflict. */
  private async crossKeyStep(): Promise<void> {
    const used = this.history.filter((s) => ['topup', 'redeem', 'adjust', 'withdraw', 'transfer'].includes(s.p.name));
    if (used.length === 0) return;
    const s = this.rng.pick(used);
    const owner = (s.p.body['memberId'] ?? s.p.body['fromMemberId']) as string;
    const other = this.planner.member((m) => m.shard !== shardOf(owner, this.shards));
    if (other === null) return;
    const p = this.planner.topup(other, this.planner.atFor(this.clockMs, other));
    p.body['requestId'] = s.p.body['requestId'];
    p.body['amountCents'] = Math.max(this.model.program.wallet.minTopupCents, p.body['amountCents'] as number);
    p.note = `requestId of ${owner}'s ${s.p.name}`;
    await this.single(p);
  }

  /** `equivalent-retry`: a retry with the defaults spelled out or the same instant in another offset replays. */
  private async equivalentStep(): Promise<void> {
    const candidates = this.history.filter((s) => (s.p.body['at'] !== undefined || s.p.name === 'purchase') && (this.on('replay-after-return') || !this.shareReversed(s.p)) && this.replayable(s.p));
    if (candidates.length === 0) return;
    const s = this.rng.pick(candidates);
    const body = { ...s.p.body };
    if (body['at'] !== undefined && (s.p.name !== 'purchase' || this.rng.chance(0.5))) {
      const ms = parseAt(body['at']);
      const spellings = [new Date(ms).toISOString(), withOffset(ms, '+08:00'), withOffset(ms, '-05:00'), withOffset(ms, '+05:45'), ms].filter((x) => x !== body['at']);
      body['at'] = this.rng.pick(spellings);
    } else {
      for (const k of ['discountCents', 'redeemPoints', 'walletCents']) body[k] ??= 0;
    }
    const p: Planned = { ...s.p, body, note: 'equivalent retry' };
    if (isDeepStrictEqual(body, s.p.body)) return;
    const outcome = await this.single(p, this.transportFor(p), s);
    if (!outcome.ok || !outcome.replayed) this.fail(`${describe(p)}: the model does not replay an equivalent retry`);
  }

  /** `same-batch-deps`: a batch whose later op needs what an earlier one makes. */
  private async depsStep(): Promise<void> {
    const { planner, rng } = this;
    const m = planner.member()!;
    const at = planner.atFor(this.clockMs);
    const kind = rng.pick(['purchase-return', 'register-referee', 'register-transfer'] as const);
    let ops: Planned[];
    if (kind === 'purchase-return') {
      const buy = planner.purchase(m, at);
      delete buy.body['redeemPoints'];
      delete buy.body['walletCents'];
      const net = (buy.body['amountCents'] as number) - ((buy.body['discountCents'] as number | undefined) ?? 0);
      const amountCents = rng.chance(0.5) ? net : rng.int(1, Math.max(1, net));
      ops = [buy, { name: 'return', body: { returnId: `r${planner.next()}`, orderId: buy.body['orderId'], amountCents, at: planner.spell(at) }, role: 'admin' }];
    } else if (kind === 'register-referee') {
      const r = planner.register(at, { byIdOnly: true });
      delete r.body['tierId'];
      ops = [{ ...r, role: 'admin' }, { ...planner.register(at, { byIdOnly: true, referrer: r.body['memberId'] as string }), role: 'admin' }];
      delete ops[1]!.body['tierId'];
      for (const f of ['phone', 'email']) if (ops[1]!.body[f] !== undefined && ops[1]!.body[f] === ops[0]!.body[f]) delete ops[1]!.body[f];
    } else {
      const t = planner.register(at, { byIdOnly: true });
      delete t.body['tierId'];
      const from = planner.member((x) => x.walletCents > 0) ?? m;
      ops = [{ ...t, role: 'admin' }, planner.transfer(from, t.body['memberId'] as string, at)];
    }
    await this.sendBatchStep(ops);
  }

  /** `near-limit`: two members whose points and wallets are pushed to within 10^12 of 2^53-1. */
  private async buildWhales(): Promise<void> {
    const ids: string[] = [];
    for (let i = 0; ids.length < 2 && i < 100; i++) {
      const id = `whale${i}`;
      if (ids.length === 0 || shardOf(id, this.shards) !== shardOf(ids[0]!, this.shards)) ids.push(id);
    }
    for (const id of ids) {
      await this.single({ name: 'register', body: { memberId: id, name: `Whale ${id}`, points: OP_AMOUNT_MAX, walletCents: OP_AMOUNT_MAX, at: iso(this.startMs) }, role: 'admin' }, 'http');
      const m = this.model.members.get(id)!;
      for (const field of ['points', 'walletCents'] as const) {
        for (;;) {
          const room = SAFE_MAX - m[field];
          const count = Math.min(3_000, Math.floor(room / OP_AMOUNT_MAX) - 1);
          if (count <= 0) break;
          const ops: Planned[] = Array.from({ length: count }, () => field === 'points'
            ? { name: 'adjust' as const, body: { requestId: `wa${this.planner.next()}`, memberId: id, points: OP_AMOUNT_MAX, reason: 'whale', at: this.startMs }, role: 'admin' as const }
            : { name: 'topup' as const, body: { requestId: `wt${this.planner.next()}`, memberId: id, amountCents: OP_AMOUNT_MAX, at: this.startMs }, role: 'admin' as const });
          const answers = await this.server.sendBatch(ops.map(streamOp), true);
          ops.forEach((p, i) => this.compare(p, this.modelApply(p, answers[i]!, Date.now()), answers[i]!, 'msgpack'));
        }
      }
      const top = SAFE_MAX - this.rng.int(0, 1_000) - m.points;
      if (top > 0) await this.single({ name: 'adjust', body: { requestId: `wa${this.planner.next()}`, memberId: id, points: Math.min(top, OP_AMOUNT_MAX), reason: 'whale', at: iso(this.startMs) }, role: 'admin' }, 'http');
      this.note(`whale ${id}: ${m.points} points, ${m.walletCents} cents`);
    }
    this.whales = ids;
    // Thousands of fills would crowd every other op out of the replays and conflicts.
    const fills = this.history.filter((h) => h.p.body['reason'] === 'whale' || String(h.p.body['requestId'] ?? '').startsWith('wt'));
    for (const h of fills) this.history.splice(this.history.indexOf(h), 1);
  }

  private async whaleStep(): Promise<void> {
    const { planner, rng } = this;
    const id = rng.pick(this.whales);
    const m = this.model.members.get(id)!;
    const at = planner.atFor(this.clockMs, m);
    const big = () => rng.int(1, OP_AMOUNT_MAX);
    const windowed = this.model.program.pointsPendingDays > 0;
    const kinds = ['adjust', 'topup', 'purchase', 'redeem', 'product', 'transfer-in', 'transfer-out', 'quote', 'pending-past-limit', 'pending-past-limit'] as const;
    const kind = rng.pick(windowed ? kinds : kinds.filter((k) => k !== 'pending-past-limit'));
    let p: Planned;
    switch (kind) {
      case 'pending-past-limit': {
        // To within 500-1,500 of 2^53 - 1 (room for an upgrade bonus), then a purchase whose pending
        // points (2,000 or more) will not fit when they activate: the activation pays what fits (docs/rules.md §13.5).
        const delta = SAFE_MAX - m.points - rng.int(500, 1_500);
        if (delta !== 0 && Math.abs(delta) <= OP_AMOUNT_MAX) {
          await this.single({ name: 'adjust', body: { requestId: `wa${planner.next()}`, memberId: id, points: delta, reason: 'whale', at: planner.spell(at) }, role: 'admin', note: 'whale, to the limit' });
        }
        p = planner.purchase(m, at);
        p.body = { orderId: p.body['orderId'], memberId: id, amountCents: rng.int(10_000_000, OP_AMOUNT_MAX), at: p.body['at'] };
        break;
      }
      case 'adjust': p = planner.adjust(m, at); p.body['points'] = rng.chance(0.5) ? big() : -big(); break;
      case 'topup': p = planner.topup(m, at); p.body['amountCents'] = Math.max(this.model.program.wallet.minTopupCents, big()); break;
      case 'purchase': p = planner.purchase(m, at); p.body['amountCents'] = big(); delete p.body['discountCents']; break;
      case 'redeem': p = planner.redeem(m, at); p.body['points'] = big(); break;
      case 'product': p = planner.product(m, at); break;
      case 'quote': p = planner.quote(m, at); p.body['amountCents'] = big(); break;
      case 'transfer-out': {
        const to = planner.transferTarget(m, new Set(this.whales));
        if (to === null) return;
        p = planner.transfer(m, to, at);
        p.body['amountCents'] = big();
        break;
      }
      case 'transfer-in': {
        const other = this.whales.find((w) => w !== id) ?? null;
        const from = other !== null && rng.chance(0.5) ? this.model.members.get(other)! : planner.member((x) => x.walletCents > 0 && !this.whales.includes(x.memberId));
        if (from === null) return;
        p = planner.transfer(from, id, at);
        p.body['amountCents'] = Math.min(OP_AMOUNT_MAX, Math.max(1, from.walletCents));
        break;
      }
    }
    p.note = 'whale';
    await this.single(p);
  }
}

/** A member as the planner needs it, for one registered earlier in the same batch. */
function stubMember(memberId: string): Member {
  return {
    memberId, shard: 0, createdAt: 0, profile: {}, referrerId: null, referralChain: [], tierId: '', periodStart: 0, periodEnd: null,
    periodMetric: 0, periodStartTierId: '', points: 0, growth: 0, walletCents: 0, lifetimeSpendCents: 0, purchaseCount: 0,
    firstPurchaseAt: null, lastPurchaseAt: null, standingOrders: 0, birthdayMonth: 0, birthdayDay: 0, lastBirthdayYear: 0, grants: [], pending: [], entries: [],
  };
}

/**
 * A summary total as the server answers it, or null when the form is wrong: a safe integer as a
 * JSON number, and only past 2^53 - 1 as a string of its decimal digits (README, the summary report).
 */
function exactTotal(answered: unknown): bigint | null {
  if (typeof answered === 'number') return Number.isSafeInteger(answered) ? BigInt(answered) : null;
  if (typeof answered !== 'string' || !/^-?[1-9][0-9]*$/.test(answered)) return null;
  const v = BigInt(answered);
  return v > BigInt(SAFE_MAX) || v < -BigInt(SAFE_MAX) ? v : null;
}

/** Each expected field that the actual object does not have equal, as a line. */
function diffFields(actual: Record<string, any>, expected: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(expected)) {
    if (!isDeepStrictEqual(actual?.[k], v)) out.push(`${k}: server ${JSON.stringify(actual?.[k])}, model ${JSON.stringify(v)}`);
  }
  return out;
}

function describe(p: Planned): string {
  const b = p.body;
  const key = b['orderId'] ?? b['returnId'] ?? b['requestId'] ?? b['memberId'] ?? p.memberId;
  const rest = Object.entries(b).filter(([k]) => !['orderId', 'returnId', 'requestId'].includes(k)).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(' ');
  return `${p.name}[${p.role}] ${String(key)} ${rest}${p.note === undefined ? '' : ` (${p.note})`}`;
}

function describeProgram(p: SimProgram): string {
  const tiers = p.tiers.map((t) => `${t.id}@${t.threshold}${t.expressUpgradeCents === null ? '' : `/x${t.expressUpgradeCents}`}`).join(',');
  const coupons = p.coupons.map((t) => `${t.id}${t.active ? '' : '(off)'}${t.totalMax === null ? '' : `/max${t.totalMax}`}`).join(',');
  const rules = p.couponRules.map((r) => `${r.id}:${r.trigger}→${r.templateId}`).join(',');
  const campaigns = p.campaigns.map((c) => `${c.id}${c.active ? '' : '(off)'}:${c.pointsMultiplierPct}%+${c.bonusPoints}${c.couponTemplateId === null ? '' : `→${c.couponTemplateId}`}`).join(',');
  return `${p.qualifyBy} ${tiers} days=${p.membershipDays} carry=${p.carryForward} down=${p.downgrade} expiry=${p.pointsExpiryDays} pending=${p.pointsPendingDays} neg=${p.allowNegativePoints} referral=${p.referral.enabled ? p.referral.levels.length : 'off'} tz=${p.timezone} bday=${p.birthday.bonusPoints}/${p.birthday.multiplierPct}% coupons=${coupons} rules=${rules} campaigns=${campaigns}`;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
