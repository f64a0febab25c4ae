/**
 * Fuzzing the node's callbacks (fast-check) through the in-process runtime with real CDR: random and truncated
 * payloads, wrong encodings, sizes inconsistent with the data, huge dimensions, NaN/Inf/zero/negative depth,
 * CameraInfo with bad focal lengths, stamps going backwards, odd queries, ~/locate and parameter updates,
 * interleaved with good frames. Properties: nothing escapes (no exception, no unhandled rejection, no
 * "internal error" log), every rejection is a warning naming the topic and the field (throttled when a
 * throttle period is set), every good frame in between is processed and published, and the pipeline only ever
 * sees consistent frames.
 */
import * as zlib from 'zlib';
import fc from 'fast-check';
import { encodeCompressedImage } from '../bag/image';
import { defaultCodec } from './codec';
import { InProcRuntime } from './inproc';
import { DeclipNode, MAX_PENDING_LOCATES } from './node';
import type { Pipeline, PipelineResult } from './pipeline';
import type { ParamValue } from './runtime';
import type { Frame } from '../types';

const codec = defaultCodec();
const SEC = 1_000_000_000n;
const MS = 1_000_000n;
const W = 4;
const H = 3;
const SEED = 20261202;

const TOPIC = {
  color: '/camera/color/image_raw',
  depth: '/camera/aligned_depth_to_color/image_raw',
  info: '/camera/color/camera_info',
  query: '/declip_node/query',
};
const IMAGE = 'sensor_msgs/msg/Image';
const COMPRESSED = 'sensor_msgs/msg/CompressedImage';
const INFO = 'sensor_msgs/msg/CameraInfo';
const STRING = 'std_msgs/msg/String';

const unhandled: unknown[] = [];
const onUnhandled = (e: unknown): void => {
  unhandled.push(e);
};
beforeAll(() => process.on('unhandledRejection', onUnhandled));
afterAll(() => process.off('unhandledRejection', onUnhandled));

function hdr(stampNs: bigint) {
  const s = stampNs < 0n ? 0n : stampNs;
  return { stamp: { sec: Number(s / SEC), nanosec: Number(s % SEC) }, frame_id: 'cam' };
}

function colorMsg(stampNs: bigint, w = W, h = H, encoding = 'rgb8', step = w * 3, len = step * h) {
  return {
    header: hdr(stampNs),
    height: h,
    width: w,
    encoding,
    is_bigendian: 0,
    step,
    data: new Uint8Array(Math.max(0, len)).map((_, i) => i & 255),
  };
}

function depthMsg(stampNs: bigint, values?: number[]) {
  if (values) {
    const f = new Float32Array(W * H).fill(0.5);
    values.slice(0, W * H).forEach((v, i) => (f[i] = v));
    return {
      header: hdr(stampNs),
      height: H,
      width: W,
      encoding: '32FC1',
      is_bigendian: 0,
      step: W * 4,
      data: new Uint8Array(f.buffer),
    };
  }
  return {
    header: hdr(stampNs),
    height: H,
    width: W,
    encoding: '16UC1',
    is_bigendian: 0,
    step: W * 2,
    data: new Uint8Array(new Uint16Array(W * H).fill(500).buffer),
  };
}

function infoMsg(stampNs: bigint, k = [100, 0, 2, 0, 100, 1.5, 0, 0, 1], w = W, h = H) {
  return {
    header: hdr(stampNs),
    height: h,
    width: w,
    distortion_model: 'plumb_bob',
    d: [0, 0, 0, 0, 0],
    k,
    r: [1, 0, 0, 0, 1, 0, 0, 0, 1],
    p: [k[0], 0, k[2], 0, 0, k[4], k[5], 0, 0, 0, 1, 0],
  };
}

/** std_msgs/String CDR with arbitrary (possibly invalid UTF-8) bytes as the string. */
function rawStringCdr(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + bytes.length + 1);
  out.set([0, 1, 0, 0]);
  new DataView(out.buffer).setUint32(4, bytes.length + 1, true);
  out.set(bytes, 8);
  return out;
}

/** A well-formed PNG (IHDR, one tiny IDAT, IEND) whose header claims w x h rgb8 pixels. */
function tinyPngClaiming(w: number, h: number): Uint8Array {
  const crc32 = (b: Uint8Array): number => {
    let c = ~0;
    for (const x of b) {
      c ^= x;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
    }
    return ~c >>> 0;
  };
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
  ihdr[8] = 8;
  ihdr[9] = 2;
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return new Uint8Array(
    Buffer.concat([
      sig,
      chunk('IHDR', ihdr),
      chunk('IDAT', zlib.deflateSync(Buffer.alloc(64))),
      chunk('IEND', Buffer.alloc(0)),
    ]),
  );
}

