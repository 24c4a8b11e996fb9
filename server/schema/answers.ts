// What the server answers, as JSON Schema (TypeBox): the OpenAPI document shows these, the example
// test checks every example's answer against them, the integration tests check every answer they
// receive against them (test/helpers/server-process.ts), and the client's calls are typed by them.
// An answer of a fixed shape is closed (`additionalProperties: false`), so that a field the server
// adds or drops without its schema fails those checks; only the program (whose document is
// docs/rules.md's) and the free-form parts (an audit record's details, a verify mismatch) stay open.
import { Type, type TProperties, type TSchema } from '@sinclair/typebox';
import { ERRORS, type ErrorCode } from '../../engine/errors.js';
import type { Program as ProgramDoc } from '../../engine/rules/program-types.js';

/** An object answer of exactly these fields. */
const Closed = <T extends TProperties>(properties: T, description?: string) =>
  Type.Object(properties, { additionalProperties: false, ...(description === undefined ? {} : { description }) });
/** An object answer of these fields and perhaps more. */
const Open = <T extends TProperties>(properties: T, description?: string) =>
  Type.Object(properties, { additionalProperties: true, ...(description === undefined ? {} : { description }) });

const Str = Type.String();
const Int = Type.Integer();
const Bool = Type.Boolean();
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Opt = Type.Optional;
const Instant = Type.String({ description: 'ISO-8601 in UTC' });
const NullStr = Nullable(Str);
const NullInt = Nullable(Int);
const NullInstant = Nullable(Instant);
const Cursor = Type.Union([Type.String(), Type.Null()], { description: 'the cursor of the next page; null on the last' });
/** A total over the books: an integer, or its exact decimal digits once past 2^53 − 1 (docs/rules.md §0). */
const Count = Type.Union([Int, Type.String({ pattern: '^-?[0-9]+$' })], { description: 'an integer; its exact decimal digits (a string) past 2^53 − 1' });
/** Counts by tier id: the program's tiers are the keys. */
const PerTier = Type.Record(Type.String(), Int);

export const ErrorCodeSchema = Type.Unsafe<ErrorCode>({
  type: 'string', enum: Object.keys(ERRORS),
  description: 'The stable code of a refusal or failure; the HTTP status follows from it:\n\n' +
    Object.entries(ERRORS).map(([code, e]) => `- \`${code}\` (${e.status}): ${e.message}`).join('\n'),
});
export const ErrorAnswer = Type.Object({
  error: Type.Object({
    code: ErrorCodeSchema,
    message: Type.String({ description: 'for people; a field\'s problem starts with its path' }),
    field: Type.Optional(Type.String({ description: 'the path of the wrong field (`items[0].qty`), when one is' })),
  }, { additionalProperties: false }),
}, { additionalProperties: false });

export const Health = Closed({ ok: Type.Literal(true) });
export const Whoami = Closed({ keyId: Str, role: Str });
/**
 * The program in force with its version: open here, for its document is docs/program.md's and the
 * program validator's (engine/rules/program.ts), and typed for clients as the engine's Program.
 */
export const Program = Type.Unsafe<ProgramDoc & { version: number }>(Open({ version: Int }, 'the program in force (docs/program.md) with its version'));

/** The balances a write answers with: the member's after it. */
const After = { points: Int, walletBalanceCents: Int, tierId: Str };
const Replayed = { replayed: Bool };
const Dated = Closed({ at: Instant, points: Int });
const IssuedCoupon = Closed({ code: Str, templateId: Str, ruleId: Opt(Str), campaignId: Opt(Str), validFrom: Instant, expiresAt: Instant });
const SkippedCoupon = Closed({ ruleId: Opt(Str), campaignId: Opt(Str), templateId: Str, reason: Str });
const History = Type.Array(Closed({ state: Str, at: Instant }));

