/**
 * The fast paths of the node's frame decoding against the general conversions they skip:
 * - imageToRgb for rgb8 returns imageToTypedArray's packed copy as is: identical bytes for every colour encoding,
 *   with and without row padding, and the result never aliases the message buffer (the node keeps frames after
 *   the message is gone);
 * - depthToMeters for unpadded, aligned little-endian 16UC1 / mono16 reads the bytes in place: identical values to
 *   the general path (padded, unaligned, big-endian and 32FC1 images take the general path and are checked too).
 */
import { depthToMeters, imageToRgb, imageToTypedArray, type ImageMsg } from './image';

/** The conversion imageToRgb did for every encoding before the fast path (reference). */
function reference(msg: ImageMsg): Uint8Array {
  const a = imageToTypedArray(msg);
  const src = a.data as Uint8Array;
  const np = a.width * a.height;
  const out = new Uint8Array(np * 3);
  const c = a.channels;
  const swap = msg.encoding.startsWith('bgr');
  for (let i = 0; i < np; i++) {
    if (c === 1) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = src[i];
    else {
      out[3 * i] = src[c * i + (swap ? 2 : 0)];
      out[3 * i + 1] = src[c * i + 1];
      out[3 * i + 2] = src[c * i + (swap ? 0 : 2)];
    }
  }
  return out;
}

/** depthToMeters as it was for 16-bit images (reference). */
function referenceDepth(msg: ImageMsg): Float32Array {
  const a = imageToTypedArray(msg);
  const out = new Float32Array(a.data.length);
  for (let i = 0; i < out.length; i++) out[i] = a.data[i] * 0.001;
  return out;
}

function message(encoding: string, bpp: number, width: number, height: number, pad: number): ImageMsg {
  const step = width * bpp + pad;
  const data = new Uint8Array(step * height);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
  return {
    header: { stamp: { sec: 1, nanosec: 2 }, frame_id: 'cam' },
    height,
    width,
    encoding,
    is_bigendian: 0,
    step,
    data,
  };
}

describe('imageToRgb fast path', () => {
  it.each([
    ['rgb8', 3, 0],
    ['rgb8', 3, 5],
    ['bgr8', 3, 0],
    ['bgr8', 3, 2],
    ['rgba8', 4, 0],
    ['bgra8', 4, 4],
    ['mono8', 1, 3],
  ])('%s (%i bytes/pixel, %i bytes row padding): same bytes as the per-pixel conversion', (enc, bpp, pad) => {
    for (const [w, h] of [
      [1, 1],
      [7, 3],
      [64, 48],
    ]) {
      const msg = message(enc, bpp, w, h, pad);
      const got = imageToRgb(msg);
      expect(got.width).toBe(w);
      expect(got.height).toBe(h);
      expect(Buffer.from(got.data).equals(Buffer.from(reference(msg)))).toBe(true);
    }
  });

  it('rgb8 without padding: the result is a copy, not a view of the message', () => {
    const msg = message('rgb8', 3, 16, 8, 0);
    const before = Uint8Array.from(msg.data as Uint8Array);
    const got = imageToRgb(msg);
    expect(got.data.buffer).not.toBe((msg.data as Uint8Array).buffer);
    got.data.fill(7);
    expect(Buffer.from(msg.data as Uint8Array).equals(Buffer.from(before))).toBe(true);
  });
});

describe('depthToMeters fast path', () => {
  function depthMsg(
    encoding: string,
    w: number,
    h: number,
    pad: number,
    big: boolean,
    offset: number,
  ): ImageMsg {
    const step = 2 * w + pad;
    const backing = new Uint8Array(step * h + offset);
    const data = backing.subarray(offset);
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) dv.setUint16(y * step + 2 * x, (x * 977 + y * 131) % 65536, !big);
    return {
      header: { stamp: { sec: 1, nanosec: 2 }, frame_id: 'cam' },
      height: h,
      width: w,
      encoding,
      is_bigendian: big ? 1 : 0,
      step,
      data,
    };
  }
  it.each([
    ['16UC1', 0, false, 0],
    ['mono16', 0, false, 0],
    ['16UC1', 0, false, 1], // odd byte offset: cannot be viewed as Uint16Array
    ['16UC1', 4, false, 0], // row padding
    ['16UC1', 0, true, 0], // big-endian
  ])('%s pad %i big-endian %s offset %i: same metres as the general path', (enc, pad, big, offset) => {
    for (const [w, h] of [
      [1, 1],
      [5, 3],
      [64, 48],
    ]) {
      const msg = depthMsg(enc as string, w, h, pad as number, big as boolean, offset as number);
      const got = depthToMeters(msg);
      const want = referenceDepth(msg);
      expect(got.length).toBe(w * h);
      expect(Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(Buffer.from(want.buffer))).toBe(
        true,
      );
    }
  });

  it('a truncated 16UC1 image still fails with the field named', () => {
    const msg = depthMsg('16UC1', 8, 4, 0, false, 0);
    const short = { ...msg, data: (msg.data as Uint8Array).subarray(0, 40) };
    expect(() => depthToMeters(short)).toThrow(/truncated/);
  });
});
