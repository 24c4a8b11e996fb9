// The simulator's reference model: the README's rules written out plainly, one member at a time,
// with no code shared with engine/. It is meant to be obviously right rather than fast: every
// conversion is floor(x * num / den) in BigInt, every member keeps its whole ledger, and the
// summary is recomputed from the members. Each op returns what the server must answer (an answer's
// fields, or the error codes it may give) and which members it may have changed.
import { DAY_MS, birthdayGiftAt, iso, localDate, localDay } from './calendar.js';
import type { SimCampaign, SimChannel, SimCouponTemplate, SimCouponTrigger, SimProgram, SimTier } from './program.js';
import {
  CouponBook, couponValidity, couponValue, firingRules, issueRefusal, normalizeCode, orderValues, usabilityRefusal,
  type IssuedView, type SimCoupon, type SkippedView,
} from './coupons.js';
import { RewardModel } from './rewards.js';

export const SAFE_MAX = Number.MAX_SAFE_INTEGER;
/** The earliest `at` the `ancient-times` edge expects the server to accept: 2000-01-01T00:00:00Z. */
export const AT_MIN_MS = Date.UTC(2000, 0, 1);
/** Most bonus and item points the campaigns of one purchase may add (docs/rules.md §13.2). */
const CAMPAIGN_EXTRA_POINTS_MAX = 1_000_000_000_000;
/** An op whose member has more events than this between two ops means a runaway period or grant. */
const EVENTS_MAX = 100_000;

export type Role = 'admin' | 'pos' | 'storefront';
export type OpName = 'register' | 'patch' | 'purchase' | 'return' | 'quote' | 'topup' | 'withdraw' | 'transfer' | 'redeem' | 'adjust' | 'product_purchase'
  | 'coupon_issue' | 'coupon_revoke' | 'reward_redeem' | 'reward_fulfil' | 'reward_cancel' | 'reward_stock' | 'card_use' | 'card_adjust';
export type Body = Record<string, unknown>;

/** Points that expire together: `id` orders grants of one expiry by when they were credited. */
export interface Grant { id: number; expiresAt: number; remaining: number }
/**
 * Points waiting for their return window (§13.5): a purchase's earnings with their growth, or a
 * referral reward it caused, until `activatesAt`. `id` orders the lots of one instant by when they were made.
 */
export interface PendingLot { id: number; activatesAt: number; points: number; growth: number; orderId: string }
/** Part of a debit: which grant paid how much (Infinity expiry: points that never expire). */
export interface Took { id: number; expiresAt: number; points: number }

export interface Entry {
  at: number; kind: string; ref: string; points: number; growth: number; wallet: number; spend: number; tierId: string | null;
  /** The change of the member's pending points (§8.1 `pendingDelta`). */
  pending: number;
  /** The sweep that wrote a coupon_expire entry: its expiries of one instant are in code order. */
  sweep?: number;
  /** A count card entry's change of uses (test/sim/rewards.ts). */
  uses?: number;
}

export interface Profile {
  name?: string; phone?: string; email?: string; birthday?: string; gender?: string; address?: string;
  storeId?: string; channel?: string; staffId?: string;
}
export const PROFILE_FIELDS = ['name', 'phone', 'email', 'birthday', 'gender', 'address', 'storeId', 'channel', 'staffId'] as const;

export interface Member {
  memberId: string; shard: number; createdAt: number; profile: Profile;
  referrerId: string | null; referralChain: string[];
  tierId: string; periodStart: number; periodEnd: number | null; periodMetric: number; periodStartTierId: string;
  points: number; growth: number; walletCents: number; lifetimeSpendCents: number; purchaseCount: number;
  firstPurchaseAt: number | null; lastPurchaseAt: number | null;
  /** Purchases not fully returned: none means the next purchase is a first purchase. */
  standingOrders: number;
  birthdayMonth: number; birthdayDay: number;
  /** When the member's personal data was erased (docs/rules.md §15); absent for every other member. */
  erasedAt?: number;
  /** The calendar year whose gift was last settled (paid or passed over). */
  lastBirthdayYear: number;
  /** Points that expire, oldest expiry first; points credited while expiry was off are not here. */
  grants: Grant[];
  /** Points not yet spendable, soonest activation first (§13.5). */
  pending: PendingLot[];
  entries: Entry[];
}

export interface Order {
  orderId: string; memberId: string; at: number; amountCents: number; redeemPoints: number;
  walletCents: number; netCents: number; earnedPoints: number; tierIdBefore: string; upgradedTo: string | null;
  /** The upgrade came from the express threshold (the period threshold was not reached). */
  express: boolean;
  before: { periodStart: number; periodEnd: number | null; periodStartTierId: string; periodMetric: number };
  rate: { earnCents: number; earnPoints: number; orderPoints: number; multiplierPct: number; growthPoints: number; growthGrowth: number };
  rewards: Array<{ memberId: string; fixedPoints: number; sharePct: number; sharePoints: number }>;
  now: { earnedPoints: number; growth: number; restoredPoints: number; walletRefundedCents: number; fixedReversed: boolean };
  redeemedFrom: Took[];
  restoredTo: Took[];
  returns: Array<{ returnId: string; amountCents: number; at: number }>;
  /** The campaigns' bonus and item points: kept while part of the order remains, like orderPoints. */
  campaignPoints: number;
  /** The campaigns that applied (§13.4), for the campaign report; null when the program had none. */
  campaigns: OrderCampaigns | null;
  /** When its points became (or become) spendable, when they were pending at the purchase (§13.5). */
  pendingUntil: number | null;
  /** What the order did with coupons: present when it used any, or the program had coupon rules or active campaigns with a coupon. */
  coupons?: OrderCoupons;
}

export interface OrderCoupons {
  discountCents: number;
  used: Array<{ code: string; templateId: string; discountCents: number }>;
  issued: IssuedView[];
  skipped: SkippedView[];
}

/** An order's campaigns: B, and each applying campaign's bonus and item points and what its multiplier added. */
export interface OrderCampaigns {
  baseMultiplierPct: number;
  applied: Array<{ id: string; fixed: number; multiplierPoints: number; holdsMultiplier: boolean }>;
}

/** One row of the campaign report (§10.7), its amounts in BigInt. */
export interface CampaignRow {
  campaignId: string; name: string | null; orders: number; netSalesCents: bigint; returnedCents: bigint;
  extraPoints: bigint; extraPointsReturned: bigint; couponsIssued: number;
}

/** The summary's running totals, in BigInt: near-limit balances take them past 2^53. */
export interface Totals {
  purchases: bigint; returns: bigint; netSalesCents: bigint; pointsIssued: bigint; pointsRedeemed: bigint;
  pointsExpired: bigint; pointsClawedBack: bigint; topupsCents: bigint;
  /** Pending points returns and referral reversals cancelled before they activated (§10.1). */
  pointsPendingCancelled: bigint;
}

/** What the server must answer to one op, and the members whose state it may have changed. */
export type Outcome =
  | { ok: true; answer: Body; replayed: boolean; touched: string[] }
  | { ok: false; codes: string[]; field?: string; message?: string; touched: string[] };

export interface ModelOptions {
  shards: number;
  /** `requestId` keys are one namespace across every shard (the `cross-shard-keys` edge). */
  globalRequestKeys: boolean;
  /** `at` before 2000 is refused (the `ancient-times` edge). */
  refuseAncientAt: boolean;
  /**
   * A patched birthday takes its new day as well as its month, and counts from the change as at
   * registration (the `patch-birthday` edge).
   */
  patchBirthdayFully: boolean;
}

/** FNV-1a over the id's UTF-16 code units, modulo the shards: which shard owns a member (README, Architecture). */
export function shardOf(id: string, shards: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % shards;
}

/** floor(x * num / den) exactly, for x >= 0 and positive num, den. */
export function mulDiv(x: number, num: number, den: number): number {
  return Number((BigInt(x) * BigInt(num)) / BigInt(den));
}

function safe(...values: number[]): boolean {
  return values.every((v) => Number.isSafeInteger(v));
}

/** The exact sum, or NaN when it leaves the safe range (so `safe` refuses it); NaN stays NaN, so sums nest. */
function add(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.NaN;
  const s = BigInt(a) + BigInt(b);
  return s > BigInt(SAFE_MAX) || s < -BigInt(SAFE_MAX) ? Number.NaN : Number(s);
}

/** What a balance can take of a bonus nobody can refuse (the sweep's): all of it, or up to 2^53 - 1. */
function fitting(balance: number, bonus: number): number {
  return safe(add(balance, bonus)) ? bonus : Math.max(0, SAFE_MAX - balance);
}

/** Stable JSON with sorted keys: what "the same body" means for idempotency. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    return `{${Object.keys(obj).sort().filter((k) => obj[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonical(obj[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function parseAt(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string') return Date.parse(value);
  throw new Error(`the simulator sent an at of ${JSON.stringify(value)}`);
}

/** The body as its meaning: defaults spelled out and `at` as ms, so that equivalent spellings are one request. */
function meaning(name: OpName, body: Body, role?: Role): Body {
  const out: Body = { ...body };
  // A product purchase without a channel is bought on the channel its key implies (pos: offline,
  // storefront: online), and the server fingerprints it so: the same body under another role differs.
  if (name === 'product_purchase' && out['channel'] === undefined) {
    const implied = role === 'pos' ? 'offline' : role === 'storefront' ? 'online' : undefined;
    if (implied !== undefined) out['channel'] = implied;
  }
  if (out['at'] !== undefined) out['at'] = parseAt(out['at']);
  if (Array.isArray(out['couponCodes'])) out['couponCodes'] = (out['couponCodes'] as string[]).map(normalizeCode);
  if (name === 'purchase') {
    out['discountCents'] ??= 0;
    out['redeemPoints'] ??= 0;
    out['walletCents'] ??= 0;
  }
  return out;
}

/**
 * A refusal: the codes the server may answer (any one of them when several checks fail), the members
 * it may still have changed (events due before the op are applied even when the op is refused),
 * and the field it must name, when the model knows it.
 */
const FAIL = (codes: string | string[], touched: string[] = [], field?: string, message?: string): Outcome =>
  ({ ok: false, codes: Array.isArray(codes) ? codes : [codes], touched, ...(field === undefined ? {} : { field }), ...(message === undefined ? {} : { message }) });

export class Model {
  program: SimProgram;
  version: number;
  readonly members = new Map<string, Member>();
  /** Member ids in registration order (never sorted: generated ids carry the server's clock and randomness). */
  readonly memberOrder: string[] = [];
  readonly orders = new Map<string, Order>();
  /** Idempotency keys: scope|key → the body's meaning and the model's answer. */
  readonly keys = new Map<string, { fp: string; answer: Body }>();
  readonly phones = new Map<string, string>();
  readonly emails = new Map<string, string>();
  readonly totals: Totals = {
    purchases: 0n, returns: 0n, netSalesCents: 0n, pointsIssued: 0n, pointsRedeemed: 0n, pointsExpired: 0n, pointsClawedBack: 0n, topupsCents: 0n,
    pointsPendingCancelled: 0n,
  };
  /** Referral points each ancestor received per level, net of reversals: `memberId|level`. */
  readonly referralPoints = new Map<string, number>();
  /** Every tier id a member has held, entered a period at, or that an order names: a program must keep them. */
  readonly everHeld = new Set<string>();
  /** Ledger entries not on any member (one per accepted program, the first program included). */
  programEntries = 1;
  private grantSeq = 0;
  private pendingSeq = 0;
  private sweeps = 0;
  /** Every coupon issued, with the counts its caps read. */
  readonly coupons = new CouponBook();
  /** Answers the model made holding a coupon placeholder: they take the code when it is learnt. */
  private placeholderAnswers: Body[] = [];
  /** Quote lists holding a placeholder: in code order once the codes are learnt. */
  private placeholderLists: Array<Array<{ code: string }>> = [];
  /** The server's answer to the op being applied, when it carried one: where codes are learnt from. */
  private answerNow: Body | null = null;
  /** Rewards and count cards (test/sim/rewards.ts), over this model's points, entries, keys and coupons. */
  readonly rewards = new RewardModel({
    program: () => this.program, member: (id) => this.members.get(id), shard: (id) => this.shard(id),
    scope: (key, shard) => this.scope(key, shard), keyed: (name, scope, body) => this.keyed(name, scope, body),
    remember: (name, scope, body, answer) => this.remember(name, scope, body, answer), advance: (m, at) => this.advance(m, at),
    entry: (m, at, kind, ref, d) => this.entry(m, at, kind, ref, d), debit: (m, points) => this.debitPoints(m, points),
    restore: (m, from, points) => { this.restorePoints(m, from, points); }, tally: (total, n) => this.tally(total, n),
    template: (id) => this.couponTemplate(id), issuedTo: (m, t) => this.coupons.issuedTo(m, t), issuedTotal: (t) => this.coupons.issuedTotal(t),
    issueCoupon: (m, t, at, source, code) => this.issueCoupon(m, t, at, source, null, code), coupon: (code) => this.coupons.byCode.get(code),
    revokeCoupon: (c, at) => this.setCouponState(c, 'revoked', at, 'coupon_revoke'), answerNow: () => this.answerNow,
    unattachedEntry: () => { this.programEntries += 1; },
  });

