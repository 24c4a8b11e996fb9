// The HTTP API as plain functions: a route table, role checks, and handlers that take a parsed
// request and return a status and a JSON body, so that every route can be tested without a socket.
import { Engine } from '../engine/router/engine.js';
import { ERRORS, LoyaltyError, statusOf, type ErrorCode, type OpError } from '../engine/errors.js';
import { FieldError, checkEnum, checkId, checkInt, parseInstant, readObject } from '../engine/rules/validate.js';
import { changedPaths } from '../engine/rules/program-diff.js';
import { AUDIT_ACTIONS, type AuditFilter } from '../engine/router/audit-log.js';
import { validateProgram } from '../engine/rules/program.js';
import { normalisePhone, phonePrefixes } from '../engine/rules/phone.js';
import { readWhatIfRequest } from '../engine/rules/what-if-report.js';
import { AUDIT_PATHS_MAX, BACKUP_DIR_LENGTH_MAX, OPENAPI_MAX_AGE_S, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, RETRY_AFTER_SECONDS } from '../engine/limits.js';
import type { OpResult } from '../engine/ops.js';
import { failure, perform, type OpName } from './perform.js';
import { KeyStore, ROLES, bearerKey, type Role } from './auth.js';
import * as R from './requests.js';
import { ROUTE_UNMATCHED, type Metrics } from './metrics.js';
import { campaignReport, dailyReport, exportLedger, exportMembers, importMembersReply, rfmReport } from './backoffice.js';
import { consoleFiles } from './console-files.js';
import { couponReport, exportCoupons } from './coupon-reports.js';
import { bulkIssue, getCoupon, issueCoupon, memberCoupons, revokeCoupon } from './coupons.js';
import * as Rw from './rewards.js';
import type { RequestLog } from './request-log.js';
import * as Wh from './webhooks/requests.js';
import type { DeliveryThread } from './webhooks/delivery-thread.js';
import type { ClusterControl } from './cluster-node.js';
import { ROUTE_DOCS, routeKey, type RouteDoc } from './schema/catalogue.js';
import { checkBody, validatorOf } from './schema/body-check.js';
import { openApiDocument } from './schema/openapi.js';

export interface ApiRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  /** The Authorization header as sent, or '' */
  authorization: string;
  /** The body as text; JSON bodies are parsed by the route that wants one. */
  body: string;
  /** The body as it arrives, for a route that reads past BODY_BYTES_MAX (the CSV import); `body` is then ''. */
  bodyStream?: AsyncIterable<Uint8Array>;
  /** The Accept-Encoding header as sent, or '' (the console's assets are sent precompressed by it). */
  acceptEncoding?: string;
  /** The JSON body once parsed and its shape checked (by `run`, against the route's schema). */
  json?: unknown;
}

export interface ApiReply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  /** A body that is not JSON (metrics), sent as is. */
  text?: string;
  /** A body of bytes sent as they are (a console asset precompressed; its headers say how). */
  bytes?: Uint8Array;
  /** A body written chunk by chunk as the socket drains (the CSV exports). */
  chunks?: AsyncIterable<string>;
  /** The route pattern that answered (`/v1/members/:id`), for the request metrics; set by `handle`. */
  route?: string;
  /** The id of the key that authenticated the request (for the request log); set by `handle`. */
  keyId?: string;
  /** Cluster mode: the node that answered a request this node forwarded to it (server/cluster-forward.ts). */
  forwardedTo?: string;
}

export interface Api {
  engine: Engine;
  keys: KeyStore;
  metrics: Metrics;
  /** The request log (server/request-log.ts); absent in tests that run routes without a server. */
  requestLog?: RequestLog;
  /** The webhook deliveries (server.ts starts them); absent where a test builds an Api without them. */
  webhooks?: DeliveryThread;
  /** This node's part in a cluster deployment (server/cluster-node.ts); absent on a single node. */
  cluster?: ClusterControl;
}

/** `keyId` is the id of the key presented (server/auth.ts Principal), '' on a public route. */
type Handler = (api: Api, req: ApiRequest, params: string[], role: Role, keyId: string) => Promise<ApiReply> | ApiReply;

