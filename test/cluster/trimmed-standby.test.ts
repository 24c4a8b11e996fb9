// A standby shard (engine/shard/standby.ts) on a stream that starts with a base message (a folder
// imported with a trimmed log, docs/cluster.md "Stream sequence and log sequence"): a copy at the
// base follows the stream through the offset mapping to the owner's books; an empty copy is refused
// with copy_behind_stream_base, and so is a copy that diverged, whose rebuild would replay the
// stream into an empty copy: neither is moved aside nor silently rebuilt. The owner's takeover
// (engine/shard/replicator.ts) refuses an empty copy too, and from a copy at the base levels and
// appends its term entry through the offset.
import { afterAll, describe, expect, it } from 'vitest';
import { headers } from '@nats-io/nats-core';
import { jetstream } from '@nats-io/jetstream';
import { skipWithoutNats, useNatsCluster } from '../helpers/nats-cluster.js';
import { ShardCopies, waitFor, watch } from '../helpers/shard-copies.js';
import { ReplicatedLog } from '../../engine/cluster/fenced-append.js';
import { BASE_AFTER_HEADER, BASE_BACKUP_HEADER, CopyBehindStreamBaseError, LOG_SEQ_HEADER, shardStream } from '../../engine/cluster/shard-stream.js';
import { ShardStandby } from '../../engine/shard/standby.js';
import { ShardReplicator } from '../../engine/shard/replicator.js';
import { logPosition, logValues, type LoggedTask } from '../../engine/shard/batch-log.js';
import { diffStores } from '../../engine/shard/store-diff.js';
import { demoProgram } from '../../engine/rules/program.js';

const skip = skipWithoutNats();
const DEPLOYMENT = 'trimmedstandby';
const T0 = Date.parse('2026-03-10T02:00:00Z');
/** The log position the stream starts after: entries 1..BASE are in the backup only. */
const BASE = 3;

describe.skipIf(skip)('a standby shard on a stream imported from a trimmed log', () => {
  const copies = new ShardCopies('loyalty-trimmed-standby-', T0);
  const { open, run, register, purchase, copyOf } = copies;
  const nats = useNatsCluster('trimmed-standby-test');


  afterAll(async () => {
    copies.remove();
  });

  it('follows from the base through the offset, refuses an empty or diverged copy instead of rebuilding it, and takes over from a copy at the base', async () => {
    // The owner's copy: a program and two members (entries 1..3, the backup's), then what the stream holds.
    const owner = open('owner');
    run(owner, { kind: 'program', version: 1, program: demoProgram(), atMs: T0, record: true });
    for (let i = 0; i < BASE - 1; i++) run(owner, register(`t${i}`));
    expect(logPosition(owner).seq).toBe(BASE);

    // The stream as `loyalty cluster import` leaves it: the base message, then entries 4 and on.
    const stream = shardStream(DEPLOYMENT, 0);
    const log = await ReplicatedLog.open(nats.nc, DEPLOYMENT, [0], { nodeId: 'node-a', term: 1 });
    const h = headers();
    h.set(BASE_AFTER_HEADER, String(BASE));
    h.set(BASE_BACKUP_HEADER, 'nightly-7');
    expect((await jetstream(nats.nc).publish(stream.subject, new TextEncoder().encode('{}'), { msgID: 'import.base', headers: h })).seq).toBe(1);
    const append = async (task: LoggedTask) => {
      const value = run(owner, task);
      const seq = logPosition(owner).seq;
      // Log entry k is stream message k - BASE + 1.
      expect(await log.appendFenced(0, value, seq - 1 - BASE + 1)).toBe(seq - BASE + 1);
    };
    await append(register('t-late'));
    await append(purchase('p-1', 't0', 1_200));
    expect(Buffer.from((await log.valueAt(0, 2))!).equals([...logValues(owner, BASE + 1, BASE + 1)][0]![1])).toBe(true);
    const third = await (await jetstream(nats.nc).jetstreamManager()).streams.getMessage(stream.name, { seq: 3 });
    expect(third!.header.get(LOG_SEQ_HEADER)).toBe(String(BASE + 2));

    const config = { servers: nats.cluster.servers, nodeId: 'node-b', deployment: DEPLOYMENT };

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
    await expect(ShardReplicator.open(config, 0, empty, 2, () => copies.clockMs)).rejects.toMatchObject({ code: 'copy_behind_stream_base' });
    expect(await log.lastSeq(0)).toBe(lastBefore);
    // A copy at the base levels through the offset (the entries after the base applied, checksums
    // compared) and appends its term entry after the stream's last message, as log entry 7.
    const taking = copyOf(owner, 'taking', BASE);
    const replicator = await ShardReplicator.open(config, 0, taking, 2, () => copies.clockMs);
    try {
      expect(logPosition(taking).seq).toBe(BASE + 4);
      expect(await log.lastSeq(0)).toBe(lastBefore + 1);
      const term = await (await jetstream(nats.nc).jetstreamManager()).streams.getMessage(stream.name, { seq: lastBefore + 1 });
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
