// Sends webhook events to their subscriptions: for each subscription and shard, one lane reads the
// shard's ledger after its cursor (on the reader thread, never the shard's writer), maps each entry
// to its events, and posts them one at a time, in ledger order, so that a member's events arrive in
// order. The cursor moves (and is written to disk) only once the receiver acknowledged an event or
// its retry window ended, so a process that dies resends from there: at least once, never lost.
import { randomBytes } from 'node:crypto';
import {
  WEBHOOK_COMMIT_POLL_MS, WEBHOOK_ERROR_CHARS_MAX, WEBHOOK_IDLE_POLL_MS, WEBHOOK_IN_FLIGHT_MAX, WEBHOOK_PAGE_ENTRIES,
  WEBHOOK_RETRY_DELAY_MAX_MS, WEBHOOK_SCAN_ENTRIES_MAX,
} from '../../engine/limits.js';
import { eventsOfEntry, parseWebhookEventId, type WebhookEvent, type WebhookEventType } from '../../engine/rules/webhook-events.js';
import type { Engine } from '../../engine/router/engine.js';
import { newWebhookSecret, signatureHeader } from './signature.js';
import type { Attempt, Cursor, Subscription, WebhookStore } from './store.js';

export interface DeliveryTiming {
  /** A 2xx within this long is success (WEBHOOK_TIMEOUT_MS). */
  timeoutMs: number;
  /** The first retry's delay, doubled after each failure up to WEBHOOK_RETRY_DELAY_MAX_MS. */
  retryFirstMs: number;
  /** How long an event is retried before it is marked failed. */
  retryWindowMs: number;
}

export interface DispatcherLog { warn(detail: object, message: string): void }

/** A cursor past every event of the entry at `seq` (an entry makes at most a few events). */
const WHOLE_ENTRY_PART = 9;

const sleep = (ms: number, signal: AbortSignal): Promise<void> => new Promise((resolve) => {
  if (signal.aborted) { resolve(); return; }
  const timer = setTimeout(() => { signal.removeEventListener('abort', done); resolve(); }, ms);
  const done = (): void => { clearTimeout(timer); resolve(); };
  signal.addEventListener('abort', done, { once: true });
});

/** A bound on deliveries in flight across every lane (WEBHOOK_IN_FLIGHT_MAX). */
class Slots {
  private free = WEBHOOK_IN_FLIGHT_MAX;
  private readonly waiting: Array<() => void> = [];
  async take(): Promise<void> {
    if (this.free > 0) { this.free -= 1; return; }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  give(): void {
    const next = this.waiting.shift();
    if (next !== undefined) next(); else this.free += 1;
  }
}

/** One subscription's deliveries from one shard. */
class Lane {
  /** Stops this lane's current wait or request; a new controller is made when it starts over (a redeliver). */
  controller = new AbortController();
  stopped = false;
  /** The shard's committed batches when this lane last read it: a change means there is something to read. */
  private seenBatches = -1;
  private running: Promise<void> = Promise.resolve();

  constructor(private readonly d: WebhookDispatcher, readonly sub: Subscription, readonly shardId: number) {}

  start(): void {
    this.running = this.loop().catch((err: unknown) => this.d.log.warn({ err, subscription: this.sub.id, shard: this.shardId }, 'webhook lane stopped'));
  }

  /**
   * Stops the pass under way, then moves the cursor to `to` (back, for a redeliver) once nothing of
   * that pass can move it any more, and starts over from there. Resolves once the cursor is moved.
   */
  restartFrom(to: Cursor): Promise<void> {
    this.controller.abort();
    const previous = this.running;
    let moved!: () => void;
    const done = new Promise<void>((resolve) => { moved = resolve; });
    this.running = previous.then(() => {
      this.d.store.state(this.sub.id).cursors[this.shardId] = to;
      this.d.store.saveState(this.sub.id);
      moved();
      if (this.stopped) return;
      this.controller = new AbortController();
      return this.loop();
    }).catch((err: unknown) => this.d.log.warn({ err, subscription: this.sub.id, shard: this.shardId }, 'webhook lane stopped'));
    return done;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.controller.abort();
    await this.running;
  }

  private cursor(): Cursor {
    return this.d.store.state(this.sub.id).cursors[this.shardId]!;
  }

