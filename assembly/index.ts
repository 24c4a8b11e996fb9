// The WASM core: applies one batch of loyalty operations to fixed-size member records in linear memory.
// The shard writes the program, the member slots and the ops into the static regions below, calls
// run(opCount) once per batch and reads the member slots and one result record per op back. The
// core allocates nothing and knows no strings; engine/core/reference.ts is its TypeScript twin and
// test/core/core.property.test.ts requires both to produce identical bytes.

import {
  NONE, P_TIER_COUNT, P_QUALIFY_BY, P_MEMBERSHIP_DAYS, P_CARRY_FORWARD, P_ORDER_POINTS,
  P_GROWTH_POINTS, P_GROWTH_GROWTH, P_MAX_WALLET_SPEND_CENTS,
  P_MIN_TOPUP_CENTS, P_TOPUP_BONUS_COUNT, P_ALLOW_NEGATIVE_POINTS, P_POINTS_PENDING, P_HEADER_SLOTS,
  T_THRESHOLD, T_EARN_CENTS, T_EARN_POINTS, T_REDEEM_POINTS, T_REDEEM_CENTS, T_DISCOUNT_BPS,
  T_RETAIN_THRESHOLD, T_EXPRESS_UPGRADE_CENTS, T_UPGRADE_BONUS_POINTS, T_RENEWAL_BONUS_POINTS,
  T_SLOTS, TIERS_MAX, TOPUP_BASE, B_MIN_CENTS, B_BONUS_CENTS, B_SLOTS, TOPUP_BONUSES_MAX,
  PROGRAM_SLOTS,
  M_TIER, M_PERIOD_START_MS, M_PERIOD_END_MS, M_PERIOD_METRIC, M_POINTS, M_GROWTH, M_WALLET_CENTS,
  M_LIFETIME_SPEND_CENTS, M_PURCHASE_COUNT, M_FIRST_PURCHASE_AT_MS, M_LAST_PURCHASE_AT_MS,
  M_PERIOD_START_TIER, M_SLOTS,
  O_KIND, O_SLOT, O_AT_MS, O_A, O_B, O_C, O_D, O_MULTIPLIER_PCT, O_EXTRA_POINTS, O_SLOTS,
  OP_PURCHASE, OP_REDEEM, OP_ADJUST, OP_TOPUP, OP_WITHDRAW, OP_QUOTE,
  R_STATUS, R_POINTS_DELTA, R_WALLET_DELTA_CENTS, R_GROWTH_DELTA, R_SPEND_DELTA_CENTS,
  R_EARNED_POINTS, R_VALUE_CENTS, R_NET_CENTS, R_NEW_TIER, R_BONUS_POINTS, R_PENDING_GROWTH, R_SLOTS,
  S_OK, S_INSUFFICIENT_POINTS, S_INSUFFICIENT_WALLET, S_WALLET_LIMIT, S_NEGATIVE_NET,
  S_TOPUP_BELOW_MINIMUM, S_BALANCE_LIMIT, S_REDEMPTION_TOO_SMALL,
  CORE_OPS_MAX, CORE_MEMBERS_MAX,
} from "./layout";

// Bounds repeated from engine/limits.ts (test/core/layout.test.ts checks they agree). The caller
// validates its inputs against them; the core asserts them because its i64 arithmetic relies on them.
const SAFE_INTEGER_MAX: i64 = 9_007_199_254_740_991;
const AMOUNT_CENTS_MAX: i64 = 1_000_000_000_000;
const POINTS_OP_MAX: i64 = 1_000_000_000_000;
const RATE_PART_MAX: i64 = 1_000_000;
const THRESHOLD_MAX: i64 = 1_000_000_000_000_000;
const DAYS_MAX: i64 = 36_500;
const MULTIPLIER_PCT_MAX: i64 = 10_000;
const CAMPAIGN_EXTRA_POINTS_MAX: i64 = 1_000_000_000_000;

/** One day, for turning membershipDays into a period end. */
const DAY_MS: i64 = 86_400_000;
/** Basis points in one whole, for the tier discount of a quote. */
const BPS_ONE: i64 = 10_000;
/** Percent in one whole, for the points multiplier. */
const PCT_ONE: i64 = 100;
/**
 * Largest numerator or denominator mulDivFloor accepts: with both below 2^31 the remainder product
 * `r * num` fits in i64, which is what makes the split multiplication exact.
 */
