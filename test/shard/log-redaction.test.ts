// An erasure's redaction of the batch log (engine/shard/log-redaction.ts): once members are erased,
// no log entry holds their names, phones, emails, addresses or birthdays (registered over the API,
// imported, patched back and forth, or registered and erased in one batch), the other members'
// entries are untouched, and the log replays from empty to the live store database by database,
// every checksum equal: the same `member_update` entries, the same birthday gift.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allEntries, openShardStore, type ShardStore } from '../../engine/shard/store.js';
import { loadCore } from '../../engine/core/wasm.js';
import { ShardMachine } from '../../engine/shard/machine.js';
import { replayShard, storeLogSource } from '../../engine/shard/replay.js';
import { diffStores } from '../../engine/shard/store-diff.js';
import { decodeLogValue, logValues, type LoggedTask } from '../../engine/shard/batch-log.js';
import { demoProgram } from '../../engine/rules/program.js';
import { toImportRows } from '../../engine/import-rows.js';
import { eraseOp, patchOp, registerOp } from '../../server/requests.js';
import type { OpResult, WriteOp } from '../../engine/ops.js';
import type { Program } from '../../engine/rules/program-types.js';

const dir = mkdtempSync(join(tmpdir(), 'loyalty-redaction-'));
const stores: ShardStore[] = [];
const T0 = Date.parse('2026-03-10T02:00:00Z');
const DAY_MS = 86_400_000;
const program: Program = { ...demoProgram(), birthday: { bonusPoints: 77, multiplierPct: 100 } };
const admin = (atMs: number) => ({ role: 'admin' as const, nowMs: atMs, defaultCountry: 'HK' });
const at = (ms: number) => ({ at: new Date(ms).toISOString() });

/** The personal values of the erased members: none may stay in the log. */
const SECRETS = ['Evelyn Secretname', 'Evelyn Othername', '+85291112222', '+85293334444', 'evelyn@example.org', '12 Hidden Road', '1980-06-15', '1981-06-15',
  'Imported Hiddenname', '+85295556666', 'Sam Samebatch', '+85297778888'];

function fresh(name: string): ShardStore {
  const store = openShardStore(join(dir, name), 256 * 1024 * 1024, { noSync: true });
  stores.push(store);
  return store;
}

afterAll(async () => {
  for (const s of stores) await s.root.close();
  rmSync(dir, { recursive: true, force: true });
});

function history(): ShardStore {
  const store = fresh('live');
  const machine = new ShardMachine(store, loadCore(), 0, { log: true });
  let clock = 1_000;
  const run = (task: LoggedTask) => machine.run(task, (clock += 1_000));
  const batch = (ops: WriteOp[]): OpResult[] => (run({ kind: 'batch', ops }) as { results: OpResult[] }).results;
  const t1 = T0 + 1_000;
  run({ kind: 'program', version: 1, program, atMs: T0, record: true });
  expect(batch([
    registerOp({ memberId: 'eve', name: 'Evelyn Secretname', phone: '+85291112222', email: 'evelyn@example.org', address: '12 Hidden Road', birthday: '1980-06-15', ...at(t1) }, admin(t1), () => 'x'),
    registerOp({ memberId: 'kept', name: 'Kept Visible', phone: '+85290001111', ...at(t1) }, admin(t1), () => 'x'),
  ]).every((r) => r.ok)).toBe(true);
  const t2 = T0 + 2 * DAY_MS;
  // A new name, then the first one again and a birthday whose year alone changes: each names its fields in a member_update entry.
  expect(batch([patchOp('eve', { name: 'Evelyn Othername', phone: '+85293334444' }, admin(t2))])[0]!.ok).toBe(true);
  expect(batch([patchOp('eve', { name: 'Evelyn Secretname', birthday: '1981-06-15' }, admin(t2 + 1))])[0]!.ok).toBe(true);
  expect(batch([patchOp('eve', { name: 'Evelyn Secretname' }, admin(t2 + 2))])[0]!.ok).toBe(true);
  run({ kind: 'import', rows: toImportRows([
    { ...registerOp({ memberId: 'imp', name: 'Imported Hiddenname', phone: '+85295556666', ...at(t2) }, admin(t2), () => 'x'), lean: true },
    { ...registerOp({ memberId: 'imp-kept', name: 'Imported Kept', ...at(t2) }, admin(t2), () => 'x'), lean: true },
  ]) });
  // Past 15 June: eve's birthday gift.
  run({ kind: 'sweep', asOfMs: T0 + 120 * DAY_MS, limit: 1_000 });
  const t3 = T0 + 121 * DAY_MS;
  const same = batch([
    registerOp({ memberId: 'sam', name: 'Sam Samebatch', phone: '+85297778888', ...at(t3) }, admin(t3), () => 'x'),
    eraseOp('sam', { requestId: 'e-sam' }, admin(t3)),
    patchOp('sam', { name: 'Sam Samebatch' }, admin(t3)),
  ]);
  expect(same.map((r) => (r.ok ? 'ok' : r.error.code))).toEqual(['ok', 'ok', 'member_erased']);
  expect(batch([eraseOp('eve', { requestId: 'e-eve' }, admin(t3 + 1))])[0]!.ok).toBe(true);
  expect(batch([eraseOp('imp', { requestId: 'e-imp' }, admin(t3 + 2))])[0]!.ok).toBe(true);
  return store;
}

describe('the redaction of the batch log on erasure', () => {
  const live = history();

  it('leaves none of the erased members\' personal values in any log entry, and the others\' as they were', () => {
    const found: string[] = [];
    let kept = 0;
    for (const [seq, value] of logValues(live)) {
      const bytes = Buffer.from(value);
      for (const s of SECRETS) if (bytes.includes(Buffer.from(s))) found.push(`${seq}: ${s}`);
      if (bytes.includes(Buffer.from('Kept Visible')) || bytes.includes(Buffer.from('Imported Kept'))) kept += 1;
    }
    expect(found).toEqual([]);
    expect(kept).toBe(2);
    const registration = (decodeLogValue(2, [...logValues(live, 2, 2)][0]![1]).task as { ops: WriteOp[] }).ops[0]!;
    expect(registration).toMatchObject({ op: 'register', memberId: 'eve', name: 'erased:eve:name:1', phone: 'erased:eve:phone:1', email: 'erased:eve:email:1', address: 'erased:eve:address:1', birthday: '0001-06-15' });
    const back = (decodeLogValue(4, [...logValues(live, 4, 4)][0]![1]).task as { ops: WriteOp[] }).ops[0]!;
    expect(back).toMatchObject({ op: 'patch', memberId: 'eve', name: 'erased:eve:name:1', birthday: '0002-06-15' });
  });

  it('replays from empty to the live store, log included, with the same entries and birthday gift', () => {
    const replayed = fresh('replayed');
    const result = replayShard(storeLogSource(live, 0), replayed);
    expect(result.stoppedBy).toBe('end');
    const diff = diffStores(live, replayed, { listedMax: 10 });
    expect(diff.differences).toEqual([]);
    const eve = [...allEntries(replayed)].map(([, e]) => e).filter((e) => e.memberId === 'eve');
    expect(eve.map((e) => e.kind === 'member_update' ? `${e.kind}:${e.ref}` : e.kind)).toEqual([
      'register', 'member_update:name,phone', 'member_update:name,birthday', 'birthday', 'member_erase',
    ]);
    expect(eve.find((e) => e.kind === 'birthday')!.pointsDelta).toBe(77);
  });
});