  private async loop(): Promise<void> {
    const signal = this.controller.signal;
    while (!signal.aborted) {
      const cursor = this.cursor();
      let page: Awaited<ReturnType<Engine['ledgerPage']>>;
      try {
        this.seenBatches = this.d.engine.shards[this.shardId]!.stats.batches;
        page = await this.d.engine.ledgerPage(this.shardId, { afterSeq: Math.max(0, cursor.seq - 1), limit: WEBHOOK_PAGE_ENTRIES, scanMax: WEBHOOK_SCAN_ENTRIES_MAX });
      } catch (err) {
        // The reader's queue full, or the engine closing: look again later.
        if (signal.aborted) return;
        this.d.log.warn({ err, subscription: this.sub.id, shard: this.shardId }, 'webhook lane could not read the ledger');
        await sleep(WEBHOOK_IDLE_POLL_MS, signal);
        continue;
      }
      for (const entry of page.entries) {
        for (const event of eventsOfEntry(this.shardId, entry)) {
          const part = parseWebhookEventId(event.id)!.part;
          if (entry.seq < cursor.seq || (entry.seq === cursor.seq && part <= cursor.part)) continue;
          if (!this.sub.events.includes(event.type)) continue;
          await this.deliver(event, signal);
          await this.advance({ seq: entry.seq, part }, signal);
          if (signal.aborted) return;
        }
      }
      const lastSeq = page.nextSeq ?? page.entries[page.entries.length - 1]?.seq ?? null;
      if (lastSeq !== null && lastSeq >= cursor.seq && !(lastSeq === cursor.seq && cursor.part === WHOLE_ENTRY_PART)) {
        await this.advance({ seq: lastSeq, part: WHOLE_ENTRY_PART }, signal);
      }
      if (page.nextSeq !== null) continue;
      await this.waitForCommits(signal);
    }
  }

  /**
   * Moves the cursor forward to `to` and writes it. Not once the lane was stopped or sent back: a
   * redeliver that moved the cursor back while this pass was reading must not be undone by it.
   */
  private async advance(to: Cursor, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    const state = this.d.store.state(this.sub.id);
    const now = state.cursors[this.shardId]!;
    if (to.seq < now.seq || (to.seq === now.seq && to.part <= now.part)) return;
    state.cursors[this.shardId] = to;
    this.d.store.saveState(this.sub.id);
  }

  /** Waits until the shard commits a batch (a cheap look at its counter) or the idle poll comes round. */
  private async waitForCommits(signal: AbortSignal): Promise<void> {
    const until = Date.now() + WEBHOOK_IDLE_POLL_MS;
    while (!signal.aborted && Date.now() < until) {
      if (this.d.engine.shards[this.shardId]!.stats.batches !== this.seenBatches) {
        await sleep(WEBHOOK_COMMIT_POLL_MS, signal);
        return;
      }
      await sleep(WEBHOOK_COMMIT_POLL_MS, signal);
    }
  }

  /** Posts one event until a 2xx, or until its retry window ends (then it is marked failed). */
  private async deliver(event: WebhookEvent, signal: AbortSignal): Promise<void> {
    const timing = this.d.timing;
    const firstMs = Date.now();
    let delayMs = timing.retryFirstMs;
    for (;;) {
      const attempt = await this.d.post(this.sub, event, signal);
      if (signal.aborted) return;
      const delivered = attempt.statusCode !== null && attempt.statusCode >= 200 && attempt.statusCode < 300;
      const givingUp = !delivered && Date.now() + delayMs - firstMs > timing.retryWindowMs;
      attempt.outcome = delivered ? 'delivered' : givingUp ? 'failed' : 'retrying';
      this.d.store.recordAttempt(this.sub.id, attempt);
      if (delivered) return;
      if (givingUp) {
        this.d.store.markFailed(this.sub.id, { eventId: event.id, type: event.type, memberId: event.memberId, failedAt: new Date().toISOString(), lastError: attempt.error ?? `HTTP ${attempt.statusCode}` });
        return;
      }
      await sleep(delayMs, signal);
      if (signal.aborted) return;
      delayMs = Math.min(delayMs * 2, WEBHOOK_RETRY_DELAY_MAX_MS);
    }
  }
}

export class WebhookDispatcher {
  private readonly lanes = new Map<string, Lane[]>();
  private readonly slots = new Slots();
  private closed = false;

