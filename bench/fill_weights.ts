/**
 * Fills a weight-stripped model package (bench/gpu_skeleton.py strip) with seeded random weights of the same
 * layout, and updates model.json's sha256 fields, so onnxruntime and the package loader take it as exported.
 * Values are uniform in [-0.02, 0.02] (float32 or float16 as the tensor is): speed does not depend on them.
 *
 *   node out/bench-build/bench/fill_weights.js DIR [--seed N]
 */
import * as fs from 'fs';
import * as path from 'path';
import { float32ToFloat16 } from '../src/perception/fp16';
import { sha256File } from '../src/perception/package';

interface Layout {
  files: Record<
    string,
    { data: string; bytes: number; tensors: { offset: number; length: number; dtype: string }[] }
  >;
}

/** xorshift32 stream of floats in [-scale, scale). */
function randomFloats(n: number, state: { s: number }, scale: number): Float32Array {
  const out = new Float32Array(n);
  let s = state.s;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 4294967296 - 0.5) * 2 * scale;
  }
  state.s = s;
  return out;
}

export function fillPackage(dir: string, seed = 1): { file: string; bytes: number }[] {
  const layout = JSON.parse(fs.readFileSync(path.join(dir, 'weights-layout.json'), 'utf8')) as Layout;
  const manifestPath = path.join(dir, 'model.json');
  const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  const state = { s: seed >>> 0 || 1 };
  const written: { file: string; bytes: number }[] = [];
  for (const [file, l] of Object.entries(layout.files)) {
    const dataPath = path.join(dir, l.data);
    const fd = fs.openSync(dataPath, 'w');
    try {
      for (const t of l.tensors) {
        const half = t.dtype === 'float16';
        const n = t.length / (half ? 2 : 4);
        // in chunks, so a 100 MB tensor does not need 100 MB of floats at once
        for (let done = 0; done < n;) {
          const k = Math.min(1 << 20, n - done);
          const f = randomFloats(k, state, 0.02);
          const bytes = half
            ? new Uint8Array(float32ToFloat16(f, new Uint16Array(k)).buffer)
            : new Uint8Array(f.buffer);
          fs.writeSync(fd, bytes, 0, bytes.byteLength, t.offset + done * (half ? 2 : 4));
          done += k;
        }
      }
    } finally {
      fs.closeSync(fd);
    }
    for (const spec of Object.values(manifest.files) as { file: string; sha256: string }[]) {
      if (spec.file === file) spec.sha256 = sha256File(path.join(dir, file));
    }
    written.push({ file: l.data, bytes: l.bytes });
  }
  fs.writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
  return written;
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const dir = args.find((a) => !a.startsWith('--'));
  const si = args.indexOf('--seed');
  if (!dir) {
    process.stderr.write('usage: fill_weights DIR [--seed N]\n');
    process.exit(2);
  }
  const w = fillPackage(dir, si >= 0 ? Number(args[si + 1]) : 1);
  for (const x of w)
    process.stdout.write(`${dir}/${x.file}: ${(x.bytes / 2 ** 20).toFixed(0)} MiB random weights\n`);
}
