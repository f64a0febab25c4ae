"""DeCLIP distillation trainer (unsupervised; frames from `declip collect`).

    python -m declip_torch.train --config cfg.json [--field value ...]
    python -m declip_torch.train --data DIR --out runs/NAME --base ViT-B-16.pt --backbone openai-vit-b-16 \\
        --vfm dinov2_vitb14_reg4_pretrain.pth --vfm-backbone dinov2-vit-b-14-reg

    from declip_torch.train import TrainConfig, train
    summary = train(TrainConfig(data=..., out=..., backbone="tiny", random_init=True, ...))

stdout carries one JSON object per line (events start, step, checkpoint, epoch, eval, done, error); human-readable
logs go to stderr. The run directory holds checkpoint.pt (atomically replaced every `checkpoint_every` steps),
metrics.jsonl, config.json, final/student.pt (a CLIP checkpoint the exporter reads), eval.json and summary.json.
Re-running with the same config resumes from checkpoint.pt exactly where it stopped.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import hashlib
import json
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import __version__
from .config import PRESETS, Preset, TextConfig, VisionConfig, get_preset
from .errors import CheckpointError, ConfigError, DeclipError
from .export import git_commit
from .heads import ARCH_MODE, ClipModel, build_clip, decoupled_last_block
from .keymap import clip_to_external, load_clip_state_dict, load_vfm_state_dict, suggest_presets, unwrap_state_dict
from .keymap import load_checkpoint_file, torch_has_weights_only
from .teachers import (ContextTeacher, DiffusionRefinedTeacher, MaskAffinityTeacher, OnnxVfmTeacher, ScdTeacher,
                       SelfLayerTeacher, TeacherAffinity, TeacherSpec, VfmTeacher, dense_gram,
                       load_attention_provider, parse_teacher_spec)
from .train_data import (Batch, DatasetError, FrameCache, FrameRecord, build_batch, epoch_order, load_dataset,
                         split_frames, step_rng)
from .train_losses import content_loss, gram_distance, region_correlation_loss, student_context_gram
from .vit import build_vision

CHECKPOINT_FORMAT = "declip-train-checkpoint"
STUDENT_FORMAT = "declip-student"
TRAINABLE_ARCHS = ("declip-csa", "declip-qq")


class TrainError(DeclipError):
    """A training failure with a machine-readable code and a hint (see the `error` event)."""

    def __init__(self, code: str, message: str, hint: str = ""):
        super().__init__(message)
        self.code = code
        self.hint = hint


@dataclass
class TrainConfig:
    """Everything the trainer needs. Defaults follow DeCLIP (ViT-B/16): AdamW lr 1e-5, wd 0.1, content 1.0,
    context 0.25, weight ensembling alpha 0.7, student input 448-560, crops at the teacher's input size."""

    data: str
    out: str
    backbone: Optional[str] = None  # CLIP preset of the base model (or embedded in the checkpoint)
    base: Optional[str] = None  # PyTorch CLIP checkpoint (OpenAI / open_clip / EVA-CLIP / a previous student.pt)
    random_init: bool = False  # random base weights (tests, benchmarks)
    arch: str = "declip-csa"  # declip-csa | declip-qq
    scale: Optional[float] = None  # decoupled attention scale (default head_dim^-0.5)
    vfm: Optional[str] = None  # DINOv2 checkpoint (.pth) or VFM ONNX (the exporter's vfm.onnx contract)
    vfm_backbone: Optional[str] = None  # DINOv2 preset for a .pth VFM
    vfm_random_init: bool = False
    context_teachers: List[str] = field(default_factory=list)  # teacher specs; default ["vfm"] when a VFM is given
    content_weight: float = 1.0
    context_weight: float = 0.25
    region_weight: float = 0.05
    region_points: int = 4
    context_form: str = "l2"  # l2 (released code) | kl (paper)
    kl_temperature: float = 0.1
    student_min_size: int = 448
    student_max_size: int = 560
    crop_size: Optional[int] = None  # teacher input (default: the preset's image size, 224 / 336)
    max_split: int = 6
    max_crops: int = 20
    object_crops: int = 0  # per frame with an instance mask: object-centred content crops added to the grid crops
    object_margin: float = 1.4  # teacher view of an object crop: this x the object box's longer side, square
    batch_size: int = 2
    accumulation: int = 1
    epochs: int = 1
    steps: Optional[int] = None  # optimizer steps in total (default from epochs)
    lr: float = 1e-5
    weight_decay: float = 0.1
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0
    grad_clip: float = 1.0
    amp: bool = True  # CUDA only
    amp_dtype: str = "float16"  # float16 | bfloat16
    device: str = "auto"  # auto | cpu | cuda
    ensemble_alpha: float = 0.7  # end of epoch: student <- alpha student + (1 - alpha) original; 1 disables
    checkpoint_every: int = 50
    resume: str = "auto"  # auto | never (start over, overwriting) | require
    seed: int = 0
    threads: Optional[int] = None
    val_fraction: float = 0.1
    eval: bool = True
    eval_max_frames: int = 32
    eval_size: Optional[int] = None  # default student_min_size
    log_every: int = 1
    prefetch: Optional[bool] = None  # build coming batches in a background thread (default: on CUDA only)
    stop_after: Optional[int] = None  # stop (as if killed, no final outputs) after this step; tests

    def fingerprint(self) -> str:
        """Hash of the fields that decide the optimisation trajectory (a resume must match it)."""
        skip = {"out", "resume", "threads", "eval", "eval_max_frames", "eval_size", "log_every", "stop_after",
                "checkpoint_every", "device", "prefetch"}
        d = {k: v for k, v in asdict(self).items() if k not in skip}
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def config_from_dict(d: Dict[str, Any]) -> TrainConfig:
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    bad = [k for k in d if k not in names]
    if bad:
        raise ConfigError(f"config: unknown field(s) {', '.join(bad)}; known: {', '.join(sorted(names))}")
    if "data" not in d or "out" not in d:
        raise ConfigError("config: 'data' (dataset directory) and 'out' (run directory) are required")
    return TrainConfig(**d)


