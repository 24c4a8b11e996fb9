// Every instant a client sends is refused before 2000-01-01T00:00:00Z, wherever it is sent: an op's
// `at` (HTTP body, stream op), `GET /v1/members/{id}/balance?at=`, the sweep's and the RFM report's
// `asOf`. Before, only an op's `at` was bounded: `balance?at=1900-01-01T00:00:00Z` and a sweep as of
// 1969 reached the engine with a negative time. The routes run in-process against an engine that
// records what reaches it, so a refusal is seen to reach nothing.
import { describe, expect, it } from 'vitest';
import { handle, type Api, type ApiReply } from '../../server/routes.js';
import type { Engine } from '../../engine/router/engine.js';
import type { KeyStore } from '../../server/auth.js';
import type { Metrics } from '../../server/metrics.js';
import { purchaseOp } from '../../server/requests.js';
import { FieldError } from '../../engine/rules/validate.js';

const NOW_MS = Date.parse('2026-03-10T02:00:00Z');
/** Before 2000-01-01T00:00:00Z in UTC, however the instant is written. */
const ANCIENT = ['1999-12-31T23:59:59.999Z', '2000-01-01T04:59:59.999+05:00', '1999-12-31T23:30:00+05:00', '1970-01-01T00:00:00Z', '1969-07-20T20:17:40Z', '1900-01-01T00:00:00Z'];
/** At or after it, also written with an offset that puts the local time in 1999. */
const ACCEPTED = ['2000-01-01T00:00:00Z', '1999-12-31T23:30:00-05:00', '1999-12-31T19:00:00.000-05:00'];

function api(): { api: Api; reached: string[] } {
  const reached: string[] = [];
  const engine = {
    now: () => NOW_MS,
    queryMember: async (q: { atMs: number }) => { reached.push(`balance ${q.atMs}`); return { at: new Date(q.atMs).toISOString(), points: 0, growth: 0, walletCents: 0 }; },
    sweep: async (asOfMs: number) => { reached.push(`sweep ${asOfMs}`); return { asOf: new Date(asOfMs).toISOString(), members: 0 }; },
    rfm: async (asOfMs: number) => { reached.push(`rfm ${asOfMs}`); return { asOf: new Date(asOfMs).toISOString(), members: 0, segments: {} }; },
    audit: { record: () => undefined },
  };
  const keys = { authenticate: () => ({ role: 'admin' }) };
  const metrics = { countInternalError: () => undefined };
  return { api: { engine: engine as unknown as Engine, keys: keys as unknown as KeyStore, metrics: metrics as unknown as Metrics }, reached };
}

const request = (a: Api, method: string, path: string, body: unknown = undefined): Promise<ApiReply> => {
  const url = new URL(path, 'http://x');
  return handle(a, { method, path: url.pathname, query: url.searchParams, authorization: 'Bearer k', body: body === undefined ? '' : JSON.stringify(body) });
};
const refusal = (reply: ApiReply) => [reply.status, (reply.body as { error?: { code: string; field?: string } }).error];

describe('an instant before 2000', () => {
  it('is refused on balance?at=, naming `at`, and reaches nothing', async () => {
    const { api: a, reached } = api();
    for (const at of ANCIENT) {
      expect([at, ...refusal(await request(a, 'GET', `/v1/members/m1/balance?at=${encodeURIComponent(at)}`))])
        .toEqual([at, 400, expect.objectContaining({ code: 'invalid_request', field: 'at' })]);
    }
    expect(reached).toEqual([]);
    for (const at of ACCEPTED) expect((await request(a, 'GET', `/v1/members/m1/balance?at=${encodeURIComponent(at)}`)).status).toBe(200);
    expect(reached).toEqual(ACCEPTED.map((at) => `balance ${Date.parse(at)}`));
  });

  it('is refused as the sweep\'s and the RFM report\'s asOf, naming `asOf`', async () => {
    const { api: a, reached } = api();
    for (const asOf of ANCIENT) {
      expect([asOf, ...refusal(await request(a, 'POST', '/v1/admin/sweep', { asOf }))]).toEqual([asOf, 400, expect.objectContaining({ code: 'invalid_request', field: 'asOf' })]);
      expect([asOf, ...refusal(await request(a, 'GET', `/v1/reports/rfm?asOf=${encodeURIComponent(asOf)}`))]).toEqual([asOf, 400, expect.objectContaining({ code: 'invalid_request', field: 'asOf' })]);
    }
    expect(reached).toEqual([]);
    expect((await request(a, 'POST', '/v1/admin/sweep', { asOf: ACCEPTED[1] })).status).toBe(200);
    expect(reached).toEqual([`sweep ${Date.parse(ACCEPTED[1]!)}`]);
  });

  it('is refused as an op\'s `at` (HTTP and stream build ops alike), in ISO with any offset and in ms', () => {
    const ctx = { role: 'admin' as const, nowMs: NOW_MS, defaultCountry: 'HK' };
    for (const at of [...ANCIENT, 946_684_799_999, 0]) {
      let refused: unknown = null;
      try { purchaseOp({ orderId: 'o1', memberId: 'm1', amountCents: 100, at }, ctx); } catch (err) { refused = err instanceof FieldError ? [err.field, err.message] : err; }
      expect([at, refused]).toEqual([at, ['at', 'must not be before 2000-01-01T00:00:00Z']]);
    }
    for (const at of ACCEPTED) expect(purchaseOp({ orderId: 'o1', memberId: 'm1', amountCents: 100, at }, ctx).atMs).toBe(Date.parse(at));
  });
});