/** A member's profile and balances, as every member answer starts. */
const MemberView = {
  memberId: Str, name: NullStr, phone: NullStr, email: NullStr, birthday: NullStr, gender: NullStr, address: NullStr,
  storeId: NullStr, channel: NullStr, staffId: NullStr,
  tierId: Str, periodStart: Instant, periodEnd: NullInstant, periodMetric: Int,
  points: Int, growth: Int, walletCents: Int, lifetimeSpendCents: Int, purchaseCount: Int,
  firstPurchaseAt: NullInstant, lastPurchaseAt: NullInstant, referrerId: NullStr, referralChain: Type.Array(Str),
  createdAt: Instant,
  pointsExpiring: Type.Array(Dated, { description: 'the next five expiries' }),
  pendingPoints: Int,
  pointsActivating: Type.Array(Dated, { description: 'the next five activations of pending points' }),
  erased: Opt(Type.Literal(true, { description: 'only on an erased member' })),
  erasedAt: Opt(Instant),
};
export const Member = Closed({
  ...MemberView,
  coupons: Type.Array(Closed({ code: Str, templateId: Str, expiresAt: Instant }), { description: 'the active coupons' }),
}, 'a member\'s profile and balances');
export const Registered = Closed({
  ...MemberView, walletBalanceCents: Int, couponsIssued: Opt(Type.Array(IssuedCoupon)), couponsSkipped: Opt(Type.Array(SkippedCoupon)), ...Replayed,
});
export const Patched = Closed({ ...MemberView, walletBalanceCents: Int });
export const Erased = Closed({ memberId: Str, erased: Type.Literal(true), erasedAt: Instant, ...Replayed });
export const MemberPage = Closed({ members: Type.Array(Closed(MemberView)), nextCursor: Cursor });
export const LedgerPage = Closed({
  entries: Type.Array(Closed({
    seq: Int, kind: Str, at: Instant, cause: NullInt, pointsDelta: Int, growthDelta: Int, walletDeltaCents: Int, spendDeltaCents: Int,
    memberId: Str, ref: Str, tierId: NullStr, pendingDelta: Int, keyId: NullStr,
    usesDelta: Opt(Int), stockDelta: Opt(Int), reason: Opt(Str), expiringPoints: Opt(Int), expiresAtMs: Opt(Int),
  })),
  nextCursor: Cursor,
});
export const Balance = Closed({ at: Instant, points: Int, growth: Int, walletCents: Int, pendingPoints: Int });

const CampaignPoints = Type.Array(Closed({ id: Str, points: Int }));
export const Purchased = Closed({
  orderId: Str, memberId: Str, netCents: Int, earnedPoints: Int, redeemedPoints: Int, redeemValueCents: Int, walletCents: Int,
  points: Int, walletBalanceCents: Int, growth: Int, tierId: Str, upgradedTo: NullStr,
  referralRewards: Type.Array(Closed({ memberId: Str, points: Int })),
  ...Replayed,
  couponDiscountCents: Opt(Int),
  couponsUsed: Opt(Type.Array(Closed({ code: Str, templateId: Str, discountCents: Int }))),
  couponsIssued: Opt(Type.Array(IssuedCoupon)),
  couponsSkipped: Opt(Type.Array(SkippedCoupon)),
  campaigns: Opt(CampaignPoints),
  pointsPendingUntil: Opt(Instant),
});
export const Quote = Closed({
  memberId: Str, tierId: Str, discountBps: Int, discountCents: Int, points: Int, maxRedeemPoints: Int, maxRedeemValueCents: Int,
  walletBalanceCents: Int, pointsToEarn: Int,
  coupons: Opt(Type.Array(Closed({ code: Str, templateId: Str, discountCents: Int, usable: Bool, expiresAt: Instant, reason: Opt(Str) }))),
  couponDiscountCents: Opt(Int),
  campaigns: Opt(CampaignPoints),
});
export const Returned = Closed({
  returnId: Str, orderId: Str, memberId: Str, clawedBackPoints: Int, restoredPoints: Int, walletRefundCents: Int,
  ...After, downgradedTo: NullStr, referralReversals: Type.Array(Closed({ memberId: Str, points: Int })), ...Replayed,
  cancelledPendingPoints: Opt(Int), couponsRestored: Opt(Type.Array(Str)), couponsRevoked: Opt(Type.Array(Str)),
});
/** What the redeemed points came from: [grant id, its expiry in ms, points]. */
const Consumption = Type.Array(Type.Array(Int, { minItems: 3, maxItems: 3 }), { description: '[grant id, expiry (ms), points] each' });
export const Order = Closed({
  orderId: Str, memberId: Str, at: Instant, seq: Int,
  amountCents: Int, discountCents: Int, redeemPoints: Int, redeemValueCents: Int, walletCents: Int, netCents: Int,
  earnedPoints: Int, growth: Int, tierIdBefore: Str, upgradedTo: NullStr, birthday: Bool,
  storeId: Opt(Str), channel: Opt(Str), staffId: Opt(Str),
  items: Opt(Type.Array(Closed({ sku: Str, qty: Int, amountCents: Int }))),
  returns: Type.Array(Closed({ returnId: Str, amountCents: Int, at: Instant })),
  rate: Closed({ earnCents: Int, earnPoints: Int, orderPoints: Int, multiplierPct: Int, growthPoints: Int, growthGrowth: Int }),
  express: Bool,
  before: Closed({ periodStart: Int, periodEnd: NullInt, periodStartTierId: Str, periodMetric: Int }),
  rewards: Type.Array(Closed({ memberId: Str, fixedPoints: Int, sharePct: Int, sharePoints: Int })),
  now: Closed({ earnedPoints: Int, growth: Int, restoredPoints: Int, walletRefundedCents: Int, fixedReversed: Bool }),
  redeemedFrom: Consumption,
  restoredTo: Opt(Consumption),
  pendingUntil: Opt(Instant),
  coupons: Opt(Closed({
    discountCents: Int, used: Type.Array(Closed({ code: Str, templateId: Str, discountCents: Int })),
    issued: Type.Array(IssuedCoupon), skipped: Type.Array(SkippedCoupon),
  })),
  campaigns: Opt(Closed({
    baseMultiplierPct: Int,
    applied: Type.Array(Closed({ campaignId: Str, multiplierPct: Int, bonusPoints: Int, itemPoints: Int, multiplierPoints: Int })),
  })),
  remainingCents: Int,
}, 'an order with its returns');
const CardView = { serviceId: Str, state: Str, usesLeft: Int, expiresAt: Instant, since: Instant, renewedAt: Instant, usedTotal: Int };
export const ProductPurchased = Closed({
  orderId: Str, memberId: Str, productId: Str, priceCents: Int, walletCreditCents: Int, pointsAdded: Int,
  tierChangedTo: NullStr, periodEnd: NullInstant, ...After, card: Opt(Closed(CardView)), ...Replayed,
});
export const Transferred = Closed({ fromMemberId: Str, toMemberId: Str, amountCents: Int, ...After, ...Replayed });
export const PointsRedeemed = Closed({ memberId: Str, redeemedPoints: Int, walletCreditCents: Int, ...After, ...Replayed });
export const PointsAdjusted = Closed({ memberId: Str, pointsDelta: Int, reason: Str, ...After, ...Replayed });
export const ToppedUp = Closed({ memberId: Str, amountCents: Int, bonusCents: Int, ...After, ...Replayed });
export const Withdrawn = Closed({ memberId: Str, amountCents: Int, ...After, ...Replayed });

