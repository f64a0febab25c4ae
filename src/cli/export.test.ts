/** @jest-environment ./src/perception/ort-jest-environment.ts */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Perceiver } from '../perception/perceiver';
import { exporterArgs, runExport } from './commands/export';

describe('declip export (TS CLI over the Python exporter)', () => {
  it('exports a tiny declip-csa package that passes parity and loads in the runtime', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'declip-export-'));
    const words = path.join(dir, 'words.txt');
    fs.writeFileSync(words, ['red', 'mug', 'blue', 'can', 'a', 'photo', 'of', 'the'].join('\n'));
    const out = path.join(dir, 'pkg');
    const s = await runExport(
      {
        arch: 'declip-csa',
        backbone: 'tiny',
        randomInit: true,
        seed: '3',
        size: '32',
        wordVocab: words,
        out,
      },
      true,
    );
    expect(s.architecture).toBe('declip-csa');
    const parity = s.parity as { max_abs_diff?: number } | Record<string, unknown>;
    expect(JSON.stringify(parity)).toMatch(/\d/);
    const p = await Perceiver.load(out, { device: 'cpu' });
    const r = await p.segment({ width: 48, height: 32, data: new Uint8Array(48 * 32 * 3).fill(90) }, [
      'red mug',
    ]);
    expect(r.scoreMaps[0]).toHaveLength(48 * 32);
    await p.release();
  });

  it('maps options to exporter arguments and rejects bad ones before starting Python', () => {
    expect(exporterArgs({ arch: 'declip-csa', checkpoint: 'x.pt', size: '448', out: 'o' })).toEqual([
      '--arch',
      'declip-csa',
      '--backbone',
      'eva02-clip-b-16',
      '--out',
      'o',
      '--checkpoint',
      'x.pt',
      '--input-size',
      '448',
    ]);
    expect(exporterArgs({ arch: 'proxyclip', checkpoint: 'c.pt', vfm: 'd.pth', out: 'o' })).toContain(
      'dinov2-vit-b-14-reg',
    );
    expect(() => exporterArgs({ arch: 'sam', checkpoint: 'x', out: 'o' })).toThrow(
      /--arch 'sam' is not one of/,
    );
    expect(() => exporterArgs({ arch: 'declip-qq', out: 'o' })).toThrow(
      /--checkpoint X.pt .* or --random-init/,
    );
  });

  it('reports exporter input errors as bad input (exit code 3)', async () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'declip-export-bad-')), 'pkg');
    await expect(
      runExport(
        { arch: 'declip-csa', backbone: 'tiny', randomInit: true, size: '33', wordVocab: '/dev/null', out },
        true,
      ),
    ).rejects.toMatchObject({ exitCode: 3 });
  });
});
