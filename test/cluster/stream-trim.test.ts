// `loyalty cluster trim --before BACKUP` (cli/cluster-trim.ts) on three NATS servers: a stream that
// starts with a base message (an imported trimmed log) is purged up to the backup's position, base
// message included; the mapping then comes from the first remaining message's header with the same
// offset, so appends, a copy at or past the trim point following, and the owner's takeover with its
// term entry all land where they did before; an empty copy or one behind the trim point is refused
// copy_behind_stream_base naming the backup recorded in the bases stream; a second run purges nothing.
// A second shard's stream, which never had a base, is trimmed to a backup at its last entry: that
// entry stays, and the identity holds after the purge. A stream purged by hand, with no record,
// maps the same way with no backup named; one purged whole is refused.
import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { headers } from '@nats-io/nats-core';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { skipWithoutNats, useNatsCluster } from '../helpers/nats-cluster.js';
import { ShardCopies, waitFor, watch } from '../helpers/shard-copies.js';
import { ROOT } from '../helpers/server-process.js';
import { ReplicatedLog } from '../../engine/cluster/fenced-append.js';
import { BASE_AFTER_HEADER, BASE_BACKUP_HEADER, CopyBehindStreamBaseError, LOG_SEQ_HEADER, readStreamMapping, shardStream } from '../../engine/cluster/shard-stream.js';
import { BACKUP_MANIFEST_FILE } from '../../engine/history/folder.js';
import { trimStreams, StreamTrimRefused } from '../../cli/cluster-trim.js';
import { ShardStandby } from '../../engine/shard/standby.js';
import { ShardReplicator } from '../../engine/shard/replicator.js';
import { checksumHex, decodeLogHeader, logPosition, logValues, type LoggedTask } from '../../engine/shard/batch-log.js';
import { diffStores } from '../../engine/shard/store-diff.js';
import { demoProgram } from '../../engine/rules/program.js';

const skip = skipWithoutNats();
const DEPLOYMENT = 'streamtrim';
const T0 = Date.parse('2026-03-11T02:00:00Z');
/** The imported stream's base: entries 1..3 were never in the stream. */
const BASE = 3;
/** The backup's position: the trim purges the base message and entries 4..6. */
const BACKUP_AT = 6;

