// Applies one batch of write ops to a shard in one LMDB transaction: checks keys and members in op
// order, runs the core once over every arithmetic op, then writes entries, orders, members and
// keys in op order. Business rejections become per-op results; nothing of a rejected op is written.
import assert from 'node:assert/strict';
import * as L from '../core/layout.js';
import type { CoreRegions } from '../core/api.js';
import { readSlot, writeSlot } from '../core/slots.js';
import { opError, type ErrorCode, type OpError } from '../errors.js';
import { inBirthdayMonth } from '../rules/calendar.js';
import { emptyTotals, moveTier, type BookTotals } from '../rules/totals.js';
import {
  memberView, purchaseResponse, tierIndexOf,
  type HotState, type MemberProfile, type MemberState, type OrderRecord, type OutboxMessage, type ProgramContext,
} from '../rules/member-state.js';
import { CLAIM_CONFLICT, CLAIM_HELD, CLAIM_KEY_PREFIX, CLAIM_REPLAYED, PROFILE_FIELDS, type ClaimOp, type CreditOp, type ProductOp, type StoredEntry, type OpResult, type WriteOp, type RegisterOp, type PatchOp, type LedgerKind, type ReturnOp } from '../ops.js';
import { planReturn, purchaseRewards, remainingConsumption, tierAfterReturn } from '../rules/returns.js';
import { creditGrant, debitGrants, restoreGrants, type Consumption } from '../rules/grants.js';
import { advance, nextDueOf, settleBirthdayYear } from '../rules/member-events.js';
import { getState, LedgerAppender, putState, type ShardStore, type StoredKey } from './store.js';
import { importRowCount, importRowOp, type ImportRows } from '../import-rows.js';

const DAY_MS = 86_400_000;

/** Core status codes in the order of core-layout.ts, as catalogue codes. */
const STATUS_CODES: Record<number, ErrorCode> = {
  [L.S_INSUFFICIENT_POINTS]: 'insufficient_points',
  [L.S_INSUFFICIENT_WALLET]: 'insufficient_wallet',
  [L.S_WALLET_LIMIT]: 'wallet_limit',
  [L.S_NEGATIVE_NET]: 'negative_net',
  [L.S_TOPUP_BELOW_MINIMUM]: 'topup_below_minimum',
  [L.S_BALANCE_LIMIT]: 'balance_limit',
  [L.S_REDEMPTION_TOO_SMALL]: 'redemption_too_small',
};

/** A transfer's debit is the core's withdrawal: the same check, the same arithmetic. */
const CORE_KINDS: Record<string, number> = {
  purchase: L.OP_PURCHASE, redeem: L.OP_REDEEM, adjust: L.OP_ADJUST, topup: L.OP_TOPUP,
  withdraw: L.OP_WITHDRAW, transfer: L.OP_WITHDRAW, quote: L.OP_QUOTE,
};

interface BatchMember {
  memberId: string;
  created: boolean;
  state: HotState;
  /** Loaded only by ops that change the profile (registration, patch). */
  profile: MemberProfile | null;
  profileDirty: boolean;
  slot: number;
  /** The member's state as of the op being finished in phase 3: the fold of this batch so far. */
  running: MemberState;
}

function copyState(m: MemberState): MemberState {
  return {
    tierId: m.tierId, periodStart: m.periodStart, periodEnd: m.periodEnd, periodMetric: m.periodMetric,
    periodStartTierId: m.periodStartTierId, points: m.points, growth: m.growth,
    walletCents: m.walletCents, lifetimeSpendCents: m.lifetimeSpendCents,
    purchaseCount: m.purchaseCount, firstPurchaseAt: m.firstPurchaseAt, lastPurchaseAt: m.lastPurchaseAt,
  };
}

/** Every field of the two states is equal, or the core and the batch's fold disagree: stop. */
function assertSameState(fromCore: MemberState, fold: MemberState, memberId: string): void {
  for (const k in fold) {
    const key = k as keyof MemberState;
    if (fromCore[key] !== fold[key]) {
      assert.fail(`core and fold disagree on member ${memberId}: ${key} ${String(fromCore[key])} != ${String(fold[key])}`);
    }
  }
}

const scratch: MemberState = {
  tierId: '', periodStart: 0, periodEnd: null, periodMetric: 0, periodStartTierId: '', points: 0, growth: 0,
  walletCents: 0, lifetimeSpendCents: 0, purchaseCount: 0, firstPurchaseAt: null, lastPurchaseAt: null,
};

const fail = (code: ErrorCode, message?: string, field?: string): OpResult =>
  ({ ok: false, error: opError(code, message, field) });

export class BatchExecutor {
  private encodedVersion = -1;
  /** The shard's running totals, loaded per batch and written with it. */
  private totals: BookTotals = emptyTotals();
  /** Outbox messages written by the current batch, and the shard's outbox sequence. */
  private outbox: Array<[number, OutboxMessage]> = [];
  private outSeq = 0;

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
    const members = new Map<string, BatchMember | null>();
    const batchKeys = new Map<string, { fp: number; index: number }>();
    const results: OpResult[] = new Array(ops.length);
    const repeats: Array<[number, number]> = [];
    let slotCount = 0;
    const { ledger, append, totals } = this.begin(ctx, encodeProgram);

