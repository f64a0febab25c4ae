/**
 * Fuzzing of the bag module's bad-input paths (fast-check): CDR decoders fed random, truncated and bit-flipped
 * payloads, image/CameraInfo conversion with inconsistent or huge sizes, and damaged MCAP / sqlite3 files.
 * The property everywhere: either a correct result or one of this module's typed errors; never another
 * exception, never an allocation sized from an unchecked header field.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import fc from 'fast-check';
import {
  BagError,
  DecodeError,
  ImageFormatError,
  MAX_IMAGE_PIXELS,
  createBagWriter,
  decodeCompressedImage,
  depthToMeters,
  ensureZstd,
  getCodec,
  headerFromNs,
  imageToRgb,
  imageToTypedArray,
  intrinsicsFromCameraInfo,
  openBag,
  validateImage,
  type BagMessage,
  type CameraInfoMsg,
  type ImageMsg,
} from './index';

/** Seeded so a failure is reproducible; fast-check prints the counterexample and seed. */
const SEED = 20261202;
const run = (runs: number) => ({ seed: SEED, numRuns: runs });

const TYPES = [
  'sensor_msgs/msg/Image',
  'sensor_msgs/msg/CompressedImage',
  'sensor_msgs/msg/CameraInfo',
  'std_msgs/msg/String',
  'tf2_msgs/msg/TFMessage',
  'declip_ros/msg/ObjectInstanceArray',
] as const;

/** Decode and classify: 'ok' or 'typed' (DecodeError); anything else fails the property. */
function decodeOrTyped(type: string, data: Uint8Array): 'ok' | 'typed' {
  try {
    getCodec(type).decode(data);
    return 'ok';
  } catch (e) {
    if (e instanceof DecodeError) return 'typed';
    throw new Error(`decode of ${type} threw a non-DecodeError: ${String(e)}`);
  }
}

function imageBytes(w: number, h: number, enc: string, step: number, t: bigint): Uint8Array {
  const data = new Uint8Array(step * h).map((_, i) => (i * 7) & 255);
  return getCodec('sensor_msgs/msg/Image').encode({
    header: headerFromNs(t, 'cam'),
    height: h,
    width: w,
    encoding: enc,
    is_bigendian: 0,
    step,
    data,
  });
}

function cameraInfoBytes(k: number[], w: number, h: number): Uint8Array {
  return getCodec('sensor_msgs/msg/CameraInfo').encode({
    header: headerFromNs(5n, 'cam'),
    height: h,
    width: w,
    distortion_model: 'plumb_bob',
    d: [0, 0, 0, 0, 0],
    k,
    r: [1, 0, 0, 0, 1, 0, 0, 0, 1],
    p: [k[0], 0, k[2], 0, 0, k[4], k[5], 0, 0, 0, 1, 0],
  });
}

const validPayload = fc.oneof(
  fc
    .record({
      w: fc.integer({ min: 1, max: 8 }),
      h: fc.integer({ min: 1, max: 8 }),
      enc: fc.constantFrom('rgb8', 'mono8', '16UC1', '32FC1'),
      pad: fc.integer({ min: 0, max: 3 }),
    })
    .map(({ w, h, enc, pad }) => ({
      type: TYPES[0] as string,
      bytes: imageBytes(w, h, enc, w * ({ rgb8: 3, mono8: 1, '16UC1': 2, '32FC1': 4 }[enc] ?? 1) + pad, 7n),
    })),
  fc
    .array(fc.double({ noNaN: false }), { minLength: 9, maxLength: 9 })
    .map((k) => ({ type: TYPES[2] as string, bytes: cameraInfoBytes(k, 4, 3) })),
  fc.string({ maxLength: 40 }).map((s) => ({
    type: TYPES[3] as string,
    bytes: getCodec(TYPES[3]).encode({ data: s }),
  })),
);

