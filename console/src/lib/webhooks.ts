// A webhook subscription as the console handles it: the documented event types (the engine's own
// list, so a type the engine adds shows up here), their names in words, and the address checked as
// the server checks it (docs/api.md, "Webhooks") so the manager sees a wrong one beside the field
// before sending. Pure: no DOM, no Vue.
import { WEBHOOK_EVENT_TYPES } from '../../../engine/rules/webhook-events.js';
import type { Words } from './words.js';

export { WEBHOOK_EVENT_TYPES };

/**
 * The longest address the server takes (engine/limits.ts WEBHOOK_URL_LENGTH_MAX, which the console
 * cannot import: that file speaks of Node's types); test/console/console-lib.test.ts keeps the two equal.
 */
export const WEBHOOK_URL_LENGTH_MAX = 2_048;

/** An event type's key among the words: `member.tier_changed` → `webhooks.eventNames.member_tier_changed`. */
export function eventNameKey(type: string): string {
  return `webhooks.eventNames.${type.replace(/\./g, '_')}`;
}

/** An event type in words, or the type as sent when the console has no words for it. */
export function eventName(words: Words, type: string): string {
  const key = eventNameKey(type);
  return words.has(key) ? words.t(key) : type;
}

/** What is wrong with an address typed for a subscription, in words; null when the server would take it. */
export function webhookUrlProblem(words: Words, raw: string): string | null {
  const text = raw.trim();
  if (text === '') return words.t('webhooks.urlRequired');
  if (text.length > WEBHOOK_URL_LENGTH_MAX) return words.t('webhooks.urlLong', { n: WEBHOOK_URL_LENGTH_MAX });
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return words.t('webhooks.urlInvalid');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return words.t('webhooks.urlInvalid');
  if (url.username !== '' || url.password !== '') return words.t('webhooks.urlCredentials');
  if (url.hash !== '' || text.endsWith('#')) return words.t('webhooks.urlFragment');
  return null;
}
