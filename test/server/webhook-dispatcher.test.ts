// The webhook dispatcher on a ledger held in memory and a real receiver on loopback: a retried
// event's next attempt time survives a restart (neither at once nor forgotten), two redelivers
// that come together both answer, and a cursor past the ledger's end (a restored backup) goes back
// to the end, so that the entries written next are sent.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebhookDispatcher, type LedgerSource } from '../../server/webhooks/dispatcher.js';
import { WebhookStore } from '../../server/webhooks/store.js';
import type { ExportedEntry } from '../../engine/rules/reports.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';

/** One shard's ledger in memory: entries appended with seqs 1, 2, 3, … */
class MemoryLedger implements LedgerSource {
  readonly shardCount = 1;
  readonly entries: ExportedEntry[] = [];
  purchase(memberId: string): number {
    const seq = this.entries.length + 1;
    this.entries.push({
      seq, at: Date.UTC(2026, 0, 1) + seq, kind: 'purchase', memberId, pointsDelta: 1, growthDelta: 1, walletDeltaCents: 0,
      spendDeltaCents: 100, pendingDelta: 0, tierId: null, ref: `o${seq}`, cause: null, keyId: null,
    });
    return seq;
  }
  async ledgerEnd(): Promise<number> { return this.entries.length; }
  async ledgerPage(_shardId: number, q: { afterSeq: number; limit: number }): Promise<{ entries: ExportedEntry[]; nextSeq: number | null }> {
    const after = this.entries.filter((e) => e.seq > q.afterSeq);
    return after.length > q.limit ? { entries: after.slice(0, q.limit), nextSeq: after[q.limit - 1]!.seq } : { entries: after, nextSeq: null };
  }
}

const quiet = { warn: () => {} };
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });

async function setUp(): Promise<{ dir: string; ledger: MemoryLedger; receiver: WebhookReceiver }> {
  const dir = mkdtempSync(join(tmpdir(), 'loyalty-webhook-dispatcher-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const receiver = new WebhookReceiver();
  await receiver.start();
  cleanups.push(() => receiver.stop());
  return { dir, ledger: new MemoryLedger(), receiver };
}

function dispatcher(dir: string, ledger: LedgerSource, retryFirstMs: number): WebhookDispatcher {
  const d = new WebhookDispatcher(ledger, new WebhookStore(dir), { timeoutMs: 1_000, retryFirstMs, retryWindowMs: 3_600_000 }, quiet);
  cleanups.push(() => d.close());
  return d;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('webhook dispatcher', () => {
  it('keeps a retried event\'s next attempt time across a restart', async () => {
    const { dir, ledger, receiver } = await setUp();
    const first = dispatcher(dir, ledger, 1_500);
    const sub = await first.subscribe(receiver.url, ['purchase.recorded']);
    receiver.secret = sub.secret;
    receiver.mode = 'down';
    ledger.purchase('m1');
    for (let i = 0; i < 200 && first.store.attemptsPage(sub.id, 0, 10).attempts.length === 0; i++) await sleep(10);
    const failedAtMs = Date.now();
    expect(first.store.attemptsPage(sub.id, 0, 10).attempts).toEqual([expect.objectContaining({ eventId: '0:1', statusCode: 503, outcome: 'retrying' })]);
    await first.close();
    // The restart: the receiver is back, but the next attempt is due 1.5 s after the failed one, not at once.
    receiver.mode = 'ok';
    dispatcher(dir, ledger, 1_500);
    await sleep(700);
    expect(receiver.received).toHaveLength(0);
    await receiver.waitFor(() => receiver.received.length === 1, 5_000);
    expect(Date.now() - failedAtMs).toBeGreaterThanOrEqual(1_400);
    expect(receiver.received[0]!.id).toBe('0:1');
  });

  it('answers two redelivers that come together, and sends from the second', async () => {
    const { dir, ledger, receiver } = await setUp();
    const d = dispatcher(dir, ledger, 50);
    const sub = await d.subscribe(receiver.url, ['purchase.recorded']);
    receiver.secret = sub.secret;
    for (let i = 0; i < 3; i++) ledger.purchase('m1');
    await receiver.waitFor(() => receiver.received.length === 3);
    const both = Promise.all([d.redeliver(sub.id, { shardId: 0, seq: 1, part: 0 }), d.redeliver(sub.id, { shardId: 0, seq: 3, part: 0 })]);
    const answered = await Promise.race([both.then(() => true), sleep(3_000).then(() => false)]);
    expect(answered).toBe(true);
    await receiver.waitFor(() => receiver.received.length >= 4);
    await sleep(300);
    expect(receiver.received.map((e) => e.id)).toEqual(['0:1', '0:2', '0:3', '0:3']);
  });

  it('moves a cursor past the ledger\'s end (a restored backup) back to it, and sends what is written next', async () => {
    const { dir, ledger, receiver } = await setUp();
    const first = dispatcher(dir, ledger, 50);
    const sub = await first.subscribe(receiver.url, ['purchase.recorded']);
    receiver.secret = sub.secret;
    // The backup's cursor was copied after entries its ledger does not hold.
    first.store.state(sub.id).cursors[0] = { seq: 40, part: 9 };
    first.store.saveState(sub.id);
    await first.close();
    dispatcher(dir, ledger, 50);
    await sleep(200);
    ledger.purchase('m1');
    ledger.purchase('m1');
    await receiver.waitFor(() => receiver.received.length === 2);
    expect(receiver.received.map((e) => e.id)).toEqual(['0:1', '0:2']);
  });
});
