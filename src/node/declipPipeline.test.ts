/** @jest-environment ./src/perception/ort-jest-environment.ts */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { generateSequence, meshDiameterM, type SynthFrame } from '../synth';
import type { Frame } from '../types';
import { ModelRegistry, meshToObjectModel } from '../pose/models';
import { addsError } from '../pose/metrics';
import {
  DeclipPipeline,
  PipelineConfigError,
  defaultPipelineSettings,
  featureMapForImage,
  queryFileStem,
} from './declipPipeline';
import { analyticPackage, paintPure } from './testutil';

function toCoreFrame(f: SynthFrame): Frame {
  return {
    stampNs: f.stampNs,
    frameId: 'camera_color_optical_frame',
    rgb: { width: f.rgb.width, height: f.rgb.height, data: paintPure(f) },
    depthM: Float32Array.from(f.depthMm, (d) => d / 1000),
    camera: f.camera,
  };
}

/** Precision (share of instance pixels inside the GT mask) and recall (share of GT pixels covered). */
function overlap(a: Uint32Array, gt: Uint8Array): { precision: number; recall: number } {
  let inter = 0;
  for (const p of a) if (gt[p]) inter++;
  let g = 0;
  for (const v of gt) if (v) g++;
  return { precision: inter / a.length, recall: inter / g };
}

