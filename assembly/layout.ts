// The record layout of the WASM core, repeated in AssemblyScript from engine/core/layout.ts (the
// TypeScript side fills and reads these records); test/core/layout.test.ts checks that both agree.
// Every field is one f64 slot holding an exact integer (|n| <= 2^53 - 1); the core converts to i64.

/** Absent optional integers (null in the program or the member state) are stored as -1. */
export const NONE: i64 = -1;

/** Program header: slot offsets inside the program record. */
export const P_TIER_COUNT: i32 = 0;
export const P_QUALIFY_BY: i32 = 1; // 0 = spend, 1 = growth
export const P_MEMBERSHIP_DAYS: i32 = 2; // NONE = tiers never expire
export const P_CARRY_FORWARD: i32 = 3; // 0 = excess, 1 = all, 2 = none
export const P_ORDER_POINTS: i32 = 4;
export const P_GROWTH_POINTS: i32 = 5; // growth ratio: growth gained = floor(earned * G_GROWTH / G_POINTS)
export const P_GROWTH_GROWTH: i32 = 6;
export const P_MAX_WALLET_SPEND_CENTS: i32 = 7; // NONE = no per-order limit
export const P_MIN_TOPUP_CENTS: i32 = 8;
export const P_TOPUP_BONUS_COUNT: i32 = 9;
export const P_ALLOW_NEGATIVE_POINTS: i32 = 10; // 0 | 1
export const P_POINTS_PENDING: i32 = 11; // 0 | 1: a purchase's earned points and growth wait (pointsPendingDays > 0)
export const P_HEADER_SLOTS: i32 = 16;

/** Tier records follow the header: tier i starts at P_HEADER_SLOTS + i * T_SLOTS. */
export const T_THRESHOLD: i32 = 0;
export const T_EARN_CENTS: i32 = 1;
export const T_EARN_POINTS: i32 = 2;
export const T_REDEEM_POINTS: i32 = 3;
export const T_REDEEM_CENTS: i32 = 4;
export const T_DISCOUNT_BPS: i32 = 5;
export const T_RETAIN_THRESHOLD: i32 = 6; // already resolved: equals T_THRESHOLD when the program says null
export const T_EXPRESS_UPGRADE_CENTS: i32 = 7; // NONE = no express upgrade into this tier
export const T_UPGRADE_BONUS_POINTS: i32 = 8;
export const T_RENEWAL_BONUS_POINTS: i32 = 9;
export const T_SLOTS: i32 = 10;
export const TIERS_MAX: i32 = 10;

/** Top-up bonus steps follow the tiers: step j starts at TOPUP_BASE + j * B_SLOTS, ascending minCents. */
export const TOPUP_BASE: i32 = P_HEADER_SLOTS + TIERS_MAX * T_SLOTS;
export const B_MIN_CENTS: i32 = 0;
export const B_BONUS_CENTS: i32 = 1;
export const B_SLOTS: i32 = 2;
export const TOPUP_BONUSES_MAX: i32 = 16;
export const PROGRAM_SLOTS: i32 = TOPUP_BASE + TOPUP_BONUSES_MAX * B_SLOTS;

/** Member state slots: member slot s starts at s * M_SLOTS in the member region. */
export const M_TIER: i32 = 0; // tier index into the program's tiers
export const M_PERIOD_START_MS: i32 = 1;
export const M_PERIOD_END_MS: i32 = 2; // NONE = the tier never expires
export const M_PERIOD_METRIC: i32 = 3;
export const M_POINTS: i32 = 4;
export const M_GROWTH: i32 = 5;
export const M_WALLET_CENTS: i32 = 6;
export const M_LIFETIME_SPEND_CENTS: i32 = 7;
export const M_PURCHASE_COUNT: i32 = 8;
export const M_FIRST_PURCHASE_AT_MS: i32 = 9; // NONE until the first purchase
export const M_LAST_PURCHASE_AT_MS: i32 = 10; // NONE until the first purchase
export const M_PERIOD_START_TIER: i32 = 11; // the tier held when the current period began
export const M_SLOTS: i32 = 12;

/** Operation records: op k starts at k * O_SLOTS in the op region; ops run in index order. */
export const O_KIND: i32 = 0;
export const O_SLOT: i32 = 1; // member slot the op applies to
export const O_AT_MS: i32 = 2;
export const O_A: i32 = 3; // purchase: amountCents; redeem/adjust: points; topup/withdraw: amountCents; quote: amountCents
export const O_B: i32 = 4; // purchase: discountCents
export const O_C: i32 = 5; // purchase: redeemPoints
export const O_D: i32 = 6; // purchase: walletCents
// Purchase and quote: the multiplier M of docs/rules.md §13.2 in percent (the birthday month's or a
// campaign's, resolved before the call: engine/rules/campaigns.ts), and the campaigns' bonus and item
// points, added after the multiplication.
export const O_MULTIPLIER_PCT: i32 = 7;
export const O_EXTRA_POINTS: i32 = 8;
export const O_SLOTS: i32 = 9;

export const OP_PURCHASE: i32 = 1;
export const OP_REDEEM: i32 = 2; // points -> wallet cash at the member's tier
export const OP_ADJUST: i32 = 3; // signed points, never below zero
export const OP_TOPUP: i32 = 4;
export const OP_WITHDRAW: i32 = 5;
export const OP_QUOTE: i32 = 6; // reads only; never changes the member slot

/** Result records: result k starts at k * R_SLOTS in the result region. */
export const R_STATUS: i32 = 0;
export const R_POINTS_DELTA: i32 = 1; // change of the points balance by the main entry (without R_BONUS_POINTS)
export const R_WALLET_DELTA_CENTS: i32 = 2;
export const R_GROWTH_DELTA: i32 = 3;
export const R_SPEND_DELTA_CENTS: i32 = 4; // purchase: netCents
export const R_EARNED_POINTS: i32 = 5; // purchase: points earned; quote: pointsToEarn
export const R_VALUE_CENTS: i32 = 6; // purchase: redeemValueCents; redeem: wallet credit; topup: bonus; quote: maxRedeemValueCents
export const R_NET_CENTS: i32 = 7; // purchase: netCents; quote: discountCents
export const R_NEW_TIER: i32 = 8; // purchase: tier index upgraded to, NONE when no upgrade
export const R_BONUS_POINTS: i32 = 9; // purchase: upgrade bonus of R_NEW_TIER; quote: maxRedeemPoints
export const R_PENDING_GROWTH: i32 = 10; // purchase: growth waiting with the earned points (P_POINTS_PENDING), else 0
export const R_SLOTS: i32 = 11;

/** Result statuses: business rejections are codes per op, never exceptions. */
export const S_OK: i32 = 0;
export const S_INSUFFICIENT_POINTS: i32 = 1;
export const S_INSUFFICIENT_WALLET: i32 = 2;
export const S_WALLET_LIMIT: i32 = 3;
export const S_NEGATIVE_NET: i32 = 4; // discount + redeemed value exceed the gross amount
export const S_TOPUP_BELOW_MINIMUM: i32 = 5;
export const S_BALANCE_LIMIT: i32 = 6; // a balance would leave the safe-integer range
export const S_REDEMPTION_TOO_SMALL: i32 = 7; // the points are worth less than one cent

/** Capacity of one core call; a shard batch with more ops is split into several calls. */
export const CORE_OPS_MAX: i32 = 10_000;
export const CORE_MEMBERS_MAX: i32 = 10_000;
