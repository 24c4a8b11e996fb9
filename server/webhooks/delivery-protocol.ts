// The messages between the main thread and the delivery thread: the main thread's calls about
// subscriptions (each with an id its reply carries) and the delivery thread's replies and log lines.
import type { WebhookEventType } from '../../engine/rules/webhook-events.js';

export type DeliveryCall = { callId: number } & (
  | { op: 'list' }
  | { op: 'subscribe'; url: string; events: WebhookEventType[] }
  | { op: 'detail'; id: string }
  | { op: 'deliveries'; id: string; before: number; limit: number }
  | { op: 'unsubscribe'; id: string }
  | { op: 'redeliver'; id: string; from: { shardId: number; seq: number; part: number } }
  | { op: 'close' }
);

/** An error crossed as its code (a LoyaltyError's, or null for any other) and message. */
export interface DeliveryError { code: string | null; message: string }

export type DeliveryMessage =
  | { kind: 'reply'; callId: number; value?: unknown; error?: DeliveryError }
  | { kind: 'log'; detail: object; message: string };
