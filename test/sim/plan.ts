// Draws the simulator's ops from the seed and the reference model's state: members, amounts,
// times and spellings chosen so that most ops succeed and every business refusal still turns up.
// Nothing here talks to the server; the simulator sends what the planner draws.
import type { Random } from './prng.js';
import { DAY_MS } from './calendar.js';
import { AT_MIN_MS, shardOf, type Body, type Member, type Model, type OpName, type Role } from './model.js';
import { CouponBook, couponValidity, normalizeCode, usabilityRefusal, type SimCoupon } from './coupons.js';
import type { SimChannel } from './program.js';

const HOUR_MS = 3_600_000;
/** Backdated ops reach this far behind the timeline's clock. */
const BACKDATE_MS_MAX = 400 * DAY_MS;
/** Phone numbers in blocks libphonenumber accepts as Hong Kong mobiles, so a stricter server accepts them as sent. */
const PHONE_BLOCKS = ['+8525123', '+8526123', '+8529123', '+8529876'];
const PHONES_PER_BLOCK = 10_000;
const OFFSETS = ['+08:00', '-05:00', '+05:45', '+14:00', '-09:30', '+00:00'];
/** The most one op may carry (engine/limits.ts AMOUNT_CENTS_MAX and POINTS_OP_MAX); balances may hold far more. */
export const OP_AMOUNT_MAX = 1_000_000_000_000;
const cap = (n: number): number => Math.max(-OP_AMOUNT_MAX, Math.min(OP_AMOUNT_MAX, n));
/** Crockford's base32, for codes nobody was issued. */
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** The most coupons one order may name (engine/limits.ts COUPONS_PER_ORDER_MAX). */
const COUPONS_PER_ORDER_MAX = 5;

/** One op as the simulator sends it: the wire body, who sends it, and the member a PATCH names. */
export interface Planned {
  name: OpName;
  body: Body;
  role: Role;
  /** PATCH names its member in the path, not the body. */
  memberId?: string;
  /** Why this op was drawn (for the trace). */
  note?: string;
}

/** What an op touches, for the rules that keep the members of a batch or a kill step independent. */
export interface Reach {
  /** Members the op acts on directly. */
  direct: string[];
  /** Members an outbox message from the op credits later (transfer target, referral ancestors). */
  credited: string[];
}

export class Planner {
  private counter = 0;
  private phoneCount = 0;

  constructor(
    private readonly rng: Random,
    private readonly model: Model,
    /** The start of the simulated timeline. */
    readonly startMs: number,
    /** Whether ops may be backdated or dated exactly at a member's next event (the `backdated` switch). */
    private readonly backdated: boolean,
    /** Whether purchases name a channel and coupons (the `coupons` switch). */
    private readonly coupons: boolean = false,
  ) {}

  next(): number {
    this.counter += 1;
    return this.counter;
  }

  // ---------------------------------------------------------------- values

  newPhone(): string {
    const n = this.phoneCount++;
    const block = PHONE_BLOCKS[n % PHONE_BLOCKS.length]!;
    return block + String(Math.floor(n / PHONE_BLOCKS.length) % PHONES_PER_BLOCK).padStart(4, '0');
  }

  birthday(dayMax = 28): string {
    const rng = this.rng;
    if (dayMax > 28 && rng.chance(0.05)) return rng.pick(['1996-02-29', '2000-02-29', '1988-02-29']);
    return `${rng.int(1950, 2005)}-${String(rng.int(1, 12)).padStart(2, '0')}-${String(rng.int(1, 28)).padStart(2, '0')}`;
  }

  /** `at` as the wire carries it: ISO in UTC (most), ISO with an offset, or integer ms. */
  spell(ms: number): string | number {
    const roll = this.rng.next();
    if (roll < 0.7) return new Date(ms).toISOString();
    if (roll < 0.85) return withOffset(ms, this.rng.pick(OFFSETS));
    return ms;
  }