/** A pipeline that answers every query and records what a frame broke (it must never see a bad frame). */
class CheckingPipeline implements Pipeline {
  calls: { stampNs: bigint; queries: string[] }[] = [];
  violations: string[] = [];
  async process(frame: Frame, queries: string[]): Promise<PipelineResult> {
    const { width: w, height: h } = frame.camera;
    this.calls.push({ stampNs: frame.stampNs, queries });
    if (frame.rgb.width !== w || frame.rgb.height !== h) this.violations.push('rgb size != camera size');
    if (frame.rgb.data.length !== w * h * 3) this.violations.push('rgb data length');
    if (frame.depthM.length !== w * h) this.violations.push('depth length');
    for (const d of frame.depthM) {
      if (!(Number.isNaN(d) || (d >= 0 && d < Infinity))) {
        this.violations.push(`depth value ${d}`);
        break;
      }
    }
    const c = frame.camera;
    if (!(c.fx > 0 && c.fy > 0 && Number.isFinite(c.fx) && Number.isFinite(c.fy))) {
      this.violations.push(`focal ${c.fx} ${c.fy}`);
    }
    for (const q of queries) {
      if (q.length === 0 || q.length > 256 || q.includes('\uFFFD')) this.violations.push(`query ${q.length}`);
    }
    return {
      results: queries.map((q) => ({
        query: q,
        instances: [
          {
            label: q,
            instanceId: 1,
            score: 0.9,
            roi: { x: 0, y: 0, width: 2, height: 2 },
            pose: { R: new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, 1]), tM: new Float64Array([0, 0, 0.5]) },
            sizeM: [0.1, 0.1, 0.1],
            poseSource: 'box' as const,
            fitness: 1,
            pointCount: 4,
            mask: { width: 2, height: 2, data: new Uint8Array([255, 0, 255, 255]) },
          },
        ],
      })),
      timingsMs: { preprocess: 0, features: 0, masks: 0, instances: 0, pose: 0 },
    };
  }
  async setAnchor(name: string): Promise<{ success: boolean; message: string }> {
    if (/[/\\]|^\.\.?$/.test(name)) this.violations.push(`anchor name reached the pipeline: ${name}`);
    return { success: true, message: 'ok' };
  }
}

// ---------------------------------------------------------------- events

const flips = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 4 });
const specialFloat = fc.oneof(
  fc.constantFrom(NaN, Infinity, -Infinity, 0, -0, -1, -1e30, 1e30, 5e-324),
  fc.float({ noDefaultInfinity: false }),
);
const dim = fc.oneof(
  fc.integer({ min: 0, max: 6 }),
  fc.constantFrom(W, H, 32768, 32769, 100000, 2 ** 31 - 1, 2 ** 32 - 1),
);

type Ev =
  | { k: 'bytes'; topic: 'color' | 'depth' | 'info' | 'query'; body: Uint8Array; cdrHead: boolean }
  | { k: 'trunc'; topic: 'color' | 'depth' | 'info'; cut: number; flips: [number, number][] }
  | { k: 'image'; topic: 'color' | 'depth'; w: number; h: number; step: number; enc: string; len: number }
  | { k: 'depthValues'; values: number[] }
  | { k: 'info'; kk: number[]; w: number; h: number }
  | { k: 'backwards'; backMs: number }
  | { k: 'query'; text: string }
  | { k: 'queryBytes'; bytes: Uint8Array }
  | { k: 'locate'; query: string }
  | { k: 'anchor'; name: string }
  | { k: 'param'; name: string; value: ParamValue };

