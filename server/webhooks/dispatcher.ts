// Sends webhook events to their subscriptions: for each subscription and shard, one lane reads the
// shard's ledger after its cursor (on the delivery thread, from a read-only view, never the shard's
// writer), maps each entry to its events, and posts them one at a time, in ledger order, so that a
// member's events arrive in order. The cursor moves (and is written to disk) only once the receiver
// acknowledged an event or its retry window ended, so a process that dies resends from there: at
// least once, never lost. A retried event's next attempt time is written too, so that a restart
// keeps its delays.
import { randomBytes } from 'node:crypto';
import {
  WEBHOOK_COMMIT_POLL_MS, WEBHOOK_ERROR_CHARS_MAX, WEBHOOK_IDLE_POLL_MS, WEBHOOK_IN_FLIGHT_MAX, WEBHOOK_PAGE_ENTRIES,
  WEBHOOK_RETRY_DELAY_MAX_MS, WEBHOOK_SCAN_ENTRIES_MAX,
} from '../../engine/limits.js';
import { eventsOfEntry, parseWebhookEventId, type WebhookEvent, type WebhookEventType } from '../../engine/rules/webhook-events.js';
import type { ExportedEntry } from '../../engine/rules/reports.js';
import { newWebhookSecret, signatureHeader } from './signature.js';
import type { Attempt, Cursor, RetryState, Subscription, WebhookStore } from './store.js';