const MUL_DIV_PART_MAX: i64 = 0x7fff_ffff;
/**
 * mulDivFloor saturates here instead of overflowing. Any value at or past it is more than twice
 * SAFE_INTEGER_MAX, so adding a balance of at most SAFE_INTEGER_MAX to it still leaves the safe
 * range and the op is refused with S_BALANCE_LIMIT, exactly as with unbounded integers.
 */
const SATURATED: i64 = 1 << 62;

// The four regions, reserved statically so their addresses never move and nothing is allocated.
const PROGRAM: usize = memory.data(PROGRAM_SLOTS << 3, 16);
const MEMBERS: usize = memory.data(CORE_MEMBERS_MAX * M_SLOTS << 3, 16);
const OPS: usize = memory.data(CORE_OPS_MAX * O_SLOTS << 3, 16);
const RESULTS: usize = memory.data(CORE_OPS_MAX * R_SLOTS << 3, 16);

export function programPtr(): usize { return PROGRAM; }
export function membersPtr(): usize { return MEMBERS; }
export function opsPtr(): usize { return OPS; }
export function resultsPtr(): usize { return RESULTS; }

// The program header, read and checked once per run so that each op reads plain locals.
let tierCount: i32 = 0;
let qualifyByGrowth: bool = false;
let pointsPending: bool = false;
let membershipDays: i64 = NONE;
let carryForward: i64 = 0;
let orderPoints: i64 = 0;
let growthPoints: i64 = 1;
let growthGrowth: i64 = 0;
let maxWalletSpendCents: i64 = NONE;
let minTopupCents: i64 = 0;
let topupBonusCount: i32 = 0;

/** Reads one slot, asserting that it holds an exact integer in the safe range (NaN fails too). */
@inline function readInt(ptr: usize): i64 {
  const value = load<f64>(ptr);
  assert(value >= -9007199254740991.0 && value <= 9007199254740991.0, "slot outside the safe-integer range");
  const n = <i64>value;
  assert(<f64>n == value, "slot is not an integer");
  return n;
}

@inline function writeInt(ptr: usize, n: i64): void {
  store<f64>(ptr, <f64>n);
}

@inline function inSafeRange(n: i64): bool {
  return n >= -SAFE_INTEGER_MAX && n <= SAFE_INTEGER_MAX;
}

@inline function programSlot(slot: i32): usize {
  return PROGRAM + (<usize>slot << 3);
}

@inline function tierSlot(tier: i32, field: i32): usize {
  return PROGRAM + (<usize>(P_HEADER_SLOTS + tier * T_SLOTS + field) << 3);
}

/** A tier field; the whole program was checked by loadProgram, so a plain conversion is exact. */
@inline function tierField(tier: i32, field: i32): i64 {
  return <i64>load<f64>(tierSlot(tier, field));
}

@inline function bonusField(step: i32, field: i32): i64 {
  return <i64>load<f64>(PROGRAM + (<usize>(TOPUP_BASE + step * B_SLOTS + field) << 3));
}

@inline function memberSlot(slot: i32, field: i32): usize {
  return MEMBERS + (<usize>(slot * M_SLOTS + field) << 3);
}

@inline function opSlot(op: i32, field: i32): usize {
  return OPS + (<usize>(op * O_SLOTS + field) << 3);
}

@inline function resultSlot(op: i32, field: i32): usize {
  return RESULTS + (<usize>(op * R_SLOTS + field) << 3);
}

/**
 * floor(x * num / den), exact, or SATURATED when the exact value is at least that large.
 * Splitting x = q * den + r keeps every product in i64: q * num is checked against the saturation
 * point and r * num < den * num < 2^62.
 */
function mulDivFloor(x: i64, num: i64, den: i64): i64 {
  assert(x >= 0, "mulDivFloor of a negative value");
  assert(num >= 0 && num <= MUL_DIV_PART_MAX, "rate numerator out of range");
  assert(den > 0 && den <= MUL_DIV_PART_MAX, "rate denominator out of range");
  const q = x / den;
  const r = x % den;
  if (num != 0 && q > SATURATED / num) return SATURATED;
  const value = q * num + (r * num) / den;
  return value > SATURATED ? SATURATED : value;
}

