// An API refusal in the chosen language: the code's own words (every code of the engine's catalogue
// has them in every language, checked by a test), the reason a coupon refusal carries, or a field's
// refusal translated by field-messages.
import { fieldMessage, type BoundWriter } from './field-messages.js';
import type { Words } from './words.js';

export interface ApiErrorBody { code: string; message: string; field?: string }

/** Codes whose `message` is itself a stable reason code, with the message-key family of its reasons. */
const REASONS: Record<string, string> = {
  coupon_not_usable: 'couponReason',
  coupon_limit: 'couponLimit',
  coupon_not_active: 'couponState',
  reward_unavailable: 'rewardUnavailable',
  redemption_closed: 'redemptionClosed',
};

/** Codes whose `message` carries a figure the manager needs (docs/rules.md §14), with the words that say it. */
const FIGURES: Record<string, [RegExp, string]> = {
  card_exhausted: [/^(\d+) uses? left$/, 'errors.cardUsesLeft'],
  reward_limit: [/^at most (\d+) per member$/, 'errors.rewardLimitOf'],
};

export function errorText(words: Words, error: ApiErrorBody, bound?: BoundWriter): string {
  if (error.code === 'invalid_request' && error.field !== undefined) return fieldMessage(words, error.message, error.field, bound);
  const family = REASONS[error.code];
  if (family !== undefined && words.has(`${family}.${error.message}`)) {
    return words.t('errors.withReason', { error: words.t(`errors.${error.code}`), reason: words.t(`${family}.${error.message}`) });
  }
  const figure = FIGURES[error.code];
  const m = figure === undefined ? null : figure[0].exec(error.message);
  if (figure !== undefined && m !== null) return words.t(figure[1], { n: m[1] });
  if (words.has(`errors.${error.code}`)) return words.t(`errors.${error.code}`);
  return words.t('errors.unknown', { code: error.code });
}
