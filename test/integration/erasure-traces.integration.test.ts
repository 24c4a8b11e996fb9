// No trace of an erased member on disk (docs/rules.md §15), on a real server: a member registered
// over HTTP (then patched, old and new values distinctive) and one imported by CSV are erased; once
// the shards have compacted their data files (by themselves after the erasures, and on
// `POST /v1/admin/compact`) and a backup is taken, no file of the data folder or of the backup
// holds any of their names, phones (as typed and in E.164), emails, addresses or birthdays, in any
// case. The erased phone registers a new member, verify is clean, and every shard's log, with its
// redacted entries, replays from empty to exactly the live books.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ServerProcess } from '../helpers/server-process.js';
import { expectReplayEqualsLive } from '../helpers/replay-check.js';

const dataDir = ServerProcess.tempDataDir();
const backupDir = join(ServerProcess.tempDataDir(), 'after-erasure');
const server = new ServerProcess(dataDir, { LOYALTY_SHARDS: '2', LOYALTY_SWEEP_INTERVAL_MS: '0', LOYALTY_TEST_COMPACT_DELAY_MS: '300' });

/** Every value of the two members that must leave the disk, as each is sent. */
const TYPED = {
  name: 'Quillon Zarathustra-Erasewell',
  newName: 'Quillon Vexmoor-Renamed',
  phone: '+852 6173 4529',
  newPhone: '+852 6284 9137',
  email: 'quillon.erasewell@example.org',
  newEmail: 'q.vexmoor.changed@example.org',
  address: '17 Forgotten Xylograph Terrace',
  newAddress: '99 Relocated Juniper Causeway',
  birthday: '1977-11-23',
  csvName: 'Imported Wolfgarth Oblivion',
  csvPhone: '+85269517384',
  csvEmail: 'wolfgarth.oblivion@example.net',
  csvAddress: '3 Imported Quagmire Row',
  csvBirthday: '1969-07-14',
};

/** The forms a value may take on disk: as sent, lowercased (the search index), phones without spaces (E.164). */
function forms(): string[] {
  const out = new Set<string>();
  for (const v of Object.values(TYPED)) {
    out.add(v);
    out.add(v.toLowerCase());
    if (v.startsWith('+852')) out.add(v.replace(/ /g, ''));
  }
  // The national number alone, and the street name without its number.
  for (const p of [TYPED.phone, TYPED.newPhone, TYPED.csvPhone]) out.add(p.replace(/ /g, '').slice(4));
  return [...out];
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path));
    else out.push(path);
  }
  return out;
}

/** `[file, value]` for every value of `forms()` found in a file under `dir`, searched as bytes (UTF-8 and UTF-16). */
function tracesUnder(dir: string): string[] {
  const found: string[] = [];
  const values = forms();
  for (const file of filesUnder(dir)) {
    const bytes = readFileSync(file);
    for (const v of values) {
      if (bytes.includes(Buffer.from(v, 'utf8')) || bytes.includes(Buffer.from(v, 'utf16le'))) found.push(`${file.slice(dir.length)}: ${v}`);
    }
  }
  return found;
}

const importCsv = (csv: string) => server.call('POST /v1/import/members', { body: csv });

beforeAll(async () => {
  await server.start();
  await server.call('POST /v1/members', { body: { memberId: 'trace-a', name: TYPED.name, phone: TYPED.phone, email: TYPED.email, address: TYPED.address, birthday: TYPED.birthday, gender: 'F' } });
  await server.call('POST /v1/purchases', { body: { orderId: 'ta-1', memberId: 'trace-a', amountCents: 12_300 } });
  await server.call('PATCH /v1/members/:id', { params: { id: 'trace-a' }, body: { name: TYPED.newName, phone: TYPED.newPhone, email: TYPED.newEmail, address: TYPED.newAddress } });
  await server.call('POST /v1/purchases', { body: { orderId: 'ta-2', memberId: 'trace-a', amountCents: 4_500 } });
  expect(await importCsv(`memberId,name,phone,email,address,birthday\ntrace-b,${TYPED.csvName},${TYPED.csvPhone},${TYPED.csvEmail},${TYPED.csvAddress},${TYPED.csvBirthday}\nkeep-c,Kept Person,,,,\n`))
    .toMatchObject({ imported: 2, failed: 0 });
  await server.call('POST /v1/purchases', { body: { orderId: 'tb-1', memberId: 'trace-b', amountCents: 8_000 } });
  // Many other members, so that freed pages are not all reused by chance.
  for (let i = 0; i < 40; i++) await server.call('POST /v1/members', { body: { memberId: `filler-${i}`, name: `Filler ${i}` } });
  // Before the erasure the values are on disk: the search below looks where they are.
  expect(tracesUnder(dataDir).length).toBeGreaterThan(0);
}, 120_000);