# ----------------------------------------------------------------------------------------------------------------
# events


class Events:
    """JSON-lines event sink (stdout by default) plus stderr log lines."""

    def __init__(self, stream=None, log_stream=None, quiet: bool = False):
        self.stream = stream if stream is not None else sys.stdout
        self.log_stream = log_stream if log_stream is not None else sys.stderr
        self.quiet = quiet
        self.history: List[Dict[str, Any]] = []

    def emit(self, event: str, **fields: Any) -> None:
        rec = {"event": event, **fields}
        self.stream.write(json.dumps(rec, default=_json_default) + "\n")
        self.stream.flush()

    def log(self, msg: str) -> None:
        if not self.quiet:
            self.log_stream.write(msg + "\n")
            self.log_stream.flush()


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, Tensor):
        return o.tolist()
    return str(o)


# ----------------------------------------------------------------------------------------------------------------
# models


def torch_load(path: str) -> Any:
    """torch.load on the CPU of the trainer's own checkpoint.pt (full pickle: optimizer and RNG state; the file is
    one this trainer wrote into the run directory). torch >= 2.6 defaults to weights_only=True, which it does not
    satisfy. User-supplied checkpoints (--base, --vfm) go through keymap's weights-only loading instead."""
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except TypeError:  # torch < 1.13 has no weights_only
        return torch.load(path, map_location="cpu")


def preset_to_dict(p: Preset) -> Dict[str, Any]:
    return {"name": p.name, "vision": asdict(p.vision), "text": asdict(p.text) if p.text else None}


def preset_from_dict(d: Dict[str, Any]) -> Preset:
    try:
        v = dict(d["vision"])
        v["mean"], v["std"] = tuple(v["mean"]), tuple(v["std"])
        vision = VisionConfig(**v)
        text = TextConfig(**d["text"]) if d.get("text") else None
    except (KeyError, TypeError) as e:
        raise CheckpointError(f"checkpoint: embedded model config is malformed ({e})")
    return Preset(name=str(d.get("name", "custom")), vision=vision, text=text)


def _is_onnx_package(path: str) -> bool:
    return path.endswith(".onnx") or (os.path.isdir(path) and (
        os.path.isfile(os.path.join(path, "model.json")) or os.path.isfile(os.path.join(path, "image_encoder.onnx"))))