const event: fc.Arbitrary<Ev> = fc.oneof(
  fc.record({
    k: fc.constant('bytes' as const),
    topic: fc.constantFrom('color' as const, 'depth' as const, 'info' as const, 'query' as const),
    body: fc.uint8Array({ maxLength: 80 }),
    cdrHead: fc.boolean(),
  }),
  fc.record({
    k: fc.constant('trunc' as const),
    topic: fc.constantFrom('color' as const, 'depth' as const, 'info' as const),
    cut: fc.nat({ max: 200 }),
    flips,
  }),
  fc.record({
    k: fc.constant('image' as const),
    topic: fc.constantFrom('color' as const, 'depth' as const),
    w: dim,
    h: dim,
    step: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.constantFrom(2 ** 31, 2 ** 32 - 1)),
    enc: fc.constantFrom(
      'rgb8',
      'bgr8',
      'rgba8',
      'mono8',
      '16UC1',
      '32FC1',
      'mono16',
      'yuv422',
      'bayer_rggb8',
      '',
    ),
    len: fc.integer({ min: 0, max: 64 }),
  }),
  fc.record({
    k: fc.constant('depthValues' as const),
    values: fc.array(specialFloat, { minLength: 1, maxLength: W * H }),
  }),
  fc.record({
    k: fc.constant('info' as const),
    kk: fc.array(specialFloat, { minLength: 9, maxLength: 9 }),
    w: dim,
    h: dim,
  }),
  fc.record({
    k: fc.constant('backwards' as const),
    backMs: fc.oneof(fc.integer({ min: 1, max: 900 }), fc.integer({ min: 1500, max: 100000 })),
  }),
  fc.record({
    k: fc.constant('query' as const),
    text: fc.oneof(
      fc.constantFrom('', ' , ,', 'x'.repeat(10 * 1024), 'a\u0000b', 'mug,'.repeat(300)),
      fc.string({ maxLength: 30 }),
      fc.fullUnicodeString({ maxLength: 30 }),
    ),
  }),
  fc.record({ k: fc.constant('queryBytes' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
  fc.record({
    k: fc.constant('locate' as const),
    query: fc.oneof(
      fc.constantFrom('', 'mug', 'y'.repeat(10 * 1024), '\uFFFD'),
      fc.string({ maxLength: 20 }),
    ),
  }),
  fc.record({
    k: fc.constant('anchor' as const),
    name: fc.oneof(
      fc.constantFrom('../../etc/evil', '/abs/path', '..', 'ok_name', 'a\\b'),
      fc.string({ maxLength: 70 }),
    ),
  }),
  fc.record({
    k: fc.constant('param' as const),
    name: fc.constantFrom(
      'score_threshold',
      'sync_slop_s',
      'sync_queue_size',
      'backwards_reset_s',
      'queries',
      'max_instances',
    ),
    value: fc.oneof(
      fc.double(),
      fc.integer({ min: -5, max: 1000 }),
      fc.constantFrom(NaN, Infinity, -1, 'x'.repeat(10 * 1024), 'mug\u0000', '', 'bowl, cup'),
      fc.boolean(),
    ) as fc.Arbitrary<ParamValue>,
  }),
);

async function makeNode(params: Record<string, ParamValue>) {
  const rt = new InProcRuntime({ startTimeNs: 100n * SEC, parameterOverrides: params, serviceCodec: codec });
  const pipeline = new CheckingPipeline();
  const node = await DeclipNode.create({
    runtime: rt,
    codec,
    pipeline,
    monotonicMs: () => Number(rt.nowNs() / MS),
  });
  return { rt, pipeline, node };
}

const validCdr = (topic: 'color' | 'depth' | 'info', stampNs: bigint): Uint8Array =>
  topic === 'color'
    ? codec.encode(IMAGE, colorMsg(stampNs))
    : topic === 'depth'
      ? codec.encode(IMAGE, depthMsg(stampNs))
      : codec.encode(INFO, infoMsg(stampNs));

describe('node callbacks under fuzzed input (raw colour)', () => {
  it('no crash, every rejection names topic and field, good frames in between are processed', async () => {
    let events = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(event, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        async (rounds, throttled) => {
          const { rt, pipeline, node } = await makeNode({
            queries: 'red mug',
            warn_throttle_s: throttled ? 3600 : 0,
            locate_timeout_s: 0.2,
          });
          const pend: Promise<any>[] = [];
          let good = 101n * SEC;
          const send = (topic: string, type: string, data: Uint8Array) => rt.publish(topic, type, data);
          for (const round of rounds) {
            for (const ev of round) {
              events++;
              const stamp = good + BigInt(1 + (events % 700)) * MS; // between this good frame and the next
              switch (ev.k) {
                case 'bytes': {
                  const data = ev.cdrHead ? Uint8Array.from([0, 1, 0, 0, ...ev.body]) : ev.body;
                  send(
                    TOPIC[ev.topic],
                    ev.topic === 'info' ? INFO : ev.topic === 'query' ? STRING : IMAGE,
                    data,
                  );
                  break;
                }
                case 'trunc': {
                  const b = Uint8Array.from(validCdr(ev.topic, stamp));
                  const cut = b.subarray(0, ev.cut % (b.length + 1));
                  for (const [at, x] of ev.flips) if (cut.length > 4) cut[4 + (at % (cut.length - 4))] ^= x;
                  send(TOPIC[ev.topic], ev.topic === 'info' ? INFO : IMAGE, cut);
                  break;
                }
                case 'image':
                  send(
                    TOPIC[ev.topic],
                    IMAGE,
                    codec.encode(IMAGE, colorMsg(stamp, ev.w, ev.h, ev.enc, ev.step, ev.len)),
                  );
                  break;
                case 'depthValues':
                  send(TOPIC.info, INFO, codec.encode(INFO, infoMsg(stamp)));
                  send(TOPIC.color, IMAGE, codec.encode(IMAGE, colorMsg(stamp)));
                  send(TOPIC.depth, IMAGE, codec.encode(IMAGE, depthMsg(stamp, ev.values)));
                  break;
                case 'info':
                  send(TOPIC.info, INFO, codec.encode(INFO, infoMsg(stamp, ev.kk, ev.w, ev.h)));
                  break;
                case 'backwards': {
                  const t = good - BigInt(ev.backMs) * MS;
                  send(TOPIC.info, INFO, codec.encode(INFO, infoMsg(t)));
                  send(TOPIC.color, IMAGE, codec.encode(IMAGE, colorMsg(t)));
                  send(TOPIC.depth, IMAGE, codec.encode(IMAGE, depthMsg(t)));
                  break;
                }
                case 'query':
                  send(TOPIC.query, STRING, codec.encode(STRING, { data: ev.text }));
                  break;
                case 'queryBytes':
                  send(TOPIC.query, STRING, rawStringCdr(ev.bytes));
                  break;
                case 'locate':
                  pend.push(
                    rt.callService('/declip_node/locate', {
                      query: ev.query,
                      timeout_s: 0.1,
                      max_instances: 0,
                    }),
                  );
                  break;
                case 'anchor':
                  pend.push(
                    rt.callService('/declip_node/set_anchor', {
                      name: ev.name,
                      query: 'mug',
                      use_current_frame: true,
                    }),
                  );
                  break;
                case 'param': {
                  const r = node.node.setParameters([{ name: ev.name, value: ev.value }]);
                  expect(typeof r[0].successful).toBe('boolean');
                  break;
                }
              }
              rt.advanceBy(5n * MS);
              await node.idle();
            }
            // a good frame: must be processed (or counted idle when the queries were cleared) and published
            good += SEC;
            rt.advanceTo(rt.nowNs() > good ? rt.nowNs() : good);
            const idleBefore = node.stats().idle;
            const pubsBefore = rt.publications.filter((p) => p.topic === '/declip_node/instances').length;
            send(TOPIC.info, INFO, codec.encode(INFO, infoMsg(good)));
            send(TOPIC.color, IMAGE, codec.encode(IMAGE, colorMsg(good)));
            send(TOPIC.depth, IMAGE, codec.encode(IMAGE, depthMsg(good)));
            await node.idle();
            if (node.queries().length > 0) {
              expect(pipeline.calls.at(-1)?.stampNs).toBe(good);
              const pubs = rt.publications.filter((p) => p.topic === '/declip_node/instances');
              expect(pubs.length).toBe(pubsBefore + node.queries().length);
              expect(
                codec.decode('declip_ros/msg/ObjectInstanceArray', pubs.at(-1)!.data).header.stamp,
              ).toEqual(hdr(good).stamp);
            } else {
              expect(node.stats().idle).toBe(idleBefore + 1);
            }
          }
          rt.advanceBy(SEC);
          const answers = await Promise.all(pend);
          for (const a of answers) {
            expect(typeof a.success).toBe('boolean');
            expect(typeof a.message).toBe('string');
          }
          await node.destroy();

          expect(pipeline.violations).toEqual([]);
          expect(unhandled).toEqual([]);
          const errors = rt.logs.filter((l) => l.level === 'error');
          expect(errors.map((l) => l.msg)).toEqual([]);
          const dropped = rt.logs.filter((l) => l.level === 'warn' && / dropped: /.test(l.msg));
          for (const l of dropped) expect(l.msg).toMatch(/^\[\/[^\]]*\] dropped: .*\(field '[^']+'\)$/s);
          const bad = node.stats().badInput;
          if (throttled) {
            // one warning per topic and kind for the whole run
            const keys = new Set(dropped.map((l) => l.msg.slice(0, l.msg.indexOf(']'))));
            expect(dropped.length).toBeLessThanOrEqual(keys.size * 8);
            expect(dropped.length).toBeLessThanOrEqual(bad);
          } else {
            expect(dropped.length).toBe(bad);
          }
        },
      ),
      { seed: SEED, numRuns: 600 },
    );
    expect(events).toBeGreaterThan(5000);
  });

  it('a rejected ~/query (too long, not UTF-8, control characters) keeps the previous queries', async () => {
    const { rt, node } = await makeNode({ queries: 'red mug', warn_throttle_s: 0 });
    rt.publish(TOPIC.query, STRING, codec.encode(STRING, { data: 'x'.repeat(10 * 1024) }));
    rt.publish(TOPIC.query, STRING, rawStringCdr(new Uint8Array([0x6d, 0xff, 0xfe, 0x67])));
    rt.publish(TOPIC.query, STRING, codec.encode(STRING, { data: 'a\u0001b' }));
    expect(node.queries()).toEqual(['red mug']);
    const w = rt.logs.filter((l) => l.level === 'warn').map((l) => l.msg);
    expect(w[0]).toMatch(
      /\[\/declip_node\/query\] dropped: query of 10240 characters is longer than 256.*\(field 'data'\)/,
    );
    expect(w[1]).toMatch(/not valid UTF-8/);
    expect(w[2]).toMatch(/control characters/);
    // a mix keeps the good phrases
    rt.publish(TOPIC.query, STRING, codec.encode(STRING, { data: `bowl, ${'z'.repeat(300)}, cup` }));
    expect(node.queries()).toEqual(['bowl', 'cup']);
    // parameters: refused with the reason, the value is unchanged
    const r = node.node.setParameters([{ name: 'queries', value: 'q'.repeat(5000) }])[0];
    expect(r.successful).toBe(false);
    expect(r.reason).toMatch(/queries.*longer than 256/);
    await expect(makeNode({ queries: 'ok, \u0000bad' })).rejects.toThrow(/queries.*control characters/);
    const loc = await rt.callService('/declip_node/locate', {
      query: 'w'.repeat(400),
      timeout_s: 1,
      max_instances: 0,
    });
    expect(loc.success).toBe(false);
    expect(loc.message).toMatch(/longer than 256/);
    await node.destroy();
  });

  it('set_anchor refuses names that are paths before the pipeline sees them; path parameters reject NUL', async () => {
    const { rt, node, pipeline } = await makeNode({ queries: 'mug' });
    rt.publish(TOPIC.info, INFO, codec.encode(INFO, infoMsg(101n * SEC)));
    rt.publish(TOPIC.color, IMAGE, codec.encode(IMAGE, colorMsg(101n * SEC)));
    rt.publish(TOPIC.depth, IMAGE, codec.encode(IMAGE, depthMsg(101n * SEC)));
    await node.idle();
    for (const name of ['../../etc/cron.d/x', '/tmp/abs', '..', 'a\\b', 'n'.repeat(65), 'nul\u0000']) {
      const r = await rt.callService('/declip_node/set_anchor', {
        name,
        query: 'mug',
        use_current_frame: true,
      });
      expect(r.success).toBe(false);
      expect(r.message).toMatch(/^name /);
    }
    const ok = await rt.callService('/declip_node/set_anchor', {
      name: 'red_mug',
      query: 'mug',
      use_current_frame: true,
    });
    expect(ok.success).toBe(true);
    expect(pipeline.violations).toEqual([]);
    await node.destroy();
    await expect(makeNode({ anchors_dir: '/tmp/a\u0000b' })).rejects.toThrow(/anchors_dir.*NUL/);
  });

  it('a flood of ~/locate requests is bounded: the excess is refused at once, the rest answered by the next frame', async () => {
    const { rt, node } = await makeNode({ queries: '' });
    const calls = Array.from({ length: MAX_PENDING_LOCATES + 20 }, () =>
      rt.callService('/declip_node/locate', { query: 'mug', timeout_s: 30, max_instances: 0 }),
    );
    const settled: boolean[] = new Array(calls.length).fill(false);
    calls.forEach((c, i) => void c.then(() => (settled[i] = true)));
    await new Promise((r) => setImmediate(r));
    expect(settled.filter(Boolean)).toHaveLength(20);
    rt.publish(TOPIC.info, INFO, codec.encode(INFO, infoMsg(101n * SEC)));
    rt.publish(TOPIC.color, IMAGE, codec.encode(IMAGE, colorMsg(101n * SEC)));
    rt.publish(TOPIC.depth, IMAGE, codec.encode(IMAGE, depthMsg(101n * SEC)));
    await node.idle();
    const res = await Promise.all(calls);
    expect(res.filter((r) => r.success)).toHaveLength(MAX_PENDING_LOCATES);
    expect(res.filter((r) => !r.success)[0].message).toMatch(/already waiting for a frame/);
    await node.destroy();
  });

  it('diagnostics carry the latest rejection with its topic and field', async () => {
    const { rt, node } = await makeNode({ queries: 'mug' });
    rt.publish(TOPIC.depth, IMAGE, codec.encode(IMAGE, { ...depthMsg(101n * SEC), step: 3 }));
    rt.advanceBy(SEC);
    const diag = rt.publications
      .filter((p) => p.topic === '/diagnostics')
      .map((p) => codec.decode(p.type, p.data));
    const values = Object.fromEntries(
      diag.at(-1).status[0].values.map((kv: { key: string; value: string }) => [kv.key, kv.value]),
    );
    expect(values.bad_input).toBe('1');
    expect(values.last_bad_input).toMatch(
      /^\[\/camera\/aligned_depth_to_color\/image_raw\] dropped: step 3 .*\(field 'step'\)/,
    );
    await node.destroy();
  });
});

describe('node callbacks under fuzzed input (compressed colour)', () => {
  it('garbage jpeg/png bytes and headers claiming huge sizes are rejected; good frames still processed', async () => {
    const goodPng = (
      await encodeCompressedImage(
        { width: W, height: H, data: new Uint8Array(W * H * 3).fill(90) },
        hdr(0n),
        'png',
      )
    ).data;
    const compressed = (stampNs: bigint, format: string, data: Uint8Array) =>
      codec.encode(COMPRESSED, { header: hdr(stampNs), format, data });
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            format: fc.constantFrom(
              'jpeg',
              'png',
              'rgb8; jpeg compressed bgr8',
              '16UC1; compressedDepth',
              '',
            ),
            body: fc.oneof(
              fc.uint8Array({ maxLength: 64 }),
              fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })).map(([at, x]) => {
                const b = Uint8Array.from(goodPng);
                b[at % b.length] ^= x;
                return b;
              }),
              fc.nat().map((n) => goodPng.subarray(0, n % goodPng.length)),
              fc.constantFrom(tinyPngClaiming(12000, 12000), tinyPngClaiming(W, H), tinyPngClaiming(0, 5)),
            ),
          }),
          { minLength: 1, maxLength: 5 },
        ),
        async (bads) => {
          const { rt, pipeline, node } = await makeNode({
            queries: 'mug',
            color_compressed: true,
            warn_throttle_s: 0,
          });
          let t = 101n * SEC;
          for (const b of bads) {
            rt.publish(TOPIC.info, INFO, codec.encode(INFO, infoMsg(t)));
            rt.publish(TOPIC.color, COMPRESSED, compressed(t, b.format, b.body));
            rt.publish(TOPIC.depth, IMAGE, codec.encode(IMAGE, depthMsg(t)));
            await node.idle();
            t += SEC;
            rt.publish(TOPIC.info, INFO, codec.encode(INFO, infoMsg(t)));
            rt.publish(TOPIC.color, COMPRESSED, compressed(t, 'png', goodPng));
            rt.publish(TOPIC.depth, IMAGE, codec.encode(IMAGE, depthMsg(t)));
            await node.idle();
            expect(pipeline.calls.at(-1)?.stampNs).toBe(t);
            t += SEC;
          }
          await node.destroy();
          expect(pipeline.violations).toEqual([]);
          expect(rt.logs.filter((l) => l.level === 'error')).toEqual([]);
          const dropped = rt.logs.filter((l) => l.level === 'warn' && / dropped: /.test(l.msg));
          for (const l of dropped)
            expect(l.msg).toMatch(/^\[\/camera\/color\/image_raw\] dropped: .*\(field '[^']+'\)$/s);
          expect(unhandled).toEqual([]);
        },
      ),
      { seed: SEED, numRuns: 40 },
    );
  });
});
