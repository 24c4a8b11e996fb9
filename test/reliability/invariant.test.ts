// A broken invariant stops the process (DESIGN, house style 4): a due index that names a member
// who does not exist makes the sweep's assertion fail, and the server process ends at once, with
// the reason on stderr and nothing half-written; once the index is mended it serves again.
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { ServerProcess } from '../helpers/server-process.js';
import { openShardStore } from '../../engine/shard/store.js';

const dataDir = ServerProcess.tempDataDir();
const server = new ServerProcess(dataDir, { LOYALTY_SHARDS: '1', LOYALTY_SWEEP_INTERVAL_MS: '0' });

afterAll(async () => { await server.stop(); server.cleanup(); });

describe('a broken invariant', () => {
  it('stops the whole process, and the books are intact afterwards', async () => {
    await server.start();
    await server.post('/v1/members', { memberId: 'ok-1', tierId: 'silver' });
    await server.stop();

    const store = openShardStore(join(dataDir, 'shard-0'));
    store.root.transactionSync(() => store.due.putSync([1000, 'ghost'], ''));
    await store.root.close();

    await server.start();
    const child = server.child!;
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    await server.post('/v1/admin/sweep', {}).catch(() => undefined);
    expect(await exited).toBe('SIGKILL');
    expect(server.logs.join('')).toContain('broken invariant: stopping the process');
    server.child = null;

    const mend = openShardStore(join(dataDir, 'shard-0'));
    mend.root.transactionSync(() => mend.due.removeSync([1000, 'ghost']));
    await mend.root.close();
    await server.start();
    expect((await server.get('/v1/members/ok-1')).body.tierId).toBe('silver');
    expect((await server.get('/v1/admin/verify')).body).toMatchObject({ ok: true, mismatches: [] });
  });
});
