// The CSV record bound before the parser: records up to the bound pass through byte for byte,
// longer ones become one marker line that says how many lines they spanned, whatever the line
// endings (LF, CR LF, CR), quoted line breaks and the way the input is cut into pieces.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parse } from 'csv-parse/sync';
import { boundedRecords, overlongLines } from '../../server/csv-records.js';

async function bounded(text: string, max: number, pieceBytes: number[]): Promise<string> {
  const bytes = Buffer.from(text, 'utf8');
  async function* pieces(): AsyncGenerator<Buffer> {
    let at = 0;
    for (let k = 0; at < bytes.length; k++) {
      const size = pieceBytes[k % pieceBytes.length]!;
      yield bytes.subarray(at, at + size);
      at += size;
    }
  }
  const out: Buffer[] = [];
  for await (const b of boundedRecords(pieces(), max)) out.push(b);
  return Buffer.concat(out).toString('utf8');
}

const records = (text: string) => (parse(text, { relax_column_count: true }) as string[][]).map((r) => (overlongLines(r) > 0 ? `<${overlongLines(r)} lines>` : r.join('|')));

describe('boundedRecords', () => {
  it('passes records up to the bound unchanged and replaces longer ones, in every line ending', async () => {
    for (const eol of ['\n', '\r\n', '\r']) {
      const text = ['a,b', '1,2', 'x'.repeat(20), 'y'.repeat(21), '3,"4' + eol + '5"', `"${'z'.repeat(10)}${eol}${'z'.repeat(10)}${eol}",w`, '6,7'].join(eol) + eol;
      for (const pieces of [[1], [2, 3], [7], [1000]]) {
        const out = await bounded(text, 20, pieces);
        // Lines are counted by their LF, as the importer numbers rows (a CR-only file's rows are one line each).
        const spanned = eol === '\r' ? 1 : 3;
        expect(records(out), JSON.stringify({ eol, pieces })).toEqual(['a|b', '1|2', 'x'.repeat(20), '<1 lines>', `3|4${eol}5`, `<${spanned} lines>`, '6|7']);
      }
    }
  });

  it('ends with an over-long last record without a line ending, or passes a short one as it is', async () => {
    expect(await bounded('a\n' + 'x'.repeat(30), 20, [4])).toBe('a\n\u00001');
    expect(await bounded('a\nb', 20, [1])).toBe('a\nb');
  });

  it('is the identity on any CSV whose records fit, however it is cut', async () => {
    const cell = fc.oneof(fc.string({ maxLength: 6 }).filter((s) => !/[",\r\n]/.test(s)), fc.string({ maxLength: 6 }).map((s) => `"${s.replace(/"/g, '""')}"`));
    const row = fc.array(cell, { minLength: 1, maxLength: 4 }).map((cells) => cells.join(','));
    await fc.assert(fc.asyncProperty(fc.array(row, { maxLength: 12 }), fc.constantFrom('\n', '\r\n'), fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 4 }), async (rows, eol, pieces) => {
      const text = rows.join(eol) + eol;
      expect(await bounded(text, 200, pieces)).toBe(text);
    }), { numRuns: 300 });
  });

  it('leaves out exactly the records over the bound, and counts their lines, however it is cut', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 3 })), { minLength: 1, maxLength: 10 }), fc.array(fc.integer({ min: 1, max: 13 }), { minLength: 1, maxLength: 4 }), async (shapes, pieces) => {
      // Each record: one quoted field of `length` characters holding `breaks` line breaks.
      const rows = shapes.map(([length, breaks]) => `"${'q'.repeat(length)}${'\n'.repeat(breaks)}"`);
      const out = await bounded(rows.join('\n') + '\n', 24, pieces);
      expect(records(out)).toEqual(shapes.map(([length, breaks]) => (length + breaks + 2 > 24 ? `<${breaks + 1} lines>` : 'q'.repeat(length) + '\n'.repeat(breaks))));
    }), { numRuns: 300 });
  });
});
