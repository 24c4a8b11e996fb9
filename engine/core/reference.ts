// The plain TypeScript model of the WASM core (assembly/index.ts): the same ops over the same
// Float64Array records, written for obviousness rather than speed, so that the property test can
// require both to produce identical bytes.
//
// Every value read from a record is a safe integer. Sums of two safe integers are exact whenever the
// true sum is safe, and otherwise round to a value past the safe range (rounding is monotonic and
// 2^53 is representable), so checking each sum against SAFE_INTEGER_MAX decides exactly as the
// core's i64 arithmetic does. Products can pass 2^53; mulDiv takes BigInt for those.

import {
  NONE, P_TIER_COUNT, P_QUALIFY_BY, P_MEMBERSHIP_DAYS, P_CARRY_FORWARD, P_ORDER_POINTS,
  P_GROWTH_POINTS, P_GROWTH_GROWTH, P_MAX_WALLET_SPEND_CENTS,
  P_MIN_TOPUP_CENTS, P_TOPUP_BONUS_COUNT, P_POINTS_PENDING, P_HEADER_SLOTS,
  T_THRESHOLD, T_EARN_CENTS, T_EARN_POINTS, T_REDEEM_POINTS, T_REDEEM_CENTS, T_DISCOUNT_BPS,
  T_EXPRESS_UPGRADE_CENTS, T_UPGRADE_BONUS_POINTS, T_SLOTS, TOPUP_BASE, B_MIN_CENTS, B_BONUS_CENTS,
  B_SLOTS,
  M_TIER, M_PERIOD_START_MS, M_PERIOD_END_MS, M_PERIOD_METRIC, M_POINTS, M_GROWTH, M_WALLET_CENTS,
  M_LIFETIME_SPEND_CENTS, M_PURCHASE_COUNT, M_FIRST_PURCHASE_AT_MS, M_LAST_PURCHASE_AT_MS,
  M_PERIOD_START_TIER, M_SLOTS,
  O_KIND, O_SLOT, O_AT_MS, O_A, O_B, O_C, O_D, O_MULTIPLIER_PCT, O_EXTRA_POINTS, O_SLOTS,
  OP_PURCHASE, OP_REDEEM, OP_ADJUST, OP_TOPUP, OP_WITHDRAW, OP_QUOTE,
  R_STATUS, R_POINTS_DELTA, R_WALLET_DELTA_CENTS, R_GROWTH_DELTA, R_SPEND_DELTA_CENTS,
  R_EARNED_POINTS, R_VALUE_CENTS, R_NET_CENTS, R_NEW_TIER, R_BONUS_POINTS, R_PENDING_GROWTH, R_SLOTS,
  S_OK, S_INSUFFICIENT_POINTS, S_INSUFFICIENT_WALLET, S_WALLET_LIMIT, S_NEGATIVE_NET,
  S_TOPUP_BELOW_MINIMUM, S_BALANCE_LIMIT, S_REDEMPTION_TOO_SMALL, CORE_OPS_MAX, CORE_MEMBERS_MAX,
} from './layout.js';
import { CAMPAIGN_EXTRA_POINTS_MAX, MULTIPLIER_PCT_MAX, SAFE_INTEGER_MAX } from '../limits.js';

const DAY_MS = 86_400_000;
const BPS_ONE = 10_000;
const PCT_ONE = 100;

function fail(message: string): never {
  throw new Error(`core reference: ${message}`);
}

/** Reads a slot that must exist: an index past the record is a broken invariant, not a zero. */
function read(record: Float64Array, index: number): number {
  const value = record[index];
  if (value === undefined) fail(`slot ${index} outside a record of ${record.length}`);
  return value;
}

function isSafe(n: number): boolean {
  // Written so that NaN counts as outside the range.
  return n >= -SAFE_INTEGER_MAX && n <= SAFE_INTEGER_MAX;
}

