'use strict';
// Runs one ONNX model with onnxruntime-node (the runtime the TypeScript perception code uses) for the exporter's
// parity check. Usage: node ort_node_runner.js job.json
// job.json: { model, outputs: [names], runs: [{ inputs: [{ name, dtype, shape, file }], out_prefix }] }
// Each input file holds the raw little-endian tensor; each output is written to `${out_prefix}.${name}.bin`
// with its shape and dtype in `${out_prefix}.json`.
const fs = require('fs');
const ort = require('onnxruntime-node');

const ARRAYS = {
  float32: Float32Array,
  float16: Uint16Array, // raw IEEE half bits (no Float16Array in Node 20)
  int64: BigInt64Array,
  int32: Int32Array,
};

function readTensor(spec) {
  const buf = fs.readFileSync(spec.file);
  const Ctor = ARRAYS[spec.dtype];
  if (!Ctor) throw new Error(`input ${spec.name}: unsupported dtype ${spec.dtype}`);
  const data = new Ctor(buf.buffer, buf.byteOffset, buf.byteLength / Ctor.BYTES_PER_ELEMENT);
  return new ort.Tensor(spec.dtype, data, spec.shape);
}

async function main() {
  const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const session = await ort.InferenceSession.create(job.model, { executionProviders: ['cpu'] });
  for (const run of job.runs) {
    const feeds = {};
    for (const spec of run.inputs) feeds[spec.name] = readTensor(spec);
    const result = await session.run(feeds);
    const meta = {};
    for (const name of job.outputs) {
      const t = result[name];
      const data = t.data;
      fs.writeFileSync(`${run.out_prefix}.${name}.bin`, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      meta[name] = { dims: Array.from(t.dims), type: t.type };
    }
    fs.writeFileSync(`${run.out_prefix}.json`, JSON.stringify(meta));
  }
  await session.release();
}

main().catch((e) => {
  process.stderr.write(`ort_node_runner: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
