import { REAL275_INTRINSICS } from '../types';
import {
  ImageFormatError,
  cameraInfoFromIntrinsics,
  decodeCompressedImage,
  depthMToImageMsg,
  depthMmToImageMsg,
  depthToMeters,
  encodeCompressedImage,
  getCodec,
  headerFromNs,
  imageToRgb,
  imageToTypedArray,
  intrinsicsFromCameraInfo,
  rgbToImageMsg,
  stampToNs,
  type ImageMsg,
} from './index';

const H = headerFromNs(1_700_000_000_123_456_789n, 'cam');
const W = 5;
const HT = 3;

/** Image with `pad` bytes of row padding filled with 0xEE, pixel bytes from `pixel(x, y, byte)`. */
function padded(
  encoding: string,
  bpp: number,
  pad: number,
  pixel: (x: number, y: number, b: number) => number,
): ImageMsg {
  const step = W * bpp + pad;
  const data = new Uint8Array(step * HT).fill(0xee);
  for (let y = 0; y < HT; y++)
    for (let x = 0; x < W; x++) for (let b = 0; b < bpp; b++) data[y * step + x * bpp + b] = pixel(x, y, b);
  return { header: H, height: HT, width: W, encoding, is_bigendian: 0, step, data };
}

describe('image helpers', () => {
  it('header <-> ns keeps nanoseconds exact', () => {
    expect(H.stamp).toEqual({ sec: 1700000000, nanosec: 123456789 });
    expect(stampToNs(H.stamp)).toBe(1_700_000_000_123_456_789n);
  });

  it.each([
    ['rgb8', 3, [0, 1, 2]],
    ['bgr8', 3, [2, 1, 0]],
    ['rgba8', 4, [0, 1, 2]],
    ['bgra8', 4, [2, 1, 0]],
  ])('%s with 3 bytes of row padding -> packed rgb8', (encoding, bpp, order) => {
    const msg = padded(encoding, bpp, 3, (x, y, b) => (x * 40 + y * 7 + b * 3) % 256);
    const rgb = imageToRgb(msg);
    expect(rgb.width).toBe(W);
    expect(rgb.data.length).toBe(W * HT * 3);
    for (let y = 0; y < HT; y++)
      for (let x = 0; x < W; x++)
        for (let c = 0; c < 3; c++)
          expect(rgb.data[(y * W + x) * 3 + c]).toBe((x * 40 + y * 7 + order[c] * 3) % 256);
    expect(rgb.data.includes(0xee)).toBe(false);
  });

  it('mono8 with padding -> grey rgb and packed mono', () => {
    const msg = padded('mono8', 1, 2, (x, y) => x + 10 * y);
    const a = imageToTypedArray(msg);
    expect(Array.from(a.data)).toEqual([0, 1, 2, 3, 4, 10, 11, 12, 13, 14, 20, 21, 22, 23, 24]);
    const rgb = imageToRgb(msg);
    expect(Array.from(rgb.data.subarray(3 * 6, 3 * 7))).toEqual([11, 11, 11]);
  });

  it('16UC1 little- and big-endian with padding -> millimetres -> metres', () => {
    const mm = (x: number, y: number): number => 1000 + 100 * y + x; // 1000..1204 mm
    const le = padded('16UC1', 2, 4, (x, y, b) => (b === 0 ? mm(x, y) & 0xff : mm(x, y) >> 8));
    const be = {
      ...padded('16UC1', 2, 4, (x, y, b) => (b === 1 ? mm(x, y) & 0xff : mm(x, y) >> 8)),
      is_bigendian: 1,
    };
    for (const msg of [le, be]) {
      const a = imageToTypedArray(msg);
      expect(a.data).toBeInstanceOf(Uint16Array);
      expect(a.data[W + 2]).toBe(1102);
      const m = depthToMeters(msg);
      expect(m.length).toBe(W * HT);
      expect(m[2 * W + 4]).toBeCloseTo(1.204, 6);
    }
  });

  it('32FC1 (metres) with odd data offset and padding, both byte orders', () => {
    for (const big of [false, true]) {
      const step = W * 4 + 4;
      const backing = new Uint8Array(step * HT + 1);
      const data = backing.subarray(1); // unaligned view
      const view = new DataView(data.buffer, data.byteOffset);
      for (let y = 0; y < HT; y++)
        for (let x = 0; x < W; x++) view.setFloat32(y * step + 4 * x, 0.5 + x + 10 * y, !big);
      view.setFloat32(step + 4, NaN, !big);
      const m = depthToMeters({
        header: H,
        height: HT,
        width: W,
        encoding: '32FC1',
        is_bigendian: big ? 1 : 0,
        step,
        data,
      });
      expect(m[2 * W + 3]).toBe(23.5);
      expect(Number.isNaN(m[W + 1])).toBe(true);
    }
  });

  it('rgbToImageMsg / depthMmToImageMsg / depthMToImageMsg round-trip through CDR', () => {
    const rgb = { width: W, height: HT, data: new Uint8Array(W * HT * 3).map((_, i) => i) };
    for (const enc of ['rgb8', 'bgr8'] as const) {
      const msg = rgbToImageMsg(rgb, H, enc);
      const codec = getCodec('sensor_msgs/msg/Image');
      const back = codec.decode(codec.encode(msg));
      expect(Array.from(imageToRgb(back).data)).toEqual(Array.from(rgb.data));
    }
    const depthMm = new Uint16Array(W * HT).map((_, i) => 500 + i);
    const dm = depthToMeters(depthMmToImageMsg(depthMm, W, HT, H));
    expect(dm[7]).toBeCloseTo(0.507, 6);
    const depthM = new Float32Array(W * HT).map((_, i) => i * 0.25);
    expect(Array.from(depthToMeters(depthMToImageMsg(depthM, W, HT, H)))).toEqual(Array.from(depthM));
  });

  it('png CompressedImage is lossless; jpeg is close', async () => {
    const w = 32;
    const h = 16;
    const rgb = {
      width: w,
      height: h,
      data: new Uint8Array(w * h * 3).map((_, i) => (i % 3 === 0 ? 200 : (i * 5) % 64)),
    };
    const png = await encodeCompressedImage(rgb, H, 'png');
    expect(png.format).toBe('png');
    const back = await decodeCompressedImage(png);
    expect(Buffer.from(back.data).equals(Buffer.from(rgb.data))).toBe(true);
    const smooth = {
      width: w,
      height: h,
      data: new Uint8Array(w * h * 3).map((_, i) => 40 + ((i / 3) % w) * 4 + (i % 3) * 20),
    };
    const jpeg = await encodeCompressedImage(smooth, H, 'jpeg', 95);
    expect(jpeg.data[0]).toBe(0xff); // JPEG SOI
    const j = await decodeCompressedImage(jpeg);
    let err = 0;
    for (let i = 0; i < j.data.length; i++) err += Math.abs(j.data[i] - smooth.data[i]);
    expect(err / j.data.length).toBeLessThan(8);
    await expect(
      decodeCompressedImage({ header: H, format: 'jpeg', data: new Uint8Array([1, 2, 3]) }),
    ).rejects.toThrow(ImageFormatError);
  });

  it('CameraInfo <-> intrinsics round trip through CDR', () => {
    const info = cameraInfoFromIntrinsics(REAL275_INTRINSICS, H);
    const codec = getCodec('sensor_msgs/msg/CameraInfo');
    const back = intrinsicsFromCameraInfo(codec.decode(codec.encode(info)));
    expect(back).toEqual(REAL275_INTRINSICS);
  });

  it('rejects zero / NaN focal lengths with a clear error', () => {
    const info = cameraInfoFromIntrinsics(REAL275_INTRINSICS, H);
    expect(() => intrinsicsFromCameraInfo({ ...info, k: [0, 0, 0, 0, 0, 0, 0, 0, 0] })).toThrow(
      /fx = 0.*uncalibrated/,
    );
    expect(() => intrinsicsFromCameraInfo({ ...info, k: [500, 0, 320, 0, NaN, 240, 0, 0, 1] })).toThrow(
      /fy = NaN/,
    );
    expect(() => cameraInfoFromIntrinsics({ ...REAL275_INTRINSICS, fx: -1 }, H)).toThrow(ImageFormatError);
  });

  it('step*height beyond the data, small step, huge size and bad encoding are ImageFormatErrors naming the field', () => {
    const msg = padded('rgb8', 3, 0, () => 1);
    expect(() =>
      imageToRgb({ ...msg, data: msg.data.subarray(0, 20) }, { topic: '/camera/color/image_raw' }),
    ).toThrow(
      /data holds 20 bytes but step\*height needs 45.*topic \/camera\/color\/image_raw.*field 'data'/,
    );
    expect(() => imageToRgb({ ...msg, step: 14 })).toThrow(/field 'step'/);
    expect(() => imageToRgb({ ...msg, width: 1e6, height: 1e6 })).toThrow(/field 'width'/);
    expect(() => imageToRgb({ ...msg, encoding: 'yuv422' })).toThrow(
      /unsupported image encoding 'yuv422'.*field 'encoding'/,
    );
    expect(() => depthToMeters(msg)).toThrow(ImageFormatError);
    expect(() => imageToRgb(padded('16UC1', 2, 0, () => 1))).toThrow(/not a colour image/);
  });
});
