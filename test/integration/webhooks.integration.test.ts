// Webhooks over a real server and a real HTTP receiver on loopback (docs/api.md, "Webhooks"):
// subscription validation and roles, signatures that verify with the documented recipe, every
// event of a mixed history arriving in order per member, a receiver down for the first half of a
// run getting everything afterwards, a receiver that hangs not holding up purchases, and an event
// marked failed after a (shortened) retry window and sent again by a redeliver.
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { ServerProcess, refusal } from '../helpers/server-process.js';
import { WebhookReceiver, type Received } from '../helpers/webhook-receiver.js';
import { hashId } from '../../engine/router/member-hash.js';
import { eventsOfEntry, WEBHOOK_EVENT_TYPES } from '../../engine/rules/webhook-events.js';
import type { AnswerOf } from '../../client/http.js';
import type { ExportedEntry } from '../../engine/rules/reports.js';

const SHARDS = 2;
const server = new ServerProcess(ServerProcess.tempDataDir(), {
  LOYALTY_SHARDS: String(SHARDS), LOYALTY_SWEEP_INTERVAL_MS: '0',
  LOYALTY_WEBHOOK_RETRY_FIRST_MS: '50', LOYALTY_WEBHOOK_TIMEOUT_MS: '1000',
});
const receivers: WebhookReceiver[] = [];

beforeAll(async () => {
  await server.start();
  const program = await server.call('GET /v1/program');
  await server.call('PUT /v1/program', { body: {
    ...program,
    pointsExpiryDays: 30,
    coupons: [{ id: 'welcome10', name: 'HK$10 off', discount: { amountCents: 1000 }, validDays: 30 }],
    couponRules: [{ id: 'welcome', trigger: 'register', templateId: 'welcome10' }],
  } });
});
afterAll(async () => {
  for (const r of receivers) await r.stop();
  await server.stop();
  server.cleanup();
});

async function receiver(): Promise<WebhookReceiver> {
  const r = new WebhookReceiver();
  await r.start();
  receivers.push(r);
  return r;
}

type EventType = (typeof WEBHOOK_EVENT_TYPES)[number];

async function subscribe(r: WebhookReceiver, events: readonly EventType[] = WEBHOOK_EVENT_TYPES): Promise<string> {
  const reply = await server.call('POST /v1/admin/webhooks', { body: { url: r.url, events: [...events] } });
  r.secret = reply.secret;
  return reply.id;
}

type LedgerEntry = AnswerOf<'GET /v1/members/:id/ledger'>['entries'][number];

/** A ledger entry as answered, as the engine holds it: the instant in ms, the kind one of the engine's. */
const asExported = (e: LedgerEntry): ExportedEntry => ({ ...e, at: Date.parse(e.at), kind: e.kind as ExportedEntry['kind'] });

/** The events a member's ledger stands for, oldest first, as the engine maps them. */
async function expectedEvents(memberId: string, types: readonly string[] = WEBHOOK_EVENT_TYPES): Promise<Array<{ id: string; type: string }>> {
  const page = await server.call('GET /v1/members/:id/ledger', { params: { id: memberId }, query: { limit: 1000 } });
  const shard = hashId(memberId) % SHARDS;
  return [...page.entries].reverse().flatMap((e) => eventsOfEntry(shard, asExported(e))).filter((e) => types.includes(e.type)).map((e) => ({ id: e.id, type: e.type }));
}

const ofMember = (list: Received[], memberId: string) => list.filter((r) => r.memberId === memberId).map((r) => ({ id: r.id, type: r.type }));

