// The executor is a deterministic function of (state, batch): replay, point-in-time recovery and
// what-if all rest on it. This test reads every source file the shard's commit path reaches
// (engine/shard/machine.ts and everything it imports, transitively) and fails when one reads a clock
// or randomness, or schedules work by time. The worker (engine/shard/worker.ts) is outside that set:
// it reads the clock once per task, only to record the commit time in the log entry.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(new URL('../..', import.meta.url).pathname);
const ENTRY = 'engine/shard/machine.ts';

/** What must not appear in the commit path's code (comments removed first). */
const FORBIDDEN: Array<[RegExp, string]> = [
  [/\bDate\.now\s*\(/, 'Date.now() reads the clock'],
  [/\bnew\s+Date\s*\(\s*\)/, 'new Date() reads the clock'],
  [/(?<!new\s+)\bDate\s*\(\s*\)/, 'Date() reads the clock'],
  [/\bperformance\.now\s*\(/, 'performance.now() reads the clock'],
  [/\bprocess\.hrtime\b/, 'process.hrtime reads the clock'],
  [/\bMath\.random\s*\(/, 'Math.random() is randomness'],
  [/\brandom(Bytes|Int|UUID|Fill)\b|\bgetRandomValues\b/, 'crypto randomness'],
  [/\bset(Timeout|Interval|Immediate)\s*\(/, 'timers make the outcome depend on timing'],
];

/** Every relative import of a source text (static, dynamic and type-only), as layering.test.ts reads them. */
function importsOf(source: string): string[] {
  return [...source.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)'([^']+)'/g)].map((m) => m[1]!);
}

/** Removes // and /* comments, which may well mention the forbidden calls. */
function code(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

/** Every product source file reachable from `entry` by relative imports. */
function reachable(entry: string): string[] {
  const seen = new Set<string>();
  const todo = [entry];
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const target of importsOf(readFileSync(join(ROOT, file), 'utf8'))) {
      if (!target.startsWith('.')) continue;
      const path = relative(ROOT, resolve(ROOT, dirname(file), target.replace(/\.js$/, '.ts')));
      if (existsSync(join(ROOT, path))) todo.push(path);
    }
  }
  return [...seen].sort();
}

export function clockOrRandomness(source: string): string[] {
  const body = code(source);
  return FORBIDDEN.filter(([re]) => re.test(body)).map(([, why]) => why);
}

describe('determinism of the commit path', () => {
  it('reaches the executor, its families, the rules and the core glue, and not the worker', () => {
    const files = reachable(ENTRY);
    for (const f of ['engine/shard/batch.ts', 'engine/shard/batch-core.ts', 'engine/shard/batch-sweep.ts', 'engine/shard/batch-log.ts', 'engine/rules/member-events.ts', 'engine/core/wasm.ts']) {
      expect(files, f).toContain(f);
    }
    expect(files).not.toContain('engine/shard/worker.ts');
  });

  it('reads no clock and no randomness, and sets no timer', () => {
    const broken = reachable(ENTRY).flatMap((f) => clockOrRandomness(readFileSync(join(ROOT, f), 'utf8')).map((why) => `${f}: ${why}`));
    expect(broken).toEqual([]);
  });

  it('catches each kind of clock and randomness, and ignores comments and dated values', () => {
    expect(clockOrRandomness('const t = Date.now();')).toEqual(['Date.now() reads the clock']);
    expect(clockOrRandomness('const d = new Date();')).toEqual(['new Date() reads the clock']);
    expect(clockOrRandomness('const s = Date();')).toEqual(['Date() reads the clock']);
    expect(clockOrRandomness('const t = performance.now();')).toEqual(['performance.now() reads the clock']);
    expect(clockOrRandomness('const r = Math.random();')).toEqual(['Math.random() is randomness']);
    expect(clockOrRandomness("import { randomBytes } from 'node:crypto';")).toEqual(['crypto randomness']);
    expect(clockOrRandomness('setTimeout(f, 1);')).toEqual(['timers make the outcome depend on timing']);
    expect(clockOrRandomness('// Date.now() is never read here\nconst iso = new Date(atMs).toISOString();')).toEqual([]);
  });
});