interface Route { method: string; path: string; pattern: string[]; roles: readonly Role[] | 'public'; handler: Handler; doc: RouteDoc | undefined }

/** A route as the OpenAPI document and the drift test see it. */
export interface RouteInfo { method: string; path: string; roles: readonly Role[] | 'public' }

const ALL: readonly Role[] = ROLES;
const WRITERS: readonly Role[] = ['admin', 'pos', 'storefront'];
const ADMIN: readonly Role[] = ['admin'];

export function errorReply(code: ErrorCode, message?: string, field?: string): ApiReply {
  const error: Record<string, string> = { code, message: message ?? ERRORS[code].message };
  if (field !== undefined) error['field'] = field;
  const reply: ApiReply = { status: statusOf(code), body: { error } };
  if (code === 'overloaded' || code === 'storage_failed' || code === 'shutting_down' || code === 'not_owner') reply.headers = { 'Retry-After': String(RETRY_AFTER_SECONDS) };
  return reply;
}

export function opReply(result: OpResult, status = 200): ApiReply {
  if (result.ok) {
    const { ok: _ok, ...body } = result;
    return { status, body };
  }
  const e: OpError = result.error;
  return errorReply(e.code, e.message, e.field);
}

export function parseJson(req: ApiRequest): unknown {
  if (req.json !== undefined) return req.json;
  if (req.body.length === 0) throw new FieldError('(root)', 'a JSON body is required');
  try {
    return JSON.parse(req.body);
  } catch {
    throw new FieldError('(root)', 'the body is not valid JSON');
  }
}

const ctx = (api: Api, role: Role): R.RequestContext => ({ role, nowMs: api.engine.now(), defaultCountry: api.engine.program.program.defaultCountry });

function limitOf(req: ApiRequest): number {
  const raw = req.query.get('limit');
  if (raw === null) return PAGE_LIMIT_DEFAULT;
  if (!/^\d{1,7}$/.test(raw)) throw new FieldError('limit', `must be an integer 1..${PAGE_LIMIT_MAX}`);
  return checkInt(Number(raw), 'limit', { min: 1, max: PAGE_LIMIT_MAX });
}

async function performReply(api: Api, name: OpName, req: ApiRequest, role: Role, keyId: string): Promise<ApiReply> {
  return opReply(await perform(api.engine, name, parseJson(req), role, keyId));
}

async function memberOr404(api: Api, memberId: string): Promise<ApiReply> {
  const member = await api.engine.queryMember({ q: 'member', memberId });
  return member === null ? errorReply('member_not_found') : { status: 200, body: member };
}

const routes: Route[] = [];
function route(method: string, path: string, roles: readonly Role[] | 'public', handler: Handler): void {
  const doc = ROUTE_DOCS[routeKey(method, path)];
  // Compiled when the server starts, so that a schema ajv refuses stops it there.
  if (doc?.body !== undefined) validatorOf(doc.body);
  routes.push({ method, path, pattern: path.split('/').filter((s) => s !== ''), roles, handler, doc });
}

/** Every route, in the table's order. */
export function routeList(): RouteInfo[] {
  return routes.map((r) => ({ method: r.method, path: r.path, roles: r.roles }));
}

let openApiText: string | null = null;
/** The OpenAPI document as served: built once, from the route table and the catalogue. */
export function openApiJson(): string {
  openApiText ??= JSON.stringify(openApiDocument(routeList()), null, 2) + '\n';
  return openApiText;
}

/**
 * The JSON body of a request whose route has a schema: parsed, its shape checked (a FieldError
 * names the first wrong field), kept on the request for the handler. An optional body may be empty.
 */
function checkedBody(req: ApiRequest, doc: RouteDoc): void {
  if (doc.body === undefined) return;
  if (doc.bodyOptional === true && req.body.length === 0) return;
  // `null` reads as a body left out where the op builder has always taken it so (RouteDoc.bodyNullable).
  const parsed = doc.bodyNullable === true && parseJson(req) === null ? {} : parseJson(req);
  checkBody(doc.body, parsed);
  req.json = parsed;
}

