// A copy whose log an erasure redacted, against the stream that still holds the entries as they
// were appended (engine/shard/log-redaction.ts sameLogEntry): the owner's levelling at start and a
// standby's comparison accept the copy's redacted entry as the stream's message, while another
// batch at the same place, a changed value that is not personal, or a placeholder of a member the
// copy has not erased is still a different entry. On a real three-server NATS cluster for the
// levelling and the standby; the comparison itself on stores alone.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { skipWithoutNats, useNatsCluster } from '../helpers/nats-cluster.js';
import { ReplicatedLog } from '../../engine/cluster/fenced-append.js';
import { ShardReplicator } from '../../engine/shard/replicator.js';
import { ShardStandby, type StandbyEvents } from '../../engine/shard/standby.js';
import { ShardFollower } from '../../engine/shard/stream-follower.js';
import { shardStream } from '../../engine/cluster/shard-stream.js';
import { sameLogEntry } from '../../engine/shard/log-redaction.js';
import { openShardStore, type ShardStore } from '../../engine/shard/store.js';
import { ShardMachine } from '../../engine/shard/machine.js';
import { decodeLogHeader, decodeLogValue, logPosition, logValues, packTask, sealLogValue, type LoggedTask } from '../../engine/shard/batch-log.js';
import { diffStores } from '../../engine/shard/store-diff.js';
import { ensureSearchIndex } from '../../engine/shard/search-index.js';
import { loadCore } from '../../engine/core/wasm.js';
import { demoProgram } from '../../engine/rules/program.js';
import { eraseOp, patchOp, purchaseOp, registerOp } from '../../server/requests.js';
import { toImportRows } from '../../engine/import-rows.js';

