/**
 * Reading a converted dataset (see convert/format.ts): the index (dataset.json + the GT topic of every scene
 * bag), the model set (models.json + mesh files) and single frames as raw CDR messages for replay.
 */
import * as fs from 'fs';
import * as path from 'path';
import { imageToTypedArray, openBag, type BagReader } from '../bag';
import type { ReplayMessage } from '../node/replay';
import { parseObj, parsePly, sampleMeshSurface } from '../pose/models';
import type { Mesh } from '../synth/mesh';
import { getSymmetryTransformations } from './metrics/symmetry';
import type { EvalObjectModel } from './protocol/oryon';
import type { ObjectObservation } from './protocol/pairs';
import {
  EvalDatasetError,
  readJsonFile,
  TOPICS,
  type DatasetJson,
  type GtFrame,
  type ModelsJson,
  type StoredModel,
} from './convert/format';

export interface SceneIndex {
  sceneId: string;
  bagPath: string;
  frames: GtFrame[];
}

export interface ConvertedDataset {
  root: string;
  info: DatasetJson;
  models: ModelsJson;
  scenes: SceneIndex[];
}

/** Opens a converted dataset: dataset.json, models/models.json and the GT topic of every scene bag. */
export async function openConvertedDataset(root: string): Promise<ConvertedDataset> {
  const info = readJsonFile<DatasetJson>(
    path.join(root, 'dataset.json'),
    'dataset.json (convert the dataset first: declip eval convert)',
  );
  const models = readJsonFile<ModelsJson>(path.join(root, 'models', 'models.json'), 'models/models.json');
  const scenes: SceneIndex[] = [];
  for (const s of info.scenes) {
    const bagPath = path.join(root, s.bag);
    if (!fs.existsSync(bagPath)) {
      throw new EvalDatasetError(`scene ${s.sceneId}: bag missing; re-run declip eval convert`, [bagPath]);
    }
    const r = await openBag(bagPath);
    const frames: GtFrame[] = [];
    try {
      for await (const m of r.messages({ topics: [TOPICS.gt] })) {
        frames.push(JSON.parse((m.decode() as { data: string }).data) as GtFrame);
      }
    } finally {
      await r.close();
    }
    scenes.push({ sceneId: s.sceneId, bagPath, frames });
  }
  return { root, info, models, scenes };
}

/** Every GT object instance of every frame, as Oryon observations. */
export function observationsOf(ds: ConvertedDataset): ObjectObservation[] {
  const out: ObjectObservation[] = [];
  for (const s of ds.scenes) {
    for (const f of s.frames) {
      for (const o of f.objects) {
        out.push({
          sceneId: s.sceneId,
          frameId: f.frameId,
          objectId: o.objectId,
          prompt: o.prompt,
          poseGt: { R: Float64Array.from(o.R), tM: Float64Array.from(o.tM) },
          visibFract: o.visibFract,
        });
      }
    }
  }
  return out;
}

/** An evaluation model: points for ADD/MSSD/MSPD, the mesh for VSD rendering, diameter and symmetries. */
export interface LoadedModel extends EvalObjectModel<Mesh> {
  objectId: string;
  stored: StoredModel;
  mesh: Mesh;
}

/** Loads one model of the set (mesh in metres, up to `maxPoints` vertices/surface samples for the metrics). */
export function loadEvalModel(ds: ConvertedDataset, objectId: string, maxPoints = 1000): LoadedModel {
  const st = ds.models.objects[objectId];
  if (!st) throw new EvalDatasetError(`object ${objectId} is not in models/models.json`);
  const file = path.join(ds.root, 'models', st.file);
  if (!fs.existsSync(file)) throw new EvalDatasetError('model file missing', [file]);
  const buf = fs.readFileSync(file);
  const md = file.endsWith('.ply')
    ? parsePly(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength))
    : parseObj(buf.toString('utf8'));
  const s = st.scaleToM;
  const positionsM = Float32Array.from(md.vertices, (v) => v * s);
  const mesh: Mesh = { positionsM, indices: md.triangles };
  // bop_toolkit evaluates on the model vertices; subsample uniformly over the surface when there are many.
  let pointsM: Float64Array;
  const nv = positionsM.length / 3;
  if (nv <= maxPoints || md.triangles.length === 0) pointsM = Float64Array.from(positionsM);
  else pointsM = Float64Array.from(sampleMeshSurface(md, maxPoints, 1).points, (v) => v * s);
  const symmetries = getSymmetryTransformations(
    st.symmetries
      ? {
          discrete: st.symmetries.discrete,
          continuous: st.symmetries.continuous?.map((c) => ({ axis: c.axis, offsetM: c.offsetM })),
        }
      : undefined,
  );
  return { objectId, stored: st, mesh, pointsM, diameterM: st.diameterM, symmetries, renderModel: mesh };
}

/** Reads the messages of one frame (all topics at its stamp) from an open bag. */
export async function readFrameMessages(
  bag: BagReader,
  stampNs: bigint,
): Promise<{ replay: ReplayMessage[]; gtMask: Uint16Array | null; gt: GtFrame | null }> {
  const replay: ReplayMessage[] = [];
  let gtMask: Uint16Array | null = null;
  let gt: GtFrame | null = null;
  for await (const m of bag.messages({ startNs: stampNs, endNs: stampNs })) {
    if (m.topic === TOPICS.gtMask) {
      gtMask = imageToTypedArray(m.decode()).data as Uint16Array;
    } else if (m.topic === TOPICS.gt) {
      gt = JSON.parse((m.decode() as { data: string }).data) as GtFrame;
    } else {
      replay.push({ topic: m.topic, type: m.type, logTimeNs: m.logTimeNs, data: m.data });
    }
  }
  // camera_info first, so the node knows the camera when the images arrive
  replay.sort((a, b) => (a.topic === TOPICS.cameraInfo ? -1 : 0) - (b.topic === TOPICS.cameraInfo ? -1 : 0));
  return { replay, gtMask, gt };
}