route('GET', '/healthz', 'public', () => ({ status: 200, body: { ok: true } }));
// Public like the health route: it says what the API is, nothing of the data. The same for an hour.
route('GET', '/openapi.json', 'public', () => ({
  status: 200, body: null, text: openApiJson(), headers: { 'Content-Type': 'application/json', 'Cache-Control': `public, max-age=${OPENAPI_MAX_AGE_S}` },
}));
route('GET', '/metrics', ALL, async (api) => ({ status: 200, body: null, text: await api.metrics.render(), headers: { 'Content-Type': api.metrics.contentType } }));

route('GET', '/v1/whoami', ALL, (api, req) => {
  // The role decides what the console shows; the id lets it mark its own key in the list of keys.
  // Asked again (the answer is cached): a key revoked since the route's own check is refused here too.
  const principal = api.keys.authenticate(bearerKey(req.authorization));
  return principal === null ? errorReply('unauthorized') : { status: 200, body: { keyId: principal.id, role: principal.role } };
});
route('GET', '/v1/program', ALL, (api) => ({ status: 200, body: { version: api.engine.program.version, ...api.engine.program.program } }));
route('PUT', '/v1/program', ADMIN, async (api, req, _p, _role, keyId) => {
  const raw = parseJson(req);
  // The version is the engine's to give: a client may send back what GET returned.
  if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) delete (raw as Record<string, unknown>)['version'];
  const checked = validateProgram(raw);
  if (!checked.ok) return errorReply('invalid_request', checked.message, checked.field);
  const before = api.engine.program.program;
  const v = await api.engine.setProgram(checked.program, keyId);
  const { paths, more } = changedPaths(before, v.program, AUDIT_PATHS_MAX);
  api.engine.audit.record(keyId, 'program.change', String(v.version), more === 0 ? { paths } : { paths, more });
  return { status: 200, body: { version: v.version, ...v.program } };
});

route('POST', '/v1/members', WRITERS, async (api, req, _p, role, keyId) => {
  const result = await perform(api.engine, 'register', parseJson(req), role, keyId);
  return opReply(result, result.ok && result['replayed'] !== true ? 201 : 200);
});
route('GET', '/v1/members', [...ALL], async (api, req) => {
  const filter: { tierId?: string; prefix?: string; phonePrefixes?: string[]; after?: string; limit: number } = { limit: limitOf(req) };
  const tierId = req.query.get('tierId'); if (tierId !== null) filter.tierId = checkId(tierId, 'tierId');
  const q = req.query.get('q');
  if (q !== null && q !== '') {
    filter.prefix = q.slice(0, 256);
    // A phone is stored in E.164: `9123` or `+852 9123` finds +85291234567 (engine/rules/phone.ts).
    const phones = phonePrefixes(q, api.engine.program.program.defaultCountry);
    if (phones.length > 0) filter.phonePrefixes = phones;
  }
  const cursor = req.query.get('cursor'); if (cursor !== null && cursor !== '') filter.after = checkId(cursor, 'cursor');
  return { status: 200, body: await api.engine.listMembers(filter) };
});
route('GET', '/v1/members/by-phone/:phone', ALL, async (api, _req, [phone]) => {
  // Any spelling of the number finds its member: the directory holds phones in E.164.
  const memberId = api.engine.memberIdByPhone(normalisePhone(phone!, api.engine.program.program.defaultCountry));
  return memberId === undefined ? errorReply('member_not_found', 'no member has that phone number') : memberOr404(api, memberId);
});
route('GET', '/v1/members/:id', ALL, (api, _req, [id]) => memberOr404(api, checkId(id, 'memberId')));
route('PATCH', '/v1/members/:id', WRITERS, async (api, req, [id], role, keyId) => {
  const op = R.signedBy(R.patchOp(id!, parseJson(req), ctx(api, role)), keyId);
  if (api.engine.saturatedFor(op.memberId)) return errorReply('overloaded');
  const result = await api.engine.registerOrPatch(op);
  if (result.ok) delete result['replayed'];
  return opReply(result);
});
route('POST', '/v1/members/:id/erase', ADMIN, async (api, req, [id], role, keyId) => {
  const op = R.signedBy(R.eraseOp(id!, parseJson(req), ctx(api, role)), keyId);
  const result = await api.engine.erase(op, failure);
  // A replayed erasure was recorded when it was made.
  if (result.ok && result['replayed'] !== true) api.engine.audit.record(keyId, 'member.erase', op.memberId, {});
  return opReply(result);
});
route('GET', '/v1/members/:id/ledger', ALL, async (api, req, [id]) => {
  const memberId = checkId(id, 'memberId');
  const limit = limitOf(req);
  const cursor = req.query.get('cursor');
  const query: { q: 'ledger'; memberId: string; limit: number; beforeSeq?: number } = { q: 'ledger', memberId, limit };
  if (cursor !== null && cursor !== '') {
    if (!/^\d{1,16}$/.test(cursor)) throw new FieldError('cursor', 'must be the nextCursor of a previous page');
    query.beforeSeq = Number(cursor);
  }
  const entries = await api.engine.queryMember(query) as Array<{ seq: number }> | null;
  if (entries === null) return errorReply('member_not_found');
  return { status: 200, body: { entries, nextCursor: entries.length === limit ? String(entries[entries.length - 1]!.seq) : null } };
});
route('GET', '/v1/members/:id/coupons', ALL, memberCoupons);
route('GET', '/v1/members/:id/cards', ALL, Rw.memberCards);
route('GET', '/v1/members/:id/redemptions', ALL, Rw.memberRedemptions);
route('GET', '/v1/members/:id/balance', ALL, async (api, req, [id]) => {
  const memberId = checkId(id, 'memberId');
  const at = req.query.get('at');
  const atMs = at === null ? api.engine.now() : R.parseAt(at, 'at', api.engine.now());
  const balance = await api.engine.queryMember({ q: 'balance', memberId, atMs });
  return balance === null ? errorReply('member_not_found') : { status: 200, body: balance };
});

