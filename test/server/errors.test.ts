// The error catalogue is one list, and every code in it is documented in the README's table.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { ERRORS } from '../../engine/errors.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('error catalogue', () => {
  it.each(Object.entries(ERRORS))('%s is in the README with its status', (code, info) => {
    expect(readme).toContain(`| \`${code}\` | ${info.status} |`);
  });

  it('uses snake_case codes and real HTTP statuses', () => {
    for (const [code, info] of Object.entries(ERRORS)) {
      expect(code).toMatch(/^[a-z]+(_[a-z]+)*$/);
      expect([400, 401, 403, 404, 409, 413, 422, 500, 503]).toContain(info.status);
    }
  });
});
