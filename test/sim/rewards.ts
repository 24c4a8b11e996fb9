// The reference model's rewards for points and count cards (docs/rules.md §14), written from the
// rules and not from engine/shard/batch-rewards.ts or batch-cards.ts: rewards drawn into programs,
// redemptions with their checks in the order §14.1 lists them, fulfilment, cancellation back to the
// grants, restocks, the deployment's stock, count cards given and renewed by products, used,
// adjusted and lapsed by the sweep, the views and the reward report; and the planner of their ops.
// The model reaches the member's points, entries, keys and coupons through RewardHooks, which the
// Model builds over its own (test/sim/model.ts).
import type { Random } from './prng.js';
import { DAY_MS, iso, localDate, startOfLocalDay } from './calendar.js';
import { issueRefusal, type SimCoupon } from './coupons.js';
import type { Body, Member, OpName, Outcome, Took } from './model.js';
import type { SimCouponTemplate, SimProduct, SimProgram } from './program.js';

/** A reward (docs/program.md, Rewards and count cards), every field spelled out. */
export interface SimReward {
  id: string; name: string; active: boolean; pointsCost: number; cashCents: number; kind: 'goods' | 'coupon';
  couponTemplateId: string | null; eligibleTiers: string[] | null; stock: number | null; perMemberMax: number | null;
  from: string | null; to: string | null;
}

/** A product's count card. */
export interface SimCardInclude { serviceId: string; uses: number; validDays: number | null }

/** Every reward id a program may have: one dropped by one program may come back in a later one. */
export const REWARD_POOL = ['w0', 'w1', 'w2', 'w3'] as const;
/** The services count cards are for. */
export const SERVICE_POOL = ['cut', 'wash'] as const;
/** The most units of one redemption (engine/limits.ts REWARD_QUANTITY_MAX). */
const QUANTITY_MAX = 100;
/** The most uses a card holds (engine/limits.ts CARD_USES_MAX). */
const CARD_USES_MAX = 1_000_000;

const pad = (n: number, width: number): string => String(n).padStart(width, '0');
/** The local date of an instant, YYYY-MM-DD. */
function localDay(atMs: number, zone: string): string {
  const d = localDate(atMs, zone);
  return `${pad(d.year, 4)}-${pad(d.month, 2)}-${pad(d.day, 2)}`;
}
/** The local date `days` after the local date of `atMs`. */
function dayAfter(atMs: number, days: number, zone: string): string {
  const d = localDate(atMs, zone);
  return new Date(Date.UTC(d.year, d.month - 1, d.day) + days * DAY_MS).toISOString().slice(0, 10);
}

// ---------------------------------------------------------------- programs

/**
 * Draws the program's rewards (goods and coupon rewards, small stocks so that they run out, caps,
 * tiers, windows around the clock) and gives some products a count card. Drawn last, after
 * everything else of the program, so that a program without them draws as it did.
 */
export function drawRewards(rng: Random, program: SimProgram, clockMs: number): void {
  const tierIds = program.tiers.map((t) => t.id);
  const zone = program.timezone;
  const rewards: SimReward[] = REWARD_POOL.filter(() => rng.chance(0.6)).map((id) => {
    const coupon = program.coupons.length > 0 && rng.chance(0.35);
    const window = rng.chance(0.25);
    const fromDays = rng.int(-60, 10);
    return {
      id, name: `Reward ${id}`, active: rng.chance(0.9), pointsCost: rng.chance(0.05) ? 0 : rng.int(1, 400),
      cashCents: rng.chance(0.6) ? 0 : rng.int(1, 5_000), kind: coupon ? 'coupon' : 'goods',
      couponTemplateId: coupon ? rng.pick(program.coupons).id : null,
      eligibleTiers: rng.chance(0.8) ? null : rng.shuffle(tierIds).slice(0, rng.int(1, tierIds.length)),
      stock: rng.chance(0.35) ? null : rng.int(0, 6), perMemberMax: rng.chance(0.6) ? null : rng.int(1, 3),
      from: window ? dayAfter(clockMs, fromDays, zone) : null, to: window ? dayAfter(clockMs, fromDays + rng.int(0, 120), zone) : null,
    };
  });
  for (const p of program.products) {
    if (rng.chance(0.35)) p.includes.card = { serviceId: rng.pick(SERVICE_POOL), uses: rng.int(1, 12), validDays: rng.chance(0.2) ? null : rng.int(1, 90) };
  }
  program.rewards = rewards;
  program.staffCommissionBps = rng.int(0, 1_000);
}

