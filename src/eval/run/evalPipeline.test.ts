/** @jest-environment ./src/perception/ort-jest-environment.ts */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DEFAULT_BACKGROUND_PROMPTS, Perceiver } from '../../perception';
import type { Frame } from '../../types';
import { synthEvalSequences } from '../fixtures';
import { backgroundPromptsFor, EvalPipeline } from './evalPipeline';

const ANALYTIC = path.join(__dirname, '../../../test/models/tiny-analytic');
const quiet = { info: () => undefined, warn: () => undefined };

/** tiny-analytic at a 96-px input with the given background_prompts in model.json. */
function analyticWith(dir: string, background: string[]): string {
  fs.mkdirSync(dir, { recursive: true });
  for (const f of fs.readdirSync(ANALYTIC)) fs.copyFileSync(path.join(ANALYTIC, f), path.join(dir, f));
  const mj = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  mj.image.input_size = [96, 96];
  mj.background_prompts = background;
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(mj));
  return dir;
}

describe('EvalPipeline predicted masks', () => {
  let tmp: string;
  beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'evalpipe-'))));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('backgroundPromptsFor: the package list (else the default), without the query', () => {
    expect(backgroundPromptsFor({ background_prompts: ['table', 'wall'] }, 'red mug')).toEqual([
      'table',
      'wall',
    ]);
    expect(backgroundPromptsFor({ background_prompts: ['table', 'wall'] }, ' Table ')).toEqual(['wall']);
    expect(backgroundPromptsFor({ background_prompts: [] }, 'red mug')).toEqual([]);
    expect(backgroundPromptsFor({}, 'floor')).toEqual(
      DEFAULT_BACKGROUND_PROMPTS.filter((b) => b !== 'floor'),
    );
  });

  it("use the package's background_prompts: the same mask as Perceiver.segment", async () => {
    const sf = synthEvalSequences({ scenes: 2, framesPerScene: 1 })[0].frames[0];
    const frame: Frame = {
      stampNs: sf.stampNs,
      frameId: 'camera_color_optical_frame',
      rgb: sf.rgb,
      depthM: Float32Array.from(sf.depthMm, (d) => d / 1000),
      camera: sf.camera,
    };
    const prompt = 'red mug';
    const gtMask = new Uint8Array(frame.camera.width * frame.camera.height);
    const masks: Uint8Array[] = [];
    for (const [k, bg] of [[], ['blue', 'green']].entries()) {
      const p = await Perceiver.load(analyticWith(path.join(tmp, `m${k}`), bg), { logger: quiet });
      try {
        const ref = (await p.segment(frame.rgb, [prompt])).masks[0];
        const pipe = new EvalPipeline('predicted', p);
        pipe.request = { prompt, gtMask };
        await pipe.process(frame, [prompt]);
        const got = pipe.lastView?.mask as Uint8Array;
        expect(got.length).toBe(ref.length);
        let diff = 0;
        for (let i = 0; i < ref.length; i++) if ((ref[i] ? 1 : 0) !== got[i]) diff++;
        expect(diff).toBe(0);
        masks.push(got);
      } finally {
        await p.release();
      }
    }
    // the two background lists give different masks (so the equality above checks which list was used)
    let differ = 0;
    for (let i = 0; i < masks[0].length; i++) if (masks[0][i] !== masks[1][i]) differ++;
    expect(differ).toBeGreaterThan(0);
  });
});