/** Reads the program header into globals and checks every bound the arithmetic relies on. */
function loadProgram(): void {
  const count = readInt(programSlot(P_TIER_COUNT));
  assert(count >= 1 && count <= <i64>TIERS_MAX, "tier count out of range");
  tierCount = <i32>count;
  const qualifyBy = readInt(programSlot(P_QUALIFY_BY));
  assert(qualifyBy == 0 || qualifyBy == 1, "qualifyBy out of range");
  qualifyByGrowth = qualifyBy == 1;
  membershipDays = readInt(programSlot(P_MEMBERSHIP_DAYS));
  assert(membershipDays == NONE || (membershipDays >= 0 && membershipDays <= DAYS_MAX), "membershipDays out of range");
  carryForward = readInt(programSlot(P_CARRY_FORWARD));
  assert(carryForward >= 0 && carryForward <= 2, "carryForward out of range");
  orderPoints = readInt(programSlot(P_ORDER_POINTS));
  assert(orderPoints >= 0, "orderPoints negative");
  growthPoints = readInt(programSlot(P_GROWTH_POINTS));
  assert(growthPoints >= 1 && growthPoints <= RATE_PART_MAX, "growth.points out of range");
  growthGrowth = readInt(programSlot(P_GROWTH_GROWTH));
  assert(growthGrowth >= 1 && growthGrowth <= RATE_PART_MAX, "growth.growth out of range");
  maxWalletSpendCents = readInt(programSlot(P_MAX_WALLET_SPEND_CENTS));
  assert(maxWalletSpendCents == NONE || maxWalletSpendCents >= 0, "maxSpendCentsPerOrder negative");
  minTopupCents = readInt(programSlot(P_MIN_TOPUP_CENTS));
  assert(minTopupCents >= 0, "minTopupCents negative");
  const bonusCount = readInt(programSlot(P_TOPUP_BONUS_COUNT));
  assert(bonusCount >= 0 && bonusCount <= <i64>TOPUP_BONUSES_MAX, "top-up bonus count out of range");
  topupBonusCount = <i32>bonusCount;
  const allowNegative = readInt(programSlot(P_ALLOW_NEGATIVE_POINTS));
  assert(allowNegative == 0 || allowNegative == 1, "allowNegativePoints out of range");
  const pending = readInt(programSlot(P_POINTS_PENDING));
  assert(pending == 0 || pending == 1, "pointsPending out of range");
  pointsPending = pending == 1;

  for (let t: i32 = 0; t < tierCount; t++) {
    const threshold = readInt(tierSlot(t, T_THRESHOLD));
    assert(threshold >= 0 && threshold <= THRESHOLD_MAX, "tier threshold out of range");
    assert(t > 0 || threshold == 0, "the first tier's threshold is not 0");
    assert(t == 0 || threshold > tierField(t - 1, T_THRESHOLD), "tier thresholds not strictly ascending");
    const earnCents = readInt(tierSlot(t, T_EARN_CENTS));
    assert(earnCents >= 1 && earnCents <= RATE_PART_MAX, "earn.cents out of range");
    const earnPoints = readInt(tierSlot(t, T_EARN_POINTS));
    assert(earnPoints >= 1 && earnPoints <= RATE_PART_MAX, "earn.points out of range");
    const redeemPoints = readInt(tierSlot(t, T_REDEEM_POINTS));
    assert(redeemPoints >= 1 && redeemPoints <= RATE_PART_MAX, "redeem.points out of range");
    const redeemCents = readInt(tierSlot(t, T_REDEEM_CENTS));
    assert(redeemCents >= 1 && redeemCents <= RATE_PART_MAX, "redeem.cents out of range");
    const discountBps = readInt(tierSlot(t, T_DISCOUNT_BPS));
    assert(discountBps >= 0 && discountBps <= BPS_ONE, "discountBps out of range");
    const retain = readInt(tierSlot(t, T_RETAIN_THRESHOLD));
    assert(retain >= 0 && retain <= THRESHOLD_MAX, "retainThreshold out of range");
    const express = readInt(tierSlot(t, T_EXPRESS_UPGRADE_CENTS));
    assert(express == NONE || express >= 0, "expressUpgradeCents negative");
    assert(readInt(tierSlot(t, T_UPGRADE_BONUS_POINTS)) >= 0, "upgradeBonusPoints negative");
    assert(readInt(tierSlot(t, T_RENEWAL_BONUS_POINTS)) >= 0, "renewalBonusPoints negative");
  }
  for (let j: i32 = 0; j < topupBonusCount; j++) {
    const minCents = readInt(PROGRAM + (<usize>(TOPUP_BASE + j * B_SLOTS + B_MIN_CENTS) << 3));
    assert(minCents >= 0, "top-up bonus minCents negative");
    assert(j == 0 || minCents >= bonusField(j - 1, B_MIN_CENTS), "top-up bonuses not sorted by minCents");
    assert(readInt(PROGRAM + (<usize>(TOPUP_BASE + j * B_SLOTS + B_BONUS_CENTS) << 3)) >= 0, "top-up bonusCents negative");
  }
}