  constructor(program: SimProgram, version: number, readonly options: ModelOptions) {
    this.program = program;
    this.version = version;
  }

  shard(memberId: string): number {
    return shardOf(memberId, this.options.shards);
  }

  /**
   * A program change at `atMs` (the server's clock when it took it). A member holding a tier the
   * program dropped moves to its first tier at the change, with a `downgrade` entry (ref
   * `program:<version>`), and keeps no period end (the first tier never expires); a period that
   * started at a dropped tier counts as started at the first (README, "Program changes"). Nothing
   * else happens at the change: the member's due events wait for its next op or sweep.
   */
  setProgram(program: SimProgram, atMs: number): void {
    this.program = program;
    this.version += 1;
    this.programEntries += 1;
    const first = program.tiers[0]!.id;
    const kept = (id: string) => program.tiers.some((t) => t.id === id);
    for (const id of this.memberOrder) {
      const m = this.members.get(id)!;
      if (!kept(m.tierId)) {
        this.entry(m, atMs, 'downgrade', `program:${this.version}`, { tierId: first });
        m.tierId = first;
        m.periodEnd = null;
      }
      if (!kept(m.periodStartTierId)) m.periodStartTierId = first;
      this.hold(m);
    }
  }

  /** The members holding a tier `program` does not have: those a change to it moves. */
  holdingDropped(program: SimProgram): string[] {
    return this.memberOrder.filter((id) => !program.tiers.some((t) => t.id === this.members.get(id)!.tierId));
  }

  private tally(total: keyof Totals, n: number): void {
    this.totals[total] += BigInt(n);
  }

  // ---------------------------------------------------------------- tiers

  tierIndex(tierId: string): number {
    const i = this.program.tiers.findIndex((t) => t.id === tierId);
    // A tier the program no longer has counts as the first tier (README, "Program changes").
    return i === -1 ? 0 : i;
  }

  tier(tierId: string): SimTier {
    return this.program.tiers[this.tierIndex(tierId)]!;
  }

  private qualifying(metric: number): number {
    let q = 0;
    this.program.tiers.forEach((t, i) => { if (i > 0 && t.threshold <= metric) q = i; });
    return q;
  }

  private retain(i: number): number {
    const t = this.program.tiers[i]!;
    return t.retainThreshold ?? t.threshold;
  }

  private carried(metric: number, threshold: number): number {
    switch (this.program.carryForward) {
      case 'all': return metric;
      case 'none': return 0;
      case 'excess': return Math.max(0, metric - threshold);
    }
  }

  private hold(m: Member): void {
    this.everHeld.add(m.tierId);
    this.everHeld.add(m.periodStartTierId);
  }

  // ---------------------------------------------------------------- points and grants

  private entry(m: Member, at: number, kind: string, ref: string, d: Partial<Pick<Entry, 'points' | 'growth' | 'wallet' | 'spend' | 'tierId' | 'pending' | 'uses'>>): void {
    // `+ 0` turns a negated zero into zero: the server's JSON has no -0.
    m.entries.push({
      at, kind, ref, points: (d.points ?? 0) + 0, growth: (d.growth ?? 0) + 0, wallet: (d.wallet ?? 0) + 0, spend: (d.spend ?? 0) + 0,
      tierId: d.tierId ?? null, pending: (d.pending ?? 0) + 0, ...(d.uses === undefined ? {} : { uses: d.uses + 0 }),
    });
  }

  // ---------------------------------------------------------------- pending points

  /** Points (and growth) that wait until `activatesAt`, after the lots of that instant made before them. */
  private addPending(m: Member, lot: Omit<PendingLot, 'id'>): void {
    this.pendingSeq += 1;
    const l: PendingLot = { id: this.pendingSeq, ...lot };
    let i = m.pending.length;
    while (i > 0 && (m.pending[i - 1]!.activatesAt > l.activatesAt || (m.pending[i - 1]!.activatesAt === l.activatesAt && m.pending[i - 1]!.id > l.id))) i--;
    m.pending.splice(i, 0, l);
  }

  pendingTotal(m: Member): number {
    return m.pending.reduce((s, l) => s + l.points, 0);
  }

  /**
   * Cancels up to `points` and `growth` of what order `orderId` still has pending (a return or a
   * referral reversal inside the window, §13.5): a `points_cancel` entry (ref `ref`) when anything
   * was, and the lot left with nothing goes. Returns what it cancelled (zeros: nothing of it waits).
   */
  private cancelPending(m: Member, orderId: string, points: number, growth: number, at: number, ref: string): { points: number; growth: number } {
    const i = m.pending.findIndex((l) => l.orderId === orderId);
    if (i === -1) return { points: 0, growth: 0 };
    const lot = m.pending[i]!;
    const cancel = { points: Math.min(points, lot.points), growth: Math.min(growth, lot.growth) };
    if (cancel.points === 0 && cancel.growth === 0) return cancel;
    lot.points -= cancel.points;
    lot.growth -= cancel.growth;
    if (lot.points === 0 && lot.growth === 0) m.pending.splice(i, 1);
    this.entry(m, at, 'points_cancel', ref, { pending: -cancel.points });
    this.tally('pointsPendingCancelled', cancel.points);
    return cancel;
  }

  /**
   * Pending points become spendable at their instant (§13.5): credited with their growth (what fits
   * below 2^53 − 1) as a grant whose expiry counts from now. Under growth tiers the growth counts
   * towards the tier now, and reaching a threshold upgrades the member now: the tier's bonus, a new
   * period, the metric carried forward as a purchase's upgrade carries it.
   */
  private activate(m: Member, lot: PendingLot): void {
    const p = this.program;
    const at = lot.activatesAt;
    const points = fitting(m.points, lot.points);
    const growth = fitting(m.growth, lot.growth);
    this.entry(m, at, 'points_activate', lot.orderId, { points, growth, pending: -lot.points });
    this.creditPoints(m, points, at);
    this.tally('pointsIssued', points);
    m.growth += growth;
    if (p.qualifyBy !== 'growth' || growth === 0) return;
    m.periodMetric += fitting(m.periodMetric, growth);
    const to = this.qualifying(m.periodMetric);
    if (to <= this.tierIndex(m.tierId)) return;
    const tier = p.tiers[to]!;
    const bonus = fitting(m.points, tier.upgradeBonusPoints);
    this.entry(m, at, 'upgrade', `upgrade:${at}`, { points: bonus, tierId: tier.id });
    this.creditPoints(m, bonus, at);
    this.tally('pointsIssued', bonus);
    m.periodMetric = this.carried(m.periodMetric, tier.threshold);
    m.tierId = tier.id; m.periodStart = at; m.periodStartTierId = tier.id;
    m.periodEnd = p.membershipDays === null ? null : at + p.membershipDays * DAY_MS;
    this.hold(m);
  }

  private insertGrant(m: Member, g: Grant): void {
    let i = m.grants.length;
    while (i > 0 && (m.grants[i - 1]!.expiresAt > g.expiresAt || (m.grants[i - 1]!.expiresAt === g.expiresAt && m.grants[i - 1]!.id > g.id))) i--;
    m.grants.splice(i, 0, g);
  }

  /** Credits points (> 0): with expiry on, the part above zero becomes a grant expiring `days` after `at`. */
  private creditPoints(m: Member, points: number, at: number): void {
    if (points <= 0) return;
    this.grantSeq += 1;
    const days = this.program.pointsExpiryDays;
    const granted = Math.min(points, Math.max(0, m.points + points));
    if (days !== null && granted > 0) this.insertGrant(m, { id: this.grantSeq, expiresAt: at + days * DAY_MS, remaining: granted });
    m.points += points;
  }

  /** Debits points (> 0), oldest expiry first; what no grant covers comes from points that never expire. */
  private debitPoints(m: Member, points: number): Took[] {
    if (points <= 0) return [];
    const took: Took[] = [];
    let left = points;
    while (left > 0 && m.grants.length > 0) {
      const g = m.grants[0]!;
      const take = Math.min(left, g.remaining);
      g.remaining -= take;
      left -= take;
      took.push({ id: g.id, expiresAt: g.expiresAt, points: take });
      if (g.remaining === 0) m.grants.shift();
    }
    m.points -= points;
    return took;
  }

  /** Puts `points` back to the grants a debit took them from, in that order; a debt is repaid first. */
  private restorePoints(m: Member, from: Took[], points: number): Took[] {
    let left = Math.min(points, Math.max(0, m.points + points));
    const used: Took[] = [];
    for (const t of from) {
      if (left === 0) break;
      const back = Math.min(left, t.points);
      const g = m.grants.find((x) => x.id === t.id);
      if (g !== undefined) g.remaining += back;
      else this.insertGrant(m, { id: t.id, expiresAt: t.expiresAt, remaining: back });
      used.push({ id: t.id, expiresAt: t.expiresAt, points: back });
      left -= back;
    }
    m.points += points;
    return used;
  }

  // ---------------------------------------------------------------- time

  nextBirthday(m: Member): number | null {
    if (m.birthdayMonth === 0) return null;
    return birthdayGiftAt(m.lastBirthdayYear + 1, m.birthdayMonth, m.birthdayDay, this.program.timezone);
  }

  /** The member's next time-driven event: a period end, a grant expiry, pending points activating or a birthday gift. */
  nextEvent(m: Member): number | null {
    const times = [m.periodEnd, m.grants[0]?.expiresAt ?? null, m.pending[0]?.activatesAt ?? null, this.nextBirthday(m)].filter((t): t is number => t !== null);
    return times.length === 0 ? null : Math.min(...times);
  }

  private settleBirthday(m: Member, at: number): void {
    if (m.birthdayMonth === 0) return;
    const year = localDate(at, this.program.timezone).year;
    m.lastBirthdayYear = at >= birthdayGiftAt(year, m.birthdayMonth, m.birthdayDay, this.program.timezone) ? year : year - 1;
  }

  /** Applies every event due at or before `toMs` in time order (period end, then expiry, then activation, then birthday, §6.4). */
  advance(m: Member, toMs: number): void {
    for (let n = 0; ; n++) {
      if (n > EVENTS_MAX) throw new Error(`model: member ${m.memberId} has more than ${EVENTS_MAX} events before ${iso(toMs)}`);
      const periodEnd = m.periodEnd;
      const expiry = m.grants[0]?.expiresAt ?? null;
      const activation = m.pending[0]?.activatesAt ?? null;
      const birthday = this.nextBirthday(m);
      const times = [periodEnd, expiry, activation, birthday].filter((t): t is number => t !== null);
      if (times.length === 0) return;
      const next = Math.min(...times);
      if (next > toMs) return;
      if (next === periodEnd) this.endPeriod(m, next);
      else if (next === expiry) {
        let points = 0;
        while (m.grants.length > 0 && m.grants[0]!.expiresAt <= next) points += m.grants.shift()!.remaining;
        this.entry(m, next, 'expire', `expire:${next}`, { points: -points });
        m.points -= points;
        this.tally('pointsExpired', points);
      } else if (next === activation) {
        this.activate(m, m.pending.shift()!);
      } else {
        m.lastBirthdayYear += 1;
        const bonus = fitting(m.points, this.program.birthday.bonusPoints);
        // Only the current year's gift is paid; a year passed over entirely is skipped.
        if (m.lastBirthdayYear === localDate(toMs, this.program.timezone).year) {
          if (bonus > 0) {
            this.entry(m, next, 'birthday', `birthday:${next}`, { points: bonus });
            this.creditPoints(m, bonus, next);
            this.tally('pointsIssued', bonus);
          }
          // The gift's coupons (§12.7), also with a gift of no points, on the tier the member
          // holds at the birthday (the tier after the event), their entries right after the
          // gift's. Their codes come with no answer: the simulator reads them from the ledger.
          this.issueByRules(m, 'birthday', undefined, 0, next, null);
        }
      }
    }
  }