describe('DeclipPipeline (Perceiver + PosePipeline behind the node interface)', () => {
  const seq = generateSequence({
    seed: 7,
    numFrames: 2,
    objects: [
      { category: 'box', colour: 'red', texture: 'plain', boxSizeM: [0.1, 0.07, 0.08] },
      { category: 'box', colour: 'blue', texture: 'plain', boxSizeM: [0.08, 0.08, 0.12] },
    ],
  });
  const pkg = analyticPackage();
  const gtMask = (f: SynthFrame, colour: string) => {
    const o = f.objects.find((x) => x.colour === colour)!;
    return { o, mask: Uint8Array.from(f.instanceMask, (id) => (id === o.instanceId ? 1 : 0)) };
  };

  it('finds each coloured object, lifts it and gives box poses near the ground truth', async () => {
    const p = new DeclipPipeline({ device: 'cpu' });
    await p.configure(defaultPipelineSettings({ modelPath: pkg, device: 'cpu' }));
    const f = seq.frames[0];
    const r = await p.process(toCoreFrame(f), ['red', 'blue']);
    expect(r.results.map((q) => q.query)).toEqual(['red', 'blue']);
    for (const [q, colour] of [
      [0, 'red'],
      [1, 'blue'],
    ] as const) {
      const inst = r.results[q].instances[0];
      expect(inst).toBeDefined();
      expect(inst.poseSource).toBe('box');
      const { o, mask } = gtMask(f, colour);
      const got = (inst as unknown as { pixelIndices: Uint32Array }).pixelIndices;
      // lifted pixels are eroded (2 px) and limited to valid depth, so recall stays below 1
      const { precision, recall } = overlap(got, mask);
      expect(precision).toBeGreaterThan(0.9);
      expect(recall).toBeGreaterThan(0.35);
      // the box centre lies inside the object: within half its largest side of the GT object origin + half height
      const c = o.poseCam.tM;
      const up = [o.poseCam.R[2], o.poseCam.R[5], o.poseCam.R[8]];
      const h = 0.5 * (colour === 'red' ? 0.08 : 0.12);
      const centre = [c[0] + up[0] * h, c[1] + up[1] * h, c[2] + up[2] * h];
      const d = Math.hypot(...[0, 1, 2].map((k) => inst.pose.tM[k] - centre[k]));
      expect(d).toBeLessThan(0.03);
      expect(inst.mask!.width).toBe(inst.roi.width);
      expect(inst.pointCount).toBeGreaterThan(200);
    }
    expect(r.timingsMs.features).toBeGreaterThan(0);
    expect(p.describe().model).toMatch(/tiny-analytic/);
    await p.dispose();
  });

  it('uses a registered model (model mode) and reaches ADD-S < 0.1 d', async () => {
    const f = seq.frames[0];
    const { o } = gtMask(f, 'red');
    const models = new ModelRegistry();
    models.register(
      meshToObjectModel('red', { vertices: o.mesh.positionsM, triangles: o.mesh.indices }, { samples: 4000 }),
    );
    const p = new DeclipPipeline({ device: 'cpu', models });
    await p.configure(defaultPipelineSettings({ modelPath: pkg, device: 'cpu' }));
    const r = await p.process(toCoreFrame(f), ['red']);
    const inst = r.results[0].instances[0];
    expect(inst.poseSource).toBe('model');
    const adds = addsError(inst.pose, o.poseCam, models.get('red')!.cloud.points);
    expect(adds).toBeLessThan(0.1 * meshDiameterM(o.mesh));
    await p.dispose();
  });

  it('set_anchor stores an anchor file and anchor mode uses it on the next view', async () => {
    const anchorsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'declip-anchors-'));
    const p = new DeclipPipeline({ device: 'cpu' });
    await p.configure(
      defaultPipelineSettings({ modelPath: pkg, device: 'cpu', anchorsDir, poseMethod: 'auto' }),
    );
    const res = await p.setAnchor('Red box!', 'red', toCoreFrame(seq.frames[0]));
    expect(res.success).toBe(true);
    expect(fs.existsSync(path.join(anchorsDir, 'red_box.anchor'))).toBe(true);
    expect(p.poseConfigFor('red').mode).toBe('anchor');
    const r = await p.process(toCoreFrame(seq.frames[1]), ['red']);
    expect(r.results[0].instances[0].poseSource).toMatch(/anchor|box/);
    const missing = await p.setAnchor('x', 'green', toCoreFrame(seq.frames[0]));
    expect(missing.success).toBe(false);
    expect(missing.message).toMatch(/not found/);
    // a new pipeline picks the stored anchor up from anchors_dir
    const p2 = new DeclipPipeline({ device: 'cpu' });
    await p2.configure(defaultPipelineSettings({ modelPath: pkg, device: 'cpu', anchorsDir }));
    expect(p2.poseConfigFor('red').mode).toBe('anchor');
    await p.dispose();
    await p2.dispose();
  });

  it('loads models_dir files named after queries (mm PLY scaled to metres)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'declip-models-'));
    const v = [
      [0, 0, 0],
      [50, 0, 0],
      [0, 50, 0],
      [0, 0, 50],
    ];
    const ply =
      'ply\nformat ascii 1.0\nelement vertex 4\nproperty float x\nproperty float y\nproperty float z\n' +
      'element face 4\nproperty list uchar int vertex_indices\nend_header\n' +
      v.map((p) => p.join(' ')).join('\n') +
      '\n3 0 2 1\n3 0 1 3\n3 0 3 2\n3 1 2 3\n';
    fs.writeFileSync(path.join(dir, 'Mug.ply'), ply);
    const p = new DeclipPipeline({ device: 'cpu' });
    await p.configure(defaultPipelineSettings({ modelPath: pkg, device: 'cpu', modelsDir: dir }));
    expect(p.models.has('mug')).toBe(true);
    const pts = p.models.get('mug')!.cloud.points;
    expect(Math.max(...pts)).toBeLessThan(0.06);
    // "red mug" falls back to the last word's model
    expect(p.poseConfigFor('red mug')).toMatchObject({ mode: 'model', modelName: 'mug' });
    expect(p.poseConfigFor('blue can').mode).toBe('box');
    await p.dispose();
  });

  it('rejects a missing model package and an unconfigured process() with named errors', async () => {
    const p = new DeclipPipeline({ device: 'cpu' });
    await expect(
      p.configure(defaultPipelineSettings({ modelPath: '/nonexistent/pkg', device: 'cpu' })),
    ).rejects.toThrow(/model_path: no model package at \/nonexistent\/pkg/);
    await expect(p.process(toCoreFrame(seq.frames[0]), ['red'])).rejects.toThrow(PipelineConfigError);
    await expect(
      p.configure(
        defaultPipelineSettings({ modelPath: pkg, device: 'cpu', modelsDir: '/nonexistent/models' }),
      ),
    ).rejects.toThrow(/models_dir: .* is not a directory/);
    await p.dispose();
  });

  it('crops letterboxed feature grids to the image content and names files by query', () => {
    const dense = {
      data: Float32Array.from({ length: 4 * 4 * 2 }, (_, i) => i),
      gridHeight: 4,
      gridWidth: 4,
      dim: 2,
    };
    const plan = {
      srcWidth: 64,
      srcHeight: 32,
      dstWidth: 32,
      dstHeight: 32,
      contentX: 0,
      contentY: 8,
      contentWidth: 32,
      contentHeight: 16,
      patchSize: 8,
      gridWidth: 4,
      gridHeight: 4,
    };
    const f = featureMapForImage(dense, plan);
    expect([f.gridH, f.gridW]).toEqual([2, 4]);
    expect(f.data[0]).toBe(8); // row 1, col 0, dim 0
    expect(queryFileStem('  Red Mug! ')).toBe('red_mug');
    expect(queryFileStem('../../etc/passwd')).toBe('etc_passwd');
  });
});
