// A member's state in the fixed-size slot the core computes on, and back: the one place that knows
// how MemberState maps onto the record layout of engine/core/layout.ts.
import * as L from './layout.js';
import { tierIndexOf, type MemberState, type ProgramContext } from '../rules/member-state.js';

const nullable = (v: number | null): number => (v === null ? L.NONE : v);
const fromNullable = (v: number): number | null => (v === L.NONE ? null : v);

export function writeSlot(ctx: ProgramContext, m: MemberState, slots: Float64Array, slot: number): void {
  const o = slot * L.M_SLOTS;
  slots[o + L.M_TIER] = tierIndexOf(ctx, m.tierId);
  slots[o + L.M_PERIOD_START_MS] = m.periodStart;
  slots[o + L.M_PERIOD_END_MS] = nullable(m.periodEnd);
  slots[o + L.M_PERIOD_METRIC] = m.periodMetric;
  slots[o + L.M_POINTS] = m.points;
  slots[o + L.M_GROWTH] = m.growth;
  slots[o + L.M_WALLET_CENTS] = m.walletCents;
  slots[o + L.M_LIFETIME_SPEND_CENTS] = m.lifetimeSpendCents;
  slots[o + L.M_PURCHASE_COUNT] = m.purchaseCount;
  slots[o + L.M_FIRST_PURCHASE_AT_MS] = nullable(m.firstPurchaseAt);
  slots[o + L.M_LAST_PURCHASE_AT_MS] = nullable(m.lastPurchaseAt);
  slots[o + L.M_PERIOD_START_TIER] = tierIndexOf(ctx, m.periodStartTierId);
}

export function readSlot(ctx: ProgramContext, slots: Float64Array, slot: number, into: MemberState): void {
  const o = slot * L.M_SLOTS;
  const tiers = ctx.program.tiers;
  into.tierId = tiers[slots[o + L.M_TIER]!]!.id;
  into.periodStart = slots[o + L.M_PERIOD_START_MS]!;
  into.periodEnd = fromNullable(slots[o + L.M_PERIOD_END_MS]!);
  into.periodMetric = slots[o + L.M_PERIOD_METRIC]!;
  into.points = slots[o + L.M_POINTS]!;
  into.growth = slots[o + L.M_GROWTH]!;
  into.walletCents = slots[o + L.M_WALLET_CENTS]!;
  into.lifetimeSpendCents = slots[o + L.M_LIFETIME_SPEND_CENTS]!;
  into.purchaseCount = slots[o + L.M_PURCHASE_COUNT]!;
  into.firstPurchaseAt = fromNullable(slots[o + L.M_FIRST_PURCHASE_AT_MS]!);
  into.lastPurchaseAt = fromNullable(slots[o + L.M_LAST_PURCHASE_AT_MS]!);
  into.periodStartTierId = tiers[slots[o + L.M_PERIOD_START_TIER]!]!.id;
}

/** The public view of a member (docs/rules.md §2, GET /v1/members/{id}). */
