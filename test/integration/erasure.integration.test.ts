// Erasure end to end (docs/rules.md §15): `POST /v1/members/{id}/erase` removes the profile's
// personal data and frees its phone and email (a new member registers with that phone), keeps the
// figures, marks the member erased with a `member_erase` entry; later writes naming the member are
// `422 member_erased` and change nothing; returns of its earlier orders and outbox credits still
// apply; exports, search and lookups show no personal data of it; the audit trail records it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerProcess, refusal } from '../helpers/server-process.js';
import { StreamTerminal } from '../../bench/stream-terminal.js';
import { expectReplayEqualsLive } from '../helpers/replay-check.js';

const dataDir = ServerProcess.tempDataDir();
const server = new ServerProcess(dataDir, { LOYALTY_SHARDS: '2', LOYALTY_SWEEP_INTERVAL_MS: '0' });
const NAME = 'Lam Kar-erasable';
const PHONE = '+85261239876';
const EMAIL = 'erase.me@example.org';
let adminId = '';

/** A refusal as [status, code, field]. */
const refused = async (answer: Promise<unknown>) => {
  const e = await refusal(answer);
  return [e.status, e.code, e.field ?? null];
};

beforeAll(async () => {
  await server.start();
  adminId = (await server.call('GET /v1/whoami')).keyId;
  const program = (await server.call('GET /v1/program'));
  await server.call('PUT /v1/program', { body: {
    ...program,
    referral: { enabled: true, refereePoints: 0, levels: [{ registerPoints: 10, firstPurchasePoints: 0, repeatPurchasePoints: 0, purchaseSharePct: 10 }] },
  } });
  await server.call('POST /v1/members', { body: { memberId: 'gone', name: NAME, phone: PHONE, email: EMAIL, birthday: '1985-03-04', gender: 'F', address: '8 Hidden Lane' } });
  await server.call('POST /v1/members', { body: { memberId: 'kid', referrerId: 'gone' } });
  await server.call('POST /v1/members', { body: { memberId: 'other' } });
  await server.call('POST /v1/purchases', { body: { orderId: 'g-1', memberId: 'gone', amountCents: 50_000 } });
  await server.call('POST /v1/purchases', { body: { orderId: 'g-2', memberId: 'gone', amountCents: 20_000 } });
  await server.call('POST /v1/wallet/topups', { body: { requestId: 't-1', memberId: 'gone', amountCents: 10_000 } });
}, 60_000);

afterAll(async () => {
  await server.stop();
  server.cleanup();
});

