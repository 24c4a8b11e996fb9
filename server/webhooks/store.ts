// Webhook subscriptions and their delivery state on disk, in the data folder's `webhooks` folder
// (0700; files 0600, as the rest of the data folder): one file per subscription holding its secret,
// written once; one state file with its cursor per shard and its failed events, replaced after every
// acknowledged delivery; and an append-only file of its delivery attempts, compacted as it grows.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { appendFile, open, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DATA_FILE_MODE, DATA_FOLDER_MODE, WEBHOOK_ATTEMPTS_KEPT, WEBHOOK_FAILED_KEPT, WEBHOOK_STATE_WRITE_INTERVAL_MS } from '../../engine/limits.js';
import type { WebhookEventType } from '../../engine/rules/webhook-events.js';

export interface Subscription { id: string; url: string; events: WebhookEventType[]; secret: string; createdAt: string }

/** Where a subscription stands on one shard: every event up to (seq, part) is acknowledged or marked failed. */
export interface Cursor { seq: number; part: number }

/** One delivery attempt as `GET …/deliveries` lists it. */
export interface Attempt {
  eventId: string; type: WebhookEventType; memberId: string;
  /** The receiver's HTTP status, or null when none came (`error` says why). */
  statusCode: number | null; error: string | null; latencyMs: number; at: string;
  /** `delivered`, `retrying` (another attempt is due), or `failed` (the retry window is over). */
  outcome: 'delivered' | 'retrying' | 'failed';
}

export interface FailedEvent { eventId: string; type: WebhookEventType; memberId: string; failedAt: string; lastError: string }

/**
 * The event a lane is retrying on one shard: when its first attempt was (its retry window counts
 * from there), when the next one is due and the delay after that, so that a restart neither retries
 * at once nor forgets how long it has been trying.
 */
export interface RetryState { eventId: string; firstAtMs: number; nextAtMs: number; delayMs: number }

/** `retrying` per shard (null: none); absent in state files written before it was kept. */
export interface SubscriptionState { cursors: Cursor[]; failed: FailedEvent[]; retrying?: Array<RetryState | null> }

/** The folder of the subscriptions in a data folder; backups copy its subscriptions and states, not the attempts (engine/router/backup.ts). */
export const WEBHOOKS_FOLDER = 'webhooks';

const SUBSCRIPTION_FILE = (id: string): string => `${id}.json`;
const STATE_FILE = (id: string): string => `${id}.state.json`;
const ATTEMPTS_FILE = (id: string): string => `${id}.attempts.jsonl`;