const CouponDates = { code: Str, templateId: Str, memberId: Str, state: Str, issuedAt: Instant, validFrom: Instant, expiresAt: Instant };
const CouponView = {
  ...CouponDates, source: Str, orderId: NullStr, usedOrderId: NullStr, discountCents: Int, history: History,
};
export const Coupon = Closed({
  ...CouponView,
  at: Opt(Type.String({ description: 'the instant asked about (`?at=`)' })),
  stateAt: Opt(Type.Union([Str, Type.Null()], { description: 'the state at that instant; null before the coupon existed' })),
});
export const CouponIssued = Closed({ ...CouponDates, couponsIssued: Type.Array(IssuedCoupon), ...Replayed });
export const CouponRevoked = Closed({ ...CouponDates, ...Replayed });
export const BulkIssued = Closed({
  issued: Int, skipped: Int, failed: Int, members: Int, failures: Type.Array(Closed({ memberId: Str, code: Str })),
});
export const MemberCoupons = Closed({ memberId: Str, coupons: Type.Array(Closed(CouponView)) });

const RewardDef = {
  id: Str, name: Str, active: Bool, pointsCost: Int, cashCents: Int, kind: Str, couponTemplateId: NullStr,
  eligibleTiers: Nullable(Type.Array(Str)), stock: NullInt, perMemberMax: NullInt, from: NullStr, to: NullStr,
};
export const Rewards = Closed({ rewards: Type.Array(Closed({ ...RewardDef, stockLeft: NullInt, redeemedUnits: Int, restockedUnits: Int })) });
const RedemptionView = {
  redemptionId: Str, memberId: Str, rewardId: Str, kind: Str, quantity: Int, redeemedPoints: Int, cashCents: Int,
  storeId: NullStr, staffId: NullStr, state: Str, redeemedAt: Instant, history: History, couponCodes: Type.Array(Str),
};
export const Redemption = Closed(RedemptionView);
export const Redeemed = Closed({ ...RedemptionView, ...After, couponsIssued: Opt(Type.Array(IssuedCoupon)), ...Replayed });
export const RedemptionStep = Closed({ ...RedemptionView, restoredPoints: Opt(Int), ...After, ...Replayed });
export const Restocked = Closed({ rewardId: Str, delta: Int, stockLeft: NullInt, ...Replayed });
export const CardUsed = Closed({ memberId: Str, ...CardView, usesTaken: Int, ...After, ...Replayed });
export const CardAdjusted = Closed({ memberId: Str, ...CardView, usesDelta: Int, reason: Str, ...After, ...Replayed });
export const MemberCards = Closed({ memberId: Str, cards: Type.Array(Closed(CardView)) });
export const MemberRedemptions = Closed({ memberId: Str, redemptions: Type.Array(Redemption) });