afterAll(async () => {
  await server.stop();
  server.cleanup();
});

describe('erasure leaves no trace on disk', () => {
  let pointsBefore = 0;

  it('leaves none in the data folder once the shards have compacted after the erasures', async () => {
    pointsBefore = (await server.call('GET /v1/members/:id', { params: { id: 'trace-a' } })).points;
    await server.call('POST /v1/members/:id/erase', { params: { id: 'trace-a' }, body: { requestId: 'trace-er-a' } });
    await server.call('POST /v1/members/:id/erase', { params: { id: 'trace-b' }, body: { requestId: 'trace-er-b' } });
    // The shards compact by themselves shortly after the erasures (300 ms here).
    const deadline = Date.now() + 20_000;
    let traces = tracesUnder(dataDir);
    while (traces.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      traces = tracesUnder(dataDir);
    }
    expect(traces).toEqual([]);
    expect((await server.call('GET /v1/members/:id', { params: { id: 'trace-a' } })).points).toBe(pointsBefore);
  }, 60_000);

  it('compacts on request, answering each shard\'s sizes and times, audited', async () => {
    const r = await server.call('POST /v1/admin/compact');
    expect(r.shards).toHaveLength(2);
    for (const s of r.shards) {
      expect(s).toEqual({ shard: expect.any(Number), bytesBefore: expect.any(Number), bytesAfter: expect.any(Number), copyMs: expect.any(Number), swapMs: expect.any(Number) });
      expect(s.bytesAfter).toBeLessThanOrEqual(s.bytesBefore);
    }
    expect((await server.call('GET /v1/admin/audit', { query: { action: 'compact' } })).records).toEqual([expect.objectContaining({ action: 'compact', target: null })]);
    // Writes and reads go on after the swap, and the reader sees them.
    await server.call('POST /v1/purchases', { body: { orderId: 'after-compact', memberId: 'keep-c', amountCents: 1_000 } });
    expect((await server.call('GET /v1/members', { query: { q: 'Kept' } })).members.map((m) => m.memberId)).toEqual(['keep-c']);
    expect(tracesUnder(dataDir)).toEqual([]);
  }, 60_000);

  it('leaves none in a backup taken after the erasures', async () => {
    await server.call('POST /v1/admin/backup', { body: { dir: backupDir } });
    expect(filesUnder(backupDir).length).toBeGreaterThan(0);
    expect(tracesUnder(backupDir)).toEqual([]);
  }, 60_000);

  it('replays every shard\'s log, redacted entries included, to the live books; a restart finds the folder clean', async () => {
    await server.stop();
    expectReplayEqualsLive(dataDir);
    expect(tracesUnder(dataDir)).toEqual([]);
    await server.start();
    expect((await server.call('GET /v1/members/:id', { params: { id: 'trace-a' } }))).toMatchObject({ name: null, phone: null, erased: true, points: pointsBefore });
  }, 180_000);

  it('frees the erased phones: new members register with them', async () => {
    expect((await server.call('POST /v1/members', { body: { memberId: 'new-a', phone: TYPED.newPhone } })).replayed).toBe(false);
    expect((await server.call('POST /v1/members', { body: { memberId: 'new-b', phone: TYPED.csvPhone } })).replayed).toBe(false);
    expect((await server.call('GET /v1/members/by-phone/:phone', { params: { phone: TYPED.csvPhone } })).memberId).toBe('new-b');
    expect((await server.call('GET /v1/admin/verify'))).toMatchObject({ ok: true, mismatches: [] });
  });
});
