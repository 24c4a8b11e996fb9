// The one catalogue of error codes: every business rejection and operational failure the engine
// or the wire can answer, with its HTTP status and a default message. The README documents each
// code, and test/server/errors.test.ts checks that it does.

export interface ErrorInfo { status: number; message: string }

export const ERRORS = {
  invalid_request: { status: 400, message: 'the request is malformed or a field is invalid' },
  unauthorized: { status: 401, message: 'a valid API key is required' },
  forbidden: { status: 403, message: 'this key\'s role may not do that' },
  route_not_found: { status: 404, message: 'no such endpoint' },
  not_clustered: { status: 404, message: 'this node runs alone (LOYALTY_NATS is not set): it belongs to no cluster' },
  member_not_found: { status: 404, message: 'no member with that id' },
  order_not_found: { status: 404, message: 'no order with that id' },
  referrer_not_found: { status: 404, message: 'the referrer is not a member' },
  product_not_found: { status: 404, message: 'no product with that id in the program' },
  tier_not_found: { status: 404, message: 'no tier with that id in the program' },
  coupon_not_found: { status: 404, message: 'no coupon with that code' },
  coupon_template_not_found: { status: 404, message: 'no coupon template with that id in the program' },
  reward_not_found: { status: 404, message: 'no reward with that id in the program' },
  redemption_not_found: { status: 404, message: 'no redemption with that id for that member' },
  card_not_found: { status: 404, message: 'the member has no count card for that service' },
  key_not_found: { status: 404, message: 'no API key with that id' },
  webhook_not_found: { status: 404, message: 'no webhook subscription with that id' },
  too_many_webhooks: { status: 422, message: 'the deployment holds as many webhook subscriptions as it may; delete one first' },
  what_if_not_found: { status: 404, message: 'no what-if with that id on this server (finished ones are kept for a while, not across restarts)' },
  member_exists: { status: 409, message: 'a member with that id exists already' },
  phone_taken: { status: 409, message: 'another member has that phone number' },
  email_taken: { status: 409, message: 'another member has that email address' },
  what_if_running: { status: 409, message: 'a what-if is already running; one runs at a time' },
  idempotency_conflict: { status: 409, message: 'that key was used before with a different body' },
  backup_running: { status: 409, message: 'a backup is being taken; ask again when it has finished' },
  no_standby: { status: 409, message: 'cluster mode: no other node stands by to take the deployment over, so this node cannot be drained' },
  payload_too_large: { status: 413, message: 'the body is larger than the limit' },
  insufficient_points: { status: 422, message: 'the member does not have enough points' },
  member_erased: { status: 422, message: 'the member was erased: only returns of earlier orders still apply' },
  insufficient_wallet: { status: 422, message: 'the member\'s wallet does not hold enough' },
  wallet_limit: { status: 422, message: 'the wallet may not pay that much of one order' },
  negative_net: { status: 422, message: 'discount, redeemed points and wallet exceed the order amount' },
  topup_below_minimum: { status: 422, message: 'the top-up is below the program\'s minimum' },
  redemption_too_small: { status: 422, message: 'those points are worth less than one cent' },
  product_inactive: { status: 422, message: 'the product is not on sale' },
  channel_not_allowed: { status: 422, message: 'the product is not sold on this channel' },
  tier_not_eligible: { status: 422, message: 'the member\'s tier may not buy this product' },
  return_exceeds_order: { status: 422, message: 'the return is more than what remains of the order' },
  coupon_not_usable: { status: 422, message: 'the coupon cannot be used on this order' },
  coupon_limit: { status: 422, message: 'no more coupons of that template may be issued' },
  coupon_not_active: { status: 422, message: 'the coupon is not active' },
  reward_unavailable: { status: 422, message: 'the reward cannot be redeemed now by this member (the reason is the message)' },
  out_of_stock: { status: 422, message: 'the reward\'s stock is used up' },
  reward_limit: { status: 422, message: 'the member may not redeem more of that reward' },
  redemption_closed: { status: 422, message: 'the redemption is already fulfilled or cancelled (the state is the message)' },
  card_exhausted: { status: 422, message: 'the count card does not hold that many uses' },
  card_expired: { status: 422, message: 'the count card has expired' },
  balance_limit: { status: 422, message: 'a balance would leave the safe integer range' },
  overloaded: { status: 503, message: 'the server is at capacity; retry after the given delay' },
  storage_failed: { status: 503, message: 'the ledger could not be written; nothing was changed' },
  shutting_down: { status: 503, message: 'the server is shutting down' },
  not_owner: { status: 503, message: 'this node stands by in a cluster: another node owns the deployment and takes its requests (the message names it)' },
  backup_failed: { status: 503, message: 'the backup could not be written; the live data is untouched and the partial copy was removed' },
  internal: { status: 500, message: 'an unexpected error; nothing was changed' },
} as const satisfies Record<string, ErrorInfo>;

export type ErrorCode = keyof typeof ERRORS;

/** A business rejection or operational failure as it travels from engine to wire. */
export interface OpError { code: ErrorCode; message: string; field?: string }

export function opError(code: ErrorCode, message?: string, field?: string): OpError {
  const error: OpError = { code, message: message ?? ERRORS[code].message };
  if (field !== undefined) error.field = field;
  return error;
}

/** An operational failure with a stable code, thrown where a whole request or batch cannot proceed. */
export class LoyaltyError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;
  constructor(code: ErrorCode, message?: string, field?: string) {
    super(message ?? ERRORS[code].message);
    this.code = code;
    this.field = field;
  }
}

export function statusOf(code: ErrorCode): number {
  return ERRORS[code].status;
}
