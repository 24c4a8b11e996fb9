// Every JSON request body the server takes, described once as JSON Schema (TypeBox): the OpenAPI
// document shows them (server/schema/openapi.ts), the server checks each body's shape against them
// before anything else (server/schema/body-check.ts), and the client's calls are typed by them.
// Properties are listed in the order the server checks them, so the first problem named is the same.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import {
  BACKUP_DIR_LENGTH_MAX, CARD_USES_OP_MAX, COUPON_BULK_MEMBERS_MAX, COUPON_CODE_TEXT_LENGTH_MAX, COUPONS_PER_ORDER_MAX, ITEMS_MAX,
  PHONE_TEXT_LENGTH_MAX, POINTS_OP_MAX, REWARD_QUANTITY_MAX, REWARD_STOCK_MAX, WEBHOOK_URL_LENGTH_MAX,
} from '../../engine/limits.js';
import { RFM_SEGMENTS } from '../../engine/rules/rfm.js';
import { WEBHOOK_EVENT_TYPES } from '../../engine/rules/webhook-events.js';
import { ROLES } from '../auth.js';
import { CLOSED, Cents, Day, Enum, Id, Instant, Int, Text, missingSaysError } from './fields.js';

const ISO_MESSAGE = 'must be an ISO-8601 time with an offset, e.g. 2026-11-22T10:00:00Z';
const CHANNEL = Enum(['online', 'offline'] as const, 'where the order was placed');
const at = Instant();

/** The profile fields a registration and a patch share (engine/ops.ts PROFILE_FIELDS). */
const profile = {
  name: Type.Optional(Text('the member\'s name')),
  phone: Type.Optional(Type.String({ minLength: 1, maxLength: PHONE_TEXT_LENGTH_MAX, description: 'any common writing; stored in E.164, completed with the program\'s defaultCountry' })),
  email: Type.Optional(Type.String({ minLength: 1, maxLength: 254, pattern: '^[^\\s@]{1,64}@[^\\s@]{1,190}$', 'x-pattern-error': 'must be an email address', description: 'stored in lower case' })),
  birthday: Type.Optional(Day('YYYY-MM-DD')),
  gender: Type.Optional(Text()),
  address: Type.Optional(Text()),
  storeId: Type.Optional(Id('the store that signed the member up')),
  channel: Type.Optional(CHANNEL),
  staffId: Type.Optional(Id('the staff member who signed the member up')),
};

export const RegisterBody = Type.Object({
  requestId: Type.Optional(Id('the key of a registration without a memberId (the server then makes the id)')),
  memberId: Type.Optional(Id('the member\'s id; required unless requestId is given')),
  at: Type.Optional(at),
  ...profile,
  referrerId: Type.Optional(Id('the member who referred this one')),
  tierId: Type.Optional(Id('opening tier (admin only)')),
  points: Type.Optional(Int(0, POINTS_OP_MAX, 'opening points (admin only)')),
  walletCents: Type.Optional(Cents(0, 'opening wallet (admin only)')),
}, CLOSED);

export const PatchBody = Type.Object(profile, { ...CLOSED, description: 'the profile fields to change; at least one' });

const CouponCodes = Type.Array(Type.String({ maxLength: COUPON_CODE_TEXT_LENGTH_MAX, 'x-error': 'must be a coupon code: 12 letters and digits (hyphens and spaces allowed)' }), {
  minItems: 0, maxItems: COUPONS_PER_ORDER_MAX, description: 'codes as typed (any case, hyphens and spaces), none twice',
});
const Items = Type.Array(Type.Object({ sku: Id(), qty: Int(1, 1_000_000), amountCents: Cents(0) }, CLOSED), { minItems: 0, maxItems: ITEMS_MAX });

export const PurchaseBody = Type.Object({
  orderId: Id('the order\'s id: its key'),
  memberId: Id(),
  at: Type.Optional(at),
  amountCents: Cents(1, 'the order amount before discounts'),
  discountCents: Type.Optional(Cents(0)),
  redeemPoints: Type.Optional(Int(0, POINTS_OP_MAX)),
  walletCents: Type.Optional(Cents(0, 'paid from the wallet')),
  storeId: Type.Optional(Id()),
  channel: Type.Optional(CHANNEL),
  items: Type.Optional(Items),
  couponCodes: Type.Optional(CouponCodes),
  staffId: Type.Optional(Id()),
}, CLOSED);

export const QuoteBody = Type.Object({
  memberId: Id(),
  amountCents: Cents(1),
  at: Type.Optional(at),
  couponCodes: Type.Optional(CouponCodes),
  storeId: Type.Optional(Id()),
  channel: Type.Optional(CHANNEL),
  items: Type.Optional(Items),
}, CLOSED);

export const ReturnBody = Type.Object({
  returnId: Id('the return\'s id: its key'),
  orderId: Id(),
  amountCents: Cents(0, 'the amount returned; 0 returns an order paid wholly with points'),
  at: Type.Optional(at),
}, CLOSED);

export const ProductPurchaseBody = Type.Object({
  orderId: Id(),
  memberId: Id(),
  productId: Id(),
  at: Type.Optional(at),
  channel: Type.Optional(CHANNEL),
}, CLOSED);

export const TransferBody = Type.Object({
  requestId: Id(),
  fromMemberId: Id(),
  toMemberId: Id('must differ from fromMemberId'),
  amountCents: Cents(1),
  at: Type.Optional(at),
}, CLOSED);

