/**
 * Synthetic sequence -> rosbag2 (MCAP or sqlite3) with RealSense topic names, CameraInfo, TF and ground truth.
 * Used by `declip synth --bag`, `npm run gen:test-bags` and the demo.
 */
import { createBagWriter, type BagWriter, type CreateBagOptions } from '../bag';
import { cameraInfoFromIntrinsics, depthMmToImageMsg, headerFromNs, rgbToImageMsg } from '../bag/image';
import { poseCompose, poseInverse } from '../geometry/linalg';
import { poseMsg } from '../node/messages';
import type { Pose } from '../types';
import type { SynthFrame, SynthSequence } from './sequence';

/** Topic names written into synthetic bags (RealSense ROS 2 wrapper naming). */
export const SYNTH_TOPICS = {
  color: '/camera/color/image_raw',
  colorInfo: '/camera/color/camera_info',
  depth: '/camera/aligned_depth_to_color/image_raw',
  depthInfo: '/camera/aligned_depth_to_color/camera_info',
  tfStatic: '/tf_static',
  tf: '/tf',
  groundTruth: '/ground_truth/objects',
  instanceMask: '/ground_truth/instance_mask',
} as const;

export const SYNTH_FRAMES = {
  world: 'world',
  cameraLink: 'camera_link',
  optical: 'camera_color_optical_frame',
} as const;

export interface SequenceBagOptions extends CreateBagOptions {
  /** Also write the ground-truth instance mask image (mono16, object ids) per frame (default true). */
  instanceMask?: boolean;
  /** Called after each frame is written. */
  onFrame?: (index: number) => void;
}

function transformMsg(p: Pose) {
  const m = poseMsg(p);
  return { translation: m.position, rotation: m.orientation };
}

/**
 * The optical frame (z forward, x right, y down) in camera_link (x forward, y left, z up): p_link = R p_optical.
 * This is the TF transform camera_link <- camera_color_optical_frame.
 */
const OPTICAL_IN_LINK: Pose = {
  R: new Float64Array([0, 0, 1, -1, 0, 0, 0, -1, 0]),
  tM: new Float64Array(3),
};
const LINK_IN_OPTICAL: Pose = poseInverse(OPTICAL_IN_LINK);

/** The GroundTruthObjectArray message of one frame. */
export function groundTruthMessage(f: SynthFrame, frameId: string = SYNTH_FRAMES.optical) {
  return {
    header: headerFromNs(f.stampNs, frameId),
    objects: f.objects.map((o) => ({
      instance_id: o.instanceId,
      mask_value: o.instanceId,
      category: o.category,
      caption: o.captions[0] ?? o.category,
      pose: poseMsg(o.poseCam),
      size: { x: o.sizeM[0], y: o.sizeM[1], z: o.sizeM[2] },
      model_name: o.modelName,
      symmetric: o.symmetry.kind !== 'none',
    })),
  };
}

/** Writes every frame of a sequence to an open writer (topics are added first). */
export async function writeSequence(
  w: BagWriter,
  seq: SynthSequence,
  opts: SequenceBagOptions = {},
): Promise<void> {
  const T = SYNTH_TOPICS;
  await w.addTopic(T.color, 'sensor_msgs/msg/Image');
  await w.addTopic(T.colorInfo, 'sensor_msgs/msg/CameraInfo');
  await w.addTopic(T.depth, 'sensor_msgs/msg/Image');
  await w.addTopic(T.depthInfo, 'sensor_msgs/msg/CameraInfo');
  await w.addTopic(T.tfStatic, 'tf2_msgs/msg/TFMessage');
  await w.addTopic(T.tf, 'tf2_msgs/msg/TFMessage');
  await w.addTopic(T.groundTruth, 'declip_ros/msg/GroundTruthObjectArray');
  const withMask = opts.instanceMask ?? true;
  if (withMask) await w.addTopic(T.instanceMask, 'sensor_msgs/msg/Image');
  const first = seq.frames[0]?.stampNs ?? 0n;
  await w.write(T.tfStatic, first, {
    transforms: [
      {
        header: headerFromNs(first, SYNTH_FRAMES.cameraLink),
        child_frame_id: SYNTH_FRAMES.optical,
        transform: transformMsg(OPTICAL_IN_LINK),
      },
    ],
  });
  for (const f of seq.frames) {
    const t = f.stampNs;
    const hdr = headerFromNs(t, SYNTH_FRAMES.optical);
    // TF world <- camera_link: (world <- optical) * (optical <- camera_link)
    const linkInWorld = poseCompose(f.camPoseWorld, LINK_IN_OPTICAL);
    await w.write(T.tf, t, {
      transforms: [
        {
          header: headerFromNs(t, SYNTH_FRAMES.world),
          child_frame_id: SYNTH_FRAMES.cameraLink,
          transform: transformMsg(linkInWorld),
        },
      ],
    });
    await w.write(T.colorInfo, t, cameraInfoFromIntrinsics(f.camera, hdr));
    await w.write(T.depthInfo, t, cameraInfoFromIntrinsics(f.camera, hdr));
    await w.write(T.color, t, rgbToImageMsg(f.rgb, hdr));
    await w.write(T.depth, t, depthMmToImageMsg(f.depthMm, f.camera.width, f.camera.height, hdr));
    await w.write(T.groundTruth, t, groundTruthMessage(f));
    if (withMask) {
      const m = f.instanceMask;
      await w.write(T.instanceMask, t, {
        header: hdr,
        height: f.camera.height,
        width: f.camera.width,
        encoding: 'mono16',
        is_bigendian: 0,
        step: f.camera.width * 2,
        data: new Uint8Array(m.buffer, m.byteOffset, m.byteLength),
      });
    }
    opts.onFrame?.(f.index);
  }
}

/** Writes a synthetic sequence to a new bag (directory bag, or a single .mcap / .db3 file). */
export async function writeSequenceBag(
  seq: SynthSequence,
  bagPath: string,
  opts: SequenceBagOptions = {},
): Promise<void> {
  const w = await createBagWriter(bagPath, opts);
  try {
    await writeSequence(w, seq, opts);
  } finally {
    await w.close();
  }
}
