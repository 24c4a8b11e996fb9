// What the server answers, as JSON Schema (TypeBox): the OpenAPI document shows these, the example
// test checks every example's answer against them, and the client's calls are typed by them. Each
// names the fields a client can rely on and leaves the object open: an answer grows fields as the
// program does (campaigns, coupons, pending points), and a client must ignore what it does not know.
import { Type, type TProperties } from '@sinclair/typebox';
import { ERRORS, type ErrorCode } from '../../engine/errors.js';

/** An object answer: these fields, and perhaps more. */
const Open = <T extends TProperties>(properties: T, description?: string) =>
  Type.Object(properties, { additionalProperties: true, ...(description === undefined ? {} : { description }) });

const Str = Type.String();
const Int = Type.Integer();
const Bool = Type.Boolean();
const Nullable = <T extends ReturnType<typeof Type.String> | ReturnType<typeof Type.Integer>>(t: T) => Type.Union([t, Type.Null()]);
const Instant = Type.String({ description: 'ISO-8601 in UTC' });
const Cursor = Type.Union([Type.String(), Type.Null()], { description: 'the cursor of the next page; null on the last' });

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

export const Health = Type.Object({ ok: Type.Literal(true) }, { additionalProperties: false });
export const Whoami = Type.Object({ keyId: Str, role: Str }, { additionalProperties: false });
export const Program = Open({ version: Int }, 'the program in force (docs/rules.md) with its version');

export const Member = Open({ memberId: Str, tierId: Str, points: Int, growth: Int, walletCents: Int, createdAt: Instant }, 'a member\'s profile and balances');
export const Registered = Open({ memberId: Str, tierId: Str, points: Int, walletBalanceCents: Int, replayed: Bool });
export const Patched = Open({ memberId: Str, tierId: Str, walletBalanceCents: Int });
export const Erased = Open({ memberId: Str, erased: Type.Literal(true), erasedAt: Instant, replayed: Bool });
export const MemberPage = Type.Object({ members: Type.Array(Member), nextCursor: Cursor }, { additionalProperties: false });
export const LedgerPage = Type.Object({
  entries: Type.Array(Open({ seq: Int, kind: Str, at: Instant, pointsDelta: Int, walletDeltaCents: Int })), nextCursor: Cursor,
}, { additionalProperties: false });
export const Balance = Open({ at: Instant, points: Int, growth: Int, walletCents: Int, pendingPoints: Int });

const Replayed = { replayed: Bool };
export const Purchased = Open({ orderId: Str, memberId: Str, netCents: Int, earnedPoints: Int, points: Int, walletBalanceCents: Int, tierId: Str, ...Replayed });
export const Quote = Open({ memberId: Str, tierId: Str, points: Int, maxRedeemPoints: Int, walletBalanceCents: Int, pointsToEarn: Int });
export const Returned = Open({ returnId: Str, orderId: Str, memberId: Str, clawedBackPoints: Int, points: Int, walletBalanceCents: Int, tierId: Str, ...Replayed });
export const Order = Open({ orderId: Str, memberId: Str }, 'an order with its returns');
export const ProductPurchased = Open({ orderId: Str, memberId: Str, productId: Str, points: Int, walletBalanceCents: Int, tierId: Str, ...Replayed });
export const Transferred = Open({ fromMemberId: Str, toMemberId: Str, amountCents: Int, walletBalanceCents: Int, ...Replayed });
export const PointsMoved = Open({ memberId: Str, points: Int, ...Replayed });
export const WalletMoved = Open({ memberId: Str, walletBalanceCents: Int, ...Replayed });

export const Coupon = Open({ code: Str, memberId: Str, templateId: Str, state: Str });
export const CouponIssued = Open({ code: Str, memberId: Str, templateId: Str, ...Replayed });
export const CouponRevoked = Open({ code: Str, memberId: Str, ...Replayed });
export const BulkIssued = Type.Object({
  issued: Int, skipped: Int, failed: Int, members: Int, failures: Type.Array(Type.Object({ memberId: Str, code: Str })),
}, { additionalProperties: false });
export const MemberCoupons = Type.Object({ memberId: Str, coupons: Type.Array(Coupon) }, { additionalProperties: false });

export const Rewards = Type.Object({ rewards: Type.Array(Open({ id: Str })) }, { additionalProperties: false });
export const Redemption = Open({ redemptionId: Str, memberId: Str, rewardId: Str, state: Str });
export const RedemptionStep = Open({ redemptionId: Str, memberId: Str, state: Str, ...Replayed });
export const Restocked = Open({ rewardId: Str, delta: Int, stockLeft: Type.Union([Int, Type.Null()]), ...Replayed });
export const CardMoved = Open({ memberId: Str, serviceId: Str, ...Replayed });
export const MemberCards = Type.Object({ memberId: Str, cards: Type.Array(Open({})) }, { additionalProperties: false });
export const MemberRedemptions = Type.Object({ memberId: Str, redemptions: Type.Array(Redemption) }, { additionalProperties: false });

export const Report = Open({}, 'a report (docs/api.md, Reports)');
export const Swept = Open({ asOf: Instant, members: Int });
export const WhatIfJob = Open({ id: Str, state: Str });
export const Backup = Open({}, 'where the backup was written and what it holds');
export const Verify = Open({}, 'what the check found');
export const Compacted = Type.Object({
  shards: Type.Array(Open({ shard: Int, bytesBefore: Int, bytesAfter: Int, copyMs: Type.Number(), swapMs: Type.Number() })),
}, { additionalProperties: false, description: 'each shard\'s data file before and after, and how long its writes waited' });
export const ApiKey = Open({ id: Str, role: Str });
export const CreatedKey = Open({ id: Str, role: Str, key: Type.String({ description: 'the secret, answered once' }) });
export const Keys = Type.Object({ keys: Type.Array(ApiKey) }, { additionalProperties: false });
export const AuditPage = Type.Object({ records: Type.Array(Open({ at: Instant, keyId: Str, action: Str })), nextCursor: Cursor }, { additionalProperties: false });
export const ImportResult = Open({ imported: Int, skipped: Int, failed: Int });
export const Webhook = Open({ id: Str, url: Str, events: Type.Array(Str) });
export const WebhookCreated = Open({ id: Str, url: Str, events: Type.Array(Str), secret: Type.String({ description: 'the signing secret, answered once' }) });
export const Webhooks = Type.Object({ webhooks: Type.Array(Webhook) }, { additionalProperties: false });
export const WebhookDeleted = Open({ id: Str, deleted: Type.Literal(true) });
export const Deliveries = Open({});
export const Redelivery = Type.Object({ id: Str, fromEventId: Str }, { additionalProperties: false });
export const OpenApi = Open({ openapi: Str }, 'this document');

export { Nullable };