  private endPeriod(m: Member, at: number): void {
    const p = this.program;
    const days = p.membershipDays;
    if (days === null) { m.periodEnd = null; return; }
    const t = this.tierIndex(m.tierId);
    if (t > 0 && m.periodMetric >= this.retain(t)) {
      const bonus = fitting(m.points, p.tiers[t]!.renewalBonusPoints);
      this.entry(m, at, 'renew', `renew:${at}`, { points: bonus, tierId: m.tierId });
      this.creditPoints(m, bonus, at);
      this.tally('pointsIssued', bonus);
      m.periodStart = at; m.periodEnd = at + days * DAY_MS; m.periodMetric = 0; m.periodStartTierId = m.tierId;
      this.hold(m);
      return;
    }
    let to = 0;
    if (p.downgrade === 'one') to = Math.max(0, t - 1);
    else for (let i = t - 1; i > 0; i--) if (m.periodMetric >= this.retain(i)) { to = i; break; }
    const tierId = p.tiers[to]!.id;
    this.entry(m, at, 'downgrade', `downgrade:${at}`, { tierId });
    m.tierId = tierId; m.periodStart = at; m.periodMetric = 0; m.periodStartTierId = tierId;
    m.periodEnd = to === 0 ? null : at + days * DAY_MS;
    this.hold(m);
  }

  /** The sweep (README, "The sweep"): every member brought up to `asOfMs`; returns how many had an event due. */
  sweep(asOfMs: number): number {
    let due = 0;
    for (const id of this.memberOrder) {
      const m = this.members.get(id)!;
      const next = this.nextEvent(m);
      if (next === null || next > asOfMs) continue;
      due += 1;
      this.advance(m, asOfMs);
    }
    // Then active coupons past their expiry, each dated at its expiry (§12.8), in expiry order.
    const expiring = this.coupons.all().filter((c) => c.state === 'active' && c.expiresAt <= asOfMs)
      .sort((a, b) => a.expiresAt - b.expiresAt || (a.code < b.code ? -1 : a.code > b.code ? 1 : 0));
    this.sweeps += 1;
    for (const c of expiring) {
      this.setCouponState(c, 'expired', c.expiresAt, 'coupon_expire');
      this.members.get(c.memberId)!.entries.at(-1)!.sweep = this.sweeps;
    }
    // Then count cards past their expiry (test/sim/rewards.ts).
    this.rewards.expireCards(asOfMs);
    return due;
  }

  // ---------------------------------------------------------------- views

  view(m: Member): Body {
    const p = m.profile;
    const expiring: Array<{ at: string; points: number }> = [];
    for (const g of m.grants) {
      const last = expiring[expiring.length - 1];
      if (last !== undefined && last.at === iso(g.expiresAt)) last.points += g.remaining;
      else if (expiring.length < 5) expiring.push({ at: iso(g.expiresAt)!, points: g.remaining });
      else break;
    }
    // The next five activation instants, the lots of one instant together (§13.5).
    const activating: Array<{ at: string; points: number }> = [];
    for (const l of m.pending) {
      const last = activating[activating.length - 1];
      if (last !== undefined && last.at === iso(l.activatesAt)) last.points += l.points;
      else if (activating.length < 5) activating.push({ at: iso(l.activatesAt)!, points: l.points });
      else break;
    }
    return {
      memberId: m.memberId, name: p.name ?? null, phone: p.phone ?? null, email: p.email ?? null, birthday: p.birthday ?? null,
      gender: p.gender ?? null, address: p.address ?? null, storeId: p.storeId ?? null, channel: p.channel ?? null, staffId: p.staffId ?? null,
      tierId: m.tierId, periodStart: iso(m.periodStart), periodEnd: iso(m.periodEnd), periodMetric: m.periodMetric,
      points: m.points, growth: m.growth, walletCents: m.walletCents, lifetimeSpendCents: m.lifetimeSpendCents,
      purchaseCount: m.purchaseCount, firstPurchaseAt: iso(m.firstPurchaseAt), lastPurchaseAt: iso(m.lastPurchaseAt),
      referrerId: m.referrerId, referralChain: m.referralChain, createdAt: iso(m.createdAt), pointsExpiring: expiring,
      pendingPoints: this.pendingTotal(m), pointsActivating: activating,
      ...(m.erasedAt === undefined ? {} : { erased: true, erasedAt: iso(m.erasedAt) }),
    };
  }

  /**
   * `POST /v1/members/{id}/erase { requestId }` at the server's `atMs` (docs/rules.md §15): the
   * member's events up to then first, then its personal data gone, its phone and email free, no
   * birthday any more, a `member_erase` entry without moves; the figures stay.
   */
  erase(memberId: string, requestId: string, atMs: number): Outcome {
    const m = this.members.get(memberId);
    if (m === undefined) return FAIL('member_not_found', [], 'memberId');
    this.advance(m, atMs);
    for (const f of ['name', 'phone', 'email', 'birthday', 'gender', 'address'] as const) {
      if (f === 'phone' && m.profile.phone !== undefined) this.phones.delete(m.profile.phone);
      if (f === 'email' && m.profile.email !== undefined) this.emails.delete(m.profile.email);
      delete m.profile[f];
    }
    m.birthdayMonth = 0;
    m.birthdayDay = 0;
    this.entry(m, atMs, 'member_erase', `req:${requestId}`, {});
    m.erasedAt = atMs;
    return { ok: true, answer: { memberId, erased: true, erasedAt: iso(atMs) }, replayed: false, touched: [memberId] };
  }

  /** `GET /v1/members/{id}/balance?at=`: the fold of the member's entries dated at or before `atMs`. */
  balanceAt(m: Member, atMs: number): { points: number; growth: number; walletCents: number; pendingPoints: number } {
    const out = { points: 0, growth: 0, walletCents: 0, pendingPoints: 0 };
    for (const e of m.entries) if (e.at <= atMs) { out.points += e.points; out.growth += e.growth; out.walletCents += e.wallet; out.pendingPoints += e.pending; }
    return out;
  }

  /**
   * The daily report's pending columns (§10.2) for the local days `from` to `to`: points that
   * started waiting (a positive pending change) and pending points cancelled, per day with any.
   */
  dailyPending(from: string, to: string): Map<string, { pointsPending: number; pointsPendingCancelled: number }> {
    const out = new Map<string, { pointsPending: number; pointsPendingCancelled: number }>();
    for (const m of this.members.values()) {
      for (const e of m.entries) {
        // An activation's change counts in neither column.
        if (e.pending <= 0 && e.kind !== 'points_cancel') continue;
        const day = localDay(e.at, this.program.timezone);
        if (day < from || day > to) continue;
        const d = out.get(day) ?? { pointsPending: 0, pointsPendingCancelled: 0 };
        if (e.pending > 0) d.pointsPending += e.pending;
        else d.pointsPendingCancelled -= e.pending;
        out.set(day, d);
      }
    }
    return out;
  }

  /** The summary report, recomputed from the members and the running flows. */
  summary(): Body {
    const perTier: Record<string, number> = {};
    let points = 0n;
    let wallet = 0n;
    let pending = 0n;
    for (const m of this.members.values()) {
      perTier[m.tierId] = (perTier[m.tierId] ?? 0) + 1;
      points += BigInt(m.points);
      wallet += BigInt(m.walletCents);
      pending += BigInt(this.pendingTotal(m));
    }
    // Coupon events are counted from the ledger entries; what coupons took off orders is what the
    // coupons now used took (a full return's restore gives its discount back).
    const events: Record<string, number> = { coupon_issue: 0, coupon_use: 0, coupon_restore: 0, coupon_expire: 0, coupon_revoke: 0 };
    for (const m of this.members.values()) for (const e of m.entries) if (e.kind in events) events[e.kind]! += 1;
    let couponDiscountCents = 0n;
    for (const c of this.coupons.all()) if (c.state === 'used') couponDiscountCents += BigInt(c.discountCents);
    return {
      members: this.members.size, membersPerTier: perTier, pointsOutstanding: points, walletOutstandingCents: wallet,
      ...this.totals, pointsPending: pending,
      couponsIssued: events['coupon_issue'], couponsUsed: events['coupon_use'], couponsRestored: events['coupon_restore'],
      couponsExpired: events['coupon_expire'], couponsRevoked: events['coupon_revoke'], couponDiscountCents,
    };
  }

  /**
   * `GET /v1/reports/campaigns` (§10.7): per campaign, the orders it applied to whose purchase falls
   * on the local days `from` to `to`, as they stand now. A campaign's points still given are its
   * bonus and item points while part of the order remains, and, for the one whose multiplier is M,
   * floor(regular × M ÷ 100) − floor(regular × B ÷ 100) on the regular points of what remains.
   */
  campaignReport(from: string, to: string): { campaigns: CampaignRow[]; totals: Omit<CampaignRow, 'campaignId' | 'name'> } {
    const zone = this.program.timezone;
    const rows = new Map<string, CampaignRow>();
    const row = (id: string): CampaignRow => {
      let r = rows.get(id);
      if (r === undefined) {
        r = { campaignId: id, name: null, orders: 0, netSalesCents: 0n, returnedCents: 0n, extraPoints: 0n, extraPointsReturned: 0n, couponsIssued: 0 };
        rows.set(id, r);
      }
      return r;
    };
    for (const c of this.program.campaigns) row(c.id).name = c.name;
    const totals = { orders: 0, netSalesCents: 0n, returnedCents: 0n, extraPoints: 0n, extraPointsReturned: 0n, couponsIssued: 0 };
    for (const o of this.orders.values()) {
      if (o.campaigns === null || o.campaigns.applied.length === 0) continue;
      const date = localDay(o.at, zone);
      if (date < from || date > to) continue;
      const returned = o.returns.reduce((s, r) => s + r.amountCents, 0);
      const remaining = o.netCents - returned;
      const whole = remaining === 0 && o.returns.length > 0;
      const regular = mulDiv(remaining, o.rate.earnPoints, o.rate.earnCents) + o.rate.orderPoints;
      totals.orders += 1;
      totals.netSalesCents += BigInt(o.netCents);
      totals.returnedCents += BigInt(returned);
      for (const a of o.campaigns.applied) {
        const added = a.fixed + a.multiplierPoints;
        const now = whole ? 0 : a.fixed + (!a.holdsMultiplier ? 0 : mulDiv(regular, o.rate.multiplierPct, 100) - mulDiv(regular, o.campaigns.baseMultiplierPct, 100));
        const r = row(a.id);
        r.orders += 1;
        r.netSalesCents += BigInt(o.netCents);
        r.returnedCents += BigInt(returned);
        r.extraPoints += BigInt(added);
        r.extraPointsReturned += BigInt(added - now);
        totals.extraPoints += BigInt(added);
        totals.extraPointsReturned += BigInt(added - now);
      }
      for (const c of o.coupons?.issued ?? []) {
        if (c.campaignId === undefined) continue;
        row(c.campaignId).couponsIssued += 1;
        totals.couponsIssued += 1;
      }
    }
    const current = this.program.campaigns.map((c) => c.id);
    const gone = [...rows.keys()].filter((id) => !current.includes(id)).sort();
    return { campaigns: [...current, ...gone].map((id) => rows.get(id)!), totals };
  }

  entriesCount(): number {
    let n = this.programEntries;
    for (const m of this.members.values()) n += m.entries.length;
    return n;
  }

