// The coupons' back-office endpoints (docs/rules.md §10.6): the coupon report over local dates and
// the coupons CSV export. Plain functions of a parsed request, registered in routes.ts; a bad date
// is a FieldError, which the router answers as `400 invalid_request` naming the parameter.
import type { Engine } from '../engine/router/engine.js';
import { checkDay } from '../engine/rules/local-day.js';
import { COUPON_COLUMNS } from '../engine/rules/coupon-views.js';
import { EXPORT_PAGE_ROWS } from '../engine/limits.js';
import { CSV_BOM, csvLine } from './member-csv.js';
import { csvReply } from './backoffice.js';
import type { Api, ApiReply, ApiRequest } from './routes.js';

/** GET /v1/reports/coupons?from=YYYY-MM-DD&to=YYYY-MM-DD: per template, local days from..to, both included. */
export async function couponReport(api: Api, req: ApiRequest): Promise<ApiReply> {
  const from = checkDay(req.query.get('from'), 'from');
  const to = checkDay(req.query.get('to'), 'to');
  return { status: 200, body: await api.engine.couponReport(from, to) };
}

/**
 * Every coupon, shard by shard and in code order within a shard, in COUPON_COLUMNS: a byte-order
 * mark first and formula-like text neutralised as in the other exports (server/member-csv.ts),
 * one bounded page read at a time.
 */
export async function* couponsCsv(engine: Engine): AsyncGenerator<string> {
  yield CSV_BOM + csvLine(COUPON_COLUMNS);
  for (let shard = 0; shard < engine.shards.length; shard++) {
    for (let after: string | null | undefined; after !== null;) {
      const page = await engine.couponsPage(shard, after ?? null, EXPORT_PAGE_ROWS);
      if (page.rows.length > 0) yield page.rows.map(csvLine).join('');
      after = page.next;
    }
  }
}

/** GET /v1/export/coupons.csv */
export function exportCoupons(api: Api): ApiReply {
  return csvReply(couponsCsv(api.engine), 'coupons.csv');
}
