// The webhook subscription routes as plain handlers (docs/api.md, "Webhooks"): validation with field
// paths, the secret answered once at creation and never listed, deliveries and redeliveries; the
// subscriptions themselves live on the delivery thread (delivery-thread.ts).
import { FieldError, checkInt, readObject } from '../../engine/rules/validate.js';
import { LoyaltyError } from '../../engine/errors.js';
import { PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, WEBHOOK_SUBSCRIPTIONS_MAX, WEBHOOK_URL_LENGTH_MAX } from '../../engine/limits.js';
import { WEBHOOK_EVENT_TYPES, parseWebhookEventId, type WebhookEventType } from '../../engine/rules/webhook-events.js';
import type { DeliveryThread } from './delivery-thread.js';
import type { Subscription } from './store.js';

/** A subscription as listed: everything but its secret. */
export function subscriptionView(sub: Subscription): Record<string, unknown> {
  const { secret: _secret, ...view } = sub;
  return view;
}

/**
 * A subscription's URL: http or https only, no credentials in it, at most WEBHOOK_URL_LENGTH_MAX.
 * Loopback and private addresses are allowed: the engine runs inside the merchant's own network,
 * beside the CRM it feeds, and only an admin key may subscribe (docs/api.md says so).
 */
export function checkWebhookUrl(raw: unknown): string {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > WEBHOOK_URL_LENGTH_MAX) throw new FieldError('url', `must be an http or https URL of 1..${WEBHOOK_URL_LENGTH_MAX} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new FieldError('url', 'is not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new FieldError('url', 'must use http or https');
  if (url.username !== '' || url.password !== '') throw new FieldError('url', 'must not carry a user name or password: deliveries are signed instead');
  if (url.hash !== '') throw new FieldError('url', 'must not have a fragment');
  return url.toString();
}

export function checkEventTypes(raw: unknown): WebhookEventType[] {
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > WEBHOOK_EVENT_TYPES.length) throw new FieldError('events', `must be a list of 1..${WEBHOOK_EVENT_TYPES.length} event types`);
  const out: WebhookEventType[] = [];
  raw.forEach((t, i) => {
    if (!WEBHOOK_EVENT_TYPES.includes(t as WebhookEventType)) throw new FieldError(`events[${i}]`, `must be one of ${WEBHOOK_EVENT_TYPES.join(', ')}`);
    if (out.includes(t as WebhookEventType)) throw new FieldError(`events[${i}]`, 'is listed twice');
    out.push(t as WebhookEventType);
  });
  return out;
}

export async function createWebhook(d: DeliveryThread, body: unknown): Promise<{ status: number; body: unknown }> {
  const fields = readObject(body, '', ['url', 'events']);
  const url = checkWebhookUrl(fields['url']);
  const events = checkEventTypes(fields['events']);
  if ((await d.list()).length >= WEBHOOK_SUBSCRIPTIONS_MAX) throw new LoyaltyError('too_many_webhooks');
  const sub = await d.subscribe(url, events);
  return { status: 201, body: sub };
}

function found<T>(value: T | null): T {
  if (value === null) throw new LoyaltyError('webhook_not_found');
  return value;
}

export async function webhookDetail(d: DeliveryThread, id: string): Promise<Record<string, unknown>> {
  return found(await d.detail(id));
}

export async function deleteWebhook(d: DeliveryThread, id: string): Promise<Record<string, unknown>> {
  return { ...found(await d.unsubscribe(id)), deleted: true };
}

export async function deliveriesPage(d: DeliveryThread, id: string, query: URLSearchParams): Promise<Record<string, unknown>> {
  const rawLimit = query.get('limit');
  const limit = rawLimit === null ? PAGE_LIMIT_DEFAULT : /^\d{1,7}$/.test(rawLimit) ? checkInt(Number(rawLimit), 'limit', { min: 1, max: PAGE_LIMIT_MAX }) : (() => { throw new FieldError('limit', `must be an integer 1..${PAGE_LIMIT_MAX}`); })();
  const cursor = query.get('cursor');
  if (cursor !== null && cursor !== '' && !/^\d{1,7}$/.test(cursor)) throw new FieldError('cursor', 'must be the nextCursor of a previous page');
  return found(await d.deliveries(id, cursor === null || cursor === '' ? 0 : Number(cursor), limit));
}

export async function redeliverFrom(d: DeliveryThread, id: string, body: unknown): Promise<Record<string, unknown>> {
  found(await d.detail(id));
  const fields = readObject(body, '', ['fromEventId']);
  const raw = fields['fromEventId'];
  const from = typeof raw === 'string' ? parseWebhookEventId(raw) : null;
  if (from === null || from.shardId >= d.shardCount || from.seq < 1) throw new FieldError('fromEventId', 'must be the id of an event of this server (`<shard>:<seq>` or `<shard>:<seq>:<n>`)');
  found((await d.redeliver(id, from)) ? true : null);
  return { id, fromEventId: raw };
}
