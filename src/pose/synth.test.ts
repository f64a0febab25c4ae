import { generateSequence, meshDiameterM, renderSilhouette } from '../synth';
import { addsError, rotationErrorDeg, translationErrorM } from './metrics';
import { extractInstances } from './instances';
import { estimateModelPose, prepareObjectModel } from './model';
import { meshToObjectModel } from './models';

describe('model mode on synthetic scenes (synth module, sensor noise)', () => {
  it('recovers visible objects with ADD-S < 0.1 diameter', () => {
    const rows: string[] = [];
    let ok = 0;
    let n = 0;
    for (const seed of [1, 2, 3, 4]) {
      const t0 = performance.now();
      const seq = generateSequence({ seed, numFrames: 1 });
      const f = seq.frames[0];
      const depthM = Float32Array.from(f.depthMm, (d) => d / 1000);
      const tr = performance.now() - t0;
      for (const o of f.objects) {
        const full = renderSilhouette(o.mesh, o.poseCam, f.camera).pxCount;
        const vis = o.pxCountVisib / Math.max(1, full);
        if (vis < 0.3) continue;
        const mask = Uint8Array.from(f.instanceMask, (id) => (id === o.instanceId ? 1 : 0));
        const inst = extractInstances({ depthM, camera: f.camera }, [{ label: o.category, mask }]);
        const model = prepareObjectModel(
          meshToObjectModel(
            o.modelName,
            { vertices: o.mesh.positionsM, triangles: o.mesh.indices },
            { samples: 5000 },
          ),
        );
        const d = meshDiameterM(o.mesh);
        n++;
        const r = inst.length ? estimateModelPose(inst[0].cloud, model) : null;
        const adds = r && r.ok ? addsError(r.pose, o.poseCam, model.cloud.points) : Infinity;
        if (adds < 0.1 * d) ok++;
        rows.push(
          `${seed} ${o.category} vis ${(vis * 100).toFixed(0)}% ADD-S ${((adds / d) * 100).toFixed(1)}%d` +
            (r && r.ok
              ? ` rot ${rotationErrorDeg(r.pose, o.poseCam).toFixed(1)}° t ${(translationErrorM(r.pose, o.poseCam) * 1000).toFixed(1)}mm fit ${r.fitness.toFixed(2)} ${r.runtimeMs.toFixed(0)}ms`
              : ` ${r ? r.reason : 'no instance'}`) +
            ` render ${tr.toFixed(0)}ms`,
        );
      }
    }
    console.log(`synthetic model mode: ${ok}/${n}\n${rows.join('\n')}`);
    // measured: 24/24 objects (seeds 1-4, REAL275 intrinsics, sensor model on); the bar is 95%
    expect(ok / n).toBeGreaterThanOrEqual(0.95);
  });
});