    const loadMember = (memberId: string): BatchMember | null => {
      let m = members.get(memberId);
      if (m !== undefined) return m;
      const state = getState(store, memberId);
      m = state === undefined ? null : this.attach(ctx, memberId, state, null, slotCount++, false);
      members.set(memberId, m);
      return m;
    };
    const settle = (i: number, result: OpResult): void => {
      const op = ops[i]!;
      if (result.ok && 'key' in op && op.key !== '' && op.op !== 'purchase') {
        const { ok: _ok, replayed: _replayed, ...res } = result;
        store.keys.putSync(op.key, { fp: op.fp, res });
      }
      results[i] = result;
    };
    let pending: Array<{ i: number; member: BatchMember }> = [];
    const runCore = (): void => {
      if (pending.length === 0) return;
      core.run(pending.length);
      pending.forEach((p, k) => settle(p.i, this.finishCore(ctx, ops[p.i]!, k, p.member, append)));
      pending = [];
    };

    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      if (op.op === 'claim') { results[i] = this.claim(op, batchKeys, i); continue; }
      if ('key' in op && op.key !== '') {
        const earlier = batchKeys.get(op.key);
        if (earlier !== undefined) {
          if (earlier.fp === op.fp) repeats.push([i, earlier.index]);
          else results[i] = fail(conflictCode(op));
          continue;
        }
        const stored = this.storedKey(op);
        if (stored !== undefined) {
          results[i] = stored.fp === op.fp ? { ok: true, ...stored.res, replayed: true } : fail(conflictCode(op));
          continue;
        }
        if (op.replayOnly === true) { results[i] = fail(conflictCode(op)); continue; }
        // An op of another shard's member holds this key here (a claim is never this op's own).
        if (op.keyHome === true && (batchKeys.has(CLAIM_KEY_PREFIX + op.key) || this.store.keys.get(CLAIM_KEY_PREFIX + op.key) !== undefined)) {
          results[i] = fail(conflictCode(op));
          continue;
        }
        batchKeys.set(op.key, { fp: op.fp, index: i });
      }
      if (op.op === 'register') {
        const problem = this.registerProblem(ctx, op, loadMember(op.memberId) !== null);
        if (problem !== null) { results[i] = { ok: false, error: problem }; continue; }
        const created = this.newMember(ctx, op);
        const member = this.attach(ctx, op.memberId, created.state, created.profile, slotCount++, true);
        members.set(op.memberId, member);
        runCore();
        settle(i, this.finishRegister(ctx, op, member, append));
        continue;
      }
      const member = loadMember(op.memberId);
      if (member === null) { results[i] = fail('member_not_found', undefined, 'memberId'); continue; }
      if (member.state.nextDue >= 0 && member.state.nextDue <= op.atMs) {
        // Events due before this op (a period end, an expiry, a birthday) happen first.
        runCore();
        this.advanceMember(ctx, member, op.atMs, append);
      }
      if (op.op === 'patch' || op.op === 'return' || op.op === 'credit' || op.op === 'product') {
        runCore();
        const problem = op.op === 'patch' ? this.uniqueProblem(op) : null;
        settle(i, problem !== null ? { ok: false, error: problem }
          : op.op === 'patch' ? this.finishPatch(op, member)
          : op.op === 'return' ? this.finishReturn(ctx, op, member, append)
          : op.op === 'product' ? this.finishProduct(ctx, op, member, append)
          : this.finishCredit(ctx, op, member, append));
        continue;
      }
      const o = pending.length * L.O_SLOTS;
      const rec = core.ops;
      rec.fill(0, o, o + L.O_SLOTS);
      rec[o + L.O_KIND] = CORE_KINDS[op.op]!;
      rec[o + L.O_SLOT] = member.slot;
      rec[o + L.O_AT_MS] = op.atMs;
      switch (op.op) {
        case 'purchase':
          rec[o + L.O_A] = op.amountCents; rec[o + L.O_B] = op.discountCents;
          rec[o + L.O_C] = op.redeemPoints; rec[o + L.O_D] = op.walletCents;
          if (inBirthdayMonth(member.state.birthdayMonth, op.atMs, ctx.program.timezone)) rec[o + L.O_FLAGS] = L.FLAG_BIRTHDAY;
          break;
        case 'quote':
          rec[o + L.O_A] = op.amountCents;
          if (inBirthdayMonth(member.state.birthdayMonth, op.atMs, ctx.program.timezone)) rec[o + L.O_FLAGS] = L.FLAG_BIRTHDAY;
          break;
        case 'redeem': case 'adjust': rec[o + L.O_A] = op.points; break;
        case 'topup': case 'withdraw': case 'transfer': rec[o + L.O_A] = op.amountCents; break;
      }
      pending.push({ i, member });
    }
    runCore();
    assert.ok(slotCount <= L.CORE_MEMBERS_MAX, 'batch touches more members than the core holds');
    for (const [i, of] of repeats) {
      const first = results[of]!;
      results[i] = first.ok ? { ...first, replayed: true } : first;
    }
    this.finish(ctx, members.values(), ledger, totals);
    return { results, outbox: this.outbox };
  }

  /** Starts a batch or a sweep slice: the program in the core, the ledger value, totals, outbox. */
  private begin(ctx: ProgramContext, encodeProgram: (out: Float64Array) => void): { ledger: LedgerAppender; append: Appender; totals: BookTotals } {
    if (this.encodedVersion !== ctx.version) {
      encodeProgram(this.core.program);
      this.encodedVersion = ctx.version;
    }
    const { store } = this;
    const ledger = new LedgerAppender(store);
    const append = (m: BatchMember, e: StoredEntry): number => {
      e.prev = m.state.lastSeq;
      const seq = ledger.append(e);
      m.state.lastSeq = seq;
      return seq;
    };
    this.totals = (store.meta.get('totals') as BookTotals | undefined) ?? emptyTotals();
    this.outbox = [];
    this.outSeq = (store.meta.get('outSeq') as number | undefined) ?? 0;
    return { ledger, append, totals: this.totals };
  }

  /** Writes every touched member, the ledger value, the totals and the outbox sequence. */
  private finish(ctx: ProgramContext, members: Iterable<BatchMember | null>, ledger: LedgerAppender, totals: BookTotals): void {
    const { core } = this;
    for (const m of members) {
      if (m === null) continue;
      // Every touched member's stored state is the core's slot, and must equal the batch's fold.
      readSlot(ctx, core.members, m.slot, scratch);
      assertSameState(scratch, m.running, m.memberId);
      this.writeMember(ctx, m, totals);
    }
    this.close(ledger, totals);
  }

  /** Writes one member's state, profile and due-index entry, and moves the totals by its change. */
  private writeMember(ctx: ProgramContext, m: BatchMember, totals: BookTotals): void {
    const { store } = this;
    const r = m.running;
    if (m.created) totals.members += 1;
    moveTier(totals, m.created ? null : m.state.tierId, r.tierId);
    totals.pointsOutstanding += r.points - (m.created ? 0 : m.state.points);
    totals.walletOutstandingCents += r.walletCents - (m.created ? 0 : m.state.walletCents);
    const nextDue = nextDueOf(ctx, m.state, r);
    const oldDue = m.created ? -1 : m.state.nextDue;
    if (nextDue !== oldDue) {
      if (oldDue >= 0) store.due.removeSync([oldDue, m.memberId]);
      if (nextDue >= 0) store.due.putSync([nextDue, m.memberId], '');
    }
    // The member's state object is done with once written: fold the batch's result into it.
    Object.assign(m.state, r).nextDue = nextDue;
    putState(store, m.memberId, m.state);
    if (m.profileDirty) store.members.putSync(m.memberId, m.profile!);
  }

  /** Ends a batch: the ledger value, the totals and the outbox sequence. */
  private close(ledger: LedgerAppender, totals: BookTotals): void {
    ledger.finish();
    this.store.meta.putSync('totals', totals);
    if (this.outbox.length > 0) this.store.meta.putSync('outSeq', this.outSeq);
  }

  /**
   * A batch of imported rows: lean registrations without a referrer (server/import-members.ts), as
   * columns (engine/import-rows.ts).
   * Each is written as `apply` would write it (the same entry, grant, indexes, state and totals),
   * without the core, which a registration does not use, and without the per-op machinery of mixed
   * batches. A row keyed by its memberId keeps its fingerprint in the profile rather than under a
   * separate key: the member's existence already says the key was used.
   */
  importBatch(ctx: ProgramContext, rows: ImportRows, encodeProgram: (out: Float64Array) => void): { results: OpResult[]; outbox: Array<[number, OutboxMessage]> } {
    const { store } = this;
    const { ledger, append, totals } = this.begin(ctx, encodeProgram);
    const count = importRowCount(rows);
    const results: OpResult[] = new Array(count);
    const batchKeys = new Map<string, { fp: number; index: number }>();
    const created = new Set<string>();
    for (let i = 0; i < count; i++) {
      const op = importRowOp(rows, i);
      const earlier = batchKeys.get(op.key);
      if (earlier !== undefined) {
        const first = results[earlier.index]!;
        results[i] = earlier.fp !== op.fp ? fail(conflictCode(op)) : first.ok ? { ...first, replayed: true } : first;
        continue;
      }
      batchKeys.set(op.key, { fp: op.fp, index: i });
      const exists = created.has(op.memberId) || store.states.getBinaryFast(op.memberId) !== undefined;
      // A memberId key can only have been used if the member exists; a requestId key is looked up.
      const stored = exists || !op.key.startsWith(MEMBER_KEY_PREFIX) ? this.storedKey(op) : undefined;
      if (stored !== undefined) {
        results[i] = stored.fp === op.fp ? { ok: true, ...stored.res, replayed: true } : fail(conflictCode(op));
        continue;
      }
      const problem = this.registerProblem(ctx, op, exists);
      if (problem !== null) { results[i] = { ok: false, error: problem }; continue; }
      const { state, profile } = this.newMember(ctx, op);
      const m: BatchMember = { memberId: op.memberId, created: true, state, profile, profileDirty: true, slot: -1, running: copyState(state) };
      created.add(op.memberId);
      this.finishRegister(ctx, op, m, append);
      if (op.key.startsWith(MEMBER_KEY_PREFIX)) profile.fp = op.fp;
      else store.keys.putSync(op.key, { fp: op.fp, res: { memberId: op.memberId, phone: op.phone ?? null, email: op.email ?? null } });
      this.writeMember(ctx, m, totals);
      results[i] = IMPORTED_AS_SENT;
    }
    this.close(ledger, totals);
    return { results, outbox: this.outbox };
  }

  /**
   * One slice of the sweep (SPEC section 6): members whose next event is due at or before `asOfMs`,
   * at most `limit` of them, each brought up to `asOfMs`. Returns how many and whether more are due.
   */
  sweep(ctx: ProgramContext, asOfMs: number, limit: number, encodeProgram: (out: Float64Array) => void): { members: number; more: boolean } {
    const { store } = this;
    const { ledger, append, totals } = this.begin(ctx, encodeProgram);
    const due: BatchMember[] = [];
    let more = false;
    for (const { key } of store.due.getRange({ end: [asOfMs, '\uffff'] })) {
      if (due.length >= Math.min(limit, L.CORE_MEMBERS_MAX)) { more = true; break; }
      const memberId = key[1];
      const state = getState(store, memberId);
      assert.ok(state !== undefined && state.nextDue === key[0], `due index out of step for ${memberId}`);
      const m = this.attach(ctx, memberId, state, null, due.length, false);
      this.advanceMember(ctx, m, asOfMs, append);
      due.push(m);
    }
    this.finish(ctx, due, ledger, totals);
    return { members: due.length, more };
  }

  /** Applies the member's events up to `toMs` and puts the result into its core slot. */
  private advanceMember(ctx: ProgramContext, m: BatchMember, toMs: number, append: Appender): void {
    advance(ctx, m.state, m.running, toMs, {
      entry: (kind, atMs, pointsDelta, tierId) => append(m, entry(atMs, kind, m.memberId, `${kind}:${atMs}`, { pointsDelta, ...(tierId === null ? {} : { tierId }) })),
      addPoints: (points, atMs, grantId) => { this.addPoints(ctx, m, points, atMs, grantId); this.totals.pointsIssued += points; },
      expired: (points) => { this.totals.pointsExpired += points; },
    });
    writeSlot(ctx, m.running, this.core.members, m.slot);
  }

  /** Adds points (> 0) granted by entry `grantId`: with expiry on, they become a grant (engine/rules/grants.ts). */
  private addPoints(ctx: ProgramContext, m: BatchMember, points: number, atMs: number, grantId: number): void {
    if (points <= 0) return;
    const days = ctx.program.pointsExpiryDays;
    if (days !== null) creditGrant(m.state.grants, grantId, atMs + days * DAY_MS, points, m.running.points);
    m.running.points += points;
  }

  /** Takes points (> 0), oldest grants first; returns which grants paid, for a later restore. */
  private takePoints(m: BatchMember, points: number): Consumption {
    if (points <= 0) return [];
    const taken = debitGrants(m.state.grants, points);
    m.running.points -= points;
    return taken;
  }

  /** Queues a credit for another member, written with this batch and delivered after it. */
  private send(msg: Omit<OutboxMessage, 'id'>): void {
    this.outSeq += 1;
    const full: OutboxMessage = { id: `${this.shardId}:${this.outSeq}`, ...msg };
    this.store.outbox.putSync(this.outSeq, full);
    this.outbox.push([this.outSeq, full]);
  }

  /**
   * Claims on keys for ops of members of other shards (engine/router/key-claims.ts): a key is
   * held if this shard holds it for nobody (no claim, no op of its own members under it), replayed
   * if held for the same member and body, else a conflict. A release drops claims held for their body.
   */
  private claim(op: ClaimOp, batchKeys: Map<string, { fp: number; index: number }>, i: number): OpResult {
    const keys = this.store.keys;
    const outcomes: number[] = new Array(op.keys.length);
    for (let j = 0; j < op.keys.length; j++) {
      const key = op.keys[j]!;
      const fp = op.fps[j]!;
      if (op.release) {
        if (keys.get(key)?.fp === fp) keys.removeSync(key);
        batchKeys.delete(key);
        outcomes[j] = CLAIM_HELD;
        continue;
      }
      const earlier = batchKeys.get(key);
      if (earlier !== undefined) { outcomes[j] = earlier.fp === fp ? CLAIM_REPLAYED : CLAIM_CONFLICT; continue; }
      const held = keys.get(key);
      if (held !== undefined) { outcomes[j] = held.fp === fp ? CLAIM_REPLAYED : CLAIM_CONFLICT; continue; }
      const claimed = key.slice(CLAIM_KEY_PREFIX.length);
      const ownUse = claimed.startsWith(ORDER_KEY_PREFIX) ? this.store.orders.get(claimed.slice(ORDER_KEY_PREFIX.length)) : keys.get(claimed);
      if (batchKeys.has(claimed) || ownUse !== undefined) { outcomes[j] = CLAIM_CONFLICT; continue; }
      batchKeys.set(key, { fp, index: i });
      keys.putSync(key, { fp, res: { memberId: op.memberIds[j]! } });
      outcomes[j] = CLAIM_HELD;
    }
    return { ok: true, outcomes };
  }

  /** The stored answer under an op's key: a purchase's is its order record. */
  private storedKey(op: WriteOp): StoredKey | undefined {
    if (op.op === 'register' && op.key.startsWith(MEMBER_KEY_PREFIX)) {
      const stored = this.store.keys.get(op.key);
      if (stored !== undefined) return stored;
      // An imported member keeps its registration's fingerprint in its profile (importBatch).
      const profile = this.store.members.get(op.memberId);
      return profile?.fp === undefined ? undefined : { fp: profile.fp, res: { memberId: profile.memberId, phone: profile.phone ?? null, email: profile.email ?? null } };
    }
    if (op.op !== 'purchase') return 'key' in op ? this.store.keys.get(op.key) : undefined;
    const order = this.store.orders.get(op.orderId);
    return order === undefined ? undefined : { fp: order.fp, res: purchaseResponse(order) };
  }

  private attach(ctx: ProgramContext, memberId: string, state: HotState, profile: MemberProfile | null, slot: number, created: boolean): BatchMember {
    writeSlot(ctx, state, this.core.members, slot);
    return { memberId, created, state, profile, profileDirty: profile !== null, slot, running: copyState(state) };
  }

  /**
   * Whether the phone or email is another member's. Uniqueness spans shards, so the one authority
   * is the front end's directory (engine/router/engine.ts claimUnique), which marks the op; shards keep no
   * index of their own, and the directory is rebuilt from the profiles at start.
   */
  private uniqueProblem(op: { taken?: 'phone_taken' | 'email_taken' }): OpError | null {
    return op.taken === undefined ? null : opError(op.taken, undefined, op.taken === 'phone_taken' ? 'phone' : 'email');
  }

  private registerProblem(ctx: ProgramContext, op: RegisterOp, exists: boolean): OpError | null {
    if (exists) return opError('member_exists', undefined, 'memberId');
    if (op.tierId !== undefined && !ctx.tierIndex.has(op.tierId)) return opError('tier_not_found', undefined, 'tierId');
    return this.uniqueProblem(op);
  }

  private newMember(ctx: ProgramContext, op: RegisterOp): { state: HotState; profile: MemberProfile } {
    const p = ctx.program;
    const tierId = op.tierId ?? p.tiers[0]!.id;
    const expires = tierIndexOf(ctx, tierId) > 0 && p.membershipDays !== null;
    const state: HotState = {
      tierId, periodStart: op.atMs, periodEnd: expires ? op.atMs + p.membershipDays! * DAY_MS : null,
      periodMetric: 0, periodStartTierId: tierId, points: (op.points ?? 0) + p.signupPoints, growth: 0,
      walletCents: op.walletCents ?? 0, lifetimeSpendCents: 0, purchaseCount: 0,
      firstPurchaseAt: null, lastPurchaseAt: null, lastSeq: 0, standingOrders: 0,
      birthdayMonth: op.birthday === undefined ? 0 : Number(op.birthday.slice(5, 7)),
      birthdayDay: op.birthday === undefined ? 0 : Number(op.birthday.slice(8, 10)),
      lastBirthdayYear: 0, nextDue: -1, referralChain: op.referralChain, grants: [],
    };
    settleBirthdayYear(state, op.atMs, p.timezone);
    const profile: MemberProfile = { memberId: op.memberId, referrerId: op.referrerId ?? null, referralChain: op.referralChain, createdAt: op.atMs };
    for (const f of PROFILE_FIELDS) if (op[f] !== undefined) (profile as unknown as Record<string, unknown>)[f] = op[f];
    return { state, profile };
  }

  private finishRegister(ctx: ProgramContext, op: RegisterOp, m: BatchMember, append: Appender): OpResult {
    const r = m.running;
    this.totals.pointsIssued += r.points;
    const opening = r.points;
    r.points = 0;
    const seq = append(m, entry(op.atMs, 'register', op.memberId, op.key, { pointsDelta: opening, walletDeltaCents: r.walletCents, tierId: r.tierId }));
    this.addPoints(ctx, m, opening, op.atMs, seq);
    const referral = ctx.program.referral;
    if (referral.enabled && op.referralChain.length > 0) {
      // The new member's own welcome, then each ancestor's registration reward (SPEC section 2).
      if (referral.refereePoints > 0) {
        const rewardSeq = append(m, entry(op.atMs, 'referral_reward', op.memberId, op.memberId, { pointsDelta: referral.refereePoints }, seq));
        this.addPoints(ctx, m, referral.refereePoints, op.atMs, rewardSeq);
        this.totals.pointsIssued += referral.refereePoints;
        writeSlot(ctx, r, this.core.members, m.slot);
      }
      op.referralChain.forEach((ancestor, i) => {
        const points = referral.levels[i]?.registerPoints ?? 0;
        if (points > 0) this.send({ kind: 'referral_reward', memberId: ancestor, fromMemberId: op.memberId, level: i + 1, points, walletCents: 0, ref: op.memberId, atMs: op.atMs });
      });
    }
    // A bulk import needs only what the front end's directory keeps; the full view costs as much
    // as the rest of the registration.
    if (op.lean === true) return { ok: true, memberId: op.memberId, phone: op.phone ?? null, email: op.email ?? null, replayed: false };
    // Built field by field: spreading whole member records here measured as the registration's main cost.
    const view = memberView(m.profile!, r, m.state.grants);
    view['walletBalanceCents'] = r.walletCents;
    view['replayed'] = false;
    return { ok: true, ...view };
  }

  private finishPatch(op: PatchOp, m: BatchMember): OpResult {
    m.profile ??= this.store.members.get(m.memberId) ?? null;
    assert.ok(m.profile !== null, `member ${m.memberId} has a state but no profile`);
    m.profileDirty = true;
    const rec = m.profile as unknown as Record<string, unknown>;
    const releasedKeys: string[] = [];
    for (const f of PROFILE_FIELDS) {
      const value = op[f];
      if (value === undefined) continue;
      if (f === 'phone' || f === 'email') {
        const old = rec[f] as string | undefined;
        if (old !== undefined && old !== value) releasedKeys.push((f === 'phone' ? 'p:' : 'e:') + old);
      }
      rec[f] = value;
    }
    if (op.birthday !== undefined) m.state.birthdayMonth = Number(op.birthday.slice(5, 7));
    const view = memberView(m.profile, m.running, m.state.grants);
    view['walletBalanceCents'] = m.running.walletCents;
    view['releasedKeys'] = releasedKeys;
    return { ok: true, ...view };
  }

  private finishCore(ctx: ProgramContext, op: WriteOp, k: number, m: BatchMember, append: Appender): OpResult {
    const res = this.core.results;
    const o = k * L.R_SLOTS;
    const status = res[o + L.R_STATUS]!;
    if (status !== L.S_OK) {
      const code = STATUS_CODES[status];
      assert.ok(code !== undefined, `unknown core status ${status}`);
      return fail(code);
    }
    const r = m.running;
    const pointsDelta = res[o + L.R_POINTS_DELTA]!;
    const walletDeltaCents = res[o + L.R_WALLET_DELTA_CENTS]!;
    const growthDelta = res[o + L.R_GROWTH_DELTA]!;
    const spendDeltaCents = res[o + L.R_SPEND_DELTA_CENTS]!;
    const balances = () => ({ points: r.points, walletBalanceCents: r.walletCents, tierId: r.tierId });
    switch (op.op) {
      case 'quote': {
        const tier = ctx.program.tiers[tierIndexOf(ctx, r.tierId)]!;
        return {
          ok: true, memberId: op.memberId, tierId: r.tierId, discountBps: tier.discountBps,
          discountCents: res[o + L.R_NET_CENTS]!, points: r.points,
          maxRedeemPoints: res[o + L.R_BONUS_POINTS]!, maxRedeemValueCents: res[o + L.R_VALUE_CENTS]!,
          walletBalanceCents: r.walletCents, pointsToEarn: res[o + L.R_EARNED_POINTS]!,
        };
      }
      case 'purchase': {
        const tierIdBefore = r.tierId;
        const before = { periodStart: r.periodStart, periodEnd: r.periodEnd, periodStartTierId: r.periodStartTierId, periodMetric: r.periodMetric };
        const earned = res[o + L.R_EARNED_POINTS]!;
        const seq = append(m, entry(op.atMs, 'purchase', op.memberId, op.orderId,
          { pointsDelta, walletDeltaCents, growthDelta, spendDeltaCents }));
        const redeemedFrom = this.takePoints(m, op.redeemPoints);
        this.addPoints(ctx, m, earned, op.atMs, seq);
        r.walletCents += walletDeltaCents; r.growth += growthDelta;
        r.lifetimeSpendCents += spendDeltaCents; r.purchaseCount += 1;
        r.firstPurchaseAt ??= op.atMs;
        r.lastPurchaseAt = r.lastPurchaseAt === null ? op.atMs : Math.max(r.lastPurchaseAt, op.atMs);
        const newTier = res[o + L.R_NEW_TIER]!;
        let upgradedTo: string | null = null;
        if (newTier !== L.NONE) {
          upgradedTo = ctx.program.tiers[newTier]!.id;
          const bonus = res[o + L.R_BONUS_POINTS]!;
          const upgradeSeq = append(m, entry(op.atMs, 'upgrade', op.memberId, op.orderId, { pointsDelta: bonus, tierId: upgradedTo }, seq));
          this.addPoints(ctx, m, bonus, op.atMs, upgradeSeq);
          this.totals.pointsIssued += bonus;
        }
        this.totals.purchases += 1;
        this.totals.netSalesCents += spendDeltaCents;
        this.totals.pointsIssued += earned;
        this.totals.pointsRedeemed += op.redeemPoints;
        // The period fields are not ledger balances: they follow from the op and the program.
        r.periodMetric = this.metricAfter(ctx, r.periodMetric, k);
        if (upgradedTo !== null) {
          const days = ctx.program.membershipDays;
          r.tierId = upgradedTo; r.periodStart = op.atMs; r.periodStartTierId = upgradedTo;
          r.periodEnd = days === null ? null : op.atMs + days * DAY_MS;
        }
        const redeemValueCents = res[o + L.R_VALUE_CENTS]!;
        const rewards = purchaseRewards(ctx.program, m.state.referralChain, m.state.standingOrders === 0, earned);
        m.state.standingOrders += 1;
        for (const rw of rewards) {
          const level = m.state.referralChain.indexOf(rw.memberId) + 1;
          this.send({ kind: 'referral_reward', memberId: rw.memberId, fromMemberId: op.memberId, level, points: rw.fixedPoints + rw.sharePoints, walletCents: 0, ref: op.orderId, atMs: op.atMs });
        }
        const tierBefore = ctx.program.tiers[tierIndexOf(ctx, tierIdBefore)]!;
        const birthday = (this.core.ops[k * L.O_SLOTS + L.O_FLAGS]! & L.FLAG_BIRTHDAY) !== 0;
        const order: OrderRecord = {
          orderId: op.orderId, memberId: op.memberId, at: op.atMs, seq, amountCents: op.amountCents,
          discountCents: op.discountCents, redeemPoints: op.redeemPoints, redeemValueCents,
          walletCents: op.walletCents, netCents: spendDeltaCents, earnedPoints: res[o + L.R_EARNED_POINTS]!,
          growth: growthDelta, tierIdBefore, upgradedTo, birthday,
          returns: [], fp: op.fp,
          after: { points: r.points, walletBalanceCents: r.walletCents, growth: r.growth, tierId: r.tierId },
          rate: {
            earnCents: tierBefore.earn.cents, earnPoints: tierBefore.earn.points, orderPoints: ctx.program.orderPoints,
            multiplierPct: birthday ? ctx.program.birthday.multiplierPct : 100,
            growthPoints: ctx.program.growth.points, growthGrowth: ctx.program.growth.growth,
          },
          express: upgradedTo !== null && ctx.program.tiers[tierIndexOf(ctx, upgradedTo)]!.threshold > before.periodMetric + (ctx.program.qualifyBy === 'spend' ? spendDeltaCents : growthDelta),
          before,
          rewards,
          now: { earnedPoints: earned, growth: growthDelta, restoredPoints: 0, walletRefundedCents: 0, fixedReversed: false },
          redeemedFrom,
        };
        if (op.storeId !== undefined) order.storeId = op.storeId;
        if (op.channel !== undefined) order.channel = op.channel;
        if (op.items !== undefined) order.items = op.items;
        this.store.orders.putSync(op.orderId, order);
        return { ok: true, ...purchaseResponse(order), replayed: false };
      }
      case 'redeem': {
        this.totals.pointsRedeemed += op.points;
        append(m, entry(op.atMs, 'redeem', op.memberId, op.key, { pointsDelta, walletDeltaCents }));
        this.takePoints(m, op.points);
        r.walletCents += walletDeltaCents;
        return { ok: true, memberId: op.memberId, redeemedPoints: op.points, walletCreditCents: walletDeltaCents, ...balances(), replayed: false };
      }
      case 'adjust': {
        // Negative adjustments count as points taken back, like clawbacks (README, Reports).
        if (pointsDelta > 0) this.totals.pointsIssued += pointsDelta; else this.totals.pointsClawedBack -= pointsDelta;
        const adjustSeq = append(m, entry(op.atMs, 'adjust', op.memberId, op.key, { pointsDelta }));
        if (pointsDelta > 0) this.addPoints(ctx, m, pointsDelta, op.atMs, adjustSeq); else this.takePoints(m, -pointsDelta);
        return { ok: true, memberId: op.memberId, pointsDelta, reason: op.reason, ...balances(), replayed: false };
      }
      case 'topup': {
        this.totals.topupsCents += walletDeltaCents;
        append(m, entry(op.atMs, 'topup', op.memberId, op.key, { walletDeltaCents }));
        r.walletCents += walletDeltaCents;
        return { ok: true, memberId: op.memberId, amountCents: op.amountCents, bonusCents: res[o + L.R_VALUE_CENTS]!, ...balances(), replayed: false };
      }
      case 'transfer': {
        append(m, entry(op.atMs, 'transfer_out', op.memberId, op.key, { walletDeltaCents }));
        r.walletCents += walletDeltaCents;
        this.send({ kind: 'transfer_in', memberId: op.toMemberId, fromMemberId: op.memberId, level: 0, points: 0, walletCents: op.amountCents, ref: op.key, atMs: op.atMs });
        return { ok: true, fromMemberId: op.memberId, toMemberId: op.toMemberId, amountCents: op.amountCents, ...balances(), replayed: false };
      }
      case 'withdraw': {
        append(m, entry(op.atMs, 'withdraw', op.memberId, op.key, { walletDeltaCents }));
        r.walletCents += walletDeltaCents;
        return { ok: true, memberId: op.memberId, amountCents: op.amountCents, ...balances(), replayed: false };
      }
      default:
        assert.fail(`op ${op.op} is not a core op`);
    }
  }

  /** A return (SPEC section 4): reverses, in this transaction, everything the returned value caused. */
  private finishReturn(ctx: ProgramContext, op: ReturnOp, m: BatchMember, append: Appender): OpResult {
    const order = this.store.orders.get(op.orderId);
    if (order === undefined || order.memberId !== op.memberId) return fail('order_not_found', undefined, 'orderId');
    const remaining = order.netCents - order.returns.reduce((sum, x) => sum + x.amountCents, 0);
    if (op.amountCents > remaining) return fail('return_exceeds_order', `at most ${remaining} cents of this order remain to return`, 'amountCents');
    // A return of 0 is only the whole return of an order with no net value (paid wholly with points).
    if (op.amountCents === 0 && (order.netCents !== 0 || order.returns.length > 0)) {
      return fail('invalid_request', 'amountCents: must be at least 1, unless the order had no net value and is returned whole', 'amountCents');
    }
    const plan = planReturn(order, op.amountCents);
    const r = m.running;
    // Restored points come back first; the clawback may then go below zero only if the program allows it.
    const afterRestore = r.points + plan.restoredPoints;
    const clawed = ctx.program.allowNegativePoints ? plan.clawbackDuePoints : Math.min(plan.clawbackDuePoints, Math.max(0, afterRestore));
    const pointsDelta = plan.restoredPoints - clawed;
    const tierBefore = r.tierId;
    const moved = tierAfterReturn(ctx, order, r, plan, op.amountCents);
    const seq = append(m, entry(op.atMs, 'return', op.memberId, op.returnId, {
      pointsDelta, growthDelta: plan.growthDelta, walletDeltaCents: plan.walletRefundCents, spendDeltaCents: -op.amountCents,
    }, order.seq));
    // Restored points go back to the grants they were redeemed from; the clawback takes oldest first.
    const restoreBefore = r.points;
    order.restoredTo = [...(order.restoredTo ?? []), ...restoreGrants(m.state.grants, remainingConsumption(order), plan.restoredPoints, restoreBefore)];
    r.points += plan.restoredPoints;
    this.takePoints(m, clawed);
    r.growth += plan.growthDelta;
    r.walletCents += plan.walletRefundCents;
    r.lifetimeSpendCents -= op.amountCents;
    Object.assign(r, moved);
    if (plan.full) m.state.standingOrders -= 1;
    const downgradedTo = moved.tierId !== tierBefore ? moved.tierId : null;
    if (downgradedTo !== null) append(m, entry(op.atMs, 'downgrade', op.memberId, op.returnId, { tierId: downgradedTo }, seq));
    writeSlot(ctx, r, this.core.members, m.slot);
    for (const rev of plan.reversals) {
      const level = m.state.referralChain.indexOf(rev.memberId) + 1;
      this.send({ kind: 'referral_reversal', memberId: rev.memberId, fromMemberId: op.memberId, level, points: -rev.points, walletCents: 0, ref: op.returnId, atMs: op.atMs });
    }
    order.returns.push({ returnId: op.returnId, amountCents: op.amountCents, at: op.atMs });
    order.now = plan.now;
    plan.rewardsAfter.forEach((after, i) => { order.rewards[i]!.sharePoints = after.sharePoints; });
    this.store.orders.putSync(order.orderId, order);
    this.totals.returns += 1;
    this.totals.netSalesCents -= op.amountCents;
    this.totals.pointsClawedBack += clawed;
    this.totals.pointsRedeemed -= plan.restoredPoints;
    return {
      ok: true, returnId: op.returnId, orderId: op.orderId, memberId: op.memberId, clawedBackPoints: clawed,
      restoredPoints: plan.restoredPoints, walletRefundCents: plan.walletRefundCents, points: r.points,
      walletBalanceCents: r.walletCents, tierId: r.tierId, downgradedTo,
      referralReversals: plan.reversals.map((x) => ({ memberId: x.memberId, points: x.points })), replayed: false,
    };
  }

  /** A loyalty product (SPEC section 7): every include at once; earns no points and is not spend. */
  private finishProduct(ctx: ProgramContext, op: ProductOp, m: BatchMember, append: Appender): OpResult {
    const p = ctx.program;
    const product = p.products.find((x) => x.id === op.productId);
    if (product === undefined) return fail('product_not_found', undefined, 'productId');
    if (!product.active) return fail('product_inactive', undefined, 'productId');
    if (op.channel !== undefined && !product.channels.includes(op.channel)) return fail('channel_not_allowed', undefined, 'channel');
    const r = m.running;
    if (product.eligibleTiers !== null && !product.eligibleTiers.includes(r.tierId)) return fail('tier_not_eligible');
    const inc = product.includes;
    const current = tierIndexOf(ctx, r.tierId);
    let target: number | null = null;
    if (inc.forceTierId !== undefined) target = tierIndexOf(ctx, inc.forceTierId);
    else if (inc.tierId !== undefined && tierIndexOf(ctx, inc.tierId) > current) target = tierIndexOf(ctx, inc.tierId);
    const points = inc.points ?? 0;
    const walletCents = inc.walletCents ?? 0;
    const tierId = target === null ? null : p.tiers[target]!.id;
    const seq = append(m, entry(op.atMs, 'product', op.memberId, op.orderId, { pointsDelta: points, walletDeltaCents: walletCents, ...(tierId === null ? {} : { tierId }) }));
    this.addPoints(ctx, m, points, op.atMs, seq);
    this.totals.pointsIssued += points;
    r.walletCents += walletCents;
    if (target !== null) {
      // A granted tier starts a new period; an upgrade carries the metric forward and pays its bonus.
      const upgrade = inc.forceTierId === undefined;
      r.periodMetric = !upgrade || p.carryForward === 'none' ? 0 : p.carryForward === 'all' ? r.periodMetric : Math.max(0, r.periodMetric - p.tiers[target]!.threshold);
      r.tierId = tierId!; r.periodStartTierId = tierId!; r.periodStart = op.atMs;
      r.periodEnd = target === 0 || p.membershipDays === null ? null : op.atMs + p.membershipDays * DAY_MS;
      const bonus = upgrade ? p.tiers[target]!.upgradeBonusPoints : 0;
      if (bonus > 0) {
        const upgradeSeq = append(m, entry(op.atMs, 'upgrade', op.memberId, op.orderId, { pointsDelta: bonus, tierId: tierId! }, seq));
        this.addPoints(ctx, m, bonus, op.atMs, upgradeSeq);
        this.totals.pointsIssued += bonus;
      }
    }
    if (inc.extendDays !== undefined && r.periodEnd !== null) r.periodEnd += inc.extendDays * DAY_MS;
    writeSlot(ctx, r, this.core.members, m.slot);
    return {
      ok: true, orderId: op.orderId, memberId: op.memberId, productId: product.id, priceCents: product.priceCents,
      walletCreditCents: walletCents, pointsAdded: points, tierChangedTo: tierId,
      periodEnd: r.periodEnd === null ? null : new Date(r.periodEnd).toISOString(),
      points: r.points, walletBalanceCents: r.walletCents, tierId: r.tierId, replayed: false,
    };
  }

  /** An outbox message from another shard (or this one): a referral reward, its reversal, or a transfer's arrival. */
  private finishCredit(ctx: ProgramContext, op: CreditOp, m: BatchMember, append: Appender): OpResult {
    const r = m.running;
    // A reversal takes back at most what the member holds unless the program allows negative points.
    const points = op.points < 0 && !ctx.program.allowNegativePoints ? -Math.min(-op.points, Math.max(0, r.points)) : op.points;
    const creditSeq = append(m, entry(op.atMs, op.kind, op.memberId, op.ref, { pointsDelta: points, walletDeltaCents: op.walletCents }));
    if (points > 0) this.addPoints(ctx, m, points, op.atMs, creditSeq); else this.takePoints(m, -points);
    r.walletCents += op.walletCents;
    if (points > 0) this.totals.pointsIssued += points; else this.totals.pointsClawedBack -= points;
    if (op.level > 0) {
      const key = `${op.memberId}|${op.level}`;
      this.store.refstats.putSync(key, (this.store.refstats.get(key) ?? 0) + points);
    }
    writeSlot(ctx, r, this.core.members, m.slot);
    return { ok: true, memberId: op.memberId, kind: op.kind, points, walletCents: op.walletCents, replayed: false };
  }

  /** The period metric after purchase k, from the metric before it (SPEC section 3 steps 4-5). */
  private metricAfter(ctx: ProgramContext, metricBefore: number, k: number): number {
    const res = this.core.results;
    const o = k * L.R_SLOTS;
    const p = ctx.program;
    const metric = metricBefore + (p.qualifyBy === 'spend' ? res[o + L.R_SPEND_DELTA_CENTS]! : res[o + L.R_GROWTH_DELTA]!);
    const newTier = res[o + L.R_NEW_TIER]!;
    if (newTier === L.NONE || p.carryForward === 'all') return metric;
    if (p.carryForward === 'none') return 0;
    return Math.max(0, metric - p.tiers[newTier]!.threshold);
  }
}

