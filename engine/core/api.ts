// The surface a shard needs from a core: the four record regions and one call per batch. Both the
// WASM core (engine/core/wasm.ts) and the TypeScript reference model can stand behind it.

export interface CoreRegions {
  readonly program: Float64Array;
  readonly members: Float64Array;
  readonly ops: Float64Array;
  readonly results: Float64Array;
  run(opCount: number): void;
}
