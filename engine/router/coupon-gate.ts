// The router's supply of coupon codes and of `totalMax` units (docs/rules.md §12): every write that
// may issue a coupon leaves for its shard carrying fresh codes that land on that shard, and one
// unit of each capped template it may issue, reserved here against the template's count so far.
//
// Why here: one deployment has one router (the data folder's writer lock admits one process), and
// every write passes through it on its way to a batch, so a counter kept here sees every issue.
// It is exact without asking any shard while running: at start it sums how many coupons of each
// template every shard ever issued (the `couponCounts` query, before the first write), then adds
// what each answer reports. A unit goes out only while `issued + held < totalMax`, where `held`
// counts the units (and, for templates without a cap, the possible issues) of ops still in flight,
// so a cap set on a template mid-flight also counts what its uncapped issues in flight may add.
// Nothing of the counter needs saving: the shards' coupons are the durable truth, so a kill loses
// nothing and leaks nothing; the next start sums them again. The one edge: an op holding the last
// units that then issues nothing (a purchase whose net fell below the rule's minimum) makes a
// concurrent op miss them; the total is never exceeded. In a cluster (several routers) the counter
// moves to an owning shard.
import { randomBytes } from 'node:crypto';
import { COUPON_CODE_BYTES, COUPON_CODE_LENGTH, couponCodeFromBytes } from '../rules/coupons.js';
import type { Campaign, CouponRule, Program } from '../rules/program-types.js';
import { couponCampaignsMayApply } from '../rules/campaigns.js';
import type { Control, CouponIssueOp, CouponSupply, OpResult, PurchaseOp, RegisterOp, RewardRedeemOp, WriteOp } from '../ops.js';
import { hashId } from './member-hash.js';

/** The sweep's control task, which the gate supplies like a batch. */
export type SweepControl = Extract<Control, { c: 'sweep' }>;

/**
 * Random bytes drawn from the system at once: 512 draws of a code. One `randomBytes` call per code
 * costs a system call; a pool makes a draw a slice of memory already filled.
 */
const CODE_POOL_BYTES = 4096;

/** The character code of each 5-bit value in a coupon code, read off couponCodeFromBytes itself. */
const CODE_CHARS = Uint16Array.from({ length: 32 }, (_, v) => couponCodeFromBytes(Uint8Array.of(v << 3, 0, 0, 0, 0, 0, 0, 0)).charCodeAt(0));

/**
 * hashId of the code couponCodeFromBytes makes of the 8 bytes at `at` (FNV-1a over its 12
 * characters, each the 5-bit group of the 60 bits, most significant first), without the text.
 */
