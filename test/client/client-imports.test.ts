// The client library runs in browsers as well as Node: its files import nothing of Node, and of the
// server only types (erased when compiled), so that a bundler takes client/ alone.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const CLIENT = new URL('../../client', import.meta.url).pathname;

describe('client/', () => {
  it('imports no Node module, and of the server only types', () => {
    const problems: string[] = [];
    for (const name of readdirSync(CLIENT).filter((n) => n.endsWith('.ts'))) {
      const source = readFileSync(join(CLIENT, name), 'utf8');
      for (const m of source.matchAll(/^(import|export)(\s+type)?\s[^;]*?from\s+'([^']+)'/gms)) {
        const typeOnly = m[2] !== undefined;
        const target = m[3]!;
        if (target.startsWith('./')) continue;
        if (!typeOnly) problems.push(`${name}: ${target} is imported for its values`);
      }
      if (/\bprocess\.|\brequire\(|Buffer\./.test(source)) problems.push(`${name}: uses a Node global`);
    }
    expect(problems).toEqual([]);
  });
});
