#!/usr/bin/env bash
# Reproduces the embedded default model models/tiny-synth from scratch (no downloads, no pretrained weights):
#   1. synthetic dataset (src/training/synthData.ts, fixed data seed)
#   2. bootstrap: synthetic CLIP pretraining of a small dual encoder (declip_torch.bootstrap)
#   3. DeCLIP distillation of the bootstrap model (declip_torch.train, declip-csa, mask-affinity context teacher,
#      grid crops plus object-centred content crops from the instance masks)
#   4. export through the exporter: the student (models/tiny-synth) and the clip-vanilla baseline (RUN/)
#   5. background calibration of both packages on training frames (src/training/synthCalibrateCli.ts), then
#      evaluation with the TypeScript runtime on held-out synthetic frames (src/training/synthDataEvalCli.ts) and the
#      whole chain (DeclipPipeline, model / box mode pose; src/training/synthDataChain.ts)
#   6. anchor mode: Oryon pairs through the eval module (declip eval synth / convert / run)
#   7. model.json provenance, REPORT.md and report.json
#
# Usage: npm run train:default [-- --device cuda] [--out runs/tiny-synth] [--model-out models/tiny-synth]
#        [--threads 2] [--bootstrap-steps N] [--distill-steps N] [--seed N] [--reuse]
#        [--train-scenes N] [--views N] [--object-crops N] [--student-size PX] [--runtime-size PX]
# --reuse keeps the outputs of stages that already finished in --out (data, bootstrap, distill) instead of redoing
# them (e.g. after an interrupted run); without it everything is rebuilt from scratch.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

DEVICE=cpu
OUT=runs/tiny-synth
MODEL_OUT=models/tiny-synth
THREADS=2
SEED=0
BOOT_STEPS=1500
DISTILL_STEPS=400
REUSE=0
TRAIN_SCENES=300
VIEWS=2
EVAL_SCENES=32
OBJECT_CROPS=8
STUDENT_SIZE=480
RUNTIME_SIZE=480
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --model-out) MODEL_OUT="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --bootstrap-steps) BOOT_STEPS="$2"; shift 2 ;;
    --distill-steps) DISTILL_STEPS="$2"; shift 2 ;;
    --train-scenes) TRAIN_SCENES="$2"; shift 2 ;;
    --views) VIEWS="$2"; shift 2 ;;
    --object-crops) OBJECT_CROPS="$2"; shift 2 ;;
    --student-size) STUDENT_SIZE="$2"; shift 2 ;;
    --runtime-size) RUNTIME_SIZE="$2"; shift 2 ;;
    --eval-scenes) EVAL_SCENES="$2"; shift 2 ;;
    --reuse) REUSE=1; shift ;;
    -h|--help) sed -n '2,17p' "$0" | cut -c3-; exit 0 ;;
    *) echo "error: train-default: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$DEVICE" in cpu|cuda|cuda:*) ;; *) echo "error: --device must be cpu or cuda[:N], got $DEVICE" >&2; exit 2 ;; esac

PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || { echo "error: $PY not found; run: bash scripts/setup-python.sh" >&2; exit 2; }
[ -d node_modules ] || { echo "error: node_modules missing; run: npm ci" >&2; exit 2; }
OUT_ABS=$(mkdir -p "$OUT" && cd "$OUT" && pwd)
mkdir -p "$MODEL_OUT"
MODEL_ABS=$(cd "$MODEL_OUT" && pwd)
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
export TRAIN_DEFAULT_COMMAND="npm run train:default -- --device $DEVICE --seed $SEED --threads $THREADS --bootstrap-steps $BOOT_STEPS --distill-steps $DISTILL_STEPS --train-scenes $TRAIN_SCENES --views $VIEWS --eval-scenes $EVAL_SCENES --object-crops $OBJECT_CROPS --student-size $STUDENT_SIZE --runtime-size $RUNTIME_SIZE"
TIMES="$OUT_ABS/times.jsonl"
: > "$TIMES"

# stage NAME CMD...: runs CMD, appends {"stage", "wall_s", "cpu_s"} to times.jsonl
stage() {
  local name="$1"; shift
  if [ "$REUSE" = 1 ] && [ -n "${DONE_FILE[$name]:-}" ] && [ -f "${DONE_FILE[$name]}" ]; then
    echo "== train-default: $name (reused: ${DONE_FILE[$name]})" >&2
    echo "{\"stage\":\"$name\",\"wall_s\":0,\"cpu_s\":0,\"reused\":true}" >> "$TIMES"
    return 0
  fi
  echo "== train-default: $name" >&2
  local t0; t0=$(date +%s.%N)
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f "%U %S" -o "$OUT_ABS/.stage_time" "$@"
    read -r u s < "$OUT_ABS/.stage_time"
  else
    "$@"; u=0; s=0
  fi
  local t1; t1=$(date +%s.%N)
  awk -v n="$name" -v a="$t0" -v b="$t1" -v u="$u" -v s="$s" \
    'BEGIN{printf "{\"stage\":\"%s\",\"wall_s\":%.1f,\"cpu_s\":%.1f}\n", n, b-a, u+s}' >> "$TIMES"
}

declare -A DONE_FILE=([data]="$OUT_ABS/data/frames/manifest.jsonl" [bootstrap]="$OUT_ABS/bootstrap/summary.json"
                      [distill]="$OUT_ABS/distill/summary.json")
