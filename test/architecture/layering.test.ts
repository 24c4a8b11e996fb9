// The folders are the architecture: this test reads every import of the product's source and
// fails when one crosses a rule below. A forbidden import added anywhere makes it fail with the
// file, the import and the rule it breaks.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(new URL('../..', import.meta.url).pathname);

/** Each layer, and the layers it may import (a layer may always import itself). */
const LAYERS: Record<string, { rule: string; may: string[] }> = {
  'engine/contracts': { rule: 'the shared contracts: ops, errors, limits and the shard protocol', may: ['engine/rules'] },
  'engine/rules': { rule: 'pure domain rules: no I/O, nothing of the shard, the router or the server', may: ['engine/contracts'] },
  'engine/core': { rule: 'the WASM glue and its TypeScript reference model', may: ['engine/contracts', 'engine/rules'] },
  'engine/shard': { rule: 'what runs in a shard worker: storage, codec, the batch executor, queries', may: ['engine/contracts', 'engine/rules', 'engine/core', 'engine/cluster'] },
  'engine/router': { rule: 'what runs on the main thread: the Engine, shard clients, hashing, cross-shard orchestration', may: ['engine/contracts', 'engine/rules'] },
  'engine/cluster': { rule: 'cluster mode\'s transport: the shards\' batch-log streams on NATS JetStream and the fenced append, nothing of a shard\'s store', may: ['engine/contracts'] },
  'engine/history': { rule: 'the batch log over a whole data folder: replay checks, replays from a backup, retention', may: ['engine/contracts', 'engine/rules', 'engine/core', 'engine/shard'] },
  'server': { rule: 'parses, authorizes and answers; the engine decides', may: ['engine/contracts', 'engine/rules', 'engine/router', 'engine/core', 'engine/cluster'] },
  'cli': { rule: 'the command line', may: ['engine/contracts', 'engine/rules', 'engine/router', 'engine/core', 'engine/shard', 'engine/history', 'engine/cluster', 'server'] },
  'assembly': { rule: 'the WASM core knows nothing outside itself', may: [] },
};

/** The layer a repository path belongs to, or null for files outside every layer (tests, benchmarks). */
export function layerOf(path: string): string | null {
  if (path.startsWith('assembly/')) return 'assembly';
  if (path.startsWith('server/')) return 'server';
  if (path.startsWith('cli/')) return 'cli';
  const m = /^engine\/([^/]+)(\/)?/.exec(path);
  if (m === null) return null;
  return m[2] === '/' ? `engine/${m[1]}` : 'engine/contracts';
}

/** Every relative import of a source text (static, dynamic and type-only). */
export function importsOf(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)'([^']+)'/g)) out.push(m[1]!);
  return out;
}

/** The rule an import of `target` from `file` breaks, or null when it is allowed. */
export function violation(file: string, target: string): string | null {
  const from = layerOf(file);
  if (from === null) return null;
  if (from === 'assembly') return target.startsWith('.') && !target.startsWith('./') ? `assembly: ${LAYERS.assembly!.rule}` : null;
  if (!target.startsWith('.')) return null;
  const to = layerOf(relative(ROOT, resolve(ROOT, dirname(file), target)));
  if (to === null || to === from) return to === null ? `${from} imports outside the product (${target})` : null;
  return LAYERS[from]!.may.includes(to) ? null : `${from} may not import ${to} (${from}: ${LAYERS[from]!.rule})`;
}

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) out.push(...sources(path));
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

describe('layering', () => {
  it('no source file imports across the rules', () => {
    const broken: string[] = [];
    for (const dir of ['engine', 'server', 'cli', 'assembly']) {
      for (const file of sources(dir)) {
        for (const target of importsOf(readFileSync(join(ROOT, file), 'utf8'))) {
          const why = violation(file, target);
          if (why !== null) broken.push(`${file} imports ${target}: ${why}`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('only the shared contracts live in engine/ itself', () => {
    const loose = readdirSync(join(ROOT, 'engine')).filter((n) => n.endsWith('.ts')).sort();
    expect(loose).toEqual(['batch-records.ts', 'errors.ts', 'import-rows.ts', 'limits.ts', 'ops.ts', 'shard-protocol.ts']);
  });

  it('catches each kind of forbidden import', () => {
    expect(violation('engine/rules/grants.ts', '../shard/store.js')).toMatch(/engine\/rules may not import engine\/shard/);
    expect(violation('engine/rules/grants.ts', '../router/engine.js')).toMatch(/may not import engine\/router/);
    expect(violation('engine/rules/grants.ts', '../../server/http.js')).toMatch(/may not import server/);
    expect(violation('engine/shard/batch.ts', '../router/engine.js')).toMatch(/engine\/shard may not import engine\/router/);
    expect(violation('engine/shard/batch.ts', '../../server/perform.js')).toMatch(/may not import server/);
    expect(violation('engine/shard/replay.ts', '../history/replay-check.js')).toMatch(/engine\/shard may not import engine\/history/);
    expect(violation('engine/history/replay-check.ts', '../router/engine.js')).toMatch(/engine\/history may not import engine\/router/);
    expect(violation('engine/router/engine.ts', '../../server/perform.js')).toMatch(/may not import server/);
    expect(violation('engine/ops.ts', '../server/perform.js')).toMatch(/may not import server/);
    expect(violation('assembly/index.ts', '../engine/limits')).toMatch(/assembly/);
    expect(violation('engine/shard/batch.ts', '../rules/grants.js')).toBeNull();
    expect(violation('server/routes.ts', '../engine/router/engine.js')).toBeNull();
  });

  it('each engine folder states its rule in its README', () => {
    for (const folder of ['rules', 'core', 'shard', 'router', 'history']) {
      const readme = readFileSync(join(ROOT, 'engine', folder, 'README.md'), 'utf8');
      expect(readme).toMatch(/^# engine\/\w+\n\n\S/);
    }
  });
});
