import { defaultCodec } from './codec';
import { InProcRuntime } from './inproc';
import { DeclipNode } from './node';
import type { Pipeline, PipelineInstance, PipelineResult, PipelineSettings } from './pipeline';
import type { Frame } from '../types';
import type { ParamValue } from './runtime';
import { runReplay, type ReplayMessage } from './replay';

const codec = defaultCodec();
const SEC = 1_000_000_000n;
const W = 4;
const H = 4;

function hdr(stampNs: bigint) {
  return { stamp: { sec: Number(stampNs / SEC), nanosec: Number(stampNs % SEC) }, frame_id: 'cam_optical' };
}

function colorMsg(stampNs: bigint, opts: { encoding?: string; w?: number; h?: number } = {}) {
  const w = opts.w ?? W;
  const h = opts.h ?? H;
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = i % 251;
  return {
    header: hdr(stampNs),
    height: h,
    width: w,
    encoding: opts.encoding ?? 'rgb8',
    is_bigendian: 0,
    step: w * 3,
    data,
  };
}

function depthMsg(stampNs: bigint, opts: { w?: number; h?: number } = {}) {
  const w = opts.w ?? W;
  const h = opts.h ?? H;
  const mm = new Uint16Array(w * h).fill(500);
  return {
    header: hdr(stampNs),
    height: h,
    width: w,
    encoding: '16UC1',
    is_bigendian: 0,
    step: w * 2,
    data: new Uint8Array(mm.buffer),
  };
}

function infoMsg(stampNs: bigint) {
  return {
    header: hdr(stampNs),
    height: H,
    width: W,
    distortion_model: 'plumb_bob',
    d: [0, 0, 0, 0, 0],
    k: [100, 0, 2, 0, 100, 2, 0, 0, 1],
    r: [1, 0, 0, 0, 1, 0, 0, 0, 1],
    p: [100, 0, 2, 0, 0, 100, 2, 0, 0, 0, 1, 0],
  };
}

function instance(label: string, id: number, score: number): PipelineInstance {
  return {
    label,
    instanceId: id,
    score,
    roi: { x: 1, y: 1, width: 2, height: 2 },
    pose: { R: new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, 1]), tM: new Float64Array([0.1, 0.2, 0.5]) },
    sizeM: [0.1, 0.1, 0.2],
    poseSource: 'box',
    fitness: 1,
    pointCount: 4,
    mask: { width: 2, height: 2, data: new Uint8Array([255, 255, 0, 255]) },
    pointsM: new Float32Array([0, 0, 0.5, 0.01, 0, 0.5]),
  };
}

class FakePipeline implements Pipeline {
  calls: { frame: Frame; queries: string[] }[] = [];
  settings: PipelineSettings[] = [];
  gate?: Promise<void>;
  fail = false;
  async process(frame: Frame, queries: string[]): Promise<PipelineResult> {
    this.calls.push({ frame, queries });
    if (this.gate) await this.gate;
    if (this.fail) throw new Error('GPU on fire');
    return {
      results: queries.map((q, i) => ({
        query: q,
        instances: [instance(q, 7 + i, 0.9), instance(q, 20 + i, 0.6)],
      })),
      timingsMs: { preprocess: 1, features: 2, masks: 3, instances: 4, pose: 5 },
    };
  }
  configure(s: PipelineSettings): void {
    this.settings.push(s);
  }
  describe() {
    return { device: 'cpu', model: 'fake' };
  }
}

