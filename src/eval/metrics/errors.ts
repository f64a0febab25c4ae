/** Raised when an evaluation function receives input it cannot use; the message names the field and the fix. */
export class EvalInputError extends Error {
  constructor(
    /** The offending argument or field, e.g. `pointsM` or `options.taus`. */
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'EvalInputError';
  }
}

/** Throws EvalInputError unless `value` is a finite number > 0. */
export function requirePositive(field: string, value: number): void {
  if (!(Number.isFinite(value) && value > 0)) {
    throw new EvalInputError(field, `must be a finite number > 0, got ${value}`);
  }
}

/** Throws EvalInputError unless `points` is a non-empty interleaved xyz array. */
export function requirePoints(field: string, points: ArrayLike<number>): void {
  if (points.length === 0 || points.length % 3 !== 0) {
    throw new EvalInputError(
      field,
      `length ${points.length} must be a non-zero multiple of 3; pass interleaved xyz model points in metres`,
    );
  }
}

/** Throws EvalInputError unless `pose` has a 9-element rotation and a 3-element translation. */
export function requirePose(field: string, pose: { R: ArrayLike<number>; tM: ArrayLike<number> }): void {
  if (!pose || !pose.R || pose.R.length !== 9 || !pose.tM || pose.tM.length !== 3) {
    throw new EvalInputError(field, 'must be a Pose {R: row-major Float64Array(9), tM: Float64Array(3)}');
  }
}

/** Throws EvalInputError unless `arr.length === expected`. */
export function requireLength(field: string, arr: ArrayLike<number>, expected: number, hint: string): void {
  if (arr.length !== expected) {
    throw new EvalInputError(field, `length ${arr.length} != ${expected}; ${hint}`);
  }
}
