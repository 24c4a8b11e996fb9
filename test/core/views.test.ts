// The core's record views (engine/core/wasm.ts) are kept between accesses and made again only
// when one reads as empty: what a view of a WebAssembly memory does once the memory grew.
import { describe, expect, it } from 'vitest';
import { loadCore } from '../../engine/core/wasm.js';
import { CORE_OPS_MAX, O_SLOTS } from '../../engine/core/layout.js';

/** The WebAssembly API, which the project's TypeScript library settings leave out (as engine/core/wasm.ts does). */
interface Memory { buffer: ArrayBuffer; grow(pages: number): number }
const wasm = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number }) => Memory } }).WebAssembly;

describe('the core record views', () => {
  it('a view of a memory that grew reads as empty, which the getters check', () => {
    const memory = new wasm.Memory({ initial: 1 });
    const view = new Float64Array(memory.buffer, 8, 16);
    expect(view.length).toBe(16);
    memory.grow(1);
    expect(view.length).toBe(0);
    expect(new Float64Array(memory.buffer, 8, 16).length).toBe(16);
  });

  it('are the same views from one access to the next, of the whole records', () => {
    const core = loadCore();
    const ops = core.ops;
    expect(core.ops).toBe(ops);
    expect(ops.length).toBe(CORE_OPS_MAX * O_SLOTS);
    ops[3] = 42;
    expect(core.ops[3]).toBe(42);
    expect(core.results).toBe(core.results);
    expect(core.members).toBe(core.members);
    expect(core.program).toBe(core.program);
  });
});
