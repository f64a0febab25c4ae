"""Pluggable context-teacher terms for the distillation.

A teacher term turns a batch into a target affinity on the student's patch grid:

    class ContextTeacher:
        name: str                      # shown in progress events / provenance
        student_side: str              # 'context' (q / k Gram, DeCLIP) or 'dense' (dense-feature Gram, SCD)
        def affinity(self, batch) -> TeacherAffinity   # gram [B, N, N], valid [B, N] | None, features | None

The trainer compares the student's Gram matrix (context features or dense features, chosen by `student_side`)
with `gram` through `gram_distance` (row-wise L2 or KL-over-softmax) and weights it with the term's weight.
`features` ([B, h, w, C] on the student grid), when a teacher has them, also feed the region correlation constraint.

Spec strings (CLI `--context-teacher`, TrainConfig.context_teachers): `KIND[:ARG][,key=value...]`
    vfm                     the VFM (`--vfm` DINOv2 checkpoint or vfm.onnx): L2-normalised patch features, Gram
    self-layer:K            the frozen original model's own block-K patch tokens (SCD-like self-correlation)
    scd                     the frozen original model's refined correlations (its DeCLIP-decoupled dense features);
                            student side 'dense' by default (SCD, "Refining CLIP's Spatial Awareness")
    mask-affinity           ground-truth instance masks of the dataset: 1 for patches of the same instance, else 0
                            (option background=segment|ignore)
    diffusion:FILE.py       refines the VFM affinity with a diffusion model's self-attention P supplied by the
                            user's FILE.py (function `attention(pixels, grid, checkpoint)` -> [B, N, N] row-stochastic;
                            option checkpoint=PATH of the user's diffusion weights, lambda=0.5):
                            A' = (1 - lambda) A + lambda P A P^T
keys: weight=W (default: context weight), form=l2|kl, temperature=T, student=context|dense
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import ConfigError
from .heads import VfmFeatures, decoupled_last_block
from .train_data import Batch
from .train_losses import gram

TEACHER_KINDS = ("vfm", "self-layer", "scd", "mask-affinity", "diffusion")


@dataclass
class TeacherAffinity:
    gram: Tensor  # [B, N, N]
    valid: Optional[Tensor] = None  # [B, N] bool
    features: Optional[Tensor] = None  # [B, h, w, C] L2-normalised, for the region correlation constraint


@dataclass
class TeacherSpec:
    kind: str
    arg: Optional[str] = None
    options: Dict[str, str] = field(default_factory=dict)
    text: str = ""

    @property
    def weight(self) -> Optional[float]:
        return float(self.options["weight"]) if "weight" in self.options else None


def parse_teacher_spec(text: str) -> TeacherSpec:
    """'self-layer:6,weight=0.5,form=kl' -> TeacherSpec(kind='self-layer', arg='6', options={...})."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise ConfigError("context-teacher: empty teacher spec; use e.g. vfm, self-layer:6, scd, mask-affinity")
    head = parts[0]
    kind, _, arg = head.partition(":")
    if kind not in TEACHER_KINDS:
        raise ConfigError(f"context-teacher: unknown teacher kind {kind!r} in {text!r}; pick one of "
                          f"{', '.join(TEACHER_KINDS)}")
    opts: Dict[str, str] = {}
    for p in parts[1:]:
        k, eq, v = p.partition("=")
        if not eq or k not in ("weight", "form", "temperature", "student", "background", "checkpoint", "lambda"):
            raise ConfigError(f"context-teacher: bad option {p!r} in {text!r}; options are weight=, form=, "
                              f"temperature=, student=, background= (mask-affinity), checkpoint=, lambda= (diffusion)")
        opts[k] = v
    if kind == "self-layer" and not arg.isdigit():
        raise ConfigError(f"context-teacher: {text!r}: self-layer needs a block number, e.g. self-layer:6")
    if kind == "diffusion" and not arg:
        raise ConfigError(f"context-teacher: {text!r}: diffusion needs the provider file, e.g. diffusion:sd_attn.py")
    if opts.get("student", "context") not in ("context", "dense"):
        raise ConfigError(f"context-teacher: {text!r}: student= must be context or dense")
    return TeacherSpec(kind=kind, arg=arg or None, options=opts, text=text)


class ContextTeacher:
    name = "teacher"
    student_side = "context"

    def affinity(self, batch: Batch) -> TeacherAffinity:  # pragma: no cover - interface
        raise NotImplementedError

    def to(self, device: torch.device) -> "ContextTeacher":
        return self


