// What one batch, sweep slice or import batch shares between the executor's frame (batch.ts) and
// its op families (batch-*.ts beside it): the program, the store, the core, the members the batch
// touched, the ledger value being appended, the running totals and the outbox, with the helpers
// every family credits, debits and writes through. A family gets this object and needs nothing else.
import assert from 'node:assert/strict';
import type { CoreRegions } from '../core/api.js';
import { readSlot, writeSlot } from '../core/slots.js';
import { opError, type ErrorCode } from '../errors.js';
import { emptyTotals, TotalsChange, type BookTotals } from '../rules/totals.js';
import type { HotState, MemberProfile, MemberState, OutboxMessage, ProgramContext } from '../rules/member-state.js';
import type { LedgerKind, OpResult, StoredEntry } from '../ops.js';
import { creditGrant, debitGrants, type Consumption } from '../rules/grants.js';
import { nextDueOf } from '../rules/member-events.js';
import { getState, LedgerAppender, putState, type ShardStore } from './store.js';
import { logPosition } from './batch-log.js';
import type { PendingRedaction } from './log-redaction.js';
import { writeProfile } from './search-index.js';
import type { CouponUse } from './batch-coupons.js';
import { campaignsActive, campaignsIssueCoupons, type CampaignOutcome } from '../rules/campaigns.js';

export const DAY_MS = 86_400_000;

/** A member a batch touches: its stored state, its core slot, and the fold of the batch so far. */
export interface BatchMember {
  memberId: string;
  created: boolean;
  state: HotState;
  /** Loaded only by ops that change the profile (registration, patch). */
  profile: MemberProfile | null;
  profileDirty: boolean;
  slot: number;
  /** The member's state as of the op being finished in phase 3: the fold of this batch so far. */
  running: MemberState;
  /**
   * No event of the member (period end, expiry, birthday) falls before this, given the ops of this
   * batch applied or queued so far: Infinity for none, NaN when an op done in TypeScript may have
   * changed the member's events (batch.ts recomputes it when the member's next op needs it).
   */
  dueMs: number;
  /** Whether an op of the member waits for the core's next call (batch.ts): its running state is not yet the ops' result. */
  queued: boolean;
}

export function copyState(m: MemberState): MemberState {
  return {
    tierId: m.tierId, periodStart: m.periodStart, periodEnd: m.periodEnd, periodMetric: m.periodMetric,
    periodStartTierId: m.periodStartTierId, points: m.points, growth: m.growth,
    walletCents: m.walletCents, lifetimeSpendCents: m.lifetimeSpendCents,
    purchaseCount: m.purchaseCount, firstPurchaseAt: m.firstPurchaseAt, lastPurchaseAt: m.lastPurchaseAt,
  };
}

/** The fields of a MemberState, in copyState's order: what assertSameState compares. */
const MEMBER_STATE_FIELDS: ReadonlyArray<keyof MemberState> = [
  'tierId', 'periodStart', 'periodEnd', 'periodMetric', 'periodStartTierId', 'points', 'growth',
  'walletCents', 'lifetimeSpendCents', 'purchaseCount', 'firstPurchaseAt', 'lastPurchaseAt',
];

/**
 * Every field of the two states is equal, or the core and the batch's fold disagree: stop. The
 * fields compared one by one (a for-in over the fold cost as much as the rest of the check), and
 * named in order only when one differs.
 */
function assertSameState(a: MemberState, b: MemberState, memberId: string): void {
  if (a.tierId === b.tierId && a.periodStart === b.periodStart && a.periodEnd === b.periodEnd && a.periodMetric === b.periodMetric
    && a.periodStartTierId === b.periodStartTierId && a.points === b.points && a.growth === b.growth && a.walletCents === b.walletCents
    && a.lifetimeSpendCents === b.lifetimeSpendCents && a.purchaseCount === b.purchaseCount && a.firstPurchaseAt === b.firstPurchaseAt
    && a.lastPurchaseAt === b.lastPurchaseAt) return;
  for (const key of MEMBER_STATE_FIELDS) {
    if (a[key] !== b[key]) assert.fail(`core and fold disagree on member ${memberId}: ${key} ${String(a[key])} != ${String(b[key])}`);
  }
  assert.fail(`core and fold disagree on member ${memberId}`);
}

const scratch: MemberState = {
  tierId: '', periodStart: 0, periodEnd: null, periodMetric: 0, periodStartTierId: '', points: 0, growth: 0,
  walletCents: 0, lifetimeSpendCents: 0, purchaseCount: 0, firstPurchaseAt: null, lastPurchaseAt: null,
};

/** A business rejection as an op's result. */
export const fail = (code: ErrorCode, message?: string, field?: string): OpResult =>
  ({ ok: false, error: opError(code, message, field) });

