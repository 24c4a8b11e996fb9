// A standby shard (engine/shard/standby.ts) on a stream that starts with a base message (a folder
// imported with a trimmed log, docs/cluster.md "Stream sequence and log sequence"): a copy at the
// base follows the stream through the offset mapping to the owner's books; an empty copy is refused
// with copy_behind_stream_base, and so is a copy that diverged, whose rebuild would replay the
// stream into an empty copy: neither is moved aside nor silently rebuilt. The owner's takeover
// (engine/shard/replicator.ts) refuses an empty copy too, and from a copy at the base levels and
// appends its term entry through the offset.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { headers } from '@nats-io/nats-core';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { NatsCluster, skipWithoutNats } from '../helpers/nats-cluster.js';
import { ReplicatedLog } from '../../engine/cluster/fenced-append.js';
import { BASE_AFTER_HEADER, BASE_BACKUP_HEADER, CopyBehindStreamBaseError, LOG_SEQ_HEADER, shardStream } from '../../engine/cluster/shard-stream.js';
import { ShardStandby, type StandbyEvents } from '../../engine/shard/standby.js';
import { ShardReplicator } from '../../engine/shard/replicator.js';
import { openShardStore, type ShardStore } from '../../engine/shard/store.js';
import { ShardMachine } from '../../engine/shard/machine.js';
import { logPosition, logValues, type LoggedTask } from '../../engine/shard/batch-log.js';
import { replayShard, storeLogSource } from '../../engine/shard/replay.js';
import { diffStores } from '../../engine/shard/store-diff.js';
import { ensureSearchIndex } from '../../engine/shard/search-index.js';
import { loadCore } from '../../engine/core/wasm.js';
import { demoProgram } from '../../engine/rules/program.js';
import { purchaseOp, registerOp } from '../../server/requests.js';

const skip = skipWithoutNats();
const DEPLOYMENT = 'trimmedstandby';
const T0 = Date.parse('2026-03-10T02:00:00Z');
const admin = (atMs: number) => ({ role: 'admin' as const, nowMs: atMs, defaultCountry: 'HK' });
const at = (ms: number) => ({ at: new Date(ms).toISOString() });
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** The log position the stream starts after: entries 1..BASE are in the backup only. */
const BASE = 3;