// ---------------------------------------------------------------- the model

export interface SimRedemption {
  redemptionId: string; memberId: string; rewardId: string; kind: 'goods' | 'coupon'; quantity: number;
  points: number; cashCents: number; storeId: string | null; staffId: string | null;
  state: 'reserved' | 'fulfilled' | 'cancelled'; redeemedAt: number; history: Array<[string, number]>;
  takenFrom: Took[]; couponCodes: string[];
}

export interface SimCard {
  memberId: string; serviceId: string; state: 'active' | 'expired'; usesLeft: number; expiresAt: number | null;
  since: number; renewedAt: number; usedTotal: number;
}

/** What the rewards model needs of the Model: the program, members, keys, points, entries and coupons. */
export interface RewardHooks {
  program(): SimProgram;
  member(memberId: string): Member | undefined;
  shard(memberId: string): number;
  scope(key: string, shard: number): string;
  keyed(name: OpName, scope: string, body: Body): Outcome | null;
  remember(name: OpName, scope: string, body: Body, answer: Body): void;
  advance(m: Member, at: number): void;
  entry(m: Member, at: number, kind: string, ref: string, d: { points?: number; uses?: number }): void;
  debit(m: Member, points: number): Took[];
  restore(m: Member, from: Took[], points: number): void;
  tally(total: 'pointsRedeemed', n: number): void;
  template(templateId: string): SimCouponTemplate | undefined;
  issuedTo(memberId: string, templateId: string): number;
  issuedTotal(templateId: string): number;
  /** Issues one coupon (the answer's code when it has one), or says why not. */
  issueCoupon(m: Member, template: SimCouponTemplate, at: number, source: string, code: string | null): SimCoupon | string;
  coupon(code: string): SimCoupon | undefined;
  revokeCoupon(c: SimCoupon, at: number): void;
  /** The server's answer to the op being applied, when it carried one. */
  answerNow(): Body | null;
  /** A ledger entry on no member (a restock). */
  unattachedEntry(): void;
}

const FAIL = (code: string, touched: string[] = [], field?: string, message?: string): Outcome =>
  ({ ok: false, codes: [code], touched, ...(field === undefined ? {} : { field }), ...(message === undefined ? {} : { message }) });
const OK = (answer: Body, touched: string[]): Outcome => ({ ok: true, answer, replayed: false, touched });

export class RewardModel {
  readonly redemptions = new Map<string, SimRedemption>();
  /** Per reward: units redeemed and not cancelled, and units restocked, across the deployment. */
  readonly taken = new Map<string, number>();
  readonly added = new Map<string, number>();
  /** Cards by `memberId|serviceId`. */
  readonly cards = new Map<string, SimCard>();

  constructor(private readonly h: RewardHooks) {}

  stockLeft(r: SimReward): number | null {
    return r.stock === null ? null : Math.max(0, r.stock + (this.added.get(r.id) ?? 0) - (this.taken.get(r.id) ?? 0));
  }

  private balances(m: Member): Body {
    return { points: m.points, walletBalanceCents: m.walletCents, tierId: m.tierId };
  }

  redemptionView(r: SimRedemption): Body {
    return {
      redemptionId: r.redemptionId, memberId: r.memberId, rewardId: r.rewardId, kind: r.kind, quantity: r.quantity,
      redeemedPoints: r.points, cashCents: r.cashCents, storeId: r.storeId, staffId: r.staffId, state: r.state,
      redeemedAt: iso(r.redeemedAt), history: r.history.map(([state, at]) => ({ state, at: iso(at) })), couponCodes: [...r.couponCodes],
    };
  }

