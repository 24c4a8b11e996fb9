// `npm run sim`: the deterministic simulation (test/sim/simulator.ts) from the command line, for any
// number of seeds and steps and any edge classes. A failure prints `seed=<n> step=<k>`, what
// differed, the last steps, and the command that replays it; the exit status is then 1.
//
//   node dist/bench/sim.js [--seed N] [--seeds COUNT] [--steps N] [--edges a,b|+a,-b|all|none] [--shards N]
import { machineLine } from './machine.js';
import { DEFAULT_EDGES, EDGES, EDGE_NAMES, SimFailure, parseEdges, runSimulation, type EdgeName } from '../test/sim/simulator.js';

const MS_PER_S = 1000;

interface Args { seed: number; seeds: number; steps: number; edges: Set<EdgeName>; shards: number | undefined }

function usage(problem: string): never {
  process.stderr.write(`sim: ${problem}\n`
    + 'usage: npm run sim -- [--seed N] [--seeds COUNT] [--steps N] [--edges a,b|+a,-b|all|none] [--shards 1..16]\n'
    + '--edges a,b runs exactly those edge classes; +a,-b adds to or removes from the defaults (marked *):\n'
    + EDGE_NAMES.map((e) => `  ${EDGES[e].defaultOn ? '*' : ' '} ${e.padEnd(20)} ${EDGES[e].about}`).join('\n') + '\n');
  process.exit(2);
}

function parse(argv: readonly string[]): Args {
  const args: Args = { seed: 1, seeds: 1, steps: 500, edges: new Set(DEFAULT_EDGES), shards: undefined };
  const int = (flag: string, raw: string | undefined, min: number, max: number): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) usage(`${flag} must be an integer ${min}..${max}, got ${raw ?? 'nothing'}`);
    return n;
  };
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i]!;
    const raw = argv[i + 1];
    switch (flag) {
      case '--seed': args.seed = int(flag, raw, 0, 2 ** 32 - 1); break;
      case '--seeds': args.seeds = int(flag, raw, 1, 1_000_000); break;
      case '--steps': args.steps = int(flag, raw, 1, 1_000_000); break;
      case '--shards': args.shards = int(flag, raw, 1, 16); break;
      case '--edges': {
        if (raw === undefined) usage('--edges needs a list');
        try {
          args.edges = parseEdges(raw);
        } catch (err) {
          usage((err as Error).message);
        }
        break;
      }
      default: usage(`unknown flag ${flag}`);
    }
  }
  return args;
}

const args = parse(process.argv.slice(2));
process.stdout.write(`${machineLine()}\n`);
process.stdout.write(`sim: seeds ${args.seed}..${args.seed + args.seeds - 1}, ${args.steps} steps each, edges ${args.edges.size === 0 ? 'none' : [...args.edges].join(',')}\n`);
let failed = 0;
for (let seed = args.seed; seed < args.seed + args.seeds; seed++) {
  try {
    const r = await runSimulation({ seed, steps: args.steps, edges: args.edges, ...(args.shards === undefined ? {} : { shards: args.shards }) });
    const refusals = Object.entries(r.refusals).sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c}×${n}`).join(' ');
    process.stdout.write(`seed ${seed}: ok in ${(r.elapsedMs / MS_PER_S).toFixed(1)} s — ${r.shards} shards, ${r.ops} ops (${r.replays} replays, ${r.conflicts} conflicts), `
      + `${r.kills} kills (${r.unackedAtKills} ops unacked), ${r.sweeps} sweeps, ${r.programChanges} program changes, ${r.members} members, ${r.orders} orders, ${r.entries} entries\n`
      + `  campaigns: ${r.campaigns.purchases} purchases and ${r.campaigns.quotes} quotes some campaign applied to, ${r.campaigns.coupons} campaign coupons issued\n`
      + `  pending points: ${r.pending.purchases} purchases and ${r.pending.rewards} referral rewards waited, ${r.pending.activations} activations (${r.pending.activationUpgrades} upgrading, ${r.pending.activationsCut} paying what fit, at the instant of another event: ${Object.entries(r.pending.activationTies).map(([k, n]) => `${k}×${n}`).join(' ') || 'none'}), `
      + `cancelled by ${r.pending.cancelledByReturns} returns and ${r.pending.cancelledByReversals} reversals, ${r.pending.refusedPendingWouldCover} spends refused that pending points would cover\n`
      + `  entries: ${Object.entries(r.entryKinds).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}×${n}`).join(' ')}\n  refusals: ${refusals}\n`);
  } catch (err) {
    failed += 1;
    process.stdout.write(`seed ${seed}: FAILED\n${err instanceof SimFailure ? err.message : err instanceof Error ? err.stack : String(err)}\n`);
  }
}
process.stdout.write(failed === 0 ? 'sim: every seed agreed with the model\n' : `sim: ${failed} of ${args.seeds} seeds failed\n`);
process.exit(failed === 0 ? 0 : 1);
