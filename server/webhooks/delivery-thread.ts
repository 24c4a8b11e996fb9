// The main thread's handle on the delivery thread (delivery-worker.ts): it starts the thread, passes
// the routes' calls about subscriptions to it and their answers back, and logs what the thread
// reports. Nothing of a delivery (reading the ledgers, bodies, signatures, posts, retries, the
// cursors' writes) runs on the main thread, so that delivery never takes time from the write path.
import { Worker } from 'node:worker_threads';
import { LoyaltyError, type ErrorCode } from '../../engine/errors.js';
import { WEBHOOK_THREAD_NICE, WEBHOOK_THREAD_RESTART_DELAY_MS } from '../../engine/limits.js';
import type { WebhookEventType } from '../../engine/rules/webhook-events.js';
import type { DeliveryTiming, DispatcherLog } from './dispatcher.js';
import type { DeliveryCall, DeliveryMessage } from './delivery-protocol.js';
import type { DeliveryWorkerData } from './delivery-worker.js';
import type { Attempt, FailedEvent, Subscription } from './store.js';

type CallBody = DeliveryCall extends infer C ? C extends DeliveryCall ? Omit<C, 'callId'> : never : never;

export type SubscriptionView = Omit<Subscription, 'secret'>;

export interface DeliveryThreadLog extends DispatcherLog { error(detail: object, message: string): void }

export class DeliveryThread {
  private worker: Worker | null = null;
  private nextCallId = 1;
  private readonly calls = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();
  private closing = false;
  private restartTimer: NodeJS.Timeout | null = null;

  constructor(private readonly dataDir: string, readonly shardCount: number, private readonly timing: DeliveryTiming, private readonly log: DeliveryThreadLog) {
    this.start();
  }

  private start(): void {
    const workerData: DeliveryWorkerData = { dataDir: this.dataDir, shardCount: this.shardCount, timing: this.timing, nice: WEBHOOK_THREAD_NICE };
    const worker = new Worker(new URL('./delivery-worker.js', import.meta.url), { workerData, name: 'webhook-delivery' });
    this.worker = worker;
    worker.on('message', (message: DeliveryMessage) => {
      if (message.kind === 'log') { this.log.warn(message.detail, message.message); return; }
      const call = this.calls.get(message.callId);
      if (call === undefined) return;
      this.calls.delete(message.callId);
      if (message.error === undefined) call.resolve(message.value);
      else call.reject(message.error.code === null ? new Error(message.error.message) : new LoyaltyError(message.error.code as ErrorCode, message.error.message));
    });
    worker.on('error', (err) => this.log.error({ err }, 'the webhook delivery thread failed'));
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = null;
      for (const call of this.calls.values()) call.reject(new LoyaltyError('shutting_down', 'the webhook delivery thread stopped'));
      this.calls.clear();
      if (this.closing) return;
      // Deliveries resume from the cursors on disk: at least once, as after a restart of the process.
      this.log.error({ code }, 'the webhook delivery thread stopped; it starts again');
      this.restartTimer = setTimeout(() => { this.restartTimer = null; if (!this.closing) this.start(); }, WEBHOOK_THREAD_RESTART_DELAY_MS);
    });
  }

  private call<T>(body: CallBody): Promise<T> {
    const worker = this.worker;
    if (worker === null || this.closing) return Promise.reject(new LoyaltyError('shutting_down', 'webhook delivery is not running'));
    const callId = this.nextCallId++;
    return new Promise<T>((resolve, reject) => {
      this.calls.set(callId, { resolve: resolve as (value: unknown) => void, reject });
      worker.postMessage({ ...body, callId });
    });
  }

  list(): Promise<SubscriptionView[]> { return this.call({ op: 'list' }); }
  /** Creates a subscription (answered with its secret, the only time it is). */
  subscribe(url: string, events: WebhookEventType[]): Promise<Subscription> { return this.call({ op: 'subscribe', url, events }); }
  /** The subscription with its failed events newest first, or null when there is none of that id. */
  detail(id: string): Promise<(SubscriptionView & { failed: FailedEvent[] }) | null> { return this.call({ op: 'detail', id }); }
  deliveries(id: string, before: number, limit: number): Promise<{ attempts: Attempt[]; nextCursor: string | null } | null> { return this.call({ op: 'deliveries', id, before, limit }); }
  /** Ends the subscription's deliveries and removes it; answers what it was, or null when there was none. */
  unsubscribe(id: string): Promise<SubscriptionView | null> { return this.call({ op: 'unsubscribe', id }); }
  /** False when there is no subscription of that id. */
  redeliver(id: string, from: { shardId: number; seq: number; part: number }): Promise<boolean> { return this.call({ op: 'redeliver', id, from }); }

  /** Stops the lanes (their requests are cut; those events resend after the next start) and the thread. */
  async close(): Promise<void> {
    if (this.restartTimer !== null) clearTimeout(this.restartTimer);
    const worker = this.worker;
    if (worker === null) { this.closing = true; return; }
    try {
      await this.call({ op: 'close' });
    } catch (err) {
      this.log.warn({ err }, 'the webhook delivery thread did not stop cleanly');
    }
    this.closing = true;
    await worker.terminate();
  }
}
