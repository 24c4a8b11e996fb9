// Pure rules of rewards for points and count cards (docs/rules.md §14): the records a shard keeps of
// a redemption and of a card, why a reward cannot be redeemed now, and the dates of a card given or
// renewed. No I/O: the shard's op families (engine/shard/batch-rewards.ts, batch-cards.ts) apply them.
import type { Consumption } from './grants.js';
import type { CardInclude, Reward, RewardKind } from './program-types.js';
import { couponValidity } from './coupons.js';
import { localDay } from './local-day.js';
import { mulDiv } from './returns.js';

export type RedemptionState = 'reserved' | 'fulfilled' | 'cancelled';

/** A redemption as its member's shard keeps it (database `redemptions`, keyed by its id). */
export interface RedemptionRecord {
  redemptionId: string;
  memberId: string;
  rewardId: string;
  kind: RewardKind;
  quantity: number;
  /** Points taken (pointsCost × quantity at the redemption) and cash paid beside them. */
  points: number;
  cashCents: number;
  storeId: string | null;
  staffId: string | null;
  state: RedemptionState;
  redeemedAtMs: number;
  /** The seq of its reward_redeem entry: the cause of the entries that follow it. */
  seq: number;
  /** Every state it has had, with when: reserved first. */
  history: Array<[RedemptionState, number]>;
  /** The grants the points came from, oldest expiry first: a cancellation puts them back there. */
  takenFrom: Consumption;
  /** A coupon reward's coupons, one per unit. */
  couponCodes: string[];
}

/** A member's count card for one service (database `cards`, keyed [memberId, serviceId]). */
export interface CardRecord {
  memberId: string;
  serviceId: string;
  /** `active`, or `expired` once the sweep (or a renewal after its expiry) lapsed its uses. */
  state: 'active' | 'expired';
  usesLeft: number;
  /** The first instant the card is no longer valid; null: it never expires. */
  expiresAtMs: number | null;
  /** When this card's life began (its first purchase, or the first after an expiry) and was last renewed. */
  sinceMs: number;
  renewedAtMs: number;
  /** Uses taken over the card's whole history. */
  usedTotal: number;
}

/** Why a reward cannot be redeemed at `atMs` by a member holding `tierId`, or null when it can. */
export type RewardRefusal = 'inactive' | 'not_started' | 'ended' | 'tier';

export function rewardRefusal(reward: Reward, tierId: string, atMs: number, timeZone: string): RewardRefusal | null {
  if (!reward.active) return 'inactive';
  if (reward.from !== null || reward.to !== null) {
    const day = localDay(atMs, timeZone);
    // Local dates YYYY-MM-DD compare as text; the window is inclusive on both sides.
    if (reward.from !== null && day < reward.from) return 'not_started';
    if (reward.to !== null && day > reward.to) return 'ended';
  }
  if (reward.eligibleTiers !== null && !reward.eligibleTiers.includes(tierId)) return 'tier';
  return null;
}

/**
 * When a card bought at `atMs` stops being valid: the start of the local day after its last valid
 * day, `validDays` local days on (as a coupon's validity: the day of the purchase is day 0), or
 * null when it never expires.
 */
export function cardExpiryMs(include: CardInclude, atMs: number, timeZone: string): number | null {
  if (include.validDays === null) return null;
  return couponValidity({ validDays: include.validDays, validFrom: null, validTo: null }, atMs, timeZone).expiresAtMs;
}

/** The later of two expiries, where null (never) is later than any instant: a renewal's expiry. */
export function laterExpiry(a: number | null, b: number | null): number | null {
  return a === null || b === null ? null : Math.max(a, b);
}

/** Whether a card is past its expiry at `atMs` (expired already, or due to). */
export function cardLapsedAt(card: CardRecord, atMs: number): boolean {
  return card.state === 'expired' || (card.expiresAtMs !== null && card.expiresAtMs <= atMs);
}

/** The commission on `netCents` at `bps` basis points, floored (docs/rules.md §14.4). */
export function commissionCents(netCents: number, bps: number): number {
  return mulDiv(netCents, bps, 10_000);
}
