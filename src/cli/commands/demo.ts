import * as fs from 'fs';
import * as path from 'path';
import type { Command } from 'commander';
import { imageToRgb, intrinsicsFromCameraInfo } from '../../bag/image';
import { decodeMessage } from '../../bag/codecs';
import { buildReportHtml, type ReportTable, type ReportThumbnail } from '../../eval/report/html';
import { stampNs } from '../../node/messages';
import { DEFAULT_MODEL_DIR, createDeclipPipeline, queryFileStem } from '../../node/declipPipeline';
import { quatToMat3 } from '../../geometry/linalg';
import { computeDiameter } from '../../geometry/pointcloud';
import { addsError, rotationErrorDeg } from '../../pose/metrics';
import { loadObjectModelFile } from '../../pose/models';
import { DEMO_QUERIES } from '../../synth/fixtures';
import type { CameraIntrinsics, Pose, RgbImage } from '../../types';
import { renderOverlayPng, type OverlayMask, type OverlayObject } from '../overlay';
import { CliError, EXIT } from '../util';
import { replayBag } from './replay';

const REPO = path.resolve(__dirname, '..', '..', '..');
export const DEMO_BAG = path.join(REPO, 'test', 'bags', 'demo');
export const DEMO_MODELS = path.join(REPO, 'test', 'bags', 'demo_models');

export interface DemoOptions {
  bag?: string;
  model?: string;
  modelsDir?: string;
  queries?: string[];
  outDir?: string;
  device?: string;
  /** 'auto' (model for queries with a mesh in modelsDir, else box) or any pose_method. */
  poseMethod?: string;
  quiet?: boolean;
  /** Frames shown as overlays in demo.html. */
  thumbnails?: number;
}

interface PoseMsg {
  position: { x: number; y: number; z: number };
  orientation: { x: number; y: number; z: number; w: number };
}

function poseFromMsg(p: PoseMsg): Pose {
  const { x, y, z, w } = p.orientation;
  return { R: quatToMat3([w, x, y, z]), tM: new Float64Array([p.position.x, p.position.y, p.position.z]) };
}

/** Centre of an object's bounding box in the camera frame (synthetic objects: base at z = 0, centred in x, y). */
function gtCentre(pose: Pose, size: { z: number }): number[] {
  return [0, 1, 2].map((k) => pose.R[3 * k + 2] * size.z * 0.5 + pose.tM[k]);
}

export interface DemoInstanceRow {
  frame: number;
  stampS: number;
  query: string;
  found: boolean;
  instanceId: number;
  poseSource: string;
  score: number;
  fitness: number;
  /** Matched ground-truth caption ('' when the query matches no object). */
  gtCaption: string;
  /** Distance between estimated and GT box centres, metres. */
  centreErrorM: number | null;
  /** ADD-S (model mode, with the object's mesh), metres, and as a fraction of the diameter. */
  addsM: number | null;
  addsOverDiameter: number | null;
  rotationErrorDeg: number | null;
  graspWidthM: number | null;
}

export interface DemoResult {
  rows: DemoInstanceRow[];
  frames: number;
  out: { mcap: string; html: string; json: string };
  timingsMs: Record<string, number>;
  summary: Record<
    string,
    { found: number; frames: number; medianCentreErrorMm: number | null; addsBelow10pct: number | null }
  >;
  device: string;
  model: string;
}

const median = (v: number[]): number | null => {
  if (!v.length) return null;
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : 0.5 * (s[s.length / 2 - 1] + s[s.length / 2]);
};

const COLOURS = ['#ff4040', '#40a0ff', '#40e040', '#ffd040', '#ff40ff', '#40ffff'];

/**
 * The demo: replays the bundled synthetic bag through the node core with the embedded model, compares every
 * instance with the ground truth, and writes out/demo.mcap (all publications) and out/demo.html (overlays).
 */