/** A file written whole and durably: a fresh temporary file (0600), fsynced, renamed over the old one. */
function writeDurablySync(path: string, text: string): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w', DATA_FILE_MODE);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** The same off the main thread (libuv's pool does the write and the fsync): delivery state changes often. */
async function writeDurably(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  const handle = await open(tmp, 'w', DATA_FILE_MODE);
  try {
    await handle.writeFile(text);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
}

export class WebhookStore {
  readonly dir: string;
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly states = new Map<string, SubscriptionState>();
  /** Attempts newest last, per subscription, as read at start plus those made since. */
  private readonly attempts = new Map<string, Attempt[]>();
  /** Lines in each attempts file, to compact it once it holds twice what is kept. */
  private readonly attemptLines = new Map<string, number>();
  /**
   * The state write under way per subscription, and whether another is wanted after it: writes of
   * one subscription never overlap, each writes the state as it is when it starts, and cursors moved
   * meanwhile are coalesced into one more write, so delivery never waits for the disk.
   */
  private readonly stateWrites = new Map<string, { running: Promise<void>; again: boolean }>();
  /** Attempt lines not yet appended, per subscription, and the append under way. */
  private readonly attemptBuffers = new Map<string, string[]>();
  private readonly attemptWrites = new Map<string, Promise<void>>();
  /** Called when a write of the delivery state fails (the disk full, say); delivery goes on, the cursor on disk stays older. */
  onWriteError: (err: unknown) => void = () => {};

  constructor(dataDir: string) {
    this.dir = join(dataDir, WEBHOOKS_FOLDER);
    if (!existsSync(this.dir)) mkdirSync(this.dir, { recursive: true, mode: DATA_FOLDER_MODE });
    for (const name of readdirSync(this.dir).sort()) {
      const m = /^([a-z0-9_]+)\.json$/.exec(name);
      if (m === null) continue;
      const sub = JSON.parse(readFileSync(join(this.dir, name), 'utf8')) as Subscription;
      this.subscriptions.set(sub.id, sub);
      const statePath = join(this.dir, STATE_FILE(sub.id));
      if (existsSync(statePath)) this.states.set(sub.id, JSON.parse(readFileSync(statePath, 'utf8')) as SubscriptionState);
      const attemptsPath = join(this.dir, ATTEMPTS_FILE(sub.id));
      const lines = existsSync(attemptsPath) ? readFileSync(attemptsPath, 'utf8').split('\n').filter((l) => l !== '') : [];
      // A line cut short by a crash mid-append is the only one that may not parse: it is dropped.
      const list: Attempt[] = [];
      for (const line of lines) { try { list.push(JSON.parse(line) as Attempt); } catch { /* a torn last line */ } }
      this.attempts.set(sub.id, list.slice(-WEBHOOK_ATTEMPTS_KEPT));
      this.attemptLines.set(sub.id, lines.length);
    }
  }

  list(): Subscription[] {
    return [...this.subscriptions.values()].sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : 1));
  }

  get(id: string): Subscription | null {
    return this.subscriptions.get(id) ?? null;
  }

  get size(): number {
    return this.subscriptions.size;
  }

  /** Stores a new subscription with its cursors (where each shard's ledger ends now), durably, before it is answered. */
  add(sub: Subscription, cursors: Cursor[]): void {
    const state: SubscriptionState = { cursors, failed: [] };
    writeDurablySync(join(this.dir, STATE_FILE(sub.id)), JSON.stringify(state));
    writeDurablySync(join(this.dir, SUBSCRIPTION_FILE(sub.id)), JSON.stringify(sub));
    this.subscriptions.set(sub.id, sub);
    this.states.set(sub.id, state);
    this.attempts.set(sub.id, []);
    this.attemptLines.set(sub.id, 0);
  }

  /** Forgets a subscription and its files; its deliveries stop (the dispatcher is told first). */
  remove(id: string): void {
    this.subscriptions.delete(id);
    this.states.delete(id);
    this.attempts.delete(id);
    this.attemptLines.delete(id);
    for (const file of [SUBSCRIPTION_FILE(id), STATE_FILE(id), ATTEMPTS_FILE(id)]) rmSync(join(this.dir, file), { force: true });
  }

  state(id: string): SubscriptionState {
    const state = this.states.get(id);
    if (state === undefined) throw new Error(`webhook subscription ${id} has no state`);
    return state;
  }

  /**
   * Writes the subscription's state soon (durably: written, fsynced, renamed) without waiting for
   * it. The cursor on disk may lag the one in memory by the writes under way; a restart then resends
   * those events, which at least once allows, and never skips one.
   */
  saveState(id: string): void {
    const under = this.stateWrites.get(id);
    if (under !== undefined) { under.again = true; return; }
    const entry = { running: Promise.resolve(), again: false };
    this.stateWrites.set(id, entry);
    entry.running = (async () => {
      do {
        // At most one durable write per subscription per interval: each is an fsync on the disk the
        // shards' commits sync to, and those syncs are the write path's cost.
        await new Promise((resolve) => setTimeout(resolve, WEBHOOK_STATE_WRITE_INTERVAL_MS));
        entry.again = false;
        const state = this.states.get(id);
        if (state === undefined) break;
        try {
          await writeDurably(join(this.dir, STATE_FILE(id)), JSON.stringify(state));
        } catch (err) {
          this.onWriteError(err);
          break;
        }
      } while (entry.again);
      this.stateWrites.delete(id);
    })();
  }

  /** Waits for every state and attempt write under way (at a stop, and by a redeliver before it answers). */
  async flush(): Promise<void> {
    for (;;) {
      const pending = [...this.stateWrites.values()].map((e) => e.running).concat([...this.attemptWrites.values()]);
      if (pending.length === 0) return;
      await Promise.all(pending);
    }
  }

  markFailed(id: string, failed: FailedEvent): void {
    const state = this.state(id);
    state.failed.push(failed);
    if (state.failed.length > WEBHOOK_FAILED_KEPT) state.failed.splice(0, state.failed.length - WEBHOOK_FAILED_KEPT);
  }

  /**
   * Records an attempt in memory and appends it to the subscription's file soon, with the others
   * made meanwhile in one write (no fsync: the list is a record, not a cursor); the file is rewritten
   * with only the attempts kept once it holds twice as many.
   */
  recordAttempt(id: string, attempt: Attempt): void {
    const list = this.attempts.get(id);
    if (list === undefined) return;
    list.push(attempt);
    if (list.length > WEBHOOK_ATTEMPTS_KEPT) list.splice(0, list.length - WEBHOOK_ATTEMPTS_KEPT);
    let buffer = this.attemptBuffers.get(id);
    if (buffer === undefined) { buffer = []; this.attemptBuffers.set(id, buffer); }
    buffer.push(JSON.stringify(attempt) + '\n');
    if (this.attemptWrites.has(id)) return;
    this.attemptWrites.set(id, (async () => {
      const path = join(this.dir, ATTEMPTS_FILE(id));
      try {
        while (buffer.length > 0) {
          const lines = buffer.splice(0);
          if (!this.attempts.has(id)) break;
          const count = (this.attemptLines.get(id) ?? 0) + lines.length;
          if (count > 2 * WEBHOOK_ATTEMPTS_KEPT) {
            const kept = this.attempts.get(id)!;
            this.attemptLines.set(id, kept.length);
            const tmp = `${path}.tmp`;
            await writeFile(tmp, kept.map((a) => JSON.stringify(a) + '\n').join(''), { mode: DATA_FILE_MODE });
            await rename(tmp, path);
          } else {
            this.attemptLines.set(id, count);
            await appendFile(path, lines.join(''), { mode: DATA_FILE_MODE });
          }
        }
      } catch (err) {
        this.onWriteError(err);
      } finally {
        this.attemptWrites.delete(id);
        this.attemptBuffers.delete(id);
      }
    })());
  }

  /** Attempts newest first, those before position `before` (an index counted from the newest, the cursor of a page). */
  attemptsPage(id: string, before: number, limit: number): { attempts: Attempt[]; nextCursor: string | null } {
    const list = this.attempts.get(id) ?? [];
    const newestFirst: Attempt[] = [];
    for (let i = list.length - 1 - before; i >= 0 && newestFirst.length < limit; i--) newestFirst.push(list[i]!);
    const consumed = before + newestFirst.length;
    return { attempts: newestFirst, nextCursor: consumed < list.length ? String(consumed) : null };
  }
}
