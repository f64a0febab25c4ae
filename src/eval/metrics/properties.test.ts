import fc from 'fast-check';
import { add, adi, mssd, re, te } from './poseError';
import { asymmetric3dIou } from './nocs';
import { axisAngleToR, makePose } from './linalg';
import { buildNnIndex, nearestDistance } from './nn';
import { getSymmetryTransformations } from './symmetry';
import { randomPoints } from './testutil';
import type { Pose } from '../../types';

const pose = fc
  .record({
    axis: fc.tuple(
      fc.double({ min: -1, max: 1, noNaN: true }),
      fc.double({ min: -1, max: 1, noNaN: true }),
      fc.double({ min: 0.1, max: 1, noNaN: true }),
    ),
    angle: fc.double({ min: -Math.PI, max: Math.PI, noNaN: true }),
    t: fc.tuple(
      fc.double({ min: -0.2, max: 0.2, noNaN: true }),
      fc.double({ min: -0.2, max: 0.2, noNaN: true }),
      fc.double({ min: 0.3, max: 1.5, noNaN: true }),
    ),
  })
  .map(({ axis, angle, t }): Pose => makePose(axisAngleToR(axis, angle), t));

const pts = randomPoints(150, 0.05, 11);
const ident = getSymmetryTransformations(undefined);

describe('metric invariants (property-based)', () => {
  test('0 <= ADD-S <= ADD <= MSSD (identity symmetry) and te <= ADD + max |p|', () => {
    let maxR = 0;
    for (let i = 0; i < pts.length / 3; i++)
      maxR = Math.max(maxR, Math.hypot(pts[3 * i], pts[3 * i + 1], pts[3 * i + 2]));
    fc.assert(
      fc.property(pose, pose, (e, g) => {
        const a = add(e, g, pts);
        const s = adi(e, g, pts);
        const m = mssd(e, g, pts, ident);
        return s >= 0 && s <= a + 1e-12 && a <= m + 1e-12 && te(e.tM, g.tM) <= a + 2 * maxR + 1e-12;
      }),
      { numRuns: 60 },
    );
  });

  test('rotation error is symmetric, in [0, 180] and finite', () => {
    fc.assert(
      fc.property(pose, pose, (a, b) => {
        const x = re(a.R, b.R);
        return Number.isFinite(x) && x >= 0 && x <= 180 && Math.abs(x - re(b.R, a.R)) < 1e-6;
      }),
      { numRuns: 100 },
    );
  });

  test('3D IoU is symmetric and in [0, 1]', () => {
    const size = fc.tuple(
      fc.double({ min: 0.01, max: 0.3, noNaN: true }),
      fc.double({ min: 0.01, max: 0.3, noNaN: true }),
      fc.double({ min: 0.01, max: 0.3, noNaN: true }),
    );
    fc.assert(
      fc.property(pose, size, pose, size, (pa, sa, pb, sb) => {
        const x = asymmetric3dIou({ pose: pa, sizeM: sa }, { pose: pb, sizeM: sb });
        const y = asymmetric3dIou({ pose: pb, sizeM: sb }, { pose: pa, sizeM: sa });
        return x >= 0 && x <= 1 + 1e-12 && Math.abs(x - y) < 1e-12;
      }),
      { numRuns: 100 },
    );
  });

  test('k-d tree nearest distance equals brute force on random clouds (incl. duplicates)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 0, max: 1e6 }), (n, seed) => {
        const target = randomPoints(n, 0.1, seed);
        target.copyWithin(0, 3, Math.min(9, target.length)); // some duplicated points
        const idx = buildNnIndex(target);
        const q = randomPoints(20, 0.2, seed + 1);
        for (let k = 0; k < 20; k++) {
          let best = Infinity;
          for (let i = 0; i < n; i++) {
            best = Math.min(
              best,
              Math.hypot(
                target[3 * i] - q[3 * k],
                target[3 * i + 1] - q[3 * k + 1],
                target[3 * i + 2] - q[3 * k + 2],
              ),
            );
          }
          if (Math.abs(nearestDistance(idx, q[3 * k], q[3 * k + 1], q[3 * k + 2]) - best) > 1e-12)
            return false;
        }
        return true;
      }),
      { numRuns: 60 },
    );
  });
});