describe.skipIf(skip)('a standby shard on a stream imported from a trimmed log', () => {
  const dir = mkdtempSync(join(tmpdir(), 'loyalty-trimmed-standby-'));
  let cluster: NatsCluster;
  let nc: NatsConnection;
  let clockMs = T0;

  beforeAll(async () => {
    cluster = await NatsCluster.start(3);
    nc = await cluster.connect('trimmed-standby-test');
  });

  afterAll(async () => {
    await nc?.close();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const open = (name: string): ShardStore => {
    const store = openShardStore(join(dir, name), 256 * 1024 * 1024, { noSync: true });
    ensureSearchIndex(store);
    return store;
  };

  function run(store: ShardStore, task: LoggedTask): Buffer {
    new ShardMachine(store, loadCore(), 0, { log: true }).run(task, (clockMs += 1_000));
    const seq = logPosition(store).seq;
    return [...logValues(store, seq, seq)][0]![1];
  }

  const register = (memberId: string): LoggedTask => ({ kind: 'batch', ops: [registerOp({ memberId, name: memberId, ...at(clockMs) }, admin(clockMs), () => 'x')] });
  const purchase = (orderId: string, memberId: string, amountCents: number): LoggedTask =>
    ({ kind: 'batch', ops: [purchaseOp({ orderId, memberId, amountCents, ...at(clockMs) }, admin(clockMs))] });

  async function waitFor(what: string, done: () => boolean): Promise<void> {
    const deadlineMs = Date.now() + 15_000;
    while (!done()) {
      if (Date.now() > deadlineMs) throw new Error(`${what}: not within 15 s`);
      await pause(50);
    }
  }

  /** A copy of the owner's first `upTo` entries, as a restore of a backup at that position holds them. */
  function copyOf(owner: ShardStore, name: string, upTo: number): ShardStore {
    const store = open(name);
    replayShard(storeLogSource(owner, 0), store, { untilBatch: upTo });
    expect(logPosition(store).seq).toBe(upTo);
    return store;
  }

  it('follows from the base through the offset, refuses an empty or diverged copy instead of rebuilding it, and takes over from a copy at the base', async () => {
    // The owner's copy: a program and two members (entries 1..3, the backup's), then what the stream holds.
    const owner = open('owner');
    run(owner, { kind: 'program', version: 1, program: demoProgram(), atMs: T0, record: true });
    for (let i = 0; i < BASE - 1; i++) run(owner, register(`t${i}`));
    expect(logPosition(owner).seq).toBe(BASE);

    // The stream as `loyalty cluster import` leaves it: the base message, then entries 4 and on.
    const stream = shardStream(DEPLOYMENT, 0);
    const log = await ReplicatedLog.open(nc, DEPLOYMENT, [0], { nodeId: 'node-a', term: 1 });
    const h = headers();
    h.set(BASE_AFTER_HEADER, String(BASE));
    h.set(BASE_BACKUP_HEADER, 'nightly-7');
    expect((await jetstream(nc).publish(stream.subject, new TextEncoder().encode('{}'), { msgID: 'import.base', headers: h })).seq).toBe(1);
    const append = async (task: LoggedTask) => {
      const value = run(owner, task);
      const seq = logPosition(owner).seq;
      // Log entry k is stream message k - BASE + 1.
      expect(await log.appendFenced(0, value, seq - 1 - BASE + 1)).toBe(seq - BASE + 1);
    };
    await append(register('t-late'));
    await append(purchase('p-1', 't0', 1_200));
    expect(Buffer.from((await log.valueAt(0, 2))!).equals([...logValues(owner, BASE + 1, BASE + 1)][0]![1])).toBe(true);
    const third = await (await jetstream(nc).jetstreamManager()).streams.getMessage(stream.name, { seq: 3 });
    expect(third!.header.get(LOG_SEQ_HEADER)).toBe(String(BASE + 2));

    const config = { servers: cluster.servers, nodeId: 'node-b', deployment: DEPLOYMENT };
    const watch = (store: () => ShardStore) => {
      const seen = { rebuilds: [] as string[], failures: [] as Error[] };
      const events: StandbyEvents = {
        store,
        rebuild: async (reason) => { seen.rebuilds.push(reason); },
        fail: (err) => { seen.failures.push(err); },
        warn: () => { /* a turn that could not reach the stream is tried again */ },
      };
      return { seen, events };
    };

    // A copy at the base (a restore of the backup) follows, and a new entry reaches it.
    const restored = copyOf(owner, 'restored', BASE);
    const a = watch(() => restored);
    const following = await ShardStandby.open(config, 0, a.events);
    try {
      await waitFor('the restored copy applies entries 4 and 5', () => logPosition(restored).seq === BASE + 2);
      await append(purchase('p-2', 't1', 3_400));
      await waitFor('the restored copy applies entry 6', () => logPosition(restored).seq === BASE + 3);
      expect(diffStores(owner, restored, { listedMax: 5 }).differences).toEqual([]);
      expect(a.seen).toEqual({ rebuilds: [], failures: [] });
    } finally {
      await following.stop();
    }

    // An empty copy cannot reach the base from the stream: refused, naming the backup.
    const empty = open('empty');
    const b = watch(() => empty);
    const refusing = await ShardStandby.open(config, 0, b.events);
    try {
      await waitFor('the empty copy is refused', () => b.seen.failures.length === 1);
      const err = b.seen.failures[0] as CopyBehindStreamBaseError;
      expect(err).toBeInstanceOf(CopyBehindStreamBaseError);
      expect(err.code).toBe('copy_behind_stream_base');
      expect(err.message).toContain('shard 0: this node\'s copy is at log entry 0, but the shard\'s stream starts after entry 3');
      expect(err.message).toContain('restore the backup "nightly-7"');
      expect(logPosition(empty).seq).toBe(0);
      expect(b.seen.rebuilds).toEqual([]);
    } finally {
      await refusing.stop();
    }

    // A copy whose entry 5 is its own (a stale owner's commit): a rebuild would start empty, so it is refused, not rebuilt.
    const diverged = copyOf(owner, 'diverged', BASE + 1);
    run(diverged, purchase('p-mine', 't0', 9_900));
    const c = watch(() => diverged);
    const divergedStandby = await ShardStandby.open(config, 0, c.events);
    try {
      await waitFor('the diverged copy is refused', () => c.seen.failures.length === 1);
      const err = c.seen.failures[0] as CopyBehindStreamBaseError;
      expect(err.code).toBe('copy_behind_stream_base');
      expect(err.message).toContain('this node\'s copy differs from the stream at log entry 5 and a rebuild would start from an empty copy');
      expect(c.seen.rebuilds).toEqual([]);
      expect(logPosition(diverged).seq).toBe(BASE + 2);
    } finally {
      await divergedStandby.stop();
    }

    // The owner's side: an empty copy's takeover is refused the same way, before anything is appended.
    const lastBefore = await log.lastSeq(0);
    await expect(ShardReplicator.open(config, 0, empty, 2, () => clockMs)).rejects.toMatchObject({ code: 'copy_behind_stream_base' });
    expect(await log.lastSeq(0)).toBe(lastBefore);
    // A copy at the base levels through the offset (the entries after the base applied, checksums
    // compared) and appends its term entry after the stream's last message, as log entry 7.
    const taking = copyOf(owner, 'taking', BASE);
    const replicator = await ShardReplicator.open(config, 0, taking, 2, () => clockMs);
    try {
      expect(logPosition(taking).seq).toBe(BASE + 4);
      expect(await log.lastSeq(0)).toBe(lastBefore + 1);
      const term = await (await jetstream(nc).jetstreamManager()).streams.getMessage(stream.name, { seq: lastBefore + 1 });
      expect(term!.header.get(LOG_SEQ_HEADER)).toBe(String(BASE + 4));
      expect(term!.header.get('Nats-Msg-Id')).toBe(`node-b.2.${BASE + 4}`);
      expect(Buffer.from(term!.data).equals([...logValues(taking, BASE + 4, BASE + 4)][0]![1])).toBe(true);
    } finally {
      await replicator.close();
    }
    await taking.root.close();
    await restored.root.close();
    await empty.root.close();
    await diverged.root.close();
    await owner.root.close();
  }, 90_000);
});