  /**
   * When an op happens: the clock mostly; sometimes backdated up to 400 days; sometimes exactly at
   * the member's next event (a period end, an expiry, an activation, a birthday), where ties are
   * decided, or the return window before it, so that a purchase's points activate at that instant.
   */
  atFor(clockMs: number, m?: Member): number {
    const rng = this.rng;
    const roll = rng.next();
    const behind = rng.int(HOUR_MS, BACKDATE_MS_MAX);
    const jitter = rng.int(0, 60_000);
    if (!this.backdated) return clockMs - jitter;
    if (m !== undefined && roll < 0.05) {
      const next = this.model.nextEvent(m);
      if (next !== null && next <= clockMs && next >= AT_MIN_MS) return next;
    }
    const windowMs = this.model.program.pointsPendingDays * DAY_MS;
    if (m !== undefined && roll < 0.08 && windowMs > 0) {
      // A return window before the member's next event: a purchase then activates at that very instant.
      const next = this.model.nextEvent(m);
      const at = next === null ? null : next - windowMs;
      if (at !== null && at <= clockMs && at >= Math.max(AT_MIN_MS, this.startMs - 30 * DAY_MS)) return at;
    }
    if (roll < 0.15) return Math.max(this.startMs - 30 * DAY_MS, clockMs - behind);
    return clockMs - jitter;
  }

  member(filter?: (m: Member) => boolean): Member | null {
    const ids = this.model.memberOrder.filter((id) => filter === undefined || filter(this.model.members.get(id)!));
    if (ids.length === 0) return null;
    // Recent members a little more often: they are the ones with fresh orders and balances.
    const i = this.rng.chance(0.3) ? Math.max(0, ids.length - 1 - this.rng.int(0, 4)) : this.rng.int(0, ids.length - 1);
    return this.model.members.get(ids[i]!)!;
  }

  private writerRole(): Role {
    return this.rng.pick(['admin', 'admin', 'pos', 'storefront'] as const);
  }

  // ---------------------------------------------------------------- ops

  register(atMs: number, opts: { byIdOnly?: boolean; referrer?: string } = {}): Planned {
    const rng = this.rng;
    const n = this.next();
    const body: Body = {};
    if (opts.byIdOnly === true || rng.chance(0.9)) body['memberId'] = `m${n}`;
    else body['requestId'] = `rq${n}`;
    if (opts.referrer !== undefined) body['referrerId'] = opts.referrer;
    else if (this.model.members.size > 0 && rng.chance(0.45)) {
      // Members who already have a chain half the time, so chains reach three levels.
      const chained = rng.chance(0.5) ? this.member((x) => x.referralChain.length > 0) : null;
      body['referrerId'] = rng.chance(0.04) ? `ghost${n}` : (chained ?? this.member()!).memberId;
    }
    if (rng.chance(0.7)) body['name'] = `Member ${n}`;
    if (rng.chance(0.6)) body['phone'] = this.model.phones.size > 0 && rng.chance(0.06) ? rng.pick([...this.model.phones.keys()]) : this.newPhone();
    if (rng.chance(0.5)) body['email'] = this.model.emails.size > 0 && rng.chance(0.06) ? rng.pick([...this.model.emails.keys()]) : `u${n}@sim.example`;
    if (rng.chance(0.5)) body['birthday'] = this.birthday(29);
    if (rng.chance(0.2)) body['gender'] = rng.pick(['f', 'm', 'x']);
    if (rng.chance(0.2)) body['address'] = `${n} Nathan Road`;
    if (rng.chance(0.2)) body['storeId'] = `store-${rng.int(1, 5)}`;
    if (rng.chance(0.2)) body['channel'] = rng.pick(['online', 'offline']);
    if (rng.chance(0.1)) body['staffId'] = `staff-${rng.int(1, 9)}`;
    let role = this.writerRole();
    if (rng.chance(0.3)) {
      role = 'admin';
      // A migration's opening balances: a tier, points, wallet (README, POST /v1/members).
      if (rng.chance(0.4)) body['tierId'] = rng.chance(0.05) ? 'no-such-tier' : rng.pick(this.model.program.tiers).id;
      if (rng.chance(0.6)) body['points'] = rng.int(0, 5_000);
      if (rng.chance(0.6)) body['walletCents'] = rng.int(0, 500_000);
    }
    body['at'] = this.spell(atMs);
    return { name: 'register', body, role };
  }