class VfmTeacher(ContextTeacher):
    """DINOv2 (PyTorch) on the batch pixels, input resized so that its grid equals the student grid."""

    def __init__(self, vfm_model, student_patch: int, clip_mean, clip_std, name: str = "vfm"):
        self.mod = VfmFeatures(vfm_model, student_patch, clip_mean, clip_std).eval()
        for p in self.mod.parameters():
            p.requires_grad_(False)
        self.name = name

    def to(self, device):
        self.mod.to(device)
        return self

    @torch.no_grad()
    def affinity(self, batch: Batch) -> TeacherAffinity:
        f = self.mod(batch.pixels).float()  # [B, h, w, C] L2-normalised
        flat = f.reshape(f.shape[0], -1, f.shape[-1])
        return TeacherAffinity(gram=torch.matmul(flat, flat.transpose(-1, -2)), valid=batch.valid, features=f)


class OnnxVfmTeacher(ContextTeacher):
    """A VFM ONNX graph with the exporter's vfm.onnx contract: `pixels` [1, 3, H, W] (CLIP-normalised, the student
    input) -> `vfm_features` [1, H/p, W/p, C] on the student grid (resized bilinearly when another grid comes out)."""

    def __init__(self, path: str, name: str = "vfm-onnx"):
        import onnxruntime as ort

        if os.path.isdir(path):
            path = os.path.join(path, "vfm.onnx")
        if not os.path.isfile(path):
            raise ConfigError(f"vfm: ONNX file not found: {path}")
        prov = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
        self.sess = ort.InferenceSession(path, providers=prov)
        ins = self.sess.get_inputs()
        if len(ins) != 1 or len(ins[0].shape) != 4:
            raise ConfigError(f"vfm: {path} must take one image input [1, 3, H, W] (the exporter's vfm.onnx); "
                              f"it has {[(i.name, i.shape) for i in ins]}")
        self.input = ins[0].name
        self.device = torch.device("cpu")
        self.name = name

    def to(self, device):
        self.device = device
        return self

    @torch.no_grad()
    def affinity(self, batch: Batch) -> TeacherAffinity:
        gh, gw = batch.grid
        outs = []
        for i in range(batch.pixels.shape[0]):
            x = batch.pixels[i:i + 1].detach().float().cpu().numpy().astype(np.float32)
            y = torch.from_numpy(self.sess.run(None, {self.input: x})[0]).float()
            if y.dim() == 3:  # [1, N, C] tokens: keep the last h*w
                n = y.shape[1]
                side = int(n ** 0.5)
                y = y[:, n - side * side:].reshape(1, side, side, -1)
            if y.dim() != 4:
                raise ConfigError(f"vfm: ONNX output has shape {tuple(y.shape)}; expected [1, h, w, C]")
            if tuple(y.shape[1:3]) != (gh, gw):
                y = F.interpolate(y.permute(0, 3, 1, 2), size=(gh, gw), mode="bilinear",
                                  align_corners=False).permute(0, 2, 3, 1)
            outs.append(F.normalize(y, dim=-1))
        f = torch.cat(outs).to(self.device)
        flat = f.reshape(f.shape[0], -1, f.shape[-1])
        return TeacherAffinity(gram=torch.matmul(flat, flat.transpose(-1, -2)), valid=batch.valid, features=f)


class SelfLayerTeacher(ContextTeacher):
    """The frozen original model's block-K output patch tokens (1-based K), L2-normalised; Gram = their cosines."""

    def __init__(self, frozen_visual, layer: int):
        depth = len(frozen_visual.blocks)
        if not 1 <= layer <= depth:
            raise ConfigError(f"context-teacher: self-layer:{layer} is outside 1..{depth} (blocks of the base model)")
        self.visual = frozen_visual
        self.layer = layer
        self.name = f"self-layer:{layer}"

    @torch.no_grad()
    def affinity(self, batch: Batch) -> TeacherAffinity:
        vis = self.visual
        x, _ = vis.embed(batch.pixels)
        h, w = batch.grid
        rope = vis.rope(h, w, x.dtype, x.device)
        for blk in vis.blocks[:self.layer]:
            x = blk(x, rope=rope, num_prefix=vis.num_prefix)
        f = F.normalize(x[:, vis.num_prefix:].float(), dim=-1)
        return TeacherAffinity(gram=torch.matmul(f, f.transpose(-1, -2)), valid=batch.valid,
                               features=f.reshape(f.shape[0], h, w, -1))