def load_base(cfg: TrainConfig) -> Tuple[ClipModel, Preset, Dict[str, Any]]:
    """The base CLIP model: a PyTorch checkpoint (+ --backbone, or a config embedded by our trainer) or random."""
    if cfg.random_init:
        if not cfg.backbone:
            raise ConfigError("backbone: --random-init needs --backbone PRESET")
        preset = get_preset(cfg.backbone)
        return build_clip(preset, seed=cfg.seed), preset, {"source": f"random init, seed {cfg.seed}"}
    if not cfg.base:
        raise ConfigError("base: pass the base model: --base CHECKPOINT --backbone PRESET (or --random-init)")
    if _is_onnx_package(cfg.base):
        raise TrainError("onnx-base", f"base: {cfg.base} is an ONNX model package, which cannot be trained",
                         "pass the original PyTorch checkpoint the package was exported from: --base CKPT.pt "
                         "--backbone PRESET")
    if not os.path.isfile(cfg.base):
        raise ConfigError(f"base: checkpoint not found: {cfg.base}")
    raw = None
    if torch_has_weights_only():  # data only: unpickling a checkpoint must not run code (see keymap)
        try:
            raw = torch.load(cfg.base, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - TorchScript archives / pickles: load_checkpoint_file decides
            raw = None
    embedded = None
    if isinstance(raw, dict) and isinstance(raw.get("declip_json"), str):  # a student.pt of this trainer
        embedded = json.loads(raw["declip_json"]).get("preset")
    elif isinstance(raw, dict) and isinstance(raw.get("declip_preset"), dict):
        embedded = raw["declip_preset"]
    sd = unwrap_state_dict(raw) if raw is not None else load_checkpoint_file(cfg.base)
    if cfg.backbone:
        preset = get_preset(cfg.backbone)
    elif embedded:
        name = embedded.get("name")
        same = name in PRESETS and json.loads(json.dumps(preset_to_dict(PRESETS[name]))) == embedded
        preset = PRESETS[name] if same else preset_from_dict(embedded)
    else:
        fits = suggest_presets(sd)
        raise ConfigError(f"backbone: pass --backbone PRESET for {cfg.base}"
                          + (f" (matching presets: {', '.join(fits)})" if fits else ""))
    if preset.text is None:
        raise ConfigError(f"backbone: {preset.name!r} is a VFM preset; the student must be a CLIP preset")
    model = build_clip(preset)
    try:
        load_clip_state_dict(model, sd, preset)
    except CheckpointError as e:
        raise TrainError("checkpoint-mismatch", str(e),
                         "pick the --backbone preset the checkpoint was trained with (see 'matching preset')")
    return model.eval(), preset, {"source": os.path.basename(cfg.base)}


def load_vfm(cfg: TrainConfig, student_patch: int, mean, std) -> Optional[ContextTeacher]:
    if cfg.vfm is None and not cfg.vfm_random_init:
        return None
    if cfg.vfm is not None and (cfg.vfm.endswith(".onnx") or os.path.isdir(cfg.vfm)):
        return OnnxVfmTeacher(cfg.vfm)
    if not cfg.vfm_backbone:
        raise ConfigError("vfm-backbone: a PyTorch VFM checkpoint needs --vfm-backbone (e.g. dinov2-vit-b-14-reg)")
    vp = get_preset(cfg.vfm_backbone)
    if vp.text is not None or vp.vision.family != "dinov2":
        raise ConfigError(f"vfm-backbone: {cfg.vfm_backbone!r} is not a DINOv2 preset")
    if cfg.vfm_random_init:
        vfm = build_vision(vp.vision, seed=cfg.seed + 1)
    else:
        vfm = build_vision(vp.vision)
        try:
            load_vfm_state_dict(vfm, load_checkpoint_file(cfg.vfm), vp)
        except CheckpointError as e:
            raise TrainError("checkpoint-mismatch", str(e), "pick the --vfm-backbone preset of the VFM checkpoint")
    return VfmTeacher(vfm.eval(), student_patch, mean, std, name=f"vfm:{vp.name}")


def configure_trainable(visual: nn.Module, arch: str) -> List[Tuple[Tensor, slice, Tensor]]:
    """DeCLIP's trainable set: every transformer block; patch / position embedding, class token, registers,
    ln_pre, final norm and head frozen; in the last block norm2 / MLP / ls2 frozen (unused by the decoupled
    block) and, in 'qq' mode, the k projection frozen. Returns the frozen slices of partly trainable tensors
    (restored after every optimizer step so that they stay bit-identical)."""
    for p in visual.parameters():
        p.requires_grad_(False)
    for blk in visual.blocks:
        for p in blk.parameters():
            p.requires_grad_(True)
    last = visual.blocks[-1]
    for mod in (last.norm2, last.mlp):
        for p in mod.parameters():
            p.requires_grad_(False)
    if last.ls2 is not None:
        last.ls2.requires_grad_(False)
    frozen: List[Tuple[Tensor, slice, Tensor]] = []
    if ARCH_MODE[arch] == "qq":
        w = last.attn.dim
        sl = slice(w, 2 * w)
        frozen.append((last.attn.qkv.weight, sl, last.attn.qkv.weight.detach()[sl].clone()))
        if last.attn.k_bias is not None:
            last.attn.k_bias.requires_grad_(False)
    return frozen


@dataclass
class StudentOut:
    dense: Tensor  # [B, h, w, D]
    q: Tensor
    k: Tensor


def student_forward(visual: nn.Module, pixels: Tensor, mode: str, scale: Optional[float]) -> StudentOut:
    """Student dense features through the decoupled last block (no class-token path, which no loss uses)."""
    x, (h, w), _ = visual.forward_until_last(pixels)
    content, (q, k) = decoupled_last_block(visual.blocks[-1], x, mode, scale)
    npf = visual.num_prefix
    dense = F.normalize(visual.project(content[:, npf:]), dim=-1)
    return StudentOut(dense=dense.reshape(dense.shape[0], h, w, -1), q=q[:, :, npf:], k=k[:, :, npf:])


# ----------------------------------------------------------------------------------------------------------------
# the loss


@dataclass
class TeacherTerm:
    teacher: ContextTeacher
    weight: float
    form: str
    temperature: float
    student_side: str
    label: str


def build_teacher_terms(cfg: TrainConfig, frozen_visual: nn.Module, vfm: Optional[ContextTeacher],
                        mode: str) -> List[TeacherTerm]:
    specs = [parse_teacher_spec(s) for s in (cfg.context_teachers or (["vfm"] if vfm is not None else []))]
    terms: List[TeacherTerm] = []
    for sp in specs:
        t: ContextTeacher
        if sp.kind == "vfm":
            if vfm is None:
                raise ConfigError("context-teacher: 'vfm' needs --vfm CHECKPOINT_OR_ONNX (and --vfm-backbone)")
            t = vfm
        elif sp.kind == "self-layer":
            t = SelfLayerTeacher(frozen_visual, int(sp.arg or 0))
        elif sp.kind == "scd":
            t = ScdTeacher(frozen_visual, "qq", cfg.scale)
        elif sp.kind == "mask-affinity":
            t = MaskAffinityTeacher(sp.options.get("background", "segment"))
        else:  # diffusion
            if vfm is None:
                raise ConfigError("context-teacher: diffusion refines the VFM affinity; pass --vfm too")
            t = DiffusionRefinedTeacher(vfm, load_attention_provider(sp.arg or ""), sp.options.get("checkpoint"),
                                        float(sp.options.get("lambda", 0.5)))
        side = sp.options.get("student", t.student_side)
        terms.append(TeacherTerm(teacher=t, weight=sp.weight if sp.weight is not None else cfg.context_weight,
                                 form=sp.options.get("form", cfg.context_form),
                                 temperature=float(sp.options.get("temperature", cfg.kl_temperature)),
                                 student_side=side, label=sp.text))
    return terms


def _term_key(term: TeacherTerm, i: int, n: int) -> str:
    return "context" if n == 1 else f"context[{term.label}]"


def compute_losses(visual: nn.Module, teacher_visual: nn.Module, terms: Sequence[TeacherTerm], batch: Batch,
                   cfg: TrainConfig, mode: str, patch: int, region_feats_from: Optional[int],
                   affinities: Optional[List[TeacherAffinity]] = None) -> Tuple[Tensor, Dict[str, Tensor]]:
    """Weighted total and the unweighted terms {content, context(...), region} for one batch."""
    out = student_forward(visual, batch.pixels, mode, cfg.scale)
    terms_out: Dict[str, Tensor] = {}
    with torch.no_grad():
        temb = F.normalize(teacher_visual.encode_image(batch.crops).float(), dim=-1)
    terms_out["content"] = content_loss(out.dense.float(), batch.boxes, temb, patch)
    total = cfg.content_weight * terms_out["content"]
    if affinities is None:
        affinities = [t.teacher.affinity(batch) for t in terms]
    for i, (term, aff) in enumerate(zip(terms, affinities)):
        if term.student_side == "dense":
            sg = dense_gram(out.dense.float())
        else:
            sg = student_context_gram(out.q.float(), out.k.float(), mode, batch.grid, batch.grid)
        valid = aff.valid if aff.valid is not None else batch.valid
        val = gram_distance(sg, aff.gram.float(), term.form, valid, term.temperature)
        key = _term_key(term, i, len(terms))
        terms_out[key] = val
        total = total + term.weight * val
    if region_feats_from is not None and cfg.region_weight > 0:
        feats = affinities[region_feats_from].features
        assert feats is not None
        terms_out["region"] = region_correlation_loss(out.dense.float(), feats.float(), batch.boxes, patch,
                                                      cfg.region_points, cfg.context_form, cfg.kl_temperature)
        total = total + cfg.region_weight * terms_out["region"]
    return total, terms_out


# ----------------------------------------------------------------------------------------------------------------
# schedule, checkpoints


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    """Linear warm-up for `warmup_steps`, then cosine from lr to lr * min_lr_ratio (step counted from 0)."""
    if cfg.warmup_steps > 0 and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, total - cfg.warmup_steps)
    t = min(1.0, (step - cfg.warmup_steps) / span)
    lo = cfg.lr * cfg.min_lr_ratio
    return lo + (cfg.lr - lo) * 0.5 * (1.0 + math.cos(math.pi * t))


