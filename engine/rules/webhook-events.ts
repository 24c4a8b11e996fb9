// The webhook events a ledger entry stands for (docs/api.md, "Webhooks"): a pure map from an entry,
// as the ledger holds it, to zero or more events with ids that stay the same however often and by
// whichever subscription the entry is read, so that a receiver can drop a repeated delivery by id.
import type { LedgerKind } from '../ops.js';
import type { ExportedEntry } from './reports.js';

export const WEBHOOK_EVENT_TYPES = [
  'member.registered', 'member.updated', 'member.tier_changed', 'member.erased',
  'purchase.recorded', 'return.recorded', 'points.expiring', 'points.expired', 'points.activated',
  'coupon.issued', 'coupon.expiring', 'reward.redeemed', 'card.used', 'wallet.changed', 'referral.rewarded',
] as const;
export type WebhookEventType = typeof WEBHOOK_EVENT_TYPES[number];

/**
 * The event each ledger kind is sent as; a kind absent here sends nothing of its own (docs/api.md
 * lists why for each). Written as a record of strings rather than of LedgerKind so that a kind that
 * another part of the engine adds later (`member_erase`, `member_update`) maps by name once it exists.
 */
const EVENT_OF_KIND: Readonly<Record<string, WebhookEventType>> = {
  register: 'member.registered',
  member_update: 'member.updated',
  member_erase: 'member.erased',
  upgrade: 'member.tier_changed',
  renew: 'member.tier_changed',
  downgrade: 'member.tier_changed',
  purchase: 'purchase.recorded',
  product: 'purchase.recorded',
  return: 'return.recorded',
  points_expiring: 'points.expiring',
  expire: 'points.expired',
  points_activate: 'points.activated',
  coupon_issue: 'coupon.issued',
  coupon_expiring: 'coupon.expiring',
  reward_redeem: 'reward.redeemed',
  card_use: 'card.used',
  topup: 'wallet.changed',
  withdraw: 'wallet.changed',
  transfer_out: 'wallet.changed',
  transfer_in: 'wallet.changed',
  transfer_return: 'wallet.changed',
  referral_reward: 'referral.rewarded',
};

/** The event a kind is sent as, or null; exported for the documentation's table test. */
export function eventTypeOfKind(kind: LedgerKind | string): WebhookEventType | null {
  return EVENT_OF_KIND[kind] ?? null;
}

/** One event as a receiver gets it (the body of a delivery). */
export interface WebhookEvent {
  /** `<shard>:<seq>`, or `<shard>:<seq>:<n>` for the n-th further event of the same entry. */
  id: string;
  type: WebhookEventType;
  /** The entry's time, ISO 8601 in UTC. */
  at: string;
  memberId: string;
  data: Record<string, unknown>;
}

/** The id of the `part`-th event (0 first) of the entry at `seq` on shard `shardId`. */
export function webhookEventId(shardId: number, seq: number, part: number): string {
  return part === 0 ? `${shardId}:${seq}` : `${shardId}:${seq}:${part}`;
}

/** An event id taken apart, or null when it is not one this engine makes. */
export function parseWebhookEventId(id: string): { shardId: number; seq: number; part: number } | null {
  const m = /^(\d{1,3}):(\d{1,16})(?::(\d))?$/.exec(id);
  if (m === null) return null;
  return { shardId: Number(m[1]), seq: Number(m[2]), part: m[3] === undefined ? 0 : Number(m[3]) };
}

/**
 * The events of one entry, in order. The first is the kind's own event; an entry of another kind
 * that moves the wallet (a purchase paid from it, a return refunded to it) is followed by a
 * `wallet.changed`. An entry without a member (a restock, a program change) makes none.
 */
export function eventsOfEntry(shardId: number, e: ExportedEntry): WebhookEvent[] {
  if (e.memberId === '') return [];
  const types: WebhookEventType[] = [];
  const own = eventTypeOfKind(e.kind);
  if (own !== null) types.push(own);
  if (e.walletDeltaCents !== 0 && own !== 'wallet.changed') types.push('wallet.changed');
  if (types.length === 0) return [];
  const data = entryData(e);
  const at = new Date(e.at).toISOString();
  return types.map((type, part) => ({ id: webhookEventId(shardId, e.seq, part), type, at, memberId: e.memberId, data }));
}

/** The entry's figures as an event's data: the ledger's own field names, so an event and an export read alike. */
function entryData(e: ExportedEntry): Record<string, unknown> {
  const data: Record<string, unknown> = {
    seq: e.seq, kind: e.kind, ref: e.ref, pointsDelta: e.pointsDelta, growthDelta: e.growthDelta,
    walletDeltaCents: e.walletDeltaCents, spendDeltaCents: e.spendDeltaCents, pendingDelta: e.pendingDelta,
    tierId: e.tierId, cause: e.cause,
  };
  if (e.usesDelta !== undefined) data['usesDelta'] = e.usesDelta;
  if (e.expiringPoints !== undefined) data['expiringPoints'] = e.expiringPoints;
  if (e.expiresAtMs !== undefined) data['expiresAt'] = new Date(e.expiresAtMs).toISOString();
  return data;
}