route('POST', '/v1/purchases', WRITERS, (api, req, _p, role, keyId) => performReply(api, 'purchase', req, role, keyId));
route('POST', '/v1/product-purchases', WRITERS, (api, req, _p, role, keyId) => performReply(api, 'product_purchase', req, role, keyId));
route('POST', '/v1/returns', WRITERS, (api, req, _p, role, keyId) => performReply(api, 'return', req, role, keyId));
route('POST', '/v1/wallet/transfers', ADMIN, (api, req, _p, role, keyId) => performReply(api, 'transfer', req, role, keyId));
route('GET', '/v1/orders/:id', ALL, async (api, _req, [id]) => {
  const order = await api.engine.order(checkId(id, 'orderId'));
  return order === null ? errorReply('order_not_found') : { status: 200, body: order };
});
route('POST', '/v1/checkout/quote', WRITERS, (api, req, _p, role, keyId) => performReply(api, 'quote', req, role, keyId));
route('POST', '/v1/coupons/issue', ADMIN, issueCoupon);
route('POST', '/v1/coupons/bulk-issue', ADMIN, bulkIssue);
route('POST', '/v1/coupons/:code/revoke', ADMIN, revokeCoupon);
route('GET', '/v1/coupons/:code', ALL, getCoupon);
route('GET', '/v1/rewards', ALL, Rw.listRewards);
route('POST', '/v1/rewards/redemptions', WRITERS, Rw.redeemReward);
route('GET', '/v1/rewards/redemptions/:id', ALL, Rw.getRedemption);
route('POST', '/v1/rewards/redemptions/:id/fulfil', WRITERS, Rw.fulfilRedemption);
route('POST', '/v1/rewards/redemptions/:id/cancel', WRITERS, Rw.cancelRedemption);
route('POST', '/v1/rewards/:id/stock', ADMIN, Rw.restockReward);
route('POST', '/v1/cards/uses', WRITERS, Rw.useCard);
route('POST', '/v1/cards/adjustments', ADMIN, Rw.adjustCard);
route('POST', '/v1/points/redemptions', WRITERS, (api, req, _p, role, keyId) => performReply(api, 'redeem', req, role, keyId));
route('POST', '/v1/points/adjustments', ADMIN, async (api, req, _p, role, keyId) => {
  const result = await perform(api.engine, 'adjust', parseJson(req), role, keyId);
  // A replayed adjustment was recorded when it was made.
  if (result.ok && result['replayed'] !== true) {
    api.engine.audit.record(keyId, 'points.adjust', result['memberId'] as string, { points: result['pointsDelta'], reason: result['reason'] });
  }
  return opReply(result);
});
route('POST', '/v1/wallet/topups', WRITERS, (api, req, _p, role, keyId) => performReply(api, 'topup', req, role, keyId));
route('POST', '/v1/wallet/withdrawals', ADMIN, (api, req, _p, role, keyId) => performReply(api, 'withdraw', req, role, keyId));