/**
 * floor(x * num / den) for 0 <= x <= SAFE_INTEGER_MAX and positive safe num, den: exact when the
 * result is a safe integer, Infinity when it is larger (such a value can only end in S_BALANCE_LIMIT
 * or S_NEGATIVE_NET, where its exact size no longer matters).
 */
function mulDiv(x: number, num: number, den: number): number {
  const product = x * num;
  // Below 2^53 the product is exact, and so is subtracting the remainder before dividing.
  if (product <= SAFE_INTEGER_MAX) return (product - (product % den)) / den;
  const quotient = (BigInt(x) * BigInt(num)) / BigInt(den);
  return quotient <= BigInt(SAFE_INTEGER_MAX) ? Number(quotient) : Infinity;
}

/** The multiplier and the campaigns' points an op record carries, in the ranges the core asserts. */
function multiplierOf(ops: Float64Array, o: number): { multiplierPct: number; extraPoints: number } {
  const multiplierPct = read(ops, o + O_MULTIPLIER_PCT);
  const extraPoints = read(ops, o + O_EXTRA_POINTS);
  if (!(Number.isInteger(multiplierPct) && multiplierPct >= 0 && multiplierPct <= MULTIPLIER_PCT_MAX)) fail(`multiplierPct ${multiplierPct} out of range`);
  if (!(Number.isInteger(extraPoints) && extraPoints >= 0 && extraPoints <= CAMPAIGN_EXTRA_POINTS_MAX)) fail(`extraPoints ${extraPoints} out of range`);
  return { multiplierPct, extraPoints };
}

/**
 * Points earned on `payableCents` at tier base `t` (docs/rules.md §13.2), exact or Infinity:
 * floor((floor(payable × earn.points ÷ earn.cents) + orderPoints) × multiplierPct ÷ 100) + extraPoints.
 */
function earnedPoints(program: Float64Array, t: number, payableCents: number, multiplierPct: number, extraPoints: number): number {
  const earnPoints = read(program, t + T_EARN_POINTS);
  const earnCents = read(program, t + T_EARN_CENTS);
  const orderPoints = read(program, P_ORDER_POINTS);
  // Without a multiplier every term is non-negative: an unsafe partial sum stays unsafe.
  if (multiplierPct === PCT_ONE) return mulDiv(payableCents, earnPoints, earnCents) + orderPoints + extraPoints;
  // A multiplier below 100% can bring an unsafe pre-multiplier value back into range: stay exact.
  const regular = (BigInt(payableCents) * BigInt(earnPoints)) / BigInt(earnCents) + BigInt(orderPoints);
  const after = (regular * BigInt(multiplierPct)) / BigInt(PCT_ONE) + BigInt(extraPoints);
  return after <= BigInt(SAFE_INTEGER_MAX) ? Number(after) : Infinity;
}

function tierBase(tier: number): number {
  return P_HEADER_SLOTS + tier * T_SLOTS;
}

