// The member search benchmark: a real server with N imported members (names, phones, emails), then
// the latency of `GET /v1/members?q=` for prefixes that match nothing, a few and many members, and
// a POS terminal's purchase latency alone, while R readers search as fast as they can, and while R
// readers list a tier that no member holds (a read of every profile, index or not).
//
//   node dist/bench/search.js [--members N] [--readers R] [--seconds S] [--quick]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { ServerChild } from './server-child.js';
import { LatencySamples } from './http-client.js';
import { machineLine } from './machine.js';
import { flag } from './flags.js';

const MEMBERS_DEFAULT = 300_000;
const MEMBERS_QUICK = 2_000;
const READERS_DEFAULT = 8;
const SECONDS_DEFAULT = 10;
const SECONDS_QUICK = 1;
/** Searches of each kind, one after the other, for its latency alone. */
const SEARCHES_PER_KIND = 50;
const SEARCHES_PER_KIND_QUICK = 5;
/** Page size of every search: the console's. */
const SEARCH_LIMIT = 50;
const REQUEST_TIMEOUT_MS = 60_000;
const MS_PER_S = 1000;

const SURNAMES = ['Chan', 'Cheung', 'Chow', 'Ho', 'Lam', 'Lau', 'Lee', 'Leung', 'Li', 'Mak', 'Ng', 'Tam', 'Tang', 'Tsang', 'Wong', 'Wu', 'Yeung', 'Yip', 'Smith', 'Brown', 'Garcia', 'Müller', 'Kim', 'Park', 'Sato'];
const GIVEN = ['Ka Ming', 'Wing Sze', 'Chi Keung', 'Mei Ling', 'Siu Fung', 'Tai Man', 'Ho Yin', 'Hiu Tung', 'Alice', 'Ben', 'Carmen', 'David', 'Emily', 'Frank', 'Grace', 'Henry', 'Ivy', 'Jack', 'Karen', 'Leo'];

function positiveInt(raw: string | undefined, fallback: number, name: string): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${raw}`);
  return n;
}

/** Member i: a surname and given name spread evenly, a unique phone and email. */
function member(i: number): { id: string; name: string; phone: string; email: string } {
  const surname = SURNAMES[i % SURNAMES.length]!;
  const given = GIVEN[Math.floor(i / SURNAMES.length) % GIVEN.length]!;
  return { id: `s-${i}`, name: `${surname} ${given}`, phone: `+8525${String(i).padStart(7, '0')}`, email: `${given.replace(' ', '').toLowerCase()}.${i}@example.com` };
}

function csv(members: number): string {
  const lines = ['memberId,name,phone,email'];
  for (let i = 0; i < members; i++) {
    const m = member(i);
    lines.push(`${m.id},${m.name},${m.phone},${m.email}`);
  }
  return lines.join('\n') + '\n';
}

const quick = process.argv.includes('--quick');
const members = positiveInt(flag('--members'), quick ? MEMBERS_QUICK : MEMBERS_DEFAULT, '--members');
const readers = positiveInt(flag('--readers'), READERS_DEFAULT, '--readers');
const seconds = positiveInt(flag('--seconds'), quick ? SECONDS_QUICK : SECONDS_DEFAULT, '--seconds');
const searchesPerKind = quick ? SEARCHES_PER_KIND_QUICK : SEARCHES_PER_KIND;
const dataDir = mkdtempSync(join(tmpdir(), 'loyalty-bench-search-'));

console.log(machineLine());
console.log(`search: ${members.toLocaleString('en-US')} members, 2 shards, ${readers} readers, ${seconds} s per phase, data in ${dataDir}`);

const server = new ServerChild({ dataDir, env: { LOYALTY_SHARDS: '2', LOYALTY_SWEEP_INTERVAL_MS: '0', LOG_LEVEL: 'info' } });
/** Set once the server listens: its admin key. */
let headers: Record<string, string> = {};
const pool = (connections: number) => new Pool(`http://127.0.0.1:${server.port}`, {
  connections, pipelining: 1, headersTimeout: REQUEST_TIMEOUT_MS, bodyTimeout: REQUEST_TIMEOUT_MS, keepAliveTimeout: REQUEST_TIMEOUT_MS,
});

/** One request; throws on a non-2xx answer, so that a broken run never prints figures. */
async function call(p: Pool, method: 'GET' | 'POST', path: string, body?: string): Promise<unknown> {
  const res = await p.request({ method, path, headers, ...(body === undefined ? {} : { body }) });
  const text = await res.body.text();
  if (res.statusCode < 200 || res.statusCode > 299) throw new Error(`${method} ${path}: HTTP ${res.statusCode} ${text.slice(0, 200)}`);
  return JSON.parse(text);
}

const searchPath = (q: string) => `/v1/members?limit=${SEARCH_LIMIT}&q=${encodeURIComponent(q)}`;

