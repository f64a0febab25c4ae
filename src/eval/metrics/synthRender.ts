/**
 * VSD / CUS renderer backed by the src/synth z-buffer rasterizer: a {@link RenderDepthFn} over synth meshes.
 */
import type { CameraIntrinsics, Pose } from '../../types';
import type { Mesh } from '../../synth/mesh';
import { createTarget, drawMesh } from '../../synth/raster';
import type { RenderDepthFn } from './vsd';

/**
 * Depth (metres, 0 where empty) of `mesh` alone with pose object -> camera, rasterized with back-face
 * culling by src/synth (`drawMesh` into a fresh z-buffer).
 */
export const synthRenderDepth: RenderDepthFn<Mesh> = (mesh: Mesh, pose: Pose, camera: CameraIntrinsics) => {
  const t = createTarget(camera, {});
  drawMesh(t, mesh.positionsM, mesh.indices, pose, 1, null, true);
  const out = new Float32Array(t.zbuf.length);
  for (let i = 0; i < out.length; i++) {
    const z = t.zbuf[i];
    if (Number.isFinite(z)) out[i] = z;
  }
  return out;
};
