/** Raised when a geometry function receives input it cannot use; the message names the field and the fix. */
export class GeometryInputError extends Error {
  constructor(
    /** The offending argument or field, e.g. `depthM` or `options.voxelM`. */
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'GeometryInputError';
  }
}

/** Throws GeometryInputError unless `value` is a finite number > 0. */
export function requirePositive(field: string, value: number): void {
  if (!(Number.isFinite(value) && value > 0)) {
    throw new GeometryInputError(field, `must be a finite number > 0, got ${value}`);
  }
}

/** Throws GeometryInputError unless `arr.length` is a multiple of `stride`. */
export function requireStride(field: string, arr: ArrayLike<number>, stride: number): void {
  if (arr.length % stride !== 0) {
    throw new GeometryInputError(
      field,
      `length ${arr.length} is not a multiple of ${stride}; pass interleaved xyz (${stride} values per point)`,
    );
  }
}
