// Backup while serving and restore, end to end on real servers: a backup taken with `loyalty
// backup` while three POS terminals stream purchases, top-ups and cross-shard transfers is one
// consistent point (every purchase acked before it began is in it; every cross-shard credit in it is
// still in its sender's outbox or applied at its target, never half of one), restores into a
// folder that a server starts on, delivers what was in flight exactly once, and verifies with money
// conserved. A credit both applied and still in the outbox (what a copy can hold) is delivered again
// at the restored folder's start and applied once. `loyalty restore` refuses a target that is not
// empty or is in use.
import { afterAll, describe, expect, it } from 'vitest';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { execFile, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, ServerProcess, refusal } from '../helpers/server-process.js';
import type { AnswerOf } from '../../client/http.js';
import type { BackupManifestDoc } from '../../engine/rules/backup-manifest.js';
import { expectReplayEqualsLive } from '../helpers/replay-check.js';
import { PosLoad } from '../../bench/pos-load.js';
import { hashId } from '../../engine/router/member-hash.js';
import { allEntries, openShardStore } from '../../engine/shard/store.js';
import { decodeState } from '../../engine/shard/codec.js';
import { logPosition } from '../../engine/shard/batch-log.js';
import type { OutboxMessage } from '../../engine/rules/member-state.js';
import type { StoredEntry } from '../../engine/ops.js';

const SHARDS = 4;
const root = mkdtempSync(join(tmpdir(), 'loyalty-backup-it-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Run { status: number | null; stdout: string; stderr: string }

function cli(env: Record<string, string>, ...args: string[]): Run {
  const r = spawnSync(process.execPath, [join(ROOT, 'dist/cli/loyalty.js'), ...args], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The same without blocking this process, whose terminals keep streaming meanwhile. */
function cliAsync(env: Record<string, string>, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'dist/cli/loyalty.js'), ...args], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ status: err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null, stdout, stderr });
    });
  });
}