  purchase(m: Member | null, atMs: number, memberId = m?.memberId ?? `ghost${this.counter}`): Planned {
    const rng = this.rng;
    const n = this.next();
    const roll = rng.next();
    let amountCents = roll < 0.5 ? rng.int(100, 20_000) : roll < 0.85 ? rng.int(20_000, 200_000) : rng.int(200_000, 2_000_000);
    const boundary = m === null || m.tierId === '' ? null : this.purchaseBoundary(m);
    // On a boundary the net is the amount: no discount and no points redeemed.
    const onBoundary = boundary !== null && rng.chance(0.2);
    if (onBoundary) amountCents = Math.max(1, boundary + rng.pick([-1, 0, 0, 1]));
    const body: Body = { orderId: `o${n}`, memberId, amountCents };
    if (!onBoundary && rng.chance(0.3)) body['discountCents'] = rng.int(0, Math.floor(amountCents / 5));
    // Coupons and coupon rules may be limited to a channel; an order without one may be either.
    if (this.coupons && rng.chance(0.5)) body['channel'] = rng.pick(['online', 'offline']);
    if (!onBoundary && m !== null && rng.chance(0.25)) {
      const points = Math.max(1, m.points);
      const r = rng.next();
      // Mostly within the balance; sometimes all of it, one past it, or far past it.
      body['redeemPoints'] = cap(r < 0.1 ? points + rng.int(1, 100) : r < 0.2 ? points : r < 0.25 ? points + 1 : rng.int(1, Math.min(points, 5_000)));
      // With points pending, sometimes more than the spendable balance but no more than it and the pending points together.
      if (this.beyondSpendable(m)) body['redeemPoints'] = cap(Math.max(0, m.points) + this.rng.int(1, this.model.pendingTotal(m)));
    }
    if (m !== null && rng.chance(0.25)) {
      const wallet = Math.max(1, m.walletCents);
      const max = this.model.program.wallet.maxSpendCentsPerOrder;
      const r = rng.next();
      body['walletCents'] = cap(r < 0.1 ? wallet + rng.int(1, 1_000) : r < 0.2 ? Math.min(wallet, amountCents) : r < 0.3 && max !== null ? max + rng.pick([0, 1]) : rng.int(0, Math.min(wallet, Math.floor(amountCents / 2))));
    }
    if (m !== null && m.tierId !== '' && m.points > 0 && rng.chance(0.04)) {
      // Paid wholly with points: the redeemed value is the whole amount, the net is 0.
      const tier = this.model.tier(m.tierId);
      const valueMax = Math.floor(Math.min(m.points, OP_AMOUNT_MAX) * tier.redeem.cents / tier.redeem.points);
      if (valueMax >= 1) {
        const redeemPoints = Math.ceil(rng.int(1, Math.min(valueMax, 100_000)) * tier.redeem.points / tier.redeem.cents);
        body['redeemPoints'] = redeemPoints;
        body['amountCents'] = Math.floor(redeemPoints * tier.redeem.cents / tier.redeem.points);
        delete body['discountCents'];
        delete body['walletCents'];
      }
    }
    this.where(body, amountCents);
    body['at'] = this.spell(atMs);
    return { name: 'purchase', body, role: this.writerRole() };
  }

  /**
   * An amount that lands a purchase on a boundary: the net that reaches a higher tier's threshold
   * or a retain threshold up to the member's tier (spend programs), or a higher tier's express
   * threshold. Null when there is none.
   */
  private purchaseBoundary(m: Member): number | null {
    const p = this.model.program;
    const t = this.model.tierIndex(m.tierId);
    const candidates: number[] = [];
    p.tiers.forEach((tier, i) => {
      if (i === 0) return;
      if (i > t && tier.expressUpgradeCents !== null) candidates.push(tier.expressUpgradeCents);
      const line = i > t ? tier.threshold : tier.retainThreshold ?? tier.threshold;
      if (p.qualifyBy === 'spend' && line > m.periodMetric) candidates.push(line - m.periodMetric);
    });
    return candidates.length === 0 ? null : this.rng.pick(candidates);
  }

