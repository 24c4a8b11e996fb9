// The few WebAssembly JS API declarations the core loader uses: @types/node 20 does not declare
// them and the DOM library would bring in browser globals the server must not see.
declare namespace WebAssembly {
  class Module {
    constructor(bytes: BufferSource);
  }
  class Instance {
    constructor(module: Module, imports?: Imports);
    readonly exports: Exports;
  }
  class Memory {
    readonly buffer: ArrayBuffer;
    grow(delta: number): number;
  }
  type ExportValue = Function | Memory | Global;
  type Exports = Record<string, ExportValue>;
  type ImportValue = Function | Memory | number;
  type Imports = Record<string, Record<string, ImportValue>>;
  class Global { value: unknown }
}
type BufferSource = ArrayBufferView | ArrayBuffer;