/** Runs the built command line, without blocking the test's own NATS connection. */
function cli(env: Record<string, string>, ...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'dist/cli/loyalty.js'), ...args], { env: { PATH: process.env['PATH'] ?? '', ...env }, encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ status: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

describe.skipIf(skip)('loyalty cluster trim', () => {
  const copies = new ShardCopies('loyalty-stream-trim-', T0);
  const { dir, open, run, register, purchase, copyOf } = copies;
  const nats = useNatsCluster('stream-trim-test');


  afterAll(async () => {
    copies.remove();
  });

  /** A backup folder's manifest, as `loyalty backup` writes it, holding shard 0 at `batch` (and shard 1 as `also` says). */
  function backup(name: string, batch: number, checksum: string, also: Array<{ shard: number; batch: number; checksum: string }> = []): string {
    const path = join(dir, name);
    mkdirSync(path, { recursive: true });
    writeFileSync(join(path, BACKUP_MANIFEST_FILE), JSON.stringify({ shards: [{ shard: 0, batch, checksum }, ...also] }));
    return path;
  }

  it('purges up to the backup, keeps the offset for appends, followers and the term entry, and refuses a copy behind it naming the backup', async () => {
    const owner = open('owner');
    run(owner, { kind: 'program', version: 1, program: demoProgram(), atMs: T0, record: true });
    for (let i = 0; i < BASE - 1; i++) run(owner, register(`t${i}`));
    const stream = shardStream(DEPLOYMENT, 0);
    const jsm = await jetstreamManager(nats.nc);
    const log = await ReplicatedLog.open(nats.nc, DEPLOYMENT, [0], { nodeId: 'node-a', term: 1 });
    const h = headers();
    h.set(BASE_AFTER_HEADER, String(BASE));
    h.set(BASE_BACKUP_HEADER, 'import-backup');
    expect((await jetstream(nats.nc).publish(stream.subject, new TextEncoder().encode('{}'), { msgID: 'import.base', headers: h })).seq).toBe(1);
    // Log entry k is stream message k - BASE + 1, before the trim and after it.
    const appendWith = async (writer: ReplicatedLog, task: LoggedTask) => {
      const value = run(owner, task);
      const seq = logPosition(owner).seq;
      expect(await writer.appendFenced(0, value, seq - 1 - BASE + 1)).toBe(seq - BASE + 1);
    };
    await appendWith(log, register('t-late'));
    await appendWith(log, purchase('p-1', 't0', 1_200));
    await appendWith(log, purchase('p-2', 't1', 2_300));
    await appendWith(log, purchase('p-3', 't0', 700));
    await appendWith(log, register('t-4'));
    expect(logPosition(owner).seq).toBe(BASE + 5);
    expect((await jsm.streams.info(stream.name)).state).toMatchObject({ first_seq: 1, last_seq: 6, messages: 6 });
    const checksumAt = (seq: number, store = owner) => checksumHex(decodeLogHeader([...logValues(store, seq, seq)][0]![1]).checksum);

    // Shard 1's stream has no base: log entry k is stream message k. Its backup is at its last entry 3.
    const owner1 = open('owner-1');
    const stream1 = shardStream(DEPLOYMENT, 1);
    const log1 = await ReplicatedLog.open(nats.nc, DEPLOYMENT, [1], { nodeId: 'node-a', term: 1 });
    const append1 = async (writer: ReplicatedLog, task: LoggedTask) => {
      const value = run(owner1, task, 1);
      const seq = logPosition(owner1).seq;
      expect(await writer.appendFenced(1, value, seq - 1)).toBe(seq);
    };
    await append1(log1, { kind: 'program', version: 1, program: demoProgram(), atMs: T0, record: true });
    await append1(log1, register('u0'));
    await append1(log1, register('u1'));

    // Refused before anything is written: a backup past the stream's end, and one whose entry is not the stream's.
    await expect(trimStreams({ servers: nats.cluster.servers, deployment: DEPLOYMENT, backupDir: backup('ahead', BASE + 6, checksumAt(BACKUP_AT)) }))
      .rejects.toThrow(StreamTrimRefused);
    await expect(trimStreams({ servers: nats.cluster.servers, deployment: DEPLOYMENT, backupDir: backup('other', BACKUP_AT, checksumAt(BACKUP_AT - 1)) }))
      .rejects.toThrow(/log entry 6 in the stream is not the one the backup other names/);
    expect((await jsm.streams.info(stream.name)).state).toMatchObject({ first_seq: 1, messages: 6 });

    // The trim to a backup at entry 6: the base message and entries 4..6 (stream messages 1..4) go.
    // Shard 1's backup is at its stream's last entry: that entry stays, so that a message says the mapping.
    const nightly = backup('nightly-9', BACKUP_AT, checksumAt(BACKUP_AT), [{ shard: 1, batch: 3, checksum: checksumAt(3, owner1) }]);
    const trimStartMs = Date.now();
    expect(await trimStreams({ servers: nats.cluster.servers, deployment: DEPLOYMENT, backupDir: nightly })).toEqual([
      { shard: 0, backupSeq: BACKUP_AT, startedAfter: BASE, startsAfter: BACKUP_AT, purged: 4 },
      { shard: 1, backupSeq: 3, startedAfter: 0, startsAfter: 2, purged: 2 },
    ]);
    const trimMs = Date.now() - trimStartMs;
    expect((await jsm.streams.info(stream.name)).state).toMatchObject({ first_seq: 5, last_seq: 6, messages: 2 });
    expect((await jsm.streams.getMessage(stream.name, { seq: 5 }))!.header.get(LOG_SEQ_HEADER)).toBe(String(BACKUP_AT + 1));
    expect((await jsm.streams.info(stream1.name)).state).toMatchObject({ first_seq: 3, last_seq: 3, messages: 1 });
    const after1 = await ReplicatedLog.open(nats.nc, DEPLOYMENT, [1], { nodeId: 'node-a', term: 1 });
    expect(await after1.mapping(1)).toEqual({ base: { afterLogSeq: 2, backup: 'nightly-9' }, offset: 0 });
    await append1(after1, register('u2'));
    expect((await jsm.streams.getMessage(stream1.name, { seq: 4 }))!.header.get(LOG_SEQ_HEADER)).toBe('4');

    // A writer that reads the mapping after the trim appends where the one that read it before does.
    const after = await ReplicatedLog.open(nats.nc, DEPLOYMENT, [0], { nodeId: 'node-a', term: 1 });
    expect(await after.mapping(0)).toEqual({ base: { afterLogSeq: BACKUP_AT, backup: 'nightly-9' }, offset: BASE - 1 });
    await appendWith(after, purchase('p-5', 't1', 4_100));
    await appendWith(log, purchase('p-6', 't-late', 900));

    const config = { servers: nats.cluster.servers, nodeId: 'node-b', deployment: DEPLOYMENT };

    // Copies at the trim point (a restore of the backup) and past it follow to the owner's books.
    for (const [name, from] of [['restored', BACKUP_AT], ['ahead', BACKUP_AT + 2]] as const) {
      const copy = copyOf(owner, `copy-${name}`, from);
      const w = watch(() => copy);
      const following = await ShardStandby.open(config, 0, w.events);
      try {
        await waitFor(`the ${name} copy applies entry ${BASE + 7}`, () => logPosition(copy).seq === BASE + 7);
        expect(diffStores(owner, copy, { listedMax: 5 }).differences).toEqual([]);
        expect(w.seen).toEqual({ rebuilds: [], failures: [] });
      } finally {
        await following.stop();
        await copy.root.close();
      }
    }

    // An empty copy, and a copy at the import's base (behind the trim point), are refused, naming the trim's backup.
    for (const [name, from] of [['empty', 0], ['behind', BASE]] as const) {
      const copy = from === 0 ? open(`copy-${name}`) : copyOf(owner, `copy-${name}`, from);
      const w = watch(() => copy);
      const refusing = await ShardStandby.open(config, 0, w.events);
      try {
        await waitFor(`the ${name} copy is refused`, () => w.seen.failures.length === 1);
        const err = w.seen.failures[0] as CopyBehindStreamBaseError;
        expect(err).toBeInstanceOf(CopyBehindStreamBaseError);
        expect(err.code).toBe('copy_behind_stream_base');
        expect(err.message).toContain(`shard 0: this node's copy is at log entry ${from}, but the shard's stream starts after entry ${BACKUP_AT}`);
        expect(err.message).toContain('restore the backup "nightly-9"');
        expect(logPosition(copy).seq).toBe(from);
        expect(w.seen.rebuilds).toEqual([]);
      } finally {
        await refusing.stop();
        await copy.root.close();
      }
    }

    // The same trim again purges nothing on shard 0; on shard 1, which has an entry after the
    // backup's now, it completes the trim (entry 3 goes). A third run purges nothing, through the command line too.
    expect(await trimStreams({ servers: nats.cluster.servers, deployment: DEPLOYMENT, backupDir: nightly })).toEqual([
      { shard: 0, backupSeq: BACKUP_AT, startedAfter: BACKUP_AT, startsAfter: BACKUP_AT, purged: 0 },
      { shard: 1, backupSeq: 3, startedAfter: 2, startsAfter: 3, purged: 1 },
    ]);
    const cliStartMs = Date.now();
    const again = await cli({ LOYALTY_NATS: nats.cluster.servers.join(','), LOYALTY_DEPLOYMENT: DEPLOYMENT }, 'cluster', 'trim', '--before', nightly);
    console.log(`cluster trim: ${trimMs} ms purging 2 shards (4 and 2 messages); the command line run again, a no-op: ${Date.now() - cliStartMs} ms`);
    expect(again).toEqual({
      status: 0,
      stdout: `shard 0: backup at entry ${BACKUP_AT}; already trimmed, starts after entry ${BACKUP_AT}\nshard 1: backup at entry 3; already trimmed, starts after entry 3\n`,
      stderr: '',
    });
    expect((await jsm.streams.info(stream.name)).state).toMatchObject({ first_seq: 5, last_seq: 8, messages: 4 });
    expect((await jsm.streams.info(stream1.name)).state).toMatchObject({ first_seq: 4, last_seq: 4, messages: 1 });
    expect(await (await ReplicatedLog.open(nats.nc, DEPLOYMENT, [1], { nodeId: 'node-c', term: 2 })).mapping(1)).toEqual({ base: { afterLogSeq: 3, backup: 'nightly-9' }, offset: 0 });

    // The owner's takeover from a copy at the trim point levels through the offset and appends its
    // term entry as log entry 11, stream message 11 - BASE + 1.
    const lastBefore = await log.lastSeq(0);
    const taking = copyOf(owner, 'taking', BACKUP_AT);
    const replicator = await ShardReplicator.open(config, 0, taking, 2, () => copies.clockMs);
    try {
      expect(logPosition(taking).seq).toBe(BASE + 8);
      expect(await log.lastSeq(0)).toBe(lastBefore + 1);
      const term = await jsm.streams.getMessage(stream.name, { seq: lastBefore + 1 });
      expect(term!.seq).toBe(BASE + 8 - BASE + 1);
      expect(term!.header.get(LOG_SEQ_HEADER)).toBe(String(BASE + 8));
      expect(term!.header.get('Nats-Msg-Id')).toBe(`node-b.2.${BASE + 8}`);
    } finally {
      await replicator.close();
    }
    await taking.root.close();
    await owner.root.close();
    await owner1.root.close();
  }, 120_000);

  it('reads a stream purged outside the trim with no backup named, refuses one purged whole, and the command refuses wrong usage', async () => {
    // Another deployment, with no bases stream: its stream purged by hand up to message 3.
    const stream = shardStream('byhand', 0);
    const log = await ReplicatedLog.open(nats.nc, 'byhand', [0], { nodeId: 'node-a', term: 1 });
    const owner = open('byhand');
    for (const task of [{ kind: 'program', version: 1, program: demoProgram(), atMs: T0, record: true }, register('h0'), register('h1')] as LoggedTask[]) {
      const value = run(owner, task);
      await log.appendFenced(0, value, logPosition(owner).seq - 1);
    }
    const jsm = await jetstreamManager(nats.nc);
    await jsm.streams.purge(stream.name, { seq: 3 });
    expect(await readStreamMapping(jsm, stream)).toEqual({ mapping: { base: { afterLogSeq: 2, backup: '' }, offset: 0 }, settled: true });
    const empty = open('byhand-empty');
    await expect(ShardReplicator.open({ servers: nats.cluster.servers, nodeId: 'node-b', deployment: 'byhand' }, 0, empty, 2, () => copies.clockMs))
      .rejects.toThrow(/starts after entry 2 .*restore a backup at entry 2 or later \(no trim recorded one\)/);
    await jsm.streams.purge(stream.name);
    await expect(readStreamMapping(jsm, stream)).rejects.toThrow(/holds no message but has held 3/);
    await empty.root.close();
    await owner.root.close();

    const env = { LOYALTY_NATS: nats.cluster.servers.join(','), LOYALTY_DEPLOYMENT: DEPLOYMENT };
    expect(await cli(env, 'cluster', 'trim')).toMatchObject({ status: 2, stderr: 'loyalty: cluster trim needs the backup to trim to: --before BACKUP\n' });
    expect(await cli(env, 'cluster', 'trim', '--before', join(dir, 'nightly-9'), '--data', dir)).toMatchObject({ status: 2, stderr: 'loyalty: unknown flag --data (flags: --before, --nats, --deployment)\n' });
    expect(await cli(env, 'cluster', 'trim', '--before', join(dir, 'no-such-backup'))).toMatchObject({ status: 1, stderr: expect.stringContaining('loyalty: cluster trim refused: ') });
  }, 60_000);
});