function purchase(program: Float64Array, members: Float64Array, m: number, ops: Float64Array, o: number, results: Float64Array, r: number): void {
  const atMs = read(ops, o + O_AT_MS);
  const amountCents = read(ops, o + O_A);
  const discountCents = read(ops, o + O_B);
  const redeemPoints = read(ops, o + O_C);
  const walletCents = read(ops, o + O_D);
  const { multiplierPct, extraPoints } = multiplierOf(ops, o);
  const tier = read(members, m + M_TIER);
  const t = tierBase(tier);
  const points = read(members, m + M_POINTS);
  const wallet = read(members, m + M_WALLET_CENTS);

  const redeemValueCents = mulDiv(redeemPoints, read(program, t + T_REDEEM_CENTS), read(program, t + T_REDEEM_POINTS));
  const netCents = amountCents - discountCents - redeemValueCents;
  if (netCents < 0) { results[r + R_STATUS] = S_NEGATIVE_NET; return; }
  if (redeemPoints > 0 && redeemPoints > points) { results[r + R_STATUS] = S_INSUFFICIENT_POINTS; return; }
  if (walletCents > netCents) { results[r + R_STATUS] = S_NEGATIVE_NET; return; }
  if (walletCents > wallet) { results[r + R_STATUS] = S_INSUFFICIENT_WALLET; return; }
  const maxWallet = read(program, P_MAX_WALLET_SPEND_CENTS);
  if (maxWallet !== NONE && walletCents > maxWallet) { results[r + R_STATUS] = S_WALLET_LIMIT; return; }

  const earned = earnedPoints(program, t, netCents, multiplierPct, extraPoints);
  if (!isSafe(earned)) { results[r + R_STATUS] = S_BALANCE_LIMIT; return; }
  const orderGrowth = mulDiv(earned, read(program, P_GROWTH_GROWTH), read(program, P_GROWTH_POINTS));
  // Pending points and their growth wait outside the balances until the shard activates them.
  const pending = read(program, P_POINTS_PENDING) === 1;
  const growthDelta = pending ? 0 : orderGrowth;
  const pointsDelta = pending ? 0 - redeemPoints : earned - redeemPoints;
  // Before the upgrade bonus: this sum is never below -SAFE_INTEGER_MAX (a redemption needs a
  // balance at least as large) and the bonus only adds, so checking it first decides the same.
  const pointsAfterEarn = points + pointsDelta;
  const growth = read(members, m + M_GROWTH) + growthDelta;
  const metricGained = read(members, m + M_PERIOD_METRIC) + (read(program, P_QUALIFY_BY) === 1 ? growthDelta : netCents);
  const lifetimeSpendCents = read(members, m + M_LIFETIME_SPEND_CENTS) + netCents;
  const purchaseCount = read(members, m + M_PURCHASE_COUNT) + 1;
  if (
    !isSafe(orderGrowth) || !isSafe(pointsAfterEarn) || !isSafe(growth) || !isSafe(metricGained) ||
    !isSafe(lifetimeSpendCents) || !isSafe(purchaseCount)
  ) { results[r + R_STATUS] = S_BALANCE_LIMIT; return; }

  let target = tier;
  for (let i = tier + 1; i < read(program, P_TIER_COUNT); i++) {
    const express = read(program, tierBase(i) + T_EXPRESS_UPGRADE_CENTS);
    if (read(program, tierBase(i) + T_THRESHOLD) <= metricGained || (express !== NONE && express <= netCents)) target = i;
  }
  const upgraded = target > tier;
  let metric = metricGained;
  let bonusPoints = 0;
  let periodEndMs = NONE;
  if (upgraded) {
    const carryForward = read(program, P_CARRY_FORWARD);
    if (carryForward === 0) metric = Math.max(0, metricGained - read(program, tierBase(target) + T_THRESHOLD));
    else if (carryForward === 2) metric = 0;
    bonusPoints = read(program, tierBase(target) + T_UPGRADE_BONUS_POINTS);
    const days = read(program, P_MEMBERSHIP_DAYS);
    if (days !== NONE) periodEndMs = atMs + days * DAY_MS;
  }
  const newPoints = pointsAfterEarn + bonusPoints;
  if (!isSafe(newPoints) || !isSafe(periodEndMs)) { results[r + R_STATUS] = S_BALANCE_LIMIT; return; }

  members[m + M_POINTS] = newPoints;
  members[m + M_WALLET_CENTS] = wallet - walletCents;
  members[m + M_GROWTH] = growth;
  members[m + M_PERIOD_METRIC] = metric;
  members[m + M_LIFETIME_SPEND_CENTS] = lifetimeSpendCents;
  members[m + M_PURCHASE_COUNT] = purchaseCount;
  if (read(members, m + M_FIRST_PURCHASE_AT_MS) === NONE) members[m + M_FIRST_PURCHASE_AT_MS] = atMs;
  const lastAtMs = read(members, m + M_LAST_PURCHASE_AT_MS);
  if (lastAtMs === NONE || atMs > lastAtMs) members[m + M_LAST_PURCHASE_AT_MS] = atMs;
  if (upgraded) {
    members[m + M_TIER] = target;
    members[m + M_PERIOD_START_TIER] = target;
    members[m + M_PERIOD_START_MS] = atMs;
    members[m + M_PERIOD_END_MS] = periodEndMs;
  }

  results[r + R_STATUS] = S_OK;
  results[r + R_POINTS_DELTA] = pointsDelta;
  // 0 - x rather than -x: a Float64Array keeps -0, which the core never writes.
  results[r + R_WALLET_DELTA_CENTS] = 0 - walletCents;
  results[r + R_GROWTH_DELTA] = growthDelta;
  results[r + R_SPEND_DELTA_CENTS] = netCents;
  results[r + R_EARNED_POINTS] = earned;
  results[r + R_VALUE_CENTS] = redeemValueCents;
  results[r + R_NET_CENTS] = netCents;
  results[r + R_NEW_TIER] = upgraded ? target : NONE;
  results[r + R_BONUS_POINTS] = bonusPoints;
  results[r + R_PENDING_GROWTH] = pending ? orderGrowth : 0;
}