  constructor(readonly engine: Engine, readonly store: WebhookStore, readonly timing: DeliveryTiming, readonly log: DispatcherLog) {
    store.onWriteError = (err) => log.warn({ err }, 'webhook delivery state could not be written; the cursor on disk stays older (events since will be sent again after a restart)');
    for (const sub of store.list()) this.startLanes(sub);
  }

  private startLanes(sub: Subscription): void {
    const lanes = this.engine.shards.map((_, shardId) => new Lane(this, sub, shardId));
    this.lanes.set(sub.id, lanes);
    for (const lane of lanes) lane.start();
  }

  /** Creates a subscription that hears of every entry committed from now on, and starts its lanes. */
  async subscribe(url: string, events: WebhookEventType[]): Promise<Subscription> {
    const cursors = await Promise.all(this.engine.shards.map(async (_, shardId) => ({ seq: await this.engine.ledgerEnd(shardId), part: WHOLE_ENTRY_PART })));
    const sub: Subscription = { id: `wh_${randomBytes(8).toString('hex')}`, url, events, secret: newWebhookSecret(), createdAt: new Date().toISOString() };
    this.store.add(sub, cursors);
    if (!this.closed) this.startLanes(sub);
    return sub;
  }

  async unsubscribe(id: string): Promise<boolean> {
    if (this.store.get(id) === null) return false;
    const lanes = this.lanes.get(id) ?? [];
    this.lanes.delete(id);
    await Promise.all(lanes.map((l) => l.stop()));
    // Writes under way finish first, or one could put a file of the subscription back after its removal.
    await this.store.flush();
    this.store.remove(id);
    return true;
  }

  /**
   * Sends again, from event `fromEventId` on, every event of that event's shard (the member's
   * events are all on one shard): the lane's cursor moves back to just before it and the lane starts
   * over, leaving any event it was retrying.
   */
  async redeliver(id: string, from: { shardId: number; seq: number; part: number }): Promise<void> {
    const to: Cursor = from.part === 0 ? { seq: from.seq - 1, part: WHOLE_ENTRY_PART } : { seq: from.seq, part: from.part - 1 };
    const lane = this.lanes.get(id)?.[from.shardId];
    if (lane === undefined) {
      this.store.state(id).cursors[from.shardId] = to;
      this.store.saveState(id);
    } else {
      await lane.restartFrom(to);
    }
    await this.store.flush();
  }

  /** One POST of one event, signed, bounded by the timeout; never throws. */
  async post(sub: Subscription, event: WebhookEvent, signal: AbortSignal): Promise<Attempt> {
    await this.slots.take();
    const body = JSON.stringify(event);
    const startMs = performance.now();
    const attempt: Attempt = { eventId: event.id, type: event.type, memberId: event.memberId, statusCode: null, error: null, latencyMs: 0, at: new Date().toISOString(), outcome: 'retrying' };
    try {
      const response = await fetch(sub.url, {
        method: 'POST',
        body,
        redirect: 'manual',
        headers: {
          'Content-Type': 'application/json',
          'User-Agent': 'loyalty-ledger-webhooks',
          'Loyalty-Event-Id': event.id,
          'Loyalty-Signature': signatureHeader(sub.secret, Math.floor(Date.now() / 1000), body),
        },
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.timing.timeoutMs)]),
      });
      attempt.statusCode = response.status;
      // The body is not read: a receiver's answer past its status means nothing here, and the connection is kept for the next event.
      await response.body?.cancel();
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      const reason = e.name === 'TimeoutError' ? `no answer within ${this.timing.timeoutMs} ms` : e.cause?.code ?? e.cause?.message ?? e.message;
      attempt.error = reason.slice(0, WEBHOOK_ERROR_CHARS_MAX);
    } finally {
      this.slots.give();
    }
    attempt.latencyMs = Math.round(performance.now() - startMs);
    return attempt;
  }

  /** Stops every lane (their requests are cut; the events resend after the next start). */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.lanes.values()].flat();
    this.lanes.clear();
    await Promise.all(all.map((l) => l.stop()));
    await this.store.flush();
  }
}