export const RedeemBody = Type.Object({ requestId: Id(), at: Type.Optional(at), memberId: Id(), points: Int(1, POINTS_OP_MAX) }, CLOSED);
export const AdjustBody = Type.Object({
  requestId: Id(), at: Type.Optional(at), memberId: Id(), points: Int(-POINTS_OP_MAX, POINTS_OP_MAX, 'not 0'), reason: Text(),
}, CLOSED);
export const TopupBody = Type.Object({ requestId: Id(), at: Type.Optional(at), memberId: Id(), amountCents: Cents(1) }, CLOSED);
export const WithdrawBody = TopupBody;
export const EraseBody = Type.Object({ requestId: Id() }, CLOSED);

export const CouponIssueBody = Type.Object({ requestId: Id(), at: Type.Optional(at), memberId: Id(), templateId: Id() }, CLOSED);
export const BulkIssueBody = Type.Object({
  requestId: Id(),
  templateId: Id(),
  memberIds: Type.Optional(Type.Array(Id(), { minItems: 1, maxItems: COUPON_BULK_MEMBERS_MAX })),
  tierId: Type.Optional(Id()),
  rfmSegment: Type.Optional(Enum(RFM_SEGMENTS)),
}, { ...CLOSED, description: 'exactly one of memberIds, tierId and rfmSegment' });
export const CouponRevokeBody = Type.Object({ requestId: Id(), at: Type.Optional(at) }, CLOSED);

export const RewardRedeemBody = Type.Object({
  requestId: Id('the redemption\'s id and key'),
  memberId: Id(),
  rewardId: Id(),
  quantity: Type.Optional(Int(1, REWARD_QUANTITY_MAX, '1 unless told')),
  at: Type.Optional(at),
  storeId: Type.Optional(Id()),
  staffId: Type.Optional(Id()),
}, CLOSED);
export const FulfilBody = Type.Object({ at: Type.Optional(at), storeId: Type.Optional(Id()), staffId: Type.Optional(Id()) }, CLOSED);
export const CancelBody = Type.Object({ at: Type.Optional(at) }, CLOSED);
export const RestockBody = Type.Object({ requestId: Id(), delta: Int(-REWARD_STOCK_MAX, REWARD_STOCK_MAX, 'not 0'), at: Type.Optional(at) }, CLOSED);
export const CardUseBody = Type.Object({
  requestId: Id(), memberId: Id(), serviceId: Id(), uses: Type.Optional(Int(1, CARD_USES_OP_MAX, '1 unless told')),
  at: Type.Optional(at), storeId: Type.Optional(Id()), staffId: Type.Optional(Id()),
}, CLOSED);
export const CardAdjustBody = Type.Object({
  requestId: Id(), uses: Int(-CARD_USES_OP_MAX, CARD_USES_OP_MAX, 'not 0'), memberId: Id(), serviceId: Id(), reason: Text(), at: Type.Optional(at),
}, CLOSED);

export const SweepBody = Type.Object({ asOf: Type.Optional(Instant('the instant to sweep as of; now unless told, never in the future')) }, CLOSED);
export const BackupBody = Type.Object({
  dir: Type.Optional(Type.String({ minLength: 1, maxLength: BACKUP_DIR_LENGTH_MAX, 'x-error': `must be a folder path of 1..${BACKUP_DIR_LENGTH_MAX} characters` })),
}, CLOSED);
export const KeyBody = Type.Object({ role: missingSaysError(Enum(ROLES, 'the new key\'s role', `must be one of ${ROLES.join(', ')}`)) }, CLOSED);
export const WebhookBody = Type.Object({
  url: missingSaysError(Type.String({ minLength: 1, maxLength: WEBHOOK_URL_LENGTH_MAX, 'x-error': `must be an http or https URL of 1..${WEBHOOK_URL_LENGTH_MAX} characters`, description: 'http or https, no user name or password, no fragment' })),
  events: missingSaysError(Type.Array(Enum(WEBHOOK_EVENT_TYPES, undefined, `must be one of ${WEBHOOK_EVENT_TYPES.join(', ')}`), {
    minItems: 1, maxItems: WEBHOOK_EVENT_TYPES.length, 'x-error': `must be a list of 1..${WEBHOOK_EVENT_TYPES.length} event types`, description: 'none twice',
  })),
}, CLOSED);
export const RedeliverBody = Type.Object({
  fromEventId: missingSaysError(Type.String({ 'x-error': 'must be the id of an event of this server (`<shard>:<seq>` or `<shard>:<seq>:<n>`)', description: '`<shard>:<seq>` or `<shard>:<seq>:<n>`' })),
}, CLOSED);
export const ProgramBody = Type.Object({}, { additionalProperties: true, description: 'the program (docs/rules.md); a `version` field, as GET answers it, is ignored' });
export const WhatIfBody = Type.Object({
  program: Type.Unsafe<Record<string, unknown>>({ 'x-missing': 'is required', description: 'a program as PUT /v1/program takes it' }),
  from: Type.Optional(Type.String({ 'x-error': ISO_MESSAGE, description: 'ISO-8601 with an offset, not in the future' })),
  to: Type.Optional(Type.String({ 'x-error': ISO_MESSAGE, description: 'ISO-8601 with an offset, not in the future, not before from' })),
}, CLOSED);

/** The body schemas by the name of the stream op that takes the same body (server/perform.ts STREAM_OPS). */
export const OP_BODIES = {
  register: RegisterBody, purchase: PurchaseBody, return: ReturnBody, quote: QuoteBody, topup: TopupBody, withdraw: WithdrawBody,
  transfer: TransferBody, redeem: RedeemBody, adjust: AdjustBody, product_purchase: ProductPurchaseBody, reward_redeem: RewardRedeemBody, card_use: CardUseBody,
} as const satisfies Record<string, TSchema>;

export type OpBodies = { [K in keyof typeof OP_BODIES]: Static<(typeof OP_BODIES)[K]> };
