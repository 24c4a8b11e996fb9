// The body of the delivery thread: every webhook delivery runs here, away from the main thread that
// answers requests and commits batches. It holds the subscriptions' store and their lanes (reading
// the ledgers through a reader thread of its own, building bodies, signing, posting, retrying) and
// answers the main thread's requests about subscriptions (delivery-thread.ts) as messages.
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { LoyaltyError } from '../../engine/errors.js';
import { WEBHOOK_END_READ_SHARED_MS } from '../../engine/limits.js';
import { ReaderClient } from '../../engine/router/reader-client.js';
import type { ExportedEntry } from '../../engine/rules/reports.js';
import { WebhookDispatcher, type DeliveryTiming, type LedgerSource } from './dispatcher.js';
import { WebhookStore } from './store.js';
import type { DeliveryCall, DeliveryMessage } from './delivery-protocol.js';
import { subscriptionView } from './requests.js';

export interface DeliveryWorkerData { dataDir: string; shardCount: number; timing: DeliveryTiming; nice: number }

const { dataDir, shardCount, timing, nice } = workerData as DeliveryWorkerData;
const port = parentPort!;

/**
 * Lowers this thread's priority alone, as engine/shard/thread-priority.ts does for the reader (the
 * server may not import the shard's layer): on Linux /proc/thread-self names the thread, and
 * setpriority on a thread id changes that thread only. Elsewhere the thread keeps the process's.
 */
function lowerThisThread(niceValue: number): void {
  try {
    const threadId = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isSafeInteger(threadId) && threadId > 0) setPriority(threadId, niceValue);
  } catch {
    // No /proc, or a system that refuses: the thread runs at the process's priority.
  }
}
lowerThisThread(nice);

const post = (message: DeliveryMessage): void => port.postMessage(message);

/** An error as the main thread's log can take it (an Error does not cross a thread whole). */
function plain(detail: object): object {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(detail)) out[k] = v instanceof Error ? { message: v.message, stack: v.stack } : v;
  return out;
}

const reader = ReaderClient.acquire(dataDir);

/**
 * A shard's ledger end as read at most WEBHOOK_END_READ_SHARED_MS ago: every lane of a caught-up
 * subscription polls it every WEBHOOK_COMMIT_POLL_MS, and one read serves the lanes of every
 * subscription on that shard. An end read a moment early only makes a lane read once more.
 */
const ends = new Map<number, { atMs: number; value: Promise<number> }>();
function ledgerEnd(shardId: number): Promise<number> {
  const nowMs = performance.now();
  const shared = ends.get(shardId);
  if (shared !== undefined && nowMs - shared.atMs < WEBHOOK_END_READ_SHARED_MS) return shared.value;
  const value = reader.query(shardId, { q: 'ledgerEnd' }) as Promise<number>;
  ends.set(shardId, { atMs: nowMs, value });
  value.catch(() => { if (ends.get(shardId)?.value === value) ends.delete(shardId); });
  return value;
}

const source: LedgerSource = {
  shardCount,
  ledgerEnd,
  // Deliveries read every entry, whatever its local day: the time zone only serves a day filter.
  ledgerPage: async (shardId, q) => await reader.query(shardId, { q: 'ledgerPage', ...q, timeZone: 'UTC' }) as { entries: ExportedEntry[]; nextSeq: number | null },
};
const dispatcher = new WebhookDispatcher(source, new WebhookStore(dataDir), timing, {
  warn: (detail, message) => post({ kind: 'log', detail: plain(detail), message }),
});

async function answer(call: DeliveryCall): Promise<unknown> {
  const store = dispatcher.store;
  switch (call.op) {
    case 'list': return store.list().map(subscriptionView);
    case 'subscribe': return await dispatcher.subscribe(call.url, call.events);
    case 'detail': {
      const sub = store.get(call.id);
      return sub === null ? null : { ...subscriptionView(sub), failed: [...store.state(call.id).failed].reverse() };
    }
    case 'deliveries': return store.get(call.id) === null ? null : store.attemptsPage(call.id, call.before, call.limit);
    case 'unsubscribe': {
      const sub = store.get(call.id);
      if (sub === null) return null;
      await dispatcher.unsubscribe(call.id);
      return subscriptionView(sub);
    }
    case 'redeliver':
      if (store.get(call.id) === null) return false;
      await dispatcher.redeliver(call.id, call.from);
      return true;
    case 'close':
      await dispatcher.close();
      await reader.release();
      return true;
  }
}

port.on('message', (call: DeliveryCall) => {
  answer(call).then(
    (value) => post({ kind: 'reply', callId: call.callId, value }),
    (err: unknown) => post({ kind: 'reply', callId: call.callId, error: err instanceof LoyaltyError ? { code: err.code, message: err.message } : { code: null, message: err instanceof Error ? err.message : String(err) } }),
  );
});
