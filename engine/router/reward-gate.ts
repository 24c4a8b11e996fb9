// The router's count of every reward's stock (docs/rules.md §14.1), and the units it hands to the
// ops that take stock: a redemption of a reward with a stock, and a restock that lowers one. One
// number for the whole deployment, never oversold however many shards and terminals redeem at once.
//
// Why here, and why it holds across kills: as for coupons' totalMax (coupon-gate.ts), one
// deployment has one router, and every write passes through it on its way to a batch. At start it
// sums, per reward, the units every shard holds redeemed (cancellations taken off) and restocked
// (the `rewardCounts` query, before the first write): those counters are written in the same LMDB
// transaction as the redemptions and restocks they count, so they are exactly what the shards
// committed, whatever was in flight when the process died. From then on each batch's reply adds
// what the batch moved. A unit goes out only while `taken + held < stock + added`, where `held`
// counts the units of ops in flight; the op carries its units into its batch and the batch log, so
// the shard takes exactly those (and a replay takes them again). A kill loses only `held`, which
// was never committed; an op whose batch committed before the kill is answered from its key when
// its terminal sends it again, and takes nothing twice.
//
// Exactness at the last units: an op that cannot have units now only because ops in flight hold
// them (and may yet give them back: a resent op that only replays, a member short of points) is not
// refused but waits (`wait`), with every later op of its member, until a batch settles; so a
// redemption is refused `out_of_stock` only when committed redemptions have used the stock up.
import type { Program, Reward } from '../rules/program-types.js';
import type { RewardRedeemOp, RewardStockOp, WriteOp } from '../ops.js';

/** One reward's count: units held redeemed and restocked by the shards, and units ops in flight hold. */
interface Counter { taken: number; added: number; held: number }

/** What one batch holds until its answer: per counter, how many of its `held` units are this batch's. */
export interface RewardHeld { counters: Counter[]; amounts: number[]; ops: readonly WriteOp[] }

/** What admit decided for a batch: the units it holds, and which ops wait (null: none). */
export interface RewardAdmission { held: RewardHeld; wait: boolean[] | null }

/** The units an op takes of its reward's stock, or 0: a redemption's quantity, a lowering restock's units. */
function unitsOf(op: WriteOp): number {
  if (op.op === 'reward_redeem') return op.quantity;
  if (op.op === 'reward_stock' && op.delta < 0) return -op.delta;
  return 0;
}

export class RewardGate {
  private readonly counters = new Map<string, Counter>();
  /** The program's rewards with a stock, by id, worked out again only when the program changed. */
  private capped: { program: Program; rewards: Map<string, Reward> } | null = null;
  private readonly listeners: Array<() => void> = [];

  /** `counts`: each shard's `rewardCounts` answer, taken before the first write. */
  constructor(private readonly program: () => Program, counts: ReadonlyArray<Record<string, { taken: number; added: number }>>) {
    for (const part of counts) {
      for (const [rewardId, { taken, added }] of Object.entries(part)) {
        if (!Number.isSafeInteger(taken) || !Number.isSafeInteger(added)) throw new Error(`a shard counts ${String(taken)}/${String(added)} units of reward ${rewardId}`);
        const c = this.counter(rewardId);
        c.taken += taken;
        c.added += added;
      }
    }
  }

  /** Called whenever held units are let go or counts move: ops waiting for units may try again. */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** The reward's units left for new redemptions now (null: unlimited), and what ops in flight hold. */
  stockOf(reward: Reward): { stockLeft: number | null; held: number; redeemed: number; restocked: number } {
    const c = this.counters.get(reward.id) ?? { taken: 0, added: 0, held: 0 };
    return { stockLeft: reward.stock === null ? null : Math.max(0, reward.stock + c.added - c.taken), held: c.held, redeemed: c.taken, restocked: c.added };
  }

