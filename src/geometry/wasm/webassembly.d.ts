/**
 * The few WebAssembly JS API declarations the kernels use (Node has the API; TypeScript declares it only in the
 * DOM lib, which this project does not load).
 */
declare namespace WebAssembly {
  class Module {
    constructor(bytes: Uint8Array);
  }
  class Memory {
    constructor(descriptor: { initial: number; maximum?: number });
    readonly buffer: ArrayBuffer;
    /** Adds `delta` 64 KiB pages (views of the old buffer are detached); returns the old page count. */
    grow(delta: number): number;
  }
  class Instance {
    constructor(module: Module, imports?: Record<string, Record<string, unknown>>);
    readonly exports: Record<string, unknown>;
  }
}
