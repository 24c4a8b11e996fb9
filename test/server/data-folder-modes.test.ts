// Data at rest is readable by its owner only: a server starting on a folder that does not exist
// creates it 0700 with every folder in it 0700 and every file 0600 (LMDB's files, keys.json,
// admin.key, engine.json), under the usual umask 022; on a folder someone widened, it warns naming
// each path and its mode, and leaves the modes as they are.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, lstatSync, readdirSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerProcess } from '../helpers/server-process.js';

const parent = mkdtempSync(join(tmpdir(), 'loyalty-modes-'));
const dataDir = join(parent, 'data');
const server = new ServerProcess(dataDir);

/** Every path under `dir` (itself included) with its permission bits in octal. */
function modes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const visit = (path: string): void => {
    const s = lstatSync(path);
    out[path.slice(dataDir.length) || '/'] = '0' + (s.mode & 0o777).toString(8);
    if (s.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
  };
  visit(dir);
  return out;
}

beforeAll(() => {
  // The usual umask, set here so that the test does not depend on the machine's: without explicit
  // modes, folders would be 0755 and files 0644 under it.
  process.umask(0o022);
});

afterAll(async () => {
  await server.stop();
  rmSync(parent, { recursive: true, force: true });
});

describe('the data folder on disk', () => {
  it('is created owner-only: folders 0700, files 0600', async () => {
    await server.start();
    // A webhook subscription's files (its secret among them) are the data folder's too.
    expect((await server.post('/v1/admin/webhooks', { url: 'http://127.0.0.1:9/hook', events: ['member.registered'] })).status).toBe(201);
    expect((await server.post('/v1/members', { memberId: 'dm-1', name: 'Private Person', phone: '+852 5555 0199' })).status).toBe(201);
    await server.stop();
    const got = modes(dataDir);
    const expected: Record<string, string> = {};
    for (const path of Object.keys(got)) expected[path] = path === '/' || /^\/(shard-\d+|webhooks)$/.test(path) ? '0700' : '0600';
    expect(got).toEqual(expected);
    // The files the promise is about are all there.
    expect(Object.keys(got).sort()).toEqual(expect.arrayContaining([
      '/', '/admin.key', '/engine.json', '/keys.json', '/shard-0', '/shard-0/data.mdb', '/shard-0/lock.mdb', '/shard-1', '/shard-1/data.mdb', '/shard-1/lock.mdb',
    ]));
    expect(server.logs.join('')).not.toContain('open to other users');
  });

  it('warns at start about each path wider than that, naming it and its mode, and leaves the modes alone', async () => {
    chmodSync(dataDir, 0o755);
    chmodSync(join(dataDir, 'shard-0', 'data.mdb'), 0o644);
    chmodSync(join(dataDir, 'keys.json'), 0o640);
    server.logs.length = 0;
    await server.start();
    const warnings = server.logs.join('\n').split('\n').filter((l) => l.includes('open to other users')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(warnings.map((w) => ({ level: w['level'], path: w['path'], mode: w['mode'], expected: w['expected'] }))).toEqual([
      { level: 40, path: dataDir, mode: '0755', expected: '0700' },
      { level: 40, path: join(dataDir, 'keys.json'), mode: '0640', expected: '0600' },
      { level: 40, path: join(dataDir, 'shard-0', 'data.mdb'), mode: '0644', expected: '0600' },
    ]);
    expect(warnings[0]!['msg']).toBe(`${dataDir} has mode 0755, open to other users; the data folder holds personal data and key hashes: chmod it to 0700`);
    const after = modes(dataDir);
    expect([after['/'], after['/shard-0/data.mdb'], after['/keys.json']]).toEqual(['0755', '0644', '0640']);
  });
});
