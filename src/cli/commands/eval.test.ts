/** @jest-environment ./src/perception/ort-jest-environment.ts */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runCliCaptured } from '../testutil';
import { EXIT } from '../util';

describe('declip eval (CLI)', () => {
  let tmp: string;
  beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'evalcli-'))));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('synth -> convert -> run -> report, JSON summary', async () => {
    const src = path.join(tmp, 'src');
    expect(
      (await runCliCaptured(['eval', 'synth', '--out', src, '--scenes', '2', '--frames', '1'])).code,
    ).toBe(EXIT.OK);
    const conv = await runCliCaptured([
      'eval',
      'convert',
      '--dataset',
      'toyl',
      '--src',
      path.join(src, 'bop'),
      '--prompts',
      path.join(src, 'bop', 'prompts.json'),
      '--out',
      path.join(tmp, 'toyl'),
    ]);
    expect(conv.code).toBe(EXIT.OK);
    expect(conv.out).toMatch(/toyl: 2 scenes \(2 converted, 0 already done\), 2 frames, 3 models/);
    const run = await runCliCaptured([
      'eval',
      'run',
      '--dataset',
      'toyl',
      '--bags',
      path.join(tmp, 'toyl'),
      '--pairs',
      '4',
      '--no-vsd',
      '--thumbnails',
      '0',
      '--out',
      path.join(tmp, 'res'),
      '--json',
    ]);
    expect(run.code).toBe(EXIT.OK);
    const s = JSON.parse(run.out);
    expect(s.tasks).toBe(4);
    expect(s.aggregate.count).toBe(4);
    expect(s.aggregate.vsd).toBeUndefined(); // --no-vsd
    expect(fs.existsSync(path.join(tmp, 'res', 'report.html'))).toBe(true);
  });

  it('bad input: a wrong dataset name is a usage error, a missing dataset a bad-input error naming the path', async () => {
    const bad = await runCliCaptured([
      'eval',
      'convert',
      '--dataset',
      'ycb',
      '--src',
      tmp,
      '--out',
      path.join(tmp, 'x'),
    ]);
    expect(bad.code).toBe(EXIT.USAGE);
    expect(bad.err).toMatch(/--dataset must be one of real275, toyl, bop/);
    const missing = path.join(tmp, 'nowhere');
    const r = await runCliCaptured([
      'eval',
      'convert',
      '--dataset',
      'real275',
      '--src',
      missing,
      '--out',
      path.join(tmp, 'y'),
    ]);
    expect(r.code).toBe(EXIT.BAD_INPUT);
    expect(r.err).toContain(path.join(missing, 'real_test'));
    const p = await runCliCaptured([
      'eval',
      'run',
      '--bags',
      tmp,
      '--masks',
      'guessed',
      '--out',
      path.join(tmp, 'z'),
    ]);
    expect(p.code).toBe(EXIT.USAGE);
    expect(p.err).toMatch(/--masks must be one of oracle, predicted/);
    const d = await runCliCaptured([
      'eval',
      'run',
      '--bags',
      path.join(tmp, 'nothing'),
      '--out',
      path.join(tmp, 'z'),
    ]);
    expect(d.code).toBe(EXIT.BAD_INPUT);
    expect(d.err).toMatch(/dataset\.json/);
  });

  it('synth --seed --width --world: the image size and intrinsics follow --width; a too small width is a usage error', async () => {
    const out = path.join(tmp, 'world');
    const r = await runCliCaptured([
      'eval',
      'synth',
      '--out',
      out,
      '--scenes',
      '2',
      '--frames',
      '1',
      '--seed',
      '11',
      '--width',
      '200',
      '--world',
    ]);
    expect(r.code).toBe(EXIT.OK);
    const sc = path.join(out, 'bop', 'test', '000001');
    const cam = JSON.parse(fs.readFileSync(path.join(sc, 'scene_camera.json'), 'utf8')) as Record<
      string,
      { cam_K: number[] }
    >;
    expect(cam['0'].cam_K[0]).toBeCloseTo((591.0125 * 200) / 640, 6);
    const png = fs.readFileSync(path.join(sc, 'rgb', '000000.png'));
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([200, 150]);
    const bad = await runCliCaptured(['eval', 'synth', '--out', out, '--width', '8']);
    expect(bad.code).toBe(EXIT.USAGE);
    expect(bad.err).toMatch(/--width must be an integer >= 16/);
  });
});
