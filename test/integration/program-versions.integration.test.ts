// Program changes sent at once each get their own version, strictly increasing, and the program
// shown is the one applied with the newest version, before and after a restart.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerProcess } from '../helpers/server-process.js';

const server = new ServerProcess(ServerProcess.tempDataDir(), { LOYALTY_SHARDS: '4' });
const CHANGES = 12;

beforeAll(async () => { await server.start(); });
afterAll(async () => { await server.stop(); server.cleanup(); });

describe('program versions', () => {
  it('gives concurrent changes distinct increasing versions, and shows the last applied, also after a restart', async () => {
    const base = await server.call('GET /v1/program');
    const startVersion = base.version;
    const replies = await Promise.all(Array.from({ length: CHANGES }, (_, i) =>
      server.call('PUT /v1/program', { body: { ...base, name: `change-${i}`, signupPoints: i } })));
    const versions = replies.map((r) => r.version);
    expect([...versions].sort((a, b) => a - b)).toEqual(Array.from({ length: CHANGES }, (_, i) => startVersion + 1 + i));
    // Each answer names the program it applied under that version.
    replies.forEach((r, i) => expect(r).toMatchObject({ name: `change-${i}`, signupPoints: i }));
    const last = replies.find((r) => r.version === startVersion + CHANGES)!;
    const shown = await server.call('GET /v1/program');
    expect(shown).toEqual(last);
    // What a registration gets is the program shown.
    const member = await server.call('POST /v1/members', { body: { memberId: 'pv-1' } });
    expect(member.points).toBe(last.signupPoints);
    await server.stop();
    await server.start();
    expect(await server.call('GET /v1/program')).toEqual(last);
    expect((await server.call('POST /v1/members', { body: { memberId: 'pv-2' } })).points).toBe(last.signupPoints);
    // The ledger records one program entry per version.
    const ledger = await server.call('GET /v1/export/ledger.csv');
    const refs = [...ledger.matchAll(/program:(\d+)/g)].map((m) => Number(m[1]));
    expect(refs.filter((v) => v > startVersion).sort((a, b) => a - b)).toEqual(Array.from({ length: CHANGES }, (_, i) => startVersion + 1 + i));
  });
});
