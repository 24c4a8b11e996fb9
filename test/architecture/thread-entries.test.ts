// The modules Piscina starts threads with, and every module they import, have no top-level await.
// Piscina loads a thread's module with require(); on Node 20 a module graph holding a top-level
// await makes that require() fail and Piscina fall back to import(), and when several tasks reach
// a new thread at once, a second task's require() races that import() and Node stops the whole
// process with V8's fatal "IsGraphAsync must be used on an instantiated module" (seen once in CI:
// a shard thread of `loyalty import` after a start-up that took a while). A start-up that must
// wait is a promise the thread's tasks wait for (engine/shard/worker.ts `start`).
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(new URL('../..', import.meta.url).pathname);
/** Where the Piscina pools are made: each names its thread's module as `filename: …new URL('…', import.meta.url)`. */
const POOL_FILES = ['engine/router/shard-client.ts', 'engine/router/reader-client.ts', 'engine/router/what-if-jobs.ts'];

function threadEntries(): string[] {
  return POOL_FILES.flatMap((file) => {
    const text = readFileSync(join(ROOT, file), 'utf8');
    return [...text.matchAll(/filename:\s*fileURLToPath\(new URL\('([^']+)',\s*import\.meta\.url\)\)/g)]
      .map((m) => relative(ROOT, resolve(dirname(join(ROOT, file)), m[1]!.replace(/\.js$/, '.ts'))));
  });
}

/** The relative static imports of a module (dynamic import() loads later, outside require()). */
function staticImports(file: string, source: ts.SourceFile): string[] {
  const out: string[] = [];
  for (const st of source.statements) {
    if ((ts.isImportDeclaration(st) || ts.isExportDeclaration(st)) && st.moduleSpecifier !== undefined && ts.isStringLiteral(st.moduleSpecifier)) {
      if (ts.isImportDeclaration(st) && st.importClause?.isTypeOnly === true) continue;
      const spec = st.moduleSpecifier.text;
      if (spec.startsWith('.')) out.push(relative(ROOT, resolve(dirname(join(ROOT, file)), spec.replace(/\.js$/, '.ts'))));
    }
  }
  return out;
}

/** The lines of `await` (and `for await`) outside any function: top-level awaits. */
function topLevelAwaits(source: ts.SourceFile): number[] {
  const lines: number[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) || ts.isClassStaticBlockDeclaration(node)) return;
    if (ts.isAwaitExpression(node) || (ts.isForOfStatement(node) && node.awaitModifier !== undefined)) {
      lines.push(source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1);
    }
    ts.forEachChild(node, visit);
  };
  ts.forEachChild(source, visit);
  return lines;
}

describe('thread entry modules', () => {
  it('finds the three pools\' modules', () => {
    expect(threadEntries().sort()).toEqual(['engine/history/what-if-worker.ts', 'engine/shard/reader.ts', 'engine/shard/worker.ts']);
  });

  it('detects a top-level await, and none inside a function', () => {
    const src = ts.createSourceFile('x.ts', 'const a = await f();\nasync function g() { await h(); }\nfor await (const x of y) {}\nconst k = async () => { await z; };\n', ts.ScriptTarget.ES2022, true);
    expect(topLevelAwaits(src)).toEqual([1, 3]);
  });

  it('have no top-level await in their whole static import graph', () => {
    const seen = new Set<string>();
    const found: string[] = [];
    const queue = threadEntries();
    while (queue.length > 0) {
      const file = queue.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      const source = ts.createSourceFile(file, readFileSync(join(ROOT, file), 'utf8'), ts.ScriptTarget.ES2022, true);
      for (const line of topLevelAwaits(source)) found.push(`${file}:${line}`);
      queue.push(...staticImports(file, source));
    }
    expect(seen.size).toBeGreaterThan(20);
    expect(found).toEqual([]);
  });
});
