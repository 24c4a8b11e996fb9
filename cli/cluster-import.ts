// `loyalty cluster import`: publishes a single-node data folder's batch logs to a deployment's
// shard streams, so that a folder whose log was trimmed (its first entry f > 1) can become a
// cluster's first node (docs/cluster.md, "Upgrading a single-node data folder"). A trimmed shard's
// stream starts with a base message standing for log position f − 1 and naming the backup the other
// nodes start from; every entry the folder holds follows, fenced, in order. A re-run resumes from
// what the stream holds, after checking every held message against the folder's entry. It lives
// with the command line because it joins a data folder's stores and the cluster's streams, which
// the engine's layers keep apart (test/architecture/layering.test.ts).
import { basename, resolve } from 'node:path';
import { headers } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { CLUSTER_APPEND_ATTEMPT_MS } from '../engine/limits.js';
import { openDataFolder, folderShardCount } from '../engine/router/data-folder.js';
import { readBackupManifest } from '../engine/history/folder.js';
import { openShardStore, type ShardStore } from '../engine/shard/store.js';
import { firstLogSeq, logPosition, logValues } from '../engine/shard/batch-log.js';
import { sameLogEntry } from '../engine/shard/log-redaction.js';
import { ReplicatedLog } from '../engine/cluster/fenced-append.js';
import {
  BASE_AFTER_HEADER, BASE_BACKUP_HEADER, ensureShardStream, logSeqOfStreamSeq, readStreamMapping, shardStream,
  streamSeqOfLogSeq, type ShardStream, type StreamBase,
} from '../engine/cluster/shard-stream.js';

/** A refusal the operator can act on: nothing after it was published, and what was published is checked by a re-run. */
export class ImportRefused extends Error {}

/**
 * The writer every import names in its message ids (`import.0.<log seq>`), the same for every run:
 * a re-run's append of an entry a lost acknowledgement left unknown is then a duplicate, not a second copy.
 */
const IMPORT_WRITER = { nodeId: 'import', term: 0 } as const;
/**
 * The message id of a stream's base message, the same for every import: of two imports racing on an
 * empty stream, NATS keeps one base (the duplicate window), as the owner record's vacant first record does.
 */
const BASE_MSG_ID = 'import.base';

export interface ImportOptions {
  dataDir: string;
  servers: string[];
  deployment: string;
  /** The backup the folder's log was trimmed to: required when a shard's log was trimmed, named in its base message. */
  backupDir?: string;
}

/** What the import did to one shard's stream. */
export interface ShardImport {
  shard: number;
  /** The folder's log: first entry held (null: none) and last position. */
  firstSeq: number | null;
  lastSeq: number;
  /** The base the stream starts with, or null for a log that was never trimmed. */
  base: StreamBase | null;
  /** Entries the stream already held and that were checked equal to the folder's (a re-run). */
  alreadyHeld: number;
  /** Entries appended by this run. */
  appended: number;
}

/** The base a shard's stream needs: none for an untrimmed log, else the position before its first entry and the backup named. */
function baseOf(store: ShardStore, shard: number, backup: { label: string; batch: number } | null): StreamBase | null {
  const position = logPosition(store).seq;
  const first = firstLogSeq(store) ?? position + 1;
  if (first <= 1) return null;
  const afterLogSeq = first - 1;
  if (backup === null) throw new ImportRefused(`shard ${shard}'s log was trimmed (it starts at entry ${first}): name the backup it was trimmed to with --backup DIR, so that the other nodes know where to start`);
  if (backup.batch < afterLogSeq || backup.batch > position) {
    throw new ImportRefused(`the backup ${backup.label} holds shard ${shard} at entry ${backup.batch}, but the folder's log holds entries ${first}..${position}: a node restored from it could not follow the stream`);
  }
  return { afterLogSeq, backup: backup.label };
}

/** Publishes the base message on an empty stream, once, and checks it is the stream's first message. */
async function publishBase(js: JetStreamClient, stream: ShardStream, base: StreamBase): Promise<void> {
  const h = headers();
  h.set(BASE_AFTER_HEADER, String(base.afterLogSeq));
  h.set(BASE_BACKUP_HEADER, base.backup);
  // NATS 2.9 does not enforce an expected last sequence of 0 (2.10 does): the fixed message id makes
  // two imports publish one base, and the acknowledged sequence tells whether anything came first.
  const ack = await js.publish(stream.subject, new TextEncoder().encode(JSON.stringify(base)), {
    msgID: BASE_MSG_ID, headers: h, timeout: CLUSTER_APPEND_ATTEMPT_MS, expect: { streamName: stream.name, lastSequence: 0 },
  });
  if (ack.seq !== 1) throw new ImportRefused(`stream ${stream.name} took another message before the import's base (the base landed at ${ack.seq}): a node wrote to it during the import; the stream must be deleted and the import run again with every node stopped`);
}

