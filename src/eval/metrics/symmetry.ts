import type { Pose } from '../../types';
import { EvalInputError } from './errors';
import { axisAngleToR, matMul3, matVec3 } from './linalg';

/** A continuous rotational symmetry as in BOP models_info.json (`axis`, `offset`), offset in metres. */
export interface ContinuousSymmetry {
  axis: ArrayLike<number>;
  offsetM: ArrayLike<number>;
}

/**
 * Object symmetries as in BOP models_info.json, converted to metres: `discrete` are 4x4 row-major
 * transforms (translation column in metres; BOP files store millimetres, divide by 1000 when converting).
 */
export interface ModelSymmetries {
  discrete?: ArrayLike<number>[];
  continuous?: ContinuousSymmetry[];
}

/** bop_toolkit default `max_sym_disc_step` (eval_calc_errors.py): 0.01. */
export const BOP_MAX_SYM_DISC_STEP = 0.01;

/**
 * Set of symmetry transformations of an object, exactly as bop_toolkit `misc.get_symmetry_transformations`:
 * - discrete: identity plus every 4x4 from `discrete`;
 * - each continuous symmetry is discretised into n = ceil(pi / maxSymDiscStep) steps of 2*pi/n and the
 *   rotations i = 1..n-1 are used (bop_toolkit starts at i = 1, so when continuous symmetries exist the
 *   identity itself is NOT in the set; with the default step 0.01, n = 315 and the smallest rotation is
 *   2*pi/315 ≈ 1.14°), with t = offset - R*offset;
 * - combined as {cont ∘ disc} for every pair when continuous symmetries exist, else the discrete set.
 * `maxSymDiscStep` is the maximum allowed distance between a vertex and its discretised position,
 * as a fraction of the diameter.
 */
export function getSymmetryTransformations(
  symmetries: ModelSymmetries | undefined,
  maxSymDiscStep = BOP_MAX_SYM_DISC_STEP,
): Pose[] {
  if (!(maxSymDiscStep > 0)) {
    throw new EvalInputError('maxSymDiscStep', `must be > 0, got ${maxSymDiscStep}; bop_toolkit uses 0.01`);
  }
  const disc: Pose[] = [{ R: new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, 1]), tM: new Float64Array(3) }];
  (symmetries?.discrete ?? []).forEach((m, i) => {
    if (m.length !== 16) {
      throw new EvalInputError(`symmetries.discrete[${i}]`, `length ${m.length} != 16; pass a row-major 4x4`);
    }
    disc.push({
      R: new Float64Array([m[0], m[1], m[2], m[4], m[5], m[6], m[8], m[9], m[10]]),
      tM: new Float64Array([m[3], m[7], m[11]]),
    });
  });
  const cont: Pose[] = [];
  (symmetries?.continuous ?? []).forEach((s, j) => {
    if (s.axis.length !== 3 || s.offsetM.length !== 3 || Math.hypot(s.axis[0], s.axis[1], s.axis[2]) === 0) {
      throw new EvalInputError(`symmetries.continuous[${j}]`, 'needs a non-zero axis[3] and offsetM[3]');
    }
    const steps = Math.ceil(Math.PI / maxSymDiscStep);
    const stepRad = (2 * Math.PI) / steps;
    for (let i = 1; i < steps; i++) {
      const R = axisAngleToR(s.axis, i * stepRad);
      const Ro = matVec3(R, s.offsetM);
      cont.push({
        R,
        tM: new Float64Array([s.offsetM[0] - Ro[0], s.offsetM[1] - Ro[1], s.offsetM[2] - Ro[2]]),
      });
    }
  });
  if (cont.length === 0) return disc;
  const out: Pose[] = [];
  for (const d of disc) {
    for (const c of cont) {
      const t = matVec3(c.R, d.tM);
      out.push({
        R: matMul3(c.R, d.R),
        tM: new Float64Array([t[0] + c.tM[0], t[1] + c.tM[1], t[2] + c.tM[2]]),
      });
    }
  }
  return out;
}