function redeem(program: Float64Array, members: Float64Array, m: number, ops: Float64Array, o: number, results: Float64Array, r: number): void {
  const redeemPoints = read(ops, o + O_A);
  const points = read(members, m + M_POINTS);
  if (redeemPoints > points) { results[r + R_STATUS] = S_INSUFFICIENT_POINTS; return; }
  const t = tierBase(read(members, m + M_TIER));
  const valueCents = mulDiv(redeemPoints, read(program, t + T_REDEEM_CENTS), read(program, t + T_REDEEM_POINTS));
  if (valueCents === 0) { results[r + R_STATUS] = S_REDEMPTION_TOO_SMALL; return; }
  const newWallet = read(members, m + M_WALLET_CENTS) + valueCents;
  if (!isSafe(newWallet)) { results[r + R_STATUS] = S_BALANCE_LIMIT; return; }
  members[m + M_POINTS] = points - redeemPoints;
  members[m + M_WALLET_CENTS] = newWallet;
  results[r + R_STATUS] = S_OK;
  results[r + R_POINTS_DELTA] = 0 - redeemPoints;
  results[r + R_WALLET_DELTA_CENTS] = valueCents;
  results[r + R_VALUE_CENTS] = valueCents;
}

function adjust(members: Float64Array, m: number, ops: Float64Array, o: number, results: Float64Array, r: number): void {
  const deltaPoints = read(ops, o + O_A);
  const newPoints = read(members, m + M_POINTS) + deltaPoints;
  // Only a debit is refused below zero: a credit to a balance a clawback left negative moves it up.
  if (deltaPoints < 0 && newPoints < 0) { results[r + R_STATUS] = S_INSUFFICIENT_POINTS; return; }
  if (!isSafe(newPoints)) { results[r + R_STATUS] = S_BALANCE_LIMIT; return; }
  members[m + M_POINTS] = newPoints;
  results[r + R_STATUS] = S_OK;
  results[r + R_POINTS_DELTA] = deltaPoints;
}

function topup(program: Float64Array, members: Float64Array, m: number, ops: Float64Array, o: number, results: Float64Array, r: number): void {
  const amountCents = read(ops, o + O_A);
  if (amountCents < read(program, P_MIN_TOPUP_CENTS)) { results[r + R_STATUS] = S_TOPUP_BELOW_MINIMUM; return; }
  let bonusCents = 0;
  for (let j = 0; j < read(program, P_TOPUP_BONUS_COUNT); j++) {
    const step = TOPUP_BASE + j * B_SLOTS;
    if (read(program, step + B_MIN_CENTS) <= amountCents) bonusCents = read(program, step + B_BONUS_CENTS);
  }
  // All three terms are non-negative, so an unsafe first sum can only grow.
  const deltaCents = amountCents + bonusCents;
  const newWallet = read(members, m + M_WALLET_CENTS) + deltaCents;
  if (!isSafe(deltaCents) || !isSafe(newWallet)) { results[r + R_STATUS] = S_BALANCE_LIMIT; return; }
  members[m + M_WALLET_CENTS] = newWallet;
  results[r + R_STATUS] = S_OK;
  results[r + R_WALLET_DELTA_CENTS] = deltaCents;
  results[r + R_VALUE_CENTS] = bonusCents;
}