/** A ledger entry before it is appended (`prev` is set then). */
export function entry(
  at: number, kind: LedgerKind, memberId: string, ref: string,
  d: { pointsDelta?: number; growthDelta?: number; walletDeltaCents?: number; spendDeltaCents?: number; tierId?: string; pendingDelta?: number },
  cause: number | null = null,
): StoredEntry {
  // One literal shape for every entry (prev is set when it is appended): the encoder stays monomorphic.
  return {
    prev: 0, at, kind, memberId, pointsDelta: d.pointsDelta ?? 0, growthDelta: d.growthDelta ?? 0,
    walletDeltaCents: d.walletDeltaCents ?? 0, spendDeltaCents: d.spendDeltaCents ?? 0,
    tierId: d.tierId ?? null, ref, cause, pendingDelta: d.pendingDelta ?? 0,
  };
}

export class BatchScope {
  /** Members in the order the batch first touched them (null: looked up and absent); written in that order. */
  readonly members = new Map<string, BatchMember | null>();
  /** Outbox messages written by this batch. */
  readonly outbox: Array<[number, OutboxMessage]> = [];
  /**
   * Coupons a queued purchase of this batch holds until its core result: no later op of the batch
   * may use or revoke them (engine/shard/batch-coupons.ts).
   */
  readonly couponsHeld = new Set<string>();
  /** The coupons each queued purchase holds, by op, for its finish. */
  readonly couponUses = new Map<object, CouponUse>();
  /** The campaigns each queued purchase or quote resolved before the core's call, by op, for its finish (batch-campaigns.ts). */
  readonly campaignOutcomes = new Map<object, CampaignOutcome>();
  /** Coupons this batch issued, per template: the router's totalMax counter adds them (engine/router/coupon-gate.ts). */
  readonly couponsIssuedByTemplate = new Map<string, number>();

  /**
   * How the batch moved each reward's units on this shard: [held redeemed, restocked]; the router's
   * stock counter adds them (engine/router/reward-gate.ts).
   */
  readonly rewardMoves = new Map<string, [number, number]>();

  /** The batch's moves of reward units for its reply, or undefined when it moved none. */
  rewardCounts(): Record<string, [number, number]> | undefined {
    if (this.rewardMoves.size === 0) return undefined;
    const counts: Record<string, [number, number]> = {};
    for (const [rewardId, moved] of this.rewardMoves) counts[rewardId] = moved;
    return counts;
  }

  /** The batch's issued coupons per template for its reply, or undefined when it issued none. */
  couponCounts(): Record<string, number> | undefined {
    if (this.couponsIssuedByTemplate.size === 0) return undefined;
    const counts: Record<string, number> = {};
    for (const [templateId, n] of this.couponsIssuedByTemplate) counts[templateId] = n;
    return counts;
  }
  private slotCount = 0;

  /**
   * The last answer finishCore (batch-core.ts) gave that has the plain purchase shape
   * (engine/batch-records.ts PlainPurchaseAnswer): the executor marks its place in the results.
   */
  plainAnswer: OpResult | null = null;

  /**
   * Whether the program has an active campaign, and whether one issues coupons: asked once per
   * batch rather than once per purchase (each a WeakMap lookup of the program's compiled campaigns).
   */
  readonly campaignsActive: boolean;
  readonly campaignsIssueCoupons: boolean;

  private constructor(
    readonly ctx: ProgramContext,
    readonly store: ShardStore,
    readonly core: CoreRegions,
    private readonly shardId: number,
    readonly ledger: LedgerAppender,
    /** This batch's changes to the shard's running totals, added to them when it closes. */
    readonly totals: TotalsChange,
    /** The shard's outbox sequence. */
    private outSeq: number,
  ) {
    this.campaignsActive = campaignsActive(ctx.program);
    this.campaignsIssueCoupons = campaignsIssueCoupons(ctx.program);
  }

  /** Starts a batch: the ledger value, its totals' changes and the shard's outbox sequence. */
  static open(ctx: ProgramContext, store: ShardStore, core: CoreRegions, shardId: number): BatchScope {
    const outSeq = (store.meta.get('outSeq') as number | undefined) ?? 0;
    return new BatchScope(ctx, store, core, shardId, new LedgerAppender(store), new TotalsChange(), outSeq);
  }

  private logSeqOf: number | undefined;

  /** Members erased by this batch whose own personal data this batch's log entry carries (engine/shard/log-redaction.ts). */
  readonly pendingRedactions: PendingRedaction[] = [];

  /**
   * The batch-log sequence this batch's entry takes (engine/shard/machine.ts appends it after the
   * batch ran): read once, when an op first asks.
   */
  get logSeq(): number {
    this.logSeqOf ??= logPosition(this.store).seq + 1;
    return this.logSeqOf;
  }

  /** Core slots taken by the batch's members so far. */
  get slotsUsed(): number {
    return this.slotCount;
  }

  /** The member as the batch has it, loading and attaching it on first use; null when it does not exist. */
  load(memberId: string): BatchMember | null {
    let m = this.members.get(memberId);
    if (m !== undefined) return m;
    const state = getState(this.store, memberId);
    if (state !== undefined) return this.attach(memberId, state, null, false);
    this.members.set(memberId, null);
    return null;
  }