/**
 * The multiplier and the campaigns' points of purchase or quote k, resolved before the call
 * (docs/rules.md §13.2), checked against the bounds earnedPoints relies on.
 */
@inline function opMultiplierPct(k: i32): i64 {
  const multiplierPct = readInt(opSlot(k, O_MULTIPLIER_PCT));
  assert(multiplierPct >= 0 && multiplierPct <= MULTIPLIER_PCT_MAX, "op multiplierPct out of range");
  return multiplierPct;
}

@inline function opExtraPoints(k: i32): i64 {
  const extraPoints = readInt(opSlot(k, O_EXTRA_POINTS));
  assert(extraPoints >= 0 && extraPoints <= CAMPAIGN_EXTRA_POINTS_MAX, "op extraPoints out of range");
  return extraPoints;
}

/**
 * Points earned on `payableCents` at `tier` (docs/rules.md §13.2):
 * floor((floor(payable × earn.points ÷ earn.cents) + orderPoints) × multiplierPct ÷ 100) + extraPoints.
 * The regular points are below 2^62 + 2^53 (payableCents <= AMOUNT_CENTS_MAX, earn.points <=
 * RATE_PART_MAX, orderPoints a safe integer), mulDivFloor stays exact or saturates at 2^62, and
 * extraPoints <= CAMPAIGN_EXTRA_POINTS_MAX: the sum never overflows i64, and any value past the
 * safe range is refused by the caller exactly as with unbounded integers.
 */
@inline function earnedPoints(tier: i32, payableCents: i64, multiplierPct: i64, extraPoints: i64): i64 {
  const regular = mulDivFloor(payableCents, tierField(tier, T_EARN_POINTS), tierField(tier, T_EARN_CENTS)) + orderPoints;
  // Most purchases have no multiplier: skip the division (the result is the same, or past the safe range either way).
  if (multiplierPct == PCT_ONE) return regular + extraPoints;
  return mulDivFloor(regular, multiplierPct, PCT_ONE) + extraPoints;
}

/** Clears result record k and writes its status; the op functions fill in the rest on success. */
@inline function beginResult(k: i32): void {
  memory.fill(resultSlot(k, 0), 0, <usize>R_SLOTS << 3);
}

@inline function reject(k: i32, status: i32): void {
  writeInt(resultSlot(k, R_STATUS), <i64>status);
}

