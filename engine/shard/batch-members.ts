// The member op family: registration (a new member's state, profile, opening entry and referral
// rewards) and the profile patch. Uniqueness of phone and email is decided by the front end's
// directory, which marks an op whose phone or email another member holds.
import assert from 'node:assert/strict';
import { CouponSupplyCursor, issueByRules } from './batch-coupons.js';
import { opError, type OpError } from '../errors.js';
import { memberView, tierIndexOf, type HotState, type MemberProfile, type ProgramContext } from '../rules/member-state.js';
import { PROFILE_FIELDS, type OpResult, type PatchOp, type RegisterOp } from '../ops.js';
import { changeBirthday, settleBirthdayYear } from '../rules/member-events.js';
import { fits } from '../rules/safe-range.js';
import { DAY_MS, entry, type BatchMember, type BatchScope } from './batch-scope.js';
import { notePersonalLogEntry } from './batch-erase.js';

/**
 * Whether the phone or email is another member's. Uniqueness spans shards, so the one authority
 * is the front end's directory (engine/router/engine.ts claimUnique), which marks the op; shards keep no
 * index of their own, and the directory is rebuilt from the profiles at start.
 */
function uniqueProblem(op: { taken?: 'phone_taken' | 'email_taken' }): OpError | null {
  return op.taken === undefined ? null : opError(op.taken, undefined, op.taken === 'phone_taken' ? 'phone' : 'email');
}

/** Why a registration is refused before anything is written, or null. */
export function registerProblem(ctx: ProgramContext, op: RegisterOp, exists: boolean): OpError | null {
  if (exists) return opError('member_exists', undefined, 'memberId');
  if (op.tierId !== undefined && !ctx.tierIndex.has(op.tierId)) return opError('tier_not_found', undefined, 'tierId');
  // The opening balances plus signup and welcome points, credited without the core: checked here.
  const referral = ctx.program.referral;
  const opening = (op.points ?? 0) + ctx.program.signupPoints;
  const welcome = referral.enabled && op.referralChain.length > 0 ? referral.refereePoints : 0;
  if (!fits(op.points ?? 0) || !fits(opening) || !fits(opening + welcome)) return opError('balance_limit', undefined, 'points');
  if (!fits(op.walletCents ?? 0)) return opError('balance_limit', undefined, 'walletCents');
  return uniqueProblem(op);
}

/** A new member's state and profile as the registration opens them (nothing written yet). */
export function newMember(ctx: ProgramContext, op: RegisterOp): { state: HotState; profile: MemberProfile } {
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
    lastBirthdayYear: 0, nextDue: -1, referralChain: op.referralChain, grants: [], pending: [], expiryNotices: [],
  };
  settleBirthdayYear(state, op.atMs, p.timezone);
  const profile: MemberProfile = { memberId: op.memberId, referrerId: op.referrerId ?? null, referralChain: op.referralChain, createdAt: op.atMs };
  for (const f of PROFILE_FIELDS) if (op[f] !== undefined) (profile as unknown as Record<string, unknown>)[f] = op[f];
  // An erasure finds the registration's stored answer by this key (engine/shard/batch-erase.ts).
  if (op.key !== '' && op.key !== `reg:m:${op.memberId}`) profile.regKey = op.key;
  return { state, profile };
}

/** Phase 1 of a registration: the refusal, or the new member attached to the batch. */
export function admitMember(b: BatchScope, op: RegisterOp): BatchMember | OpError {
  const existing = b.load(op.memberId);
  if (existing !== null && existing.state.erasedAt !== undefined) return opError('member_erased', undefined, 'memberId');
  const problem = registerProblem(b.ctx, op, existing !== null);
  if (problem !== null) return problem;
  const created = newMember(b.ctx, op);
  return b.attach(op.memberId, created.state, created.profile, true);
}