  cardView(c: SimCard): Body {
    return { serviceId: c.serviceId, state: c.state, usesLeft: c.usesLeft, expiresAt: iso(c.expiresAt), since: iso(c.since), renewedAt: iso(c.renewedAt), usedTotal: c.usedTotal };
  }

  /** §14.1, the checks in the order listed there. */
  redeem(body: Body, at: number): Outcome {
    const memberId = body['memberId'] as string;
    const id = body['requestId'] as string;
    const scope = this.h.scope(`req:${id}`, this.h.shard(memberId));
    const replay = this.h.keyed('reward_redeem', scope, body);
    if (replay !== null) return replay;
    const m = this.h.member(memberId);
    if (m === undefined) return FAIL('member_not_found', [], 'memberId');
    this.h.advance(m, at);
    const p = this.h.program();
    const reward = (p.rewards ?? []).find((r) => r.id === body['rewardId']);
    if (reward === undefined) return FAIL('reward_not_found', [memberId], 'rewardId');
    const quantity = (body['quantity'] as number | undefined) ?? 1;
    const day = localDay(at, p.timezone);
    const unavailable = !reward.active ? 'inactive' : reward.from !== null && day < reward.from ? 'not_started' : reward.to !== null && day > reward.to ? 'ended'
      : reward.eligibleTiers !== null && !reward.eligibleTiers.includes(m.tierId) ? 'tier' : null;
    if (unavailable !== null) return FAIL('reward_unavailable', [memberId], 'rewardId', unavailable);
    if (reward.perMemberMax !== null) {
      let held = 0;
      for (const r of this.redemptions.values()) if (r.memberId === memberId && r.rewardId === reward.id && r.state !== 'cancelled') held += r.quantity;
      if (held + quantity > reward.perMemberMax) return FAIL('reward_limit', [memberId], 'quantity', `at most ${reward.perMemberMax} per member`);
    }
    const left = this.stockLeft(reward);
    if (left !== null && left < quantity) return FAIL('out_of_stock', [memberId], 'rewardId');
    const points = reward.pointsCost * quantity;
    if (m.points < points) return FAIL('insufficient_points', [memberId], 'rewardId', `${points} points needed`);
    let template: SimCouponTemplate | undefined;
    if (reward.kind === 'coupon') {
      template = this.h.template(reward.couponTemplateId!);
      if (template === undefined) return FAIL('reward_unavailable', [memberId], 'rewardId', 'coupon_template_removed');
      const toMember = this.h.issuedTo(memberId, template.id);
      for (let k = 0; k < quantity; k++) {
        const refusal = issueRefusal(template, at, p.timezone, toMember + k, 0);
        if (refusal !== null) return FAIL('coupon_limit', [memberId], 'rewardId', refusal);
      }
      if (template.totalMax !== null && this.h.issuedTotal(template.id) + quantity > template.totalMax) return FAIL('coupon_limit', [memberId], 'rewardId', 'total_limit');
    }
    this.h.entry(m, at, 'reward_redeem', id, { points: -points });
    const takenFrom = this.h.debit(m, points);
    this.h.tally('pointsRedeemed', points);
    const r: SimRedemption = {
      redemptionId: id, memberId, rewardId: reward.id, kind: reward.kind, quantity, points, cashCents: reward.cashCents * quantity,
      storeId: (body['storeId'] as string | undefined) ?? null, staffId: (body['staffId'] as string | undefined) ?? null,
      state: 'reserved', redeemedAt: at, history: [['reserved', at]], takenFrom, couponCodes: [],
    };
    this.redemptions.set(id, r);
    this.taken.set(reward.id, (this.taken.get(reward.id) ?? 0) + quantity);
    const extra: Body = {};
    if (template !== undefined) {
      const listed = (this.h.answerNow()?.['couponsIssued'] as Array<{ code?: unknown }> | undefined) ?? [];
      const issued: Body[] = [];
      for (let k = 0; k < quantity; k++) {
        const code = listed[k]?.code;
        const made = this.h.issueCoupon(m, template, at, `reward:${reward.id}`, typeof code === 'string' ? code : null);
        if (typeof made === 'string') throw new Error(`model: coupon ${k + 1} of redemption ${id} refused after its check: ${made}`);
        r.couponCodes.push(made.code);
        issued.push({ code: made.code, templateId: made.templateId, validFrom: iso(made.validFrom), expiresAt: iso(made.expiresAt) });
      }
      extra['couponsIssued'] = issued;
      this.h.entry(m, at, 'reward_fulfil', id, {});
      r.state = 'fulfilled';
      r.history.push(['fulfilled', at]);
    }
    const answer: Body = { ...this.redemptionView(r), ...extra, ...this.balances(m) };
    this.h.remember('reward_redeem', scope, body, answer);
    return OK(answer, [memberId]);
  }

