// The coupon endpoints' handlers (docs/api.md, Coupons): issuing one coupon by hand, a bulk issue to
// listed members, a tier or an RFM segment, revoking, finding a coupon by its code, and a member's
// coupons. Plain functions of a parsed request, registered in routes.ts. A coupon is found on the
// one shard its code lands on (engine/router/coupon-gate.ts).
import { COUPON_BULK_CONCURRENCY, COUPON_BULK_FAILURES_LISTED_MAX, COUPON_BULK_MEMBERS_MAX, PAGE_LIMIT_MAX } from '../engine/limits.js';
import { LoyaltyError } from '../engine/errors.js';
import { RFM_SEGMENTS, type RfmReport, type RfmSegment } from '../engine/rules/rfm.js';
import { FieldError, checkEnum, checkId, has, idField, readArray, readObject } from '../engine/rules/validate.js';
import type { CouponStateName } from '../engine/rules/coupons.js';
import type { OpResult } from '../engine/ops.js';
import type { Engine } from '../engine/router/engine.js';
import type { Role } from './auth.js';
import { failure } from './perform.js';
import * as R from './requests.js';
import { errorReply, opReply, parseJson, type Api, type ApiReply, type ApiRequest } from './routes.js';

const COUPON_STATES: readonly CouponStateName[] = ['active', 'used', 'expired', 'revoked'];

const ctx = (api: Api, role: Role): R.RequestContext => ({ role, nowMs: api.engine.now(), defaultCountry: api.engine.program.program.defaultCountry });

/** Whether the program in force has the template: an issue of one it lacks is answered here, before any shard. */
function hasTemplate(engine: Engine, templateId: string): boolean {
  return engine.program.program.coupons.some((t) => t.id === templateId);
}

/** POST /v1/coupons/issue { requestId, templateId, memberId, at? }: 201 with the coupon, 200 when it replays. */
export async function issueCoupon(api: Api, req: ApiRequest, _params: string[], role: Role, keyId: string): Promise<ApiReply> {
  const op = R.signedBy(R.couponIssueOp(parseJson(req), ctx(api, role)), keyId);
  if (!hasTemplate(api.engine, op.templateId)) return errorReply('coupon_template_not_found', undefined, 'templateId');
  const result = await api.engine.run(op, failure);
  return opReply(result, result.ok && result['replayed'] !== true ? 201 : 200);
}

/** The members a bulk issue selects: exactly one of its three selectors. */
type Selector = { memberIds: string[] } | { tierId: string } | { rfmSegment: RfmSegment };

function readSelector(body: Record<string, unknown>, engine: Engine): Selector {
  const named = (['memberIds', 'tierId', 'rfmSegment'] as const).filter((k) => has(body, k));
  if (named.length !== 1) throw new FieldError(named[1] ?? '(root)', 'name exactly one of memberIds, tierId and rfmSegment');
  if (named[0] === 'memberIds') {
    const raw = readArray(body['memberIds'], 'memberIds', { min: 1, max: COUPON_BULK_MEMBERS_MAX });
    const seen = new Map<string, number>();
    const memberIds = raw.map((value, i) => {
      const id = checkId(value, `memberIds[${i}]`);
      const first = seen.get(id);
      if (first !== undefined) throw new FieldError(`memberIds[${i}]`, `repeats memberIds[${first}]`);
      seen.set(id, i);
      return id;
    });
    return { memberIds };
  }
  if (named[0] === 'tierId') {
    const tierId = idField(body, 'tierId', '');
    if (!engine.program.program.tiers.some((t) => t.id === tierId)) throw new LoyaltyError('tier_not_found', undefined, 'tierId');
    return { tierId };
  }
  return { rfmSegment: checkEnum(body['rfmSegment'], 'rfmSegment', RFM_SEGMENTS) };
}

const tooMany = (field: string): LoyaltyError =>
  new LoyaltyError('payload_too_large', `the ${field} selects more than ${COUPON_BULK_MEMBERS_MAX} members: issue to them in parts`, field);

/** The members a selector names now: a tier's in id order, a segment's as the RFM report lists them. */
async function selectedMembers(engine: Engine, selector: Selector): Promise<string[]> {
  if ('memberIds' in selector) return selector.memberIds;
  if ('tierId' in selector) {
    const ids: string[] = [];
    for (let after: string | undefined; ;) {
      const page = await engine.listMembers({ tierId: selector.tierId, limit: PAGE_LIMIT_MAX, ...(after === undefined ? {} : { after }) });
      for (const m of page.members) ids.push(m['memberId'] as string);
      if (ids.length > COUPON_BULK_MEMBERS_MAX) throw tooMany('tierId');
      if (page.nextCursor === null) return ids;
      after = page.nextCursor;
    }
  }
  let report: RfmReport;
  try {
    report = await engine.rfm(engine.now(), selector.rfmSegment);
  } catch (err) {
    // The report refuses to list a segment past the same bound, in words meant for its own endpoint.
    if (err instanceof LoyaltyError && err.code === 'payload_too_large') throw tooMany('rfmSegment');
    throw err;
  }
  const listed = report.segments[selector.rfmSegment].members ?? [];
  if (listed.length > COUPON_BULK_MEMBERS_MAX) throw tooMany('rfmSegment');
  return listed.map((m) => m.memberId);
}