const Days = { from: Str, to: Str, timeZone: Str };
export const SummaryReport = Closed({
  members: Int, membersPerTier: PerTier, pointsOutstanding: Count, walletOutstandingCents: Count, purchases: Int, returns: Int,
  netSalesCents: Count, pointsIssued: Count, pointsRedeemed: Count, pointsExpired: Count, pointsClawedBack: Count, topupsCents: Count,
  couponsIssued: Int, couponsUsed: Int, couponsRestored: Int, couponsExpired: Int, couponsRevoked: Int, couponDiscountCents: Count,
  pointsPending: Count, pointsPendingCancelled: Count, couponsActive: Int,
  tiers: Type.Array(Closed({ tierId: Str, members: Int })),
}, 'totals over every member and the whole ledger');
export const ReferralsReport = Closed({
  memberId: Str, levels: Type.Array(Closed({ level: Int, members: Type.Array(Str), points: Int })),
});
const DailyRow = {
  newMembers: Int, purchases: Int, returns: Int, netSalesCents: Int, pointsIssued: Int, pointsRedeemed: Int,
  topups: Int, topupsCents: Int, pointsPending: Int, pointsPendingCancelled: Int,
};
export const DailyReport = Closed({ ...Days, days: Type.Array(Closed({ date: Str, ...DailyRow })), totals: Closed(DailyRow) });
const RfmSegment = Closed({
  count: Int,
  members: Opt(Type.Array(Closed({ memberId: Str, recencyDays: NullInt, frequency: Int, monetaryCents: Int, r: Int, f: Int, m: Int }), { description: 'only for the segment asked for (`?segment=`)' })),
});
export const RfmReport = Closed({
  asOf: Instant, members: Int,
  segments: Closed({ champions: RfmSegment, loyal: RfmSegment, at_risk: RfmSegment, hibernating: RfmSegment, new: RfmSegment, others: RfmSegment }),
});
const CouponRow = {
  issued: Int, used: Int, restored: Int, expired: Int, revoked: Int, activeNow: Int, discountCents: Count, issuedUsed: Int,
  useRate: Nullable(Type.Number()),
};
export const CouponsReport = Closed({ ...Days, templates: Type.Array(Closed({ templateId: Str, name: Str, ...CouponRow })), totals: Closed(CouponRow) });
const CampaignRow = { orders: Int, netSalesCents: Count, returnedCents: Count, extraPoints: Count, extraPointsReturned: Count, couponsIssued: Int };
export const CampaignsReport = Closed({ ...Days, campaigns: Type.Array(Closed({ campaignId: Str, name: Str, ...CampaignRow })), totals: Closed(CampaignRow) });
const RewardRow = { redemptions: Int, units: Int, points: Int, cashCents: Int, reservedUnits: Int, fulfilledUnits: Int, cancelledUnits: Int };
export const RewardsReport = Closed({
  ...Days, rewards: Type.Array(Closed({ rewardId: Str, name: Str, stockLeft: NullInt, ...RewardRow })), totals: Closed(RewardRow),
});
const StaffRow = { staffId: Str, registrations: Int, purchases: Int, netSalesCents: Int, cardUses: Int, commissionCents: Int };
export const StaffReport = Closed({ ...Days, commissionBps: Int, staff: Type.Array(Closed(StaffRow)), totals: Closed(StaffRow) });