def atomic_torch_save(obj: Any, path: str) -> None:
    """Write to a temp file in the same directory, fsync, rename over `path`, fsync the directory."""
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: str, text: str) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def rng_state() -> Dict[str, Any]:
    st = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def set_rng_state(st: Dict[str, Any]) -> None:
    random.setstate(st["python"])
    np.random.set_state(st["numpy"])
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def resolve_device(cfg: TrainConfig) -> torch.device:
    if cfg.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if cfg.device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise TrainError("cuda-unavailable", f"device: {cfg.device} requested but torch "
                             f"{torch.__version__} sees no CUDA device",
                             "install a CUDA build of PyTorch and an NVIDIA driver, or pass --device cpu")
        return torch.device(cfg.device)
    if cfg.device != "cpu":
        raise ConfigError(f"device: {cfg.device!r} is not auto, cpu or cuda[:N]")
    return torch.device("cpu")


def micro_batches_per_epoch(n_train: int, batch_size: int) -> int:
    return max(1, math.ceil(n_train / batch_size))


def frames_for_micro(train: Sequence[FrameRecord], m: int, cfg: TrainConfig) -> Tuple[List[FrameRecord], int]:
    """Frames of global micro-batch m (and its epoch): epoch order seeded by (seed, epoch); a short last batch is
    filled from the start of the same order."""
    per = micro_batches_per_epoch(len(train), cfg.batch_size)
    epoch, pos = divmod(m, per)
    order = epoch_order(len(train), cfg.seed, epoch)
    idx = [order[(pos * cfg.batch_size + i) % len(order)] for i in range(cfg.batch_size)]
    return [train[i] for i in idx], epoch


def batch_to(b: Batch, device: torch.device) -> Batch:
    nb = device.type == "cuda"
    return dataclasses.replace(
        b, pixels=b.pixels.to(device, non_blocking=nb), boxes=b.boxes.to(device, non_blocking=nb),
        crops=b.crops.to(device, non_blocking=nb), valid=b.valid.to(device, non_blocking=nb),
        patch_labels=b.patch_labels.to(device, non_blocking=nb) if b.patch_labels is not None else None)


def pin_batch(b: Batch) -> Batch:
    return dataclasses.replace(b, pixels=b.pixels.pin_memory(), crops=b.crops.pin_memory())


class BatchPrefetcher:
    """Builds the batches of the coming steps in one background thread (decode, resize, crops) while the device
    computes. Every batch depends only on (seed, step, micro-batch), so prefetching changes no result."""

    def __init__(self, make: Callable[[int, int], Batch], accumulation: int, total: int, enabled: bool,
                 depth: int = 2):
        self.make = make
        self.acc = accumulation
        self.total = total
        self.enabled = enabled
        self.depth = depth
        self.pool = None
        self.pending: Dict[Tuple[int, int], Any] = {}

    def __enter__(self) -> "BatchPrefetcher":
        if self.enabled:
            from concurrent.futures import ThreadPoolExecutor

            self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="declip-batches")
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            for f in self.pending.values():
                f.cancel()
            self.pool.shutdown(wait=True)
            self.pool = None

    def get(self, step: int, micro: int) -> Batch:
        if self.pool is None:
            return self.make(step, micro)
        key = (step, micro)
        fut = self.pending.pop(key, None)
        if fut is None:
            fut = self.pool.submit(self.make, step, micro)
        # queue the next `depth` micro-batches
        idx = step * self.acc + micro
        for j in range(idx + 1, min(idx + 1 + self.depth, self.total * self.acc)):
            k = divmod(j, self.acc)
            if k not in self.pending:
                self.pending[k] = self.pool.submit(self.make, k[0], k[1])
        return fut.result()