  // ---------------------------------------------------------------- kill steps

  /** Where the books' insertion orders stand, for reorderSince. */
  mark(): { members: number; orders: number; phones: number; emails: number; coupons: number } {
    return { members: this.memberOrder.length, orders: this.orders.size, phones: this.phones.size, emails: this.emails.size, coupons: this.coupons.all().length };
  }

  /**
   * Puts what was added since `mark` (members, orders, phones, emails, coupons) in the order of
   * `rank` of the member each belongs to. In a kill step the model applies the ops that made it
   * before the kill first and the others as they are resent: without this, where the kill fell
   * would change the order the planner draws from, and a seed would not replay.
   */
  reorderSince(mark: ReturnType<Model['mark']>, rank: (memberId: string) => number): void {
    const byRank = <T>(list: T[], memberOf: (x: T) => string): T[] => list.sort((a, b) => rank(memberOf(a)) - rank(memberOf(b)));
    this.memberOrder.push(...byRank(this.memberOrder.splice(mark.members), (id) => id));
    const reinsert = <V>(map: Map<string, V>, from: number, memberOf: (entry: [string, V]) => string): void => {
      const added = byRank([...map].slice(from), memberOf);
      for (const [k] of added) map.delete(k);
      for (const [k, v] of added) map.set(k, v);
    };
    reinsert(this.orders, mark.orders, ([, o]) => o.memberId);
    reinsert(this.phones, mark.phones, ([, id]) => id);
    reinsert(this.emails, mark.emails, ([, id]) => id);
    this.coupons.reorderSince(mark.coupons, rank);
  }

  // ---------------------------------------------------------------- coupons

  couponTemplate(templateId: string): SimCouponTemplate | undefined {
    return this.program.coupons.find((t) => t.id === templateId);
  }

  /**
   * The coupons an order names, checked in order (§12.5, §12.6) and valued (§12.4), or the refusal:
   * an unknown code is coupon_not_found, any other coupon_not_usable with its reason; both name
   * the code's index.
   */
  private checkCoupons(m: Member, codes: readonly string[], order: { channel: SimChannel | undefined; baseCents: number; at: number }): { coupons: SimCoupon[]; values: number[] } | Outcome {
    const coupons: SimCoupon[] = [];
    const templates: SimCouponTemplate[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < codes.length; i++) {
      const field = `couponCodes[${i}]`;
      const c = this.coupons.byCode.get(codes[i]!);
      if (c === undefined) return FAIL('coupon_not_found', [m.memberId], field);
      const template = this.couponTemplate(c.templateId);
      const reason = usabilityRefusal(c, template, { memberId: m.memberId, tierId: m.tierId, ...order }, seen);
      if (reason !== null) return FAIL('coupon_not_usable', [m.memberId], field, reason);
      seen.add(c.templateId);
      coupons.push(c);
      templates.push(template!);
    }
    return { coupons, values: orderValues(templates, order.baseCents) };
  }

  /**
   * Issues one coupon of `template` at `at`, or says why not (§12.3). Its code is the next one the
   * server's answer lists (`couponsIssued`, or the issue's own `code`), else a placeholder.
   */
  private issueCoupon(m: Member, template: SimCouponTemplate, at: number, source: string, orderId: string | null, code: string | null): SimCoupon | string {
    const zone = this.program.timezone;
    const refusal = issueRefusal(template, at, zone, this.coupons.issuedTo(m.memberId, template.id), this.coupons.issuedTotal(template.id));
    if (refusal !== null) return refusal;
    const known = code !== null && !CouponBook.isPlaceholder(code) && !this.coupons.byCode.has(code);
    const { validFrom, expiresAt } = couponValidity(template, at, zone);
    const c: SimCoupon = {
      code: known ? code : this.coupons.placeholder(), templateId: template.id, memberId: m.memberId, state: 'active',
      issuedAt: at, validFrom, expiresAt, source, issuedByOrderId: orderId, usedOrderId: null, discountCents: 0, history: [['active', at]],
    };
    this.coupons.add(c);
    this.entry(m, at, 'coupon_issue', c.code, {});
    return c;
  }

  /**
   * The coupons of every rule of `trigger` that fires (§12.7), in program order; a rule that cannot
   * issue is listed with its reason. `answered` is how many coupons of the answer's `couponsIssued`
   * earlier rules of the same op took.
   */
  private issueByRules(m: Member, trigger: SimCouponTrigger, channel: SimChannel | undefined, netCents: number, at: number, orderId: string | null, answered = 0): { issued: IssuedView[]; skipped: SkippedView[] } {
    const issued: IssuedView[] = [];
    const skipped: SkippedView[] = [];
    const listed = trigger === 'birthday' ? [] : (this.answerNow?.['couponsIssued'] as Array<{ code?: unknown }> | undefined) ?? [];
    for (const rule of firingRules(this.program, trigger, m.tierId, channel, netCents)) {
      const template = this.couponTemplate(rule.templateId);
      if (template === undefined) { skipped.push({ ruleId: rule.id, templateId: rule.templateId, reason: 'template_removed' }); continue; }
      const code = listed[answered + issued.length]?.code;
      const made = this.issueCoupon(m, template, at, `rule:${rule.id}`, orderId, typeof code === 'string' ? code : null);
      if (typeof made === 'string') skipped.push({ ruleId: rule.id, templateId: rule.templateId, reason: made });
      else issued.push({ code: made.code, templateId: made.templateId, ruleId: rule.id, validFrom: iso(made.validFrom)!, expiresAt: iso(made.expiresAt)! });
    }
    return { issued, skipped };
  }

  /**
   * A coupon for each campaign that applied to purchase `orderId` and names a template (§12.7,
   * §13.4), in program order, after the purchase's rules' (`answered` of the answer's
   * `couponsIssued` are theirs); one that cannot issue is listed by campaign with the reason.
   */
  private issueByCampaigns(m: Member, applying: readonly SimCampaign[], at: number, orderId: string, answered: number): { issued: IssuedView[]; skipped: SkippedView[] } {
    const issued: IssuedView[] = [];
    const skipped: SkippedView[] = [];
    const listed = (this.answerNow?.['couponsIssued'] as Array<{ code?: unknown }> | undefined) ?? [];
    for (const campaign of applying) {
      const templateId = campaign.couponTemplateId;
      if (templateId === null) continue;
      const template = this.couponTemplate(templateId);
      if (template === undefined) { skipped.push({ campaignId: campaign.id, templateId, reason: 'template_removed' }); continue; }
      const code = listed[answered + issued.length]?.code;
      const made = this.issueCoupon(m, template, at, `campaign:${campaign.id}`, orderId, typeof code === 'string' ? code : null);
      if (typeof made === 'string') skipped.push({ campaignId: campaign.id, templateId, reason: made });
      else issued.push({ code: made.code, templateId, campaignId: campaign.id, validFrom: iso(made.validFrom)!, expiresAt: iso(made.expiresAt)! });
    }
    return { issued, skipped };
  }

  private setCouponState(c: SimCoupon, state: SimCoupon['state'], at: number, kind: string): void {
    c.state = state;
    c.history.push([state, at]);
    this.entry(this.members.get(c.memberId)!, at, kind, c.code, {});
  }

  /**
   * A full return (§12.8): the coupons the order used come back when their template (as the
   * program has it now) says so and the return is before their expiry; those its rules issued and
   * still active are revoked.
   */
  private unwindCoupons(order: Order, at: number): { restored: string[]; revoked: string[] } {
    const restored: string[] = [];
    const revoked: string[] = [];
    for (const u of order.coupons!.used) {
      const c = this.coupons.byCode.get(u.code)!;
      const template = this.couponTemplate(c.templateId);
      if (c.state !== 'used' || c.usedOrderId !== order.orderId || template === undefined || !template.restoreOnFullReturn || at >= c.expiresAt) continue;
      c.usedOrderId = null;
      c.discountCents = 0;
      this.setCouponState(c, 'active', at, 'coupon_restore');
      restored.push(c.code);
    }
    for (const v of order.coupons!.issued) {
      const c = this.coupons.byCode.get(v.code);
      if (c === undefined || c.state !== 'active') continue;
      this.setCouponState(c, 'revoked', at, 'coupon_revoke');
      revoked.push(c.code);
    }
    return { restored, revoked };
  }

  /** A coupon as an issue or a revocation answers it. */
  couponAnswer(c: SimCoupon): Body {
    return { code: c.code, templateId: c.templateId, memberId: c.memberId, state: c.state, issuedAt: iso(c.issuedAt), validFrom: iso(c.validFrom), expiresAt: iso(c.expiresAt) };
  }

  /** `GET /v1/coupons/{code}` and the member's list: the coupon now, with every state it took. */
  couponView(c: SimCoupon): Body {
    return {
      ...this.couponAnswer(c), source: c.source, orderId: c.issuedByOrderId, usedOrderId: c.usedOrderId, discountCents: c.discountCents,
      history: c.history.map(([state, at]) => ({ state, at: iso(at) })),
    };
  }

  /** The member view's `coupons`: the active ones, soonest expiry first (ties by code). */
  heldCoupons(memberId: string): Body[] {
    return this.coupons.ofMember(memberId).filter((c) => c.state === 'active')
      .sort((a, b) => a.expiresAt - b.expiresAt || (a.code < b.code ? -1 : a.code > b.code ? 1 : 0))
      .map((c) => ({ code: c.code, templateId: c.templateId, expiresAt: iso(c.expiresAt) }));
  }

  /** A coupon's state at `atMs`: its latest change by then (the last listed of equal instants), null before its issue. */
  couponStateAt(c: SimCoupon, atMs: number): string | null {
    let best: [string, number] | null = null;
    for (const [state, at] of c.history) if (at <= atMs && (best === null || at >= best[1])) best = [state, at];
    return best === null ? null : best[0];
  }

  /**
   * `POST /v1/coupons/issue` (admin): one coupon to one member, or 422 coupon_limit with the
   * reason. A template the program in force lacks is refused before anything else, a retry of an
   * issue whose template was removed since included (docs/api.md: nothing reaches a shard).
   */
  private couponIssue(body: Body, at: number): Outcome {
    const memberId = body['memberId'] as string;
    const template = this.couponTemplate(body['templateId'] as string);
    if (template === undefined) return FAIL('coupon_template_not_found', [], 'templateId');
    const key = `req:${String(body['requestId'])}`;
    const scope = this.scope(key, this.shard(memberId));
    const replay = this.keyed('coupon_issue', scope, body);
    if (replay !== null) return replay;
    const m = this.members.get(memberId);
    if (m === undefined) return FAIL('member_not_found', [], 'memberId');
    this.advance(m, at);
    const code = this.answerNow?.['code'];
    const made = this.issueCoupon(m, template, at, 'admin', null, typeof code === 'string' ? code : null);
    if (typeof made === 'string') return FAIL('coupon_limit', [memberId], 'templateId', made);
    const answer: Body = { ...this.couponAnswer(made), couponsIssued: [{ code: made.code, templateId: made.templateId, validFrom: iso(made.validFrom), expiresAt: iso(made.expiresAt) }] };
    this.remember('coupon_issue', scope, body, answer);
    return { ok: true, answer, replayed: false, touched: [memberId] };
  }

  /** `POST /v1/coupons/{code}/revoke` (admin): an active coupon revoked, or 422 coupon_not_active with its state. */
  private couponRevoke(body: Body, at: number): Outcome {
    const c = this.coupons.byCode.get(normalizeCode(body['code'] as string));
    if (c === undefined) return FAIL('coupon_not_found');
    const m = this.members.get(c.memberId)!;
    const key = `req:${String(body['requestId'])}`;
    const scope = this.scope(key, m.shard);
    const replay = this.keyed('coupon_revoke', scope, body);
    if (replay !== null) return replay;
    this.advance(m, at);
    if (c.state !== 'active') return FAIL('coupon_not_active', [m.memberId], 'code', c.state);
    this.setCouponState(c, 'revoked', at, 'coupon_revoke');
    const answer = this.couponAnswer(c);
    this.remember('coupon_revoke', scope, body, answer);
    return { ok: true, answer, replayed: false, touched: [m.memberId] };
  }