/**
 * POST /v1/coupons/bulk-issue { requestId, templateId, memberIds? | tierId? | rfmSegment? }: one
 * coupon_issue per member (engine/ops.ts), keyed `bulk:<requestId>:<memberId>`, at most
 * COUPON_BULK_CONCURRENCY in flight. Answers `{ issued, skipped, failed, members, failures }`:
 * `issued` counts the members holding the bulk's coupon (a retry counts those of the first run
 * again, as replays, and issues nobody a second one), `skipped` those the template may not be
 * issued to (`coupon_limit`: a cap, an inactive template, a window over), `failed` the rest, the
 * first COUPON_BULK_FAILURES_LISTED_MAX of them by name with the code of their refusal. A tier or
 * segment is read when the request runs: a retry also issues to members who joined it since.
 */
export async function bulkIssue(api: Api, req: ApiRequest, _params: string[], _role: Role, keyId: string): Promise<ApiReply> {
  const body = readObject(parseJson(req), '', ['requestId', 'templateId', 'memberIds', 'tierId', 'rfmSegment']);
  const requestId = idField(body, 'requestId', '');
  const templateId = idField(body, 'templateId', '');
  const selector = readSelector(body, api.engine);
  if (!hasTemplate(api.engine, templateId)) return errorReply('coupon_template_not_found', undefined, 'templateId');
  const memberIds = await selectedMembers(api.engine, selector);
  const codes = await issueAll(api.engine, requestId, templateId, memberIds, keyId);
  let issued = 0;
  let skipped = 0;
  const failures: Array<{ memberId: string; code: string }> = [];
  let failed = 0;
  codes.forEach((code, i) => {
    if (code === null) issued += 1;
    else if (code === 'coupon_limit') skipped += 1;
    else {
      failed += 1;
      if (failures.length < COUPON_BULK_FAILURES_LISTED_MAX) failures.push({ memberId: memberIds[i]!, code });
    }
  });
  return { status: 200, body: { issued, skipped, failed, members: memberIds.length, failures } };
}

/**
 * Issues the bulk's coupon to each member, at most COUPON_BULK_CONCURRENCY at once; answers, per
 * member, null when the member holds it, else the code of the refusal. The ops are let into their
 * shards' queues past the bound (`admitted`): the bulk bounds its own ops in flight instead, so
 * that a busy moment never fails members a retry would then have to catch up.
 */
async function issueAll(engine: Engine, requestId: string, templateId: string, memberIds: readonly string[], keyId: string): Promise<Array<string | null>> {
  const codes = new Array<string | null>(memberIds.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < memberIds.length) {
      const i = next++;
      const op = R.signedBy(R.bulkIssueOp(requestId, templateId, memberIds[i]!, engine.now()), keyId);
      const result: OpResult = await engine.run(op, failure, undefined, true);
      codes[i] = result.ok ? null : result.error.code;
    }
  };
  await Promise.all(Array.from({ length: Math.min(COUPON_BULK_CONCURRENCY, memberIds.length) }, worker));
  return codes;
}

/**
 * The coupon a path names, or null when it names none: what a person typed, in any case, with
 * hyphens or spaces (normalizeCouponCode). Text that cannot be a code answers as a code no coupon
 * has (`404 coupon_not_found`): a cashier who mistypes one digit or one character too many sees
 * the same answer, and the code's format is public, so the answer tells a prober nothing either way.
 */
async function couponOf(engine: Engine, text: string, atMs?: number): Promise<Record<string, unknown> | null> {
  const code = R.couponCodeParam(text);
  if (code === null) return null;
  const coupon = await engine.shardOfCode(code).query(atMs === undefined ? { q: 'coupon', code } : { q: 'coupon', code, atMs });
  return (coupon ?? null) as Record<string, unknown> | null;
}

/** POST /v1/coupons/{code}/revoke { requestId, at? }: the coupon's member is read on the code's shard first. */
export async function revokeCoupon(api: Api, req: ApiRequest, [text]: string[], role: Role, keyId: string): Promise<ApiReply> {
  // The body is checked before the coupon is looked for: a malformed request is 400 whatever it names.
  const revoke = R.couponRevokeRequest(parseJson(req), ctx(api, role));
  const coupon = await couponOf(api.engine, text!);
  if (coupon === null) return errorReply('coupon_not_found');
  return opReply(await api.engine.run(R.signedBy(revoke(coupon['code'] as string, coupon['memberId'] as string), keyId), failure));
}

/** GET /v1/coupons/{code}?at=: the coupon now, or with its state at an earlier instant. */
export async function getCoupon(api: Api, req: ApiRequest, [text]: string[]): Promise<ApiReply> {
  const at = req.query.get('at');
  const atMs = at === null ? undefined : R.parseAt(at, 'at', api.engine.now());
  const coupon = await couponOf(api.engine, text!, atMs);
  return coupon === null ? errorReply('coupon_not_found') : { status: 200, body: coupon };
}

/** GET /v1/members/{id}/coupons?state=: the member's coupons, newest issue first. */
export async function memberCoupons(api: Api, req: ApiRequest, [id]: string[]): Promise<ApiReply> {
  const memberId = checkId(id, 'memberId');
  const stateText = req.query.get('state');
  const state = stateText === null ? undefined : checkEnum(stateText, 'state', COUPON_STATES);
  const coupons = await api.engine.queryMember(state === undefined ? { q: 'memberCoupons', memberId } : { q: 'memberCoupons', memberId, state });
  return coupons === null || coupons === undefined ? errorReply('member_not_found') : { status: 200, body: { memberId, coupons } };
}