describe('CDR decoders under random input', () => {
  it('random bytes: every type either decodes or throws DecodeError', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...TYPES),
        fc.uint8Array({ maxLength: 96 }),
        fc.boolean(),
        (type, body, withHeader) => {
          // half the cases start with a valid CDR_LE encapsulation header so the body reaches the reader
          const data = withHeader ? Uint8Array.from([0, 1, 0, 0, ...body]) : body;
          decodeOrTyped(type, data);
        },
      ),
      run(3000),
    );
  });

  it('truncated and bit-flipped valid messages: decode or DecodeError, never a crash', () => {
    fc.assert(
      fc.property(
        validPayload,
        fc.nat(),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 4 }),
        fc.boolean(),
        ({ type, bytes }, cutAt, flips, truncate) => {
          let b = Uint8Array.from(bytes);
          if (truncate) b = b.subarray(0, cutAt % (b.length + 1));
          for (const [at, x] of flips) if (b.length > 4) b[4 + (at % (b.length - 4))] ^= x;
          decodeOrTyped(type, b);
        },
      ),
      run(2500),
    );
  });

  it('a huge sequence length prefix is rejected without allocating', () => {
    // Image with data length 0x7ffffff0: the reader must fail on bounds, not try to allocate 2 GiB
    const ok = imageBytes(1, 1, 'mono8', 1, 1n);
    const view = new DataView(ok.buffer, ok.byteOffset, ok.byteLength);
    const lenAt = ok.byteLength - 4 - 1; // uint32 length precedes the 1 data byte
    expect(view.getUint32(lenAt, true)).toBe(1);
    view.setUint32(lenAt, 0x7ffffff0, true);
    expect(decodeOrTyped('sensor_msgs/msg/Image', ok)).toBe('typed');
  });
});

const ENCODINGS = [
  'rgb8',
  'bgr8',
  'rgba8',
  'bgra8',
  'mono8',
  '8UC1',
  '16UC1',
  'mono16',
  '32FC1',
  'yuv422',
  '',
];

