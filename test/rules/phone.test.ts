// Phones in E.164: the spellings a person types become one number, completed from the program's
// default country; impossible numbers are refused with the field; search prefixes and the
// directory's reading of phones stored before normalisation.
import { describe, expect, it } from 'vitest';
import { directoryPhone, isPhoneCountry, normalisePhone, phonePrefixes } from '../../engine/rules/phone.js';
import { FieldError } from '../../engine/rules/validate.js';

function refusal(text: string, country: string | null, field = 'phone'): string {
  try {
    normalisePhone(text, country, field);
  } catch (err) {
    expect(err).toBeInstanceOf(FieldError);
    expect((err as FieldError).field).toBe(field);
    return (err as FieldError).message;
  }
  throw new Error(`${text} was accepted`);
}

describe('normalisePhone', () => {
  it('reads every spelling of one Hong Kong number as +85291234567', () => {
    for (const text of ['+852 9123 4567', '91234567', '9123 4567', '9123-4567', '(852) 9123-4567', '(852)91234567', '+852-9123-4567', '+85291234567', ' +852 9123 4567 ']) {
      expect(normalisePhone(text, 'HK'), text).toBe('+85291234567');
    }
  });

  it('keeps a given country code whatever the default country', () => {
    expect(normalisePhone('+44 20 7946 0958', 'HK')).toBe('+442079460958');
    expect(normalisePhone('+852 9123 4567', 'GB')).toBe('+85291234567');
    expect(normalisePhone('+852 9123 4567', null)).toBe('+85291234567');
    expect(normalisePhone('020 7946 0958', 'GB')).toBe('+442079460958');
  });

  it('reads a parenthesised country code as one unless the default country writes area codes so', () => {
    expect(normalisePhone('(852) 9123-4567', 'GB')).toBe('+85291234567');
    expect(normalisePhone('(852) 9123-4567', 'US')).toBe('+85291234567');
    expect(normalisePhone('(852) 9123-4567', null)).toBe('+85291234567');
    // A valid national number of the default country: an area code, not a country code.
    expect(normalisePhone('(212) 555-1234', 'US')).toBe('+12125551234');
    expect(normalisePhone('(31) 91234-5678', 'BR')).toBe('+5531912345678');
  });

  it('refuses impossible numbers, text that is not a phone, and national numbers without a default country', () => {
    expect(refusal('+852 123', 'HK')).toMatch(/not a possible phone number/);
    expect(refusal('12', 'HK')).toMatch(/not a possible phone number/);
    expect(refusal('+999 1234 5678', 'HK')).toMatch(/not a possible phone number/);
    expect(refusal('+852 9123 4567 ext 5', 'HK')).toMatch(/must be a phone number/);
    expect(refusal('not a phone', 'HK')).toMatch(/must be a phone number/);
    expect(refusal('()', 'HK')).toMatch(/must be a phone number/);
    expect(refusal('+852 9123 4567 8901 2345 6789 0123 4', 'HK')).toMatch(/must be a phone number/);
    expect(refusal('9123 4567', null)).toMatch(/has no country code/);
    expect(refusal('9123 4567', null, 'row.phone')).toMatch(/has no country code/);
  });
});

describe('phonePrefixes', () => {
  it('gives the E.164 starts a search text may mean', () => {
    expect(phonePrefixes('+852 91', 'HK')).toEqual(['+85291']);
    expect(phonePrefixes('9123', 'HK')).toEqual(['+8529123']);
    expect(phonePrefixes('(852) 91', 'HK')).toEqual(['+85291', '+85285291']);
    expect(phonePrefixes('020 79', 'GB')).toEqual(['+442079']);
    expect(phonePrefixes('9123', null)).toEqual([]);
    expect(phonePrefixes('alice', 'HK')).toEqual([]);
    expect(phonePrefixes('a-1', 'HK')).toEqual([]);
  });
});

describe('directoryPhone', () => {
  it('normalises a stored phone, and keeps one that cannot be as it is spelt', () => {
    expect(directoryPhone('+852 9123 4567', 'HK')).toBe('+85291234567');
    expect(directoryPhone('9123 4567', 'HK')).toBe('+85291234567');
    expect(directoryPhone('9123 4567', null)).toBe('9123 4567');
    expect(directoryPhone('555-0', 'HK')).toBe('555-0');
  });
});

describe('isPhoneCountry', () => {
  it('accepts ISO 3166 alpha-2 codes the metadata knows', () => {
    expect(['HK', 'CN', 'GB', 'US', 'TW', 'MO'].every(isPhoneCountry)).toBe(true);
    expect(['hk', 'XX', 'HKG', '', 852, null].some(isPhoneCountry)).toBe(false);
  });
});