route('GET', '/v1/reports/summary', ALL, async (api) => ({ status: 200, body: await api.engine.summary() }));
route('GET', '/v1/reports/referrals/:id', ALL, async (api, _req, [id]) => {
  const report = await api.engine.referrals(checkId(id, 'memberId'));
  return report === null ? errorReply('member_not_found') : { status: 200, body: report };
});
route('POST', '/v1/admin/sweep', ADMIN, async (api, req, _p, _role, keyId) => {
  const body = req.body.length === 0 ? {} : parseJson(req);
  const fields = readObject(body, '', ['asOf']);
  const now = api.engine.now();
  const asOfMs = fields['asOf'] === undefined ? now : R.parseAt(fields['asOf'], 'asOf', now);
  if (asOfMs > now) throw new FieldError('asOf', 'must not be in the future');
  const swept = await api.engine.sweep(asOfMs);
  // The timer's sweep runs every few seconds and is not recorded: its entries carry `system`.
  api.engine.audit.record(keyId, 'sweep', null, { asOf: swept.asOf, members: swept.members });
  return { status: 200, body: swept };
});
route('GET', '/v1/reports/daily', ALL, dailyReport);
route('GET', '/v1/reports/rfm', ALL, rfmReport);
route('GET', '/v1/reports/coupons', ALL, couponReport);
route('GET', '/v1/reports/campaigns', ALL, campaignReport);
route('GET', '/v1/reports/rewards', ALL, Rw.rewardReport);
route('GET', '/v1/reports/staff', ALL, Rw.staffReport);
route('POST', '/v1/import/members', ADMIN, importMembersReply);
route('GET', '/v1/export/members.csv', ['admin', 'reader'], exportMembers);
route('GET', '/v1/export/ledger.csv', ['admin', 'reader'], exportLedger);
route('GET', '/v1/export/coupons.csv', ['admin', 'reader'], exportCoupons);
route('GET', '/', 'public', () => consoleFiles().index());
route('GET', '/console/assets/:file', 'public', (_api, req, [file]) => consoleFiles().asset(file!, req.acceptEncoding ?? ''));
route('POST', '/v1/admin/what-if', ADMIN, (api, req) => {
  const request = readWhatIfRequest(parseJson(req), api.engine.now());
  return { status: 202, body: api.engine.whatIf.start(request) };
});
route('GET', '/v1/admin/what-if/:id', ADMIN, (api, _req, [id]) => {
  const job = api.engine.whatIf.get(id!);
  return job === null ? errorReply('what_if_not_found') : { status: 200, body: job };
});
route('POST', '/v1/admin/backup', ADMIN, async (api, req, _p, _role, keyId) => {
  const body = readObject(req.body.length === 0 ? {} : parseJson(req), '', ['dir']);
  const dir = body['dir'];
  if (dir !== undefined && (typeof dir !== 'string' || dir === '' || dir.length > BACKUP_DIR_LENGTH_MAX || dir.includes('\0'))) {
    throw new FieldError('dir', `must be a folder path of 1..${BACKUP_DIR_LENGTH_MAX} characters`);
  }
  const backup = await api.engine.backup(dir as string | undefined);
  api.engine.audit.record(keyId, 'backup', (backup as { dir?: string }).dir ?? null, {});
  return { status: 200, body: backup };
});
route('POST', '/v1/admin/compact', ADMIN, async (api, _req, _p, _role, keyId) => {
  const compacted = await api.engine.compact();
  api.engine.audit.record(keyId, 'compact', null, {});
  return { status: 200, body: compacted };
});
/** This node's part in a cluster deployment; a node that runs alone answers not_clustered. */
function clusterOf(api: Api): ClusterControl {
  if (api.cluster === undefined) throw new LoyaltyError('not_clustered');
  return api.cluster;
}
route('GET', '/v1/admin/cluster', ADMIN, async (api) => ({ status: 200, body: await clusterOf(api).status() }));
route('POST', '/v1/admin/cluster/drain', ADMIN, async (api, _req, _p, _role, keyId) => {
  const cluster = clusterOf(api);
  const status = await cluster.drain();
  api.engine.audit.record(keyId, 'cluster.drain', status.nodeId, { owner: status.owner?.nodeId ?? null, term: status.owner?.term ?? null });
  return { status: 200, body: status };
});
route('POST', '/v1/admin/cluster/undrain', ADMIN, async (api, _req, _p, _role, keyId) => {
  const status = await clusterOf(api).undrain();
  api.engine.audit.record(keyId, 'cluster.undrain', status.nodeId, {});
  return { status: 200, body: status };
});
route('GET', '/v1/admin/verify', ADMIN, async (api) => ({ status: 200, body: await api.engine.verify() }));
route('POST', '/v1/admin/keys', ADMIN, async (api, req, _p, _role, keyId) => {
  const body = readObject(parseJson(req), '', ['role']);
  if (!ROLES.includes(body['role'] as Role)) throw new FieldError('role', `must be one of ${ROLES.join(', ')}`);
  // In cluster mode the key is in the deployment's keys stream before it is answered.
  const created = await api.keys.createShared(body['role'] as Role);
  api.engine.audit.record(keyId, 'key.create', created.id, { role: created.role });
  return { status: 201, body: created };
});
route('GET', '/v1/admin/keys', ADMIN, (api) => ({ status: 200, body: { keys: api.keys.list() } }));
route('DELETE', '/v1/admin/keys/:id', ADMIN, async (api, _req, [id], _role, keyId) => {
  // Revoking a revoked key answers it again: a retried DELETE is not an error (nor a second record).
  const wasRevoked = api.keys.list().some((k) => k.id === id && k.revoked);
  const key = await api.keys.revokeShared(checkId(id, 'id'));
  if (key === null) return errorReply('key_not_found');
  if (!wasRevoked) api.engine.audit.record(keyId, 'key.revoke', key.id, { role: key.role });
  return { status: 200, body: key };
});
route('GET', '/v1/admin/audit', ADMIN, (api, req) => {
  const filter: AuditFilter = { limit: limitOf(req) };
  const from = req.query.get('from'); if (from !== null && from !== '') filter.fromMs = parseInstant(from, 'from');
  const to = req.query.get('to'); if (to !== null && to !== '') filter.toMs = parseInstant(to, 'to');
  const keyId = req.query.get('keyId'); if (keyId !== null && keyId !== '') filter.keyId = checkId(keyId, 'keyId');
  const action = req.query.get('action'); if (action !== null && action !== '') filter.action = checkEnum(action, 'action', AUDIT_ACTIONS);
  const cursor = req.query.get('cursor');
  if (cursor !== null && cursor !== '') {
    if (!/^\d{1,15}$/.test(cursor)) throw new FieldError('cursor', 'must be the nextCursor of a previous page');
    filter.cursor = Number(cursor);
  }
  return { status: 200, body: api.engine.audit.read(filter) };
});

