import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { isNdArray, ndToNested, parsePickle, PickleError, readPickleFile, type NdArray } from './pickle';

const PY = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** Pickles made by CPython + NumPy with the REAL275 `gts` dict structure, one file per protocol. */
const SCRIPT = `
import pickle, sys, numpy as np
out = sys.argv[1]
rt = np.eye(4)
rt[:3, :3] = 0.2 * np.array([[0., -1., 0.], [1., 0., 0.], [0., 0., 1.]])
rt[:3, 3] = [0.1, -0.05, 0.6]
d = {
  'image_path': 'data/real/test/scene_1/0000',
  'gt_class_ids': np.array([1, 6, 4], dtype=np.int32),
  'gt_RTs': np.stack([rt, np.eye(4), 2 * np.eye(4)]),
  'gt_scales': np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6], [0.7, 0.8, 0.9]], dtype=np.float32),
  'gt_handle_visibility': np.array([1, 0, 1], dtype=np.int64),
  'gt_bboxes': np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4)),
  'flags': np.array([True, False]),
  'scalar': np.float64(2.5),
  'big': 2**40,
  'neg': -7,
  'nested': [(1, 'a'), {'k': None}, b'xy'],
}
d['alias'] = d['gt_class_ids']  # memo reference to the same array
for p in (2, 3, 4, 5):
    with open('%s/p%d.pkl' % (out, p), 'wb') as f:
        pickle.dump(d, f, protocol=p)
`;

describe('parsePickle', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pkl-'));
    execFileSync(PY, ['-c', SCRIPT, dir]);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it.each([2, 3, 4, 5])('reads the REAL275 gts structure written with protocol %i', (p) => {
    const d = readPickleFile(path.join(dir, `p${p}.pkl`)) as Record<string, unknown>;
    expect(d.image_path).toBe('data/real/test/scene_1/0000');
    const ids = d.gt_class_ids as NdArray;
    expect(isNdArray(ids)).toBe(true);
    expect(ids.dtype).toBe('int32');
    expect(Array.from(ids.data)).toEqual([1, 6, 4]);
    const rts = d.gt_RTs as NdArray;
    expect(rts.shape).toEqual([3, 4, 4]);
    const nested = ndToNested(rts) as number[][][];
    expect(nested[0][0]).toEqual([0, -0.2, 0, 0.1]);
    expect(nested[0][1][0]).toBeCloseTo(0.2, 12);
    expect(nested[0][2][3]).toBeCloseTo(0.6, 12);
    expect(nested[2][3][3]).toBe(2);
    const sc = d.gt_scales as NdArray;
    expect(sc.dtype).toBe('float32');
    expect(sc.data[5]).toBeCloseTo(0.6, 6);
    expect(Array.from((d.gt_handle_visibility as NdArray).data)).toEqual([1, 0, 1]);
    // Fortran-ordered array comes back in C order
    expect(ndToNested(d.gt_bboxes as NdArray)).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9, 10, 11],
    ]);
    expect((d.flags as NdArray).dtype).toBe('bool');
    expect(Array.from((d.flags as NdArray).data)).toEqual([1, 0]);
    expect(d.scalar).toBe(2.5);
    expect(d.big).toBe(2 ** 40);
    expect(d.neg).toBe(-7);
    const n = d.nested as unknown[];
    expect(n[0]).toEqual([1, 'a']);
    expect(n[1]).toEqual({ k: null });
    expect(Array.from(n[2] as Uint8Array)).toEqual([120, 121]);
    expect(Array.from((d.alias as NdArray).data)).toEqual([1, 6, 4]);
  });

  it('rejects globals outside the allow-list without running them', () => {
    // protocol 2: GLOBAL 'os\nsystem\n' (the classic exploit shape), then STOP
    const evil = Buffer.concat([
      Buffer.from([0x80, 2]),
      Buffer.from('cos\nsystem\n', 'latin1'),
      Buffer.from('.'),
    ]);
    expect(() => parsePickle(evil, 'evil.pkl')).toThrow(PickleError);
    expect(() => parsePickle(evil, 'evil.pkl')).toThrow(/evil\.pkl.*'os\.system' is not allowed/);
  });

  it('reports truncation with the byte offset', () => {
    const buf = fs.readFileSync(path.join(dir, 'p4.pkl'));
    expect(() => parsePickle(buf.subarray(0, 40), 'cut.pkl')).toThrow(/cut\.pkl: pickle at byte \d+/);
  });
});
