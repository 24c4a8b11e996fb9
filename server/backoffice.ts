// The back-office endpoints' handlers (docs/rules.md §10): the daily, campaign and RFM reports, the CSV member
// import and the CSV exports. Plain functions of a parsed request, registered in routes.ts; they
// throw FieldError or LoyaltyError, which the router turns into the catalogue's error replies.
import { checkDay } from '../engine/rules/local-day.js';
import { RFM_SEGMENTS, type RfmSegment } from '../engine/rules/rfm.js';
import { FieldError } from '../engine/rules/validate.js';
import { parseAt } from './requests.js';
import { importMembers } from './import-members.js';
import { ledgerCsv, membersCsv } from './export-csv.js';
import type { Api, ApiReply, ApiRequest } from './routes.js';
import type { Role } from './auth.js';

/** GET /v1/reports/daily?from=YYYY-MM-DD&to=YYYY-MM-DD: one row per local day, both ends included. */
export async function dailyReport(api: Api, req: ApiRequest): Promise<ApiReply> {
  const from = checkDay(req.query.get('from'), 'from');
  const to = checkDay(req.query.get('to'), 'to');
  return { status: 200, body: await api.engine.daily(from, to) };
}

/** GET /v1/reports/campaigns?from=YYYY-MM-DD&to=YYYY-MM-DD: per campaign, the orders placed on those local days, both ends included. */
export async function campaignReport(api: Api, req: ApiRequest): Promise<ApiReply> {
  const from = checkDay(req.query.get('from'), 'from');
  const to = checkDay(req.query.get('to'), 'to');
  return { status: 200, body: await api.engine.campaignReport(from, to) };
}

/** GET /v1/reports/rfm?asOf=ISO&segment=: scores and segments; `segment` lists one segment's members only. */
export async function rfmReport(api: Api, req: ApiRequest): Promise<ApiReply> {
  const at = req.query.get('asOf');
  const asOfMs = at === null || at === '' ? api.engine.now() : parseAt(at, 'asOf', api.engine.now());
  const segment = req.query.get('segment');
  if (segment !== null && !RFM_SEGMENTS.includes(segment as RfmSegment)) throw new FieldError('segment', `must be one of ${RFM_SEGMENTS.join(', ')}`);
  return { status: 200, body: await api.engine.rfm(asOfMs, segment === null ? undefined : segment as RfmSegment) };
}

/** POST /v1/import/members: the body's chunks as the HTTP layer streams them (or CSV text, in tests without a socket). */
export async function importMembersReply(api: Api, req: ApiRequest, _params: string[], _role: Role, keyId: string): Promise<ApiReply> {
  const source = req.bodyStream ?? req.body;
  const result = await importMembers(api.engine, source, undefined, keyId);
  api.engine.audit.record(keyId, 'import', null, { rows: result.imported + result.skipped + result.failed, accepted: result.imported, skipped: result.skipped, refused: result.failed });
  return { status: 200, body: result };
}

/** A CSV reply streamed with backpressure: memory stays flat for an export of any size. */
export function csvReply(chunks: AsyncIterable<string>, filename: string): ApiReply {
  return {
    status: 200, body: null, chunks,
    headers: { 'Content-Type': 'text/csv; charset=utf-8', 'Content-Disposition': `attachment; filename="${filename}"` },
  };
}

/** GET /v1/export/members.csv */
export function exportMembers(api: Api): ApiReply {
  return csvReply(membersCsv(api.engine), 'members.csv');
}

/** GET /v1/export/ledger.csv?from=&to= (local dates, both or neither). */
export function exportLedger(api: Api, req: ApiRequest): ApiReply {
  const range = ledgerRange(req.query);
  return csvReply(ledgerCsv(api.engine, range), 'ledger.csv');
}

export function ledgerRange(query: URLSearchParams): { from: string; to: string } | undefined {
  const from = query.get('from');
  const to = query.get('to');
  if ((from === null || from === '') && (to === null || to === '')) return undefined;
  const range = { from: checkDay(from, 'from'), to: checkDay(to, 'to') };
  if (range.to < range.from) throw new FieldError('to', 'must not be before from');
  return range;
}