const skip = skipWithoutNats();
const T0 = Date.parse('2026-03-10T02:00:00Z');
const admin = (atMs: number) => ({ role: 'admin' as const, nowMs: atMs, defaultCountry: 'HK' });
const at = (ms: number) => ({ at: new Date(ms).toISOString() });
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const dir = mkdtempSync(join(tmpdir(), 'loyalty-erasure-levelling-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const open = (name: string): ShardStore => {
  const store = openShardStore(join(dir, name), 256 * 1024 * 1024, { noSync: true });
  ensureSearchIndex(store);
  return store;
};

/** Runs a task through a shard's commit path at `atMs`; answers its log entry's value as written. */
function run(store: ShardStore, task: LoggedTask, atMs: number): Buffer {
  new ShardMachine(store, loadCore(), 0, { log: true }).run(task, atMs);
  return entryAt(store, logPosition(store).seq);
}

function entryAt(store: ShardStore, seq: number): Buffer {
  return Buffer.from([...logValues(store, seq, seq)][0]![1]);
}

/**
 * The same history, with the same commit times, as any copy of one shard holds it: a program, a
 * member with every personal field registered and patched, another member, and purchases. Entry
 * 4 is the erased member's patch, the last entry before the erasure.
 */
function history(): Array<[LoggedTask, number]> {
  const t = (i: number) => T0 + i * 1_000;
  return [
    [{ kind: 'program', version: 1, program: demoProgram(), atMs: T0, record: true }, t(0)],
    [{ kind: 'batch', ops: [registerOp({ memberId: 'kept', name: 'Kept Orvalle', phone: '+852 6111 2233', ...at(t(1)) }, admin(t(1)), () => 'x')] }, t(1)],
    [{ kind: 'batch', ops: [
      registerOp({ memberId: 'gone', name: 'Gone Thessaly', phone: '+852 6173 4529', email: 'gone.thessaly@example.org', address: '17 Xylograph Terrace', birthday: '1977-11-23', gender: 'f', ...at(t(2)) }, admin(t(2)), () => 'x'),
      purchaseOp({ orderId: 'o-1', memberId: 'gone', amountCents: 12_300, ...at(t(2)) }, admin(t(2))),
    ] }, t(2)],
    [{ kind: 'batch', ops: [patchOp('gone', { name: 'Gone Renamed', email: 'renamed@example.org' }, admin(t(3)))] }, t(3)],
  ];
}

const ERASE_AT_MS = T0 + 10_000;
const erasure = (): LoggedTask => ({ kind: 'batch', ops: [eraseOp('gone', { requestId: 'erase-1' }, admin(ERASE_AT_MS))] });

describe('the same log entry once erasures exist', () => {
  it('is the message redacted the way the copy\'s erasure redacted it, and nothing else', async () => {
    const erased = open('compare-erased');
    const kept = open('compare-kept');
    const messages = history().map(([task, atMs]) => { run(kept, task, atMs); return run(erased, task, atMs); });
    run(erased, erasure(), ERASE_AT_MS);

    // The registration (entry 3) and the patch (entry 4) were rewritten in the copy; entry 2, another member's, was not.
    for (const seq of [3, 4]) {
      const copy = entryAt(erased, seq);
      expect(Buffer.compare(copy, messages[seq - 1]!)).not.toBe(0);
      expect(copy.toString('latin1')).toContain('erased:gone:name:');
      expect(sameLogEntry(erased, seq, copy, messages[seq - 1]!)).toBe(true);
    }
    expect(Buffer.compare(entryAt(erased, 2), messages[1]!)).toBe(0);
    expect(sameLogEntry(erased, 2, entryAt(erased, 2), messages[1]!)).toBe(true);

    // Placeholders of a member this copy has not erased are not an erasure's: a store without the erasure refuses them.
    expect(sameLogEntry(kept, 3, entryAt(erased, 3), messages[2]!)).toBe(false);

    // Another batch at the same sequence: the same member registered with other values a moment later.
    const other = open('compare-other');
    for (const [task, atMs] of history().slice(0, 2)) run(other, task, atMs);
    const otherMessage = run(other, { kind: 'batch', ops: [registerOp({ memberId: 'gone', name: 'Someone Else', phone: '+852 6999 0000', ...at(T0 + 2_001) }, admin(T0 + 2_001), () => 'x')] }, T0 + 2_001);
    expect(sameLogEntry(erased, 3, entryAt(erased, 3), otherMessage)).toBe(false);

    // The same header and personal values, one value that is not personal changed (the purchase's amount).
    const record = decodeLogValue(3, messages[2]!);
    const changed = structuredClone(record.task) as unknown as { kind: 'batch'; ops: Array<Record<string, unknown>> };
    changed.ops[1]!['amountCents'] = 12_400;
    const forged = sealLogValue(packTask(changed as unknown as LoggedTask), decodeLogHeader(messages[2]!));
    expect(sameLogEntry(erased, 3, entryAt(erased, 3), forged)).toBe(false);
    // A header that differs in its checksum alone.
    const otherChecksum = Buffer.from(messages[2]!);
    otherChecksum[18] = otherChecksum[18]! ^ 1;
    expect(sameLogEntry(erased, 3, entryAt(erased, 3), otherChecksum)).toBe(false);
    for (const store of [erased, kept, other]) await store.root.close();
  });

  it('takes an imported row\'s placeholders from the erased member\'s row alone', async () => {
    const erased = open('import-erased');
    const kept = open('import-kept');
    const t = T0 + 1_000;
    const rows = (): LoggedTask => ({ kind: 'import', rows: toImportRows([
      registerOp({ memberId: 'row-gone', name: 'Imported Wolfgarth', phone: '+852 6951 7384', email: 'wolfgarth@example.net', birthday: '1969-07-14', ...at(t) }, admin(t), () => 'x'),
      registerOp({ memberId: 'row-kept', name: 'Imported Kept', phone: '+852 6951 0000', ...at(t) }, admin(t), () => 'x'),
    ]) });
    for (const store of [erased, kept]) run(store, { kind: 'program', version: 1, program: demoProgram(), atMs: T0, record: true }, T0);
    run(kept, rows(), t);
    const message = run(erased, rows(), t);
    run(erased, { kind: 'batch', ops: [eraseOp('row-gone', { requestId: 'erase-row' }, admin(t + 1_000))] }, t + 1_000);
    const copy = entryAt(erased, 2);
    expect(copy.toString('latin1')).not.toContain('Wolfgarth');
    expect(copy.toString('latin1')).toContain('Imported Kept');
    expect(sameLogEntry(erased, 2, copy, message)).toBe(true);
    expect(sameLogEntry(kept, 2, copy, message)).toBe(false);
    // The kept member's row changed in the message is another entry.
    const changed = decodeLogValue(2, message).task as Extract<LoggedTask, { kind: 'import' }>;
    changed.rows.profile.name[1] = 'Imported Someone Else';
    expect(sameLogEntry(erased, 2, copy, sealLogValue(packTask(changed), decodeLogHeader(message)))).toBe(false);
    for (const store of [erased, kept]) await store.root.close();
  });
});

describe.skipIf(skip)('levelling and standing by after an erasure, on NATS JetStream', () => {
  const nats = useNatsCluster('erasure-levelling-test');



  /** A copy holding the history, appended to `deployment`'s shard 0 stream as it was committed, and the erasure committed after it. */
  async function erasedAfterAppend(deployment: string, name: string): Promise<{ copy: ShardStore; log: ReplicatedLog }> {
    const log = await ReplicatedLog.open(nats.nc, deployment, [0], { nodeId: 'node-a', term: 1 });
    const copy = open(name);
    for (const [task, atMs] of history()) await log.appendFenced(0, run(copy, task, atMs), logPosition(copy).seq - 1);
    // The erasure commits and its append never happens (the owner is killed in between): the
    // copy's last entry in common with the stream, the patch, is now redacted in the copy alone.
    run(copy, erasure(), ERASE_AT_MS);
    return { copy, log };
  }

  it('levels an owner whose last entry in common with the stream its erasure redacted, and appends the erasure', async () => {
    const { copy } = await erasedAfterAppend('erased-owner', 'owner');
    const config = { servers: nats.cluster.servers, nodeId: 'node-a', deployment: 'erased-owner' };
    // Before the fix this start failed with replica_diverged at entry 4.
    const replicator = await ShardReplicator.open(config, 0, copy, 2, () => ERASE_AT_MS + 1_000);
    try {
      await replicator.settled();
    } finally {
      await replicator.close();
    }
    // The erasure reached the stream, and the owner's term entry after it; a node that joins now
    // replays the stream, erasure included, to the owner's books and log.
    const joined = open('joined');
    const follower = await ShardFollower.open(nats.nc, shardStream('erased-owner', 0), joined);
    expect(await follower.catchUp()).toMatchObject({ fromSeq: 0, lastSeq: 6, applied: 6 });
    expect(diffStores(copy, joined, { listedMax: 5 }).differences).toEqual([]);
    await joined.root.close();
    await copy.root.close();
  }, 60_000);

  it('keeps a standby\'s copy redacted by its own erasure, and rebuilds it once another batch takes the erasure\'s place', async () => {
    const { copy: first, log } = await erasedAfterAppend('erased-standby', 'standby');
    let copy = first;
    const rebuilds: string[] = [];
    const failures: Error[] = [];
    const events: StandbyEvents = {
      store: () => copy,
      rebuild: async (reason) => {
        rebuilds.push(reason);
        await copy.root.close();
        renameSync(join(dir, 'standby'), join(dir, `standby.diverged-${rebuilds.length}`));
        copy = open('standby');
      },
      fail: (err) => { failures.push(err); },
      warn: () => { /* a turn that could not reach the stream is tried again */ },
    };
    const standby = await ShardStandby.open({ servers: nats.cluster.servers, nodeId: 'node-b', deployment: 'erased-standby' }, 0, events);
    try {
      // Ahead of an unmoved stream by its own erasure, whose redacted entry 4 is the stream's entry 4: it waits.
      await pause(1_500);
      expect(rebuilds).toEqual([]);
      expect(logPosition(copy).seq).toBe(5);

      // Another owner's entry 5 (a purchase, not the erasure) reaches the stream: the copy is rebuilt from the stream.
      const owner = open('other-owner');
      for (const [task, atMs] of history()) run(owner, task, atMs);
      const fifth = run(owner, { kind: 'batch', ops: [purchaseOp({ orderId: 'o-2', memberId: 'kept', amountCents: 4_400, ...at(T0 + 11_000) }, admin(T0 + 11_000))] }, T0 + 11_000);
      await log.appendFenced(0, fifth, 4);
      const deadlineMs = Date.now() + 15_000;
      while (!(rebuilds.length === 1 && logPosition(copy).seq === 5)) {
        if (Date.now() > deadlineMs) throw new Error(`the standby was not rebuilt: ${JSON.stringify(rebuilds)}`);
        await pause(50);
      }
      expect(rebuilds[0]).toContain('log entry 5 of this node\'s copy differs from the stream\'s');
      expect(diffStores(owner, copy, { listedMax: 5 }).differences).toEqual([]);
      expect(failures).toEqual([]);
      await owner.root.close();
    } finally {
      await standby.stop();
      await copy.root.close();
    }
  }, 60_000);
});
