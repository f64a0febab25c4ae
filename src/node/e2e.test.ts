/** @jest-environment ./src/perception/ort-jest-environment.ts */
/**
 * The whole node on the in-process runtime with the real pipeline (Perceiver + PosePipeline): synthetic frames go
 * in as CDR, results come out as CDR and are decoded and checked against the ground truth.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { cameraInfoFromIntrinsics, depthMmToImageMsg, headerFromNs, rgbToImageMsg } from '../bag/image';
import { generateSequence, meshToPly, type SynthFrame } from '../synth';
import { defaultCodec } from './codec';
import { createDeclipPipeline } from './declipPipeline';
import { InProcRuntime } from './inproc';
import { analyticPackage, paintPure } from './testutil';
import { DeclipNode } from './node';

const codec = defaultCodec();

describe('declip_node end to end (real pipeline, CDR in -> CDR out)', () => {
  const seq = generateSequence({
    seed: 21,
    numFrames: 3,
    objects: [
      { category: 'box', colour: 'red', texture: 'plain', boxSizeM: [0.06, 0.05, 0.09] },
      { category: 'box', colour: 'blue', texture: 'plain', boxSizeM: [0.07, 0.07, 0.07] },
    ],
  });
  const red = seq.frames[0].objects.find((o) => o.colour === 'red')!;

  async function start(params: Record<string, string | number | boolean>) {
    const rt = new InProcRuntime({
      startTimeNs: seq.frames[0].stampNs,
      parameterOverrides: params,
      serviceCodec: codec,
    });
    const pipeline = createDeclipPipeline({ device: 'cpu' });
    const node = await DeclipNode.create({ runtime: rt, codec, pipeline });
    const send = async (f: SynthFrame) => {
      rt.advanceTo(f.stampNs);
      const h = headerFromNs(f.stampNs, 'camera_color_optical_frame');
      const pub = (topic: string, type: string, msg: unknown) =>
        rt.publish(topic, type, codec.encode(type, msg));
      pub('/camera/color/camera_info', 'sensor_msgs/msg/CameraInfo', cameraInfoFromIntrinsics(f.camera, h));
      pub(
        '/camera/color/image_raw',
        'sensor_msgs/msg/Image',
        rgbToImageMsg({ ...f.rgb, data: paintPure(f) }, h),
      );
      pub(
        '/camera/aligned_depth_to_color/image_raw',
        'sensor_msgs/msg/Image',
        depthMmToImageMsg(f.depthMm, f.camera.width, f.camera.height, h),
      );
      await node.idle();
    };
    const decoded = (topic: string) =>
      rt.publications.filter((p) => p.topic === topic).map((p) => codec.decode(p.type, p.data));
    return { rt, node, pipeline, send, decoded };
  }

  it('publishes instances with model poses near the ground truth, detections, markers and a grasp target', async () => {
    const modelsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'declip-e2e-models-'));
    fs.writeFileSync(path.join(modelsDir, 'red.ply'), meshToPly(red.mesh));
    const { node, pipeline, send, decoded } = await start({
      queries: 'red, blue',
      model_path: analyticPackage(),
      device: 'cpu',
      models_dir: modelsDir,
    });
    for (const f of seq.frames) await send(f);
    const arrays = decoded('/declip_node/instances');
    expect(arrays).toHaveLength(6);
    const lastRed = arrays.filter((a) => a.query === 'red').pop();
    const inst = lastRed.instances[0];
    expect(inst.pose_source).toBe('model');
    expect(inst.instance_id).toBeGreaterThan(0);
    // a box maps onto itself under 180° flips that move its base-centred origin, so compare the box centres
    const g = seq.frames[2].objects.find((o) => o.colour === 'red')!.poseCam;
    const centre = (R: ArrayLike<number>, t: ArrayLike<number>) =>
      [0, 1, 2].map((k) => R[3 * k + 2] * 0.045 + t[k]);
    const q = inst.pose.orientation;
    const Rq = [
      1 - 2 * (q.y * q.y + q.z * q.z),
      2 * (q.x * q.y - q.z * q.w),
      2 * (q.x * q.z + q.y * q.w),
      2 * (q.x * q.y + q.z * q.w),
      1 - 2 * (q.x * q.x + q.z * q.z),
      2 * (q.y * q.z - q.x * q.w),
      2 * (q.x * q.z - q.y * q.w),
      2 * (q.y * q.z + q.x * q.w),
      1 - 2 * (q.x * q.x + q.y * q.y),
    ];
    const ce = centre(Rq, [inst.pose.position.x, inst.pose.position.y, inst.pose.position.z]);
    const cg = centre(g.R, g.tM);
    // the tracker smooths poses over frames while the camera moves, so allow 1.5 cm
    expect(Math.hypot(ce[0] - cg[0], ce[1] - cg[1], ce[2] - cg[2])).toBeLessThan(0.015);
    // the track id is stable across the three frames
    const ids = arrays.filter((a) => a.query === 'red').map((a) => a.instances[0].instance_id);
    expect(new Set(ids).size).toBe(1);
    // (the blue box is occluded in the last frame; frame 0 sees it whole)
    const blue = arrays.find((a) => a.query === 'blue').instances[0];
    expect(blue.pose_source).toBe('box');
    expect(blue.grasp_valid).toBe(true);
    expect(blue.grasp_width).toBeGreaterThan(0.05);
    expect(blue.grasp_width).toBeLessThan(0.09);
    const grasps = decoded('/declip_node/grasp');
    expect(grasps.length).toBe(3);
    expect(grasps[0].header.frame_id).toBe('camera_color_optical_frame');
    expect(decoded('/declip_node/detections')[0].detections.length).toBe(2);
    expect(decoded('/declip_node/markers')[0].markers.length).toBeGreaterThan(0);
    const mask = decoded('/declip_node/mask')[0];
    expect([mask.width, mask.height]).toEqual([640, 480]);
    expect(node.stats().processed).toBe(3);
    await node.destroy();
    await pipeline.dispose();
  });

  it('~/set_anchor saves an anchor from the current frame and ~/locate answers a one-shot query', async () => {
    const anchorsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'declip-e2e-anchors-'));
    const { rt, node, pipeline, send } = await start({
      queries: '',
      model_path: analyticPackage(),
      device: 'cpu',
      anchors_dir: anchorsDir,
    });
    await send(seq.frames[0]);
    const a = await rt.callService('/declip_node/set_anchor', {
      name: 'red',
      query: 'red',
      use_current_frame: true,
    });
    expect(a.message).toMatch(/saved/);
    expect(a.success).toBe(true);
    expect(fs.readdirSync(anchorsDir)).toEqual(['red.anchor']);
    const pending = rt.callService('/declip_node/locate', { query: 'blue', timeout_s: 5, max_instances: 1 });
    await Promise.resolve();
    await send(seq.frames[1]);
    const res = await pending;
    expect(res.success).toBe(true);
    expect(res.result.instances).toHaveLength(1);
    expect(res.result.instances[0].label).toBe('blue');
    await node.destroy();
    await pipeline.dispose();
  });
});