  /** Whether to ask for more points than the member can spend, which its pending points would cover (§13.5): a fifth of the time when it has some. */
  private beyondSpendable(m: Member): boolean {
    return this.model.pendingTotal(m) > 0 && this.rng.chance(0.2);
  }

  /** Whether an order's points (or some of them) still wait for its return window: a return now cancels them (§13.5). */
  stillPending(orderId: string): boolean {
    const o = this.model.orders.get(orderId);
    return o !== undefined && o.pendingUntil !== null && (this.model.members.get(o.memberId)?.pending.some((l) => l.orderId === orderId) ?? false);
  }

  /** A return of an order with something left (partial or the rest), or past what remains. */
  returnOf(orderId: string, atMs: number): Planned {
    const rng = this.rng;
    const o = this.model.orders.get(orderId)!;
    const remaining = o.netCents - o.returns.reduce((s, r) => s + r.amountCents, 0);
    const roll = rng.next();
    let amountCents: number;
    if (o.netCents === 0) amountCents = 0;
    else if (remaining === 0 || roll < 0.05) amountCents = remaining + rng.int(1, 1_000);
    else if (roll < 0.08) amountCents = remaining + 1;
    else if (roll < 0.45) amountCents = remaining;
    else if (roll < 0.55 && o.upgradedTo !== null) {
      // Around the express threshold: the part that stays decides whether the upgrade stands.
      const express = this.model.tier(o.upgradedTo).expressUpgradeCents;
      amountCents = express === null ? rng.int(1, remaining) : Math.min(remaining, Math.max(1, remaining - express + rng.pick([0, 1])));
    } else amountCents = rng.int(1, remaining);
    return { name: 'return', body: { returnId: `r${this.next()}`, orderId, amountCents, at: this.spell(atMs) }, role: this.writerRole() };
  }

  /** An order to return: one with something left, recent ones more often. */
  returnableOrder(filter: (memberId: string) => boolean = () => true, orderFilter: (orderId: string) => boolean = () => true): string | null {
    const open = [...this.model.orders.values()].filter((o) => filter(o.memberId) && orderFilter(o.orderId) && (o.returns.reduce((s, r) => s + r.amountCents, 0) < o.netCents || (o.netCents === 0 && o.returns.length === 0)));
    if (open.length === 0) return null;
    return (this.rng.chance(0.5) ? open[open.length - 1 - this.rng.int(0, Math.min(3, open.length - 1))]! : this.rng.pick(open)).orderId;
  }

  topup(m: Member, atMs: number): Planned {
    const rng = this.rng;
    const min = this.model.program.wallet.minTopupCents;
    const steps = this.model.program.wallet.topupBonuses;
    const r = rng.next();
    // Exactly at a bonus step or the minimum, one below, or anywhere.
    const amountCents = r < 0.08 ? Math.max(1, min - rng.int(1, min)) : r < 0.12 ? min
      : r < 0.25 && steps.length > 0 ? Math.max(1, rng.pick(steps).minCents + rng.pick([-1, 0, 0, 1]))
        : r < 0.45 ? rng.int(100_000, 600_000) : rng.int(min, 100_000);
    return { name: 'topup', body: { requestId: `t${this.next()}`, memberId: m.memberId, amountCents, at: this.spell(atMs) }, role: this.writerRole() };
  }

  withdraw(m: Member, atMs: number): Planned {
    const rng = this.rng;
    const r = rng.next();
    const amountCents = cap(r < 0.1 || m.walletCents === 0 ? m.walletCents + rng.int(1, 10_000) : r < 0.2 ? m.walletCents : r < 0.25 ? m.walletCents + 1 : rng.int(1, m.walletCents));
    return { name: 'withdraw', body: { requestId: `w${this.next()}`, memberId: m.memberId, amountCents, at: this.spell(atMs) }, role: 'admin' };
  }

  /** A transfer to another member, on another shard half the time when there is one. */
  transfer(m: Member, to: string, atMs: number): Planned {
    const rng = this.rng;
    const amountCents = cap(rng.chance(0.15) || m.walletCents === 0 ? m.walletCents + rng.int(1, 10_000) : rng.int(1, m.walletCents));
    return { name: 'transfer', body: { requestId: `x${this.next()}`, fromMemberId: m.memberId, toMemberId: to, amountCents, at: this.spell(atMs) }, role: 'admin' };
  }