// Webhooks (docs/api.md, "Webhooks").
function webhooksOf(api: Api): DeliveryThread {
  if (api.webhooks === undefined) throw new LoyaltyError('shutting_down', 'webhooks are not running in this process');
  return api.webhooks;
}
// Webhook changes are administrative actions: recorded in the audit trail (never the secret).
route('POST', '/v1/admin/webhooks', ADMIN, async (api, req, _p, _role, keyId) => {
  const reply = await Wh.createWebhook(webhooksOf(api), parseJson(req));
  const created = reply.body as { id: string; url: string; events: string[] };
  api.engine.audit.record(keyId, 'webhook.create', created.id, { url: created.url, events: created.events });
  return reply;
});
route('GET', '/v1/admin/webhooks', ADMIN, async (api) => ({ status: 200, body: { webhooks: await webhooksOf(api).list() } }));
route('GET', '/v1/admin/webhooks/:id', ADMIN, async (api, _req, [id]) => ({ status: 200, body: await Wh.webhookDetail(webhooksOf(api), id!) }));
route('DELETE', '/v1/admin/webhooks/:id', ADMIN, async (api, _req, [id], _role, keyId) => {
  const body = await Wh.deleteWebhook(webhooksOf(api), id!);
  api.engine.audit.record(keyId, 'webhook.delete', id!, {});
  return { status: 200, body };
});
route('GET', '/v1/admin/webhooks/:id/deliveries', ADMIN, async (api, req, [id]) => ({ status: 200, body: await Wh.deliveriesPage(webhooksOf(api), id!, req.query) }));
route('POST', '/v1/admin/webhooks/:id/redeliver', ADMIN, async (api, req, [id], _role, keyId) => {
  const body = await Wh.redeliverFrom(webhooksOf(api), id!, parseJson(req));
  api.engine.audit.record(keyId, 'webhook.redeliver', id!, { fromEventId: body['fromEventId'] ?? null });
  return { status: 202, body };
});