async function waitUntil(what: string, done: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A stopped data folder's books, read shard by shard. */
interface Books {
  entries: Array<StoredEntry & { shard: number }>;
  outbox: Array<OutboxMessage & { shard: number }>;
  wallets: Map<string, number>;
  orders: Set<string>;
  logSeq: number[];
}

function readBooks(dataDir: string, shards: number): Books {
  const books: Books = { entries: [], outbox: [], wallets: new Map(), orders: new Set(), logSeq: [] };
  for (let shard = 0; shard < shards; shard++) {
    const store = openShardStore(join(dataDir, `shard-${shard}`), undefined, { readOnly: true });
    for (const [, e] of allEntries(store)) books.entries.push({ ...e, shard });
    for (const { value } of store.outbox.getRange()) books.outbox.push({ ...value, shard });
    for (const { key, value } of store.states.getRange()) books.wallets.set(key, decodeState(value).walletCents);
    for (const key of store.orders.getKeys()) books.orders.add(key);
    books.logSeq.push(logPosition(store).seq);
    void store.root.close();
  }
  return books;
}

/** Waits until a server's books stop moving (cross-shard credits land after their acks). */
async function settled(server: ServerProcess): Promise<void> {
  const figures = async () => JSON.stringify((await server.call('GET /v1/reports/summary')));
  let seen = await figures();
  await waitUntil('the books settle', async () => {
    await new Promise((r) => setTimeout(r, 150));
    const now = await figures();
    const same = now === seen;
    seen = now;
    return same;
  });
}

const sum = (xs: Iterable<number>) => { let s = 0; for (const x of xs) s += x; return s; };

describe('a backup while terminals stream', () => {
  it('is one consistent point: restored, it verifies, conserves money and holds every purchase acked before it', async () => {
    const dataDir = join(root, 'live');
    const backupDir = join(root, 'backup-1');
    const restoredDir = join(root, 'restored-1');
    const server = new ServerProcess(dataDir, { LOYALTY_SHARDS: String(SHARDS), LOYALTY_SWEEP_INTERVAL_MS: '0' });
    await server.start();
    const load = new PosLoad({
      streamUrl: `ws://127.0.0.1:${server.port}/v1/stream`, key: server.adminKey, shards: SHARDS,
      terminals: 3, membersPerTerminal: 12, batchOps: 25, windowBatches: 4, pauseMs: 0, seed: 7,
    });
    let report: AnswerOf<'POST /v1/admin/backup'> | undefined;
    let backupStartedMs = 0;
    try {
      await load.setup();
      load.start();
      await waitUntil('the terminals are streaming', () => load.batches.length >= 40);
      backupStartedMs = Date.now();
      const run = await cliAsync({ LOYALTY_DATA: dataDir, LOYALTY_URL: `http://127.0.0.1:${server.port}` }, 'backup', backupDir);
      expect(run.status, run.stderr).toBe(0);
      report = JSON.parse(run.stdout) as AnswerOf<'POST /v1/admin/backup'>;
      // Writes went on while it ran and after it.
      const ackedAtEnd = load.batches.length;
      await waitUntil('more batches are acked', () => load.batches.length >= ackedAtEnd + 20);
      await load.stop();
    } finally {
      await server.stop();
    }
    expect(load.failures).toEqual([]);
    if (report === undefined) throw new Error('the backup did not answer');

    // The manifest: every shard at its log position, every file with its size and digest, 0600 in a 0700 folder.
    const manifest = JSON.parse(readFileSync(join(backupDir, 'backup.json'), 'utf8')) as BackupManifestDoc;
    expect(manifest).toEqual({ format: 1, createdAt: report.createdAt, pointAt: report.pointAt, programVersion: 1, shards: report.shards, files: report.files });
    // Every shard stands at the point: its last entry committed at or before it.
    const pointMs = Date.parse(manifest.pointAt);
    expect(Math.max(...manifest.shards.map((s) => Math.floor(s.committedAtMs ?? 0)))).toBe(pointMs);
    expect(manifest.shards.map((s) => s.shard)).toEqual([0, 1, 2, 3]);
    expect(manifest.files.map((f) => f.path).sort()).toEqual(['admin.key', 'engine.json', 'keys.json', 'shard-0/data.mdb', 'shard-1/data.mdb', 'shard-2/data.mdb', 'shard-3/data.mdb']);
    expect(statSync(backupDir).mode & 0o777).toBe(0o700);
    for (const f of manifest.files) expect(statSync(join(backupDir, f.path)).mode & 0o777, f.path).toBe(0o600);
    expect(report.members).toBe(36);

    // The shards copied first were carried forward through what the others committed meanwhile.
    expect(report.perShard.filter((p) => p.replayed > 0).length).toBeGreaterThan(0);
    const restore = cli({}, 'restore', backupDir, '--data', restoredDir);
    expect(restore.status, restore.stderr).toBe(0);
    const copy = readBooks(restoredDir, SHARDS);
    expect(copy.logSeq).toEqual(manifest.shards.map((s) => s.batch));

    // Every purchase acked before the backup began is in the copy.
    const ackedBefore = load.acked.filter((a) => a.ackedAtMs < backupStartedMs && a.op.op === 'purchase' && a.result['ok'] === true);
    expect(ackedBefore.length).toBeGreaterThan(100);
    expect(ackedBefore.filter((a) => !copy.orders.has(a.key)).map((a) => a.key)).toEqual([]);

    // No cross-shard credit half-delivered: each transfer debited in the copy is in its sender's
    // outbox or credited at its target (or both: credited, its removal not yet done); nothing is
    // credited that was not debited.
    const debited = copy.entries.filter((e) => e.kind === 'transfer_out').map((e) => e.ref);
    const credited = new Set(copy.entries.filter((e) => e.kind === 'transfer_in').map((e) => e.ref));
    const inFlight = new Set(copy.outbox.filter((m) => m.kind === 'transfer_in').map((m) => m.ref));
    expect(debited.length).toBeGreaterThan(20);
    expect(debited.filter((ref) => !credited.has(ref) && !inFlight.has(ref))).toEqual([]);
    expect([...credited].filter((ref) => !debited.includes(ref))).toEqual([]);

    // The restored folder's first start delivers what was in flight, once.
    const restored = new ServerProcess(restoredDir, { LOYALTY_SHARDS: String(SHARDS), LOYALTY_SWEEP_INTERVAL_MS: '0' });
    await restored.start();
    try {
      await settled(restored);
      expect((await restored.call('GET /v1/admin/verify'))).toMatchObject({ ok: true, mismatches: [] });
    } finally {
      await restored.stop();
    }
    const after = readBooks(restoredDir, SHARDS);
    expect(after.outbox).toEqual([]);
    const creditsPerRef = new Map<string, number>();
    for (const e of after.entries) if (e.kind === 'transfer_in') creditsPerRef.set(e.ref, (creditsPerRef.get(e.ref) ?? 0) + 1);
    expect([...creditsPerRef.keys()].sort()).toEqual([...debited].sort());
    expect([...creditsPerRef.values()].every((n) => n === 1)).toBe(true);
    // Money conserved: the wallets hold what the top-ups put in, and transfers net to nothing.
    const topups = sum(after.entries.filter((e) => e.kind === 'topup').map((e) => e.walletDeltaCents));
    const transfers = sum(after.entries.filter((e) => e.kind === 'transfer_out' || e.kind === 'transfer_in').map((e) => e.walletDeltaCents));
    expect(transfers).toBe(0);
    expect(sum(after.wallets.values())).toBe(topups);
    const verify = cli({ LOYALTY_DATA: restoredDir, LOYALTY_SHARDS: String(SHARDS) }, 'verify');
    expect(verify.status, verify.stdout + verify.stderr).toBe(0);

    // The batch log's tools read the manifest: the live folder replays from the backup's copy to
    // exactly its books, and its logs can be trimmed to the backup's position.
    expectReplayEqualsLive(dataDir, '--from-backup', backupDir);
    const trim = cli({}, 'log', 'trim', '--before', backupDir, '--data', dataDir);
    expect(trim.status, trim.stderr).toBe(0);
    expect(JSON.parse(trim.stdout).shards.map((s: { firstSeq: number | null }) => s.firstSeq)).toEqual(manifest.shards.map((s) => s.batch + 1));
  }, 60_000);
});

describe('a credit applied at its target and still in its sender\'s outbox', () => {
  it('is delivered again at the restored folder\'s start and applied once', async () => {
    // Two members on different shards; a transfer from one to the other, held in the outbox.
    const ids = Array.from({ length: 20 }, (_, i) => `r${i}`);
    const from = ids.find((id) => hashId(id) % 2 === 0)!;
    const to = ids.find((id) => hashId(id) % 2 === 1)!;
    const dataDir = join(root, 'redeliver');
    const held = new ServerProcess(dataDir, { LOYALTY_TEST_HOLD_OUTBOX: '1', LOYALTY_SWEEP_INTERVAL_MS: '0' });
    await held.start();
    const heldBackup = join(root, 'redeliver-held');
    try {
      for (const memberId of [from, to]) await held.call('POST /v1/members', { body: { memberId } });
      await held.call('POST /v1/wallet/topups', { body: { requestId: 'rt', memberId: from, amountCents: 10_000 } });
      await held.call('POST /v1/wallet/transfers', { body: { requestId: 'rx', fromMemberId: from, toMemberId: to, amountCents: 3_000 } });
      // The copy of the sender's shard holds the message, not yet delivered.
      await held.call('POST /v1/admin/backup', { body: { dir: heldBackup } });
    } finally {
      await held.stop();
    }
    const senderShard = hashId(from) % 2;
    expect(readBooks(heldBackup, 2).outbox.map((m) => [m.shard, m.ref, m.walletCents])).toEqual([[senderShard, 'req:rx', 3_000]]);
    // A normal start delivers it: the target holds the credit, the sender's outbox is empty.
    const server = new ServerProcess(dataDir, { LOYALTY_SWEEP_INTERVAL_MS: '0' });
    await server.start();
    try {
      await settled(server);
      expect((await server.call('GET /v1/members/:id', { params: { id: to } })).walletCents).toBe(3_000);
    } finally {
      await server.stop();
    }
    expect(readBooks(dataDir, 2).outbox).toEqual([]);
    // A folder whose target shard has applied the credit and whose sender shard still holds it:
    // what a copy taken between the credit and the removal of its message holds.
    const mixed = join(root, 'redeliver-mixed');
    cpSync(dataDir, mixed, { recursive: true });
    cpSync(join(heldBackup, `shard-${senderShard}`, 'data.mdb'), join(mixed, `shard-${senderShard}`, 'data.mdb'));
    rmSync(join(mixed, `shard-${senderShard}`, 'lock.mdb'), { force: true });
    expect(readBooks(mixed, 2).outbox.map((m) => m.ref)).toEqual(['req:rx']);
    const again = new ServerProcess(mixed, { LOYALTY_SWEEP_INTERVAL_MS: '0' });
    await again.start();
    try {
      await waitUntil('the repeat is delivered', () => readBooks(mixed, 2).outbox.length === 0);
      await settled(again);
      expect((await again.call('GET /v1/members/:id', { params: { id: to } })).walletCents).toBe(3_000);
      expect((await again.call('GET /v1/members/:id', { params: { id: from } })).walletCents).toBe(7_000);
      const ledger = (await again.call('GET /v1/members/:id/ledger', { params: { id: to } })).entries;
      expect(ledger.filter((e) => e.kind === 'transfer_in')).toHaveLength(1);
      expect((await again.call('GET /v1/admin/verify'))).toMatchObject({ ok: true, mismatches: [] });
    } finally {
      await again.stop();
    }
  }, 60_000);
});

describe('backup folders, and the targets restore refuses', () => {
  it('names a backup asked for without a folder; refuses a target not empty, a data folder in use, a folder holding a writer lock, and a missing parent', async () => {
    const dataDir = join(root, 'refusals-live');
    const server = new ServerProcess(dataDir, { LOYALTY_SWEEP_INTERVAL_MS: '0' });
    await server.start();
    const backupDir = join(root, 'refusals-backup');
    try {
      await server.call('POST /v1/members', { body: { memberId: 'solo' } });
      await server.call('POST /v1/admin/backup', { body: { dir: backupDir } });
      // Without a folder, or with a relative one: under `backups` beside the data folder.
      const named = await server.call('POST /v1/admin/backup', { body: {} });
      expect(named.dir).toMatch(new RegExp(`^${join(root, 'backups', 'backup-')}\\d{4}-\\d{2}-\\d{2}T`));
      expect(existsSync(join(named.dir, 'backup.json'))).toBe(true);
      const relative = await server.call('POST /v1/admin/backup', { body: { dir: 'nightly' } });
      expect(relative.dir).toBe(join(root, 'backups', 'nightly'));
      // A backup into a folder that is not empty is refused, and nothing of it is written.
      const full = join(root, 'refusals-full-backup');
      mkdirSync(full);
      writeFileSync(join(full, 'keep.txt'), 'mine');
      expect(await refusal(server.call('POST /v1/admin/backup', { body: { dir: full } }))).toMatchObject({ status: 400, code: 'invalid_request', field: 'dir' });
      expect(readdirSync(full)).toEqual(['keep.txt']);

      const notEmpty = join(root, 'refusals-not-empty');
      mkdirSync(notEmpty);
      writeFileSync(join(notEmpty, 'notes.txt'), 'mine');
      const r1 = cli({}, 'restore', backupDir, '--data', notEmpty);
      expect(r1.status).toBe(2);
      expect(r1.stderr).toContain(`${notEmpty} is not empty`);
      expect(readdirSync(notEmpty)).toEqual(['notes.txt']);

      // The running server's own folder.
      const before = readdirSync(dataDir).sort();
      const r2 = cli({}, 'restore', backupDir, '--data', dataDir);
      expect(r2.status).toBe(2);
      // A running server holds its folder's writer lock: the refusal names it and its pid.
      expect(r2.stderr).toMatch(new RegExp(`${dataDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is in use by the server, pid \\d+`));
      expect(readdirSync(dataDir).sort()).toEqual(before);
      await server.call('GET /v1/members/:id', { params: { id: 'solo' } });

      // A folder whose writer lock names its holder.
      const locked = join(root, 'refusals-locked');
      mkdirSync(locked);
      writeFileSync(join(locked, 'writer.lock'), JSON.stringify({ pid: 4242, host: 'shop-1', command: 'the server', since: '2026-03-01T09:00:00.000Z' }));
      const r3 = cli({}, 'restore', backupDir, '--data', locked);
      expect(r3.status).toBe(2);
      expect(r3.stderr).toContain(`${locked} is in use by the server, pid 4242 on shop-1 since 2026-03-01T09:00:00.000Z`);

      const r4 = cli({}, 'restore', backupDir, '--data', join(root, 'no-such-parent', 'data'));
      expect(r4.status).toBe(2);
      expect(r4.stderr).toContain('does not exist');
      // No half-built folder is left beside any target.
      expect(readdirSync(root).filter((n) => n.includes('.restoring-'))).toEqual([]);

      // An empty folder is a good target.
      const empty = join(root, 'refusals-empty');
      mkdirSync(empty);
      const r5 = cli({}, 'restore', backupDir, '--data', empty);
      expect(r5.status, r5.stderr).toBe(0);
      expect(existsSync(join(empty, 'shard-0', 'data.mdb'))).toBe(true);
    } finally {
      await server.stop();
    }
  }, 60_000);
});

describe('a server whose batch log was off', () => {
  it('refuses a backup, since its log cannot bring the copies to one point, and leaves no folder', async () => {
    const dataDir = join(root, 'unlogged');
    const server = new ServerProcess(dataDir, { LOYALTY_SWEEP_INTERVAL_MS: '0', LOYALTY_TEST_NO_BATCH_LOG: '1' });
    await server.start();
    try {
      await server.call('POST /v1/members', { body: { memberId: 'u1' } });
      const dir = join(root, 'unlogged-backup');
      const r = await refusal(server.call('POST /v1/admin/backup', { body: { dir } }));
      expect(r).toMatchObject({ status: 503, code: 'backup_failed' });
      expect(r.message).toMatch(/^shard \d ran with the batch log off/);
      expect(existsSync(dir)).toBe(false);
    } finally {
      await server.stop();
    }
  }, 30_000);
});