describe('subscriptions', () => {
  it('validates the URL and the event types with field paths, and refuses every key but an admin\'s', async () => {
    // Raw requests: each body is one the validator must refuse, most of them outside the body's type.
    const bad = async (body: unknown, field: string) => {
      const r = await server.post('/v1/admin/webhooks', body);
      expect(r.status).toBe(400);
      expect(r.body.error).toMatchObject({ code: 'invalid_request', field });
    };
    await bad({ url: 'ftp://127.0.0.1/x', events: ['purchase.recorded'] }, 'url');
    await bad({ url: 'not a url', events: ['purchase.recorded'] }, 'url');
    await bad({ url: 'http://user:pw@127.0.0.1/x', events: ['purchase.recorded'] }, 'url');
    await bad({ url: 'http://127.0.0.1/x', events: ['purchase.recorded', 'points.bought'] }, 'events[1]');
    await bad({ url: 'http://127.0.0.1/x', events: [] }, 'events');
    await bad({ url: 'http://127.0.0.1/x', events: ['purchase.recorded'], extra: 1 }, 'extra');
    for (const role of ['pos', 'reader', 'storefront'] as const) {
      const client = server.client((await server.call('POST /v1/admin/keys', { body: { role } })).key);
      expect((await refusal(client.call('POST /v1/admin/webhooks', { body: { url: 'http://127.0.0.1/x', events: ['purchase.recorded'] } }))).status).toBe(403);
      expect((await refusal(client.call('GET /v1/admin/webhooks'))).status).toBe(403);
    }
  });

  it('shows the secret once: the listing and the detail never carry it; a delete ends it', async () => {
    const created = await server.call('POST /v1/admin/webhooks', { body: { url: 'http://127.0.0.1:9/gone', events: ['member.registered'] } });
    expect(Object.keys(created).sort()).toEqual(['createdAt', 'events', 'id', 'secret', 'url']);
    expect(created.secret).toMatch(/^whsec_[0-9a-f]{64}$/);
    const list = (await server.call('GET /v1/admin/webhooks')).webhooks;
    const listed = list.find((w) => w.id === created.id)!;
    expect(listed).toEqual({ id: created.id, url: 'http://127.0.0.1:9/gone', events: ['member.registered'], createdAt: created.createdAt });
    expect(JSON.stringify(list)).not.toContain(created.secret);
    const detail = await server.call('GET /v1/admin/webhooks/:id', { params: { id: created.id } });
    expect('secret' in detail).toBe(false);
    expect((await server.call('DELETE /v1/admin/webhooks/:id', { params: { id: created.id } })).deleted).toBe(true);
    expect((await refusal(server.call('GET /v1/admin/webhooks/:id', { params: { id: created.id } }))).code).toBe('webhook_not_found');
  });
});

