/** Loader for the shared YCB-Video frame (tests and benchmarks only; the data is never copied into the repo). */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import type { CameraIntrinsics, Pose, RgbImage } from '../types';

export interface YcbvObject {
  name: string;
  labelValue: number;
  gt: Pose;
  modelPointsM: Float32Array;
}

export interface YcbvFrame {
  camera: CameraIntrinsics;
  rgb: RgbImage;
  depthM: Float32Array;
  label: Uint8Array;
  objects: YcbvObject[];
}

/** Reads `<dataDir>/ycbv/000001` (color.png, depth.png / 10000, label.png, meta.json, ../models/*.xyz). */
export async function loadYcbvFrame(dataDir: string, frame = '000001'): Promise<YcbvFrame> {
  const dir = path.join(dataDir, 'ycbv', frame);
  const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8'));
  const K = meta.K as number[][];
  const camera: CameraIntrinsics = {
    width: meta.width,
    height: meta.height,
    fx: K[0][0],
    fy: K[1][1],
    cx: K[0][2],
    cy: K[1][2],
  };
  const color = await sharp(path.join(dir, 'color.png'))
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const rgb: RgbImage = {
    width: color.info.width,
    height: color.info.height,
    data: new Uint8Array(color.data),
  };
  const d = await sharp(path.join(dir, 'depth.png'))
    .toColourspace('grey16')
    .raw({ depth: 'ushort' })
    .toBuffer({ resolveWithObject: true });
  const ch = d.info.channels;
  const u16 = new Uint16Array(d.data.buffer, d.data.byteOffset, d.data.byteLength / 2);
  const scale = 1 / meta.depth_png_units_per_meter;
  const depthM = new Float32Array(camera.width * camera.height);
  for (let i = 0; i < depthM.length; i++) depthM[i] = u16[i * ch] * scale;
  const l = await sharp(path.join(dir, 'label.png'))
    .toColourspace('b-w')
    .raw()
    .toBuffer({ resolveWithObject: true });
  const label = new Uint8Array(camera.width * camera.height);
  for (let i = 0; i < label.length; i++) label[i] = l.data[i * l.info.channels];
  const objects: YcbvObject[] = meta.objects.map((o: any) => {
    const txt = fs.readFileSync(path.join(dataDir, 'ycbv', 'models', `${o.name}.xyz`), 'utf8');
    const vals = txt.split(/\s+/).filter(Boolean).map(Number);
    return {
      name: o.name,
      labelValue: o.label_value,
      gt: {
        R: Float64Array.from((o.R_obj_to_cam as number[][]).flat()),
        tM: Float64Array.from(o.t_obj_to_cam_m),
      },
      modelPointsM: Float32Array.from(vals),
    };
  });
  return { camera, rgb, depthM, label, objects };
}
