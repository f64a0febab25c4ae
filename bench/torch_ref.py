#!/usr/bin/env python3
"""PyTorch reference timing of the DeCLIP image encoder (random weights of the real shapes), for the ratio
"onnxruntime encoder time / PyTorch eager fp16" of issue 10. Same module the exporter exports
(declip_torch.heads.ImageEncoder over the backbone preset), so both sides compute the same graph.

    PYTHONPATH=src/training/python python3 bench/torch_ref.py --device cuda --sizes 224,336,448,560 \\
        --out out/bench/torch_ref.json
    PYTHONPATH=src/training/python python3 bench/torch_ref.py --device cpu --sizes 224 --threads 2 --reps 10

Variants (each where it applies): eager fp32, eager fp16 (module.half(), CUDA only), eager fp16 with
scaled_dot_product_attention (torch >= 2: the attention of every block except DeCLIP's decoupled last one goes
through F.scaled_dot_product_attention, the flash / memory-efficient kernels; this is how open_clip / timm run),
and torch.compile of the fp16 SDPA variant (torch >= 2). Times are wall time per forward at batch 1 after
--warmup runs, synchronised (torch.cuda.synchronize) on CUDA: p50 / p95 / mean ms; peak CUDA memory
(max_memory_allocated) per variant. Prints one JSON object (also to --out) and a Markdown table (--md).
Runs on Debian's torch 1.13 (CPU) too: the torch >= 2 variants are then reported as skipped with the reason.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "training", "python"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from declip_torch.config import get_preset  # noqa: E402
from declip_torch.heads import ImageEncoder, build_clip  # noqa: E402
from declip_torch import layers  # noqa: E402


def sdpa_available() -> bool:
    return hasattr(F, "scaled_dot_product_attention")


def use_sdpa(encoder: ImageEncoder) -> int:
    """Routes the attention of every block but the last (DeCLIP's decoupled one is computed by heads.py) through
    F.scaled_dot_product_attention. Returns the number of blocks patched. Numerically the same attention."""
    blocks = encoder.visual.blocks
    n = 0
    for blk in list(blocks)[:-1]:
        attn = blk.attn

        def forward(x, mask=None, rope=None, num_prefix=1, _a=attn):
            q, k, v = _a.qkv_heads(x)
            if rope is not None:
                cos, sin = rope
                q = torch.cat([q[:, :, :num_prefix], layers.apply_rope(q[:, :, num_prefix:], cos, sin)], dim=2)
                k = torch.cat([k[:, :, :num_prefix], layers.apply_rope(k[:, :, num_prefix:], cos, sin)], dim=2)
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            return _a.merge(o)

        attn.forward = forward
        n += 1
    return n


def time_fn(fn: Callable[[], object], reps: int, warmup: int, cuda: bool) -> Dict[str, float]:
    for _ in range(warmup):
        fn()
    if cuda:
        torch.cuda.synchronize()
    ts: List[float] = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        ts.append((time.perf_counter() - t) * 1000)
    ts.sort()
    return {
        "n": reps,
        "p50": round(statistics.median(ts), 3),
        "p95": round(ts[min(len(ts) - 1, int(0.95 * len(ts)))], 3),
        "mean": round(statistics.fmean(ts), 3),
        "min": round(ts[0], 3),
    }


def build(backbone: str, arch: str, seed: int) -> ImageEncoder:
    clip = build_clip(get_preset(backbone), seed=seed)
    return ImageEncoder(arch, clip.visual).eval()


def machine() -> str:
    gpu = ""
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        gpu = f", {p.name} ({p.total_memory // 2**20} MiB)"
    return f"{os.cpu_count()}x {platform.processor() or platform.machine()}{gpu}, {platform.system()} {platform.release()}"


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except Exception:  # noqa: BLE001
        return "unknown"


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="eva02-clip-b-16")
    ap.add_argument("--arch", default="declip-csa")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--sizes", default="448", help="comma list of square input sizes (multiples of the patch)")
    ap.add_argument("--variants", default="fp32,fp16,fp16-sdpa,compile-fp16-sdpa")
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="")
    ap.add_argument("--md", default="")
    a = ap.parse_args(argv)
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    if cuda and not torch.cuda.is_available():
        print("torch_ref: --device cuda but torch.cuda.is_available() is False (CPU-only torch or no driver)",
              file=sys.stderr)
        return 3
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32 (onnxruntime's CUDA EP default)
        torch.backends.cudnn.allow_tf32 = False
    sizes = [int(s) for s in a.sizes.split(",") if s]
    variants = [v.strip() for v in a.variants.split(",") if v.strip()]
    load_before = " ".join(f"{x:.1f}" for x in os.getloadavg())
    results = []
    for size in sizes:
        for var in variants:
            row: Dict[str, object] = {"size": size, "variant": var}
            half = "fp16" in var
            if half and not cuda:
                row["skipped"] = "fp16 is timed on CUDA only (CPU half kernels are not representative)"
                results.append(row)
                continue
            if "sdpa" in var and not sdpa_available():
                row["skipped"] = f"torch {torch.__version__} has no F.scaled_dot_product_attention (torch >= 2)"
                results.append(row)
                continue
            if var.startswith("compile") and not hasattr(torch, "compile"):
                row["skipped"] = f"torch {torch.__version__} has no torch.compile (torch >= 2)"
                results.append(row)
                continue
            enc = build(a.backbone, a.arch, a.seed).to(dev)
            if half:
                enc = enc.half()
            if "sdpa" in var:
                row["sdpa_blocks"] = use_sdpa(enc)
            fn_mod: Callable = enc
            if var.startswith("compile"):
                fn_mod = torch.compile(enc)
            x = torch.randn(1, 3, size, size, device=dev, dtype=torch.float16 if half else torch.float32)
            if cuda:
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()

            def fwd():
                with torch.no_grad():
                    return fn_mod(x)

            try:
                t0 = time.perf_counter()
                fwd()
                row["first_call_s"] = round(time.perf_counter() - t0, 2)
                row["ms"] = time_fn(fwd, a.reps, a.warmup, cuda)
                if cuda:
                    row["peak_cuda_mib"] = round(torch.cuda.max_memory_allocated() / 2**20)
            except Exception as e:  # noqa: BLE001 - a variant failing is a result, not a crash
                row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
            results.append(row)
            print(json.dumps(row), file=sys.stderr)
            del enc, fn_mod
            if cuda:
                torch.cuda.empty_cache()
    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if cuda else None,
        "device": str(dev),
        "threads": torch.get_num_threads(),
        "backbone": a.backbone,
        "arch": a.arch,
        "commit": git_commit(),
        "command": "python3 bench/torch_ref.py " + " ".join(shlex.quote(x) for x in (argv or sys.argv[1:])),
        "load_before": load_before,
        "load_after": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "results": results,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out, "w") as f:
            f.write(text + "\n")
    lines = [
        f"### PyTorch reference: {a.backbone} {a.arch} image encoder on {dev}",
        "",
        f"- Machine: {report['machine']}; torch {report['torch']}, {report['threads']} CPU threads",
        f"- Date: {report['date']}, commit {report['commit']}; load average {load_before} / {report['load_after']}",
        f"- Command: `{report['command']}`",
        "",
        "| size | variant | p50 ms | p95 ms | peak CUDA MiB | note |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        ms = r.get("ms") or {}
        lines.append(f"| {r['size']} | {r['variant']} | {ms.get('p50', '-')} | {ms.get('p95', '-')} | "
                     f"{r.get('peak_cuda_mib', '-')} | {r.get('skipped') or r.get('error') or ''} |")
    if a.md:
        os.makedirs(os.path.dirname(os.path.abspath(a.md)), exist_ok=True)
        with open(a.md, "w") as f:
            f.write("\n".join(lines) + "\n")
    print("\n".join(lines), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
