// `loyalty cluster trim --before BACKUP`: purges each shard's stream of the entries a backup already
// holds, as `loyalty log trim --before BACKUP` removes them from a single node's log (docs/cluster.md,
// "Trimming the streams"). For shard n at the backup's position p, the stream keeps log entry p + 1
// and on (entry p itself when p is the stream's last, so that a message always says the mapping);
// before it purges, it records the new start and the backup's name in the deployment's bases stream,
// which a node whose copy is before the new start is told to restore. Every shard is checked before
// anything is written; a run to the same backup again purges nothing. It trusts the operator to name
// a backup that every node's copy has passed: nodes are not asked, and one restarted behind the
// trimmed start stops with copy_behind_stream_base, naming the backup.
import { basename, resolve } from 'node:path';
import { headers } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { JetStreamApiCodes, JetStreamApiError, jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { CLUSTER_APPEND_ATTEMPT_MS } from '../engine/limits.js';
import { readBackupManifest } from '../engine/history/folder.js';
import { checksumHex, decodeLogHeader } from '../engine/shard/batch-log.js';
import {
  BASE_AFTER_HEADER, BASE_BACKUP_HEADER, basesStream, basesStreamConfig, logSeqOfStreamSeq, readStreamMapping, shardStream,
  streamSeqOfLogSeq,
} from '../engine/cluster/shard-stream.js';

/** A refusal the operator can act on: nothing was purged nor recorded. */
export class StreamTrimRefused extends Error {}

export interface StreamTrimOptions {
  servers: string[];
  deployment: string;
  /** The backup whose positions the streams are trimmed to; its folder's name is what nodes are told to restore. */
  backupDir: string;
}

/** What the trim did to one shard's stream. */
export interface ShardStreamTrim {
  shard: number;
  /** The backup's position of the shard. */
  backupSeq: number;
  /** The log position the stream started after before this run and starts after now (0: from entry 1). */
  startedAfter: number;
  startsAfter: number;
  /** Messages removed by this run (0 when the stream was already trimmed there). */
  purged: number;
}

/** What one shard's trim will do, decided before anything is written. */
interface Plan extends ShardStreamTrim { keepFromStreamSeq: number }

/** The log position a stream starts after: the base (a base message or a trim's), else 0. */
const startOf = (base: { afterLogSeq: number } | null): number => base?.afterLogSeq ?? 0;

async function planShard(jsm: JetStreamManager, deployment: string, shard: number, backupSeq: number, checksum: string | undefined, label: string): Promise<Plan> {
  const stream = shardStream(deployment, shard);
  let state;
  try {
    state = (await jsm.streams.info(stream.name)).state;
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) throw new StreamTrimRefused(`deployment ${deployment} has no stream for shard ${shard} (${stream.name}): the backup ${label} is not of this deployment`);
    throw err;
  }
  const nothing = (startedAfter: number): Plan => ({ shard, backupSeq, startedAfter, startsAfter: startedAfter, purged: 0, keepFromStreamSeq: state.first_seq });
  if (state.messages === 0) {
    if (backupSeq > 0) throw new StreamTrimRefused(`shard ${shard}'s stream is empty, but the backup ${label} holds the shard at entry ${backupSeq}: the backup is not of this deployment`);
    return nothing(0);
  }
  const { mapping } = await readStreamMapping(jsm, stream);
  const startedAfter = startOf(mapping.base);
  const lastLog = logSeqOfStreamSeq(state.last_seq, mapping);
  if (backupSeq > lastLog) throw new StreamTrimRefused(`the backup ${label} holds shard ${shard} at entry ${backupSeq}, past its stream's last entry ${lastLog}: it is not of this deployment`);
  // The entry the backup ends at, where the stream still holds it, must be the one the backup names.
  if (checksum !== undefined && backupSeq > startedAfter) {
    const held = await jsm.streams.getMessage(stream.name, { seq: streamSeqOfLogSeq(backupSeq, mapping) });
    if (held !== null && checksumHex(decodeLogHeader(held.data).checksum) !== checksum) {
      throw new StreamTrimRefused(`shard ${shard}'s log entry ${backupSeq} in the stream is not the one the backup ${label} names: the backup is not of this deployment`);
    }
  }
  // A backup before the stream's start leaves nothing to purge; the last message always stays.
  const keepFromLog = Math.min(backupSeq + 1, lastLog);
  if (keepFromLog - 1 <= startedAfter) return nothing(startedAfter);
  const keepFromStreamSeq = streamSeqOfLogSeq(keepFromLog, mapping);
  return { shard, backupSeq, startedAfter, startsAfter: keepFromLog - 1, purged: keepFromStreamSeq - state.first_seq, keepFromStreamSeq };
}

/** Trims every shard's stream to the backup's positions: all shards are checked, then each is recorded and purged. */
export async function trimStreams(options: StreamTrimOptions): Promise<ShardStreamTrim[]> {
  const manifest = readBackupManifest(options.backupDir);
  const label = basename(resolve(options.backupDir));
  const nc = await connect({ servers: options.servers, name: 'loyalty-cluster-trim', timeout: CLUSTER_APPEND_ATTEMPT_MS });
  try {
    const jsm = await jetstreamManager(nc, { timeout: CLUSTER_APPEND_ATTEMPT_MS });
    const js = jetstream(nc, { timeout: CLUSTER_APPEND_ATTEMPT_MS });
    const plans: Plan[] = [];
    for (const s of manifest.shards) plans.push(await planShard(jsm, options.deployment, s.shard, s.batch, s.checksum, label));
    const bases = basesStream(options.deployment);
    if (plans.some((p) => p.purged > 0)) {
      try {
        await jsm.streams.info(bases.name);
      } catch (err) {
        if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
        await jsm.streams.add(basesStreamConfig(options.deployment));
      }
    }
    for (const plan of plans) {
      if (plan.purged === 0) continue;
      // Recorded first: a node that reads the trimmed stream's mapping finds the backup named, even
      // when the trim stops between the two (the record's start is then past the stream's, and says so).
      const h = headers();
      h.set(BASE_AFTER_HEADER, String(plan.startsAfter));
      h.set(BASE_BACKUP_HEADER, label);
      await js.publish(bases.subjectOf(plan.shard), new TextEncoder().encode(JSON.stringify({ afterLogSeq: plan.startsAfter, backup: label })), { headers: h });
      const purged = await jsm.streams.purge(shardStream(options.deployment, plan.shard).name, { seq: plan.keepFromStreamSeq });
      plan.purged = purged.purged;
    }
    return plans.map(({ keepFromStreamSeq: _, ...result }) => result);
  } finally {
    await nc.close();
  }
}