describe('erasure', () => {
  let figures: Record<string, unknown>;
  let ledgerBefore: unknown[];

  it('erases the personal data, keeps the figures and marks the member', async () => {
    const before = (await server.call('GET /v1/members/:id', { params: { id: 'gone' } }));
    const r = await server.call('POST /v1/members/:id/erase', { params: { id: 'gone' }, body: { requestId: 'er-1' } });
    expect(r).toMatchObject({ memberId: 'gone', erased: true, replayed: false });
    const again = await server.call('POST /v1/members/:id/erase', { params: { id: 'gone' }, body: { requestId: 'er-1' } });
    expect(again).toMatchObject({ memberId: 'gone', erased: true, erasedAt: r.erasedAt, replayed: true });
    const after = (await server.call('GET /v1/members/:id', { params: { id: 'gone' } }));
    expect(after).toMatchObject({ name: null, phone: null, email: null, birthday: null, gender: null, address: null, erased: true, erasedAt: r.erasedAt });
    for (const k of ['points', 'walletCents', 'lifetimeSpendCents', 'purchaseCount', 'tierId', 'growth'] as const) expect(after[k], k).toEqual(before[k]);
    figures = after;
    const entries = (await server.call('GET /v1/members/:id/ledger', { params: { id: 'gone' }, query: { limit: '100' } })).entries;
    expect(entries[0]).toMatchObject({ kind: 'member_erase', pointsDelta: 0, walletDeltaCents: 0, keyId: adminId, ref: 'req:er-1' });
    ledgerBefore = entries;
    expect((await server.call('GET /v1/admin/audit', { query: { action: 'member.erase' } })).records).toEqual([
      { at: expect.any(String), keyId: adminId, action: 'member.erase', target: 'gone', details: {} },
    ]);
    expect((await server.call('GET /v1/admin/verify'))).toMatchObject({ ok: true, mismatches: [] });
  });

  it('frees the phone and email: a new member registers with them', async () => {
    expect((await refusal(server.call('GET /v1/members/by-phone/:phone', { params: { phone: PHONE } }))).status).toBe(404);
    expect((await server.call('POST /v1/members', { body: { memberId: 'newcomer', name: 'Someone Else', phone: PHONE, email: EMAIL } })).replayed).toBe(false);
    expect((await server.call('GET /v1/members/by-phone/:phone', { params: { phone: PHONE } })).memberId).toBe('newcomer');
  });

  it('refuses later writes naming the member with member_erased, changing nothing', async () => {
    expect(await refused(server.call('POST /v1/purchases', { body: { orderId: 'g-3', memberId: 'gone', amountCents: 1_000 } }))).toEqual([422, 'member_erased', 'memberId']);
    expect(await refused(server.call('POST /v1/members', { body: { memberId: 'gone', name: 'Back again' } }))).toEqual([422, 'member_erased', 'memberId']);
    expect(await refused(server.call('PATCH /v1/members/:id', { params: { id: 'gone' }, body: { name: 'Back again', phone: '+85261110000' } }))).toEqual([422, 'member_erased', 'memberId']);
    expect(await refused(server.call('POST /v1/points/adjustments', { body: { requestId: 'a-1', memberId: 'gone', points: 5, reason: 'x' } }))).toEqual([422, 'member_erased', 'memberId']);
    expect(await refused(server.call('POST /v1/wallet/topups', { body: { requestId: 't-2', memberId: 'gone', amountCents: 1_000 } }))).toEqual([422, 'member_erased', 'memberId']);
    expect(await refused(server.call('POST /v1/points/redemptions', { body: { requestId: 'r-1', memberId: 'gone', points: 1 } }))).toEqual([422, 'member_erased', 'memberId']);
    expect(await refused(server.call('POST /v1/members', { body: { memberId: 'kid2', referrerId: 'gone' } }))).toEqual([422, 'member_erased', 'referrerId']);
    expect(await refused(server.call('POST /v1/wallet/transfers', { body: { requestId: 'x-1', fromMemberId: 'other', toMemberId: 'gone', amountCents: 1 } }))).toEqual([422, 'member_erased', 'toMemberId']);
    const terminal = await StreamTerminal.open(`ws://127.0.0.1:${server.port}/v1/stream`, server.adminKey);
    terminal.send({ type: 'batch', id: 1, ops: [{ op: 'purchase', orderId: 's-1', memberId: 'gone', amountCents: 3_000 }] });
    expect((await terminal.ack(1)).results).toEqual([{ ok: false, error: expect.objectContaining({ code: 'member_erased' }) }]);
    terminal.ws.close();
    // The phone a refused patch named is not held for the erased member.
    expect((await server.call('POST /v1/members', { body: { memberId: 'p2', phone: '+85261110000' } })).replayed).toBe(false);
    const after = (await server.call('GET /v1/members/:id', { params: { id: 'gone' } }));
    expect(after).toEqual(figures);
    expect((await server.call('GET /v1/members/:id/ledger', { params: { id: 'gone' }, query: { limit: '100' } })).entries).toEqual(ledgerBefore);
  });

  it('still applies returns of earlier orders, and their referral reversals', async () => {
    await server.call('POST /v1/returns', { body: { returnId: 'ret-1', orderId: 'g-1', amountCents: 10_000 } });
    const after = (await server.call('GET /v1/members/:id', { params: { id: 'gone' } }));
    expect(after.lifetimeSpendCents).toBe((figures['lifetimeSpendCents'] as number) - 10_000);
    expect(after).toMatchObject({ name: null, phone: null, erased: true });
    expect((await server.call('GET /v1/admin/verify'))).toMatchObject({ ok: true, mismatches: [] });
  });

  it('shows no personal data in the members export or search', async () => {
    const csv = await server.call('GET /v1/export/members.csv');
    expect(csv).toContain('gone,');
    expect(csv).not.toContain(NAME);
    expect(csv).not.toContain('8 Hidden Lane');
    expect(csv).not.toContain('1985-03-04');
    const found = (await server.call('GET /v1/members', { query: { q: 'Lam Kar' } }));
    expect(JSON.stringify(found)).not.toContain('gone');
  });

  it('replays exactly, the erasure included', async () => {
    await server.stop();
    expectReplayEqualsLive(dataDir);
    await server.start();
    expect((await server.call('GET /v1/members/:id', { params: { id: 'gone' } }))).toMatchObject({ name: null, erased: true });
  }, 120_000);
});