  /** §14.2: a fulfilment or a cancellation, keyed by the redemption; its member is the redemption's. */
  step(name: 'reward_fulfil' | 'reward_cancel', body: Body, at: number): Outcome {
    const id = body['redemptionId'] as string;
    const r = this.redemptions.get(id);
    if (r === undefined) return FAIL('redemption_not_found', [], 'redemptionId');
    const scope = this.h.scope(`${name === 'reward_fulfil' ? 'rful' : 'rcan'}:${id}`, this.h.shard(r.memberId));
    const replay = this.h.keyed(name, scope, body);
    if (replay !== null) return replay;
    const m = this.h.member(r.memberId)!;
    this.h.advance(m, at);
    const extra: Body = {};
    if (name === 'reward_fulfil') {
      if (r.state !== 'reserved') return FAIL('redemption_closed', [m.memberId], 'redemptionId', r.state);
      this.h.entry(m, at, 'reward_fulfil', id, {});
      r.state = 'fulfilled';
      r.history.push(['fulfilled', at]);
    } else {
      if (r.state === 'cancelled' || (r.state === 'fulfilled' && r.kind === 'goods')) return FAIL('redemption_closed', [m.memberId], 'redemptionId', r.state);
      if (!r.couponCodes.every((code) => this.h.coupon(code)?.state === 'active')) return FAIL('redemption_closed', [m.memberId], 'redemptionId', 'coupon_used');
      this.h.entry(m, at, 'reward_cancel', id, { points: r.points });
      this.h.restore(m, r.takenFrom, r.points);
      this.h.tally('pointsRedeemed', -r.points);
      this.taken.set(r.rewardId, (this.taken.get(r.rewardId) ?? 0) - r.quantity);
      for (const code of r.couponCodes) this.h.revokeCoupon(this.h.coupon(code)!, at);
      r.state = 'cancelled';
      r.history.push(['cancelled', at]);
      extra['restoredPoints'] = r.points;
    }
    const answer: Body = { ...this.redemptionView(r), ...extra, ...this.balances(m) };
    this.h.remember(name, scope, body, answer);
    return OK(answer, [m.memberId]);
  }

  /** §14.2: a restock on the shard of member id ''; the answer adds the stock left when answered. */
  restock(body: Body, at: number): Outcome {
    void at;
    const delta = body['delta'] as number;
    if (delta === 0) return FAIL('invalid_request', [], 'delta');
    const reward = (this.h.program().rewards ?? []).find((r) => r.id === body['rewardId']);
    if (reward === undefined) return FAIL('reward_not_found', [], 'rewardId');
    const scope = this.h.scope(`req:${String(body['requestId'])}`, this.h.shard(''));
    const replay = this.h.keyed('reward_stock', scope, body);
    if (replay !== null) return replay.ok ? { ...replay, answer: { ...replay.answer, stockLeft: this.stockLeft(reward) } } : replay;
    if (delta < 0 && reward.stock !== null && (this.stockLeft(reward) ?? 0) < -delta) return FAIL('out_of_stock', [], 'delta', 'the stock left is less than the units taken off');
    this.added.set(reward.id, (this.added.get(reward.id) ?? 0) + delta);
    this.h.unattachedEntry();
    const answer: Body = { rewardId: reward.id, delta };
    this.h.remember('reward_stock', scope, body, answer);
    return OK({ ...answer, stockLeft: this.stockLeft(reward) }, []);
  }