  transferTarget(m: Member, exclude: ReadonlySet<string> = new Set()): string | null {
    const shards = this.model.options.shards;
    const others = this.model.memberOrder.filter((id) => id !== m.memberId && !exclude.has(id));
    if (others.length === 0) return null;
    const elsewhere = others.filter((id) => shardOf(id, shards) !== m.shard);
    return this.rng.chance(0.5) && elsewhere.length > 0 ? this.rng.pick(elsewhere) : this.rng.pick(others);
  }

  redeem(m: Member, atMs: number): Planned {
    const rng = this.rng;
    const tier = this.model.tier(m.tierId === '' ? this.model.program.tiers[0]!.id : m.tierId);
    // The fewest points worth a cent, and one fewer (worth nothing).
    const cent = Math.ceil(tier.redeem.points / tier.redeem.cents);
    const r = rng.next();
    let points = cap(r < 0.1 || m.points <= 0 ? Math.max(1, m.points) + rng.int(1, 100) : r < 0.2 ? Math.max(1, cent + rng.pick([-1, 0])) : r < 0.3 ? m.points : rng.int(1, m.points));
    if (this.beyondSpendable(m)) points = cap(Math.max(0, m.points) + rng.int(1, this.model.pendingTotal(m)));
    return { name: 'redeem', body: { requestId: `d${this.next()}`, memberId: m.memberId, points, at: this.spell(atMs) }, role: this.writerRole() };
  }

  adjust(m: Member, atMs: number): Planned {
    const rng = this.rng;
    const r = rng.next();
    let points = cap(r < 0.5 ? rng.int(1, 3_000) : r < 0.6 && m.points > 0 ? -m.points : r < 0.65 ? -(Math.max(0, m.points) + 1)
      : -(rng.chance(0.15) ? Math.max(0, m.points) + rng.int(1, 100) : rng.int(1, Math.max(1, m.points))));
    if (points < 0 && this.beyondSpendable(m)) points = -cap(Math.max(0, m.points) + rng.int(1, this.model.pendingTotal(m)));
    return { name: 'adjust', body: { requestId: `a${this.next()}`, memberId: m.memberId, points, reason: `sim ${this.counter}`, at: this.spell(atMs) }, role: 'admin' };
  }

  product(m: Member, atMs: number): Planned {
    const rng = this.rng;
    const products = this.model.program.products;
    const productId = products.length === 0 || rng.chance(0.04) ? 'no-such-product' : rng.pick(products).id;
    const body: Body = { orderId: `q${this.next()}`, memberId: m.memberId, productId };
    if (rng.chance(0.4)) body['channel'] = rng.pick(['online', 'offline']);
    body['at'] = this.spell(atMs);
    return { name: 'product_purchase', body, role: this.writerRole() };
  }

  quote(m: Member, atMs: number): Planned {
    const rng = this.rng;
    const amountCents = rng.int(100, 1_500_000);
    const body: Body = { memberId: m.memberId, amountCents };
    // Under campaigns the quote names where and what, as the purchase would (docs/rules.md §13.4).
    if (this.model.program.campaigns.length > 0) this.where(body, amountCents);
    body['at'] = this.spell(atMs);
    return { name: 'quote', body, role: this.writerRole() };
  }

  /** A purchase's or a quote's store, channel and items, each some of the time. */
  private where(body: Body, amountCents: number): void {
    const rng = this.rng;
    if (rng.chance(0.3)) body['storeId'] = `store-${rng.int(1, 5)}`;
    if (rng.chance(0.3)) body['channel'] = rng.pick(['online', 'offline']);
    if (rng.chance(0.3)) {
      body['items'] = Array.from({ length: rng.int(1, 3) }, (_, i) => ({ sku: `SKU-${rng.int(1, 20)}`, qty: rng.int(1, 3), amountCents: Math.floor(amountCents / (i + 2)) }));
    }
  }

