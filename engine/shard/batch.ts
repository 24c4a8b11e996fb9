// Applies one batch of write ops to a shard in one LMDB transaction: the frame that checks keys and
// loads members in op order, brings each member up to the op's time, and dispatches each op to its
// family (batch-*.ts beside this file), running the core once over each run of arithmetic ops.
// Business rejections become per-op results; nothing of a rejected op is written.
import assert from 'node:assert/strict';
import * as L from '../core/layout.js';
import type { CoreRegions } from '../core/api.js';
import type { OutboxMessage, ProgramContext } from '../rules/member-state.js';
import { SYSTEM_KEY_ID, type CouponSupply, type OpResult, type WriteOp } from '../ops.js';
import type { ImportRows } from '../import-rows.js';
import type { ShardStore } from './store.js';
import { AT_MIN_MS, TIME_MS_MAX } from '../limits.js';
import { fail, BatchScope, type BatchMember } from './batch-scope.js';
import { conflictCode, storedKey } from './batch-keys.js';
import { coreOpProblem, finishCore, queueCoreOp } from './batch-core.js';
import { admitMember, finishPatch, finishRegister } from './batch-members.js';
import { finishReturn } from './batch-returns.js';
import { finishProduct } from './batch-products.js';
import { finishCredit } from './batch-credits.js';
import { advanceMember, coreEventLeadMs, nextEventMs, sweepSlice } from './batch-sweep.js';
import { importRows } from './batch-import.js';
import { claimedElsewhere, claimKeys, storesClaims } from './batch-claims.js';
import { settleSlice } from './batch-program.js';
import { CouponSupplyCursor, finishCouponIssue, finishCouponRevoke, holdCoupons, releaseCoupons } from './batch-coupons.js';
import { extraPastLimit, resolveCampaigns } from './batch-campaigns.js';
import { finishRestock, finishRewardCancel, finishRewardFulfil, finishRewardRedeem, writeRewardCounters } from './batch-rewards.js';
import { finishCardAdjust, finishCardUse } from './batch-cards.js';
import { finishErase } from './batch-erase.js';
import type { PendingRedaction } from './log-redaction.js';
import type { CampaignOutcome } from '../rules/campaigns.js';
import { markPlainPurchaseAnswers } from '../batch-records.js';

export { IMPORTED_AS_SENT } from './batch-import.js';

/** An op family done in TypeScript: checks the op, writes what it causes, and answers it. */
type Family<O extends WriteOp> = (b: BatchScope, op: O, m: BatchMember) => OpResult;

/**
 * The families that run in TypeScript on an existing member, by op. An op not listed (and not a
 * registration) is arithmetic and goes to the core (batch-core.ts). A new family is one line here.
 */
const FAMILIES: { [K in WriteOp['op']]?: Family<Extract<WriteOp, { op: K }>> } = {
  patch: finishPatch,
  return: finishReturn,
  product: finishProduct,
  credit: finishCredit,
  coupon_issue: finishCouponIssue,
  coupon_revoke: finishCouponRevoke,
  reward_redeem: finishRewardRedeem,
  reward_fulfil: finishRewardFulfil,
  reward_cancel: finishRewardCancel,
  card_use: finishCardUse,
  card_adjust: finishCardAdjust,
  erase: finishErase,
};

/**
 * The ops that still apply to an erased member (docs/rules.md §15): returns of its earlier orders
 * (it can make no new ones), the outbox's credits written before or because of them, and an
 * erasure again (answered as the first).
 */
const ERASED_MAY: ReadonlySet<WriteOp['op']> = new Set(['return', 'credit', 'erase']);

/**
 * A reply with the coupons its task issued per template (`couponCounts`), only when it issued any,
 * and the reward units it moved (`rewardCounts`), only when it moved any: replies of tasks that do
 * neither, and so their log checksums, stay as they were.
 */
function withCouponCounts<R extends object>(reply: R, b: BatchScope): R & { couponCounts?: Record<string, number>; rewardCounts?: Record<string, [number, number]> } {
  const counts = b.couponCounts();
  const rewards = b.rewardCounts();
  if (counts === undefined && rewards === undefined) return reply;
  return { ...reply, ...(counts === undefined ? {} : { couponCounts: counts }), ...(rewards === undefined ? {} : { rewardCounts: rewards }) };
}

export class BatchExecutor {
  private encodedVersion = -1;

  constructor(private readonly store: ShardStore, private readonly core: CoreRegions, private readonly shardId: number) {}

