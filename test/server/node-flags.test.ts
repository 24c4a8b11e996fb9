// `npm start` runs the server with the V8 flags the benchmarks measured it with (server/node-flags.ts).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SERVER_NODE_FLAGS } from '../../server/node-flags.js';

describe('the server\'s node flags', () => {
  it('are the ones `npm start` passes', () => {
    const scripts = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> }).scripts;
    expect(scripts['start']).toBe(['node', ...SERVER_NODE_FLAGS, 'dist/server/main.js'].join(' '));
  });
});
