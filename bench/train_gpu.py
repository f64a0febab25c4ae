#!/usr/bin/env python3
"""Step time and GPU memory of the DeCLIP distillation at the paper's resolution (random weights).

Full-size student (CLIP ViT-B/16, decoupled last block) with a ViT-B/14 DINOv2-with-registers VFM teacher and the
frozen CLIP teacher for the crops, student input 448 and 560 (the ends of DeCLIP's 448-560 range), crops at 224,
up to 20 crops per image, AdamW, AMP (fp16 + GradScaler) on CUDA. Weights are random: speed and memory do not
depend on them.

    PYTHONPATH=src/training/python python bench/train_gpu.py --batch-size 8 --steps 25
    PYTHONPATH=src/training/python python bench/train_gpu.py --tiny --device cpu --steps 6   # smoke test on a CPU

Prints one JSON object per configuration and a Markdown table for BENCHMARKS.md (machine, date, command).
Step time is wall time between consecutive `step` events (the trainer reads the loss every step, which
synchronises the device), after `--warmup` steps; memory is torch.cuda.max_memory_allocated over the run.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "training", "python"))

import torch  # noqa: E402

from declip_torch.train import Events, TrainConfig, train  # noqa: E402
from declip_torch.train_data import make_synthetic_dataset  # noqa: E402


class TimedEvents(Events):
    def __init__(self):
        super().__init__(stream=open(os.devnull, "w"), quiet=True)
        self.step_times = []
        self.start = None

    def emit(self, event, **fields):
        if event == "step":
            self.step_times.append(time.perf_counter())
        elif event == "start":
            self.start = fields
        elif event == "error":
            raise SystemExit(f"trainer error: {fields}")


def run_one(args, size: int, batch: int, data: str, out: str) -> dict:
    tiny = args.tiny
    cfg = TrainConfig(
        data=data, out=out, backbone="tiny" if tiny else args.backbone, random_init=True,
        vfm_backbone="tiny-dinov2-reg" if tiny else args.vfm_backbone, vfm_random_init=True, arch=args.arch,
        student_min_size=size, student_max_size=size, crop_size=32 if tiny else args.crop_size,
        max_crops=args.max_crops, batch_size=batch, accumulation=1, steps=args.steps, lr=1e-5,
        checkpoint_every=10**9, eval=False, amp=not args.no_amp, device=args.device, resume="never",
        region_weight=0.05, seed=0)
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    ev = TimedEvents()
    t0 = time.perf_counter()
    try:
        train(cfg, ev)
    except RuntimeError as e:  # OOM surfaces as TrainError (a DeclipError) inside train; other runtime errors here
        return {"size": size, "batch_size": batch, "error": str(e)[:300]}
    except Exception as e:  # noqa: BLE001 - report the configuration that failed and go on
        return {"size": size, "batch_size": batch, "error": f"{type(e).__name__}: {str(e)[:300]}"}
    wall = time.perf_counter() - t0
    ts = ev.step_times
    dts = [b - a for a, b in zip(ts[args.warmup:-1], ts[args.warmup + 1:])]
    res = {
        "size": size, "batch_size": batch, "steps": len(ts), "timed_steps": len(dts),
        "step_s_median": statistics.median(dts) if dts else None,
        "step_s_mean": statistics.mean(dts) if dts else None,
        "images_per_s": batch / statistics.median(dts) if dts else None,
        "wall_s": wall, "trainable_params": (ev.start or {}).get("trainable_params"),
        "amp": (ev.start or {}).get("amp"), "device": (ev.start or {}).get("device"),
    }
    if torch.cuda.is_available():
        res["max_memory_allocated_gib"] = torch.cuda.max_memory_allocated() / 2**30
        res["max_memory_reserved_gib"] = torch.cuda.max_memory_reserved() / 2**30
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="openai-vit-b-16")
    ap.add_argument("--vfm-backbone", default="dinov2-vit-b-14-reg")
    ap.add_argument("--arch", default="declip-csa")
    ap.add_argument("--sizes", default="448,560", help="student input sizes (each run at a fixed size)")
    ap.add_argument("--batch-size", default="8", help="comma-separated batch sizes")
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--warmup", type=int, default=5, help="steps not timed (cudnn / allocator warm-up)")
    ap.add_argument("--crop-size", type=int, default=224)
    ap.add_argument("--max-crops", type=int, default=20)
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--no-amp", action="store_true")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true", help="tiny presets (CPU smoke test of this script)")
    ap.add_argument("--json-out", help="also write the results to this JSON file")
    args = ap.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("error: no CUDA device (use --tiny --device cpu for a smoke test)", file=sys.stderr)
        return 2
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.tiny:
        sizes = [64, 96]
    batches = [int(b) for b in args.batch_size.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        data = make_synthetic_dataset(os.path.join(tmp, "data"), n=args.frames,
                                      size=(72, 96) if args.tiny else (480, 640), seed=0, with_masks=False)
        results = []
        for b in batches:
            for s in sizes:
                r = run_one(args, s, b, data, os.path.join(tmp, f"run-{s}-{b}"))
                print(json.dumps(r), flush=True)
                results.append(r)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else platform.processor() or "cpu"
    meta = {"date": datetime.date.today().isoformat(), "machine": gpu, "torch": torch.__version__,
            "command": shlex.join([sys.executable] + sys.argv), "backbone": "tiny" if args.tiny else args.backbone,
            "vfm": "tiny-dinov2-reg" if args.tiny else args.vfm_backbone, "arch": args.arch,
            "max_crops": args.max_crops, "amp": not args.no_amp}
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=2)
    print(f"\n{meta['date']}, {meta['machine']}, torch {meta['torch']}: `{meta['command']}`\n")
    print(f"| student | VFM | input | batch | AMP | step (median) | images/s | peak alloc | peak reserved |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        if "error" in r:
            print(f"| {meta['backbone']} | {meta['vfm']} | {r['size']} | {r['batch_size']} | {meta['amp']} | "
                  f"failed: {r['error'][:60]} | | | |")
            continue
        mem = (f"{r['max_memory_allocated_gib']:.1f} GiB", f"{r['max_memory_reserved_gib']:.1f} GiB") \
            if "max_memory_allocated_gib" in r else ("-", "-")
        print(f"| {meta['backbone']} ({meta['arch']}) | {meta['vfm']} | {r['size']} | {r['batch_size']} | "
              f"{r['amp']} | {r['step_s_median'] * 1000:.0f} ms | {r['images_per_s']:.1f} | {mem[0]} | {mem[1]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