# ----------------------------------------------------------------------------------------------------------------
# evaluation


def prototype_miou(dense: Tensor, labels: Tensor) -> Optional[float]:
    """Mask mIoU of dense features: each ground-truth segment's mean feature is a prototype, every patch goes to
    its most similar prototype, IoU per segment at patch resolution (labels -1 ignored). dense [N, D], labels [N]."""
    keep = labels >= 0
    if keep.sum() == 0:
        return None
    f = F.normalize(dense[keep].float(), dim=-1)
    lab = labels[keep]
    ids = torch.unique(lab)
    if len(ids) < 2:
        return None
    protos = F.normalize(torch.stack([f[lab == i].mean(0) for i in ids]), dim=-1)
    pred = ids[(f @ protos.T).argmax(-1)]
    ious = []
    for i in ids:
        inter = ((pred == i) & (lab == i)).sum().item()
        union = ((pred == i) | (lab == i)).sum().item()
        ious.append(inter / union if union else 0.0)
    return float(np.mean(ious))


def correlation_agreement(sg: Tensor, tg: Tensor, valid: Tensor) -> float:
    """Pearson correlation between the student's and the reference's affinities over valid off-diagonal pairs."""
    n = sg.shape[0]
    m = valid[:, None] & valid[None, :] & ~torch.eye(n, dtype=torch.bool, device=sg.device)
    a, b = sg[m].double(), tg[m].double()
    if a.numel() < 2:
        return float("nan")
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-12))


@torch.no_grad()
def evaluate_dense(visual: nn.Module, frames: Sequence[FrameRecord], cache: FrameCache, cfg: TrainConfig,
                   mode: str, patch: int, mean, std, reference: Optional[ContextTeacher],
                   device: torch.device) -> Dict[str, Any]:
    """Dense-feature quality on held-out frames: mask mIoU (prototype assignment) where masks exist, and the
    correlation agreement with the reference teacher (the first context teacher) otherwise / as well."""
    size = cfg.eval_size or cfg.student_min_size
    mious: List[float] = []
    corrs: List[float] = []
    for i, fr in enumerate(frames[:cfg.eval_max_frames]):
        b = build_batch([fr], cache, random.Random(i), patch=patch, min_size=size, max_size=size,
                        crop_size=patch, mean=mean, std=std, max_split=1, max_crops=1, fixed_size=size)
        b = batch_to(b, device)
        out = student_forward(visual, b.pixels, mode, cfg.scale)
        dense = out.dense[0].reshape(-1, out.dense.shape[-1]).float()
        if b.patch_labels is not None:
            v = prototype_miou(dense, torch.where(b.valid[0], b.patch_labels[0], torch.full_like(b.patch_labels[0],
                                                                                                  -1)))
            if v is not None:
                mious.append(v)
        if reference is not None:
            aff = reference.affinity(b)
            valid = (aff.valid if aff.valid is not None else b.valid)[0]
            corrs.append(correlation_agreement(dense_gram(out.dense.float())[0], aff.gram[0].float(), valid))
    res: Dict[str, Any] = {"frames": min(len(frames), cfg.eval_max_frames), "size": size}
    if mious:
        res["mask_miou"] = float(np.mean(mious))
    if corrs:
        res["corr_agreement"] = float(np.nanmean(corrs))
    return res


# ----------------------------------------------------------------------------------------------------------------
# training


def _vision_state(visual: nn.Module) -> Dict[str, Tensor]:
    return {k: v.detach().cpu().clone() for k, v in visual.state_dict().items()}


