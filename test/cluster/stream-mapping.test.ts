// The mapping between a shard stream's sequences and its log's: the identity for a stream that
// starts with the log's first entry, and a fixed offset for one that starts with a base message
// (a folder imported with a trimmed log, docs/cluster.md "Stream sequence and log sequence").
import { describe, expect, it } from 'vitest';
import { headers } from '@nats-io/nats-core';
import {
  BASE_AFTER_HEADER, BASE_BACKUP_HEADER, baseOfMessage, CopyBehindStreamBaseError, IDENTITY_MAPPING,
  logSeqOfStreamSeq, requireAtBase, streamSeqOfLogSeq, type StreamMapping,
} from '../../engine/cluster/shard-stream.js';

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