  private card(memberId: string, serviceId: string): SimCard | undefined {
    return this.cards.get(`${memberId}|${serviceId}`);
  }

  private lapsed(c: SimCard, at: number): boolean {
    return c.state === 'expired' || (c.expiresAt !== null && c.expiresAt <= at);
  }

  /** A card's expiry: the start of the local day after the `validDays`-th day from the purchase's (§14.3). */
  private expiryOf(include: SimCardInclude, at: number): number | null {
    if (include.validDays === null) return null;
    const d = localDate(at, this.h.program().timezone);
    return startOfLocalDay(d.year, d.month, d.day + include.validDays + 1, this.h.program().timezone);
  }

  private expire(m: Member, c: SimCard): void {
    this.h.entry(m, c.expiresAt!, 'card_expire', c.serviceId, { uses: -c.usesLeft });
    c.state = 'expired';
    c.usesLeft = 0;
  }

  /** Whether a product's card would take the live card past its bound (balance_limit, before anything is written). */
  giftTooLarge(m: Member, include: SimCardInclude, at: number): boolean {
    const c = this.card(m.memberId, include.serviceId);
    const live = c !== undefined && !this.lapsed(c, at) ? c.usesLeft : 0;
    return live + include.uses > CARD_USES_MAX;
  }

  /** A product's card: given, or the live one renewed (uses added, the later expiry); a lapsed one expires first. */
  giveCard(m: Member, include: SimCardInclude, at: number): Body {
    let c = this.card(m.memberId, include.serviceId);
    if (c !== undefined && c.state === 'active' && this.lapsed(c, at)) this.expire(m, c);
    const expiresAt = this.expiryOf(include, at);
    if (c === undefined || c.state === 'expired') {
      c = { memberId: m.memberId, serviceId: include.serviceId, state: 'active', usesLeft: include.uses, expiresAt, since: at, renewedAt: at, usedTotal: c?.usedTotal ?? 0 };
      this.cards.set(`${m.memberId}|${include.serviceId}`, c);
    } else {
      c.usesLeft += include.uses;
      c.expiresAt = c.expiresAt === null || expiresAt === null ? null : Math.max(c.expiresAt, expiresAt);
      c.renewedAt = at;
    }
    this.h.entry(m, at, 'card_add', c.serviceId, { uses: include.uses });
    return this.cardView(c);
  }

  /** A card use or an admin's adjustment (§14.3). */
  cardOp(name: 'card_use' | 'card_adjust', body: Body, at: number): Outcome {
    const memberId = body['memberId'] as string;
    const scope = this.h.scope(`req:${String(body['requestId'])}`, this.h.shard(memberId));
    const replay = this.h.keyed(name, scope, body);
    if (replay !== null) return replay;
    const m = this.h.member(memberId);
    if (m === undefined) return FAIL('member_not_found', [], 'memberId');
    this.h.advance(m, at);
    const c = this.card(memberId, body['serviceId'] as string);
    if (c === undefined) return FAIL('card_not_found', [memberId], 'serviceId');
    if (this.lapsed(c, at)) return FAIL('card_expired', [memberId], 'serviceId', `the card expired at ${iso(c.expiresAt)}`);
    const uses = (body['uses'] as number | undefined) ?? 1;
    const delta = name === 'card_use' ? -uses : uses;
    if (c.usesLeft + delta < 0) return FAIL('card_exhausted', [memberId], 'uses', `${c.usesLeft} uses left`);
    if (c.usesLeft + delta > CARD_USES_MAX) return FAIL('balance_limit', [memberId], 'uses');
    c.usesLeft += delta;
    if (name === 'card_use') c.usedTotal += uses;
    this.h.entry(m, at, name, c.serviceId, { uses: delta });
    const answer: Body = name === 'card_use'
      ? { memberId, ...this.cardView(c), usesTaken: uses, ...this.balances(m) }
      : { memberId, ...this.cardView(c), usesDelta: uses, reason: body['reason'], ...this.balances(m) };
    this.h.remember(name, scope, body, answer);
    return OK(answer, [memberId]);
  }