  /** A profile change; a birthday only changes month (keeping a day of 28 or less) unless `anyBirthday`. */
  patch(m: Member, anyBirthday: boolean): Planned {
    const rng = this.rng;
    const body: Body = {};
    const n = this.next();
    if (rng.chance(0.4)) body['name'] = `Renamed ${n}`;
    if (rng.chance(0.3)) body['phone'] = this.model.phones.size > 0 && rng.chance(0.15) ? rng.pick([...this.model.phones.keys()]) : this.newPhone();
    if (rng.chance(0.3)) body['email'] = this.model.emails.size > 0 && rng.chance(0.15) ? rng.pick([...this.model.emails.keys()]) : `p${n}@sim.example`;
    if (anyBirthday && rng.chance(0.7)) body['birthday'] = this.birthday(29);
    else if (m.birthdayMonth !== 0 && m.birthdayDay <= 28 && rng.chance(0.4)) {
      body['birthday'] = `${rng.int(1950, 2005)}-${String(rng.int(1, 12)).padStart(2, '0')}-${String(m.birthdayDay).padStart(2, '0')}`;
    }
    if (rng.chance(0.2)) body['gender'] = rng.pick(['f', 'm', 'x']);
    if (rng.chance(0.2) || Object.keys(body).length === 0) body['address'] = `${n} Queen's Road`;
    return { name: 'patch', body, role: this.writerRole(), memberId: m.memberId };
  }

  // ---------------------------------------------------------------- coupons

  /** A code of Crockford's base32 that no coupon has. */
  unknownCode(): string {
    for (;;) {
      let code = '';
      for (let i = 0; i < 12; i++) code += this.rng.pick(CROCKFORD.split(''));
      if (!this.model.coupons.byCode.has(code)) return code;
    }
  }

  /** A code as a person might type it (§12.1): lower case, hyphens, O for 0 and I for 1. */
  private typed(code: string): string {
    if (!this.rng.chance(0.05)) return code;
    const spelt = `${code.slice(0, 4)}-${code.slice(4, 8)} ${code.slice(8)}`.toLowerCase();
    return spelt.replace(/0/g, 'o').replace(/1/g, this.rng.pick(['i', 'l', '1']));
  }

  /** Coupons with their code known (a placeholder waits for the ledger). */
  private known(list: Iterable<SimCoupon>): SimCoupon[] {
    return [...list].filter((c) => !CouponBook.isPlaceholder(c.code));
  }

  /** `POST /v1/coupons/issue`: a template of the program mostly; sometimes none, or a member nobody registered. */
  couponIssue(m: Member | null, atMs: number): Planned {
    const rng = this.rng;
    const templates = this.model.program.coupons;
    // Mostly a template that can still issue; the others to see them refused.
    const open = templates.filter((t) => t.active && (t.validTo === null || couponValidity(t, atMs, this.model.program.timezone).expiresAt > atMs));
    const templateId = templates.length === 0 || rng.chance(0.04) ? 'no-such-coupon' : rng.pick(open.length > 0 && rng.chance(0.85) ? open : templates).id;
    const memberId = m === null || rng.chance(0.02) ? `ghost${this.counter}` : m.memberId;
    return { name: 'coupon_issue', body: { requestId: `ci${this.next()}`, templateId, memberId, at: this.spell(atMs) }, role: 'admin' };
  }

  /** `POST /v1/coupons/{code}/revoke`: an active coupon mostly, else one in another state or a code nobody has. */
  couponRevoke(atFor: (m: Member) => number): Planned | null {
    const rng = this.rng;
    const all = this.known(this.model.coupons.all());
    const active = all.filter((c) => c.state === 'active');
    const n = this.next();
    if (all.length === 0 || rng.chance(0.04)) return { name: 'coupon_revoke', body: { requestId: `cr${n}`, code: this.unknownCode(), at: this.spell(this.startMs) }, role: 'admin' };
    const c = active.length > 0 && rng.chance(0.75) ? rng.pick(active) : rng.pick(all);
    // Never before the coupon's issue: a revocation changes the state it was issued with.
    const at = Math.max(c.issuedAt, atFor(this.model.members.get(c.memberId)!));
    return { name: 'coupon_revoke', body: { requestId: `cr${n}`, code: this.typed(c.code), at: this.spell(at) }, role: 'admin' };
  }

