// The chosen language's words for the pure modules (lib/), and the text of an API refusal.
import { i18n } from './i18n/index.js';
import type { Words } from './lib/words.js';
import { errorText } from './lib/errors.js';
import { ApiError } from './api/client.js';
import type { BoundWriter } from './lib/field-messages.js';

export const words: Words = {
  t: (key, params) => (params === undefined ? i18n.global.t(key) : i18n.global.t(key, params)),
  has: (key) => i18n.global.te(key),
};

/** Any failure of a request in words: an API refusal by its code, anything else as unexpected. */
export function failureText(err: unknown, bound?: BoundWriter): string {
  if (err instanceof ApiError) return errorText(words, { code: err.code, message: err.message, field: err.field }, bound);
  return words.t('errors.internal');
}