try {
  // Inside the try: a server that fails to start (it may still be running) is stopped all the same.
  await server.start();
  headers = { authorization: `Bearer ${server.adminKey}`, 'content-type': 'application/json' };
  const importStarted = performance.now();
  const imported = await call(pool(1), 'POST', '/v1/import/members', csv(members)) as { imported: number };
  if (imported.imported !== members) throw new Error(`imported ${imported.imported} of ${members}`);
  console.log(`imported in ${((performance.now() - importStarted) / MS_PER_S).toFixed(1)} s`);

  // Kinds of search: what they match decides how far a scan of the profiles must read.
  const last = member(members - 1);
  const kinds: Array<{ kind: string; q: string }> = [
    { kind: 'no match (name "zz")', q: 'zz' },
    { kind: 'one member by phone', q: last.phone },
    { kind: 'one member by id', q: last.id },
    { kind: 'one member by email, in capitals', q: last.email.toUpperCase() },
    { kind: 'a rare name prefix', q: `${SURNAMES[3]!.toLowerCase()} ${GIVEN[2]!.slice(0, 3).toLowerCase()}` },
    { kind: 'a common name prefix', q: SURNAMES[0]!.slice(0, 2) },
  ];
  /** Members a search matches, counted from the generated population by the search's own rule. */
  const matching = (q: string) => {
    let n = 0;
    for (let i = 0; i < members; i++) {
      const m = member(i);
      if (m.id.startsWith(q) || m.phone.startsWith(q) || m.name.toLowerCase().startsWith(q.toLowerCase()) || m.email.startsWith(q.toLowerCase())) n += 1;
    }
    return n;
  };
  const searcher = pool(1);
  console.log('');
  console.log(`| search (limit ${SEARCH_LIMIT}), one at a time | q | members matching | found | p50 ms | p99 ms |`);
  console.log('|---|---|---:|---:|---:|---:|');
  for (const { kind, q } of kinds) {
    const latency = new LatencySamples();
    let found = 0;
    for (let i = 0; i < searchesPerKind; i++) {
      const started = performance.now();
      found = (await call(searcher, 'GET', searchPath(q)) as { members: unknown[] }).members.length;
      latency.record(performance.now() - started);
    }
    const [p50, p99] = latency.percentilesMs([0.5, 0.99]);
    console.log(`| ${kind} | \`${q}\` | ${matching(q).toLocaleString('en-US')} | ${found} | ${p50!.toFixed(2)} | ${p99!.toFixed(2)} |`);
  }

  /** One POS terminal buying for `seconds`, one purchase at a time: its latency percentiles. */
  let orderNo = 0;
  async function pos(): Promise<{ purchases: number; p50: number; p99: number }> {
    const p = pool(1);
    const latency = new LatencySamples();
    const endMs = performance.now() + seconds * MS_PER_S;
    while (performance.now() < endMs) {
      orderNo += 1;
      const body = JSON.stringify({ orderId: `bench-o-${orderNo}`, memberId: member((orderNo * 7919) % members).id, amountCents: 2000 + (orderNo % 100) });
      const started = performance.now();
      await call(p, 'POST', '/v1/purchases', body);
      latency.record(performance.now() - started);
    }
    await p.close();
    const [p50, p99] = latency.percentilesMs([0.5, 0.99]);
    return { purchases: latency.count, p50: p50!, p99: p99! };
  }

  /** The POS terminal's figures while `readers` clients send `path` back to back, and the reads they got done. */
  async function posWhileReading(path: string): Promise<{ purchases: number; p50: number; p99: number; readsPerS: number }> {
    let stop = false;
    let reads = 0;
    const readerPool = pool(readers);
    const reading = Array.from({ length: readers }, async () => {
      while (!stop) { await call(readerPool, 'GET', path); reads += 1; }
    });
    const started = performance.now();
    const figures = await pos();
    stop = true;
    await Promise.all(reading);
    const readSeconds = (performance.now() - started) / MS_PER_S;
    await readerPool.close();
    return { ...figures, readsPerS: reads / readSeconds };
  }

  const alone = await pos();
  // A search for what matches nothing, the one a scan reads every profile for; and a listing of a
  // tier no member holds, which reads every profile whatever the index.
  const searching = await posWhileReading(searchPath('zz'));
  const listing = await posWhileReading(`/v1/members?limit=${SEARCH_LIMIT}&tierId=gold`);
  console.log('');
  console.log('| POS purchases, one terminal, one at a time | purchases | p50 ms | p99 ms | reads/s |');
  console.log('|---|---:|---:|---:|---:|');
  console.log(`| alone | ${alone.purchases} | ${alone.p50.toFixed(2)} | ${alone.p99.toFixed(2)} | 0 |`);
  console.log(`| with ${readers} readers searching "zz" | ${searching.purchases} | ${searching.p50.toFixed(2)} | ${searching.p99.toFixed(2)} | ${searching.readsPerS.toFixed(1)} |`);
  console.log(`| with ${readers} readers listing tier "gold" (no member: every profile read) | ${listing.purchases} | ${listing.p50.toFixed(2)} | ${listing.p99.toFixed(2)} | ${listing.readsPerS.toFixed(1)} |`);
  console.log('');
  console.log('search: ok');
} finally {
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