  /**
   * Learns the codes of a member's placeholder coupons from the server's ledger of that member
   * (oldest first): the model's entries and the server's stand side by side, so the server's
   * `coupon_issue` entry at a placeholder's index carries its code. Returns how many stay unknown.
   */
  learnCodes(memberId: string, server: ReadonlyArray<{ kind: string; ref: string }>): number {
    const m = this.members.get(memberId);
    if (m === undefined) return 0;
    let unknown = 0;
    m.entries.forEach((e, i) => {
      if (e.kind !== 'coupon_issue' || !CouponBook.isPlaceholder(e.ref)) return;
      const s = server[i];
      const c = this.coupons.byCode.get(e.ref)!;
      if (s === undefined || s.kind !== 'coupon_issue' || this.coupons.byCode.has(s.ref)) { unknown += 1; return; }
      this.renameCoupon(c, s.ref);
    });
    return unknown;
  }

  private renameCoupon(c: SimCoupon, code: string): void {
    const old = c.code;
    this.coupons.rename(c, code);
    const entries = this.members.get(c.memberId)!.entries;
    for (const e of entries) if (e.ref === old) e.ref = code;
    // A sweep that issued a birthday's coupons and expired them at one instant did so in code order.
    for (let i = 0; i < entries.length;) {
      let j = i + 1;
      while (j < entries.length && entries[i]!.sweep !== undefined && entries[j]!.sweep === entries[i]!.sweep && entries[j]!.at === entries[i]!.at) j++;
      if (j - i > 1) entries.splice(i, j - i, ...entries.slice(i, j).sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0)));
      i = j;
    }
    this.placeholderAnswers = this.placeholderAnswers.filter((a) => replaceString(a, old, code));
    this.placeholderLists = this.placeholderLists.filter((list) => {
      list.sort((a, b) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0));
      return list.some((c) => CouponBook.isPlaceholder(c.code));
    });
  }

  // ---------------------------------------------------------------- ops

  /** The idempotency scope of a key: its shard, or everywhere for request keys under `cross-shard-keys`. */
  private scope(key: string, shard: number): string {
    return key.startsWith('req:') && this.options.globalRequestKeys ? `*|${key}` : `${shard}|${key}`;
  }

  /** The stored answer for the key, a conflict, or null when the key is new. */
  private keyed(name: OpName, scope: string, body: Body, conflict = 'idempotency_conflict', role?: Role): Outcome | null {
    const stored = this.keys.get(scope);
    if (stored === undefined) return null;
    if (stored.fp !== name + canonical(meaning(name, body, role))) return FAIL(conflict);
    return { ok: true, answer: stored.answer, replayed: true, touched: [] };
  }

  private remember(name: OpName, scope: string, body: Body, answer: Body, role?: Role): void {
    this.keys.set(scope, { fp: name + canonical(meaning(name, body, role)), answer });
  }

  /**
   * One op as the server receives it. `nowMs` is the server's clock (PATCH happens now); `generatedId`
   * is the id the server gave a registration sent without `memberId`.
   */
  apply(name: OpName, body: Body, ctx: { role: Role; nowMs: number; generatedId?: string; answer?: Body }): Outcome {
    this.answerNow = ctx.answer ?? null;
    try {
      const outcome = this.applyOp(name, body, ctx);
      // A quote lists coupons its own catch-up issued: its answer takes their codes once learnt.
      if (outcome.ok && !this.placeholderAnswers.includes(outcome.answer) && holdsPlaceholder(outcome.answer)) this.placeholderAnswers.push(outcome.answer);
      return outcome;
    } finally {
      this.answerNow = null;
    }
  }

  private applyOp(name: OpName, body: Body, ctx: { role: Role; nowMs: number; generatedId?: string }): Outcome {
    if (body['at'] !== undefined && this.options.refuseAncientAt && parseAt(body['at']) < AT_MIN_MS) return FAIL('invalid_request', [], 'at');
    const at = body['at'] === undefined ? ctx.nowMs : parseAt(body['at']);
    switch (name) {
      case 'coupon_issue': return this.couponIssue(body, at);
      case 'coupon_revoke': return this.couponRevoke(body, at);
      case 'reward_redeem': return this.rewards.redeem(body, at);
      case 'reward_fulfil': case 'reward_cancel': return this.rewards.step(name, body, at);
      case 'reward_stock': return this.rewards.restock(body, at);
      case 'card_use': case 'card_adjust': return this.rewards.cardOp(name, body, at);
      case 'register': return this.register(body, at, ctx.generatedId);
      case 'patch': return this.patch(body, ctx.nowMs);
      case 'purchase': return this.purchase(body, at);
      case 'return': return this.returnOrder(body, at);
      case 'quote': return this.quote(body, at);
      case 'transfer': return this.transfer(body, at);
      case 'product_purchase': return this.product(body, at, ctx.role);
      default: return this.simple(name, body, at);
    }
  }

  private register(body: Body, at: number, generatedId: string | undefined): Outcome {
    const p = this.program;
    let chain: string[] = [];
    const referrerId = body['referrerId'] as string | undefined;
    if (referrerId !== undefined) {
      const referrer = this.members.get(referrerId);
      if (referrer === undefined) return FAIL('referrer_not_found', [], 'referrerId');
      chain = [referrerId, ...referrer.referralChain].slice(0, p.referral.levels.length);
    }
    const byId = body['memberId'] !== undefined;
    const memberId = byId ? body['memberId'] as string : (generatedId ?? `(generated for ${String(body['requestId'])})`);
    const key = byId ? `reg:m:${memberId}` : `reg:${String(body['requestId'])}`;
    const shard = byId ? this.shard(memberId) : shardOf(key, this.options.shards);
    const scope = this.scope(key, shard);
    const replay = this.keyed('register', scope, body, byId ? 'member_exists' : 'idempotency_conflict');
    if (replay !== null) return replay;
    if (this.members.has(memberId)) return FAIL('member_exists', [], 'memberId');
    const tierId = (body['tierId'] as string | undefined) ?? p.tiers[0]!.id;
    if (!p.tiers.some((t) => t.id === tierId)) return FAIL('tier_not_found', [], 'tierId');
    const phone = body['phone'] as string | undefined;
    const email = body['email'] as string | undefined;
    if (phone !== undefined && this.phones.has(phone)) return FAIL('phone_taken', [], 'phone');
    if (email !== undefined && this.emails.has(email)) return FAIL('email_taken', [], 'email');

    const profile: Profile = {};
    for (const f of PROFILE_FIELDS) if (body[f] !== undefined) profile[f] = body[f] as string;
    const birthday = profile.birthday;
    const index = this.tierIndex(tierId);
    const m: Member = {
      memberId, shard: this.shard(memberId), createdAt: at, profile, referrerId: referrerId ?? null, referralChain: chain,
      tierId, periodStart: at, periodEnd: index > 0 && p.membershipDays !== null ? at + p.membershipDays * DAY_MS : null,
      periodMetric: 0, periodStartTierId: tierId, points: 0, growth: 0, walletCents: (body['walletCents'] as number | undefined) ?? 0,
      lifetimeSpendCents: 0, purchaseCount: 0, firstPurchaseAt: null, lastPurchaseAt: null, standingOrders: 0,
      birthdayMonth: birthday === undefined ? 0 : Number(birthday.slice(5, 7)),
      birthdayDay: birthday === undefined ? 0 : Number(birthday.slice(8, 10)),
      lastBirthdayYear: 0, grants: [], pending: [], entries: [],
    };
    this.settleBirthday(m, at);
    const opening = ((body['points'] as number | undefined) ?? 0) + p.signupPoints;
    this.entry(m, at, 'register', key, { points: opening, wallet: m.walletCents, tierId });
    this.creditPoints(m, opening, at);
    this.tally('pointsIssued', opening);
    this.members.set(memberId, m);
    this.memberOrder.push(memberId);
    if (phone !== undefined) this.phones.set(phone, memberId);
    if (email !== undefined) this.emails.set(email, memberId);
    this.hold(m);
    const touched = [memberId];
    if (p.referral.enabled && chain.length > 0) {
      if (p.referral.refereePoints > 0) {
        this.entry(m, at, 'referral_reward', memberId, { points: p.referral.refereePoints });
        this.creditPoints(m, p.referral.refereePoints, at);
        this.tally('pointsIssued', p.referral.refereePoints);
      }
      chain.forEach((ancestor, i) => {
        const points = p.referral.levels[i]?.registerPoints ?? 0;
        if (points > 0) { this.deliver(ancestor, 'referral_reward', points, 0, memberId, at, i + 1); touched.push(ancestor); }
      });
    }
    const answer: Body = { ...this.view(m), walletBalanceCents: m.walletCents };
    if (p.couponRules.length > 0) {
      // The welcome coupons, on the tier the registration gave (§12.7).
      const made = this.issueByRules(m, 'register', body['channel'] as SimChannel | undefined, 0, at, null);
      answer['couponsIssued'] = made.issued;
      answer['couponsSkipped'] = made.skipped;
    }
    this.remember('register', scope, body, answer);
    return { ok: true, answer, replayed: false, touched };
  }

  /**
   * A credit from another op (an outbox message): applied on the target at the source's time.
   * False when the target's wallet cannot take it (nothing written but the target's events up to
   * `at`); points that would leave the safe range are dropped (a reward, recorded as 0) or stop at
   * -(2^53 - 1) (a reversal). A referral purchase reward made inside a return window waits until
   * `pending.until` (§13.5); a reversal first cancels what of `pending.orderId`'s reward still waits.
   */
  private deliver(targetId: string, kind: string, points: number, walletCents: number, ref: string, at: number, level: number,
    pending: { until: number | null; orderId: string } | null = null): boolean {
    const m = this.members.get(targetId)!;
    this.advance(m, at);
    if (!safe(add(m.walletCents, walletCents))) return false;
    const countReferral = (n: number) => {
      if (level > 0) this.referralPoints.set(`${targetId}|${level}`, (this.referralPoints.get(`${targetId}|${level}`) ?? 0) + n);
    };
    if (kind === 'referral_reward' && pending !== null && pending.until !== null && points > 0) {
      // An entry of pending points alone; the referral report counts them at once.
      this.entry(m, at, kind, ref, { pending: points });
      this.addPending(m, { activatesAt: pending.until, points, growth: 0, orderId: pending.orderId });
      countReferral(points);
      return true;
    }
    // What the reversal cancels of the pending reward is cancelled after the reversal's own entry.
    const lot = kind === 'referral_reversal' && pending !== null && points < 0 ? m.pending.find((l) => l.orderId === pending.orderId) : undefined;
    const cancelling = lot === undefined ? 0 : Math.min(-points, lot.points);
    const due = points + cancelling;
    // A reversal takes at most what the member holds unless the program allows negative points.
    let applied = due < 0 && !this.program.allowNegativePoints ? -Math.min(-due, Math.max(0, m.points)) : due;
    if (!safe(add(m.points, applied))) applied = applied > 0 ? 0 : -SAFE_MAX - m.points;
    this.entry(m, at, kind, ref, { points: applied, wallet: walletCents });
    const cancelled = lot === undefined ? 0 : this.cancelPending(m, pending!.orderId, cancelling, 0, at, ref).points;
    if (applied > 0) this.creditPoints(m, applied, at); else this.debitPoints(m, -applied);
    m.walletCents += walletCents;
    if (applied > 0) this.tally('pointsIssued', applied); else this.tally('pointsClawedBack', -applied);
    countReferral(applied - cancelled);
    return true;
  }

  private patch(body: Body, nowMs: number): Outcome {
    const memberId = body['memberId'] as string;
    const m = this.members.get(memberId);
    if (m === undefined) return FAIL('member_not_found');
    // A profile change happens now: the member's events up to the server's clock come first.
    this.advance(m, nowMs);
    const phone = body['phone'] as string | undefined;
    const email = body['email'] as string | undefined;
    if (phone !== undefined && (this.phones.get(phone) ?? memberId) !== memberId) return FAIL('phone_taken', [memberId], 'phone');
    if (email !== undefined && (this.emails.get(email) ?? memberId) !== memberId) return FAIL('email_taken', [memberId], 'email');
    if (phone !== undefined) {
      if (m.profile.phone !== undefined) this.phones.delete(m.profile.phone);
      this.phones.set(phone, memberId);
    }
    if (email !== undefined) {
      if (m.profile.email !== undefined) this.emails.delete(m.profile.email);
      this.emails.set(email, memberId);
    }
    // A change leaves a member_update entry naming the fields whose values changed (for webhooks).
    const changed = PROFILE_FIELDS.filter((f) => body[f] !== undefined && m.profile[f] !== body[f]);
    if (changed.length > 0) this.entry(m, nowMs, 'member_update', changed.join(','), {});
    for (const f of PROFILE_FIELDS) if (body[f] !== undefined) m.profile[f] = body[f] as string;
    const birthday = body['birthday'] as string | undefined;
    if (birthday !== undefined && !this.options.patchBirthdayFully) m.birthdayMonth = Number(birthday.slice(5, 7));
    const month = Number(birthday?.slice(5, 7));
    const day = Number(birthday?.slice(8, 10));
    if (birthday !== undefined && this.options.patchBirthdayFully && (month !== m.birthdayMonth || day !== m.birthdayDay)) {
      // A birthday set or changed counts from the change as for a new member (one already past
      // this year waits for next year), and a year whose gift was paid is never paid again.
      const paidYear = m.lastBirthdayYear;
      m.birthdayMonth = month;
      m.birthdayDay = day;
      this.settleBirthday(m, nowMs);
      m.lastBirthdayYear = Math.max(m.lastBirthdayYear, paidYear);
    }
    return { ok: true, answer: { ...this.view(m), walletBalanceCents: m.walletCents }, replayed: false, touched: [memberId] };
  }

  private earned(rate: { earnCents: number; earnPoints: number; orderPoints: number; multiplierPct: number }, netCents: number, withFixed: boolean): number {
    const base = mulDiv(netCents, rate.earnPoints, rate.earnCents) + (withFixed ? rate.orderPoints : 0);
    return mulDiv(base, rate.multiplierPct, 100);
  }

  /**
   * The campaigns of a purchase (or a quote) by member `m` at `at` on `netCents` at `tier`, the tier
   * it earns at (docs/rules.md §13.1-13.2), written out plainly: the multiplier M (the largest of
   * the birthday month's and the applying campaigns' above 100), their bonus and item points, and
   * each applying campaign's id with the points it added; the applying campaigns themselves, in
   * program order, for their coupons.
   */
  private campaignsOf(m: Member, at: number, netCents: number, tier: SimTier, body: Body): {
    applying: SimCampaign[]; multiplierPct: number; extraPoints: number; list: Array<{ id: string; points: number }>; order: OrderCampaigns;
  } {
    const p = this.program;
    const b = this.inBirthdayMonth(m, at) ? p.birthday.multiplierPct : 100;
    const local = localDate(at, p.timezone);
    const date = localDay(at, p.timezone);
    // 1970-01-01 was a Thursday (ISO 4).
    const isoDay = ((Math.floor(Date.UTC(local.year, local.month - 1, local.day) / DAY_MS) + 3) % 7 + 7) % 7 + 1;
    const channel = body['channel'] as string | undefined;
    const storeId = body['storeId'] as string | undefined;
    const items = (body['items'] as Array<{ sku: string; qty: number }> | undefined) ?? [];
    const applies = (c: SimCampaign): boolean => c.active
      && (c.from === null || date >= c.from) && (c.to === null || date <= c.to)
      && (c.daysOfWeek === null || c.daysOfWeek.includes(isoDay))
      && (c.channels === null || (channel !== undefined && (c.channels as string[]).includes(channel)))
      && (c.storeIds === null || (storeId !== undefined && c.storeIds.includes(storeId)))
      && (c.tiers === null || c.tiers.includes(tier.id))
      && netCents >= c.minNetCents;
    const applying = p.campaigns.filter(applies);
    let multiplierPct = b;
    let winner = -1;
    applying.forEach((c, i) => { if (c.pointsMultiplierPct > 100 && c.pointsMultiplierPct > multiplierPct) { multiplierPct = c.pointsMultiplierPct; winner = i; } });
    const regular = mulDiv(netCents, tier.earn.points, tier.earn.cents) + p.orderPoints;
    let extraPoints = 0;
    const applied = applying.map((c, i) => {
      let fixed = c.bonusPoints;
      for (const item of items) fixed += (c.itemPoints.find((x) => x.sku === item.sku)?.points ?? 0) * item.qty;
      extraPoints += fixed;
      const multiplierPoints = i === winner ? mulDiv(regular, multiplierPct, 100) - mulDiv(regular, b, 100) : 0;
      return { id: c.id, fixed, multiplierPoints, holdsMultiplier: i === winner };
    });
    const list = applied.map((a) => ({ id: a.id, points: a.fixed + a.multiplierPoints }));
    return { applying, multiplierPct, extraPoints, list, order: { baseMultiplierPct: b, applied } };
  }

  private inBirthdayMonth(m: Member, at: number): boolean {
    return m.birthdayMonth !== 0 && localDate(at, this.program.timezone).month === m.birthdayMonth;
  }

  private purchase(body: Body, at: number): Outcome {
    const p = this.program;
    const memberId = body['memberId'] as string;
    const orderId = body['orderId'] as string;
    const scope = this.scope(`order:${orderId}`, this.shard(memberId));
    const replay = this.keyed('purchase', scope, body);
    if (replay !== null) return replay;
    const m = this.members.get(memberId);
    if (m === undefined) return FAIL('member_not_found', [], 'memberId');
    this.advance(m, at);
    const amountCents = body['amountCents'] as number;
    const discountCents = (body['discountCents'] as number | undefined) ?? 0;
    const redeemPoints = (body['redeemPoints'] as number | undefined) ?? 0;
    const walletCents = (body['walletCents'] as number | undefined) ?? 0;
    const t = this.tierIndex(m.tierId);
    const tier = p.tiers[t]!;
    const redeemValueCents = mulDiv(redeemPoints, tier.redeem.cents, tier.redeem.points);
    // The coupons' checks come after the purchase's own and before the core's (§12.6).
    const codes = ((body['couponCodes'] as string[] | undefined) ?? []).map(normalizeCode);
    const channel = body['channel'] as SimChannel | undefined;
    const checked = this.checkCoupons(m, codes, { channel, baseCents: amountCents - discountCents, at });
    if (!('coupons' in checked)) return checked;
    const couponCents = checked.values.reduce((a, b) => a + b, 0);
    const netCents = amountCents - discountCents - couponCents - redeemValueCents;
    // Which check the server reports first when several fail is not part of the contract.
    const problems: string[] = [];
    if (netCents < 0 || walletCents > netCents) problems.push('negative_net');
    if (redeemPoints > 0 && redeemPoints > m.points) problems.push('insufficient_points');
    if (walletCents > m.walletCents) problems.push('insufficient_wallet');
    if (p.wallet.maxSpendCentsPerOrder !== null && walletCents > p.wallet.maxSpendCentsPerOrder) problems.push('wallet_limit');
    const campaigns = this.campaignsOf(m, at, netCents, tier, body);
    if (campaigns.extraPoints > CAMPAIGN_EXTRA_POINTS_MAX) problems.push('balance_limit');
    if (problems.length > 0) return FAIL(problems, [memberId]);

    const rate = {
      earnCents: tier.earn.cents, earnPoints: tier.earn.points, orderPoints: p.orderPoints,
      multiplierPct: campaigns.multiplierPct,
      growthPoints: p.growth.points, growthGrowth: p.growth.growth,
    };
    const earned = this.earned(rate, netCents, true) + campaigns.extraPoints;
    const orderGrowth = safe(earned) ? mulDiv(earned, rate.growthGrowth, rate.growthPoints) : Number.NaN;
    // Inside a return window the earned points and their growth wait (§13.5): the balances, and
    // the metric of growth tiers, get them at the activation; spend counts at once.
    const pendingUntil = p.pointsPendingDays > 0 ? at + p.pointsPendingDays * DAY_MS : null;
    const credited = pendingUntil === null ? earned : 0;
    const growthDelta = pendingUntil === null ? orderGrowth : 0;
    const metricGained = add(m.periodMetric, p.qualifyBy === 'spend' ? netCents : growthDelta);
    let target = t;
    p.tiers.forEach((x, i) => {
      if (i > t && (x.threshold <= metricGained || (x.expressUpgradeCents !== null && x.expressUpgradeCents <= netCents))) target = i;
    });
    const upgraded = target > t;
    const bonus = upgraded ? p.tiers[target]!.upgradeBonusPoints : 0;
    const pointsAfter = add(add(m.points - redeemPoints, credited), bonus);
    const periodEnd = upgraded && p.membershipDays !== null ? at + p.membershipDays * DAY_MS : 0;
    if (!safe(earned, orderGrowth, metricGained, pointsAfter, add(m.growth, growthDelta), add(m.lifetimeSpendCents, netCents), periodEnd)) {
      return FAIL('balance_limit', [memberId]);
    }

    const before = { periodStart: m.periodStart, periodEnd: m.periodEnd, periodStartTierId: m.periodStartTierId, periodMetric: m.periodMetric };
    const tierIdBefore = m.tierId;
    this.entry(m, at, 'purchase', orderId, { points: credited - redeemPoints, wallet: -walletCents, growth: growthDelta, spend: netCents, pending: earned - credited });
    const used = checked.coupons.map((c, i) => {
      c.usedOrderId = orderId;
      c.discountCents = checked.values[i]!;
      this.setCouponState(c, 'used', at, 'coupon_use');
      return { code: c.code, templateId: c.templateId, discountCents: checked.values[i]! };
    });
    const redeemedFrom = this.debitPoints(m, redeemPoints);
    this.creditPoints(m, credited, at);
    if (pendingUntil !== null && (earned > 0 || orderGrowth > 0)) this.addPending(m, { activatesAt: pendingUntil, points: earned, growth: orderGrowth, orderId });
    m.walletCents -= walletCents;
    m.growth += growthDelta;
    m.lifetimeSpendCents += netCents;
    m.purchaseCount += 1;
    m.firstPurchaseAt ??= at;
    m.lastPurchaseAt = m.lastPurchaseAt === null ? at : Math.max(m.lastPurchaseAt, at);
    m.periodMetric = metricGained;
    let upgradedTo: string | null = null;
    if (upgraded) {
      upgradedTo = p.tiers[target]!.id;
      this.entry(m, at, 'upgrade', orderId, { points: bonus, tierId: upgradedTo });
      this.creditPoints(m, bonus, at);
      this.tally('pointsIssued', bonus);
      m.periodMetric = this.carried(metricGained, p.tiers[target]!.threshold);
      m.tierId = upgradedTo; m.periodStart = at; m.periodStartTierId = upgradedTo;
      m.periodEnd = p.membershipDays === null ? null : at + p.membershipDays * DAY_MS;
    }
    let coupons: OrderCoupons | undefined;
    // A program whose active campaigns name a template gives every purchase the coupon fields (§13.4).
    if (p.couponRules.length > 0 || codes.length > 0 || p.campaigns.some((c) => c.active && c.couponTemplateId !== null)) {
      // Rules see the member after the purchase: the net it earned on and its tier; then the upgrade's; then the campaigns'.
      const byPurchase = this.issueByRules(m, 'purchase', channel, netCents, at, orderId);
      const byUpgrade = upgradedTo === null ? { issued: [], skipped: [] } : this.issueByRules(m, 'upgrade', channel, 0, at, orderId, byPurchase.issued.length);
      const byCampaigns = this.issueByCampaigns(m, campaigns.applying, at, orderId, byPurchase.issued.length + byUpgrade.issued.length);
      coupons = {
        discountCents: couponCents, used,
        issued: [...byPurchase.issued, ...byUpgrade.issued, ...byCampaigns.issued], skipped: [...byPurchase.skipped, ...byUpgrade.skipped, ...byCampaigns.skipped],
      };
    }
    this.tally('purchases', 1);
    this.tally('netSalesCents', netCents);
    // Pending points count as issued when they activate.
    this.tally('pointsIssued', credited);
    this.tally('pointsRedeemed', redeemPoints);

    const touched = [memberId];
    const rewards: Order['rewards'] = [];
    if (p.referral.enabled) {
      const first = m.standingOrders === 0;
      m.referralChain.forEach((ancestor, i) => {
        const level = p.referral.levels[i];
        if (level === undefined) return;
        const fixedPoints = first ? level.firstPurchasePoints : level.repeatPurchasePoints;
        const sharePoints = mulDiv(earned, level.purchaseSharePct, 100);
        if (fixedPoints + sharePoints > 0) rewards.push({ memberId: ancestor, fixedPoints, sharePct: level.purchaseSharePct, sharePoints });
      });
    }
    m.standingOrders += 1;
    for (const r of rewards) {
      // The ancestors' rewards wait with the purchase's own points.
      this.deliver(r.memberId, 'referral_reward', r.fixedPoints + r.sharePoints, 0, orderId, at, m.referralChain.indexOf(r.memberId) + 1, { until: pendingUntil, orderId });
      touched.push(r.memberId);
    }
    const order: Order = {
      orderId, memberId, at, amountCents, redeemPoints, walletCents, netCents, earnedPoints: earned, tierIdBefore, upgradedTo,
      express: upgradedTo !== null && p.tiers[target]!.threshold > metricGained,
      before, rate, rewards,
      now: { earnedPoints: earned, growth: orderGrowth, restoredPoints: 0, walletRefundedCents: 0, fixedReversed: false },
      redeemedFrom, restoredTo: [], returns: [], campaignPoints: campaigns.extraPoints,
      campaigns: p.campaigns.length > 0 ? campaigns.order : null, pendingUntil,
      ...(coupons === undefined ? {} : { coupons }),
    };
    this.orders.set(orderId, order);
    this.hold(m);
    this.everHeld.add(tierIdBefore);
    const answer: Body = {
      orderId, memberId, netCents, earnedPoints: earned, redeemedPoints: redeemPoints, redeemValueCents, walletCents,
      points: m.points, walletBalanceCents: m.walletCents, growth: m.growth, tierId: m.tierId, upgradedTo,
      referralRewards: rewards.map((r) => ({ memberId: r.memberId, points: r.fixedPoints + r.sharePoints })),
    };
    if (coupons !== undefined) {
      answer['couponDiscountCents'] = coupons.discountCents;
      answer['couponsUsed'] = coupons.used;
      answer['couponsIssued'] = coupons.issued;
      answer['couponsSkipped'] = coupons.skipped;
    }
    if (p.campaigns.length > 0) answer['campaigns'] = campaigns.list;
    // Present exactly when the points wait: `undefined` requires the server's answer not to have it.
    answer['pointsPendingUntil'] = iso(pendingUntil) ?? undefined;
    this.remember('purchase', scope, body, answer);
    return { ok: true, answer, replayed: false, touched };
  }

  private returnOrder(body: Body, at: number): Outcome {
    const p = this.program;
    const orderId = body['orderId'] as string;
    const returnId = body['returnId'] as string;
    const order = this.orders.get(orderId);
    if (order === undefined) return FAIL('order_not_found', [], 'orderId');
    const m = this.members.get(order.memberId)!;
    const scope = this.scope(`ret:${returnId}`, m.shard);
    const replay = this.keyed('return', scope, body);
    if (replay !== null) return replay;
    this.advance(m, at);
    const amountCents = body['amountCents'] as number;
    const returnedBefore = order.returns.reduce((s, r) => s + r.amountCents, 0);
    const remainingBefore = order.netCents - returnedBefore;
    if (amountCents > remainingBefore) return FAIL('return_exceeds_order', [m.memberId], 'amountCents');
    if (amountCents === 0 && (order.netCents !== 0 || order.returns.length > 0)) return FAIL('invalid_request', [m.memberId], 'amountCents');

    // Everything is recomputed on what remains of the order, at the order's own rates.
    const remaining = remainingBefore - amountCents;
    const full = remaining === 0;
    const earnedAfter = full ? 0 : this.earned(order.rate, remaining, true) + order.campaignPoints;
    const growthAfter = mulDiv(earnedAfter, order.rate.growthGrowth, order.rate.growthPoints);
    const restoredAfter = full ? order.redeemPoints : mulDiv(order.redeemPoints, returnedBefore + amountCents, order.netCents);
    const walletRefundCents = Math.min(amountCents, order.walletCents - order.now.walletRefundedCents);
    const clawbackDue = order.now.earnedPoints - earnedAfter;
    const restoredPoints = restoredAfter - order.now.restoredPoints;
    const growthDelta = growthAfter - order.now.growth;
    const reversals: Array<{ memberId: string; points: number }> = [];
    const sharesAfter = order.rewards.map((r) => {
      const shareAfter = mulDiv(earnedAfter, r.sharePct, 100);
      const points = (r.sharePoints - shareAfter) + (full && !order.now.fixedReversed ? r.fixedPoints : 0);
      if (points > 0) reversals.push({ memberId: r.memberId, points });
      return shareAfter;
    });
    // Inside the return window the order's points and growth still wait (§13.5): the return
    // cancels them there first, and only what is left (nothing, for its own points) comes from the balances.
    const lot = order.pendingUntil === null ? undefined : m.pending.find((l) => l.orderId === orderId);
    const stillPending = lot !== undefined;
    const cancelling = { points: lot === undefined ? 0 : Math.min(clawbackDue, lot.points), growth: lot === undefined ? 0 : Math.min(-growthDelta, lot.growth) };
    const clawbackLeft = clawbackDue - cancelling.points;
    const growthBack = growthDelta + cancelling.growth;
    const clawed = p.allowNegativePoints ? clawbackLeft : Math.min(clawbackLeft, Math.max(0, m.points + restoredPoints));

    // The tier: the higher of the period-start tier and what the remaining metric qualifies for,
    // unless the order's express upgrade falls below its threshold and is undone. Growth that
    // waited counted towards the tier at its activation, and growth cancelled while waiting never did.
    const tierBefore = m.tierId;
    const drop = p.qualifyBy === 'spend' ? amountCents : stillPending ? 0 : -growthDelta;
    const countedAt = p.qualifyBy === 'growth' && order.pendingUntil !== null ? order.pendingUntil : order.at;
    let metric = countedAt >= m.periodStart ? Math.max(0, m.periodMetric - drop) : m.periodMetric;
    let tierId: string;
    let period = { periodStart: m.periodStart, periodEnd: m.periodEnd, periodStartTierId: m.periodStartTierId };
    const up = order.upgradedTo;
    const expressCents = up === null ? null : this.tier(up).expressUpgradeCents;
    if (order.express && up !== null && m.periodStart === order.at && m.periodStartTierId === up && (expressCents === null || remaining < expressCents)) {
      metric = order.before.periodMetric + (p.qualifyBy === 'spend' ? remaining : stillPending ? 0 : growthAfter);
      const q = this.qualifying(metric);
      if (q <= this.tierIndex(order.before.periodStartTierId)) {
        // Through the current program: a tier it dropped since the order is its first tier, which never ends.
        tierId = this.tier(order.tierIdBefore).id;
        period = {
          periodStart: order.before.periodStart, periodEnd: this.tierIndex(tierId) === 0 ? null : order.before.periodEnd,
          periodStartTierId: this.tier(order.before.periodStartTierId).id,
        };
      } else {
        tierId = p.tiers[q]!.id;
        metric = this.carried(metric, p.tiers[q]!.threshold);
        period = { periodStart: order.at, periodEnd: p.membershipDays === null ? null : order.at + p.membershipDays * DAY_MS, periodStartTierId: tierId };
      }
    } else {
      tierId = p.tiers[Math.max(this.tierIndex(m.periodStartTierId), Math.min(this.qualifying(metric), this.tierIndex(m.tierId)))]!.id;
    }

    this.entry(m, at, 'return', returnId, { points: restoredPoints - clawed, growth: growthBack, wallet: walletRefundCents, spend: -amountCents });
    if (lot !== undefined) this.cancelPending(m, orderId, cancelling.points, cancelling.growth, at, returnId);
    const left: Took[] = [];
    for (const t of order.redeemedFrom) {
      const back = order.restoredTo.filter((x) => x.id === t.id).reduce((s, x) => s + x.points, 0);
      if (t.points - back > 0) left.push({ ...t, points: t.points - back });
    }
    order.restoredTo.push(...this.restorePoints(m, left, restoredPoints));
    this.debitPoints(m, clawed);
    m.growth += growthBack;
    m.walletCents += walletRefundCents;
    m.lifetimeSpendCents -= amountCents;
    m.tierId = tierId;
    m.periodMetric = metric;
    Object.assign(m, period);
    if (full) m.standingOrders -= 1;
    const downgradedTo = tierId !== tierBefore ? tierId : null;
    if (downgradedTo !== null) this.entry(m, at, 'downgrade', returnId, { tierId: downgradedTo });
    const couponsBack = full && order.coupons !== undefined ? this.unwindCoupons(order, at) : null;
    this.hold(m);
    const touched = [m.memberId];
    for (const r of reversals) {
      // What of the order's reward still waits on the ancestor is cancelled first.
      this.deliver(r.memberId, 'referral_reversal', -r.points, 0, returnId, at, m.referralChain.indexOf(r.memberId) + 1, { until: null, orderId });
      touched.push(r.memberId);
    }
    order.returns.push({ returnId, amountCents, at });
    order.now = { earnedPoints: earnedAfter, growth: growthAfter, restoredPoints: restoredAfter, walletRefundedCents: order.now.walletRefundedCents + walletRefundCents, fixedReversed: order.now.fixedReversed || full };
    sharesAfter.forEach((s, i) => { order.rewards[i]!.sharePoints = s; });
    this.tally('returns', 1);
    this.tally('netSalesCents', -amountCents);
    this.tally('pointsClawedBack', clawed);
    this.tally('pointsRedeemed', -restoredPoints);
    const answer: Body = {
      returnId, orderId, memberId: m.memberId, clawedBackPoints: clawed, restoredPoints, walletRefundCents,
      points: m.points, walletBalanceCents: m.walletCents, tierId: m.tierId, downgradedTo, referralReversals: reversals,
    };
    if (couponsBack !== null) {
      answer['couponsRestored'] = couponsBack.restored;
      answer['couponsRevoked'] = couponsBack.revoked;
    }
    // An order whose points were pending says what the return cancelled of them (0 once they
    // activated); any other order's answer has no such field (`undefined` requires its absence).
    answer['cancelledPendingPoints'] = order.pendingUntil === null ? undefined : cancelling.points;
    this.remember('return', scope, body, answer);
    return { ok: true, answer, replayed: false, touched };
  }

  private quote(body: Body, at: number): Outcome {
    const p = this.program;
    const memberId = body['memberId'] as string;
    const m = this.members.get(memberId);
    if (m === undefined) return FAIL('member_not_found', [], 'memberId');
    this.advance(m, at);
    const tier = this.tier(m.tierId);
    const amountCents = body['amountCents'] as number;
    const discountCents = mulDiv(amountCents, tier.discountBps, 10_000);
    const payable = amountCents - discountCents;
    const maxRedeemPoints = Math.min(Math.max(m.points, 0), mulDiv(payable, tier.redeem.points, tier.redeem.cents));
    const campaigns = this.campaignsOf(m, at, payable, tier, body);
    const rate = { earnCents: tier.earn.cents, earnPoints: tier.earn.points, orderPoints: p.orderPoints, multiplierPct: campaigns.multiplierPct };
    const pointsToEarn = this.earned(rate, payable, true) + campaigns.extraPoints;
    if (!safe(pointsToEarn) || campaigns.extraPoints > CAMPAIGN_EXTRA_POINTS_MAX) return FAIL('balance_limit', [memberId]);
    const answer: Body = {
      memberId, tierId: m.tierId, discountBps: tier.discountBps, discountCents, points: m.points, maxRedeemPoints,
      maxRedeemValueCents: mulDiv(maxRedeemPoints, tier.redeem.cents, tier.redeem.points), walletBalanceCents: m.walletCents, pointsToEarn,
    };
    if (p.coupons.length > 0 || body['couponCodes'] !== undefined) {
      // Every active coupon of the member valued on the amount after the tier's discount, alone and
      // on an order that names no channel (§12.6); the codes asked for as a purchase would check them.
      const order = { memberId, tierId: m.tierId, channel: undefined, baseCents: payable, at };
      const listed = this.coupons.ofMember(memberId).filter((c) => c.state === 'active')
        .sort((a, b) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0))
        .map((c) => {
          const template = this.couponTemplate(c.templateId);
          const reason = usabilityRefusal(c, template, order, new Set());
          return {
            code: c.code, templateId: c.templateId, discountCents: template === undefined ? 0 : Math.min(couponValue(template, payable), payable),
            usable: reason === null, expiresAt: iso(c.expiresAt), ...(reason === null ? {} : { reason }),
          };
        });
      if (listed.some((c) => CouponBook.isPlaceholder(c.code))) this.placeholderLists.push(listed);
      answer['coupons'] = listed;
      const codes = ((body['couponCodes'] as string[] | undefined) ?? []).map(normalizeCode);
      const checked = this.checkCoupons(m, codes, { channel: undefined, baseCents: payable, at });
      if (!('coupons' in checked)) return checked;
      answer['couponDiscountCents'] = checked.values.reduce((a, b) => a + b, 0);
    }
    if (p.campaigns.length > 0) answer['campaigns'] = campaigns.list;
    return { ok: true, replayed: false, touched: [memberId], answer };
  }

  private transfer(body: Body, at: number): Outcome {
    const fromId = body['fromMemberId'] as string;
    const toId = body['toMemberId'] as string;
    if (fromId === toId) return FAIL('invalid_request', [], 'toMemberId');
    const to = this.members.get(toId);
    if (to === undefined) return FAIL('member_not_found', [], 'toMemberId');
    const key = `req:${String(body['requestId'])}`;
    const scope = this.scope(key, this.shard(fromId));
    const replay = this.keyed('transfer', scope, body);
    if (replay !== null) return replay;
    const m = this.members.get(fromId);
    if (m === undefined) return FAIL('member_not_found', [], 'memberId');
    this.advance(m, at);
    const amountCents = body['amountCents'] as number;
    if (amountCents > m.walletCents) return FAIL('insufficient_wallet', [fromId]);
    this.entry(m, at, 'transfer_out', key, { wallet: -amountCents });
    m.walletCents -= amountCents;
    // The answer is the sender's balances once the money left, before it arrives (or comes back).
    const answer: Body = { fromMemberId: fromId, toMemberId: toId, amountCents, points: m.points, walletBalanceCents: m.walletCents, tierId: m.tierId };
    // A wallet that cannot take the money sends it back to the sender (README, "Balances stay safe integers").
    if (!this.deliver(toId, 'transfer_in', 0, amountCents, key, at, 0)) this.deliver(fromId, 'transfer_return', 0, amountCents, key, at, 0);
    this.remember('transfer', scope, body, answer);
    return { ok: true, answer, replayed: false, touched: [fromId, toId] };
  }

  private product(body: Body, at: number, role: Role): Outcome {
    const p = this.program;
    const memberId = body['memberId'] as string;
    const orderId = body['orderId'] as string;
    const scope = this.scope(`prod:${orderId}`, this.shard(memberId));
    const replay = this.keyed('product_purchase', scope, body, 'idempotency_conflict', role);
    if (replay !== null) return replay;
    const m = this.members.get(memberId);
    if (m === undefined) return FAIL('member_not_found', [], 'memberId');
    this.advance(m, at);
    const product = p.products.find((x) => x.id === body['productId']);
    if (product === undefined) return FAIL('product_not_found', [memberId], 'productId');
    if (!product.active) return FAIL('product_inactive', [memberId], 'productId');
    // Without a channel a POS key buys offline and a storefront key online; an admin's purchase is not channel-checked.
    const channel = (body['channel'] as string | undefined) ?? (role === 'pos' ? 'offline' : role === 'storefront' ? 'online' : undefined);
    if (channel !== undefined && !product.channels.includes(channel as 'online' | 'offline')) return FAIL('channel_not_allowed', [memberId], 'channel');
    if (product.eligibleTiers !== null && !product.eligibleTiers.includes(m.tierId)) return FAIL('tier_not_eligible', [memberId]);
    const inc = product.includes;
    const points = inc.points ?? 0;
    const walletCents = inc.walletCents ?? 0;
    const current = this.tierIndex(m.tierId);
    let target: number | null = null;
    if (inc.forceTierId !== undefined) target = this.tierIndex(inc.forceTierId);
    else if (inc.tierId !== undefined && this.tierIndex(inc.tierId) > current) target = this.tierIndex(inc.tierId);
    const upgrade = target !== null && inc.forceTierId === undefined;
    const bonus = upgrade ? p.tiers[target!]!.upgradeBonusPoints : 0;
    if (!safe(add(add(m.points, points), bonus), add(m.walletCents, walletCents))) return FAIL('balance_limit', [memberId]);
    if (inc.card !== undefined && this.rewards.giftTooLarge(m, inc.card, at)) return FAIL('balance_limit', [memberId], 'productId');
    const tierId = target === null ? null : p.tiers[target]!.id;
    this.entry(m, at, 'product', orderId, { points, wallet: walletCents, tierId });
    this.creditPoints(m, points, at);
    this.tally('pointsIssued', points);
    m.walletCents += walletCents;
    if (target !== null) {
      // A granted tier starts a new period; an upgrade carries the metric forward and pays its bonus.
      m.periodMetric = upgrade ? this.carried(m.periodMetric, p.tiers[target]!.threshold) : 0;
      m.tierId = tierId!; m.periodStartTierId = tierId!; m.periodStart = at;
      m.periodEnd = target === 0 || p.membershipDays === null ? null : at + p.membershipDays * DAY_MS;
      if (bonus > 0) {
        this.entry(m, at, 'upgrade', orderId, { points: bonus, tierId: tierId! });
        this.creditPoints(m, bonus, at);
        this.tally('pointsIssued', bonus);
      }
    }
    if (inc.extendDays !== undefined && m.periodEnd !== null) m.periodEnd += inc.extendDays * DAY_MS;
    this.hold(m);
    // A count card comes with the purchase, after its entries (test/sim/rewards.ts).
    const card = inc.card === undefined ? null : this.rewards.giveCard(m, inc.card, at);
    const answer: Body = {
      orderId, memberId, productId: product.id, priceCents: product.priceCents, walletCreditCents: walletCents, pointsAdded: points,
      tierChangedTo: tierId, periodEnd: iso(m.periodEnd), points: m.points, walletBalanceCents: m.walletCents, tierId: m.tierId,
      ...(card === null ? {} : { card }),
    };
    this.remember('product_purchase', scope, body, answer, role);
    return { ok: true, answer, replayed: false, touched: [memberId] };
  }

  /** Redemptions, adjustments, top-ups and withdrawals: one member, one balance, keyed by requestId. */
  private simple(name: OpName, body: Body, at: number): Outcome {
    const p = this.program;
    const memberId = body['memberId'] as string;
    const key = `req:${String(body['requestId'])}`;
    const scope = this.scope(key, this.shard(memberId));
    if (name === 'adjust' && body['points'] === 0) return FAIL('invalid_request', [], 'points');
    const replay = this.keyed(name, scope, body);
    if (replay !== null) return replay;
    const m = this.members.get(memberId);
    if (m === undefined) return FAIL('member_not_found', [], 'memberId');
    this.advance(m, at);
    const touched = [memberId];
    const balances = () => ({ points: m.points, walletBalanceCents: m.walletCents, tierId: m.tierId });
    let answer: Body;
    switch (name) {
      case 'redeem': {
        const points = body['points'] as number;
        const tier = this.tier(m.tierId);
        if (points > m.points) return FAIL('insufficient_points', touched);
        const value = mulDiv(points, tier.redeem.cents, tier.redeem.points);
        if (value === 0) return FAIL('redemption_too_small', touched);
        if (!safe(add(m.walletCents, value))) return FAIL('balance_limit', touched);
        this.entry(m, at, 'redeem', key, { points: -points, wallet: value });
        this.debitPoints(m, points);
        m.walletCents += value;
        this.tally('pointsRedeemed', points);
        answer = { memberId, redeemedPoints: points, walletCreditCents: value, ...balances() };
        break;
      }
      case 'adjust': {
        const delta = body['points'] as number;
        if (delta < 0 && m.points + delta < 0) return FAIL('insufficient_points', touched);
        if (!safe(add(m.points, delta))) return FAIL('balance_limit', touched);
        this.entry(m, at, 'adjust', key, { points: delta });
        if (delta > 0) { this.creditPoints(m, delta, at); this.tally('pointsIssued', delta); } else { this.debitPoints(m, -delta); this.tally('pointsClawedBack', -delta); }
        answer = { memberId, pointsDelta: delta, reason: body['reason'], ...balances() };
        break;
      }
      case 'topup': {
        const amountCents = body['amountCents'] as number;
        if (amountCents < p.wallet.minTopupCents) return FAIL('topup_below_minimum', touched);
        let bonusCents = 0;
        let reached = -1;
        for (const step of p.wallet.topupBonuses) if (step.minCents <= amountCents && step.minCents > reached) { reached = step.minCents; bonusCents = step.bonusCents; }
        const credit = amountCents + bonusCents;
        if (!safe(credit, add(m.walletCents, credit))) return FAIL('balance_limit', touched);
        this.entry(m, at, 'topup', key, { wallet: credit });
        m.walletCents += credit;
        this.tally('topupsCents', credit);
        answer = { memberId, amountCents, bonusCents, ...balances() };
        break;
      }
      case 'withdraw': {
        const amountCents = body['amountCents'] as number;
        if (amountCents > m.walletCents) return FAIL('insufficient_wallet', touched);
        this.entry(m, at, 'withdraw', key, { wallet: -amountCents });
        m.walletCents -= amountCents;
        answer = { memberId, amountCents, ...balances() };
        break;
      }
      default: throw new Error(`model: no op ${name}`);
    }
    this.remember(name, scope, body, answer);
    return { ok: true, answer, replayed: false, touched };
  }
}

