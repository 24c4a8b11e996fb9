// Phone numbers in one spelling: every phone is stored, compared and looked up in E.164
// (`+85291234567`), so `+852 9123 4567`, `9123 4567` and `(852) 9123-4567` are one member's phone.
// Numbers without a country code are completed from the program's `defaultCountry`.
//
// libphonenumber-js with its `min` metadata: a number is accepted when its length is possible for
// its country. Its number ranges (`isValid`) are not required, because countries open new ranges
// and a store must not refuse a customer's real new number; they only break the tie described at
// normalisePhone. Measured on this machine (parse and length check): 3.5-7 µs per number with
// `min`, 6-8 µs with `max`, and 13-20 µs with `max` once ranges are checked too; `max` adds number
// types and exact ranges, which nothing here needs.
import { AsYouType, isSupportedCountry, parsePhoneNumberFromString, type CountryCode, type PhoneNumber } from 'libphonenumber-js/min';
import { PHONE_TEXT_LENGTH_MAX } from '../limits.js';
import { FieldError } from './validate.js';

/** What a phone may be written with: digits, spaces, dashes, dots, parentheses and a leading +. */
const PHONE_TEXT = /^\s*\+?[0-9 ().-]*[0-9][0-9 ().-]*$/;
/** A number that opens with a country calling code in parentheses: `(852) 9123-4567`. */
const CALLING_CODE_IN_PARENTHESES = /^\s*\(\s*([1-9][0-9]{0,2})\s*\)(.*)$/;
const COUNTRY = /^[A-Z]{2}$/;

const TEXT_MESSAGE = `must be a phone number of at most ${PHONE_TEXT_LENGTH_MAX} digits, spaces, dashes, dots and parentheses, with + before a country code`;

/** Whether `code` is an ISO 3166 alpha-2 country (upper case) the phone metadata knows. */
export function isPhoneCountry(code: unknown): code is string {
  return typeof code === 'string' && COUNTRY.test(code) && isSupportedCountry(code);
}

function parse(text: string, country: CountryCode | undefined): PhoneNumber | undefined {
  // `extract: false`: the whole text must be the number, not a number found inside other text.
  return parsePhoneNumberFromString(text, { defaultCountry: country, extract: false });
}

/**
 * The E.164 spelling of a phone as a person typed it, or a FieldError naming `field`.
 *
 * - `+852 9123 4567`: the country code is given.
 * - `9123 4567`: completed with `defaultCountry` (null: no default, such a number is refused).
 * - `(852) 9123-4567`: a national number after its country code in parentheses. Some countries
 *   write area codes that way (`(212) 555-1234` in the US, `(31) 91234-5678` in Brazil), so the
 *   reading as a number of `defaultCountry` wins when that is a valid number there; otherwise the
 *   parenthesised digits are the country code.
 * - anything whose length is impossible for its country, or an unknown country code: refused.
 */
export function normalisePhone(typed: string, defaultCountry: string | null, field = 'phone'): string {
  if (typed.length > PHONE_TEXT_LENGTH_MAX || !PHONE_TEXT.test(typed)) throw new FieldError(field, TEXT_MESSAGE);
  // The parser refuses edge spaces when it must read the whole text as the number.
  const text = typed.trim();
  const country = defaultCountry === null ? undefined : defaultCountry as CountryCode;
  const national = parse(text, country);
  const parenthesised = CALLING_CODE_IN_PARENTHESES.exec(text);
  if (parenthesised !== null && national?.isValid() !== true) {
    const international = parse(`+${parenthesised[1]!}${parenthesised[2]!}`, undefined);
    if (international?.isPossible() === true) return international.number;
  }
  if (national?.isPossible() === true) return national.number;
  if (country === undefined && !text.startsWith('+')) {
    throw new FieldError(field, 'has no country code: write it as +<country code> <number> (the program names no defaultCountry)');
  }
  throw new FieldError(field, 'is not a possible phone number: its length is wrong for its country, or the country code is unknown');
}

/**
 * The phone under which the directory holds a stored profile's phone. Profiles written before
 * phones were normalised may hold any spelling: it is normalised for lookups and uniqueness, and
 * one that cannot be (an impossible number) is held as it is spelt.
 */
export function directoryPhone(stored: string, defaultCountry: string | null): string {
  try {
    return normalisePhone(stored, defaultCountry);
  } catch (err) {
    if (err instanceof FieldError) return stored;
    throw err;
  }
}

/**
 * The E.164 prefixes a search text may mean when it looks like the start of a phone number (the
 * member list's `q`): `+852 91` is `+85291`; `9123` is `+8529123` with `defaultCountry` HK (a
 * national prefix such as the UK's leading 0 is dropped); `(852) 91` is `+85291`, and also the
 * national reading. Empty when the text cannot be part of a phone number.
 */
export function phonePrefixes(text: string, defaultCountry: string | null): string[] {
  if (text.length > PHONE_TEXT_LENGTH_MAX || !PHONE_TEXT.test(text)) return [];
  const digits = text.replace(/[^0-9]/g, '');
  if (text.trimStart().startsWith('+')) return [`+${digits}`];
  const out: string[] = [];
  const parenthesised = CALLING_CODE_IN_PARENTHESES.exec(text);
  if (parenthesised !== null) out.push(`+${parenthesised[1]!}${parenthesised[2]!.replace(/[^0-9]/g, '')}`);
  if (defaultCountry !== null) {
    const typed = new AsYouType(defaultCountry as CountryCode);
    typed.input(text);
    const value = typed.getNumberValue();
    if (value !== undefined && !out.includes(value)) out.push(value);
  }
  return out;
}