async function importShard(jsm: JetStreamManager, js: JetStreamClient, log: ReplicatedLog, store: ShardStore, stream: ShardStream, base: StreamBase | null): Promise<ShardImport> {
  const shard = stream.shard;
  const lastSeq = logPosition(store).seq;
  const firstSeq = firstLogSeq(store);
  await ensureShardStream(jsm, stream);
  let streamLast = (await jsm.streams.info(stream.name)).state.last_seq;
  if (streamLast === 0 && base !== null) {
    await publishBase(js, stream, base);
    streamLast = 1;
  }
  const { mapping } = await readStreamMapping(jsm, stream);
  if (streamLast > 0) {
    // A stream that holds something must be this folder's import begun before: the same base.
    const held = mapping.base;
    if ((held === null) !== (base === null) || (held !== null && base !== null && held.afterLogSeq !== base.afterLogSeq)) {
      throw new ImportRefused(`stream ${stream.name} holds ${streamLast} messages that do not start where shard ${shard}'s log does ` +
        `(${held === null ? 'no base' : `a base after entry ${held.afterLogSeq}`}, the folder ${base === null ? 'from entry 1' : `after entry ${base.afterLogSeq}`}): it is another folder's log, and the import only fills an empty stream`);
    }
  }
  const heldLog = logSeqOfStreamSeq(streamLast, mapping);
  if (heldLog > lastSeq) throw new ImportRefused(`stream ${stream.name} holds shard ${shard}'s log up to entry ${heldLog}, past this folder's last entry ${lastSeq}: a node has written to it since, and this folder is behind the deployment`);
  // Every entry the stream holds must be the folder's own (a re-run after a partial import).
  const from = (base?.afterLogSeq ?? 0) + 1;
  let alreadyHeld = 0;
  for (const [seq, value] of logValues(store, from, heldLog)) {
    const streamed = await log.valueAt(shard, streamSeqOfLogSeq(seq, mapping));
    if (streamed === null || !sameLogEntry(store, seq, value, streamed)) throw new ImportRefused(`stream ${stream.name}'s message for shard ${shard}'s log entry ${seq} differs from the folder's: it holds another folder's log`);
    alreadyHeld += 1;
  }
  let appended = 0;
  let fence = streamLast;
  for (const [seq, value] of logValues(store, heldLog + 1, lastSeq)) {
    if (seq !== heldLog + 1 + appended) throw new ImportRefused(`shard ${shard}'s log lacks entry ${heldLog + 1 + appended} (the next it holds is ${seq}): the folder's log has a gap`);
    // On an empty stream without a base, 2.9 ignores the fence of 0: the landing sequence is checked by the append.
    fence = await log.appendFenced(shard, value, fence);
    appended += 1;
  }
  return { shard, firstSeq, lastSeq, base, alreadyHeld, appended };
}

/** Imports every shard of the folder; the folder is locked as a writer for the run, so no server may be using it. */
export async function importFolder(options: ImportOptions): Promise<ShardImport[]> {
  const shards = folderShardCount(options.dataDir);
  if (shards === null) throw new ImportRefused(`${resolve(options.dataDir)} is not a data folder (it has no engine.json)`);
  const folder = openDataFolder(options.dataDir, { shards, access: 'write', create: false, holder: 'loyalty cluster import' });
  const stores: ShardStore[] = [];
  try {
    for (let shard = 0; shard < shards; shard++) stores.push(openShardStore(resolve(options.dataDir, `shard-${shard}`)));
    const manifest = options.backupDir === undefined ? null : readBackupManifest(options.backupDir);
    if (manifest !== null && (manifest.shards.length !== shards || manifest.shards.some((s, i) => s.shard !== i))) {
      throw new ImportRefused(`the backup ${options.backupDir} lists shards ${manifest.shards.map((s) => s.shard).join(', ')}, but the folder has shards 0..${shards - 1}`);
    }
    const label = options.backupDir === undefined ? '' : basename(resolve(options.backupDir));
    // Every shard is checked before anything is published.
    const bases = stores.map((store, shard) => baseOf(store, shard, manifest === null ? null : { label, batch: manifest.shards[shard]!.batch }));
    const nc = await connect({ servers: options.servers, name: 'loyalty-cluster-import', timeout: CLUSTER_APPEND_ATTEMPT_MS });
    try {
      const jsm = await jetstreamManager(nc, { timeout: CLUSTER_APPEND_ATTEMPT_MS });
      const js = jetstream(nc, { timeout: CLUSTER_APPEND_ATTEMPT_MS });
      const log = await ReplicatedLog.open(nc, options.deployment, [...stores.keys()], IMPORT_WRITER);
      const results: ShardImport[] = [];
      for (let shard = 0; shard < shards; shard++) results.push(await importShard(jsm, js, log, stores[shard]!, shardStream(options.deployment, shard), bases[shard]!));
      return results;
    } finally {
      await nc.close();
    }
  } finally {
    for (const store of stores) await store.root.close();
    folder.release();
  }
}
