// The three-server NATS cluster the cluster-mode tests run on (bench/nats-cluster.ts): it
// starts, holds a three-replica stream, and its stream-level expected-last-sequence fence refuses
// a writer that appends on a sequence that is no longer the last, which is what makes a stale
// shard owner step down.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstream, jetstreamManager, JetStreamApiCodes, JetStreamApiError, RetentionPolicy, StorageType, DiscardPolicy } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { NatsCluster, skipWithoutNats } from '../helpers/nats-cluster.js';

const skip = skipWithoutNats();

describe.skipIf(skip)('a three-server NATS cluster on loopback', () => {
  let cluster: NatsCluster;
  let owner: NatsConnection;
  let stale: NatsConnection;

  beforeAll(async () => {
    cluster = await NatsCluster.start(3);
    owner = await cluster.connect('owner');
    stale = await cluster.connect('stale-owner');
  });

  afterAll(async () => {
    await owner?.close();
    await stale?.close();
    await cluster?.stop();
  });

  it('runs three servers, each with its own process', () => {
    const pids = cluster.nodes.map((n) => n.child?.pid);
    expect(pids.every((p) => typeof p === 'number')).toBe(true);
    expect(new Set(pids).size).toBe(3);
  });

  it('holds a three-replica stream and refuses an append on a stale last sequence (error 10071)', async () => {
    const jsm = await jetstreamManager(owner, { timeout: 5_000 });
    const info = await jsm.streams.add({
      name: 'FENCE_TEST', subjects: ['fence.test'], num_replicas: 3, storage: StorageType.File,
      retention: RetentionPolicy.Limits, discard: DiscardPolicy.New,
    });
    expect(info.config.num_replicas).toBe(3);
    expect(info.cluster?.replicas?.length).toBe(2);

    const js = jetstream(owner, { timeout: 5_000 });
    const first = await js.publish('fence.test', new Uint8Array([1]), { expect: { lastSequence: 0 } });
    const second = await js.publish('fence.test', new Uint8Array([2]), { expect: { lastSequence: first.seq } });
    expect([first.seq, second.seq]).toEqual([1, 2]);

    // A second writer that last saw sequence 1 (it missed the owner's append) is refused, and the
    // stream keeps exactly the owner's two messages.
    const staleJs = jetstream(stale, { timeout: 5_000 });
    const refused = await staleJs.publish('fence.test', new Uint8Array([9]), { expect: { lastSequence: 1 } }).then(() => null, (err: unknown) => err);
    expect(refused).toBeInstanceOf(JetStreamApiError);
    expect((refused as JetStreamApiError).code).toBe(JetStreamApiCodes.StreamWrongLastSequence);
    const after = await jsm.streams.info('FENCE_TEST');
    expect(after.state.messages).toBe(2);
    expect(after.state.last_seq).toBe(2);
    expect((await jsm.streams.getMessage('FENCE_TEST', { seq: 2 }))!.data).toEqual(new Uint8Array([2]));
  });
});