  /**
   * Coupon codes for an order of `m` (a purchase or a quote): coupons it can use mostly (one to
   * three of different templates); otherwise one that fails a named check of §12.5 (or is unknown),
   * after usable ones so that its index varies.
   */
  couponCodes(m: Member, order: { at: number; baseCents: number; channel: SimChannel | undefined }): { codes: string[]; note: string } {
    const rng = this.rng;
    const model = this.model;
    const check = { memberId: m.memberId, tierId: m.tierId, ...order };
    const own = this.known(model.coupons.ofMember(m.memberId));
    const reasons = new Map<SimCoupon, string | null>(own.map((c) => [c, usabilityRefusal(c, model.couponTemplate(c.templateId), check, new Set())]));
    // Usable coupons of distinct templates, in a random order.
    const usable: SimCoupon[] = [];
    for (const c of rng.shuffle(own)) if (reasons.get(c) === null && !usable.some((u) => u.templateId === c.templateId)) usable.push(c);
    const lead = usable.slice(0, rng.int(0, Math.min(2, usable.length)));
    const classes: Record<string, number> = { valid: usable.length > 0 ? 14 : 0, unknown: 1 };
    const others = this.known(model.coupons.all()).filter((c) => c.memberId !== m.memberId);
    if (others.length > 0) classes['other_member'] = 1;
    for (const r of new Set(reasons.values())) if (r !== null) classes[r] = 2;
    // Two coupons of one template, the first usable: the second is refused whatever else it fails after.
    const repeat = usable.map((u) => [u, own.find((c) => c !== u && c.templateId === u.templateId && [null, 'tier', 'channel', 'min_spend'].includes(reasons.get(c)!))] as const).filter(([, c]) => c !== undefined);
    if (repeat.length > 0) classes['template_repeated'] = 2;
    const kind = rng.weighted(classes);
    let codes: SimCoupon[] | string[];
    switch (kind) {
      case 'valid': codes = usable.slice(0, rng.int(1, Math.min(3, usable.length))); break;
      case 'unknown': return { codes: [...lead.map((c) => this.typed(c.code)), this.unknownCode()], note: 'unknown coupon' };
      case 'other_member': codes = [...lead, rng.pick(others)]; break;
      case 'template_repeated': {
        const [first, second] = rng.pick(repeat);
        codes = [...lead.filter((c) => c.templateId !== first.templateId), first, second!];
        break;
      }
      default: {
        const refused = rng.pick(own.filter((c) => reasons.get(c) === kind));
        codes = [...lead.filter((c) => c.templateId !== refused.templateId), refused];
      }
    }
    return { codes: codes.slice(0, COUPONS_PER_ORDER_MAX).map((c) => this.typed(c.code)), note: `coupons: ${kind}` };
  }

  /**
   * Adds coupon codes to a purchase or a quote of `m`: always when `always`; otherwise often when
   * the member holds coupons, and now and then when not (an unknown code, another member's).
   */
  withCoupons(p: Planned, m: Member, atMs: number, always = false): Planned {
    if (!this.coupons) return p;
    if (!always && !this.rng.chance(this.known(this.model.coupons.ofMember(m.memberId)).length > 0 ? 0.4 : 0.02)) return p;
    const b = p.body;
    if (p.name === 'purchase' && this.rng.chance(0.7)) this.fitOrder(b, m, atMs);
    const baseCents = p.name === 'quote'
      ? (b['amountCents'] as number) - Math.floor((b['amountCents'] as number) * this.model.tier(m.tierId).discountBps / 10_000)
      : (b['amountCents'] as number) - ((b['discountCents'] as number | undefined) ?? 0);
    const drawn = this.couponCodes(m, { at: atMs, baseCents, channel: p.name === 'quote' ? undefined : b['channel'] as SimChannel | undefined });
    b['couponCodes'] = drawn.codes;
    p.note = p.note === undefined ? drawn.note : `${p.note}; ${drawn.note}`;
    return p;
  }