describe('Image / CameraInfo conversion under inconsistent fields', () => {
  it('width/height/step/data length inconsistent or huge: result sized from the header, or ImageFormatError', () => {
    const dim = fc.oneof(
      fc.integer({ min: 0, max: 9 }),
      fc.constantFrom(-1, 1.5, NaN, 32768, 32769, 2 ** 31 - 1, 2 ** 32 - 1),
    );
    fc.assert(
      fc.property(
        dim,
        dim,
        fc.oneof(fc.integer({ min: 0, max: 40 }), fc.constantFrom(-3, 2 ** 31, NaN)),
        fc.constantFrom(...ENCODINGS),
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 0, max: 1 }),
        (width, height, step, encoding, len, bigEndian) => {
          const msg: ImageMsg = {
            header: headerFromNs(1n, 'cam'),
            width,
            height,
            step,
            encoding,
            is_bigendian: bigEndian,
            data: new Uint8Array(len),
          };
          try {
            const a = imageToTypedArray(msg, { topic: '/fuzz' });
            expect(a.data.length).toBe(width * height * a.channels);
            expect(width * height).toBeLessThanOrEqual(MAX_IMAGE_PIXELS);
            if (encoding.startsWith('16') || encoding === 'mono16' || encoding === '32FC1') {
              const d = depthToMeters(msg);
              expect(d.length).toBe(width * height);
              // no Inf / negative depth ever leaves the adapter (NaN = invalid)
              for (const v of d) expect(Number.isNaN(v) || (v >= 0 && Number.isFinite(v))).toBe(true);
            } else {
              expect(imageToRgb(msg).data.length).toBe(width * height * 3);
            }
          } catch (e) {
            expect(e).toBeInstanceOf(ImageFormatError);
            const err = e as ImageFormatError;
            expect(['encoding', 'width', 'height', 'step', 'data']).toContain(err.field);
            expect(err.message).toMatch(/topic \/fuzz/);
          }
        },
      ),
      run(2500),
    );
  });

  it('huge dimensions are rejected from the header fields, before anything is allocated', () => {
    const msg: ImageMsg = {
      header: headerFromNs(1n, 'cam'),
      width: 30000,
      height: 30000,
      step: 120000,
      encoding: '32FC1',
      is_bigendian: 0,
      data: new Uint8Array(16),
    };
    // 900 Mpx: over the pixel limit
    expect(() => depthToMeters(msg, { topic: '/d' })).toThrow(
      /30000x30000 exceeds .*topic \/d, field 'width'/,
    );
    // 100 Mpx claimed by a 16-byte buffer: the data-length check fails before the output array is made
    expect(() => depthToMeters({ ...msg, width: 10000, height: 10000, step: 40000 })).toThrow(
      /data holds 16 bytes.*field 'data'/,
    );
    expect(() => validateImage({ ...msg, width: 40000 })).toThrow(/width 40000 is invalid/);
  });

  it('NaN, Inf, negative and zero depth become invalid (NaN / 0), finite depth is kept', () => {
    const vals = new Float32Array([NaN, Infinity, -Infinity, -0.5, 0, 1.25]);
    const msg: ImageMsg = {
      header: headerFromNs(1n, 'cam'),
      width: 6,
      height: 1,
      step: 24,
      encoding: '32FC1',
      is_bigendian: 0,
      data: new Uint8Array(vals.buffer),
    };
    const d = Array.from(depthToMeters(msg));
    expect(d.slice(0, 4).every((v) => Number.isNaN(v))).toBe(true);
    expect(d[4]).toBe(0);
    expect(d[5]).toBeCloseTo(1.25, 6);
  });

  it('CameraInfo with zero, negative, NaN or infinite focal lengths is an ImageFormatError naming k', () => {
    const num = fc.oneof(
      fc.double({ min: -1e4, max: 1e4 }),
      fc.constantFrom(0, -0, NaN, Infinity, -Infinity, 1e-300),
    );
    fc.assert(
      fc.property(
        fc.array(num, { minLength: 9, maxLength: 9 }),
        fc.oneof(fc.integer({ min: 0, max: 5000 }), fc.constant(2 ** 31)),
        fc.integer({ min: 0, max: 5000 }),
        (k, width, height) => {
          const msg = getCodec('sensor_msgs/msg/CameraInfo').decode(
            cameraInfoBytes(k, width, height),
          ) as CameraInfoMsg;
          try {
            const intr = intrinsicsFromCameraInfo(msg, { topic: '/info' });
            expect(intr.fx > 0 && Number.isFinite(intr.fx)).toBe(true);
            expect(intr.fy > 0 && Number.isFinite(intr.fy)).toBe(true);
            expect(Number.isFinite(intr.cx) && Number.isFinite(intr.cy)).toBe(true);
            expect(intr.width > 0 && intr.height > 0).toBe(true);
          } catch (e) {
            expect(e).toBeInstanceOf(ImageFormatError);
            expect((e as ImageFormatError).message).toMatch(/topic \/info/);
            expect((e as ImageFormatError).field).toMatch(/^(k|width|height)/);
          }
        },
      ),
      run(1500),
    );
  });

  it('CompressedImage: garbage bytes and a PNG header claiming huge dimensions are ImageFormatErrors', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 64 }), async (bytes) => {
        const err = await decodeCompressedImage({
          header: headerFromNs(1n, ''),
          format: 'jpeg',
          data: bytes,
        }).catch((e) => e);
        expect(err).toBeInstanceOf(ImageFormatError);
      }),
      run(60),
    );
    // A 300-byte PNG whose IHDR says 12000 x 12000 (432 MB of rgb): rejected from the header, not decoded.
    const png = tinyPngClaiming(12000, 12000);
    const err = await decodeCompressedImage(
      { header: headerFromNs(1n, ''), format: 'png', data: png },
      { topic: '/c' },
    ).catch((e) => e);
    expect(err).toBeInstanceOf(ImageFormatError);
    expect(err.message).toMatch(/12000x12000 exceeds 67108864 pixels.*topic \/c/);
    expect(err.field).toBe('width');
  });
});