def train(cfg: TrainConfig, events: Optional[Events] = None) -> Dict[str, Any]:
    """Run (or resume) a distillation. Returns the summary (also written to OUT/summary.json)."""
    ev = events or Events()
    t_start = time.time()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.arch not in TRAINABLE_ARCHS:
        raise ConfigError(f"arch: {cfg.arch!r} cannot be distilled; pick one of {', '.join(TRAINABLE_ARCHS)}")
    if cfg.context_form not in ("l2", "kl"):
        raise ConfigError(f"context-form: {cfg.context_form!r}; pick l2 (released code) or kl (paper)")
    if cfg.batch_size < 1 or cfg.accumulation < 1:
        raise ConfigError("batch-size / accumulation: must be >= 1")
    if cfg.object_crops < 0 or cfg.object_margin < 1.0:
        raise ConfigError(f"object-crops / object-margin: need object-crops >= 0 (got {cfg.object_crops}) and "
                          f"object-margin >= 1 (got {cfg.object_margin}); e.g. --object-crops 8 --object-margin 1.4")
    if cfg.resume not in ("auto", "never", "require"):
        raise ConfigError(f"resume: {cfg.resume!r}; pick auto, never or require")
    device = resolve_device(cfg)
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)
    mode = ARCH_MODE[cfg.arch]

    frames = load_dataset(cfg.data)
    train_frames, val_frames = split_frames(frames, cfg.val_fraction, cfg.seed)
    base, preset, base_info = load_base(cfg)
    vc = preset.vision
    patch = vc.patch_size
    crop = cfg.crop_size or vc.image_size
    if cfg.student_min_size > cfg.student_max_size or cfg.student_max_size < patch:
        raise ConfigError(f"student-min-size / student-max-size: need {patch} <= min <= max")
    teacher = copy.deepcopy(base).eval()  # frozen original (content teacher, ensembling, self teachers, 'before')
    for p in teacher.parameters():
        p.requires_grad_(False)
    student = base
    visual = student.visual
    frozen_slices = configure_trainable(visual, cfg.arch)
    vfm = load_vfm(cfg, patch, vc.mean, vc.std)
    terms = build_teacher_terms(cfg, teacher.visual, vfm, mode)
    if any(isinstance(t.teacher, MaskAffinityTeacher) for t in terms) and not any(f.mask for f in frames):
        raise DatasetError(f"context-teacher: mask-affinity needs instance masks, but no frame of {cfg.data} has "
                           f"one (collect with --mask-topic, or pick another teacher)")
    region_from = next((i for i, t in enumerate(terms) if isinstance(t.teacher, (VfmTeacher, OnnxVfmTeacher,
                                                                                   DiffusionRefinedTeacher))), None)
    if cfg.region_weight > 0 and region_from is None:
        ev.log("region correlation constraint off: it needs a VFM teacher (--vfm)")
    student.to(device)
    teacher.to(device)
    for t in terms:
        t.teacher.to(device)
    frozen_slices = [(p, sl, v.to(device)) for p, sl, v in frozen_slices]

    trainable = [p for p in visual.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay)
    use_amp = cfg.amp and device.type == "cuda"
    amp_dtype = torch.bfloat16 if cfg.amp_dtype == "bfloat16" else torch.float16
    scaler_cls = getattr(getattr(torch, "amp", None), "GradScaler", None)
    scaler = (scaler_cls("cuda") if scaler_cls is not None else torch.cuda.amp.GradScaler()) if (
        use_amp and amp_dtype == torch.float16) else None

    per_epoch = micro_batches_per_epoch(len(train_frames), cfg.batch_size)
    total = cfg.steps or max(1, math.ceil(cfg.epochs * per_epoch / cfg.accumulation))
    os.makedirs(cfg.out, exist_ok=True)
    ckpt_path = os.path.join(cfg.out, "checkpoint.pt")
    metrics_path = os.path.join(cfg.out, "metrics.jsonl")
    fp = cfg.fingerprint()
    start_step = 0
    history: List[Dict[str, Any]] = []
    resumed = False
    if os.path.isfile(ckpt_path) and cfg.resume != "never":
        ck = torch_load(ckpt_path)
        if ck.get("format") != CHECKPOINT_FORMAT:
            raise TrainError("checkpoint-mismatch", f"out: {ckpt_path} is not a declip training checkpoint",
                             "use a new --out directory")
        if ck.get("fingerprint") != fp:
            raise TrainError("checkpoint-mismatch",
                             f"out: {cfg.out} holds a run with a different configuration (fingerprint "
                             f"{ck.get('fingerprint')} vs {fp}; changed: {', '.join(_changed(ck.get('config', {}), cfg))})",
                             "resume with the same settings, pick a new --out, or pass --resume never to start over")
        try:
            visual.load_state_dict(ck["student_visual"], strict=True)
        except RuntimeError as e:
            raise TrainError("checkpoint-mismatch", f"out: checkpoint does not fit the model: {e}",
                             "use a new --out directory")
        opt.load_state_dict(ck["optimizer"])
        if scaler is not None and ck.get("scaler"):
            scaler.load_state_dict(ck["scaler"])
        set_rng_state(ck["rng"])
        start_step = int(ck["step"])
        history = list(ck.get("history", []))
        resumed = True
        with torch.no_grad():
            for p, sl, v in frozen_slices:
                p.data[sl] = v
    elif cfg.resume == "require":
        raise TrainError("no-checkpoint", f"resume: {ckpt_path} does not exist", "drop --resume require")
    atomic_write_text(metrics_path, "".join(json.dumps(h) + "\n" for h in history))
    atomic_write_text(os.path.join(cfg.out, "config.json"), json.dumps(asdict(cfg), indent=2))

    n_train = sum(p.numel() for p in trainable) - sum(v.numel() for _, _, v in frozen_slices)
    ev.emit("start", steps=total, step=start_step, resumed=resumed, epochs=cfg.epochs, frames=len(frames),
            train_frames=len(train_frames), val_frames=len(val_frames), device=str(device), amp=use_amp,
            backbone=preset.name, arch=cfg.arch, teachers=[t.teacher.name for t in terms],
            trainable_params=n_train, total_params=sum(p.numel() for p in visual.parameters()), fingerprint=fp,
            torch=torch.__version__)
    ev.log(f"training {preset.name} ({cfg.arch}) on {len(train_frames)} frames, {total} steps, device {device}"
           + (f", resumed at step {start_step}" if resumed else ""))

    cache = FrameCache()

    def make_batch(s: int, a: int) -> Batch:
        fr, _ = frames_for_micro(train_frames, s * cfg.accumulation + a, cfg)
        b = build_batch(fr, cache, step_rng(cfg.seed, s, a), patch=patch, min_size=cfg.student_min_size,
                        max_size=cfg.student_max_size, crop_size=crop, mean=vc.mean, std=vc.std,
                        max_split=cfg.max_split, max_crops=cfg.max_crops, object_crops=cfg.object_crops,
                        object_margin=cfg.object_margin)
        return pin_batch(b) if device.type == "cuda" else b

    prefetch = cfg.prefetch if cfg.prefetch is not None else device.type == "cuda"
    loader = BatchPrefetcher(make_batch, cfg.accumulation, total, enabled=prefetch)
    with open(metrics_path, "a", encoding="utf-8") as mf, loader:
        step = start_step
        t_last = time.time()
        rate_hist: List[float] = []
        try:
            while step < total:
                student.train()
                lr = lr_at(step, total, cfg)
                for g in opt.param_groups:
                    g["lr"] = lr
                opt.zero_grad(set_to_none=True)
                sums: Dict[str, float] = {}
                loss_sum = 0.0
                for a in range(cfg.accumulation):
                    b = batch_to(loader.get(step, a), device)
                    with (torch.autocast(device_type="cuda", dtype=amp_dtype) if use_amp else
                          contextlib.nullcontext()):
                        loss, parts = compute_losses(visual, teacher.visual, terms, b, cfg, mode, patch,
                                                     region_from)
                    loss = loss / cfg.accumulation
                    if scaler is not None:
                        scaler.scale(loss).backward()
                    else:
                        loss.backward()
                    loss_sum += float(loss.detach())
                    for k, v in parts.items():
                        sums[k] = sums.get(k, 0.0) + float(v.detach()) / cfg.accumulation
                if not math.isfinite(loss_sum):
                    raise TrainError("non-finite", f"loss became {loss_sum} at step {step + 1}",
                                     "lower --lr, or keep --amp off (--no-amp)")
                for p, sl, _ in frozen_slices:
                    if p.grad is not None:
                        p.grad[sl] = 0
                if scaler is not None:
                    scaler.unscale_(opt)
                gnorm = float(torch.nn.utils.clip_grad_norm_(trainable, cfg.grad_clip)) if cfg.grad_clip > 0 \
                    else float("nan")
                if scaler is not None:
                    scaler.step(opt)
                    scaler.update()
                else:
                    opt.step()
                with torch.no_grad():
                    for p, sl, v in frozen_slices:
                        p.data[sl] = v
                step += 1
                ep_before = ((step - 1) * cfg.accumulation) // per_epoch
                ep_after = (step * cfg.accumulation) // per_epoch
                if ep_after > ep_before and cfg.ensemble_alpha < 1.0:
                    ensemble_weights(visual, teacher.visual, cfg.ensemble_alpha)
                    ev.emit("epoch", epoch=ep_after, step=step, ensemble_alpha=cfg.ensemble_alpha)
                now = time.time()
                rate_hist.append(now - t_last)
                t_last = now
                rate_hist = rate_hist[-20:]
                its = len(rate_hist) / max(1e-9, sum(rate_hist))
                rec = {"step": step, "loss": loss_sum, "terms": sums, "lr": lr, "grad_norm": gnorm}
                history.append(rec)
                mf.write(json.dumps(rec) + "\n")
                mf.flush()
                if step % cfg.log_every == 0 or step == total:
                    ev.emit("step", step=step, steps=total, loss=loss_sum, terms=sums, lr=lr, its=its,
                            eta_s=(total - step) / its if its > 0 else None, grad_norm=gnorm)
                if step % cfg.checkpoint_every == 0 or step == total:
                    save_checkpoint(ckpt_path, cfg, fp, step, visual, opt, scaler, history)
                    ev.emit("checkpoint", step=step, path=ckpt_path)
                if cfg.stop_after is not None and step >= cfg.stop_after and step < total:
                    ev.emit("stopped", step=step)
                    return {"stopped_at": step}
        except RuntimeError as e:
            if "out of memory" in str(e).lower():
                raise TrainError("oom", f"out of memory at step {step + 1} (batch size {cfg.batch_size}, student "
                                 f"size up to {cfg.student_max_size})",
                                 f"lower --batch-size (e.g. {max(1, cfg.batch_size // 2)}) and raise --accumulation "
                                 f"to keep the effective batch, or lower --student-max-size")
            raise

    # final outputs
    student.eval()
    final_dir = os.path.join(cfg.out, "final")
    os.makedirs(final_dir, exist_ok=True)
    student_path = os.path.join(final_dir, "student.pt")
    last = history[-1] if history else {}
    first = history[0] if history else {}
    training_info = {
        "data": os.path.abspath(cfg.data), "frames": len(frames), "train_frames": len(train_frames),
        "val_frames": len(val_frames), "steps": total, "arch": cfg.arch, "backbone": preset.name,
        "base": base_info.get("source"), "teachers": [t.teacher.name for t in terms],
        "vfm": os.path.basename(cfg.vfm) if cfg.vfm else ("random init" if cfg.vfm_random_init else None),
        "weights": {"content": cfg.content_weight, "context": [t.weight for t in terms],
                    "region": cfg.region_weight if region_from is not None else 0.0},
        "context_form": cfg.context_form, "lr": cfg.lr, "batch_size": cfg.batch_size,
        "accumulation": cfg.accumulation, "ensemble_alpha": cfg.ensemble_alpha, "seed": cfg.seed,
        "student_size": [cfg.student_min_size, cfg.student_max_size],
        "crops": {"grid_max_split": cfg.max_split, "grid_max_crops": cfg.max_crops, "object_crops": cfg.object_crops,
                  "object_margin": cfg.object_margin},
        "loss_first": first.get("loss"), "loss_last": last.get("loss"), "terms_first": first.get("terms"),
        "terms_last": last.get("terms"), "commit": git_commit(), "trainer": f"declip_torch {__version__}, torch "
                                                                           f"{torch.__version__}",
        "fingerprint": fp,
    }
    # metadata as one JSON string: torch 1.13's weights-only unpickler (the exporter's loader) takes tensors,
    # containers, ints and strings but no floats
    meta = {"preset": preset_to_dict(preset), "arch": cfg.arch, "scale": cfg.scale, "training": training_info}
    atomic_torch_save({"format": STUDENT_FORMAT, "state_dict": clip_to_external(student.cpu(), preset),
                       "declip_json": json.dumps(meta, default=_json_default)}, student_path)
    student.to(device)
    ev.emit("final", path=student_path)

    eval_res: Optional[Dict[str, Any]] = None
    if cfg.eval:
        held = val_frames if val_frames else train_frames
        reference = terms[0].teacher if terms else None
        eval_res = {"split": "val" if val_frames else "train (no held-out frames)",
                    "reference": reference.name if reference else None,
                    "before": evaluate_dense(teacher.visual, held, cache, cfg, mode, patch, vc.mean, vc.std,
                                             reference, device),
                    "after": evaluate_dense(visual, held, cache, cfg, mode, patch, vc.mean, vc.std, reference,
                                            device)}
        atomic_write_text(os.path.join(cfg.out, "eval.json"), json.dumps(eval_res, indent=2))
        ev.emit("eval", **eval_res)
    summary = {"out": cfg.out, "student": student_path, "steps": total, "training": training_info,
               "eval": eval_res, "wall_s": time.time() - t_start, "backbone": preset.name, "arch": cfg.arch,
               "scale": cfg.scale, "input_size": cfg.eval_size or cfg.student_min_size}
    atomic_write_text(os.path.join(cfg.out, "summary.json"), json.dumps(summary, indent=2, default=_json_default))
    ev.emit("done", step=total, student=student_path, summary=os.path.join(cfg.out, "summary.json"))
    return summary