function purchase(k: i32, slot: i32, atMs: i64): void {
  const amountCents = readInt(opSlot(k, O_A));
  const discountCents = readInt(opSlot(k, O_B));
  const redeemPoints = readInt(opSlot(k, O_C));
  const walletCents = readInt(opSlot(k, O_D));
  assert(amountCents > 0 && amountCents <= AMOUNT_CENTS_MAX, "purchase amount out of range");
  assert(discountCents >= 0 && discountCents <= AMOUNT_CENTS_MAX, "purchase discount out of range");
  assert(redeemPoints >= 0 && redeemPoints <= POINTS_OP_MAX, "purchase redeemPoints out of range");
  assert(walletCents >= 0 && walletCents <= AMOUNT_CENTS_MAX, "purchase walletCents out of range");
  const multiplierPct = opMultiplierPct(k);
  const extraPoints = opExtraPoints(k);

  const tier = <i32>readInt(memberSlot(slot, M_TIER));
  const points = readInt(memberSlot(slot, M_POINTS));
  const wallet = readInt(memberSlot(slot, M_WALLET_CENTS));

  // Earn and redeem at the tier held before the purchase.
  const redeemValueCents = mulDivFloor(redeemPoints, tierField(tier, T_REDEEM_CENTS), tierField(tier, T_REDEEM_POINTS));
  const netCents = amountCents - discountCents - redeemValueCents;
  if (netCents < 0) { reject(k, S_NEGATIVE_NET); return; }
  // Redeeming nothing needs no balance, so a member a clawback left negative can still buy.
  if (redeemPoints > 0 && redeemPoints > points) { reject(k, S_INSUFFICIENT_POINTS); return; }
  if (walletCents > netCents) { reject(k, S_NEGATIVE_NET); return; }
  if (walletCents > wallet) { reject(k, S_INSUFFICIENT_WALLET); return; }
  if (maxWalletSpendCents != NONE && walletCents > maxWalletSpendCents) { reject(k, S_WALLET_LIMIT); return; }

  const earned = earnedPoints(tier, netCents, multiplierPct, extraPoints);
  // A result field must fit its f64 slot as well as a balance does.
  if (earned > SAFE_INTEGER_MAX) { reject(k, S_BALANCE_LIMIT); return; }
  const orderGrowth = mulDivFloor(earned, growthGrowth, growthPoints);
  // Pending points and their growth wait outside the balances until the shard activates them.
  const growthDelta: i64 = pointsPending ? 0 : orderGrowth;
  const pointsDelta = pointsPending ? -redeemPoints : earned - redeemPoints;

  const growth = readInt(memberSlot(slot, M_GROWTH)) + growthDelta;
  const metricGained = readInt(memberSlot(slot, M_PERIOD_METRIC)) + (qualifyByGrowth ? growthDelta : netCents);
  const lifetimeSpendCents = readInt(memberSlot(slot, M_LIFETIME_SPEND_CENTS)) + netCents;
  const purchaseCount = readInt(memberSlot(slot, M_PURCHASE_COUNT)) + 1;
  const firstAtMs = readInt(memberSlot(slot, M_FIRST_PURCHASE_AT_MS));
  const lastAtMs = readInt(memberSlot(slot, M_LAST_PURCHASE_AT_MS));

  // The highest tier above the current one that the metric or this single purchase reaches.
  let target = tier;
  for (let i = tier + 1; i < tierCount; i++) {
    const express = tierField(i, T_EXPRESS_UPGRADE_CENTS);
    if (tierField(i, T_THRESHOLD) <= metricGained || (express != NONE && express <= netCents)) target = i;
  }
  let metric = metricGained;
  let bonusPoints: i64 = 0;
  let periodEndMs: i64 = NONE;
  if (target > tier) {
    if (carryForward == 0) {
      const excess = metricGained - tierField(target, T_THRESHOLD);
      metric = excess > 0 ? excess : 0;
    } else if (carryForward == 2) {
      metric = 0;
    }
    bonusPoints = tierField(target, T_UPGRADE_BONUS_POINTS);
    if (membershipDays != NONE) periodEndMs = atMs + membershipDays * DAY_MS;
  }
  const newPoints = points + pointsDelta + bonusPoints;

  // The metric is bounded before carry-forward: it is the value the tier thresholds are compared with.
  if (
    !inSafeRange(newPoints) || !inSafeRange(growth) || !inSafeRange(orderGrowth) || !inSafeRange(metricGained) ||
    !inSafeRange(lifetimeSpendCents) || !inSafeRange(purchaseCount) || !inSafeRange(periodEndMs)
  ) { reject(k, S_BALANCE_LIMIT); return; }

  writeInt(memberSlot(slot, M_POINTS), newPoints);
  writeInt(memberSlot(slot, M_WALLET_CENTS), wallet - walletCents);
  writeInt(memberSlot(slot, M_GROWTH), growth);
  writeInt(memberSlot(slot, M_PERIOD_METRIC), metric);
  writeInt(memberSlot(slot, M_LIFETIME_SPEND_CENTS), lifetimeSpendCents);
  writeInt(memberSlot(slot, M_PURCHASE_COUNT), purchaseCount);
  if (firstAtMs == NONE) writeInt(memberSlot(slot, M_FIRST_PURCHASE_AT_MS), atMs);
  if (lastAtMs == NONE || atMs > lastAtMs) writeInt(memberSlot(slot, M_LAST_PURCHASE_AT_MS), atMs);
  if (target > tier) {
    writeInt(memberSlot(slot, M_TIER), <i64>target);
    writeInt(memberSlot(slot, M_PERIOD_START_TIER), <i64>target);
    writeInt(memberSlot(slot, M_PERIOD_START_MS), atMs);
    writeInt(memberSlot(slot, M_PERIOD_END_MS), periodEndMs);
  }

  writeInt(resultSlot(k, R_STATUS), <i64>S_OK);
  writeInt(resultSlot(k, R_POINTS_DELTA), pointsDelta);
  writeInt(resultSlot(k, R_WALLET_DELTA_CENTS), -walletCents);
  writeInt(resultSlot(k, R_GROWTH_DELTA), growthDelta);
  writeInt(resultSlot(k, R_SPEND_DELTA_CENTS), netCents);
  writeInt(resultSlot(k, R_EARNED_POINTS), earned);
  writeInt(resultSlot(k, R_VALUE_CENTS), redeemValueCents);
  writeInt(resultSlot(k, R_NET_CENTS), netCents);
  writeInt(resultSlot(k, R_NEW_TIER), target > tier ? <i64>target : NONE);
  writeInt(resultSlot(k, R_BONUS_POINTS), bonusPoints);
  writeInt(resultSlot(k, R_PENDING_GROWTH), pointsPending ? orderGrowth : 0);
}