  /** Gives the member the next core slot and records it as touched by this batch. */
  attach(memberId: string, state: HotState, profile: MemberProfile | null, created: boolean): BatchMember {
    const slot = this.slotCount++;
    writeSlot(this.ctx, state, this.core.members, slot);
    const dueMs = state.nextDue < 0 ? Number.POSITIVE_INFINITY : state.nextDue;
    const m: BatchMember = { memberId, created, state, profile, profileDirty: profile !== null, slot, running: copyState(state), dueMs, queued: false };
    this.members.set(memberId, m);
    return m;
  }

  /** Puts the member's running state into its core slot, after a family changed it in TypeScript. */
  toSlot(m: BatchMember): void {
    writeSlot(this.ctx, m.running, this.core.members, m.slot);
  }

  /** Appends an entry to the member's chain (setting its `prev`) and returns its seq. */
  append(m: BatchMember, e: StoredEntry): number {
    e.prev = m.state.lastSeq;
    const seq = this.ledger.append(e);
    m.state.lastSeq = seq;
    return seq;
  }

  /** Adds points (> 0) granted by entry `grantId`: with expiry on, they become a grant (engine/rules/grants.ts). */
  addPoints(m: BatchMember, points: number, atMs: number, grantId: number): void {
    if (points <= 0) return;
    const days = this.ctx.program.pointsExpiryDays;
    if (days !== null) creditGrant(m.state.grants, grantId, atMs + days * DAY_MS, points, m.running.points);
    m.running.points += points;
  }

  /** Takes points (> 0), oldest grants first; returns which grants paid, for a later restore. */
  takePoints(m: BatchMember, points: number): Consumption {
    if (points <= 0) return [];
    const taken = debitGrants(m.state.grants, points);
    m.running.points -= points;
    return taken;
  }

  /** Queues a credit for another member, written with this batch and delivered after it. */
  send(msg: Omit<OutboxMessage, 'id'>): void {
    this.outSeq += 1;
    const full: OutboxMessage = { id: `${this.shardId}:${this.outSeq}`, ...msg };
    this.store.outbox.putSync(this.outSeq, full);
    this.outbox.push([this.outSeq, full]);
  }

  /** Writes one member's state, profile and due-index entry, and moves the totals by its change. */
  writeMember(m: BatchMember): void {
    const { store, totals } = this;
    const r = m.running;
    if (m.created) totals.members += 1;
    totals.moveTier(m.created ? null : m.state.tierId, r.tierId);
    // Old and new balance apart: their difference need not be a safe integer.
    totals.pointsOutstanding.add(r.points);
    totals.walletOutstandingCents.add(r.walletCents);
    if (!m.created) { totals.pointsOutstanding.add(-m.state.points); totals.walletOutstandingCents.add(-m.state.walletCents); }
    const nextDue = nextDueOf(this.ctx, m.state, r);
    const oldDue = m.created ? -1 : m.state.nextDue;
    if (nextDue !== oldDue) {
      if (oldDue >= 0) store.due.removeSync([oldDue, m.memberId]);
      if (nextDue >= 0) store.due.putSync([nextDue, m.memberId], '');
    }
    // The member's state object is done with once written: fold the batch's result into it,
    // field by field (Object.assign's generic path cost more than the copy).
    const s = m.state;
    s.tierId = r.tierId; s.periodStart = r.periodStart; s.periodEnd = r.periodEnd; s.periodMetric = r.periodMetric;
    s.periodStartTierId = r.periodStartTierId; s.points = r.points; s.growth = r.growth; s.walletCents = r.walletCents;
    s.lifetimeSpendCents = r.lifetimeSpendCents; s.purchaseCount = r.purchaseCount;
    s.firstPurchaseAt = r.firstPurchaseAt; s.lastPurchaseAt = r.lastPurchaseAt;
    s.nextDue = nextDue;
    putState(store, m.memberId, s);
    if (m.profileDirty) writeProfile(store, m.memberId, m.profile!, m.created);
  }

  /** Writes every touched member (each checked against its core slot), then closes the batch. */
  finish(): void {
    for (const m of this.members.values()) {
      if (m === null) continue;
      // Every touched member's stored state is the core's slot, and must equal the batch's fold.
      readSlot(this.ctx, this.core.members, m.slot, scratch);
      assertSameState(scratch, m.running, m.memberId);
      this.writeMember(m);
    }
    this.close();
  }

  /** Ends a batch: the ledger value, the totals and the outbox sequence. */
  close(): void {
    this.ledger.finish();
    const stored = (this.store.meta.get('totals') as BookTotals | undefined) ?? emptyTotals();
    this.store.meta.putSync('totals', this.totals.appliedTo(stored));
    if (this.outbox.length > 0) this.store.meta.putSync('outSeq', this.outSeq);
  }
}