def _changed(old: Dict[str, Any], cfg: TrainConfig) -> List[str]:
    new = asdict(cfg)
    return [k for k in new if k in old and old[k] != new[k] and k not in ("out", "resume")] or ["(unknown)"]


def ensemble_weights(visual: nn.Module, original: nn.Module, alpha: float) -> None:
    """Weight ensembling: every trainable tensor <- alpha * student + (1 - alpha) * original."""
    orig = dict(original.named_parameters())
    with torch.no_grad():
        for name, p in visual.named_parameters():
            if p.requires_grad:
                p.mul_(alpha).add_(orig[name].to(p.device), alpha=1.0 - alpha)


def save_checkpoint(path: str, cfg: TrainConfig, fp: str, step: int, visual: nn.Module, opt, scaler,
                    history: List[Dict[str, Any]]) -> None:
    atomic_torch_save({"format": CHECKPOINT_FORMAT, "version": 1, "fingerprint": fp, "config": asdict(cfg),
                       "step": step, "student_visual": _vision_state(visual), "optimizer": opt.state_dict(),
                       "scaler": scaler.state_dict() if scaler is not None else None, "rng": rng_state(),
                       "history": history}, path)


# ----------------------------------------------------------------------------------------------------------------
# CLI


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m declip_torch.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", help="JSON file with TrainConfig fields (flags override it)")
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.name == "context_teachers":
            ap.add_argument("--context-teacher", dest="context_teachers", action="append",
                            help="teacher spec (repeatable): vfm | self-layer:K | scd | mask-affinity | "
                                 "diffusion:FILE.py [,weight=W,form=l2|kl,student=context|dense]")
            continue
        typ = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "str")
        if "bool" in typ:
            ap.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None)
        elif "int" in typ:
            ap.add_argument(flag, dest=f.name, type=int, default=None)
        elif "float" in typ:
            ap.add_argument(flag, dest=f.name, type=float, default=None)
        else:
            ap.add_argument(flag, dest=f.name, default=None)
    return ap