function redeem(k: i32, slot: i32): void {
  const redeemPoints = readInt(opSlot(k, O_A));
  assert(redeemPoints > 0 && redeemPoints <= POINTS_OP_MAX, "redeem points out of range");
  const tier = <i32>readInt(memberSlot(slot, M_TIER));
  const points = readInt(memberSlot(slot, M_POINTS));
  const wallet = readInt(memberSlot(slot, M_WALLET_CENTS));
  if (redeemPoints > points) { reject(k, S_INSUFFICIENT_POINTS); return; }
  const valueCents = mulDivFloor(redeemPoints, tierField(tier, T_REDEEM_CENTS), tierField(tier, T_REDEEM_POINTS));
  if (valueCents == 0) { reject(k, S_REDEMPTION_TOO_SMALL); return; }
  const newWallet = wallet + valueCents;
  if (!inSafeRange(newWallet)) { reject(k, S_BALANCE_LIMIT); return; }
  writeInt(memberSlot(slot, M_POINTS), points - redeemPoints);
  writeInt(memberSlot(slot, M_WALLET_CENTS), newWallet);
  writeInt(resultSlot(k, R_STATUS), <i64>S_OK);
  writeInt(resultSlot(k, R_POINTS_DELTA), -redeemPoints);
  writeInt(resultSlot(k, R_WALLET_DELTA_CENTS), valueCents);
  writeInt(resultSlot(k, R_VALUE_CENTS), valueCents);
}

function adjust(k: i32, slot: i32): void {
  const deltaPoints = readInt(opSlot(k, O_A));
  assert(deltaPoints != 0 && deltaPoints >= -POINTS_OP_MAX && deltaPoints <= POINTS_OP_MAX, "adjust points out of range");
  const newPoints = readInt(memberSlot(slot, M_POINTS)) + deltaPoints;
  // Only a debit is refused below zero: a credit to a balance a clawback left negative moves it up.
  if (deltaPoints < 0 && newPoints < 0) { reject(k, S_INSUFFICIENT_POINTS); return; }
  if (!inSafeRange(newPoints)) { reject(k, S_BALANCE_LIMIT); return; }
  writeInt(memberSlot(slot, M_POINTS), newPoints);
  writeInt(resultSlot(k, R_STATUS), <i64>S_OK);
  writeInt(resultSlot(k, R_POINTS_DELTA), deltaPoints);
}

function topup(k: i32, slot: i32): void {
  const amountCents = readInt(opSlot(k, O_A));
  assert(amountCents > 0 && amountCents <= AMOUNT_CENTS_MAX, "top-up amount out of range");
  if (amountCents < minTopupCents) { reject(k, S_TOPUP_BELOW_MINIMUM); return; }
  // Steps ascend by minCents, so the last one reached is the largest.
  let bonusCents: i64 = 0;
  for (let j: i32 = 0; j < topupBonusCount; j++) {
    if (bonusField(j, B_MIN_CENTS) <= amountCents) bonusCents = bonusField(j, B_BONUS_CENTS);
  }
  const deltaCents = amountCents + bonusCents;
  const newWallet = readInt(memberSlot(slot, M_WALLET_CENTS)) + deltaCents;
  if (!inSafeRange(newWallet)) { reject(k, S_BALANCE_LIMIT); return; }
  writeInt(memberSlot(slot, M_WALLET_CENTS), newWallet);
  writeInt(resultSlot(k, R_STATUS), <i64>S_OK);
  writeInt(resultSlot(k, R_WALLET_DELTA_CENTS), deltaCents);
  writeInt(resultSlot(k, R_VALUE_CENTS), bonusCents);
}

