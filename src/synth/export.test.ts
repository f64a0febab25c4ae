import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { generateSequence } from './sequence';
import { exportBop } from './bop';
import { exportNocs, NOCS_CLASS_IDS } from './nocs';
import { exportCaptions } from './captions';
import { readGray16Png, readGray8Png } from './png';
import { SMALL_CAMERA } from './testutil';

const K = SMALL_CAMERA;

describe('synth exporters (BOP, NOCS, captions)', () => {
  const seq = generateSequence({
    seed: 31,
    numFrames: 2,
    camera: K,
    objects: [{ category: 'mug' }, { category: 'can' }, { category: 'box' }, { category: 'laptop' }],
  });
  let dir = '';
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'synth-export-'));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('BOP export writes the expected files with mm units', async () => {
    const out = path.join(dir, 'bop');
    const sum = await exportBop(out, [seq]);
    expect(sum.imageCount).toBe(2);
    expect(sum.objIds).toEqual([[1, 2, 3, 4]]);
    const sd = path.join(out, 'test', '000001');
    for (const f of [
      'scene_camera.json',
      'scene_gt.json',
      'scene_gt_info.json',
      'rgb/000000.png',
      'depth/000001.png',
      'mask_visib/000000_000003.png',
      'mask/000001_000000.png',
    ]) {
      expect(fs.existsSync(path.join(sd, f))).toBe(true);
    }
    // Depth PNG is uint16 millimetres, bit-identical to the frame.
    const d = await readGray16Png(path.join(sd, 'depth', '000001.png'));
    expect(d.width).toBe(K.width);
    expect(
      Buffer.from(d.data.buffer, d.data.byteOffset, d.data.byteLength).equals(
        Buffer.from(seq.frames[1].depthMm.buffer),
      ),
    ).toBe(true);
    const valid = Array.from(d.data).filter((v) => v > 0);
    expect(Math.min(...valid)).toBeGreaterThan(150); // mm, not metres
    const cam = JSON.parse(fs.readFileSync(path.join(sd, 'scene_camera.json'), 'utf8'));
    expect(cam['0'].cam_K).toEqual([K.fx, 0, K.cx, 0, K.fy, K.cy, 0, 0, 1]);
    expect(cam['0'].depth_scale).toBe(1);
    const gt = JSON.parse(fs.readFileSync(path.join(sd, 'scene_gt.json'), 'utf8'));
    const o = seq.frames[1].objects[1];
    expect(gt['1'][1].obj_id).toBe(2);
    for (let k = 0; k < 3; k++) expect(gt['1'][1].cam_t_m2c[k]).toBeCloseTo(o.poseCam.tM[k] * 1000, 3);
    expect(gt['1'][1].cam_R_m2c[4]).toBeCloseTo(o.poseCam.R[4], 5);
    const info = JSON.parse(fs.readFileSync(path.join(sd, 'scene_gt_info.json'), 'utf8'));
    expect(info['1'][1].px_count_visib).toBe(o.pxCountVisib);
    expect(info['1'][1].px_count_all).toBeGreaterThanOrEqual(o.pxCountVisib);
    // mask_visib pixels (255) count equals px_count_visib.
    const m = (await readGray8Png(path.join(sd, 'mask_visib', '000001_000001.png'))).data;
    expect((await sharp(path.join(sd, 'mask_visib', '000001_000001.png')).metadata()).channels).toBe(1);
    expect(m.reduce((a, v) => a + (v === 255 ? 1 : 0), 0)).toBe(o.pxCountVisib);
    const models = JSON.parse(fs.readFileSync(path.join(out, 'models', 'models_info.json'), 'utf8'));
    const can = seq.scene.objects[1];
    expect(models['2'].size_z).toBeCloseTo(can.sizeM[2] * 1000, 2);
    expect(models['2'].diameter).toBeGreaterThan(can.sizeM[2] * 1000);
    expect(models['2'].symmetries_continuous[0].axis).toEqual([0, 0, 1]);
    expect(models['3'].symmetries_discrete).toHaveLength(3);
    expect(models['1'].symmetries_continuous).toBeUndefined();
    const ply = fs.readFileSync(path.join(out, 'models', 'obj_000002.ply'), 'utf8');
    expect(ply).toMatch(/element vertex \d+/);
    const firstVertex = ply.split('end_header\n')[1].split('\n')[0].split(' ').map(Number);
    expect(Math.abs(firstVertex[2])).toBeLessThan(can.sizeM[2] * 1000 + 1e-3); // mm scale
  });

  test('NOCS export writes color/depth/mask/coord/meta, GT JSON with RTs in metres, and models', async () => {
    const out = path.join(dir, 'nocs');
    const sum = await exportNocs(out, [seq]);
    expect(sum.imageCount).toBe(2);
    const sd = path.join(out, 'real_test', 'scene_1');
    for (const f of ['0000_color.png', '0000_depth.png', '0000_mask.png', '0000_coord.png', '0001_meta.txt'])
      expect(fs.existsSync(path.join(sd, f))).toBe(true);
    const d = await readGray16Png(path.join(sd, '0000_depth.png'));
    expect(
      Buffer.from(d.data.buffer, d.data.byteOffset, d.data.byteLength).equals(
        Buffer.from(seq.frames[0].depthMm.buffer),
      ),
    ).toBe(true);
    const mask = (await readGray8Png(path.join(sd, '0000_mask.png'))).data;
    const f0 = seq.frames[0];
    for (let i = 0; i < mask.length; i++)
      expect(mask[i]).toBe(f0.instanceMask[i] === 0 ? 255 : f0.instanceMask[i]);
    const meta = fs.readFileSync(path.join(sd, '0000_meta.txt'), 'utf8').trim().split('\n');
    const visible = f0.objects.filter((o) => o.pxCountVisib > 0);
    expect(meta).toEqual(visible.map((o) => `${o.instanceId} ${NOCS_CLASS_IDS[o.category]} ${o.modelName}`));
    const gt = JSON.parse(
      fs.readFileSync(path.join(out, 'gts', 'real_test', 'results_real_test_scene_1_0000.json'), 'utf8'),
    );
    expect(gt.gt_class_ids.every((c: number) => c >= 1 && c <= 6)).toBe(true);
    // RT maps (NOCS - 0.5) to camera metres: check with a mesh vertex and the exported canonical model.
    const j = gt.gt_instance_ids.indexOf(2); // the can
    expect(j).toBeGreaterThanOrEqual(0);
    const can = seq.scene.objects[1];
    const fo = f0.objects[1];
    const RT: number[][] = gt.gt_RTs[j];
    const objLines = fs
      .readFileSync(path.join(out, 'obj_models', 'real_test', `${can.modelName}.obj`), 'utf8')
      .split('\n');
    const v = objLines
      .find((l) => l.startsWith('v '))!
      .split(' ')
      .slice(1)
      .map(Number);
    const ext = fs
      .readFileSync(path.join(out, 'obj_models', 'real_test', `${can.modelName}.txt`), 'utf8')
      .trim()
      .split(' ')
      .map(Number);
    const s = Math.hypot(...ext);
    expect(s).toBeCloseTo(Math.hypot(...can.sizeM), 5);
    const q = v.map((x) => x / s); // NOCS - 0.5
    const pCam = [0, 1, 2].map((r) => RT[r][0] * q[0] + RT[r][1] * q[1] + RT[r][2] * q[2] + RT[r][3]);
    const p = can.mesh.positionsM;
    const R = fo.poseCam.R;
    const expected = [0, 1, 2].map(
      (r) => R[3 * r] * p[0] + R[3 * r + 1] * p[1] + R[3 * r + 2] * p[2] + fo.poseCam.tM[r],
    );
    for (let k = 0; k < 3; k++) expect(pCam[k]).toBeCloseTo(expected[k], 5);
    expect(expected[2]).toBeGreaterThan(0.2); // metres
    expect(Math.hypot(...gt.gt_scales[j])).toBeCloseTo(1, 6);
    // Coord map: object pixels have NOCS colours, background is 0.
    const coord = await sharp(path.join(sd, '0000_coord.png')).raw().toBuffer();
    let bgNonZero = 0;
    for (let i = 0; i < f0.instanceMask.length; i++)
      if (f0.instanceMask[i] === 0 && coord[3 * i] | coord[3 * i + 1] | coord[3 * i + 2]) bgNonZero++;
    expect(bgNonZero).toBe(0);
  });

  test('captions export writes one JSON line per visible instance', async () => {
    const file = path.join(dir, 'captions.jsonl');
    const n = await exportCaptions(file, [seq], undefined, 1);
    const lines = fs
      .readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(n);
    expect(n).toBe(seq.frames.reduce((a, f) => a + f.objects.filter((o) => o.pxCountVisib >= 1).length, 0));
    expect(lines[0].image).toBe('test/000001/rgb/000000.png');
    expect(lines[0].captions[0]).toMatch(new RegExp(`^an? .*${lines[0].category}`));
    expect(lines[0].bbox).toHaveLength(4);
  });
});