/** A registration under a taken memberId is `member_exists`, the clearer word for the same conflict. */
function conflictCode(op: WriteOp): ErrorCode {
  return op.op === 'register' && op.key.startsWith(MEMBER_KEY_PREFIX) ? 'member_exists' : 'idempotency_conflict';
}

/**
 * An imported row registered exactly as sent: the member holds the row's id, phone and email. One
 * object for every such row, so a batch's answer clones as one object and back-references.
 */
export const IMPORTED_AS_SENT: OpResult = Object.freeze({ ok: true, asSent: true, replayed: false });

/** The key of a registration that names its memberId (server/requests.ts registerOp). */
const MEMBER_KEY_PREFIX = 'reg:m:';

/** A purchase's key, `order:` + orderId: its record is the order itself (server/requests.ts purchaseOp). */
const ORDER_KEY_PREFIX = 'order:';

/** Appends an entry to the member's chain (setting its `prev`) and returns its seq. */
type Appender = (m: BatchMember, e: StoredEntry) => number;


function entry(
  at: number, kind: LedgerKind, memberId: string, ref: string,
  d: { pointsDelta?: number; growthDelta?: number; walletDeltaCents?: number; spendDeltaCents?: number; tierId?: string },
  cause: number | null = null,
): StoredEntry {
  // One literal shape for every entry (prev is set when it is appended): the encoder stays monomorphic.
  return {
    prev: 0, at, kind, memberId, pointsDelta: d.pointsDelta ?? 0, growthDelta: d.growthDelta ?? 0,
    walletDeltaCents: d.walletDeltaCents ?? 0, spendDeltaCents: d.spendDeltaCents ?? 0,
    tierId: d.tierId ?? null, ref, cause,
  };
}