function withdraw(k: i32, slot: i32): void {
  const amountCents = readInt(opSlot(k, O_A));
  assert(amountCents > 0 && amountCents <= AMOUNT_CENTS_MAX, "withdrawal amount out of range");
  const wallet = readInt(memberSlot(slot, M_WALLET_CENTS));
  if (amountCents > wallet) { reject(k, S_INSUFFICIENT_WALLET); return; }
  writeInt(memberSlot(slot, M_WALLET_CENTS), wallet - amountCents);
  writeInt(resultSlot(k, R_STATUS), <i64>S_OK);
  writeInt(resultSlot(k, R_WALLET_DELTA_CENTS), -amountCents);
}

function quote(k: i32, slot: i32): void {
  const amountCents = readInt(opSlot(k, O_A));
  assert(amountCents >= 0 && amountCents <= AMOUNT_CENTS_MAX, "quote amount out of range");
  const multiplierPct = opMultiplierPct(k);
  const extraPoints = opExtraPoints(k);
  const tier = <i32>readInt(memberSlot(slot, M_TIER));
  const points = readInt(memberSlot(slot, M_POINTS));
  const redeemPoints = tierField(tier, T_REDEEM_POINTS);
  const redeemCents = tierField(tier, T_REDEEM_CENTS);
  const discountCents = mulDivFloor(amountCents, tierField(tier, T_DISCOUNT_BPS), BPS_ONE);
  const payableCents = amountCents - discountCents;
  const coverablePoints = mulDivFloor(payableCents, redeemPoints, redeemCents);
  let maxRedeemPoints: i64 = points > 0 ? points : 0;
  if (coverablePoints < maxRedeemPoints) maxRedeemPoints = coverablePoints;
  const maxRedeemValueCents = mulDivFloor(maxRedeemPoints, redeemCents, redeemPoints);
  const pointsToEarn = earnedPoints(tier, payableCents, multiplierPct, extraPoints);
  if (pointsToEarn > SAFE_INTEGER_MAX) { reject(k, S_BALANCE_LIMIT); return; }
  writeInt(resultSlot(k, R_STATUS), <i64>S_OK);
  writeInt(resultSlot(k, R_NET_CENTS), discountCents);
  writeInt(resultSlot(k, R_BONUS_POINTS), maxRedeemPoints);
  writeInt(resultSlot(k, R_VALUE_CENTS), maxRedeemValueCents);
  writeInt(resultSlot(k, R_EARNED_POINTS), pointsToEarn);
}

/** Checks the member slot an op is about to use: the fields every op relies on. */
function checkMember(slot: i32): void {
  const tier = readInt(memberSlot(slot, M_TIER));
  assert(tier >= 0 && tier < <i64>tierCount, "member tier out of range");
  assert(readInt(memberSlot(slot, M_WALLET_CENTS)) >= 0, "member wallet negative");
}

/** Applies ops 0..opCount-1 in order, each to its member slot, writing result record k for op k. */
export function run(opCount: i32): void {
  assert(opCount >= 0 && opCount <= CORE_OPS_MAX, "opCount out of range");
  loadProgram();
  for (let k: i32 = 0; k < opCount; k++) {
    const kind = readInt(opSlot(k, O_KIND));
    const slot = readInt(opSlot(k, O_SLOT));
    assert(slot >= 0 && slot < <i64>CORE_MEMBERS_MAX, "op member slot out of range");
    const atMs = readInt(opSlot(k, O_AT_MS));
    assert(atMs >= 0, "op time negative");
    const s = <i32>slot;
    checkMember(s);
    beginResult(k);
    if (kind == <i64>OP_PURCHASE) purchase(k, s, atMs);
    else if (kind == <i64>OP_REDEEM) redeem(k, s);
    else if (kind == <i64>OP_ADJUST) adjust(k, s);
    else if (kind == <i64>OP_TOPUP) topup(k, s);
    else if (kind == <i64>OP_WITHDRAW) withdraw(k, s);
    else if (kind == <i64>OP_QUOTE) quote(k, s);
    else assert(false, "unknown op kind");
  }
}
