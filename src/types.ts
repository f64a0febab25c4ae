/**
 * Core types shared by every module. Pure data over typed arrays; units are in the names.
 * Conventions:
 *  - Images are row-major, top-left origin. RGB is packed rgb8 (3 bytes per pixel, no padding).
 *  - Depth is metres as Float32Array (0 or NaN = invalid) once it has crossed an adapter.
 *  - Poses map object (or child) coordinates to camera (or parent) coordinates: p_cam = R * p_obj + t.
 *    R is a row-major 3x3 rotation in a Float64Array(9); translations are in metres unless named `Mm`.
 *  - Timestamps are nanoseconds as bigint (ROS time).
 */

/** Pinhole camera, same meaning as sensor_msgs/CameraInfo (K = [fx 0 cx; 0 fy cy; 0 0 1]). */
export interface CameraIntrinsics {
  width: number;
  height: number;
  fx: number;
  fy: number;
  cx: number;
  cy: number;
  /** 'plumb_bob' | 'rational_polynomial' | '' (none). */
  distortionModel?: string;
  /** Distortion coefficients (k1 k2 t1 t2 k3 ...) as in CameraInfo.d. Empty or all zero = none. */
  d?: number[];
}

/** REAL275 (NOCS) camera, also the synthetic world's default. */
export const REAL275_INTRINSICS: CameraIntrinsics = {
  width: 640,
  height: 480,
  fx: 591.0125,
  fy: 590.16775,
  cx: 322.525,
  cy: 244.11084,
  distortionModel: 'plumb_bob',
  d: [0, 0, 0, 0, 0],
};

export interface RgbImage {
  width: number;
  height: number;
  /** Packed rgb8, length width*height*3. */
  data: Uint8Array;
}

/** Rigid transform, p_parent = R * p_child + tM. */
export interface Pose {
  /** Row-major 3x3 rotation. */
  R: Float64Array;
  /** Translation in metres. */
  tM: Float64Array;
}

/** One synchronised RGB-D observation, the unit of work of the pipeline. */
export interface Frame {
  stampNs: bigint;
  /** Optical frame id of the colour camera (depth is aligned to colour). */
  frameId: string;
  rgb: RgbImage;
  /** Depth aligned to rgb, metres, length width*height; 0 or NaN = invalid. */
  depthM: Float32Array;
  camera: CameraIntrinsics;
}