async function setup(params: Record<string, ParamValue> = { queries: 'red mug' }) {
  const rt = new InProcRuntime({ startTimeNs: 100n * SEC, parameterOverrides: params, serviceCodec: codec });
  const pipeline = new FakePipeline();
  const node = await DeclipNode.create({
    runtime: rt,
    codec,
    pipeline,
    monotonicMs: () => Number(rt.nowNs() / 1_000_000n),
  });
  const send = (topic: string, type: string, msg: unknown) =>
    rt.publish(topic, type, codec.encode(type, msg));
  const frame = async (stampNs: bigint, parts: { info?: boolean; color?: unknown; depth?: unknown } = {}) => {
    if (parts.info !== false)
      send('/camera/color/camera_info', 'sensor_msgs/msg/CameraInfo', infoMsg(stampNs));
    send('/camera/color/image_raw', 'sensor_msgs/msg/Image', parts.color ?? colorMsg(stampNs));
    send(
      '/camera/aligned_depth_to_color/image_raw',
      'sensor_msgs/msg/Image',
      parts.depth ?? depthMsg(stampNs),
    );
    await node.idle();
  };
  const decoded = (topic: string) =>
    rt.publications.filter((p) => p.topic === topic).map((p) => codec.decode(p.type, p.data));
  const warnings = () => rt.logs.filter((l) => l.level === 'warn').map((l) => l.msg);
  return { rt, pipeline, node, send, frame, decoded, warnings };
}