export async function runDemo(o: DemoOptions = {}): Promise<DemoResult> {
  const bag = o.bag ?? DEMO_BAG;
  const model = o.model ?? DEFAULT_MODEL_DIR;
  const modelsDir = o.modelsDir ?? (o.bag ? undefined : DEMO_MODELS);
  const queries = o.queries ?? DEMO_QUERIES;
  const outDir = o.outDir ?? 'out';
  if (!fs.existsSync(path.join(model, 'model.json'))) {
    throw new CliError(
      model === DEFAULT_MODEL_DIR
        ? `the embedded model is missing (${model}); rebuild it with 'npm run train:default' or pass --model <package>`
        : `--model ${model}: no model.json there; pass a package made by 'declip export'`,
      EXIT.BAD_INPUT,
    );
  }
  if (!fs.existsSync(bag))
    throw new CliError(`--bag ${bag} does not exist; regenerate with 'npm run gen:test-bags'`);
  fs.mkdirSync(outDir, { recursive: true });
  const mcap = path.join(outDir, 'demo.mcap');
  const html = path.join(outDir, 'demo.html');
  const json = path.join(outDir, 'demo.json');

  // ground truth and images by stamp (captured as the bag streams through)
  const gtByStamp = new Map<
    bigint,
    { caption: string; pose: Pose; size: { x: number; y: number; z: number }; model: string }[]
  >();
  const rgbByStamp = new Map<bigint, RgbImage>();
  let camera: CameraIntrinsics | undefined;
  const instancesByStamp = new Map<
    bigint,
    { query: string; instances: Record<string, any>[]; timing: Record<string, number> }[]
  >();
  const stampOf = (h: { stamp: { sec: number; nanosec: number } }) => stampNs(h.stamp);
  const log = (s: string) => {
    if (!o.quiet) console.log(s);
  };
  const models = new Map<string, { points: Float32Array; diameter: number }>();
  if (modelsDir && fs.existsSync(modelsDir)) {
    for (const f of fs.readdirSync(modelsDir)) {
      if (!f.endsWith('.ply')) continue;
      const m = loadObjectModelFile(f, path.join(modelsDir, f), { scaleToM: 0.001, samples: 2000 });
      models.set(path.basename(f, '.ply'), { points: m.pointsM, diameter: computeDiameter(m.pointsM) });
    }
  }
  const rows: DemoInstanceRow[] = [];
  let frameIndex = 0;
  const stamps: bigint[] = [];
  const t0 = Date.now();
  const pipeline = createDeclipPipeline();
  let describe = { device: '?', model: '?' };
  const res = await replayBag({
    pipeline,
    bag,
    out: mcap,
    overwrite: true,
    queries: queries.join(', '),
    modelPath: model,
    device: o.device ?? 'auto',
    poseMethod: o.poseMethod ?? 'auto',
    modelsDir: modelsDir && fs.existsSync(modelsDir) ? modelsDir : undefined,
    params: { score_threshold: 0.3 },
    quiet: o.quiet,
    onInput: (m) => {
      if (m.topic === '/ground_truth/objects') {
        const g = decodeMessage(m.type, m.data);
        gtByStamp.set(
          stampOf(g.header),
          g.objects.map(
            (x: {
              caption: string;
              pose: PoseMsg;
              size: { x: number; y: number; z: number };
              category: string;
            }) => ({
              caption: x.caption.replace(/^an? /, ''),
              pose: poseFromMsg(x.pose),
              size: x.size,
              model: queryFileStem(x.caption.replace(/^an? /, '')),
            }),
          ),
        );
      } else if (m.topic === '/camera/color/image_raw') {
        const img = decodeMessage(m.type, m.data);
        rgbByStamp.set(stampOf(img.header), imageToRgb(img));
      } else if (m.topic === '/camera/color/camera_info' && !camera) {
        camera = intrinsicsFromCameraInfo(decodeMessage(m.type, m.data));
      }
    },
    onPublish: (r) => {
      if (!r.topic.endsWith('/instances')) return;
      if (describe.device === '?') describe = pipeline.describe();
      const a = decodeMessage(r.type, r.data);
      const stamp = stampOf(a.header);
      const list = instancesByStamp.get(stamp) ?? [];
      if (!instancesByStamp.has(stamp)) stamps.push(stamp);
      list.push({
        query: a.query,
        instances: a.instances,
        timing: {
          preprocess: a.preprocess_ms,
          features: a.features_ms,
          masks: a.masks_ms,
          instances: a.instances_ms,
          pose: a.pose_ms,
          total: a.total_ms,
        },
      });
      instancesByStamp.set(stamp, list);
    },
  });

  // ground truth arrives after the images of its frame, so compare once everything has been replayed
  for (const stamp of stamps) {
    const list = instancesByStamp.get(stamp)!;
    // all queries of this frame are in: compare with the ground truth and print one line per query
    const gts = gtByStamp.get(stamp) ?? [];
    const parts: string[] = [];
    for (const q of list) {
      const gt = gts.find((g) => g.caption === q.query) ?? gts.find((g) => g.caption.includes(q.query));
      const inst = q.instances[0];
      const row: DemoInstanceRow = {
        frame: frameIndex,
        stampS: Number(stamp - (stamps[0] ?? stamp)) / 1e9,
        query: q.query,
        found: Boolean(inst),
        instanceId: inst?.instance_id ?? 0,
        poseSource: inst?.pose_source ?? '',
        score: inst?.score ?? 0,
        fitness: inst?.fitness ?? 0,
        gtCaption: gt?.caption ?? '',
        centreErrorM: null,
        addsM: null,
        addsOverDiameter: null,
        rotationErrorDeg: null,
        graspWidthM: inst?.grasp_valid ? inst.grasp_width : null,
      };
      if (inst && gt) {
        const est = poseFromMsg(inst.pose);
        const mdl = models.get(gt.model);
        if (inst.pose_source === 'model' && mdl) {
          row.addsM = addsError(est, gt.pose, mdl.points);
          row.addsOverDiameter = row.addsM / mdl.diameter;
          row.rotationErrorDeg = rotationErrorDeg(est, gt.pose);
          const c = gtCentre(gt.pose, gt.size);
          const ce = gtCentre(est, gt.size);
          row.centreErrorM = Math.hypot(c[0] - ce[0], c[1] - ce[1], c[2] - ce[2]);
        } else {
          // box pose: its origin is the box centre
          const c = gtCentre(gt.pose, gt.size);
          row.centreErrorM = Math.hypot(c[0] - est.tM[0], c[1] - est.tM[1], c[2] - est.tM[2]);
        }
      }
      rows.push(row);
      parts.push(
        !inst
          ? `${q.query}: not found`
          : `${q.query}: #${row.instanceId} ${row.poseSource} score ${row.score.toFixed(2)}` +
              (row.addsOverDiameter !== null
                ? ` ADD-S ${(row.addsM! * 1000).toFixed(1)} mm (${(row.addsOverDiameter * 100).toFixed(1)}% d)`
                : '') +
              (row.centreErrorM !== null
                ? ` centre err ${(row.centreErrorM * 1000).toFixed(1)} mm`
                : ' (no GT match)') +
              (row.graspWidthM !== null ? ` grasp ${(row.graspWidthM * 100).toFixed(1)} cm` : ''),
      );
    }
    log(
      `frame ${String(frameIndex).padStart(2)} | ${parts.join(' | ')} | ${list[0].timing.total.toFixed(0)} ms`,
    );
    frameIndex++;
  }
  await pipeline.dispose();
  // timings: median per stage over frames
  const timingsMs: Record<string, number> = {};
  for (const k of ['preprocess', 'features', 'masks', 'instances', 'pose', 'total']) {
    timingsMs[k] = median([...instancesByStamp.values()].map((l) => l[0].timing[k])) ?? 0;
  }
  const summary: DemoResult['summary'] = {};
  for (const q of queries) {
    const r = rows.filter((x) => x.query === q);
    const adds = r.filter((x) => x.addsOverDiameter !== null);
    summary[q] = {
      found: r.filter((x) => x.found).length,
      frames: r.length,
      medianCentreErrorMm: ((v) => (v === null ? null : v * 1000))(
        median(r.filter((x) => x.centreErrorM !== null).map((x) => x.centreErrorM!)),
      ),
      addsBelow10pct: adds.length ? adds.filter((x) => x.addsOverDiameter! < 0.1).length / adds.length : null,
    };
  }

  // overlays of a few frames
  const thumbs: ReportThumbnail[] = [];
  const nThumb = Math.min(o.thumbnails ?? 4, stamps.length);
  for (let i = 0; i < nThumb; i++) {
    const stamp = stamps[Math.round((i * (stamps.length - 1)) / Math.max(1, nThumb - 1))];
    const rgb = rgbByStamp.get(stamp);
    if (!rgb || !camera) continue;
    const objects: OverlayObject[] = [];
    const masks: OverlayMask[] = [];
    (instancesByStamp.get(stamp) ?? []).forEach((q, qi) => {
      const colour = COLOURS[qi % COLOURS.length];
      for (const inst of q.instances.slice(0, 3)) {
        const s = inst.size;
        const pose = poseFromMsg(inst.pose);
        const model = inst.pose_source === 'model';
        objects.push({
          label: `${q.query} #${inst.instance_id} (${inst.pose_source})`,
          pose,
          // model poses: the synthetic objects' frames have the base at z = 0; box poses are centred
          boxMinM: model ? [-s.x / 2, -s.y / 2, 0] : [-s.x / 2, -s.y / 2, -s.z / 2],
          boxMaxM: model ? [s.x / 2, s.y / 2, s.z] : [s.x / 2, s.y / 2, s.z / 2],
          color: colour,
        });
        if (inst.mask?.width > 0) {
          masks.push({
            x: inst.roi.x_offset,
            y: inst.roi.y_offset,
            width: inst.mask.width,
            height: inst.mask.height,
            data: inst.mask.data,
            color: colour,
          });
        }
      }
    });
    const png = await renderOverlayPng(rgb, camera, objects, masks);
    thumbs.push({
      caption: `frame ${stamps.indexOf(stamp)}`,
      dataUri: `data:image/png;base64,${png.toString('base64')}`,
    });
  }
  const table: ReportTable = {
    caption: 'Per frame and query (first instance)',
    headers: [
      'frame',
      'query',
      'found',
      'id',
      'pose',
      'score',
      'fitness',
      'centre err (mm)',
      'ADD-S (mm)',
      'ADD-S / d',
      'rot err (deg)',
      'grasp (cm)',
    ],
    rows: rows.map((r) => [
      r.frame,
      r.query,
      r.found ? 'yes' : 'no',
      r.instanceId,
      r.poseSource,
      r.score,
      r.fitness,
      r.centreErrorM === null ? null : r.centreErrorM * 1000,
      r.addsM === null ? null : r.addsM * 1000,
      r.addsOverDiameter,
      r.rotationErrorDeg,
      r.graspWidthM === null ? null : r.graspWidthM * 100,
    ]),
  };
  const page = buildReportHtml({
    title: 'declip-ros demo',
    notes:
      `Replay of ${path.relative(process.cwd(), bag) || bag} through the declip_node core with ${describe.model} on ${describe.device}. ` +
      'The embedded model was trained here on the synthetic world only; it knows nothing else. ' +
      'Boxes: projected 3D boxes and axes (x red, y green, z blue) of the estimated poses; tinted pixels: instance masks.',
    summary: {
      frames: stamps.length,
      queries: queries.join(', '),
      'median total ms / frame': timingsMs.total,
      ...Object.fromEntries(
        queries.flatMap((q) => [
          [`${q}: found`, `${summary[q].found}/${summary[q].frames}`],
          [`${q}: median centre error (mm)`, summary[q].medianCentreErrorMm],
          [`${q}: ADD-S < 0.1 d`, summary[q].addsBelow10pct],
        ]),
      ),
    },
    tables: [
      table,
      {
        caption: 'Median stage timings (ms)',
        headers: Object.keys(timingsMs),
        rows: [Object.values(timingsMs)],
      },
    ],
    thumbnails: thumbs,
  });
  // the demo's overlays are the point of the page: show them at full size
  fs.writeFileSync(html, page.replace('.thumbs img{max-width:240px;', '.thumbs img{max-width:640px;'));
  const result: DemoResult = {
    rows,
    frames: stamps.length,
    out: { mcap, html, json },
    timingsMs,
    summary,
    device: describe.device,
    model: describe.model,
  };
  fs.writeFileSync(
    json,
    JSON.stringify({ ...result, replay: { messages: res.messages, stats: res.stats } }, null, 2),
  );
  log(
    `\n${stamps.length} frames in ${((Date.now() - t0) / 1000).toFixed(1)} s (median ${timingsMs.total.toFixed(0)} ms/frame: ` +
      `preprocess ${timingsMs.preprocess.toFixed(0)}, features ${timingsMs.features.toFixed(0)}, masks ${timingsMs.masks.toFixed(0)}, ` +
      `3D ${timingsMs.instances.toFixed(0)}, pose ${timingsMs.pose.toFixed(0)}) on ${describe.device}`,
  );
  for (const q of queries) {
    const s = summary[q];
    log(
      `${q}: found in ${s.found}/${s.frames} frames; median centre error ${s.medianCentreErrorMm === null ? '-' : s.medianCentreErrorMm.toFixed(1) + ' mm'}` +
        (s.addsBelow10pct !== null
          ? `; ADD-S < 0.1 d in ${(s.addsBelow10pct * 100).toFixed(0)}% of model-mode frames`
          : ''),
    );
  }
  log(`wrote ${mcap} (open in Foxglove), ${html}, ${json}`);
  return result;
}