  /** The sweep's card expiries, each dated at its expiry, in expiry order. */
  expireCards(asOfMs: number): void {
    const due = [...this.cards.values()].filter((c) => c.state === 'active' && c.expiresAt !== null && c.expiresAt <= asOfMs)
      .sort((a, b) => a.expiresAt! - b.expiresAt! || (a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0) || (a.serviceId < b.serviceId ? -1 : 1));
    for (const c of due) this.expire(this.h.member(c.memberId)!, c);
  }

  /** `GET /v1/members/{id}/cards`: by service. */
  memberCards(memberId: string): Body[] {
    return [...this.cards.values()].filter((c) => c.memberId === memberId)
      .sort((a, b) => (a.serviceId < b.serviceId ? -1 : 1)).map((c) => this.cardView(c));
  }

  /** `GET /v1/members/{id}/redemptions`: newest first, ties by id. */
  memberRedemptions(memberId: string): Body[] {
    return [...this.redemptions.values()].filter((r) => r.memberId === memberId)
      .sort((a, b) => b.redeemedAt - a.redeemedAt || (a.redemptionId < b.redemptionId ? -1 : 1)).map((r) => this.redemptionView(r));
  }

  /** `GET /v1/rewards`: the program's rewards with their stock. */
  listing(): Body[] {
    return (this.h.program().rewards ?? []).map((r) => ({ ...r, stockLeft: this.stockLeft(r), redeemedUnits: this.taken.get(r.id) ?? 0, restockedUnits: this.added.get(r.id) ?? 0 }));
  }

  /** `GET /v1/reports/rewards` over every redemption (a window wider than the run): the rows and totals. */
  report(): { rewards: Body[]; totals: Body } {
    const zero = () => ({ redemptions: 0, units: 0, points: 0, cashCents: 0, reservedUnits: 0, fulfilledUnits: 0, cancelledUnits: 0 });
    const sums = new Map<string, ReturnType<typeof zero>>();
    for (const r of this.redemptions.values()) {
      const f = sums.get(r.rewardId) ?? zero();
      sums.set(r.rewardId, f);
      f.redemptions += 1; f.units += r.quantity; f.points += r.points; f.cashCents += r.cashCents;
      if (r.state === 'reserved') f.reservedUnits += r.quantity; else if (r.state === 'fulfilled') f.fulfilledUnits += r.quantity; else f.cancelledUnits += r.quantity;
    }
    const program = this.h.program().rewards ?? [];
    const rows: Body[] = program.map((r) => ({ rewardId: r.id, name: r.name, stockLeft: this.stockLeft(r), ...(sums.get(r.id) ?? zero()) }));
    for (const id of [...sums.keys()].filter((x) => !program.some((r) => r.id === x)).sort()) rows.push({ rewardId: id, name: null, stockLeft: null, ...sums.get(id)! });
    const totals = zero();
    for (const row of rows) for (const k of Object.keys(totals) as Array<keyof typeof totals>) totals[k] += row[k] as number;
    return { rewards: rows, totals };
  }
}

// ---------------------------------------------------------------- the planner

/** One reward or card op as the simulator sends it (the fields of plan.ts Planned). */
export interface RewardPlanned { name: OpName; body: Body; role: 'admin' | 'pos' | 'storefront'; note?: string }

/**
 * Draws reward and card ops: redemptions of rewards the member can mostly afford (and each refusal
 * now and then), fulfilments and cancellations of redemptions made, restocks (now and then below
 * what is left), product purchases of products with a card, card uses and adjustments.
 */