  /**
   * Gives the ops of a batch about to be sent the units they take (`stockAllow`), in op order, while
   * the stock has them; marks to wait an op whose units ops in flight hold, and every later op of a
   * member in `waitingMembers` or of one marked here (their order on the member is kept). An op the
   * committed stock cannot cover goes without units and is refused `out_of_stock` by its shard. Null
   * when no op of the batch takes stock and no member waits: the batch is left untouched.
   */
  admit(ops: readonly WriteOp[], waitingMembers: ReadonlySet<string>): RewardAdmission | null {
    const rewards = this.cappedRewards();
    // The common batch: a program without stocked rewards, and nobody waiting.
    if (rewards.size === 0 && waitingMembers.size === 0) return null;
    let admission: RewardAdmission | null = null;
    /** Members with an op marked to wait in this batch. */
    const waiting = new Set<string>();
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      if (op.op === 'claim') continue;
      if (waitingMembers.size > 0 || waiting.size > 0) {
        if (waitingMembers.has(op.memberId) || waiting.has(op.memberId)) {
          admission ??= { held: { counters: [], amounts: [], ops }, wait: null };
          (admission.wait ??= new Array<boolean>(ops.length).fill(false))[i] = true;
          if ('stockAllow' in op) delete (op as RewardRedeemOp).stockAllow;
          continue;
        }
      }
      const units = unitsOf(op);
      if (units === 0) continue;
      const stockOp = op as RewardRedeemOp | RewardStockOp;
      const reward = rewards.get(stockOp.rewardId);
      // A reward without a stock (or unknown) takes no units: the shard takes none either.
      if (reward === undefined) { delete stockOp.stockAllow; continue; }
      admission ??= { held: { counters: [], amounts: [], ops }, wait: null };
      const c = this.counter(reward.id);
      const available = reward.stock! + c.added - c.taken;
      if (c.held + units <= available) {
        stockOp.stockAllow = units;
        hold(admission.held, c, units);
      } else {
        delete stockOp.stockAllow;
        if (units <= available) {
          // Units in flight may come back: wait for them rather than refuse.
          (admission.wait ??= new Array<boolean>(ops.length).fill(false))[i] = true;
          waiting.add(op.memberId);
        }
      }
    }
    return admission;
  }

  /** The batch is answered: what it moved is counted, what it held is let go. */
  settle(held: RewardHeld, counts: Readonly<Record<string, [number, number]>> | undefined): void {
    const moved = counts !== undefined || held.counters.length > 0;
    if (counts !== undefined) this.count(counts);
    letGo(held);
    if (moved) this.changed();
  }

  /** The batch failed: nothing of it was written, so its units go back and its ops carry none any more. */
  release(held: RewardHeld): void {
    for (const op of held.ops) if ('stockAllow' in op) delete (op as RewardRedeemOp).stockAllow;
    const moved = held.counters.length > 0;
    letGo(held);
    if (moved) this.changed();
  }

  /** Adds what a shard reports moved, per reward: [units taken, units restocked]. */
  count(counts: Readonly<Record<string, [number, number]>>): void {
    for (const rewardId of Object.keys(counts)) {
      const c = this.counter(rewardId);
      c.taken += counts[rewardId]![0];
      c.added += counts[rewardId]![1];
    }
  }

  /** Counts what a batch that held nothing moved (a cancellation, a restock), and lets waiting ops try again. */
  counted(counts: Readonly<Record<string, [number, number]>>): void {
    this.count(counts);
    this.changed();
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }

  private counter(rewardId: string): Counter {
    let c = this.counters.get(rewardId);
    if (c === undefined) { c = { taken: 0, added: 0, held: 0 }; this.counters.set(rewardId, c); }
    return c;
  }

  private cappedRewards(): Map<string, Reward> {
    const program = this.program();
    if (this.capped !== null && this.capped.program === program) return this.capped.rewards;
    const rewards = new Map<string, Reward>();
    for (const r of program.rewards) if (r.stock !== null) rewards.set(r.id, r);
    this.capped = { program, rewards };
    return rewards;
  }
}

function hold(held: RewardHeld, c: Counter, units: number): void {
  c.held += units;
  const at = held.counters.indexOf(c);
  if (at === -1) { held.counters.push(c); held.amounts.push(units); } else held.amounts[at]! += units;
}

function letGo(held: RewardHeld): void {
  for (let k = 0; k < held.counters.length; k++) held.counters[k]!.held -= held.amounts[k]!;
  held.counters.length = 0;
  held.amounts.length = 0;
}
