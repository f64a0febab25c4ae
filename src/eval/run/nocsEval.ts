/**
 * NOCS-style category-level numbers of a REAL275 run (Wang et al. CVPR 2019 `compute_degree_cm_mAP`): every
 * task is one "image" with its query GT instance and, when the method produced one, one prediction (pose =
 * the estimate in the query frame, score = registration fitness, size = the GT size since the Oryon protocol
 * does not estimate sizes). Reports 3D IoU AP at 25 / 50 % and pose AP at 5°2cm, 5°5cm, 10°5cm, 10°10cm.
 */
import type { ConvertedDataset } from '../dataset';
import { composePoses } from '../metrics/linalg';
import { computeNocsMap, type NocsImageResult, type NocsMapResult } from '../metrics/nocs';
import type { PairRecord } from '../protocol/oryon';
import type { OryonPair } from '../protocol/pairs';

/** NOCS mAP over the tasks, or null when the dataset has no NOCS class ids (not REAL275). */
export function nocsMapOfRun(
  ds: ConvertedDataset,
  tasks: readonly OryonPair[],
  records: readonly PairRecord[],
): NocsMapResult | null {
  const byId = new Map(tasks.map((t) => [t.pairId, t]));
  const frames = new Map<string, ConvertedDataset['scenes'][number]['frames'][number]>();
  for (const s of ds.scenes) for (const f of s.frames) frames.set(`${s.sceneId}/${f.frameId}`, f);
  const images: NocsImageResult[] = [];
  for (const r of records) {
    const t = byId.get(r.pairId);
    if (!t) continue;
    const gt = frames
      .get(`${t.query.sceneId}/${t.query.frameId}`)
      ?.objects.find((o) => o.objectId === t.objectId);
    if (!gt || gt.classId === undefined || !gt.extentsM) return null;
    const gtBox = {
      classId: gt.classId,
      pose: t.query.poseGt,
      sizeM: gt.extentsM,
      handleVisible: gt.handleVisible ?? true,
    };
    const pred =
      r.status === 'ok' && r.estimateRel
        ? [
            {
              classId: gt.classId,
              score: typeof r.extra?.fitness === 'number' ? (r.extra.fitness as number) : 1,
              pose: composePoses(
                { R: Float64Array.from(r.estimateRel.R), tM: Float64Array.from(r.estimateRel.tM) },
                t.anchor.poseGt,
              ),
              sizeM: gt.extentsM,
            },
          ]
        : [];
    images.push({ gt: [gtBox], pred });
  }
  return images.length ? computeNocsMap(images) : null;
}