export function registerDemoCommands(program: Command): void {
  program
    .command('demo')
    .description(
      'replay the bundled synthetic bag with the embedded model; print instances with pose errors; write out/demo.{mcap,html,json}',
    )
    .option('--bag <path>', 'bag to replay (default test/bags/demo)')
    .option('--model <dir>', 'model package (default models/tiny-synth, the embedded model)')
    .option(
      '--models-dir <dir>',
      'object meshes for model mode (default test/bags/demo_models with the default bag)',
    )
    .option('-q, --query <text>', `comma-separated queries (default "${DEMO_QUERIES.join(', ')}")`)
    .option('--device <d>', 'auto | cuda | webgpu | cpu', 'auto')
    .option('--pose-method <m>', 'auto | model | anchor | box', 'auto')
    .option('--out-dir <dir>', 'output directory', 'out')
    .action(
      async (opts: {
        bag?: string;
        model?: string;
        modelsDir?: string;
        query?: string;
        device: string;
        poseMethod: string;
        outDir: string;
      }) => {
        await runDemo({
          bag: opts.bag,
          model: opts.model,
          modelsDir: opts.modelsDir,
          queries: opts.query
            ? opts.query
                .split(',')
                .map((q) => q.trim())
                .filter(Boolean)
            : undefined,
          device: opts.device,
          poseMethod: opts.poseMethod,
          outDir: opts.outDir,
        });
      },
    );
}
