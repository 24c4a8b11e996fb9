// The mapping between a shard stream's sequences and its log's: the identity for a stream that
// starts with the log's first entry, and a fixed offset for one that starts with a base message
// (a folder imported with a trimmed log, docs/cluster.md "Stream sequence and log sequence"), kept
// when a trim purges the stream's first messages: read then from the first remaining message's header.
import { describe, expect, it } from 'vitest';
import { headers } from '@nats-io/nats-core';
import {
  BASE_AFTER_HEADER, BASE_BACKUP_HEADER, baseOfMessage, CopyBehindStreamBaseError, IDENTITY_MAPPING,
  LOG_SEQ_HEADER, logSeqOfStreamSeq, readStreamMapping, requireAtBase, shardStream, streamSeqOfLogSeq, type StreamMapping,
} from '../../engine/cluster/shard-stream.js';
import type { JetStreamManager } from '@nats-io/jetstream';

describe('stream sequence and log sequence', () => {
  it('is the identity for a stream without a base message', () => {
    for (const k of [1, 2, 17, 1_000_000]) {
      expect(streamSeqOfLogSeq(k, IDENTITY_MAPPING)).toBe(k);
      expect(logSeqOfStreamSeq(k, IDENTITY_MAPPING)).toBe(k);
    }
    expect(() => requireAtBase(0, 0, IDENTITY_MAPPING)).not.toThrow();
  });

  it('maps log entry k to stream message k - f + 2 after a base message at f - 1', () => {
    // A log trimmed to start at entry f = 41: the base message (stream message 1) stands for entry 40.
    const f = 41;
    const mapping: StreamMapping = { base: { afterLogSeq: f - 1, backup: 'nightly-1' } };
    expect(streamSeqOfLogSeq(f - 1, mapping)).toBe(1);
    expect(streamSeqOfLogSeq(f, mapping)).toBe(2);
    expect(streamSeqOfLogSeq(100, mapping)).toBe(100 - f + 2);
    expect(logSeqOfStreamSeq(1, mapping)).toBe(40);
    expect(logSeqOfStreamSeq(2, mapping)).toBe(41);
    for (let k = f - 1; k < f + 50; k++) expect(logSeqOfStreamSeq(streamSeqOfLogSeq(k, mapping), mapping)).toBe(k);
    // No stream message holds an entry before the base.
    expect(() => streamSeqOfLogSeq(f - 2, mapping)).toThrow(RangeError);
  });

  it('refuses a copy before the base with copy_behind_stream_base, naming the backup', () => {
    const mapping: StreamMapping = { base: { afterLogSeq: 40, backup: 'nightly-1' } };
    expect(() => requireAtBase(3, 40, mapping)).not.toThrow();
    expect(() => requireAtBase(3, 90, mapping)).not.toThrow();
    let caught: unknown;
    try { requireAtBase(3, 0, mapping); } catch (err) { caught = err; }
    expect(caught).toBeInstanceOf(CopyBehindStreamBaseError);
    const err = caught as CopyBehindStreamBaseError;
    expect(err.code).toBe('copy_behind_stream_base');
    expect(err.message).toContain('shard 3: this node\'s copy is at log entry 0');
    expect(err.message).toContain('starts after entry 40');
    expect(err.message).toContain('"nightly-1"');
    expect(err.message).not.toContain('../shared');
  });

  it('reads the base from the first message\'s headers, and none from a log value\'s', () => {
    const base = headers();
    base.set(BASE_AFTER_HEADER, '40');
    base.set(BASE_BACKUP_HEADER, 'nightly-1');
    expect(baseOfMessage(base)).toEqual({ afterLogSeq: 40, backup: 'nightly-1' });
    const value = headers();
    value.set('Loyalty-Log-Seq', '1');
    expect(baseOfMessage(value)).toBeNull();
    expect(baseOfMessage(undefined)).toBeNull();
    const bad = headers();
    bad.set(BASE_AFTER_HEADER, '-3');
    expect(() => baseOfMessage(bad)).toThrow(/not a positive entry number/);
  });
});

/**
 * A stand-in for the JetStream manager, enough for `readStreamMapping`: a stream's messages from
 * `firstSeq` on (a purge removed those before), each with its headers, and the trim's bases records.
 */
function fakeStreams(firstSeq: number, messages: Array<Record<string, string>>, recorded: Record<string, string> | null) {
  const toHeaders = (pairs: Record<string, string>) => {
    const h = headers();
    for (const [k, v] of Object.entries(pairs)) h.set(k, v);
    return h;
  };
  return {
    streams: {
      info: async () => ({ state: { messages: messages.length, first_seq: firstSeq, last_seq: firstSeq + messages.length - 1 } }),
      getMessage: async (name: string, query: { seq?: number; last_by_subj?: string }) => {
        if (name.endsWith('_BASES')) {
          expect(query.last_by_subj).toBe('loyalty.dep.base.2');
          return recorded === null ? null : { seq: 1, header: toHeaders(recorded), data: new Uint8Array(0) };
        }
        const i = query.seq! - firstSeq;
        return i < 0 || i >= messages.length ? null : { seq: query.seq!, header: toHeaders(messages[i]!), data: new Uint8Array(0) };
      },
    },
  } as unknown as JetStreamManager;
}

