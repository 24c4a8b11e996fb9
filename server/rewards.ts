// The reward, count card and staff endpoints (docs/api.md, Rewards and count cards; Reports): the
// rewards list with stock left, redeeming, a redemption's lookup, fulfilment and cancellation, a
// restock, card uses and adjustments, a member's cards and redemptions, and the reward and staff
// reports. Plain functions of a parsed request, registered in routes.ts. A redemption is found on
// its member's shard by asking every shard (its id, the request's requestId, does not say which).
import { checkId } from '../engine/rules/validate.js';
import { checkDay } from '../engine/rules/local-day.js';
import type { Role } from './auth.js';
import { failure, perform } from './perform.js';
import { cardAdjustOp, rewardCancelRequest, rewardFulfilRequest, rewardStockOp } from './reward-requests.js';
import { errorReply, opReply, parseJson, type Api, type ApiReply, type ApiRequest } from './routes.js';
import { signedBy, type RequestContext } from './requests.js';

const ctx = (api: Api, role: Role): RequestContext => ({ role, nowMs: api.engine.now(), defaultCountry: api.engine.program.program.defaultCountry });

/** A body that may be left out (a fulfilment's, a cancellation's): none reads as `{}`. */
const optionalBody = (req: ApiRequest): unknown => (req.body.length === 0 ? {} : parseJson(req));

/** GET /v1/rewards: the program's rewards with the stock left of each. */
export async function listRewards(api: Api): Promise<ApiReply> {
  return { status: 200, body: { rewards: await api.engine.rewards() } };
}

/** POST /v1/rewards/redemptions: 201 with the redemption, 200 when it replays. */
export async function redeemReward(api: Api, req: ApiRequest, _params: string[], role: Role, keyId: string): Promise<ApiReply> {
  const result = await perform(api.engine, 'reward_redeem', parseJson(req), role, keyId);
  return opReply(result, result.ok && result['replayed'] !== true ? 201 : 200);
}

/** GET /v1/rewards/redemptions/{id} */
export async function getRedemption(api: Api, _req: ApiRequest, [id]: string[]): Promise<ApiReply> {
  const redemption = await api.engine.redemption(checkId(id, 'redemptionId'));
  return redemption === null ? errorReply('redemption_not_found') : { status: 200, body: redemption };
}

/** POST /v1/rewards/redemptions/{id}/fulfil { storeId?, staffId?, at? }: the body is checked before the redemption is looked for. */
export async function fulfilRedemption(api: Api, req: ApiRequest, [id]: string[], role: Role, keyId: string): Promise<ApiReply> {
  const op = rewardFulfilRequest(id!, optionalBody(req), ctx(api, role));
  const redemption = await api.engine.redemption(id!);
  if (redemption === null) return errorReply('redemption_not_found', undefined, 'redemptionId');
  return opReply(await api.engine.run(signedBy(op(redemption['memberId'] as string), keyId), failure));
}

/** POST /v1/rewards/redemptions/{id}/cancel { at? } */
export async function cancelRedemption(api: Api, req: ApiRequest, [id]: string[], role: Role, keyId: string): Promise<ApiReply> {
  const op = rewardCancelRequest(id!, optionalBody(req), ctx(api, role));
  const redemption = await api.engine.redemption(id!);
  if (redemption === null) return errorReply('redemption_not_found', undefined, 'redemptionId');
  return opReply(await api.engine.run(signedBy(op(redemption['memberId'] as string), keyId), failure));
}

/** POST /v1/rewards/{id}/stock { requestId, delta, at? } (admin): the answer adds the stock left now. */
export async function restockReward(api: Api, req: ApiRequest, [id]: string[], role: Role, keyId: string): Promise<ApiReply> {
  const op = signedBy(rewardStockOp(id!, parseJson(req), ctx(api, role)), keyId);
  const reward = api.engine.program.program.rewards.find((r) => r.id === op.rewardId);
  if (reward === undefined) return errorReply('reward_not_found', undefined, 'rewardId');
  const result = await api.engine.run(op, failure);
  if (!result.ok) return opReply(result);
  const listed = (await api.engine.rewards()).find((r) => r.id === op.rewardId);
  return opReply({ ...result, stockLeft: listed?.stockLeft ?? null });
}

/** POST /v1/cards/uses */
export async function useCard(api: Api, req: ApiRequest, _params: string[], role: Role, keyId: string): Promise<ApiReply> {
  return opReply(await perform(api.engine, 'card_use', parseJson(req), role, keyId));
}

/** POST /v1/cards/adjustments (admin) */
export async function adjustCard(api: Api, req: ApiRequest, _params: string[], role: Role, keyId: string): Promise<ApiReply> {
  const op = signedBy(cardAdjustOp(parseJson(req), ctx(api, role)), keyId);
  const result = await api.engine.run(op, failure);
  if (result.ok && result['replayed'] !== true) api.engine.audit.record(keyId, 'card.adjust', op.memberId, { serviceId: op.serviceId, uses: op.uses, reason: op.reason });
  return opReply(result);
}

/** GET /v1/members/{id}/cards: the member's count cards by service. */
export async function memberCards(api: Api, _req: ApiRequest, [id]: string[]): Promise<ApiReply> {
  const memberId = checkId(id, 'memberId');
  const cards = await api.engine.queryMember({ q: 'memberCards', memberId });
  return cards === null || cards === undefined ? errorReply('member_not_found') : { status: 200, body: { memberId, cards } };
}

/** GET /v1/members/{id}/redemptions: the member's redemptions, newest first. */
export async function memberRedemptions(api: Api, _req: ApiRequest, [id]: string[]): Promise<ApiReply> {
  const memberId = checkId(id, 'memberId');
  const redemptions = await api.engine.queryMember({ q: 'memberRedemptions', memberId });
  return redemptions === null || redemptions === undefined ? errorReply('member_not_found') : { status: 200, body: { memberId, redemptions } };
}

/** GET /v1/reports/rewards?from=YYYY-MM-DD&to=YYYY-MM-DD: per reward, redemptions made on those local days. */
export async function rewardReport(api: Api, req: ApiRequest): Promise<ApiReply> {
  const from = checkDay(req.query.get('from'), 'from');
  const to = checkDay(req.query.get('to'), 'to');
  return { status: 200, body: await api.engine.rewardReport(from, to) };
}

/** GET /v1/reports/staff?from=YYYY-MM-DD&to=YYYY-MM-DD: per staff member, on those local days. */
export async function staffReport(api: Api, req: ApiRequest): Promise<ApiReply> {
  const from = checkDay(req.query.get('from'), 'from');
  const to = checkDay(req.query.get('to'), 'to');
  return { status: 200, body: await api.engine.staffReport(from, to) };
}
