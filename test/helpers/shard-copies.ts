// Shard copies run in-process for the tests of replication on NATS (a standby following a stream,
// a trimmed stream, `loyalty cluster trim`): LMDB stores in a temporary folder, tasks run through a
// shard's real commit path on a test clock that moves one second a task, the tasks those tests
// write, what a standby on such a copy reports, and a wait until a copy has reached what the test
// expects.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { openShardStore, type ShardStore } from '../../engine/shard/store.js';
import { ShardMachine } from '../../engine/shard/machine.js';
import { logPosition, logValues, type LoggedTask } from '../../engine/shard/batch-log.js';
import { replayShard, storeLogSource } from '../../engine/shard/replay.js';
import { ensureSearchIndex } from '../../engine/shard/search-index.js';
import { loadCore } from '../../engine/core/wasm.js';
import type { StandbyEvents } from '../../engine/shard/standby.js';
import { purchaseOp, registerOp } from '../../server/requests.js';

/** The LMDB map size of a test's copy: far more than any test's copy grows to. */
const COPY_MAP_BYTES = 256 * 1024 * 1024;
/** How long `waitFor` polls before it fails: a standby applies an entry within milliseconds; the bound leaves room for a shared machine. */
const WAIT_MAX_MS = 15_000;
/** How often `waitFor` looks again. */
const WAIT_POLL_MS = 50;

const admin = (atMs: number) => ({ role: 'admin' as const, nowMs: atMs, defaultCountry: 'HK' });
const at = (ms: number) => ({ at: new Date(ms).toISOString() });

/**
 * The copies of one test file, in a folder of their own. Its members are arrow functions so that a
 * test can take them apart (`const { open, run } = copies`) and call them as plain functions.
 */
export class ShardCopies {
  readonly dir: string;
  /** The test clock: each task runs one second after the one before, so a run is the same every time. */
  clockMs: number;

  constructor(prefix: string, t0Ms: number) {
    this.dir = mkdtempSync(join(tmpdir(), prefix));
    this.clockMs = t0Ms;
  }

  /** Opens (or creates) the copy `name` in the folder, with the search index the server keeps. */
  readonly open = (name: string): ShardStore => {
    const store = openShardStore(join(this.dir, name), COPY_MAP_BYTES, { noSync: true });
    ensureSearchIndex(store);
    return store;
  };

  /** Runs a task through shard `shard`'s commit path at the next second; answers its log entry's value. */
  readonly run = (store: ShardStore, task: LoggedTask, shard = 0): Buffer => {
    new ShardMachine(store, loadCore(), shard, { log: true }).run(task, (this.clockMs += 1_000));
    const seq = logPosition(store).seq;
    return [...logValues(store, seq, seq)][0]![1];
  };

  /** A batch registering `memberId` (named after itself) at the clock's time. */
  readonly register = (memberId: string): LoggedTask =>
    ({ kind: 'batch', ops: [registerOp({ memberId, name: memberId, ...at(this.clockMs) }, admin(this.clockMs), () => 'x')] });

  /** A batch of one purchase by `memberId` at the clock's time. */
  readonly purchase = (orderId: string, memberId: string, amountCents: number): LoggedTask =>
    ({ kind: 'batch', ops: [purchaseOp({ orderId, memberId, amountCents, ...at(this.clockMs) }, admin(this.clockMs))] });

  /** A copy of the owner's first `upTo` entries of shard 0, as a restore of a backup at that position holds them. */
  readonly copyOf = (owner: ShardStore, name: string, upTo: number): ShardStore => {
    const store = this.open(name);
    replayShard(storeLogSource(owner, 0), store, { untilBatch: upTo });
    expect(logPosition(store).seq).toBe(upTo);
    return store;
  };

  /** Removes the folder and every copy in it. */
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Polls `done` until it holds; fails naming `what` when it does not within WAIT_MAX_MS. */
export async function waitFor(what: string, done: () => boolean): Promise<void> {
  const deadlineMs = Date.now() + WAIT_MAX_MS;
  while (!done()) {
    if (Date.now() > deadlineMs) throw new Error(`${what}: not within ${WAIT_MAX_MS / 1_000} s`);
    await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
  }
}

/**
 * A standby's events on the copy `store` answers, recording its rebuild requests and failures in
 * `seen` instead of acting on them: a test then asserts that a copy was refused, not rebuilt.
 */
export function watch(store: () => ShardStore): { seen: { rebuilds: string[]; failures: Error[] }; events: StandbyEvents } {
  const seen = { rebuilds: [] as string[], failures: [] as Error[] };
  const events: StandbyEvents = {
    store,
    rebuild: async (reason) => { seen.rebuilds.push(reason); },
    fail: (err) => { seen.failures.push(err); },
    warn: () => { /* a turn that could not reach the stream is tried again */ },
  };
  return { seen, events };
}