/** A well-formed PNG (IHDR, one tiny IDAT, IEND) whose header claims w x h rgb8 pixels. */
function tinyPngClaiming(w: number, h: number): Uint8Array {
  const chunk = (type: string, data: Buffer): Buffer => {
    const b = Buffer.alloc(12 + data.length);
    b.writeUInt32BE(data.length, 0);
    b.write(type, 4, 'latin1');
    data.copy(b, 8);
    b.writeUInt32BE(crc32(b.subarray(4, 8 + data.length)), 8 + data.length);
    return b;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // rgb
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const idat = zlib.deflateSync(Buffer.alloc(256));
  return new Uint8Array(
    Buffer.concat([sig, chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]),
  );
}

function crc32(b: Uint8Array): number {
  let c = ~0;
  for (const x of b) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

// ------------------------------------------------------------------ damaged bag files

let tmp: string;
let mcapBytes: Buffer;
let db3Bytes: Buffer;
const T0 = 1_700_000_000_000_000_000n;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'declip-bagfuzz-'));
  await ensureZstd();
  for (const [file, opts] of [
    ['base.mcap', { chunkSizeBytes: 600, compression: 'none' as const }],
    ['base.db3', {}],
  ] as const) {
    const w = await createBagWriter(path.join(tmp, file), opts);
    await w.addTopic('/chatter', 'std_msgs/msg/String');
    await w.addTopic('/img', 'sensor_msgs/msg/Image');
    for (let i = 0; i < 12; i++) {
      const t = T0 + BigInt(i) * 50_000_000n;
      await w.write('/chatter', t, { data: `m${i}` });
      await w.write('/img', t + 1n, imageBytes(4, 3, 'rgb8', 12, t));
    }
    await w.close();
  }
  mcapBytes = fs.readFileSync(path.join(tmp, 'base.mcap'));
  db3Bytes = fs.readFileSync(path.join(tmp, 'base.db3'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Open + read everything + decode; returns counts. Only BagError (incl. DecodeError) may escape. */
async function readBag(file: string, skipBad: boolean): Promise<{ read: number; skipped: number }> {
  const bag = await openBag(file, { skipBad });
  let read = 0;
  try {
    for await (const m of bag.messages({ skipBad }) as AsyncIterable<BagMessage>) {
      read++;
      try {
        m.decode();
      } catch (e) {
        if (!(e instanceof BagError)) throw e;
      }
    }
    return { read, skipped: bag.skipped };
  } finally {
    await bag.close();
  }
}

describe('damaged bag files', () => {
  let n = 0;
  const damaged = (bytes: Buffer, ext: string, cut: number, flips: [number, number][]): string => {
    const b = Buffer.from(bytes.subarray(0, Math.max(0, Math.min(bytes.length, cut))));
    for (const [at, x] of flips) if (b.length > 0) b[at % b.length] ^= x;
    const file = path.join(tmp, `d${n++}.${ext}`);
    fs.writeFileSync(file, b);
    return file;
  };

  it('MCAP truncated anywhere or with flipped bytes: BagError, or a read; --skip-bad reads what is intact', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: 1 << 20 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 3 }),
        async (cut, flips) => {
          const file = damaged(mcapBytes, 'mcap', cut % (mcapBytes.length + 1), flips);
          let strict: { read: number } | undefined;
          try {
            strict = await readBag(file, false);
          } catch (e) {
            if (!(e instanceof BagError)) throw e;
          }
          let lax: { read: number; skipped: number } | undefined;
          try {
            lax = await readBag(file, true);
          } catch (e) {
            // skipBad cannot help with a destroyed magic / header
            if (!(e instanceof BagError)) throw e;
          }
          if (strict && lax) expect(lax.read).toBeGreaterThanOrEqual(strict.read);
          if (lax) expect(lax.read).toBeLessThanOrEqual(24);
          fs.rmSync(file);
        },
      ),
      run(150),
    );
  });

  it('sqlite3 db3 truncated or with flipped bytes: BagError or a read, never a raw sqlite error', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: 1 << 20 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 3 }),
        async (cut, flips) => {
          const file = damaged(db3Bytes, 'db3', cut % (db3Bytes.length + 1), flips);
          for (const skipBad of [false, true]) {
            try {
              await readBag(file, skipBad);
            } catch (e) {
              if (!(e instanceof BagError)) throw e;
            }
          }
          fs.rmSync(file);
        },
      ),
      run(100),
    );
  });
});
