// `npm run soak`: the crash soak (bench/soak-harness.ts) at full size, 10 SIGKILLs by default,
// printing the machine, the run's figures and every failed check; exit status 1 on any failure.
//
//   node dist/bench/soak.js [--kills N] [--terminals N] [--members N] [--batches N] [--ops N] [--shards N] [--seed N]
import { machineLine } from './machine.js';
import { runSoak, SOAK_DEFAULTS, type SoakSettings } from './soak-harness.js';

const MS_PER_S = 1000;

const FLAGS: Record<string, { key: keyof SoakSettings; min: number; max: number }> = {
  '--kills': { key: 'kills', min: 0, max: 1_000 },
  '--terminals': { key: 'terminals', min: 1, max: 64 },
  '--members': { key: 'membersPerTerminal', min: 2, max: 10_000 },
  '--batches': { key: 'batchesPerTerminal', min: 1, max: 1_000_000 },
  '--ops': { key: 'batchOps', min: 1, max: 10_000 },
  '--shards': { key: 'shards', min: 2, max: 64 },
  '--seed': { key: 'seed', min: 0, max: 2 ** 31 },
};

function parse(argv: readonly string[]): SoakSettings {
  const settings: SoakSettings = { ...SOAK_DEFAULTS, seed: Date.now() % 2 ** 31, log: (line) => process.stdout.write(`  ${line}\n`) };
  for (let i = 0; i < argv.length; i += 2) {
    const flag = FLAGS[argv[i]!];
    const value = Number(argv[i + 1]);
    if (flag === undefined || !Number.isInteger(value) || value < flag.min || value > flag.max) {
      process.stderr.write(`soak: bad argument ${argv[i]} ${argv[i + 1] ?? ''}; flags: ${Object.entries(FLAGS).map(([f, r]) => `${f} ${r.min}..${r.max}`).join(', ')}\n`);
      process.exit(2);
    }
    (settings as unknown as Record<string, number>)[flag.key] = value;
  }
  return settings;
}

const settings = parse(process.argv.slice(2));
process.stdout.write(`${machineLine()}\n`);
process.stdout.write(`soak: ${settings.shards} shards, ${settings.terminals} terminals × ${settings.batchesPerTerminal} batches × ${settings.batchOps} ops, ${settings.kills} kills, seed ${settings.seed}\n`);
const report = await runSoak(settings);
const row = (name: string, value: string | number) => process.stdout.write(`  ${name.padEnd(28)} ${value}\n`);
row('elapsed (s)', (report.elapsedMs / MS_PER_S).toFixed(1));
row('kills (SIGKILL + restart)', report.kills);
row('batches unacked at kills', report.unackedAtKills);
row('batches acked', report.batchesAcked);
row('batches / ops resent', `${report.batchesResent} / ${report.opsResent}`);
row('purchases acked', report.purchases);
row('returns acked', report.returns);
row('transfers acked', report.transfers);
row('top-ups acked', report.topups);
row('rejections (final)', JSON.stringify(report.rejected));
row('wallets (cents)', `${report.walletCents} (top-ups put in ${report.expectedWalletCents})`);
row('points', `${report.points} (orders minus returns make ${report.expectedPoints})`);
row('ledger entries read back', report.ledgerEntries);
if (report.ok) {
  process.stdout.write('soak: ok (money conserved to the cent, points exact, every write once, verify clean)\n');
} else {
  process.stdout.write(`soak: FAILED, seed ${report.seed}\n${report.failures.map((f) => `  - ${f}`).join('\n')}\n`);
  process.exitCode = 1;
}
