#!/usr/bin/env bash
# GPU benchmark of issue 10, in one go (npm run bench:gpu, or `bash scripts/bench-gpu.sh` where npm is missing).
#
# Two steps, because the GPU machine has no internet, no npm and possibly no Node:
#
#   bash scripts/bench-gpu.sh pack     # HERE (the dev machine: npm ci done, .venv set up, out/models/b16-224 exported)
#   bash scripts/bench-gpu.sh          # THERE (the GPU machine), with .node/ and .gl/ carried next to the checkout
#
# `pack` fills two git-ignored folders (together under 64 MiB, what a device session can carry):
#   .node/node.xz                Node.js binary of this machine, xz-compressed (the GPU machine may have no Node)
#   .node/node_modules.tar.xz    only the runtime modules the benchmark loads (onnxruntime-node linux-x64 binding,
#                                sharp + libvips, @foxglove CDR, ml-matrix, js-yaml)
#   .node/bench-build.tar.xz     the compiled benchmark + sources (tsc output of bench/ and src/)
#   .node/models.tar.xz          ViT-B/16 DeCLIP-csa packages (EVA02-CLIP-B/16, fp32 and fp16, dynamic H,W) with the
#                                weights stripped (bench/gpu_skeleton.py); bench/fill_weights.ts writes seeded random
#                                weights of the same layout there (random weights do not compress: 0.9 GB otherwise)
#   .gl/*.deb                    the Vulkan loader (libvulkan1) for onnxruntime-node's WebGPU EP (Dawn on Vulkan);
#                                the NVIDIA Vulkan ICD itself comes with the driver
#
# Re-run `pack` after changing src/ or bench/ (the GPU side runs the compiled copy in .node/bench-build.tar.xz).
# The GPU machine needs only bash, xz, tar, dpkg-deb, timeout and the NVIDIA driver (+ torch for the reference).
#
# The run writes everything to $OUT (a device session's output folder) or out/bench/gpu/:
#   env.txt                 nvidia-smi, driver, Vulkan ICDs, providers onnxruntime-node lists
#   torch_ref.json/.md      PyTorch image encoder, eager fp32 / fp16 / fp16+SDPA / torch.compile (if torch+CUDA exist)
#   e2e-*.json/.md          bench/pipeline.bench.ts through DeclipNode + DeclipPipeline on the GPU EP: 30 Hz replay
#                           (1x) and max rate, per-stage p50/p95/p99, latency, drops, peak RSS, GPU memory
#   sizes-*.json, queries-*.json   scaling with image size 224/336/448/560 and number of queries 1/5/20
#   summary.json/.md        the issue's targets against the measurements (encoder ratio vs torch fp16, Hz, p95)
# Every step has its own timeout and the run keeps going when one fails; the whole run should take about 7 minutes
# (an estimate: it has not run on a GPU yet). Environment: OUT (results folder), DEVICES (default "webgpu"),
# PYTHON (a Python with torch + CUDA, default python3), BENCH_GPU_WORK (scratch, default /tmp/declip-bench-gpu),
# BENCH_GPU_SMOKE=1 (a few frames per step: checks the script, e.g. `BENCH_GPU_SMOKE=1 DEVICES=cpu` on a CPU box),
# BENCH_GPU_CARRIED_NODE=1 (use .node/node.xz even when a Node >= 20 exists).
#
# A device session would run, e.g.:  run(command="bash scripts/bench-gpu.sh", carry=[".node", ".gl"], timeout_s=540)
#
# CUDA EP: onnxruntime-node's CUDA provider libraries are downloaded by its install script
# (`npm install --onnxruntime-node-install=cuda12`, needs CUDA 12 + cuDNN 9). They cannot be fetched offline and
# are too large to carry here, so on the GPU machine `--device cuda` is expected to fail with that hint, and the
# script records it. On a robot with internet, install them and run this script with DEVICES="cuda webgpu".
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
mode=${1:-run}

