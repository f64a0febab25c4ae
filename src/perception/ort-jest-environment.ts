/**
 * Jest environment for tests that run onnxruntime-node. The native binding creates typed arrays in Node's main
 * realm, but jest's default sandbox has its own Float32Array etc., so onnxruntime-common's `instanceof` checks
 * fail ("A float32 tensor's data must be type of function Float32Array()"). This environment shares the main
 * realm's typed-array and ArrayBuffer constructors with the sandbox. Use it with a docblock:
 *   /** @jest-environment ./src/perception/ort-jest-environment.ts *\/
 */
import NodeEnvironment from 'jest-environment-node';

const SHARED = [
  'ArrayBuffer',
  'SharedArrayBuffer',
  'DataView',
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
] as const;

export default class OrtEnvironment extends NodeEnvironment {
  override async setup(): Promise<void> {
    await super.setup();
    const g = this.global as unknown as Record<string, unknown>;
    for (const name of SHARED) g[name] = (globalThis as unknown as Record<string, unknown>)[name];
  }
}
