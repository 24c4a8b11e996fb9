// The fixed-size record layout shared by the WASM core (assembly/), its TypeScript reference model
// (engine/core/reference.ts) and the shard that fills and reads the records (engine/core/wasm.ts).
// Every field is one f64 slot holding an exact integer (|n| <= 2^53 - 1), so JavaScript reads and
// writes plain numbers through a Float64Array and the core converts to i64 for its arithmetic.
// assembly/layout.ts repeats these numbers; test/core/layout.test.ts checks that both agree.

/** Absent optional integers (null in the program or the member state) are stored as -1. */
export const NONE = -1;

/** Program header: slot offsets inside the program record. */
export const P_TIER_COUNT = 0;
export const P_QUALIFY_BY = 1; // 0 = spend, 1 = growth
export const P_MEMBERSHIP_DAYS = 2; // NONE = tiers never expire
export const P_CARRY_FORWARD = 3; // 0 = excess, 1 = all, 2 = none
export const P_ORDER_POINTS = 4;
export const P_GROWTH_POINTS = 5; // growth ratio: growth gained = floor(earned * G_GROWTH / G_POINTS)
export const P_GROWTH_GROWTH = 6;
export const P_MAX_WALLET_SPEND_CENTS = 7; // NONE = no per-order limit
export const P_MIN_TOPUP_CENTS = 8;
export const P_TOPUP_BONUS_COUNT = 9;
export const P_ALLOW_NEGATIVE_POINTS = 10; // 0 | 1
// 0 | 1: with `pointsPendingDays` > 0 a purchase's earned points and their growth wait (docs/rules.md
// §13.5): the core leaves them out of the balances and answers them apart; the shard holds them.
export const P_POINTS_PENDING = 11;
export const P_HEADER_SLOTS = 16;

/** Tier records follow the header: tier i starts at P_HEADER_SLOTS + i * T_SLOTS. */
export const T_THRESHOLD = 0;
export const T_EARN_CENTS = 1;
export const T_EARN_POINTS = 2;
export const T_REDEEM_POINTS = 3;
export const T_REDEEM_CENTS = 4;
export const T_DISCOUNT_BPS = 5;
export const T_RETAIN_THRESHOLD = 6; // already resolved: equals T_THRESHOLD when the program says null
export const T_EXPRESS_UPGRADE_CENTS = 7; // NONE = no express upgrade into this tier
export const T_UPGRADE_BONUS_POINTS = 8;
export const T_RENEWAL_BONUS_POINTS = 9;
export const T_SLOTS = 10;
export const TIERS_MAX = 10;

/** Top-up bonus steps follow the tiers: step j starts at TOPUP_BASE + j * B_SLOTS, ascending minCents. */
export const TOPUP_BASE = P_HEADER_SLOTS + TIERS_MAX * T_SLOTS;
export const B_MIN_CENTS = 0;
export const B_BONUS_CENTS = 1;
export const B_SLOTS = 2;
export const TOPUP_BONUSES_MAX = 16;
export const PROGRAM_SLOTS = TOPUP_BASE + TOPUP_BONUSES_MAX * B_SLOTS;

/** Member state slots: member slot s starts at s * M_SLOTS in the member region. */
export const M_TIER = 0; // tier index into the program's tiers
export const M_PERIOD_START_MS = 1;
export const M_PERIOD_END_MS = 2; // NONE = the tier never expires
export const M_PERIOD_METRIC = 3;
export const M_POINTS = 4;
export const M_GROWTH = 5;
export const M_WALLET_CENTS = 6;
export const M_LIFETIME_SPEND_CENTS = 7;
export const M_PURCHASE_COUNT = 8;
export const M_FIRST_PURCHASE_AT_MS = 9; // NONE until the first purchase
export const M_LAST_PURCHASE_AT_MS = 10; // NONE until the first purchase
export const M_PERIOD_START_TIER = 11; // the tier held when the current period began
export const M_SLOTS = 12;

/** Operation records: op k starts at k * O_SLOTS in the op region; ops run in index order. */
export const O_KIND = 0;
export const O_SLOT = 1; // member slot the op applies to
export const O_AT_MS = 2;
export const O_A = 3; // purchase: amountCents; redeem/adjust: points; topup/withdraw: amountCents; quote: amountCents
export const O_B = 4; // purchase: discountCents
export const O_C = 5; // purchase: redeemPoints
export const O_D = 6; // purchase: walletCents
// Purchase and quote: the multiplier M of docs/rules.md §13.2 in percent (the birthday month's or a
// campaign's, resolved before the call: engine/rules/campaigns.ts), and the campaigns' bonus and item
// points, added after the multiplication.
export const O_MULTIPLIER_PCT = 7;
export const O_EXTRA_POINTS = 8;
export const O_SLOTS = 9;

export const OP_PURCHASE = 1;
export const OP_REDEEM = 2; // points -> wallet cash at the member's tier
export const OP_ADJUST = 3; // signed points, never below zero
export const OP_TOPUP = 4;
export const OP_WITHDRAW = 5;
export const OP_QUOTE = 6; // reads only; never changes the member slot

/** Result records: result k starts at k * R_SLOTS in the result region. */
export const R_STATUS = 0;
export const R_POINTS_DELTA = 1; // change of the points balance by the main entry (without R_BONUS_POINTS)
export const R_WALLET_DELTA_CENTS = 2;
export const R_GROWTH_DELTA = 3;
export const R_SPEND_DELTA_CENTS = 4; // purchase: netCents
export const R_EARNED_POINTS = 5; // purchase: points earned; quote: pointsToEarn
export const R_VALUE_CENTS = 6; // purchase: redeemValueCents; redeem: wallet credit; topup: bonus; quote: maxRedeemValueCents
export const R_NET_CENTS = 7; // purchase: netCents; quote: discountCents
export const R_NEW_TIER = 8; // purchase: tier index upgraded to, NONE when no upgrade
export const R_BONUS_POINTS = 9; // purchase: upgrade bonus of R_NEW_TIER; quote: maxRedeemPoints
export const R_PENDING_GROWTH = 10; // purchase: the growth that waits with the earned points (P_POINTS_PENDING), else 0
export const R_SLOTS = 11;

/** Result statuses: business rejections are codes per op, never exceptions. */
export const S_OK = 0;
export const S_INSUFFICIENT_POINTS = 1;
export const S_INSUFFICIENT_WALLET = 2;
export const S_WALLET_LIMIT = 3;
export const S_NEGATIVE_NET = 4; // discount + redeemed value exceed the gross amount
export const S_TOPUP_BELOW_MINIMUM = 5;
export const S_BALANCE_LIMIT = 6; // a balance would leave the safe-integer range
export const S_REDEMPTION_TOO_SMALL = 7; // the points are worth less than one cent

/** Capacity of one core call; a shard batch with more ops is split into several calls. */
export const CORE_OPS_MAX = 10_000;
export const CORE_MEMBERS_MAX = 10_000;
