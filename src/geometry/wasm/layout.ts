/**
 * Byte offsets of the arrays a WebAssembly kernel shares with TypeScript, laid out one after another in its memory,
 * each rounded up to `align` bytes so the next one starts aligned.
 */
export class MemoryLayout {
  /** Bytes taken so far: the memory size the layout needs. */
  bytes = 0;

  constructor(private readonly align: number) {}

  /** The offset of a new block of `n` bytes. */
  take(n: number): number {
    const at = this.bytes;
    this.bytes += Math.ceil(n / this.align) * this.align;
    return at;
  }

  /** The 64 KiB pages the layout needs (at least 1). */
  get pages(): number {
    return Math.max(1, Math.ceil(this.bytes / 65536));
  }
}