describe('the mapping of a trimmed stream, read from its first remaining message', () => {
  const stream = shardStream('dep', 2);

  it('keeps the identity for a stream whose first message is message 1, and a base\'s meaning', async () => {
    expect(await readStreamMapping(fakeStreams(1, [{ [LOG_SEQ_HEADER]: '1' }], null), stream)).toEqual({ mapping: IDENTITY_MAPPING, settled: true });
    expect(await readStreamMapping(fakeStreams(1, [{ [BASE_AFTER_HEADER]: '40', [BASE_BACKUP_HEADER]: 'nightly-1' }], null), stream))
      .toEqual({ mapping: { base: { afterLogSeq: 40, backup: 'nightly-1' } }, settled: true });
    expect(await readStreamMapping(fakeStreams(1, [], null), stream)).toEqual({ mapping: IDENTITY_MAPPING, settled: false });
  });

  it('maps a stream purged before message 6 by the log sequence its first message carries, the offset unchanged', async () => {
    // A stream that had no base, purged up to message 6 (log entry 6): the identity still, starting after entry 5.
    const purged = await readStreamMapping(fakeStreams(6, [{ [LOG_SEQ_HEADER]: '6' }, { [LOG_SEQ_HEADER]: '7' }], { [BASE_AFTER_HEADER]: '5', [BASE_BACKUP_HEADER]: 'nightly-2' }), stream);
    expect(purged.settled).toBe(true);
    const m = purged.mapping;
    expect(m.base).toEqual({ afterLogSeq: 5, backup: 'nightly-2' });
    for (const k of [6, 7, 100]) expect(streamSeqOfLogSeq(k, m)).toBe(k);
    expect(logSeqOfStreamSeq(7, m)).toBe(7);
    expect(() => requireAtBase(2, 5, m)).not.toThrow();
    expect(() => requireAtBase(2, 4, m)).toThrow(CopyBehindStreamBaseError);
    expect(() => requireAtBase(2, 4, m)).toThrow(/starts after entry 5.*"nightly-2"/);
  });

  it('keeps an imported stream\'s offset after its base message is purged', async () => {
    // Imported with a base after entry 40 (log k = stream k − 39), then purged up to stream message 5 (log entry 44).
    const before: StreamMapping = { base: { afterLogSeq: 40, backup: 'nightly-1' } };
    expect(streamSeqOfLogSeq(44, before)).toBe(5);
    const { mapping } = await readStreamMapping(fakeStreams(5, [{ [LOG_SEQ_HEADER]: '44' }], { [BASE_AFTER_HEADER]: '43', [BASE_BACKUP_HEADER]: 'nightly-3' }), stream);
    expect(mapping.base).toEqual({ afterLogSeq: 43, backup: 'nightly-3' });
    for (let k = 43; k < 90; k++) expect(streamSeqOfLogSeq(k, mapping)).toBe(streamSeqOfLogSeq(k, before));
    for (let s = 5; s < 50; s++) expect(logSeqOfStreamSeq(s, mapping)).toBe(logSeqOfStreamSeq(s, before));
    expect(() => streamSeqOfLogSeq(42, mapping)).toThrow(RangeError);
    expect(() => requireAtBase(2, 42, mapping)).toThrow(/restore the backup "nightly-3"/);
  });

  it('names no backup when the trim recorded none at or after the stream\'s start, and refuses a first message without its log sequence', async () => {
    const older = await readStreamMapping(fakeStreams(6, [{ [LOG_SEQ_HEADER]: '6' }], { [BASE_AFTER_HEADER]: '3', [BASE_BACKUP_HEADER]: 'too-old' }), stream);
    expect(older.mapping.base).toEqual({ afterLogSeq: 5, backup: '' });
    expect((await readStreamMapping(fakeStreams(6, [{ [LOG_SEQ_HEADER]: '6' }], null), stream)).mapping.base).toEqual({ afterLogSeq: 5, backup: '' });
    await expect(readStreamMapping(fakeStreams(6, [{}], null), stream)).rejects.toThrow(/does not carry a log sequence/);
    await expect(readStreamMapping(fakeStreams(6, [{ [BASE_AFTER_HEADER]: '5' }], null), stream)).rejects.toThrow(/only ever a stream's first message/);
  });
});