  /**
   * Runs the batch inside the caller's write transaction and returns one result per op, and the
   * outbox messages the batch wrote. Consecutive arithmetic ops go to the core in one call; an op
   * done in TypeScript (registration, profile, return, credit) first finishes the core ops before
   * it, so that every op sees the member as the ops before it left them.
   */
  apply(ctx: ProgramContext, ops: WriteOp[], encodeProgram: (out: Float64Array) => void): { results: OpResult[]; outbox: Array<[number, OutboxMessage]> } {
    assert.ok(ops.length <= L.CORE_OPS_MAX, 'batch larger than the core');
    const { store, core } = this;
    const b = this.begin(ctx, encodeProgram);
    this.pendingRedactions = b.pendingRedactions;
    const batchKeys = new Map<string, { fp: number; index: number }>();
    const results: OpResult[] = new Array(ops.length);
    // Which results are plain purchase answers, for their packing (engine/batch-records.ts).
    const plainAnswers = new Uint8Array(ops.length);
    const repeats: Array<[number, number]> = [];
    const coreLeadMs = coreEventLeadMs(ctx);

    const settle = (i: number, result: OpResult): void => {
      const op = ops[i]!;
      if (result.ok && 'key' in op && op.key !== '' && op.op !== 'purchase') {
        const { ok: _ok, replayed: _replayed, ...res } = result;
        store.keys.putSync(op.key, { fp: op.fp, res });
      }
      results[i] = result;
    };
    // The queued core ops, by their record in the core's call: each op's index and its member.
    const pendingIndex: number[] = [];
    const pendingMembers: BatchMember[] = [];
    const runCore = (): void => {
      const n = pendingIndex.length;
      if (n === 0) return;
      core.run(n);
      for (let k = 0; k < n; k++) pendingMembers[k]!.queued = false;
      for (let k = 0; k < n; k++) {
        const i = pendingIndex[k]!;
        const op = ops[i]!;
        b.ledger.by = op.by;
        const result = finishCore(b, op, k, pendingMembers[k]!);
        if (result === b.plainAnswer) plainAnswers[i] = 1;
        settle(i, result);
      }
      pendingIndex.length = 0;
      pendingMembers.length = 0;
    };

    // Whether the shard stores any claim (batch-claims.ts storesClaims): asked when a key first
    // needs it, and again after each claim op (a release whose body differs keeps a stored claim
    // out of batchKeys).
    let claimsStored: boolean | undefined;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      if (op.op === 'claim') { results[i] = claimKeys(store, op, batchKeys, i); claimsStored = undefined; continue; }
      // The front end bounds `at` (server/requests.ts); an op that reaches a shard without that
      // (an outbox credit written before the bound) is refused alone, never failing its batch.
      if (!(op.atMs >= AT_MIN_MS && op.atMs <= TIME_MS_MAX && Number.isInteger(op.atMs))) {
        results[i] = fail('invalid_request', 'at: must be between 2000-01-01 and 9999-12-31', 'at');
        continue;
      }
      if ('key' in op && op.key !== '') {
        const earlier = batchKeys.get(op.key);
        if (earlier !== undefined) {
          if (earlier.fp === op.fp) repeats.push([i, earlier.index]);
          else results[i] = fail(conflictCode(op));
          continue;
        }
        const stored = storedKey(store, op);
        if (stored !== undefined) {
          results[i] = stored.fp === op.fp ? { ok: true, ...stored.res, replayed: true } : fail(conflictCode(op));
          continue;
        }
        // A retry under the fingerprint of the raw text (keys stored before fingerprints of the op as understood) only replays.
        if (op.replayOnly === true) { results[i] = fail(conflictCode(op)); continue; }
        // An op of another shard's member holds this key here (a claim is never this op's own).
        if (op.keyHome === true && claimedElsewhere(store, op.key, batchKeys, claimsStored ??= storesClaims(store))) { results[i] = fail(conflictCode(op)); continue; }
        batchKeys.set(op.key, { fp: op.fp, index: i });
      }
      // A restock belongs to no member: it moves its reward's counter on this shard (batch-rewards.ts).
      if (op.op === 'reward_stock') { b.ledger.by = op.by; settle(i, finishRestock(b, op)); continue; }
      if (op.op === 'register') {
        const member = admitMember(b, op);
        if ('code' in member) { results[i] = { ok: false, error: member }; continue; }
        runCore();
        b.ledger.by = op.by;
        settle(i, finishRegister(b, op, member));
        // Its grants, period and birthday are known when the member's next op of the batch needs them.
        member.dueMs = Number.NaN;
        continue;
      }
      const member = b.load(op.memberId);
      if (member === null) { results[i] = fail('member_not_found', undefined, 'memberId'); continue; }
      if (member.state.erasedAt !== undefined && !ERASED_MAY.has(op.op)) { results[i] = fail('member_erased', undefined, 'memberId'); continue; }
      // Events due before this op (a period end, an expiry, a birthday) happen first, also those
      // an earlier op of this batch made. The common case, an op whose member has nothing due by
      // then, costs one comparison (a NaN due time fails it too).
      if (!(member.dueMs > op.atMs)) {
        // The member's queued core ops bound its events only: run them to know them exactly.
        if (member.queued) runCore();
        member.dueMs = nextEventMs(b, member);
        if (member.dueMs <= op.atMs) {
          runCore();
          // What falls due happens by the passing of time, as the sweep would have done it.
          b.ledger.by = SYSTEM_KEY_ID;
          advanceMember(b, member, op.atMs, CouponSupplyCursor.of(op as CouponSupply));
          member.dueMs = nextEventMs(b, member);
        }
      }
      // A purchase, nearly every op, is no family's: it skips the table's lookup by op name.
      const family = op.op === 'purchase' ? undefined : FAMILIES[op.op] as Family<WriteOp> | undefined;
      if (family !== undefined) {
        runCore();
        b.ledger.by = op.by;
        settle(i, family(b, op, member));
        // A family may have changed the member's events (restored grants, a period, a birthday).
        member.dueMs = Number.NaN;
        continue;
      }
      const problem = coreOpProblem(op);
      if (problem !== null) { results[i] = problem; continue; }
      let couponCents = 0;
      if (op.op === 'purchase' && op.couponCodes !== undefined && op.couponCodes.length > 0) {
        // The coupons' checks read the member's tier as the ops before left it.
        if (member.queued) runCore();
        const use = holdCoupons(b, member, op.couponCodes, op);
        if ('ok' in use) { results[i] = use; continue; }
        b.couponUses.set(op, use);
        couponCents = use.totalCents;
      }
      let campaigns: CampaignOutcome | null = null;
      if ((op.op === 'purchase' || op.op === 'quote') && b.campaignsActive) {
        // The campaigns match on the tier the ops before left and the net at its rate (batch-campaigns.ts).
        if (member.queued) runCore();
        campaigns = resolveCampaigns(b, op, member, couponCents);
        if (!campaigns.extraWithinLimit) {
          // Refused alone, before the core: the coupons it held go back to the batch.
          const use = b.couponUses.get(op);
          if (use !== undefined) { releaseCoupons(b, use); b.couponUses.delete(op); }
          results[i] = extraPastLimit(campaigns);
          continue;
        }
        b.campaignOutcomes.set(op, campaigns);
      }
      queueCoreOp(b, op, member, pendingIndex.length, couponCents, campaigns);
      pendingIndex.push(i);
      pendingMembers.push(member);
      member.queued = true;
      // Until the core's call, all that is known of the events this op makes is how soon they can fall.
      member.dueMs = Math.min(member.dueMs, op.atMs + coreLeadMs);
    }
    runCore();
    assert.ok(b.slotsUsed <= L.CORE_MEMBERS_MAX, 'batch touches more members than the core holds');
    if (b.rewardMoves.size > 0) writeRewardCounters(b);
    for (const [i, of] of repeats) {
      const first = results[of]!;
      results[i] = first.ok ? { ...first, replayed: true } : first;
    }
    b.finish();
    markPlainPurchaseAnswers(results, plainAnswers);
    return withCouponCounts({ results, outbox: b.outbox }, b);
  }

  /**
   * A batch of imported rows: lean registrations without a referrer (server/import-members.ts), as
   * columns (engine/import-rows.ts), written by batch-import.ts.
   */
  importBatch(ctx: ProgramContext, rows: ImportRows, encodeProgram: (out: Float64Array) => void): { results: OpResult[]; outbox: Array<[number, OutboxMessage]> } {
    const b = this.begin(ctx, encodeProgram);
    b.ledger.by = rows.by;
    const results = importRows(b, rows);
    return withCouponCounts({ results, outbox: b.outbox }, b);
  }

  /**
   * One slice of the sweep (docs/rules.md §6): members whose next event is due at or before `asOfMs`,
   * at most `limit` of them, each brought up to `asOfMs`. Returns how many and whether more are due.
   */
  sweep(ctx: ProgramContext, asOfMs: number, limit: number, encodeProgram: (out: Float64Array) => void, newCodes: readonly string[] = []): { members: number; more: boolean; couponCounts?: Record<string, number>; rewardCounts?: Record<string, [number, number]> } {
    const b = this.begin(ctx, encodeProgram);
    return withCouponCounts(sweepSlice(b, asOfMs, limit, new CouponSupplyCursor(newCodes, [])), b);
  }

  /**
   * One slice of a program change's settling (batch-program.ts): members holding a tier the
   * program dropped move to its first tier, and every member's due time is recomputed. Returns the
   * key to continue after, or null when done.
   */
  settle(ctx: ProgramContext, atMs: number, after: string | null, limit: number, encodeProgram: (out: Float64Array) => void): string | null {
    return settleSlice(this.begin(ctx, encodeProgram), atMs, after, limit);
  }

  /**
   * The members the last batch erased whose own ops it carried: their personal values leave the
   * batch's log entry before it is written (engine/shard/machine.ts).
   */
  pendingRedactions: PendingRedaction[] = [];

  /** Starts a batch or a sweep slice: the program in the core, then the batch's scope. */
  private begin(ctx: ProgramContext, encodeProgram: (out: Float64Array) => void): BatchScope {
    if (this.encodedVersion !== ctx.version) {
      encodeProgram(this.core.program);
      this.encodedVersion = ctx.version;
    }
    return BatchScope.open(ctx, this.store, this.core, this.shardId);
  }
}