if [ "$mode" = pack ]; then
  set -e
  mkdir -p .node .gl
  echo "== compile"
  # tsc emits even with type errors elsewhere in the tree; those are reported, the benchmark is still packed
  npx tsc -p tsconfig.json --outDir out/bench-build | tail -5 || true
  [ -f out/bench-build/bench/pipeline.bench.js ] || { echo "compile failed" >&2; exit 3; }
  echo "== node binary"
  [ .node/node.xz -nt "$(command -v node)" ] || xz -T0 -6 -c "$(command -v node)" >.node/node.xz
  echo "== runtime modules (traced from a tiny run)"
  mods=$(NODE_PATH="$ROOT/node_modules" node -e "
    const M = require('module'); const seen = new Set(); const orig = M._resolveFilename;
    M._resolveFilename = function (r, ...a) { const f = orig.call(this, r, ...a);
      const m = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(f); if (m) seen.add(m[1]); return f; };
    require('./out/bench-build/bench/fill_weights.js');
    const b = require('./out/bench-build/bench/pipeline.bench.js');
    b.main(['--modes', 'max', '--max-frames', '2', '--encoder-reps', '1', '--duration', '1',
      '--out', '/tmp/declip-pack-probe.json', '--md', '/tmp/declip-pack-probe.md']).then(() => { console.log([...seen].sort().join(' ')); process.exit(0); });
  " 2>/dev/null | tail -1)
  echo "   $mods"
  paths=()
  for m in $mods; do [ "$m" = onnxruntime-node ] || paths+=("node_modules/$m"); done
  tar -cJf .node/node_modules.tar.xz "${paths[@]}" \
    node_modules/onnxruntime-node/package.json node_modules/onnxruntime-node/dist node_modules/onnxruntime-node/lib \
    node_modules/onnxruntime-node/bin/napi-v6/linux/x64
  echo "== compiled benchmark"
  tar -cJf .node/bench-build.tar.xz --exclude='*.map' --exclude='*.d.ts' -C out bench-build/bench bench-build/src
  echo "== model skeletons"
  [ -f out/models/b16-224/model.json ] || {
    echo "out/models/b16-224 missing: node dist/cli/main.js export --arch declip-csa --backbone eva02-clip-b-16" \
      "--random-init --size 224 --bpe-vocab ../shared/data/clip/bpe_simple_vocab_16e6.txt.gz --out out/models/b16-224" >&2
    exit 3
  }
  [ -f out/models/b16-448-fp16/model.json ] ||
    node dist/cli/main.js export --arch declip-csa --backbone eva02-clip-b-16 --random-init --size 448 --fp16 \
      --bpe-vocab ../shared/data/clip/bpe_simple_vocab_16e6.txt.gz --out out/models/b16-448-fp16 --parity-runtime python
  rm -rf out/gpu-models && mkdir -p out/gpu-models
  .venv/bin/python bench/gpu_skeleton.py strip out/models/b16-224 out/gpu-models/b16-fp32
  .venv/bin/python bench/gpu_skeleton.py strip out/models/b16-448-fp16 out/gpu-models/b16-fp16
  # the vocabulary (1.3 MB) once; the run links it into both
  rm -f out/gpu-models/b16-fp16/bpe_simple_vocab_16e6.txt.gz
  tar -cJf .node/models.tar.xz -C out gpu-models
  echo "== Vulkan loader"
  (cd .gl && rm -f ./*.deb && apt-get download libvulkan1 >/dev/null && ls ./*.deb)
  du -ch .node/* .gl/* | tail -20
  total=$(du -cb .node/* .gl/* | tail -1 | cut -f1)
  [ "$total" -lt $((64 * 1024 * 1024)) ] || echo "WARNING: .node + .gl are $((total / 1048576)) MiB, over the 64 MiB carry limit" >&2
  exit 0
fi

# ------------------------------------------------------------------ run (GPU machine)
OUTDIR=${OUT:-$ROOT/out/bench/gpu}
PY=${PYTHON:-python3}
mkdir -p "$OUTDIR"
LOG="$OUTDIR/bench-gpu.log"
exec > >(tee -a "$LOG") 2>&1
echo "== bench-gpu $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
WORK=${BENCH_GPU_WORK:-/tmp/declip-bench-gpu}
mkdir -p "$WORK"

# Node: the system's if it is >= 20, else the carried binary
NODE=$(command -v node || true)
if [ "${BENCH_GPU_CARRIED_NODE:-0}" = 1 ] || [ -z "$NODE" ] || ! "$NODE" -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
  [ -f .node/node.xz ] || { echo "no Node >= 20 and no .node/node.xz (run 'bash scripts/bench-gpu.sh pack' first)"; exit 3; }
  xz -dc .node/node.xz >"$WORK/node" && chmod +x "$WORK/node"
  NODE=$WORK/node
fi
echo "node: $NODE $($NODE --version)"
# runtime modules and compiled benchmark
if [ -f .node/node_modules.tar.xz ]; then
  tar -xJf .node/node_modules.tar.xz -C "$WORK"
  export NODE_PATH=$WORK/node_modules
else
  export NODE_PATH=$ROOT/node_modules
fi
if [ -f .node/bench-build.tar.xz ]; then
  tar -xJf .node/bench-build.tar.xz -C "$WORK"
  BUILD=$WORK/bench-build
else
  BUILD=$ROOT/out/bench-build
fi
# Vulkan loader for WebGPU
if ls .gl/*.deb >/dev/null 2>&1; then
  for d in .gl/*.deb; do dpkg-deb -x "$d" "$WORK/gl"; done
  export LD_LIBRARY_PATH=$WORK/gl/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
fi
if ! ls /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json >/dev/null 2>&1; then
  # containers without the driver's 'graphics' capability lack the ICD file; point the loader at the driver
  lib=$(ldconfig -p 2>/dev/null | grep -o '/[^ ]*libGLX_nvidia.so.0' | head -1)
  if [ -n "$lib" ]; then
    printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s","api_version":"1.3.0"}}\n' "$lib" >"$WORK/nvidia_icd.json"
    export VK_ICD_FILENAMES=$WORK/nvidia_icd.json
  fi
fi
# models: carried skeletons + random weights, or packages exported here
MODELS=$WORK/models
if [ -f .node/models.tar.xz ]; then
  tar -xJf .node/models.tar.xz -C "$WORK" && rm -rf "$MODELS" && mv "$WORK/gpu-models" "$MODELS"
  ln -sf ../b16-fp32/bpe_simple_vocab_16e6.txt.gz "$MODELS/b16-fp16/bpe_simple_vocab_16e6.txt.gz"
  for m in "$MODELS"/*; do timeout 120 "$NODE" "$BUILD/bench/fill_weights.js" "$m"; done
else
  mkdir -p "$MODELS"
  ln -sfn "$ROOT/out/models/b16-224" "$MODELS/b16-fp32"
  ln -sfn "$ROOT/out/models/b16-448-fp16" "$MODELS/b16-fp16"
fi

{
  echo "date: $(date -u +%FT%TZ)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1
  nvidia-smi 2>&1 | head -15
  echo "vulkan ICDs: $(ls /usr/share/vulkan/icd.d/ /etc/vulkan/icd.d/ 2>/dev/null | tr '\n' ' ') ${VK_ICD_FILENAMES:-}"
  "$NODE" -e "const o=require('onnxruntime-node');console.log('onnxruntime-node providers:',JSON.stringify(o.listSupportedBackends()))"
  echo "cpus: $(nproc), load: $(cat /proc/loadavg)"
  "$PY" -c "import torch;print('torch',torch.__version__,'cuda',torch.version.cuda,torch.cuda.is_available())" 2>&1
} >"$OUTDIR/env.txt" 2>&1
cat "$OUTDIR/env.txt"

DEVICES=${DEVICES:-webgpu}
BENCH=("$NODE" "$BUILD/bench/pipeline.bench.js" --gpu-mem)
# BENCH_GPU_SMOKE=1: every step with a handful of frames (checks the script itself, e.g. DEVICES=cpu on a CPU box)
S=${BENCH_GPU_SMOKE:-0}
n() { if [ "$S" = 1 ]; then echo "$2"; else echo "$1"; fi; }
step() { # step NAME TIMEOUT_S CMD...
  local name=$1 t=$2
  shift 2
  echo "== $name ($(date -u +%T), timeout ${t}s)"
  timeout "$t" "$@" || echo "!! $name failed or timed out (exit $?)"
}

for dev in $DEVICES; do
  # 1. the issue's configuration: fp16 B/16 at 448, one query, 640x480 replayed at 30 Hz, and at max rate
  step "e2e fp16 448 $dev" 150 "${BENCH[@]}" --model "$MODELS/b16-fp16" --device "$dev" --size "$(n 448 224)" --modes 1x,max \
    --duration "$(n 15 2)" --max-frames "$(n 90 3)" --encoder-reps "$(n 100 2)" --label "GPU $dev, ViT-B/16 fp16 448" \
    --out "$OUTDIR/e2e-fp16-448-$dev.json" --md "$OUTDIR/e2e-fp16-448-$dev.md"
done
# 2. PyTorch reference in the same run (needs torch with CUDA on the machine)
if "$PY" -c 'import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  step "torch reference" 240 "$PY" bench/torch_ref.py --device cuda --sizes 224,336,448,560 \
    --variants fp32,fp16,fp16-sdpa --reps "$(n 100 3)" --warmup "$(n 20 1)" --out "$OUTDIR/torch_ref.json" --md "$OUTDIR/torch_ref.md"
  step "torch.compile reference" 150 "$PY" bench/torch_ref.py --device cuda --sizes 448 \
    --variants compile-fp16-sdpa --reps "$(n 100 3)" --warmup "$(n 20 1)" --out "$OUTDIR/torch_ref_compile.json" --md "$OUTDIR/torch_ref_compile.md"
else
  echo "torch with CUDA is not available here: no PyTorch reference (the ratio cannot be computed)" | tee "$OUTDIR/torch_ref.skipped"
fi
for dev in $DEVICES; do
  step "e2e fp32 448 $dev" 120 "${BENCH[@]}" --model "$MODELS/b16-fp32" --device "$dev" --size "$(n 448 224)" --modes max \
    --max-frames "$(n 40 2)" --encoder-reps "$(n 50 2)" --label "GPU $dev, ViT-B/16 fp32 448" \
    --out "$OUTDIR/e2e-fp32-448-$dev.json" --md "$OUTDIR/e2e-fp32-448-$dev.md"
  step "sizes fp16 $dev" 200 "${BENCH[@]}" --model "$MODELS/b16-fp16" --device "$dev" --sweep "size=$(n 224,336,448,560 224,336)" \
    --modes max --max-frames "$(n 40 2)" --encoder-reps "$(n 50 2)" --label "GPU $dev, ViT-B/16 fp16, image size" \
    --out "$OUTDIR/sizes-fp16-$dev.json" --md "$OUTDIR/sizes-fp16-$dev.md"
  step "queries fp16 448 $dev" 120 "${BENCH[@]}" --model "$MODELS/b16-fp16" --device "$dev" --size "$(n 448 224)" \
    --sweep queries=1,5,20 --modes max --max-frames "$(n 40 2)" --encoder-reps 0 --label "GPU $dev, ViT-B/16 fp16 448, queries" \
    --out "$OUTDIR/queries-fp16-448-$dev.json" --md "$OUTDIR/queries-fp16-448-$dev.md"
done
# CUDA EP: expected to be missing (see the header); record what the runtime says
step "cuda EP probe" 60 "${BENCH[@]}" --model "$MODELS/b16-fp16" --device cuda --size "$(n 448 224)" --modes max --max-frames "$(n 5 2)" \
  --encoder-reps "$(n 5 1)" --out "$OUTDIR/e2e-fp16-448-cuda.json" --md "$OUTDIR/e2e-fp16-448-cuda.md"
step "summary" 30 "$NODE" "$BUILD/bench/gpu_summary.js" "$OUTDIR"
echo "== done $(date -u +%T); results in $OUTDIR"
