"""Exporter: PyTorch model -> declip-ros model package (see src/perception/manifest.ts).

    python -m declip_torch.export --arch declip-csa --backbone eva02-clip-b-16 --checkpoint X.pt \\
        --input-size 448 --bpe-vocab bpe_simple_vocab_16e6.txt.gz --out models/my-declip/

Writes image_encoder.onnx, text_encoder.onnx, optional vfm.onnx (proxyclip), the tokenizer vocabulary,
model.json (sha256 of every file, provenance) and parity.json (PyTorch vs onnxruntime on random inputs).
The export fails (exit code 3) when parity is worse than the tolerance.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from . import __version__
from .config import ARCHITECTURES, PRESETS, check_architecture, get_preset
from .errors import ConfigError, DeclipError, InputSizeError, ParityError
from .heads import ImageEncoder, TextEncoder, VfmFeatures, build_clip
from .keymap import load_checkpoint_file, load_clip_state_dict, load_vfm_state_dict, merge_text_tower
from .parity import check_parity, random_text_ids, resolve_runtime
from .vit import build_vision

ONNX_SINGLE_FILE_LIMIT = 2 * 2**30 - 64 * 2**20  # protobuf limit minus room for the graph
CLIP_SOT_ID = 49406
CLIP_EOT_ID = 49407
DEFAULT_TEMPLATES = ["a photo of a {}.", "a photo of the {}.", "a photo of a small {}.", "a photo of a large {}.",
                     "a close-up photo of a {}.", "there is a {} in the scene."]


@dataclass
class ExportOptions:
    """Everything the exporter needs; `main` fills it from the command line."""

    arch: str
    backbone: str
    out: str
    checkpoint: Optional[str] = None
    text_checkpoint: Optional[str] = None
    random_init: bool = False
    seed: int = 0
    vfm_backbone: Optional[str] = None
    vfm_checkpoint: Optional[str] = None
    input_size: Optional[Tuple[int, int]] = None
    resize: str = "fixed"
    fp16: bool = False
    bpe_vocab: Optional[str] = None
    word_vocab: Optional[str] = None
    name: Optional[str] = None
    version: str = "0.1.0"
    scale: Optional[float] = None
    beta: float = 1.2
    gamma: float = 3.0
    opset: int = 17
    tolerance: float = 1e-4
    fp16_tolerance: float = 5e-2
    min_cosine: float = 0.9999
    fp16_min_cosine: float = 0.99
    text_batch: int = 3
    optimize: bool = False
    parity_runtime: str = "auto"
    prompt_templates: List[str] = field(default_factory=lambda: list(DEFAULT_TEMPLATES))
    command: Optional[str] = None
    source: Optional[str] = None


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def git_commit() -> Optional[str]:
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        c = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        if c.returncode != 0:
            return None
        d = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=here, capture_output=True, text=True,
                           timeout=10)
        return c.stdout.strip() + ("-dirty" if d.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def parse_size(values: Optional[Sequence[str]]) -> Optional[Tuple[int, int]]:
    """'448' | '448 448' | '448x336' -> (H, W)."""
    if not values:
        return None
    parts: List[str] = []
    for v in values:
        parts += v.lower().replace("x", " ").replace(",", " ").split()
    try:
        nums = [int(p) for p in parts]
    except ValueError:
        raise InputSizeError(f"input-size: {' '.join(values)!r} is not an integer size; use e.g. 448 or 448x336")
    if len(nums) == 1:
        nums = nums * 2
    if len(nums) != 2 or min(nums) <= 0:
        raise InputSizeError(f"input-size: expected one or two positive integers (H W), got {' '.join(values)!r}")
    return nums[0], nums[1]


class _Progress:
    def __init__(self, total: int, log: Callable[[str], None]):
        self.total = total
        self.i = 0
        self.t0 = time.time()
        self.log = log

    def step(self, msg: str) -> None:
        self.i += 1
        self.log(f"[{self.i}/{self.total}] {msg} (t={time.time() - self.t0:.1f}s)")


def _onnx_export(module: torch.nn.Module, args: Tuple[torch.Tensor, ...], path: str, inputs: List[str],
                 outputs: List[str], dynamic: Dict[str, Dict[int, str]], opset: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad():
            torch.onnx.export(module, args, path, input_names=inputs, output_names=outputs, dynamic_axes=dynamic,
                              opset_version=opset, do_constant_folding=True)
    import onnx

    onnx.checker.check_model(path)


def _to_fp16(path: str) -> None:
    import onnx
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    m = onnx.load(path)
    block = list(DEFAULT_OP_BLOCK_LIST) + ["Resize", "Range"]
    m16 = convert_float_to_float16(m, keep_io_types=False, op_block_list=block, disable_shape_infer=False)
    onnx.save(m16, path)


def _optimize(path: str, log: Callable[[str], None]) -> bool:
    """Optional onnxruntime graph optimisation (fusions); returns whether the file was replaced."""
    try:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        so.optimized_model_filepath = path + ".opt"
        ort.InferenceSession(path, sess_options=so, providers=["CPUExecutionProvider"])
        os.replace(path + ".opt", path)
        return True
    except Exception as e:  # noqa: BLE001 - optimisation is optional
        log(f"  graph optimisation skipped: {e}")
        return False


def _tokenizer(opts: ExportOptions, vocab_size: int, context_length: int) -> Tuple[Dict[str, object], str, int, int]:
    """Copies / writes the vocabulary into the package; returns (tokenizer spec, file name, sot id, eot id)."""
    if opts.bpe_vocab and opts.word_vocab:
        raise ConfigError("bpe-vocab / word-vocab: pass only one tokenizer vocabulary")
    if opts.bpe_vocab:
        if not os.path.isfile(opts.bpe_vocab):
            raise ConfigError(f"bpe-vocab: file not found: {opts.bpe_vocab} (the CLIP merges file "
                              f"bpe_simple_vocab_16e6.txt.gz)")
        if vocab_size < CLIP_EOT_ID + 1:
            raise ConfigError(f"bpe-vocab: the text tower has {vocab_size} tokens, the CLIP BPE needs 49408; "
                              f"use --word-vocab for this model")
        fname = os.path.basename(opts.bpe_vocab)
        shutil.copyfile(opts.bpe_vocab, os.path.join(opts.out, fname))
        spec = {"type": "clip-bpe", "vocab_file": fname, "context_length": context_length,
                "sot_id": CLIP_SOT_ID, "eot_id": CLIP_EOT_ID, "pad_id": 0}
        return spec, fname, CLIP_SOT_ID, CLIP_EOT_ID
    if opts.word_vocab:
        with open(opts.word_vocab, encoding="utf-8") as f:
            words = [w.strip().lower() for w in f if w.strip()]
        specials = ["<pad>", "<unk>", "<|startoftext|>", "<|endoftext|>"]
        words = [w for w in dict.fromkeys(words) if w not in specials]
        vocab = ["<pad>", "<unk>"] + words + ["<|startoftext|>", "<|endoftext|>"]
        if len(vocab) > vocab_size:
            raise ConfigError(f"word-vocab: {len(vocab)} tokens (with 4 specials) exceed the text tower's "
                              f"vocabulary of {vocab_size}; shorten the word list")
        fname = "vocab.txt"
        with open(os.path.join(opts.out, fname), "w", encoding="utf-8") as f:
            f.write("\n".join(vocab) + "\n")
        sot, eot = len(vocab) - 2, len(vocab) - 1
        spec = {"type": "word", "vocab_file": fname, "context_length": context_length, "lowercase": True,
                "sot_id": sot, "eot_id": eot, "unk_id": 1, "pad_id": 0}
        return spec, fname, sot, eot
    raise ConfigError("bpe-vocab: a tokenizer vocabulary is required: pass --bpe-vocab "
                      "bpe_simple_vocab_16e6.txt.gz (CLIP BPE) or --word-vocab words.txt (one word per line)")


def export_package(opts: ExportOptions, log: Callable[[str], None] = print) -> Dict[str, object]:
    """Build / load the model, export the ONNX files, check parity and write the package. Returns the manifest."""
    check_architecture(opts.arch)
    preset = get_preset(opts.backbone)
    if preset.text is None:
        raise ConfigError(f"backbone: {opts.backbone!r} is a VFM preset; --backbone must be a CLIP preset "
                          f"({', '.join(n for n, p in PRESETS.items() if p.text is not None)})")
    if opts.text_checkpoint and not opts.checkpoint:
        raise ConfigError("text-checkpoint: only applies together with --checkpoint")
    if bool(opts.checkpoint) == bool(opts.random_init):
        raise ConfigError("checkpoint: pass exactly one of --checkpoint PATH or --random-init [--seed N]")
    proxy = opts.arch == "proxyclip"
    vfm_preset = None
    if proxy:
        if not opts.vfm_backbone:
            raise ConfigError("vfm-backbone: architecture 'proxyclip' needs --vfm-backbone (e.g. dinov2-vit-b-14-reg)")
        vfm_preset = get_preset(opts.vfm_backbone)
        if vfm_preset.text is not None or vfm_preset.vision.family != "dinov2":
            raise ConfigError(f"vfm-backbone: {opts.vfm_backbone!r} is not a DINOv2 preset")
        if opts.checkpoint and not opts.vfm_checkpoint:
            raise ConfigError("vfm: pass the DINOv2 checkpoint with --vfm PATH (or use --random-init)")
    elif opts.vfm_checkpoint or opts.vfm_backbone:
        raise ConfigError(f"vfm: --vfm / --vfm-backbone only apply to --arch proxyclip, not {opts.arch!r}")
    vc = preset.vision
    size = opts.input_size or (vc.image_size, vc.image_size)
    h, w = size
    if h % vc.patch_size or w % vc.patch_size or h <= 0 or w <= 0:
        raise InputSizeError(f"input-size: {h}x{w} is not a multiple of the patch size {vc.patch_size} of "
                             f"{preset.name}; use e.g. {max(1, h // vc.patch_size) * vc.patch_size}x"
                             f"{max(1, w // vc.patch_size) * vc.patch_size}")
    if opts.resize not in ("fixed", "short_side", "long_side"):
        raise ConfigError(f"resize: {opts.resize!r} is not one of fixed, short_side, long_side")
    os.makedirs(opts.out, exist_ok=True)
    n_files = 3 if proxy else 2
    prog = _Progress(3 + 2 * n_files, log)

    prog.step(f"building {preset.name} ({opts.arch})")
    clip = build_clip(preset, seed=opts.seed if opts.random_init else None)
    vfm_model = build_vision(vfm_preset.vision, seed=opts.seed + 1 if opts.random_init else None) if proxy else None
    ckpt_info: Dict[str, object] = {}
    if opts.checkpoint:
        log(f"  loading {opts.checkpoint}")
        sd = load_checkpoint_file(opts.checkpoint)
        if opts.text_checkpoint:
            log(f"  loading the text tower and logit_scale from {opts.text_checkpoint}")
            sd = merge_text_tower(sd, load_checkpoint_file(opts.text_checkpoint))
            ckpt_info["text_checkpoint"] = {"file": os.path.basename(opts.text_checkpoint),
                                            "sha256": sha256_file(opts.text_checkpoint)}
        load_clip_state_dict(clip, sd, preset)
        ckpt_info["checkpoint"] = {"file": os.path.basename(opts.checkpoint), "sha256": sha256_file(opts.checkpoint)}
        if proxy:
            load_vfm_state_dict(vfm_model, load_checkpoint_file(opts.vfm_checkpoint), vfm_preset)
            ckpt_info["vfm_checkpoint"] = {"file": os.path.basename(opts.vfm_checkpoint),
                                           "sha256": sha256_file(opts.vfm_checkpoint)}
    clip.eval()
    grid = (h // vc.patch_size, w // vc.patch_size)
    clip.visual.resample_pos_embed(grid)
    vfm = None
    if proxy:
        vfm_model.resample_pos_embed(grid)
        vfm = VfmFeatures(vfm_model, vc.patch_size, vc.mean, vc.std).eval()
    image_enc = ImageEncoder(opts.arch, clip.visual, vfm, scale=opts.scale, beta=opts.beta, gamma=opts.gamma).eval()
    text_enc = TextEncoder(clip.text).eval()

    tok_spec, vocab_file, sot, eot = _tokenizer(opts, preset.text.vocab_size, preset.text.context_length)
    ctx = preset.text.context_length
    g = torch.Generator().manual_seed(opts.seed + 1234)
    sample = torch.randn(1, 3, h, w, generator=g)
    img_path = os.path.join(opts.out, "image_encoder.onnx")
    txt_path = os.path.join(opts.out, "text_encoder.onnx")
    vfm_path = os.path.join(opts.out, "vfm.onnx")

    for label, mod in (("image_encoder", image_enc), ("text_encoder", text_enc)):
        nbytes = sum(p.numel() * 4 for p in mod.parameters())
        if nbytes > ONNX_SINGLE_FILE_LIMIT:
            raise ConfigError(f"backbone: {label}.onnx would hold {nbytes / 2**30:.2f} GiB of fp32 weights, above "
                              f"the 2 GiB single-file ONNX limit (external-data packages are not supported); use "
                              f"a smaller backbone / VFM preset")
    prog.step(f"exporting image_encoder.onnx at {h}x{w} (opset {opts.opset}, dynamic H,W)")
    _onnx_export(image_enc, (sample,), img_path, ["pixels"], ["dense_features", "global_embedding"],
                 {"pixels": {2: "height", 3: "width"}, "dense_features": {1: "grid_h", 2: "grid_w"}}, opts.opset)
    prog.step("exporting text_encoder.onnx")
    ids = torch.from_numpy(random_text_ids(2, ctx, eot, sot, opts.seed))
    _onnx_export(text_enc, (ids,), txt_path, ["input_ids"], ["text_embeddings"],
                 {"input_ids": {0: "batch"}, "text_embeddings": {0: "batch"}}, opts.opset)
    if proxy:
        prog.step("exporting vfm.onnx")
        _onnx_export(vfm, (sample,), vfm_path, ["pixels"], ["vfm_features"],
                     {"pixels": {2: "height", 3: "width"}, "vfm_features": {1: "grid_h", 2: "grid_w"}}, opts.opset)

    prog.step("post-processing graphs" + (" (fp16)" if opts.fp16 else "") + (" (optimise)" if opts.optimize else ""))
    paths = [img_path, txt_path] + ([vfm_path] if proxy else [])
    optimized = []
    for p in paths:
        if opts.optimize and _optimize(p, log):
            optimized.append(os.path.basename(p))
        if opts.fp16:
            _to_fp16(p)
    fdtype = np.float16 if opts.fp16 else np.float32
    tol = opts.fp16_tolerance if opts.fp16 else opts.tolerance
    min_cos = opts.fp16_min_cosine if opts.fp16 else opts.min_cosine

    runtime = resolve_runtime(opts.parity_runtime)
    if runtime == "python" and opts.parity_runtime == "auto":
        log("  onnxruntime-node not found (run `npm ci` in the repo root): parity uses onnxruntime python")
    rng = np.random.default_rng(opts.seed + 99)
    p = vc.patch_size
    sizes = [(h, w), (h + p, max(p, w - p))] if (h, w) != (p, p) else [(h, w), (2 * p, p)]
    pix = [{"pixels": rng.standard_normal((1, 3, sh, sw)).astype(np.float32)} for sh, sw in sizes]
    parity: Dict[str, object] = {}
    prog.step(f"parity image_encoder.onnx at {', '.join(f'{a}x{b}' for a, b in sizes)} ({runtime} onnxruntime)")
    parity["image_encoder"] = check_parity(image_enc, img_path, pix, ["dense_features", "global_embedding"], fdtype,
                                           tol, min_cos, "image_encoder.onnx", runtime, log)
    prog.step("parity text_encoder.onnx")
    tids = [{"input_ids": random_text_ids(opts.text_batch, ctx, eot, sot, opts.seed + 7)},
            {"input_ids": random_text_ids(1, ctx, eot, sot, opts.seed + 8)}]
    parity["text_encoder"] = check_parity(text_enc, txt_path, tids, ["text_embeddings"], fdtype, tol, min_cos,
                                          "text_encoder.onnx", runtime, log)
    if proxy:
        prog.step("parity vfm.onnx")
        parity["vfm"] = check_parity(vfm, vfm_path, pix, ["vfm_features"], fdtype, tol, min_cos, "vfm.onnx",
                                     runtime, log)

    prog.step("writing model.json, parity.json")
    dtype = "float16" if opts.fp16 else "float32"

    def spec(path: str, inputs: List[str], outputs: List[str]) -> Dict[str, object]:
        return {"file": os.path.basename(path), "sha256": sha256_file(path), "inputs": inputs, "outputs": outputs,
                "dtype": dtype}

    files: Dict[str, object] = {
        "image_encoder": spec(img_path, ["pixels"], ["dense_features", "global_embedding"]),
        "text_encoder": spec(txt_path, ["input_ids"], ["text_embeddings"]),
    }
    if proxy:
        files["vfm"] = spec(vfm_path, ["pixels"], ["vfm_features"])
    logit_scale = float(min(100.0, float(clip.logit_scale.detach().exp())))
    source = opts.source or (f"random init (test), seed {opts.seed}" if opts.random_init
                             else f"checkpoint {os.path.basename(opts.checkpoint)}")
    summary = {name: {"passed": rep["passed"], "runtime": rep["runtime"],
                      "max_abs_diff": max(o["max_abs_diff"] for c in rep["cases"] for o in c["outputs"].values()),
                      "min_cosine": min(o["min_cosine"] for c in rep["cases"] for o in c["outputs"].values())}
               for name, rep in parity.items()}
    provenance: Dict[str, object] = {
        "source": source,
        "commit": git_commit(),
        "command": opts.command or "declip_torch.export.export_package(" + ", ".join(
            f"{f.name}={getattr(opts, f.name)!r}" for f in dataclasses.fields(opts)
            if f.name not in ("prompt_templates", "command") and getattr(opts, f.name) != f.default) + ")",
        "notes": (f"{opts.arch} on {preset.name}"
                  + (f" + {vfm_preset.name}" if proxy else "")
                  + (f", decoupled attention scale {opts.scale}" if opts.scale is not None and not proxy else "")
                  + (f", proxy beta {opts.beta} gamma {opts.gamma}" if proxy else "")
                  + "; position embedding resampled (bicubic) to the export grid, interpolated in-graph for other "
                    "sizes"),
        "backbone": preset.name,
        "exporter": f"declip_torch {__version__}, torch {torch.__version__}, opset {opts.opset}",
        "parity": summary,
        **ckpt_info,
    }
    if optimized:
        provenance["optimized"] = optimized
    if proxy:
        provenance["teachers"] = [vfm_preset.name]
        provenance["vfm_backbone"] = vfm_preset.name
    manifest: Dict[str, object] = {
        "format_version": 1,
        "name": opts.name or f"{opts.arch}-{preset.name}",
        "version": opts.version,
        "architecture": opts.arch,
        "image": {"input_size": [h, w], "resize": opts.resize, "patch_size": vc.patch_size, "dynamic_hw": True,
                  "mean": list(vc.mean), "std": list(vc.std)},
        "feature_dim": vc.out_dim,
        "logit_scale": logit_scale,
        "tokenizer": tok_spec,
        "text": {"input_dtype": "int64"},
        "prompt_templates": list(opts.prompt_templates),
        "files": files,
        "provenance": provenance,
    }
    with open(os.path.join(opts.out, "parity.json"), "w", encoding="utf-8") as f:
        json.dump(parity, f, indent=2)
    with open(os.path.join(opts.out, "model.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)
    log(f"done: {opts.out} (parity max|diff| "
        + ", ".join(f"{k} {v['max_abs_diff']:.2e}" for k, v in summary.items()) + ")")
    return manifest


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m declip_torch.export", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", required=True, help=f"one of {', '.join(ARCHITECTURES)}")
    ap.add_argument("--backbone", required=True, help=f"CLIP preset: {', '.join(sorted(PRESETS))}")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--checkpoint", help="CLIP / EVA-CLIP / DeCLIP checkpoint (.pt/.pth state dict)")
    src.add_argument("--random-init", action="store_true", help="random weights (tests, benchmarks)")
    ap.add_argument("--text-checkpoint", help="take the text tower + logit_scale from this CLIP checkpoint (for "
                    "fine-tuned checkpoints that hold only visual.* weights)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--vfm", dest="vfm_checkpoint", help="DINOv2 checkpoint for --arch proxyclip")
    ap.add_argument("--vfm-backbone", help="DINOv2 preset for --arch proxyclip (e.g. dinov2-vit-b-14-reg)")
    ap.add_argument("--out", required=True, help="output package directory")
    ap.add_argument("--input-size", "--size", nargs="+", help="H [W] or HxW, a multiple of the patch size")
    ap.add_argument("--resize", default="fixed", help="fixed | short_side | long_side (runtime resize policy)")
    ap.add_argument("--fp16", action="store_true", help="write float16 graphs (parity vs fp32 PyTorch, looser tol.)")
    ap.add_argument("--bpe-vocab", help="CLIP BPE merges file (bpe_simple_vocab_16e6.txt.gz), copied in")
    ap.add_argument("--word-vocab", help="word list (one per line) for a word-level tokenizer")
    ap.add_argument("--name")
    ap.add_argument("--version", default="0.1.0")
    ap.add_argument("--scale", type=float, help="DeCLIP attention scale (default head_dim^-0.5; match the checkpoint)")
    ap.add_argument("--beta", type=float, default=1.2, help="ProxyCLIP beta")
    ap.add_argument("--gamma", type=float, default=3.0, help="ProxyCLIP gamma")
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--tolerance", type=float, default=1e-4, help="fp32 parity: max abs difference")
    ap.add_argument("--optimize", action="store_true", help="onnxruntime graph fusions (parity re-checked)")
    ap.add_argument("--parity-runtime", default="auto",
                    help="auto (onnxruntime-node when available, else python) | node | python")
    ap.add_argument("--source", help="provenance.source text")
    return ap


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    a = build_parser().parse_args(argv)
    try:
        opts = ExportOptions(arch=a.arch, backbone=a.backbone, out=a.out, checkpoint=a.checkpoint,
                             text_checkpoint=a.text_checkpoint, random_init=a.random_init, seed=a.seed,
                             vfm_backbone=a.vfm_backbone,
                             vfm_checkpoint=a.vfm_checkpoint, input_size=parse_size(a.input_size), resize=a.resize,
                             fp16=a.fp16, bpe_vocab=a.bpe_vocab, word_vocab=a.word_vocab, name=a.name,
                             version=a.version, scale=a.scale, beta=a.beta, gamma=a.gamma, opset=a.opset,
                             tolerance=a.tolerance, optimize=a.optimize, source=a.source,
                             parity_runtime=a.parity_runtime,
                             command=shlex.join(["python", "-m", "declip_torch.export"] + argv))
        export_package(opts, log=lambda m: print(m, file=sys.stderr, flush=True))
    except ParityError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    except DeclipError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
