// A transfer whose arrival the target's wallet cannot take (it would pass 2^53 − 1 cents) no
// longer stops the server on every delivery, restart after restart: the money goes back to the
// sender as a `transfer_return` entry, once, across a SIGKILL and a restart, and verify is clean.
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { ServerProcess } from '../helpers/server-process.js';
import { hashId } from '../../engine/router/member-hash.js';
import { openShardStore } from '../../engine/shard/store.js';
import { BatchExecutor } from '../../engine/shard/batch.js';
import { encodeProgram, loadCore } from '../../engine/core/wasm.js';
import { programContext } from '../../engine/rules/member-state.js';
import type { Program } from '../../engine/rules/program-types.js';

const MAX = Number.MAX_SAFE_INTEGER;
const dataDir = ServerProcess.tempDataDir();
const server = new ServerProcess(dataDir, { LOYALTY_SHARDS: '2', LOYALTY_SWEEP_INTERVAL_MS: '0' });
afterAll(async () => { await server.stop(); server.cleanup(); });

const FROM = 'sender';
const TO = ['full-1', 'full-2', 'full-3', 'full-4'].find((id) => hashId(id) % 2 !== hashId(FROM) % 2)!;

/** Registers a member whose wallet is nearly full, straight on its shard (no request may carry that much). */
async function registerFullWallet(): Promise<void> {
  const store = openShardStore(join(dataDir, `shard-${hashId(TO) % 2}`));
  const saved = store.meta.get('program') as { version: number; program: Program };
  const ctx = programContext(saved.version, saved.program);
  const exec = new BatchExecutor(store, loadCore(), hashId(TO) % 2);
  const reply = store.root.transactionSync(() => exec.apply(ctx, [{ op: 'register', memberId: TO, key: 'reg:m:' + TO, fp: 1, atMs: Date.now(), referralChain: [], walletCents: MAX - 10 }], (out) => encodeProgram(ctx.program, out)));
  expect(reply.results[0]!.ok).toBe(true);
  await store.root.close();
}

async function wallet(memberId: string): Promise<number> {
  return (await server.get(`/v1/members/${memberId}`)).body.walletCents as number;
}

describe('a transfer the target cannot take', () => {
  it('goes back to the sender once, and the server stays up through the delivery and a restart', async () => {
    await server.start();
    expect((await server.post('/v1/members', { memberId: FROM, walletCents: 10_000 })).status).toBe(201);
    await server.stop();
    await registerFullWallet();
    await server.start();

    const transfer = await server.post('/v1/wallet/transfers', { requestId: 'full-tx', fromMemberId: FROM, toMemberId: TO, amountCents: 100 });
    expect(transfer.body).toMatchObject({ walletBalanceCents: 9_900 });
    const deadline = Date.now() + 5_000;
    while (await wallet(FROM) !== 10_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await wallet(FROM)).toBe(10_000);
    expect(await wallet(TO)).toBe(MAX - 10);
    expect(server.child?.exitCode ?? null).toBeNull();

    await server.kill();
    await server.start();
    await new Promise((r) => setTimeout(r, 300));
    expect(await wallet(FROM)).toBe(10_000);
    expect(await wallet(TO)).toBe(MAX - 10);
    const ledger = (await server.get(`/v1/members/${FROM}/ledger`)).body.entries as Array<{ kind: string; walletDeltaCents: number; ref: string }>;
    expect(ledger.map((e) => [e.kind, e.walletDeltaCents, e.ref])).toEqual([['transfer_return', 100, 'req:full-tx'], ['transfer_out', -100, 'req:full-tx'], ['register', 10_000, 'reg:m:' + FROM]]);
    expect((await server.get('/v1/admin/verify')).body).toMatchObject({ ok: true, mismatches: [] });
  });
});
