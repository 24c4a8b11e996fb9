// engine.json, which fixes a data folder's shard count: written complete or not at all, a damaged one
// refused with its path and the form it must have, and the empty file an interrupted first start of
// an older version left (nothing stored yet) written again rather than refusing the folder for good.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DataFolderError, folderShardCount, openDataFolder } from '../../engine/router/data-folder.js';

const root = mkdtempSync(join(tmpdir(), 'loyalty-engine-meta-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const open = (dir: string, shards: number, access: 'write' | 'read' = 'write') => openDataFolder(dir, { shards, access, create: true, holder: 'the test' });

function refusal(fn: () => unknown): DataFolderError {
  try {
    fn();
  } catch (err) {
    if (err instanceof DataFolderError) return err;
    throw err;
  }
  throw new Error('not refused');
}

describe('engine.json', () => {
  it('is written whole, 0600, with no temporary file left beside it', () => {
    const dir = join(root, 'new');
    open(dir, 2).release();
    expect(JSON.parse(readFileSync(join(dir, 'engine.json'), 'utf8'))).toMatchObject({ shards: 2, createdAt: expect.any(String) });
    expect(statSync(join(dir, 'engine.json')).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).filter((n) => n.includes('tmp'))).toEqual([]);
  });

  it.each([
    ['not JSON', '{"shards": 2, "createdAt'],
    ['no count', '{"createdAt":"2026-01-01"}'],
    ['a count of zero', '{"shards":0}'],
    ['a fractional count', '{"shards":1.5}'],
    ['a count as text', '{"shards":"2"}'],
    ['null', 'null'],
  ])('refuses a file with %s, naming it and its form, for a writer and a reader alike', (_what, text) => {
    const dir = mkdtempSync(join(root, 'bad-'));
    mkdirSync(join(dir, 'shard-0'));
    writeFileSync(join(dir, 'shard-0', 'data.mdb'), 'x');
    writeFileSync(join(dir, 'engine.json'), text);
    for (const access of ['write', 'read'] as const) {
      const err = refusal(() => open(dir, 2, access));
      expect(err.reason).toBe('damaged');
      expect(err.message).toContain(join(dir, 'engine.json'));
      expect(err.message).toContain('{"shards": N');
    }
    // The configuration leaves the count to the opening, which says what is wrong.
    expect(folderShardCount(dir)).toBeNull();
    expect(readFileSync(join(dir, 'engine.json'), 'utf8')).toBe(text);
  });

  it('writes again an empty file in a folder whose shards store nothing yet', () => {
    const dir = mkdtempSync(join(root, 'empty-'));
    mkdirSync(join(dir, 'shard-0'));
    writeFileSync(join(dir, 'engine.json'), '');
    expect(folderShardCount(dir)).toBeNull();
    open(dir, 1).release();
    expect(JSON.parse(readFileSync(join(dir, 'engine.json'), 'utf8'))).toMatchObject({ shards: 1 });
    expect(folderShardCount(dir)).toBe(1);
  });

  it('refuses an empty file once a shard holds a database: the count cannot be guessed', () => {
    const dir = mkdtempSync(join(root, 'empty-used-'));
    mkdirSync(join(dir, 'shard-0'));
    writeFileSync(join(dir, 'shard-0', 'data.mdb'), 'x');
    writeFileSync(join(dir, 'engine.json'), '');
    expect(refusal(() => open(dir, 1)).reason).toBe('damaged');
    expect(existsSync(join(dir, 'engine.json.tmp'))).toBe(false);
    expect(readFileSync(join(dir, 'engine.json'), 'utf8')).toBe('');
  });
});