describe('DeclipNode on the in-process runtime', () => {
  it('turns synchronised CDR frames into ObjectInstanceArray, detections, markers and a label mask', async () => {
    const { pipeline, frame, decoded, node } = await setup();
    await frame(101n * SEC);
    expect(pipeline.calls).toHaveLength(1);
    const f = pipeline.calls[0].frame;
    expect(pipeline.calls[0].queries).toEqual(['red mug']);
    expect(f.stampNs).toBe(101n * SEC);
    expect(f.frameId).toBe('cam_optical');
    expect(f.rgb.width).toBe(W);
    expect(Array.from(f.rgb.data.slice(0, 6))).toEqual([0, 1, 2, 3, 4, 5]);
    expect(f.depthM[5]).toBeCloseTo(0.5, 6);
    expect(f.camera.fx).toBe(100);

    const [arr] = decoded('/declip_node/instances');
    expect(arr.query).toBe('red mug');
    expect(arr.header.stamp).toEqual({ sec: 101, nanosec: 0 });
    expect(arr.instances).toHaveLength(2);
    const i0 = arr.instances[0];
    expect(i0.label).toBe('red mug');
    expect(i0.instance_id).toBe(7);
    expect(i0.score).toBeCloseTo(0.9, 6);
    expect(i0.pose.position).toEqual({ x: 0.1, y: 0.2, z: 0.5 });
    expect(i0.pose.orientation).toEqual({ x: 0, y: 0, z: 0, w: 1 });
    expect(i0.size).toEqual({ x: 0.1, y: 0.1, z: 0.2 });
    expect(i0.pose_source).toBe('box');
    expect(i0.point_count).toBe(4);
    expect(i0.roi).toMatchObject({ x_offset: 1, y_offset: 1, width: 2, height: 2 });
    expect(i0.mask.encoding).toBe('mono8');
    expect(Array.from(i0.mask.data)).toEqual([255, 255, 0, 255]);
    expect(arr.features_ms).toBeCloseTo(2, 6);
    expect(arr.pose_ms).toBeCloseTo(5, 6);

    const [det] = decoded('/declip_node/detections');
    expect(det.detections).toHaveLength(2);
    expect(det.detections[0].results[0].hypothesis.class_id).toBe('red mug');
    expect(det.detections[0].bbox.size.z).toBeCloseTo(0.2, 9);

    const [mk] = decoded('/declip_node/markers');
    expect(mk.markers[0].action).toBe(3);
    expect(mk.markers.slice(1).map((m: { ns: string }) => m.ns)).toEqual([
      'boxes',
      'axes',
      'labels',
      'boxes',
      'axes',
      'labels',
    ]);
    expect(mk.markers[3].text).toBe('red mug #7 0.90');

    const [mask] = decoded('/declip_node/mask');
    expect(mask.encoding).toBe('mono8');
    expect([mask.width, mask.height]).toEqual([W, H]);
    // both instances share the roi; the second overwrites the first: label 2 on the 3 mask pixels
    expect(Array.from(mask.data as Uint8Array).filter((v) => v === 2)).toHaveLength(3);
    expect(Array.from(mask.data as Uint8Array).filter((v) => v !== 0)).toHaveLength(3);

    expect(decoded('/declip_node/points')).toHaveLength(0);
    expect(node.stats().processed).toBe(1);
  });

  it('~/query sets several comma-separated queries, an empty string clears them', async () => {
    const { pipeline, frame, send, node } = await setup({ queries: '' });
    await frame(101n * SEC);
    expect(pipeline.calls).toHaveLength(0);
    expect(node.stats().idle).toBe(1);
    send('/declip_node/query', 'std_msgs/msg/String', { data: 'red mug, cereal box' });
    await frame(102n * SEC);
    expect(pipeline.calls[0].queries).toEqual(['red mug', 'cereal box']);
    send('/declip_node/query', 'std_msgs/msg/String', { data: '' });
    await frame(103n * SEC);
    expect(pipeline.calls).toHaveLength(1);
    expect(node.queries()).toEqual([]);
  });

  it('~/locate waits for the next frame and answers with the instances (max_instances honoured)', async () => {
    const { rt, frame } = await setup({ queries: '' });
    await frame(101n * SEC); // before the request: must not answer it
    const pending = rt.callService('/declip_node/locate', {
      query: 'blue bowl',
      timeout_s: 2,
      max_instances: 1,
    });
    let settled = false;
    void pending.then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    rt.advanceBy(SEC / 2n);
    await frame(102n * SEC);
    const res = await pending;
    expect(res.success).toBe(true);
    expect(res.result.query).toBe('blue bowl');
    expect(res.result.instances).toHaveLength(1);
    expect(res.result.instances[0].label).toBe('blue bowl');
    expect(res.result.header.stamp.sec).toBe(102);
  });

  it('~/locate times out with a clear message when no frame arrives', async () => {
    const { rt } = await setup();
    const pending = rt.callService('/declip_node/locate', { query: 'mug', timeout_s: 0.5, max_instances: 0 });
    rt.advanceBy(SEC / 4n);
    let settled = false;
    void pending.then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    rt.advanceBy(SEC / 4n);
    const res = await pending;
    expect(res.success).toBe(false);
    expect(res.message).toMatch(/no synchronised frame within 0.5 s/);
    expect(res.result.instances).toEqual([]);
    const empty = await rt.callService('/declip_node/locate', {
      query: '  ',
      timeout_s: 1,
      max_instances: 0,
    });
    expect(empty.success).toBe(false);
    expect(empty.message).toMatch(/query is empty/);
  });

  it('~/locate times out while the pipeline is still processing', async () => {
    const { rt, pipeline, send } = await setup({ queries: '' });
    let open!: () => void;
    pipeline.gate = new Promise((r) => (open = r));
    const pending = rt.callService('/declip_node/locate', { query: 'mug', timeout_s: 1, max_instances: 0 });
    send('/camera/color/camera_info', 'sensor_msgs/msg/CameraInfo', infoMsg(101n * SEC));
    send('/camera/color/image_raw', 'sensor_msgs/msg/Image', colorMsg(101n * SEC));
    send('/camera/aligned_depth_to_color/image_raw', 'sensor_msgs/msg/Image', depthMsg(101n * SEC));
    await new Promise((r) => setImmediate(r));
    rt.advanceBy(SEC);
    const res = await pending;
    expect(res.success).toBe(false);
    expect(res.message).toMatch(/pipeline did not finish within 1 s/);
    open();
  });

  it('bad input: malformed CDR, wrong encoding, size mismatch, missing CameraInfo and stale frames are throttled warnings; good frames in between are processed', async () => {
    const { rt, pipeline, frame, warnings, node, decoded } = await setup();
    // missing CameraInfo: warn and wait
    await frame(101n * SEC, { info: false });
    expect(pipeline.calls).toHaveLength(0);
    expect(warnings().some((w) => /\/camera\/color\/camera_info.*no CameraInfo received yet/.test(w))).toBe(
      true,
    );
    await frame(102n * SEC);
    expect(pipeline.calls).toHaveLength(1);

    // malformed CDR, twice within the throttle period -> one warning
    rt.publish('/camera/color/image_raw', 'sensor_msgs/msg/Image', new Uint8Array([0, 1, 0, 0, 5, 0]));
    rt.publish('/camera/color/image_raw', 'sensor_msgs/msg/Image', new Uint8Array([0, 1, 0, 0, 5, 0]));
    const cdrWarnings = warnings().filter((w) => /\[\/camera\/color\/image_raw\] dropped: malformed/.test(w));
    expect(cdrWarnings).toHaveLength(1);
    rt.publish('/camera/color/image_raw', 'sensor_msgs/msg/Image', new Uint8Array([9, 9]));
    expect(warnings().filter((w) => /malformed/.test(w))).toHaveLength(1);

    await frame(103n * SEC);
    expect(pipeline.calls).toHaveLength(2);

    // wrong encoding
    await frame(104n * SEC, { color: colorMsg(104n * SEC, { encoding: 'yuv422' }) });
    expect(warnings().some((w) => /colour encoding 'yuv422' is not supported/.test(w))).toBe(true);
    // colour/depth size mismatch
    await frame(105n * SEC, { depth: depthMsg(105n * SEC, { w: 2, h: 2 }) });
    expect(warnings().some((w) => /colour 4x4 and depth 2x2 differ/.test(w))).toBe(true);
    expect(pipeline.calls).toHaveLength(2);

    await frame(106n * SEC);
    expect(pipeline.calls).toHaveLength(3);
    // a frame older than the last processed (small jump, not a bag loop)
    await frame(106n * SEC - SEC / 2n);
    expect(pipeline.calls).toHaveLength(3);

    // a failing pipeline is logged and the node keeps going
    pipeline.fail = true;
    await frame(107n * SEC);
    expect(rt.logs.some((l) => l.level === 'error' && /GPU on fire/.test(l.msg))).toBe(true);
    pipeline.fail = false;
    await frame(108n * SEC);
    expect(pipeline.calls).toHaveLength(5);
    expect(decoded('/declip_node/instances')).toHaveLength(4);
    expect(node.stats().badInput).toBeGreaterThanOrEqual(5);
  });

  it('latest frame wins: frames arriving while the pipeline is busy replace the single pending one', async () => {
    const { pipeline, send, node } = await setup();
    let open!: () => void;
    pipeline.gate = new Promise((r) => (open = r));
    for (let t = 1n; t <= 5n; t++) {
      const s = 100n * SEC + t * (SEC / 30n);
      send('/camera/color/camera_info', 'sensor_msgs/msg/CameraInfo', infoMsg(s));
      send('/camera/color/image_raw', 'sensor_msgs/msg/Image', colorMsg(s));
      send('/camera/aligned_depth_to_color/image_raw', 'sensor_msgs/msg/Image', depthMsg(s));
      await new Promise((r) => setImmediate(r));
    }
    expect(pipeline.calls).toHaveLength(1);
    pipeline.gate = undefined;
    open();
    await node.idle();
    expect(pipeline.calls).toHaveLength(2);
    expect(pipeline.calls[1].frame.stampNs).toBe(100n * SEC + 5n * (SEC / 30n));
    expect(node.stats().dropped).toBe(3);
  });

  it('dynamic parameters: thresholds and queries apply at once, bad values and static parameters are refused', async () => {
    const { rt, pipeline, node, frame } = await setup();
    const n = node.node;
    expect(pipeline.settings).toHaveLength(1);
    expect(n.setParameters([{ name: 'score_threshold', value: 0.25 }])[0].successful).toBe(true);
    expect(pipeline.settings[1].scoreThreshold).toBe(0.25);
    const bad = n.setParameters([{ name: 'score_threshold', value: 2 }])[0];
    expect(bad.successful).toBe(false);
    expect(bad.reason).toMatch(/score_threshold.*out of range \[0, 1\]/);
    const dev = n.setParameters([{ name: 'device', value: 'tpu' }])[0];
    expect(dev.reason).toMatch(/allowed: auto, cuda, webgpu, cpu/);
    expect(n.setParameters([{ name: 'device', value: 'cuda' }])[0].successful).toBe(true);
    expect(pipeline.settings.at(-1)!.device).toBe('cuda');
    const stat = n.setParameters([{ name: 'model_path', value: '/x' }])[0];
    expect(stat.successful).toBe(false);
    expect(stat.reason).toMatch(/restart/);
    n.setParameters([{ name: 'queries', value: 'bowl,cup' }]);
    expect(node.queries()).toEqual(['bowl', 'cup']);
    n.setParameters([
      { name: 'publish_points', value: true },
      { name: 'publish_tf', value: true },
    ]);
    await frame(101n * SEC);
    const pts = rt.publications
      .filter((p) => p.topic === '/declip_node/points')
      .map((p) => codec.decode(p.type, p.data));
    expect(pts[0].width).toBe(8); // 4 instances x 2 points
    const tf = rt.publications.filter((p) => p.topic === '/tf').map((p) => codec.decode(p.type, p.data));
    expect(tf[0].transforms.map((t: { child_frame_id: string }) => t.child_frame_id)).toEqual([
      'declip/bowl/7',
      'declip/bowl/20',
      'declip/cup/8',
      'declip/cup/21',
    ]);
  });

  it('a bad parameter override fails at start-up naming the parameter', async () => {
    await expect(setup({ erosion_px: 99 })).rejects.toThrow(/erosion_px/);
  });

  it('publishes /diagnostics every period with rates, counters, device and model', async () => {
    const { rt, frame } = await setup();
    await frame(101n * SEC);
    rt.advanceBy(SEC);
    const diags = rt.publications
      .filter((p) => p.topic === '/diagnostics')
      .map((p) => codec.decode(p.type, p.data));
    expect(diags).toHaveLength(1);
    const st = diags[0].status[0];
    expect(st.level).toBe(0);
    const values = Object.fromEntries(
      st.values.map((kv: { key: string; value: string }) => [kv.key, kv.value]),
    );
    expect(values.frames_processed).toBe('1');
    expect(values.device).toBe('cpu');
    expect(values.model).toBe('fake');
    expect(values.input_rate_hz).toBe('1.00');
    rt.advanceBy(SEC);
    const d2 = rt.publications
      .filter((p) => p.topic === '/diagnostics')
      .map((p) => codec.decode(p.type, p.data));
    expect(d2[1].status[0].level).toBe(1);
    expect(d2[1].status[0].message).toMatch(/no synchronised colour\+depth frames/);
  });

  it('a bag loop (stamps jumping back) resets the synchroniser and processing continues', async () => {
    const { frame, pipeline, warnings, node } = await setup();
    await frame(200n * SEC);
    await frame(100n * SEC);
    expect(warnings().some((w) => /resetting the synchroniser/.test(w))).toBe(true);
    expect(pipeline.calls.map((c) => c.frame.stampNs)).toEqual([200n * SEC, 100n * SEC]);
    expect(node.stats().syncResets).toBe(1);
  });
});

