// The client library runs in browsers as well as Node: its files import nothing of Node, of the
// server only types (erased when compiled), and of packages only those whose browser build imports
// nothing of Node either, so that a bundler takes client/ alone.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';

const CLIENT = new URL('../../client', import.meta.url).pathname;
const MODULES = new URL('../../node_modules', import.meta.url).pathname;
/** Packages the client may import for their values: msgpackr encodes the stream's binary frames. */
const BROWSER_PACKAGES = new Set(['msgpackr']);

/** The files a package's browser build loads (its `exports["."].browser` and what that imports), and the modules outside them they name. */
function browserImports(name: string): string[] {
  const root = join(MODULES, name);
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: { '.': { browser: string } } };
  const seen = new Set<string>();
  const outside: string[] = [];
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const m of readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)\b[^;'"]*?from\s+['"]([^'"]+)['"]|\brequire\(\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]/gm)) {
      const target = m[1] ?? m[2] ?? m[3]!;
      if (target.startsWith('.')) visit(join(dirname(file), target));
      else outside.push(target);
    }
  };
  visit(join(root, manifest.exports['.'].browser));
  return outside;
}

describe('client/', () => {
  it('imports no Node module, and of the server only types', () => {
    const problems: string[] = [];
    for (const name of readdirSync(CLIENT).filter((n) => n.endsWith('.ts'))) {
      const source = readFileSync(join(CLIENT, name), 'utf8');
      for (const m of source.matchAll(/^(import|export)(\s+type)?\s[^;]*?from\s+'([^']+)'/gms)) {
        const typeOnly = m[2] !== undefined;
        const target = m[3]!;
        if (target.startsWith('./') || BROWSER_PACKAGES.has(target)) continue;
        if (!typeOnly) problems.push(`${name}: ${target} is imported for its values`);
      }
      if (/\bprocess\.|\brequire\(|\bBuffer\./.test(source)) problems.push(`${name}: uses a Node global`);
    }
    expect(problems).toEqual([]);
  });

  it('imports packages whose browser build imports nothing else', () => {
    for (const name of BROWSER_PACKAGES) expect({ name, imports: browserImports(name) }).toEqual({ name, imports: [] });
  });
});