function codeHash(bytes: Uint8Array, at: number): number {
  let h = 0x811c9dc5;
  for (let bit = 0; bit < COUPON_CODE_LENGTH * 5; bit += 5) {
    const byte = at + (bit >> 3);
    const pair = (bytes[byte]! << 8) | bytes[byte + 1]!;
    h ^= CODE_CHARS[(pair >> (11 - (bit & 7))) & 31]!;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The shard a coupon code lives on: its hash modulo the shard count, as a member id's. */
export function shardOfCode(code: string, shards: number): number {
  return hashId(code) % shards;
}

/** One template's count: coupons of it issued so far, and what ops in flight hold or may issue. */
interface Counter { issued: number; held: number }

/** What may issue coupons of one template (a rule, a campaign) with the template's counter and cap, and its index among them. */
interface PlanSource { templateId: string; counter: Counter; cap: number | null; index: number }

/** A rule of the program with its template's counter and cap, worked out once per program. */
interface PlanRule extends PlanSource { rule: CouponRule }

/** The program's coupon rules by the event they fire on, worked out once per program. */
interface Plan {
  program: Program;
  /** Rules a purchase may fire: its own trigger, and an upgrade the purchase may cause. */
  purchase: PlanRule[];
  register: PlanRule[];
  /** A member's birthday gift may come with any op on the member (caught up to it) or the sweep. */
  birthday: PlanRule[];
  /** The active campaigns that issue coupons (docs/rules.md §13.4), by id: a purchase may fire those that may apply to it. */
  campaigns: Map<string, PlanSource>;
  /** Every rule, in program order, then every campaign of `campaigns`. */
  all: PlanSource[];
  /** How many rules and campaigns may issue: none leaves the batches untouched. */
  sources: number;
  /** totalMax of each capped template. */
  caps: Map<string, number>;
}

/**
 * What one batch (or sweep slice) holds until its answer: per counter, how much of its `held` is
 * this batch's. Settled once with the answer, or let go whole when the batch fails.
 */
export interface Held { counters: Counter[]; amounts: number[]; ops: readonly WriteOp[] | null }

export class CouponGate {
  private readonly counters = new Map<string, Counter>();
  private plan: Plan | null = null;
  private pool: Uint8Array = new Uint8Array(0);
  private poolAt = 0;

  /**
   * `counts`: each shard's `couponCounts` answer, taken before the first write. `random` fills a
   * buffer with random bytes (tests pass their own).
   */
  constructor(
    private readonly shards: number,
    private readonly program: () => Program,
    counts: ReadonlyArray<Record<string, number>>,
    private readonly random: (bytes: number) => Uint8Array = (bytes) => randomBytes(bytes),
  ) {
    for (const part of counts) {
      for (const [templateId, issued] of Object.entries(part)) {
        if (!Number.isSafeInteger(issued) || issued < 0) throw new Error(`a shard counts ${String(issued)} coupons of ${templateId}`);
        this.counter(templateId).issued += issued;
      }
    }
  }

  /** Coupons of the template issued so far, and what ops in flight hold of it (tests, metrics). */
  countOf(templateId: string): { issued: number; held: number } {
    const c = this.counters.get(templateId);
    return { issued: c?.issued ?? 0, held: c?.held ?? 0 };
  }

  /**
   * A fresh code that lands on shard `shard`: random bytes drawn until the hash of their code does.
   * The hash is taken from the bytes (the code's characters, as hashId reads them) and the text is
   * made only for the draw that lands: with 64 shards a code takes 64 draws on average, and making
   * each draw's text cost 15.7 µs per code where this costs 4.4 µs.
   */
  newCode(shard: number): string {
    for (;;) {
      if (this.poolAt + COUPON_CODE_BYTES > this.pool.length) {
        this.pool = this.random(CODE_POOL_BYTES);
        this.poolAt = 0;
      }
      const at = this.poolAt;
      this.poolAt += COUPON_CODE_BYTES;
      if (codeHash(this.pool, at) % this.shards !== shard) continue;
      const code = couponCodeFromBytes(this.pool.subarray(at, at + COUPON_CODE_BYTES));
      if (hashId(code) % this.shards !== shard) throw new Error(`coupon code ${code} does not hash to shard ${shard}`);
      return code;
    }
  }

  /**
   * Supplies the ops of a batch bound for `shard` that may issue coupons with `newCodes` (one per
   * rule the op may fire, and one spare) and `couponAllow` (a unit of each capped template it may
   * issue, while any is left). A registration may fire its register rules; a purchase its purchase
   * rules (not those of a minimum net above `amountCents − discountCents`, nor of channels without
   * its own) and upgrade rules, and the campaigns with a coupon that may apply to it (all but the
   * member's tier checked: engine/rules/campaigns.ts); a coupon_issue its template; and, when the program has birthday
   * rules, any op on an existing member may bring the member's birthday gift with it. Null when no
   * op may issue: the program is looked at once per batch, and a batch of plain purchases under a
   * program without coupon rules or coupon campaigns is left untouched and allocates nothing.
   */
  supply(ops: readonly WriteOp[], shard: number): Held | null {
    const plan = this.currentPlan();
    if (plan.sources === 0) {
      let held: Held | null = null;
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i]!;
        if (op.op === 'coupon_issue') held = this.supplyIssue(plan, op, shard, held ?? emptyHeld(ops), 0);
        else if (op.op === 'reward_redeem') held = this.supplyReward(plan, op, shard, held ?? emptyHeld(ops), 0);
      }
      return held;
    }
    const held = emptyHeld(ops);
    /** How many ops of the batch may fire each rule or campaign without a cap: held for them together. */
    const fires = new Array<number>(plan.sources).fill(0);
    const birthdays = plan.birthday.length;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      switch (op.op) {
        case 'claim': break;
        case 'register': this.supplyRules(plan.register, op, op.channel, shard, held, fires, 0); break;
        case 'purchase': {
          const net = op.amountCents - op.discountCents;
          this.supplyRules(plan.purchase, op, op.channel, shard, held, fires, birthdays, net, campaignsOf(plan, op, net));
          break;
        }
        case 'coupon_issue': this.supplyIssue(plan, op, shard, held, birthdays); break;
        case 'reward_redeem': this.supplyReward(plan, op, shard, held, birthdays); break;
        default:
          if (birthdays > 0) (op as CouponSupply).newCodes = this.codes(birthdays + 1, shard);
      }
    }
    if (birthdays > 0) {
      // Every op but a registration and a claim may bring its member's birthday gift.
      let withBirthday = 0;
      for (let i = 0; i < ops.length; i++) if (ops[i]!.op !== 'claim' && ops[i]!.op !== 'register') withBirthday += 1;
      for (const r of plan.birthday) fires[r.index]! += withBirthday;
    }
    for (const r of plan.all) if (fires[r.index]! > 0) hold(held, r.counter, fires[r.index]!);
    return held;
  }

  /**
   * Codes and units for an op of `rules` (a registration's, a purchase's) and of `campaigns` (a
   * purchase's, those that may apply to it): each rule it may fire and each campaign gets a code
   * and, with a cap, a unit while there is one. `extraCodes` more for its birthday gift. An op that
   * can fire nothing keeps nothing of an earlier supply (a retry of the same op).
   */
  private supplyRules(
    rules: readonly PlanRule[], op: PurchaseOp | RegisterOp, channel: string | undefined, shard: number,
    held: Held, fires: number[], extraCodes: number, netCents?: number, campaigns: readonly PlanSource[] = NO_SOURCES,
  ): void {
    let allow: string[] | null = null;
    let fire = 0;
    const fireOne = (s: PlanSource): void => {
      fire += 1;
      if (s.cap === null) fires[s.index]! += 1;
      else if (this.take(s.counter, s.cap, held)) (allow ??= []).push(s.templateId);
    };
    for (const r of rules) {
      if (netCents !== undefined && r.rule.trigger === 'purchase' && netCents < r.rule.minNetCents) continue;
      if (!channelMayFire(r.rule, channel)) continue;
      fireOne(r);
    }
    // The campaigns' coupons come after the rules' on the shard (docs/rules.md §13.4), as their codes and units here.
    for (const c of campaigns) fireOne(c);
    if (fire + extraCodes === 0) {
      if (op.newCodes !== undefined) delete op.newCodes;
    } else op.newCodes = this.codes(fire + extraCodes + 1, shard);
    if (allow !== null) op.couponAllow = allow;
    else if (op.couponAllow !== undefined) delete op.couponAllow;
  }

  /** A coupon by hand: a code and a spare (and the birthday's), and a unit when its template is capped. */
  private supplyIssue(plan: Plan, op: CouponIssueOp, shard: number, held: Held, extraCodes: number): Held {
    op.newCodes = this.codes(2 + extraCodes, shard);
    const counter = this.counter(op.templateId);
    const cap = plan.caps.get(op.templateId);
    if (cap === undefined) { hold(held, counter, 1); delete op.couponAllow; }
    else if (this.take(counter, cap, held)) op.couponAllow = [op.templateId];
    else delete op.couponAllow;
    return held;
  }

  /**
   * A coupon reward's redemption (docs/rules.md §14.1): a code per unit and a spare (and the
   * birthday's), and with a capped template a unit of it per unit redeemed, all of them or none (the
   * shard then refuses the redemption whole). A goods reward gets only the birthday's codes.
   */
  private supplyReward(plan: Plan, op: RewardRedeemOp, shard: number, held: Held, extraCodes: number): Held {
    const reward = plan.program.rewards.find((r) => r.id === op.rewardId);
    const templateId = reward?.kind === 'coupon' ? reward.couponTemplateId : null;
    delete op.couponAllow;
    if (templateId === null || !Number.isSafeInteger(op.quantity) || op.quantity < 1) {
      if (extraCodes > 0) op.newCodes = this.codes(extraCodes + 1, shard); else delete op.newCodes;
      return held;
    }
    op.newCodes = this.codes(op.quantity + 1 + extraCodes, shard);
    const counter = this.counter(templateId);
    const cap = plan.caps.get(templateId);
    if (cap === undefined) { hold(held, counter, op.quantity); return held; }
    if (counter.issued + counter.held + op.quantity <= cap) {
      hold(held, counter, op.quantity);
      op.couponAllow = new Array<string>(op.quantity).fill(templateId);
    }
    return held;
  }

  /** Holds one unit of a capped template for a batch, when `issued + held < cap`. */
  private take(c: Counter, cap: number, held: Held): boolean {
    if (c.issued + c.held >= cap) return false;
    hold(held, c, 1);
    return true;
  }

  /**
   * The batch is answered: the coupons it issued per template (its reply's `couponCounts`, counted
   * by the shard as it wrote them, birthday gifts and rules included; replays issue none) are added
   * to their templates' counts, and what the batch held is let go.
   */
  settle(held: Held, counts: Readonly<Record<string, number>> | undefined): void {
    if (counts !== undefined) this.count(counts);
    letGo(held);
  }

  /**
   * The batch failed: nothing of it was written (a storage failure, a full queue, a stop), so what
   * it held goes back whole, and its ops carry no units any more should one be sent again.
   */
  release(held: Held): void {
    for (const op of held.ops ?? []) if ('couponAllow' in op) delete (op as CouponSupply).couponAllow;
    letGo(held);
  }

  /**
   * Runs one sweep slice of shard `shard` (`run` sends it) with codes for the birthday gifts it
   * may give: one per birthday rule for each of its `limit` members, and a spare. A birthday rule's
   * template has no totalMax (the program validator refuses one), so a slice holds no units.
   */
  async sweepSlice<T>(shard: number, control: SweepControl, run: (control: Control) => Promise<T>): Promise<T> {
    const plan = this.currentPlan();
    if (plan.birthday.length === 0) return run(control);
    const held = emptyHeld(null);
    for (const r of plan.birthday) hold(held, r.counter, control.limit);
    let reply: T;
    try {
      reply = await run({ ...control, newCodes: this.codes(control.limit * plan.birthday.length + 1, shard) });
    } catch (err) {
      letGo(held);
      throw err;
    }
    const counts = (reply as { couponCounts?: Record<string, number> } | null)?.couponCounts;
    if (counts !== undefined) this.count(counts);
    letGo(held);
    return reply;
  }

  /** Adds coupons a shard reports issued, per template, to their counts. */
  count(counts: Readonly<Record<string, number>>): void {
    for (const templateId of Object.keys(counts)) this.counter(templateId).issued += counts[templateId]!;
  }

  private codes(count: number, shard: number): string[] {
    const codes = new Array<string>(count);
    for (let k = 0; k < count; k++) codes[k] = this.newCode(shard);
    return codes;
  }

  private counter(templateId: string): Counter {
    let c = this.counters.get(templateId);
    if (c === undefined) { c = { issued: 0, held: 0 }; this.counters.set(templateId, c); }
    return c;
  }

  /** The program's rules by event, worked out again only when the program changed. */
  private currentPlan(): Plan {
    const program = this.program();
    if (this.plan !== null && this.plan.program === program) return this.plan;
    const caps = new Map<string, number>();
    for (const t of program.coupons) if (t.totalMax !== null) caps.set(t.id, t.totalMax);
    const source = (templateId: string, index: number): PlanSource => ({ templateId, counter: this.counter(templateId), cap: caps.get(templateId) ?? null, index });
    const rules = program.couponRules.map((rule, index): PlanRule => ({ ...source(rule.templateId, index), rule }));
    const campaigns = new Map<string, PlanSource>();
    for (const c of program.campaigns) {
      if (c.active && c.couponTemplateId !== null) campaigns.set(c.id, source(c.couponTemplateId, rules.length + campaigns.size));
    }
    const all: PlanSource[] = [...rules, ...campaigns.values()];
    this.plan = {
      program,
      purchase: rules.filter((r) => r.rule.trigger === 'purchase' || r.rule.trigger === 'upgrade'),
      register: rules.filter((r) => r.rule.trigger === 'register'),
      birthday: rules.filter((r) => r.rule.trigger === 'birthday'),
      campaigns,
      all,
      sources: all.length,
      caps,
    };
    return this.plan;
  }
}