/** Where deliveries read the shards' ledgers (delivery-worker.ts: read-only views of the shards). */
export interface LedgerSource {
  readonly shardCount: number;
  /** The seq of a shard's newest entry (0 for an empty ledger): a change means there is something to read. */
  ledgerEnd(shardId: number): Promise<number>;
  ledgerPage(shardId: number, q: { afterSeq: number; limit: number; scanMax: number }): Promise<{ entries: ExportedEntry[]; nextSeq: number | null }>;
}

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
  /** The shard's newest seq when this lane last read it: a change means there is something to read. */
  private seenEnd = -1;
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
    // The pass that starts after this one gets its own controller now, not once the pass under way
    // ended: a second redeliver that comes meanwhile must be able to stop it, or it would wait for
    // a pass that never ends (and answer only at the process's stop).
    const next = new AbortController();
    this.controller = next;
    const previous = this.running;
    let moved!: () => void;
    const done = new Promise<void>((resolve) => { moved = resolve; });
    this.running = previous.then(() => {
      const state = this.d.store.state(this.sub.id);
      state.cursors[this.shardId] = to;
      // An event retried before is no longer the one the lane resumes at.
      this.setRetry(null);
      this.d.store.saveState(this.sub.id);
      moved();
      if (this.stopped || next.signal.aborted) return;
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

  /**
   * A cursor past the ledger's end can only come from a restored backup (its cursors were copied a
   * moment after its point, or it was restored to an earlier point): it goes back to the end, or
   * the entries the restored folder writes next, at seqs the cursor already passed, would be skipped.
   */
  private async clampToLedgerEnd(signal: AbortSignal): Promise<void> {
    const end = await this.d.source.ledgerEnd(this.shardId);
    if (signal.aborted || this.cursor().seq <= end) return;
    this.d.log.warn({ subscription: this.sub.id, shard: this.shardId, cursorSeq: this.cursor().seq, ledgerEnd: end }, 'webhook cursor past the ledger\'s end (a restored backup): it starts at the end');
    this.d.store.state(this.sub.id).cursors[this.shardId] = { seq: end, part: WHOLE_ENTRY_PART };
    this.setRetry(null);
    this.d.store.saveState(this.sub.id);
  }

  private async loop(): Promise<void> {
    const signal = this.controller.signal;
    await this.clampToLedgerEnd(signal);
    while (!signal.aborted) {
      const cursor = this.cursor();
      let page: Awaited<ReturnType<LedgerSource['ledgerPage']>>;
      try {
        this.seenEnd = await this.d.source.ledgerEnd(this.shardId);
        page = await this.d.source.ledgerPage(this.shardId, { afterSeq: Math.max(0, cursor.seq - 1), limit: WEBHOOK_PAGE_ENTRIES, scanMax: WEBHOOK_SCAN_ENTRIES_MAX });
      } catch (err) {
        // A shard's view not readable for a moment (a backup replacing files, say): look again later.
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

  /** Waits until the shard's ledger grows (a cheap read of its last key) or the idle poll comes round. */
  private async waitForCommits(signal: AbortSignal): Promise<void> {
    const until = Date.now() + WEBHOOK_IDLE_POLL_MS;
    while (!signal.aborted && Date.now() < until) {
      await sleep(WEBHOOK_COMMIT_POLL_MS, signal);
      let end: number;
      try {
        end = await this.d.source.ledgerEnd(this.shardId);
      } catch {
        continue;
      }
      if (end !== this.seenEnd) return;
    }
  }

  private setRetry(retry: RetryState | null): void {
    const state = this.d.store.state(this.sub.id);
    state.retrying ??= [];
    while (state.retrying.length <= this.shardId) state.retrying.push(null);
    state.retrying[this.shardId] = retry;
  }

  /**
   * Posts one event until a 2xx, or until its retry window ends (then it is marked failed). An
   * event this lane was retrying before a restart resumes where it was: its window counts from its
   * first attempt and its next attempt waits for the time written then.
   */
  private async deliver(event: WebhookEvent, signal: AbortSignal): Promise<void> {
    const timing = this.d.timing;
    const saved = this.d.store.state(this.sub.id).retrying?.[this.shardId] ?? null;
    const resumed = saved !== null && saved.eventId === event.id ? saved : null;
    const firstMs = resumed?.firstAtMs ?? Date.now();
    let delayMs = resumed?.delayMs ?? timing.retryFirstMs;
    if (resumed !== null && resumed.nextAtMs > Date.now()) {
      await sleep(resumed.nextAtMs - Date.now(), signal);
      if (signal.aborted) return;
    }
    for (;;) {
      const attempt = await this.d.post(this.sub, event, signal);
      if (signal.aborted) return;
      const delivered = attempt.statusCode !== null && attempt.statusCode >= 200 && attempt.statusCode < 300;
      const givingUp = !delivered && Date.now() + delayMs - firstMs > timing.retryWindowMs;
      attempt.outcome = delivered ? 'delivered' : givingUp ? 'failed' : 'retrying';
      this.d.store.recordAttempt(this.sub.id, attempt);
      if (delivered || givingUp) {
        // The cursor moves past the event next (advance), and that write carries this one.
        this.setRetry(null);
        if (givingUp) this.d.store.markFailed(this.sub.id, { eventId: event.id, type: event.type, memberId: event.memberId, failedAt: new Date().toISOString(), lastError: attempt.error ?? `HTTP ${attempt.statusCode}` });
        return;
      }
      const nextDelayMs = Math.min(delayMs * 2, WEBHOOK_RETRY_DELAY_MAX_MS);
      this.setRetry({ eventId: event.id, firstAtMs: firstMs, nextAtMs: Date.now() + delayMs, delayMs: nextDelayMs });
      this.d.store.saveState(this.sub.id);
      await sleep(delayMs, signal);
      if (signal.aborted) return;
      delayMs = nextDelayMs;
    }
  }
}

export class WebhookDispatcher {
  private readonly lanes = new Map<string, Lane[]>();
  private readonly slots = new Slots();
  private closed = false;

  constructor(readonly source: LedgerSource, readonly store: WebhookStore, readonly timing: DeliveryTiming, readonly log: DispatcherLog) {
    store.onWriteError = (err) => log.warn({ err }, 'webhook delivery state could not be written; the cursor on disk stays older (events since will be sent again after a restart)');
    for (const sub of store.list()) this.startLanes(sub);
  }

  private startLanes(sub: Subscription): void {
    const lanes = Array.from({ length: this.source.shardCount }, (_, shardId) => new Lane(this, sub, shardId));
    this.lanes.set(sub.id, lanes);
    for (const lane of lanes) lane.start();
  }

  /** Creates a subscription that hears of every entry committed from now on, and starts its lanes. */
  async subscribe(url: string, events: WebhookEventType[]): Promise<Subscription> {
    const cursors = await Promise.all(Array.from({ length: this.source.shardCount }, async (_, shardId) => ({ seq: await this.source.ledgerEnd(shardId), part: WHOLE_ENTRY_PART })));
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
      const state = this.store.state(id);
      state.cursors[from.shardId] = to;
      if (state.retrying !== undefined && state.retrying.length > from.shardId) state.retrying[from.shardId] = null;
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