/** Whether a value holds a coupon placeholder anywhere inside. */
function holdsPlaceholder(value: unknown): boolean {
  if (typeof value === 'string') return CouponBook.isPlaceholder(value);
  if (Array.isArray(value)) return value.some(holdsPlaceholder);
  if (value !== null && typeof value === 'object') return Object.values(value).some(holdsPlaceholder);
  return false;
}

/** Replaces the string `from` by `to` wherever it sits inside `value`; true while a placeholder remains. */
function replaceString(value: Body | unknown[], from: string, to: string): boolean {
  let left = false;
  const visit = (v: unknown): unknown => {
    if (v === from) return to;
    if (typeof v === 'string') { left ||= CouponBook.isPlaceholder(v); return v; }
    if (Array.isArray(v)) { v.forEach((x, i) => { v[i] = visit(x); }); return v; }
    if (v !== null && typeof v === 'object') { for (const [k, x] of Object.entries(v)) (v as Body)[k] = visit(x); return v; }
    return v;
  };
  visit(value);
  return left;
}

/** The ledger kind and ref an op's own entry carries, to find it in the member's ledger after a kill. */
export function entryOf(name: OpName, body: Body): { memberId: string; kind: string; ref: string } | null {
  switch (name) {
    case 'register': return body['memberId'] === undefined ? null : { memberId: body['memberId'] as string, kind: 'register', ref: `reg:m:${String(body['memberId'])}` };
    case 'purchase': return { memberId: body['memberId'] as string, kind: 'purchase', ref: body['orderId'] as string };
    case 'product_purchase': return { memberId: body['memberId'] as string, kind: 'product', ref: body['orderId'] as string };
    case 'transfer': return { memberId: body['fromMemberId'] as string, kind: 'transfer_out', ref: `req:${String(body['requestId'])}` };
    case 'redeem': case 'adjust': case 'topup': case 'withdraw':
      return { memberId: body['memberId'] as string, kind: name, ref: `req:${String(body['requestId'])}` };
    default: return null;
  }
}

