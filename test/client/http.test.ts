// The HTTP client against a scripted fetch: the method, the encoded path, the query, the key and the
// body it sends, and the answers it gives back (the body, or an ApiError with the catalogue's code).
import { describe, expect, it } from 'vitest';
import { ApiError, LoyaltyClient } from '../../client/http.js';

function fakeFetch(status: number, body: unknown, headers: Record<string, string> = {}) {
  const calls: Array<{ url: string; init: RequestInit }> = [];
  const fn = (async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
  }) as unknown as typeof fetch;
  return { fn, calls };
}

describe('LoyaltyClient', () => {
  it('sends the route\'s method, encoded path, query, key and JSON body', async () => {
    const f = fakeFetch(200, { entries: [], nextCursor: null });
    const client = new LoyaltyClient({ baseUrl: 'http://127.0.0.1:1', key: 'k_1', fetch: f.fn });
    const page = await client.call('GET /v1/members/:id/ledger', { params: { id: 'a b/c' }, query: { limit: 5, cursor: undefined } });
    expect(page.nextCursor).toBeNull();
    expect(f.calls[0]!.url).toBe('http://127.0.0.1:1/v1/members/a%20b%2Fc/ledger?limit=5');
    expect(f.calls[0]!.init).toMatchObject({ method: 'GET', headers: { authorization: 'Bearer k_1' } });
    await client.purchase({ orderId: 'o-1', memberId: 'm', amountCents: 100 });
    expect(f.calls[1]!.init).toMatchObject({ method: 'POST', body: '{"orderId":"o-1","memberId":"m","amountCents":100}', headers: { 'content-type': 'application/json' } });
  });

  it('throws ApiError with the code, field, status and Retry-After of a refusal', async () => {
    const f = fakeFetch(400, { error: { code: 'invalid_request', message: 'amountCents: must be an integer', field: 'amountCents' } });
    const client = new LoyaltyClient({ baseUrl: 'http://127.0.0.1:1', key: 'k_1', fetch: f.fn });
    await expect(client.purchase({ orderId: 'o', memberId: 'm', amountCents: 1 })).rejects.toMatchObject({ name: 'ApiError', status: 400, code: 'invalid_request', field: 'amountCents' });
    const busy = fakeFetch(503, { error: { code: 'overloaded', message: 'busy' } }, { 'retry-after': '1' });
    const err = await new LoyaltyClient({ baseUrl: 'http://x', key: null, fetch: busy.fn }).member('m').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ code: 'overloaded', retryAfterS: 1 });
  });
});