class ScdTeacher(ContextTeacher):
    """SCD-style teacher: correlations of the frozen original model's refined dense features (its own DeCLIP
    decoupled last block, q-q attention), compared with the student's dense features by default."""

    student_side = "dense"

    def __init__(self, frozen_visual, mode: str = "qq", scale: Optional[float] = None):
        self.visual = frozen_visual
        self.mode = mode
        self.scale = scale
        self.name = "scd"

    @torch.no_grad()
    def affinity(self, batch: Batch) -> TeacherAffinity:
        vis = self.visual
        x, _, _ = vis.forward_until_last(batch.pixels)
        content, _ = decoupled_last_block(vis.blocks[-1], x, self.mode, self.scale)
        f = F.normalize(vis.project(content[:, vis.num_prefix:]).float(), dim=-1)
        h, w = batch.grid
        return TeacherAffinity(gram=torch.matmul(f, f.transpose(-1, -2)), valid=batch.valid,
                               features=f.reshape(f.shape[0], h, w, -1))


def mask_affinity(labels: Tensor, background: str = "segment") -> TeacherAffinity:
    """Instance-mask affinity from per-patch labels [B, N] (-1 = unknown): A_ij = 1 if labels agree, else 0.
    background='ignore' also drops label-0 patches."""
    valid = labels >= 0
    if background == "ignore":
        valid = valid & (labels != 0)
    elif background != "segment":
        raise ConfigError(f"context-teacher: mask-affinity background={background!r}; use segment or ignore")
    a = (labels[:, :, None] == labels[:, None, :]).float()
    return TeacherAffinity(gram=a, valid=valid)


class MaskAffinityTeacher(ContextTeacher):
    """Ground-truth instance-mask affinities (frames without masks contribute nothing)."""

    def __init__(self, background: str = "segment"):
        self.background = background
        self.name = "mask-affinity"

    def affinity(self, batch: Batch) -> TeacherAffinity:
        if batch.patch_labels is None:
            n = batch.valid.shape[1]
            return TeacherAffinity(gram=torch.zeros(batch.valid.shape[0], n, n, device=batch.valid.device),
                                   valid=torch.zeros_like(batch.valid))
        out = mask_affinity(batch.patch_labels, self.background)
        out.valid = out.valid & batch.valid
        return out


def load_attention_provider(path: str) -> Callable:
    if not os.path.isfile(path):
        raise ConfigError(f"context-teacher: diffusion provider file not found: {path} (a Python file defining "
                          f"attention(pixels, grid, checkpoint) -> [B, N, N])")
    spec = importlib.util.spec_from_file_location("declip_diffusion_provider", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    fn = getattr(mod, "attention", None)
    if not callable(fn):
        raise ConfigError(f"context-teacher: {path} defines no attention(pixels, grid, checkpoint) function")
    return fn


class DiffusionRefinedTeacher(ContextTeacher):
    """SD-guided completion of a base affinity: A' = (1 - lambda) A + lambda P A P^T, with P the row-stochastic
    self-attention of a diffusion model on the same image (supplied by the user's provider; we ship no diffusion
    weights)."""

    def __init__(self, base: ContextTeacher, provider: Callable, checkpoint: Optional[str], lam: float = 0.5):
        self.base = base
        self.provider = provider
        self.checkpoint = checkpoint
        self.lam = lam
        self.name = f"diffusion({base.name})"

    def to(self, device):
        self.base.to(device)
        return self

    @torch.no_grad()
    def affinity(self, batch: Batch) -> TeacherAffinity:
        a = self.base.affinity(batch)
        p = self.provider(batch.pixels, batch.grid, self.checkpoint)
        p = torch.as_tensor(p, dtype=a.gram.dtype, device=a.gram.device)
        if p.shape != a.gram.shape:
            raise ConfigError(f"context-teacher: diffusion attention has shape {tuple(p.shape)}, expected "
                              f"{tuple(a.gram.shape)} (the student grid)")
        g = (1 - self.lam) * a.gram + self.lam * torch.matmul(torch.matmul(p, a.gram), p.transpose(-1, -2))
        return TeacherAffinity(gram=g, valid=a.valid, features=a.features)


def dense_gram(dense: Tensor) -> Tensor:
    """Student dense features [B, h, w, D] -> cosine Gram [B, N, N]."""
    return gram(dense.reshape(dense.shape[0], -1, dense.shape[-1]))


__all__ = ["ContextTeacher", "DiffusionRefinedTeacher", "MaskAffinityTeacher", "OnnxVfmTeacher", "ScdTeacher",
           "SelfLayerTeacher", "TEACHER_KINDS", "TeacherAffinity", "TeacherSpec", "VfmTeacher", "dense_gram",
           "load_attention_provider", "mask_affinity", "parse_teacher_spec"]