/** Writes a registration's entries and referral rewards, and answers it. */
export function finishRegister(b: BatchScope, op: RegisterOp, m: BatchMember): OpResult {
  const { ctx, totals } = b;
  const r = m.running;
  totals.pointsIssued.add(r.points);
  const opening = r.points;
  r.points = 0;
  const seq = b.append(m, entry(op.atMs, 'register', op.memberId, op.key, { pointsDelta: opening, walletDeltaCents: r.walletCents, tierId: r.tierId }));
  notePersonalLogEntry(b, m, op);
  b.addPoints(m, opening, op.atMs, seq);
  const referral = ctx.program.referral;
  if (referral.enabled && op.referralChain.length > 0) {
    // The new member's own welcome, then each ancestor's registration reward (docs/rules.md §2).
    if (referral.refereePoints > 0) {
      const rewardSeq = b.append(m, entry(op.atMs, 'referral_reward', op.memberId, op.memberId, { pointsDelta: referral.refereePoints }, seq));
      b.addPoints(m, referral.refereePoints, op.atMs, rewardSeq);
      totals.pointsIssued.add(referral.refereePoints);
      b.toSlot(m);
    }
    op.referralChain.forEach((ancestor, i) => {
      const points = referral.levels[i]?.registerPoints ?? 0;
      if (points > 0) b.send({ kind: 'referral_reward', memberId: ancestor, fromMemberId: op.memberId, level: i + 1, points, walletCents: 0, ref: op.memberId, atMs: op.atMs });
    });
  }
  // A bulk import needs only what the front end's directory keeps; the full view costs as much
  // as the rest of the registration.
  if (op.lean === true) return { ok: true, memberId: op.memberId, phone: op.phone ?? null, email: op.email ?? null, replayed: false };
  // The welcome coupons (docs/rules.md §12): rules of the registration trigger, on the tier it gave.
  const coupons = ctx.program.couponRules.length === 0 ? null
    : issueByRules(b, m, 'register', op.channel ?? null, 0, op.atMs, CouponSupplyCursor.of(op), null, seq);
  // Built field by field: spreading whole member records here measured as the registration's main cost.
  const view = memberView(m.profile!, r, m.state.grants, m.state.pending);
  view['walletBalanceCents'] = r.walletCents;
  if (coupons !== null) { view['couponsIssued'] = coupons.issued; view['couponsSkipped'] = coupons.skipped; }
  view['replayed'] = false;
  return { ok: true, ...view };
}

/** A profile change: the profile's fields only; the phone and email it gives up are named for the directory. */
export function finishPatch(b: BatchScope, op: PatchOp, m: BatchMember): OpResult {
  const problem = uniqueProblem(op);
  if (problem !== null) return { ok: false, error: problem };
  m.profile ??= b.store.members.get(m.memberId) ?? null;
  assert.ok(m.profile !== null, `member ${m.memberId} has a state but no profile`);
  m.profileDirty = true;
  const rec = m.profile as unknown as Record<string, unknown>;
  const releasedKeys: string[] = [];
  const changed: string[] = [];
  for (const f of PROFILE_FIELDS) {
    const value = op[f];
    if (value === undefined) continue;
    if (rec[f] !== value) changed.push(f);
    if (f === 'phone' || f === 'email') {
      const old = rec[f] as string | undefined;
      if (old !== undefined && old !== value) releasedKeys.push((f === 'phone' ? 'p:' : 'e:') + old);
    }
    rec[f] = value;
  }
  // The change leaves a `member_update` entry naming the fields (never their values, which are
  // personal data), with no balance moves: what a webhook subscriber hears as member.updated.
  if (changed.length > 0) b.append(m, entry(op.atMs, 'member_update', m.memberId, changed.join(','), {}));
  notePersonalLogEntry(b, m, op);
  // The catch-up before this op applied every event up to now under the old birthday.
  if (op.birthday !== undefined) changeBirthday(m.state, op.birthday, op.atMs, b.ctx.program.timezone);
  const view = memberView(m.profile, m.running, m.state.grants, m.state.pending);
  view['walletBalanceCents'] = m.running.walletCents;
  view['releasedKeys'] = releasedKeys;
  return { ok: true, ...view };
}
