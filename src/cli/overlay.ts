import sharp from 'sharp';
import type { CameraIntrinsics, Pose, RgbImage } from '../types';

/** An object to draw: its pose (object -> camera) and its box in the object frame (metres). */
export interface OverlayObject {
  label: string;
  pose: Pose;
  boxMinM: [number, number, number];
  boxMaxM: [number, number, number];
  /** CSS colour of the box edges. */
  color?: string;
}

/** Projects a camera-frame point (metres) to pixels; null behind the camera. */
export function projectPoint(camera: CameraIntrinsics, p: [number, number, number]): [number, number] | null {
  if (!(p[2] > 1e-6)) return null;
  return [camera.fx * (p[0] / p[2]) + camera.cx, camera.fy * (p[1] / p[2]) + camera.cy];
}

/** Transforms an object-frame point into the camera frame: R p + t. */
export function transformPoint(pose: Pose, p: [number, number, number]): [number, number, number] {
  const R = pose.R;
  const t = pose.tM;
  return [
    R[0] * p[0] + R[1] * p[1] + R[2] * p[2] + t[0],
    R[3] * p[0] + R[4] * p[1] + R[5] * p[2] + t[1],
    R[6] * p[0] + R[7] * p[1] + R[8] * p[2] + t[2],
  ];
}

const BOX_EDGES: [number, number][] = [
  [0, 1],
  [1, 3],
  [3, 2],
  [2, 0],
  [4, 5],
  [5, 7],
  [7, 6],
  [6, 4],
  [0, 4],
  [1, 5],
  [2, 6],
  [3, 7],
];

function escapeXml(s: string): string {
  return s.replace(
    /[<>&'"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!,
  );
}

/** SVG (same size as the image) with each object's projected 3D box, its axes (x red, y green, z blue) and label. */
export function overlaySvg(camera: CameraIntrinsics, objects: readonly OverlayObject[]): string {
  const parts: string[] = [];
  for (const o of objects) {
    const corners: ([number, number] | null)[] = [];
    for (let i = 0; i < 8; i++) {
      const p: [number, number, number] = [
        i & 1 ? o.boxMaxM[0] : o.boxMinM[0],
        i & 2 ? o.boxMaxM[1] : o.boxMinM[1],
        i & 4 ? o.boxMaxM[2] : o.boxMinM[2],
      ];
      corners.push(projectPoint(camera, transformPoint(o.pose, p)));
    }
    const color = o.color ?? '#ffd400';
    for (const [a, b] of BOX_EDGES) {
      const pa = corners[a];
      const pb = corners[b];
      if (!pa || !pb) continue;
      parts.push(
        `<line x1="${pa[0].toFixed(1)}" y1="${pa[1].toFixed(1)}" x2="${pb[0].toFixed(1)}" y2="${pb[1].toFixed(1)}" stroke="${color}" stroke-width="1.5"/>`,
      );
    }
    const extent = Math.max(...o.boxMaxM.map((v, i) => v - o.boxMinM[i])) * 0.5;
    const origin = projectPoint(camera, transformPoint(o.pose, [0, 0, 0]));
    const axisColors = ['#ff3030', '#30e030', '#3080ff'];
    for (let k = 0; k < 3 && origin; k++) {
      const e: [number, number, number] = [0, 0, 0];
      e[k] = extent;
      const tip = projectPoint(camera, transformPoint(o.pose, e));
      if (!tip) continue;
      parts.push(
        `<line x1="${origin[0].toFixed(1)}" y1="${origin[1].toFixed(1)}" x2="${tip[0].toFixed(1)}" y2="${tip[1].toFixed(1)}" stroke="${axisColors[k]}" stroke-width="2"/>`,
      );
    }
    const visible = corners.filter((c): c is [number, number] => c !== null);
    if (visible.length > 0) {
      const x = Math.min(...visible.map((c) => c[0]));
      const y = Math.min(...visible.map((c) => c[1]));
      parts.push(
        `<text x="${x.toFixed(1)}" y="${Math.max(10, y - 3).toFixed(1)}" font-family="sans-serif" font-size="12" fill="${color}" stroke="black" stroke-width="0.4">${escapeXml(o.label)}</text>`,
      );
    }
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${camera.width}" height="${camera.height}">${parts.join('')}</svg>`;
}

/** An instance mask (nonzero = inside) cropped to its roi at (x, y), tinted in `color` (#rrggbb). */
export interface OverlayMask {
  x: number;
  y: number;
  width: number;
  height: number;
  data: ArrayLike<number>;
  color: string;
}

/** Tints the masked pixels of an rgb8 image in place (alpha 0.45). */
export function tintMasks(rgb: RgbImage, masks: readonly OverlayMask[], alpha = 0.45): void {
  for (const m of masks) {
    const c = [1, 3, 5].map((i) => parseInt(m.color.slice(i, i + 2), 16));
    for (let v = 0; v < m.height; v++) {
      const y = m.y + v;
      if (y < 0 || y >= rgb.height) continue;
      for (let u = 0; u < m.width; u++) {
        const x = m.x + u;
        if (x < 0 || x >= rgb.width || !m.data[v * m.width + u]) continue;
        const o = 3 * (y * rgb.width + x);
        for (let k = 0; k < 3; k++)
          rgb.data[o + k] = Math.round((1 - alpha) * rgb.data[o + k] + alpha * c[k]);
      }
    }
  }
}

/** PNG of the RGB image with masks tinted and the objects' projected boxes, axes and labels drawn on top. */
export async function renderOverlayPng(
  rgb: RgbImage,
  camera: CameraIntrinsics,
  objects: readonly OverlayObject[],
  masks: readonly OverlayMask[] = [],
): Promise<Buffer> {
  const svg = overlaySvg({ ...camera, width: rgb.width, height: rgb.height }, objects);
  const img = { ...rgb, data: Uint8Array.from(rgb.data) };
  tintMasks(img, masks);
  return sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), {
    raw: { width: rgb.width, height: rgb.height, channels: 3 },
  })
    .composite([{ input: Buffer.from(svg), top: 0, left: 0 }])
    .png()
    .toBuffer();
}