  /**
   * Makes a purchase fit one of the member's coupons that only its channel or its amount keeps
   * out: the channel the coupon allows, an amount reaching its minimum spend.
   */
  private fitOrder(b: Body, m: Member, atMs: number): void {
    const rng = this.rng;
    const discountCents = (b['discountCents'] as number | undefined) ?? 0;
    const order = { memberId: m.memberId, tierId: m.tierId, channel: b['channel'] as SimChannel | undefined, baseCents: (b['amountCents'] as number) - discountCents, at: atMs };
    const near = this.known(this.model.coupons.ofMember(m.memberId))
      .filter((c) => ['channel', 'min_spend'].includes(usabilityRefusal(c, this.model.couponTemplate(c.templateId), order, new Set()) ?? ''));
    if (near.length === 0) return;
    const template = this.model.couponTemplate(rng.pick(near).templateId)!;
    if (template.channels.length === 1) b['channel'] = template.channels[0];
    if (order.baseCents < template.minSpendCents) b['amountCents'] = template.minSpendCents + discountCents + rng.pick([0, 0, rng.int(1, 50_000)]);
  }

  /**
   * The capped templates whose totalMax units the router may set aside for an op (its rules', a
   * purchase's campaigns' and, for a hand issue, its template), counted generously: ops of one batch or kill step that need
   * more units than are left would meet the router's reservation order, which the model does not
   * follow (engine/router/coupon-gate.ts).
   */
  capTakers(p: Planned): string[] {
    const prog = this.model.program;
    const capped = (id: string) => prog.coupons.some((t) => t.id === id && t.totalMax !== null);
    const ofRules = (triggers: string[]) => prog.couponRules.filter((r) => triggers.includes(r.trigger) && capped(r.templateId)).map((r) => r.templateId);
    // A campaign's coupon counts for every purchase: the router's check leaves out only the tier.
    const ofCampaigns = () => prog.campaigns.filter((c) => c.active && c.couponTemplateId !== null && capped(c.couponTemplateId)).map((c) => c.couponTemplateId!);
    switch (p.name) {
      case 'purchase': return [...ofRules(['purchase', 'upgrade']), ...ofCampaigns()];
      case 'register': return ofRules(['register']);
      case 'coupon_issue': return capped(p.body['templateId'] as string) ? [p.body['templateId'] as string] : [];
      default: return [];
    }
  }

  /** What an op reaches, from the model as it stands (members registered earlier in the same batch via `chains`). */
  reach(p: Planned, chains: ReadonlyMap<string, string[]>): Reach {
    const b = p.body;
    const chainOf = (id: string): string[] => this.model.members.get(id)?.referralChain ?? chains.get(id) ?? [];
    const levels = this.model.program.referral.levels.length;
    switch (p.name) {
      case 'register': {
        const id = (b['memberId'] as string | undefined) ?? `(request ${String(b['requestId'])})`;
        const ref = b['referrerId'] as string | undefined;
        const credited = ref === undefined || !this.model.members.has(ref) ? [] : [ref, ...chainOf(ref)].slice(0, levels);
        return { direct: [id], credited };
      }
      case 'patch': return { direct: [p.memberId!], credited: [] };
      case 'transfer': return { direct: [b['fromMemberId'] as string], credited: [b['toMemberId'] as string] };
      case 'return': {
        const o = this.model.orders.get(b['orderId'] as string);
        return o === undefined ? { direct: [], credited: [] } : { direct: [o.memberId], credited: chainOf(o.memberId) };
      }
      case 'purchase': return { direct: [b['memberId'] as string], credited: chainOf(b['memberId'] as string) };
      case 'coupon_revoke': {
        const c = this.model.coupons.byCode.get(normalizeCode(String(b['code'])));
        return { direct: c === undefined ? [] : [c.memberId], credited: [] };
      }
      default: return { direct: [b['memberId'] as string], credited: [] };
    }
  }
}

/** An instant written with a given offset, e.g. 2024-03-01T18:00:00.000+08:00. */
export function withOffset(ms: number, offset: string): string {
  const sign = offset.startsWith('-') ? -1 : 1;
  const [h, m] = offset.slice(1).split(':').map(Number) as [number, number];
  const local = new Date(ms + sign * (h * 60 + m) * 60_000).toISOString();
  return local.slice(0, 23) + offset;
}