export const Swept = Closed({ asOf: Instant, members: Int });
const Totals = Closed({
  pointsIssued: Int, pointsRedeemed: Int, pointsExpired: Int, liabilityCents: Int, membersPerTier: PerTier, referralPoints: Int,
});
export const WhatIfJob = Closed({
  id: Str, state: Str, startedAt: Instant, finishedAt: NullInstant,
  progress: Closed({ batches: Int, totalBatches: Int }),
  request: Closed({ from: NullStr, to: NullStr }),
  result: Nullable(Closed({
    actual: Totals, whatIf: Totals, membersTierDiffers: Int,
    topChanged: Type.Array(Closed({ memberId: Str, actualPoints: Int, whatIfPoints: Int, actualTierId: Str, whatIfTierId: Str })),
    divergences: Closed({
      acceptedThenRefused: Int, refusedThenAccepted: Int,
      listed: Type.Array(Closed({ shard: Int, seq: Int, index: Int, op: Str, memberId: Str, actual: Str, whatIf: Str })),
    }),
    credits: Closed({ substituted: Int, added: Int, dropped: Int }),
    replay: Closed({ from: NullStr, to: NullStr, sweptAsOf: Instant, shards: Int, batches: Int, ops: Int, ms: Int, batchesPerS: Int }),
  }, 'the report, once done')),
  error: NullStr,
});
export const Backup = Closed({
  format: Int, createdAt: Instant, pointAt: Instant, programVersion: Int,
  shards: Type.Array(Closed({
    shard: Int, batch: Int, members: Int, checksum: Opt(Str),
    committedAtMs: Opt(Type.Number({ description: 'the shard\'s clock at that entry\'s commit: ms, strictly increasing, so it may carry a fraction' })),
  })),
  files: Type.Array(Closed({ path: Str, bytes: Int, sha256: Str })),
  dir: Str, ms: Int, bytes: Int, members: Int,
  perShard: Type.Array(Closed({ shard: Int, copyMs: Type.Number(), lockMs: Nullable(Type.Number()), bytes: Int, replayed: Int })),
}, 'where the backup was written and what it holds');
export const Verify = Closed({
  ok: Bool, members: Int, entries: Int,
  mismatches: Type.Array(Open({ memberId: Str, field: Str }), { description: 'each stored value that differs from its ledger\'s fold' }),
}, 'what the check found');
export const Compacted = Closed({
  shards: Type.Array(Closed({ shard: Int, bytesBefore: Int, bytesAfter: Int, copyMs: Type.Number(), swapMs: Type.Number() })),
}, 'each shard\'s data file before and after, and how long its writes waited');
const NodeRole = Type.Union([Type.Literal('owner'), Type.Literal('standby'), Type.Literal('drained')], { description: 'owner: this node writes the deployment; standby: it forwards and takes over when the owner stops; drained: it forwards and takes nothing over until undrained' });
export const ClusterStatus = Closed({
  nodeId: Str,
  role: NodeRole,
  owner: Nullable(Closed({ nodeId: Type.String({ description: 'the owner\'s node id, empty while nobody owns (a hand-over under way)' }), term: Int, httpAddress: Str }, 'the owner record as this node read it last')),
  nodes: Type.Array(Closed({ nodeId: Str, role: NodeRole, httpAddress: Str }), { description: 'the nodes that answered a roll call within 300 ms, this one included, by node id' }),
}, 'this node\'s part in the cluster');
export const ApiKey = Closed({ id: Str, role: Str, createdAt: Instant, revoked: Bool });
export const CreatedKey = Closed({ id: Str, key: Type.String({ description: 'the secret, answered once' }), role: Str });
export const Keys = Closed({ keys: Type.Array(ApiKey) });
export const AuditPage = Closed({
  records: Type.Array(Closed({ at: Instant, keyId: Str, action: Str, target: NullStr, details: Open({}, 'what the action changed, by action') })),
  nextCursor: Cursor,
});
export const ImportResult = Closed({
  imported: Int, skipped: Int, failed: Int,
  errors: Type.Array(Closed({ row: Int, code: Str, message: Str, field: Opt(Str) })),
});
const WebhookView = { id: Str, url: Str, events: Type.Array(Str), createdAt: Instant };
const Webhook = Closed(WebhookView);
export const WebhookWithFailures = Closed({
  ...WebhookView,
  failed: Type.Array(Closed({ eventId: Str, type: Str, memberId: Str, failedAt: Instant, lastError: Str })),
});
export const WebhookCreated = Closed({ ...WebhookView, secret: Type.String({ description: 'the signing secret, answered once' }) });
export const Webhooks = Closed({ webhooks: Type.Array(Webhook) });
export const WebhookDeleted = Closed({ ...WebhookView, deleted: Type.Literal(true) });
export const Deliveries = Closed({
  attempts: Type.Array(Closed({
    eventId: Str, type: Str, memberId: Str, statusCode: NullInt, error: NullStr, latencyMs: Int, at: Instant,
    outcome: Type.Union([Type.Literal('delivered'), Type.Literal('retrying'), Type.Literal('failed')]),
  })),
  nextCursor: Cursor,
});
export const Redelivery = Closed({ id: Str, fromEventId: Str });
export const OpenApi = Open({ openapi: Str }, 'this document');

export { Nullable };