const emptyHeld = (ops: readonly WriteOp[] | null): Held => ({ counters: [], amounts: [], ops });

const NO_SOURCES: readonly PlanSource[] = [];

/**
 * The campaigns with a coupon that may apply to a purchase (engine/rules/campaigns.ts
 * couponCampaignsMayApply): all but the tier checked, the net at most `amountCents − discountCents`.
 */
function campaignsOf(plan: Plan, op: PurchaseOp, netCentsMax: number): readonly PlanSource[] {
  if (plan.campaigns.size === 0) return NO_SOURCES;
  const may: Campaign[] = couponCampaignsMayApply(plan.program, { atMs: op.atMs, channel: op.channel ?? null, storeId: op.storeId ?? null, netCentsMax });
  return may.length === 0 ? NO_SOURCES : may.map((c) => plan.campaigns.get(c.id)!);
}

/** Adds `amount` of a counter to what a batch holds. */
function hold(held: Held, c: Counter, amount: number): void {
  c.held += amount;
  const at = held.counters.indexOf(c);
  if (at === -1) { held.counters.push(c); held.amounts.push(amount); } else held.amounts[at]! += amount;
}

function letGo(held: Held): void {
  for (let k = 0; k < held.counters.length; k++) held.counters[k]!.held -= held.amounts[k]!;
  held.counters.length = 0;
  held.amounts.length = 0;
}

/**
 * Whether a rule may fire for an event on `channel`, as the shard decides it (engine/rules/coupons.ts
 * firingCouponRules): a rule with channels fires only on an event of one of them, never on an
 * event without a channel.
 */
function channelMayFire(rule: CouponRule, channel: string | undefined): boolean {
  return rule.channels === null || (channel !== undefined && (rule.channels as string[]).includes(channel));
}