T_START=$(date +%s)
# other work in progress may fail the typecheck; the files this script runs are still emitted
stage build bash -c 'npx tsc -p tsconfig.build.json || echo "warning: tsc reported errors; continuing" >&2
  test -f dist/training/synthDataCli.js && test -f dist/training/synthDataEvalCli.js &&
  test -f dist/training/synthCalibrateCli.js && test -f dist/training/synthDataChain.js && test -f dist/cli/main.js'
stage data node dist/training/synthDataCli.js --out "$OUT_ABS/data" --seed "$SEED" --train-scenes "$TRAIN_SCENES" \
  --views "$VIEWS" --eval-scenes "$EVAL_SCENES" --trainer-frames yes

cd src/training/python
stage bootstrap "$PY" -m declip_torch.bootstrap --data "$OUT_ABS/data" --out "$OUT_ABS/bootstrap" \
  --steps "$BOOT_STEPS" --device "$DEVICE" --threads "$THREADS" --seed "$SEED" --log-every 10
stage distill "$PY" -m declip_torch.bootstrap_fastcpu declip_torch.train --data "$OUT_ABS/data/frames" \
  --out "$OUT_ABS/distill" --base "$OUT_ABS/bootstrap/bootstrap.pt" --backbone synth-vit-s16 --arch declip-csa \
  --context-teacher mask-affinity --steps "$DISTILL_STEPS" --lr 2e-4 --weight-decay 0.05 --warmup-steps 5 \
  --student-min-size "$STUDENT_SIZE" --student-max-size "$STUDENT_SIZE" --batch-size 4 --max-crops 12 \
  --object-crops "$OBJECT_CROPS" --device "$DEVICE" \
  --threads "$THREADS" --seed "$SEED" --resume never --eval-max-frames 16 --checkpoint-every 1000
stage export "$PY" -m declip_torch.bootstrap_package export --run "$OUT_ABS" --model-out "$MODEL_ABS" \
  --runtime-size "$RUNTIME_SIZE"
cd "$ROOT"
# background prompts and logit offset of both packages, chosen on training frames (never the eval split)
stage calibrate bash -c "node dist/training/synthCalibrateCli.js --data '$OUT_ABS/data' \
  --model '$OUT_ABS/baseline-clip-vanilla' --out '$OUT_ABS/calibration-baseline.json' --write yes && \
  node dist/training/synthCalibrateCli.js --data '$OUT_ABS/data' --model '$MODEL_ABS' \
  --out '$OUT_ABS/calibration.json' --write yes"
stage eval node dist/training/synthDataEvalCli.js --data "$OUT_ABS/data" --model "$OUT_ABS/baseline-clip-vanilla" \
  --model "$MODEL_ABS" --out "$OUT_ABS/eval.json"
stage chain node dist/training/synthDataChain.js --model "$MODEL_ABS" --scenes 16 --out "$OUT_ABS/chain.json"
# anchor mode: Oryon pairs (anchor / query views of one object from different scenes) through the eval module, on
# a world set with its own scene seeds (424242, 425242, 426242); predicted masks through the node, ground-truth
# masks with this model's features, and ground-truth masks with per-pixel colour features (no model)
ORYON="$OUT_ABS/oryon"
EVRUN="node dist/cli/main.js eval run --bags '$ORYON/bags' --protocol oryon --pairs 72 --seed 0"
stage anchor bash -c "rm -rf '$ORYON' && node dist/cli/main.js eval synth --out '$ORYON/src' --seed 424242 --scenes 3 --frames 2 \
  --width 640 --world > /dev/null && node dist/cli/main.js eval convert --dataset bop --src '$ORYON/src/bop' \
  --prompts '$ORYON/src/bop/prompts.json' --out '$ORYON/bags' > /dev/null && \
  $EVRUN --model '$MODEL_ABS' --masks predicted --out '$ORYON/predicted' > /dev/null && \
  $EVRUN --model '$MODEL_ABS' --masks oracle --out '$ORYON/oracle' > /dev/null && \
  $EVRUN --masks oracle --out '$ORYON/oracle-colour' > /dev/null"
T_END=$(date +%s)
"$PY" - "$TIMES" "$OUT_ABS/times.json" "$((T_END - T_START))" "$DEVICE" "$THREADS" <<'EOF'
import json, os, platform, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
wall, cpu = float(sys.argv[3]), sum(r["cpu_s"] for r in rows)
load = os.getloadavg()[0]
summary = (f"{wall / 60:.1f} min wall, {cpu / 60:.1f} min CPU (user+sys) on {os.cpu_count()} cores, device "
           f"{sys.argv[4]}, {sys.argv[5]} threads, load average at the end {load:.1f}; stages: "
           + ", ".join(f"{r['stage']} {r['wall_s']:.0f}s/{r['cpu_s']:.0f}s" for r in rows))
json.dump({"stages": rows, "wall_s": wall, "cpu_s": cpu, "cores": os.cpu_count(), "device": sys.argv[4],
           "threads": int(sys.argv[5]), "machine": platform.processor() or platform.machine(),
           "summary": summary}, open(sys.argv[2], "w"), indent=2)
print(summary, file=sys.stderr)
EOF
cd src/training/python
"$PY" -m declip_torch.bootstrap_package report --run "$OUT_ABS" --model-out "$MODEL_ABS" --timing "$OUT_ABS/times.json"
echo "train-default: done -> $MODEL_OUT (report: $MODEL_OUT/REPORT.md)" >&2
