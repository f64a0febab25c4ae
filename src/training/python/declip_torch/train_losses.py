"""DeCLIP distillation losses: RoIAlign, content loss, region correlation constraint, Gram-matrix context losses.

All functions are pure (tensor in, tensor out) so that tests can re-compute them from their formulas.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import ConfigError

GRAM_FORMS = ("l2", "kl")


def roi_align(feat: Tensor, boxes: Tensor, output_size: Tuple[int, int] = (1, 1), spatial_scale: float = 1.0,
              sampling_ratio: int = -1, aligned: bool = True) -> Tensor:
    """RoIAlign with torchvision's semantics (plain torch, differentiable; no torchvision needed).

    feat [B, C, H, W]; boxes [K, 5] rows (batch index, x1, y1, x2, y2) in input pixels; the feature cell (i, j)
    covers pixels [j / s, (j + 1) / s). Each output bin averages ceil(roi / bin) x ceil(roi / bin) bilinear samples
    (sampling_ratio <= 0: adaptive, as torchvision) at the centres of a regular sub-grid; samples outside
    [-1, H] x [-1, W] contribute 0, others are clamped to the border. Returns [K, C, oh, ow].
    """
    oh, ow = int(output_size[0]), int(output_size[1])
    k = boxes.shape[0]
    c, hh, ww = feat.shape[1], feat.shape[2], feat.shape[3]
    if k == 0:
        return feat.new_zeros((0, c, oh, ow))
    off = 0.5 if aligned else 0.0
    out = []
    b_cpu = boxes.detach().to("cpu", torch.float64)
    for r in range(k):
        bi = int(b_cpu[r, 0])
        x1 = float(b_cpu[r, 1]) * spatial_scale - off
        y1 = float(b_cpu[r, 2]) * spatial_scale - off
        x2 = float(b_cpu[r, 3]) * spatial_scale - off
        y2 = float(b_cpu[r, 4]) * spatial_scale - off
        rw, rh = x2 - x1, y2 - y1
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bw, bh = rw / ow, rh / oh
        gh = sampling_ratio if sampling_ratio > 0 else max(1, math.ceil(rh / oh))
        gw = sampling_ratio if sampling_ratio > 0 else max(1, math.ceil(rw / ow))
        # sample coordinates [oh * gh], [ow * gw]
        ys = torch.tensor([y1 + ph * bh + (iy + 0.5) * bh / gh for ph in range(oh) for iy in range(gh)],
                          dtype=torch.float64)
        xs = torch.tensor([x1 + pw * bw + (ix + 0.5) * bw / gw for pw in range(ow) for ix in range(gw)],
                          dtype=torch.float64)
        vy = (ys >= -1.0) & (ys <= hh)
        vx = (xs >= -1.0) & (xs <= ww)
        ys = ys.clamp(min=0.0)
        xs = xs.clamp(min=0.0)
        y0 = ys.floor().long()
        x0 = xs.floor().long()
        ytop = y0 >= hh - 1
        xtop = x0 >= ww - 1
        y0 = torch.where(ytop, torch.full_like(y0, hh - 1), y0)
        x0 = torch.where(xtop, torch.full_like(x0, ww - 1), x0)
        ys = torch.where(ytop, y0.double(), ys)
        xs = torch.where(xtop, x0.double(), xs)
        y1i = torch.where(ytop, y0, y0 + 1)
        x1i = torch.where(xtop, x0, x0 + 1)
        ly = (ys - y0.double()) * vy.double()
        lx = (xs - x0.double()) * vx.double()
        hy = (1.0 - (ys - y0.double())) * vy.double()
        hx = (1.0 - (xs - x0.double())) * vx.double()
        dt, dev = feat.dtype, feat.device
        f = feat[bi]  # [C, H, W]
        wy = torch.stack([hy, ly]).to(dev, dt)  # [2, Sy]
        wx = torch.stack([hx, lx]).to(dev, dt)  # [2, Sx]
        yi = torch.stack([y0, y1i]).to(dev)
        xi = torch.stack([x0, x1i]).to(dev)
        acc = 0
        for a in range(2):
            rows = f[:, yi[a]]  # [C, Sy, W]
            for bb in range(2):
                v = rows[:, :, xi[bb]]  # [C, Sy, Sx]
                acc = acc + v * (wy[a][:, None] * wx[bb][None, :])
        acc = acc.reshape(c, oh, gh, ow, gw).mean(dim=(2, 4))
        out.append(acc)
    return torch.stack(out)


def content_loss(student_dense: Tensor, boxes: Tensor, teacher_emb: Tensor, patch_size: int) -> Tensor:
    """DeCLIP content loss: mean over crops of 1 - cos(RoIAlign_1x1(student dense map, box), teacher embedding).

    student_dense [B, h, w, D] (grid of the student input), boxes [K, 5] in student-input pixels, teacher_emb
    [K, D] the frozen teacher's global embedding of each crop.
    """
    fm = student_dense.permute(0, 3, 1, 2)
    roi = roi_align(fm, boxes, (1, 1), 1.0 / patch_size, -1, True)[:, :, 0, 0]
    return (1.0 - F.cosine_similarity(roi, teacher_emb, dim=-1)).mean()


def gram(features: Tensor) -> Tensor:
    """Cosine-similarity (Gram of L2-normalised rows) matrix: [B, N, C] -> [B, N, N]."""
    f = F.normalize(features, dim=-1)
    return torch.matmul(f, f.transpose(-1, -2))


def gram_distance(student: Tensor, teacher: Tensor, form: str = "l2", valid: Optional[Tensor] = None,
                  temperature: float = 0.1) -> Tensor:
    """Distance between Gram / affinity matrices [B, N, N], averaged over the valid rows.

    'l2' (released DeCLIP code): per row i, ||T_i - S_i||_2, then the mean over rows and images.
    'kl' (paper form): per row i, KL(softmax(T_i / t) || softmax(S_i / t)), then the mean.
    `valid` [B, N] (bool) drops rows and columns of invalid tokens (padding, unlabelled mask pixels).
    """
    if form not in GRAM_FORMS:
        raise ConfigError(f"form: unknown Gram distance {form!r}; pick one of {', '.join(GRAM_FORMS)}")
    s = student.float()
    t = teacher.float()
    if valid is None:
        valid = torch.ones(s.shape[:2], dtype=torch.bool, device=s.device)
    col = valid[:, None, :]
    if form == "l2":
        d = ((t - s) * col).pow(2).sum(-1).clamp_min(1e-12).sqrt()  # [B, N]
    else:
        neg = torch.finfo(torch.float32).min / 4
        lt = torch.log_softmax((t / temperature).masked_fill(~col, neg), dim=-1)
        ls = torch.log_softmax((s / temperature).masked_fill(~col, neg), dim=-1)
        d = (lt.exp() * (lt - ls) * col).sum(-1)
    w = valid.to(d.dtype)
    return (d * w).sum() / w.sum().clamp_min(1.0)


def region_correlation_loss(student_feat: Tensor, teacher_feat: Tensor, boxes: Tensor, patch_size: int,
                            points: int = 4, form: str = "l2", temperature: float = 0.1) -> Tensor:
    """Region correlation constraint: inside each crop box, the student's feature-correlation matrix is pulled
    towards the VFM's over the same region.

    Both feature maps [B, h, w, C] / [B, h, w, Cv] live on the student grid; each box is sampled on a
    `points` x `points` RoIAlign grid, the samples are L2-normalised and their cosine matrices [K, P, P]
    (P = points^2) compared with `gram_distance`.
    """
    s = roi_align(student_feat.permute(0, 3, 1, 2), boxes, (points, points), 1.0 / patch_size)
    t = roi_align(teacher_feat.permute(0, 3, 1, 2), boxes, (points, points), 1.0 / patch_size)
    s = s.flatten(2).transpose(1, 2)
    t = t.flatten(2).transpose(1, 2)
    return gram_distance(gram(s), gram(t), form, None, temperature)


def context_features(q: Tensor, k: Optional[Tensor], grid: Tuple[int, int], target_grid: Tuple[int, int]
                     ) -> Tuple[Tensor, Optional[Tensor]]:
    """Student context features: q (and k) [B, heads, N, hd] -> all heads concatenated [B, N', heads*hd],
    bilinearly resized from `grid` to `target_grid` when they differ (N' = target grid size). Not normalised."""

    def one(x: Tensor) -> Tensor:
        b, nh, n, hd = x.shape
        x = x.transpose(1, 2).reshape(b, n, nh * hd)
        if tuple(grid) != tuple(target_grid):
            m = x.transpose(1, 2).reshape(b, nh * hd, grid[0], grid[1])
            m = F.interpolate(m, size=tuple(target_grid), mode="bilinear", align_corners=False)
            x = m.flatten(2).transpose(1, 2)
        return x

    return one(q), (one(k) if k is not None else None)


def student_context_gram(q: Tensor, k: Optional[Tensor], mode: str, grid: Tuple[int, int],
                         target_grid: Tuple[int, int]) -> Tensor:
    """Gram matrix of the student's context features: 'qq' -> G(q); 'csa' -> (G(q) + G(k)) / 2 (as the released
    code); features L2-normalised after concatenating the heads."""
    fq, fk = context_features(q, k if mode == "csa" else None, grid, target_grid)
    g = gram(fq)
    if mode == "csa":
        assert fk is not None
        g = (g + gram(fk)) / 2.0
    return g


__all__ = ["GRAM_FORMS", "content_loss", "context_features", "gram", "gram_distance", "region_correlation_loss",
           "roi_align", "student_context_gram"]