def main(argv: Optional[Sequence[str]] = None) -> int:
    a = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    ev = Events()
    try:
        d: Dict[str, Any] = {}
        if a.config:
            try:
                with open(a.config, encoding="utf-8") as f:
                    d = json.load(f)
            except (OSError, json.JSONDecodeError) as e:
                raise ConfigError(f"config: cannot read {a.config}: {e}")
        for k, v in vars(a).items():
            if k != "config" and v is not None:
                d[k] = v
        cfg = config_from_dict(d)
        train(cfg, ev)
        return 0
    except TrainError as e:
        ev.emit("error", code=e.code, message=str(e), hint=e.hint)
        print(f"error: {e}\nhint: {e.hint}", file=sys.stderr)
        return 2
    except DatasetError as e:
        code = "dataset-empty" if "empty" in str(e) else "dataset"
        ev.emit("error", code=code, message=str(e), hint="collect frames with `declip collect`")
        print(f"error: {e}", file=sys.stderr)
        return 2
    except CheckpointError as e:
        ev.emit("error", code="checkpoint-mismatch", message=str(e), hint="check --backbone / --vfm-backbone")
        print(f"error: {e}", file=sys.stderr)
        return 2
    except DeclipError as e:
        ev.emit("error", code="bad-config", message=str(e), hint="")
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        ev.emit("error", code="interrupted", message="interrupted", hint="run the same command again to resume")
        return 130


if __name__ == "__main__":
    sys.exit(main())