describe('deliveries', () => {
  it('deliver every event of a mixed history, signed, in order per member', async () => {
    const r = await receiver();
    const id = await subscribe(r);
    const members = ['wh-a', 'wh-b', 'wh-c', 'wh-d'];
    for (const m of members) await server.call('POST /v1/members', { body: { memberId: m } });
    for (const [i, m] of members.entries()) {
      // A purchase large enough to move the member up a tier, then a smaller one, a return and a top-up.
      await server.call('POST /v1/purchases', { body: { orderId: `wh-o${i}`, memberId: m, amountCents: 2_000_000 } });
      await server.call('POST /v1/purchases', { body: { orderId: `wh-p${i}`, memberId: m, amountCents: 10_000 } });
      await server.call('POST /v1/returns', { body: { returnId: `wh-r${i}`, orderId: `wh-p${i}`, amountCents: 5_000 } });
      await server.call('POST /v1/wallet/topups', { body: { requestId: `wh-t${i}`, memberId: m, amountCents: 1_000 } });
    }
    // A member of 40 days ago whose points and welcome coupon expired 10 days ago, with a profile
    // change: the sweep writes the notices (7 days before the expiries) and the expiries, and the
    // webhooks follow (a coupon's expiry itself sends nothing).
    const old = 'wh-old';
    const agoIso = (days: number) => new Date(Date.now() - days * 86_400_000).toISOString();
    await server.call('POST /v1/members', { body: { memberId: old, at: agoIso(40) } });
    await server.call('POST /v1/purchases', { body: { orderId: 'wh-old-o', memberId: old, amountCents: 100_000, at: agoIso(40) } });
    await server.call('POST /v1/admin/sweep', { body: {} });
    await server.call('PATCH /v1/members/:id', { params: { id: old }, body: { name: 'Renamed' } });
    members.push(old);
    const expected = new Map<string, Array<{ id: string; type: string }>>();
    for (const m of members) expected.set(m, await expectedEvents(m));
    expect(expected.get(old)!.map((e) => e.type)).toEqual([
      'member.registered', 'coupon.issued', 'purchase.recorded', 'member.tier_changed', 'points.expiring', 'points.expired', 'coupon.expiring', 'member.updated',
    ]);
    const total = [...expected.values()].reduce((s, l) => s + l.length, 0);
    await r.waitFor(() => r.unique().length >= total);
    for (const m of members) expect(ofMember(r.unique(), m)).toEqual(expected.get(m));
    const types = new Set(r.unique().map((e) => e.type));
    for (const t of ['member.registered', 'coupon.issued', 'purchase.recorded', 'member.tier_changed', 'return.recorded', 'wallet.changed', 'member.updated', 'points.expiring', 'points.expired', 'coupon.expiring']) expect(types, t).toContain(t);
    const notice = r.unique().find((e) => e.type === 'points.expiring')!;
    expect(notice.data).toMatchObject({ kind: 'points_expiring', pointsDelta: 0, expiringPoints: 50 });
    expect(Date.parse(notice.data['expiresAt'] as string) - Date.parse(notice.at)).toBe(7 * 86_400_000);
    expect(r.received.every((e) => e.verified && e.headerId === e.id)).toBe(true);
    expect(Math.abs(r.received[0]!.tSeconds - Date.now() / 1000)).toBeLessThan(60);
    const deliveries = await server.call('GET /v1/admin/webhooks/:id/deliveries', { params: { id }, query: { limit: 5 } });
    expect(deliveries.attempts).toHaveLength(5);
    expect(deliveries.attempts[0]).toMatchObject({ statusCode: 200, error: null, outcome: 'delivered' });
    // The attempts page lists attempts in the order their answers were recorded, and the receiver
    // lists requests in the order it read them: with a lane per shard delivering at once, the two
    // orders can differ by a request, so each listed attempt is checked against what arrived.
    const arrived = new Set(r.received.map((e) => e.id));
    for (const a of deliveries.attempts) expect(arrived.has(a.eventId), a.eventId).toBe(true);
    expect(r.unique().slice(-4).map((e) => e.id)).toContain(deliveries.attempts[0]!.eventId);
    expect(deliveries.nextCursor).toBe('5');
    await server.call('DELETE /v1/admin/webhooks/:id', { params: { id } });
  });

  it('a receiver down for the first half of a run gets everything afterwards, in order', async () => {
    const r = await receiver();
    await subscribe(r, ['member.registered', 'purchase.recorded']);
    r.mode = 'down';
    const members = ['wh-down-a', 'wh-down-b', 'wh-down-c'];
    for (const m of members) await server.call('POST /v1/members', { body: { memberId: m } });
    for (let i = 0; i < 10; i++) {
      for (const m of members) await server.call('POST /v1/purchases', { body: { orderId: `${m}-o${i}`, memberId: m, amountCents: 1_000 } });
    }
    await new Promise((res) => setTimeout(res, 300));
    expect(r.received).toHaveLength(0);
    r.mode = 'ok';
    for (const m of members) await server.call('POST /v1/purchases', { body: { orderId: `${m}-late`, memberId: m, amountCents: 1_000 } });
    await r.waitFor(() => r.unique().length >= members.length * 12);
    for (const m of members) expect(ofMember(r.unique(), m)).toEqual(await expectedEvents(m, ['member.registered', 'purchase.recorded']));
  });

  it('a receiver that hangs does not hold up purchases', async () => {
    const r = await receiver();
    const id = await subscribe(r, ['purchase.recorded']);
    r.mode = 'hang';
    await server.call('POST /v1/members', { body: { memberId: 'wh-hang' } });
    const startMs = performance.now();
    for (let i = 0; i < 100; i++) await server.call('POST /v1/purchases', { body: { orderId: `wh-hang-${i}`, memberId: 'wh-hang', amountCents: 100 } });
    const elapsedMs = performance.now() - startMs;
    // 100 purchases one after the other take well under a second here; the receiver's timeout alone is 1 s.
    expect(elapsedMs).toBeLessThan(5_000);
    await server.call('DELETE /v1/admin/webhooks/:id', { params: { id } });
  });

  it('marks an event failed once its retry window is over, moves on, and sends it again on a redeliver', async () => {
    // A server of its own, with the retry window shortened from 72 h to 1.5 s (LOYALTY_WEBHOOK_RETRY_WINDOW_MS).
    const server = new ServerProcess(ServerProcess.tempDataDir(), {
      LOYALTY_SHARDS: String(SHARDS), LOYALTY_SWEEP_INTERVAL_MS: '0',
      LOYALTY_WEBHOOK_RETRY_FIRST_MS: '50', LOYALTY_WEBHOOK_TIMEOUT_MS: '1000', LOYALTY_WEBHOOK_RETRY_WINDOW_MS: '1500',
    });
    await server.start();
    onTestFinished(async () => { await server.stop(); server.cleanup(); });
    const expectedEvents = async (memberId: string, types: readonly string[]) => {
      const page = await server.call('GET /v1/members/:id/ledger', { params: { id: memberId }, query: { limit: 1000 } });
      return [...page.entries].reverse().flatMap((e) => eventsOfEntry(hashId(memberId) % SHARDS, asExported(e))).filter((e) => types.includes(e.type));
    };
    const r = await receiver();
    const reply = await server.call('POST /v1/admin/webhooks', { body: { url: r.url, events: ['purchase.recorded'] } });
    r.secret = reply.secret;
    const id = reply.id;
    r.mode = 'down';
    await server.call('POST /v1/members', { body: { memberId: 'wh-fail' } });
    await server.call('POST /v1/purchases', { body: { orderId: 'wh-fail-1', memberId: 'wh-fail', amountCents: 100 } });
    const [first] = await expectedEvents('wh-fail', ['purchase.recorded']);
    // The window is 1.5 s with a first retry after 50 ms: attempts at 0, 50, 150, 350, 750 ms, then failed.
    let failed: AnswerOf<'GET /v1/admin/webhooks/:id'>['failed'] = [];
    for (let i = 0; i < 100 && failed.length === 0; i++) {
      await new Promise((res) => setTimeout(res, 100));
      failed = (await server.call('GET /v1/admin/webhooks/:id', { params: { id } })).failed;
    }
    expect(failed).toEqual([expect.objectContaining({ eventId: first!.id, type: 'purchase.recorded', memberId: 'wh-fail', lastError: 'HTTP 503' })]);
    const attempts = (await server.call('GET /v1/admin/webhooks/:id/deliveries', { params: { id } })).attempts;
    expect(attempts[0]).toMatchObject({ eventId: first!.id, statusCode: 503, outcome: 'failed' });
    expect(attempts.filter((a) => a.eventId === first!.id).length).toBeGreaterThanOrEqual(4);
    r.mode = 'ok';
    await server.call('POST /v1/purchases', { body: { orderId: 'wh-fail-2', memberId: 'wh-fail', amountCents: 100 } });
    await r.waitFor(() => r.received.length >= 1);
    const second = (await expectedEvents('wh-fail', ['purchase.recorded']))[1]!;
    expect(r.received.map((e) => e.id)).toEqual([second.id]);
    expect(await refusal(server.call('POST /v1/admin/webhooks/:id/redeliver', { params: { id }, body: { fromEventId: 'nope' } }))).toMatchObject({ status: 400, code: 'invalid_request', field: 'fromEventId' });
    expect((await server.call('POST /v1/admin/webhooks/:id/redeliver', { params: { id }, body: { fromEventId: first!.id } })).fromEventId).toBe(first!.id);
    await r.waitFor(() => r.received.length >= 3);
    expect(r.received.map((e) => e.id)).toEqual([second.id, first!.id, second.id]);
  });
});