function match(pattern: string[], segments: string[]): string[] | null {
  if (pattern.length !== segments.length) return null;
  const params: string[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    if (p.startsWith(':')) params.push(segments[i]!);
    else if (p !== segments[i]) return null;
  }
  return params;
}

function decodeSegments(path: string): string[] | null {
  try {
    return path.split('/').filter((s) => s !== '').map((s) => decodeURIComponent(s));
  } catch {
    return null;
  }
}

/** The route a method and path go to, with the path's parameters; `pathKnown` when another method would match. */
function findRoute(method: string, segments: string[]): { found: { route: Route; params: string[] } | null; pathKnown: boolean } {
  let pathKnown = false;
  for (const r of routes) {
    const params = match(r.pattern, segments);
    if (params === null) continue;
    pathKnown = true;
    if (r.method === method) return { found: { route: r, params }, pathKnown };
  }
  return { found: null, pathKnown };
}

/** The route pattern a request goes to, or ROUTE_UNMATCHED: the label of a request answered before `handle`. */
export function routeOf(method: string, path: string): string {
  const segments = decodeSegments(path);
  return (segments === null ? null : findRoute(method, segments).found?.route.path) ?? ROUTE_UNMATCHED;
}

/**
 * Routes, authenticates, authorises and runs one request; never throws. The reply names the route
 * pattern that answered it (every reply is a fresh object, so naming it changes no one else's).
 */
export async function handle(api: Api, req: ApiRequest): Promise<ApiReply> {
  const segments = decodeSegments(req.path);
  if (segments === null) return { ...errorReply('invalid_request', 'the path is not valid percent-encoding'), route: ROUTE_UNMATCHED };
  const { found, pathKnown } = findRoute(req.method, segments);
  if (found === null) return { ...(pathKnown ? errorReply('route_not_found', `${req.method} is not allowed here`) : errorReply('route_not_found')), route: ROUTE_UNMATCHED };
  const reply = await run(api, req, found);
  reply.route = found.route.path;
  return reply;
}

async function run(api: Api, req: ApiRequest, found: { route: Route; params: string[] }): Promise<ApiReply> {
  let role: Role = 'reader';
  let keyId = '';
  if (found.route.roles !== 'public') {
    const principal = api.keys.authenticate(bearerKey(req.authorization));
    if (principal === null) return errorReply('unauthorized');
    if (!found.route.roles.includes(principal.role)) return { ...errorReply('forbidden'), keyId: principal.id };
    role = principal.role;
    keyId = principal.id;
  }
  try {
    if (found.route.doc !== undefined) checkedBody(req, found.route.doc);
    const reply = await found.route.handler(api, req, found.params, role, keyId);
    if (keyId !== '') reply.keyId = keyId;
    return reply;
  } catch (err) {
    const reply = err instanceof FieldError ? errorReply('invalid_request', `${err.field}: ${err.message}`, err.field)
      : err instanceof LoyaltyError ? errorReply(err.code, err.message, err.field) : null;
    if (reply === null) api.metrics.countInternalError();
    return { ...(reply ?? errorReply('internal')), ...(keyId === '' ? {} : { keyId }) };
  }
}