export class RewardPlanner {
  constructor(private readonly rng: Random, private readonly rewards: RewardModel, private readonly program: () => SimProgram, private readonly n: () => number) {}

  redeem(m: Member, at: string | number): RewardPlanned {
    const rng = this.rng;
    const list = this.program().rewards ?? [];
    const affordable = list.filter((r) => r.pointsCost <= m.points);
    const rewardId = list.length === 0 || rng.chance(0.04) ? 'no-such-reward' : rng.pick(affordable.length > 0 && rng.chance(0.8) ? affordable : list).id;
    const body: Body = { requestId: `rw${this.n()}`, memberId: m.memberId, rewardId, at };
    if (rng.chance(0.25)) body['quantity'] = rng.chance(0.1) ? QUANTITY_MAX : rng.int(1, 3);
    if (rng.chance(0.4)) body['storeId'] = rng.pick(['tst', 'cwb']);
    if (rng.chance(0.3)) body['staffId'] = rng.pick(['amy', 'bob']);
    return { name: 'reward_redeem', body, role: rng.pick(['admin', 'admin', 'pos', 'storefront'] as const) };
  }

  /** A fulfilment or cancellation of a redemption made (mostly), or of an id nobody redeemed. */
  step(at: (memberId: string) => string | number): RewardPlanned | null {
    const rng = this.rng;
    const name = rng.chance(0.5) ? 'reward_fulfil' : 'reward_cancel';
    const made = [...this.rewards.redemptions.values()];
    if (made.length === 0) return null;
    const r = rng.chance(0.05) ? null : rng.pick(made);
    // Always dated: without `at` the server's clock of the moment would date it, which the model cannot know to the ms.
    const body: Body = { redemptionId: r === null ? `none${this.n()}` : r.redemptionId, at: at(r === null ? '' : r.memberId) };
    if (name === 'reward_fulfil' && rng.chance(0.3)) body['storeId'] = 'tst';
    return { name, body, role: rng.pick(['admin', 'pos'] as const) };
  }

  restock(at: string | number): RewardPlanned | null {
    const list = this.program().rewards ?? [];
    if (list.length === 0) return null;
    const r = this.rng.pick(list);
    const left = this.rewards.stockLeft(r) ?? 5;
    const delta = this.rng.chance(0.3) ? -this.rng.int(1, left + 1) : this.rng.int(1, 4);
    return { name: 'reward_stock', body: { requestId: `rs${this.n()}`, rewardId: r.id, delta, at }, role: 'admin' };
  }

  /** A product that gives a card, for the planner's product purchase. */
  cardProduct(): SimProduct | null {
    const withCard = this.program().products.filter((p) => p.includes.card !== undefined);
    return withCard.length === 0 ? null : this.rng.pick(withCard);
  }

  cardOp(m: Member, at: string | number): RewardPlanned {
    const rng = this.rng;
    const held = this.rewards.memberCards(m.memberId).map((c) => c['serviceId'] as string);
    const serviceId = held.length > 0 && rng.chance(0.9) ? rng.pick(held) : rng.pick(SERVICE_POOL);
    if (rng.chance(0.2)) {
      const uses = rng.chance(0.5) ? rng.int(1, 5) : -rng.int(1, 5);
      return { name: 'card_adjust', body: { requestId: `ca${this.n()}`, memberId: m.memberId, serviceId, uses, reason: 'sim', at }, role: 'admin' };
    }
    const body: Body = { requestId: `cu${this.n()}`, memberId: m.memberId, serviceId, at };
    if (rng.chance(0.3)) body['uses'] = rng.int(1, 4);
    if (rng.chance(0.5)) body['staffId'] = rng.pick(['amy', 'bob']);
    if (rng.chance(0.3)) body['storeId'] = 'tst';
    return { name: 'card_use', body, role: rng.pick(['admin', 'admin', 'pos', 'storefront'] as const) };
  }
}