describe('runReplay', () => {
  it('feeds recorded CDR with sim time and hands every publication to the sink', async () => {
    const msgs: ReplayMessage[] = [];
    for (let k = 0; k < 3; k++) {
      const t = 50n * SEC + BigInt(k) * (SEC / 2n);
      const add = (topic: string, type: string, m: unknown) =>
        msgs.push({ topic, type, logTimeNs: t, data: codec.encode(type, m) });
      add('/camera/color/camera_info', 'sensor_msgs/msg/CameraInfo', infoMsg(t));
      add('/camera/color/image_raw', 'sensor_msgs/msg/Image', colorMsg(t));
      add('/camera/aligned_depth_to_color/image_raw', 'sensor_msgs/msg/Image', depthMsg(t));
    }
    const seen: string[] = [];
    const pipeline = new FakePipeline();
    pipeline.gate = new Promise((r) => setTimeout(r, 5)); // slow pipeline: still no frame dropped
    const summary = await runReplay(msgs, {
      pipeline,
      parameters: { queries: 'mug' },
      onPublish: (r) => {
        seen.push(r.topic);
      },
    });
    expect(summary.messages).toBe(9);
    expect(summary.stats.processed).toBe(3);
    expect(summary.stats.dropped).toBe(0);
    expect(summary.publicationsByTopic['/declip_node/instances']).toBe(3);
    expect(summary.publicationsByTopic['/diagnostics']).toBe(1); // sim time advanced 1 s
    expect(seen.length).toBe(summary.publications);
  });
});
