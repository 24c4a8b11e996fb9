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
import type { CouponRule, Program } from '../rules/program-types.js';
import type { Control, CouponIssueOp, OpResult, PurchaseOp, RegisterOp, WriteOp } from '../ops.js';
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

/** The program's coupon rules by the event they fire on, worked out once per program. */
interface Plan {
  program: Program;
  /** Rules a purchase may fire: its own trigger, and an upgrade the purchase may cause. */
  purchase: CouponRule[];
  register: CouponRule[];
  birthday: CouponRule[];
  /** totalMax of each capped template. */
  caps: Map<string, number>;
}

/**
 * What one batch (or sweep slice) holds until its answer: per counter, how much of its `held` is
 * this batch's. Settled once with the answer, or released whole when the batch fails.
 */
export interface Held { counters: Counter[]; amounts: number[]; ops: readonly WriteOp[] | null }

/** A coupon issued, as the executor's answers list them (`couponsIssued`). */
interface Issued { templateId: string }

export class CouponGate {
  private readonly counters = new Map<string, Counter>();
  private plan: Plan | null = null;
  private pool: Uint8Array = new Uint8Array(0);
  private poolAt = 0;
  /** Sweep slices that hold capped units run one at a time (sweepSlice). */
  private sweepTurn: Promise<unknown> = Promise.resolve();

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
   * each draw's text cost 15.7 µs per code where this costs a fraction of that.
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
   * Supplies the ops of a batch bound for `shard` that may issue coupons: `newCodes` (one per rule
   * the op may fire and one spare; two for a coupon_issue) and `couponAllow` (a unit of each capped
   * template it may issue, while there are units). Null when no op of the batch may issue: the
   * program is looked at once, and a batch of plain purchases under a program without coupon rules
   * is left untouched and allocates nothing.
   */
  supply(ops: readonly WriteOp[], shard: number): Held | null {
    const plan = this.currentPlan();
    const purchases = plan.purchase.length > 0;
    const registrations = plan.register.length > 0;
    let held: Held | null = null;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      const kind = op.op;
      if (kind === 'purchase') {
        if (purchases) held = this.supplyPurchase(plan, op, shard, held, ops);
      } else if (kind === 'register') {
        if (registrations) held = this.supplyRules(plan, plan.register, op, op.channel, shard, held, ops);
      } else if (kind === 'coupon_issue') {
        held = this.supplyIssue(plan, op, shard, held, ops);
      }
    }
    return held;
  }

  /** A purchase fires no rule whose minimum net it cannot reach, nor one whose channels exclude its own. */
  private supplyPurchase(plan: Plan, op: PurchaseOp, shard: number, held: Held | null, ops: readonly WriteOp[]): Held | null {
    const baseCents = op.amountCents - op.discountCents;
    let firing: CouponRule[] | null = null;
    for (const rule of plan.purchase) {
      if (rule.trigger === 'purchase' && baseCents < rule.minNetCents) continue;
      if (!channelMayFire(rule, op.channel)) continue;
      (firing ??= []).push(rule);
    }
    if (firing === null) { clearSupply(op); return held; }
    return this.supplyRules(plan, firing, op, undefined, shard, held, ops);
  }

  /** Codes and units for the rules (of a registration, or a purchase's that may fire) the op may fire. */
  private supplyRules(plan: Plan, rules: readonly CouponRule[], op: PurchaseOp | RegisterOp, channel: string | undefined, shard: number, held: Held | null, ops: readonly WriteOp[]): Held | null {
    let allow: string[] | null = null;
    let fire = 0;
    for (const rule of rules) {
      if (!channelMayFire(rule, channel)) continue;
      fire += 1;
      held ??= { counters: [], amounts: [], ops };
      if (this.take(plan, rule.templateId, 1, held) > 0) (allow ??= []).push(rule.templateId);
    }
    if (fire === 0) { clearSupply(op); return held; }
    op.newCodes = this.codes(fire + 1, shard);
    if (allow === null) delete op.couponAllow; else op.couponAllow = allow;
    return held;
  }

  private supplyIssue(plan: Plan, op: CouponIssueOp, shard: number, held: Held | null, ops: readonly WriteOp[]): Held {
    held ??= { counters: [], amounts: [], ops };
    op.newCodes = this.codes(2, shard);
    if (this.take(plan, op.templateId, 1, held) > 0) op.couponAllow = [op.templateId]; else delete op.couponAllow;
    return held;
  }

  /**
   * Holds up to `wanted` of the template for a batch; answers how many units of a cap it got (0 for
   * a template without a cap, whose possible issues are held all the same: if a cap is set on it
   * while they are in flight, they count against it).
   */
  private take(plan: Plan, templateId: string, wanted: number, held: Held): number {
    const c = this.counter(templateId);
    const cap = plan.caps.get(templateId);
    const got = cap === undefined ? wanted : Math.max(0, Math.min(wanted, cap - c.issued - c.held));
    if (got === 0) return 0;
    c.held += got;
    const at = held.counters.indexOf(c);
    if (at === -1) { held.counters.push(c); held.amounts.push(got); } else held.amounts[at]! += got;
    return cap === undefined ? 0 : got;
  }

  /**
   * The batch is answered: every coupon its answers report issued (not a replay's, issued before
   * and counted then) is added to its template's count, and what the batch held is let go.
   */
  settle(held: Held, results: readonly OpResult[]): void {
    const ops = held.ops!;
    for (let i = 0; i < results.length; i++) {
      const r = results[i]!;
      if (!r.ok || r['replayed'] === true) continue;
      const issued = r['couponsIssued'] as Issued[] | undefined;
      if (Array.isArray(issued)) this.count(issued);
      else if (ops[i]?.op === 'coupon_issue') this.counter((ops[i] as CouponIssueOp).templateId).issued += 1;
    }
    this.letGo(held);
  }

  /**
   * The batch failed: nothing of it was written (a storage failure, a full queue, a stop), so what
   * it held goes back whole, and its ops carry no units any more should one be sent again.
   */
  release(held: Held): void {
    for (const op of held.ops ?? []) if ('couponAllow' in op) delete (op as { couponAllow?: string[] }).couponAllow;
    this.letGo(held);
  }

  /**
   * Runs one sweep slice of shard `shard` (`run` sends it), supplied with codes and units for the
   * birthday rules. Slices that hold capped units take turns, so that a slice on one shard, which
   * may hold every unit left while it runs, never makes another shard's birthday gifts miss them.
   */
  async sweepSlice<T>(shard: number, control: SweepControl, run: (control: Control) => Promise<T>): Promise<T> {
    const rules = this.currentPlan().birthday;
    if (rules.length === 0) return run(control);
    const capped = rules.some((r) => this.currentPlan().caps.has(r.templateId));
    if (!capped) return this.runSlice(shard, control, run);
    const turn = this.sweepTurn.then(() => this.runSlice(shard, control, run));
    this.sweepTurn = turn.catch(() => undefined);
    return turn;
  }

  private async runSlice<T>(shard: number, control: SweepControl, run: (control: Control) => Promise<T>): Promise<T> {
    const plan = this.currentPlan();
    const held: Held = { counters: [], amounts: [], ops: null };
    const allow: string[] = [];
    for (const rule of plan.birthday) {
      const units = this.take(plan, rule.templateId, control.limit, held);
      for (let k = 0; k < units; k++) allow.push(rule.templateId);
    }
    const supplied = { ...control, newCodes: this.codes(control.limit * plan.birthday.length + 1, shard), couponAllow: allow };
    let reply: T;
    try {
      reply = await run(supplied);
    } catch (err) {
      this.letGo(held);
      throw err;
    }
    const issued = (reply as { couponsIssued?: Issued[] } | null)?.couponsIssued;
    if (Array.isArray(issued)) this.count(issued);
    else {
      // An answer that does not say what it issued is taken to have used every unit it held: the
      // count may then run ahead of the shards until the next start, but never behind them.
      for (const t of allow) this.counter(t).issued += 1;
    }
    this.letGo(held);
    return reply;
  }

  private count(issued: readonly Issued[]): void {
    for (const coupon of issued) this.counter(coupon.templateId).issued += 1;
  }

  private letGo(held: Held): void {
    for (let k = 0; k < held.counters.length; k++) held.counters[k]!.held -= held.amounts[k]!;
    held.counters.length = 0;
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
    const rules = program.couponRules;
    this.plan = {
      program,
      purchase: rules.filter((r) => r.trigger === 'purchase' || r.trigger === 'upgrade'),
      register: rules.filter((r) => r.trigger === 'register'),
      birthday: rules.filter((r) => r.trigger === 'birthday'),
      caps,
    };
    return this.plan;
  }
}

/**
 * Whether a rule may fire for an event on `channel` as far as the router knows: a rule with
 * channels never fires on an event of another channel. An event without a channel is left to the
 * shard (it decides what channel such an event has), so the router then supplies it.
 */
function channelMayFire(rule: CouponRule, channel: string | undefined): boolean {
  return rule.channels === null || channel === undefined || (rule.channels as string[]).includes(channel);
}

/** An op sent again (a retry of the same object) keeps nothing of an earlier supply. */
function clearSupply(op: PurchaseOp | RegisterOp): void {
  if (op.newCodes !== undefined) delete op.newCodes;
  if (op.couponAllow !== undefined) delete op.couponAllow;
}