function withdraw(members: Float64Array, m: number, ops: Float64Array, o: number, results: Float64Array, r: number): void {
  const amountCents = read(ops, o + O_A);
  const wallet = read(members, m + M_WALLET_CENTS);
  if (amountCents > wallet) { results[r + R_STATUS] = S_INSUFFICIENT_WALLET; return; }
  members[m + M_WALLET_CENTS] = wallet - amountCents;
  results[r + R_STATUS] = S_OK;
  results[r + R_WALLET_DELTA_CENTS] = 0 - amountCents;
}

function quote(program: Float64Array, members: Float64Array, m: number, ops: Float64Array, o: number, results: Float64Array, r: number): void {
  const amountCents = read(ops, o + O_A);
  const { multiplierPct, extraPoints } = multiplierOf(ops, o);
  const t = tierBase(read(members, m + M_TIER));
  const redeemPoints = read(program, t + T_REDEEM_POINTS);
  const redeemCents = read(program, t + T_REDEEM_CENTS);
  const discountCents = mulDiv(amountCents, read(program, t + T_DISCOUNT_BPS), BPS_ONE);
  const payableCents = amountCents - discountCents;
  const maxRedeemPoints = Math.min(Math.max(read(members, m + M_POINTS), 0), mulDiv(payableCents, redeemPoints, redeemCents));
  const maxRedeemValueCents = mulDiv(maxRedeemPoints, redeemCents, redeemPoints);
  const pointsToEarn = earnedPoints(program, t, payableCents, multiplierPct, extraPoints);
  if (!isSafe(pointsToEarn)) { results[r + R_STATUS] = S_BALANCE_LIMIT; return; }
  results[r + R_STATUS] = S_OK;
  results[r + R_NET_CENTS] = discountCents;
  results[r + R_BONUS_POINTS] = maxRedeemPoints;
  results[r + R_VALUE_CENTS] = maxRedeemValueCents;
  results[r + R_EARNED_POINTS] = pointsToEarn;
}

/** Applies ops 0..opCount-1 in order to their member slots, writing result record k for op k. */
export function runReference(
  program: Float64Array,
  members: Float64Array,
  ops: Float64Array,
  results: Float64Array,
  opCount: number,
): void {
  if (!(Number.isInteger(opCount) && opCount >= 0 && opCount <= CORE_OPS_MAX)) fail(`opCount ${opCount} out of range`);
  for (let k = 0; k < opCount; k++) {
    const o = k * O_SLOTS;
    const slot = read(ops, o + O_SLOT);
    if (!(Number.isInteger(slot) && slot >= 0 && slot < CORE_MEMBERS_MAX)) fail(`op ${k}: member slot ${slot} out of range`);
    const m = slot * M_SLOTS;
    const r = k * R_SLOTS;
    results.fill(0, r, r + R_SLOTS);
    switch (read(ops, o + O_KIND)) {
      case OP_PURCHASE: purchase(program, members, m, ops, o, results, r); break;
      case OP_REDEEM: redeem(program, members, m, ops, o, results, r); break;
      case OP_ADJUST: adjust(members, m, ops, o, results, r); break;
      case OP_TOPUP: topup(program, members, m, ops, o, results, r); break;
      case OP_WITHDRAW: withdraw(members, m, ops, o, results, r); break;
      case OP_QUOTE: quote(program, members, m, ops, o, results, r); break;
      default: fail(`op ${k}: unknown kind ${read(ops, o + O_KIND)}`);
    }
  }
}
