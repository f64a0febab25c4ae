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


def _axis_weights(lo: Tensor, extent: Tensor, bins: int, size: int, sampling_ratio: int) -> Tensor:
    """Per-box interpolation weights along one axis, [K, bins, size]: the mean over each bin's samples of the
    (clamped) linear-interpolation weights, zero for samples outside [-1, size]."""
    k = lo.shape[0]
    bin_len = extent / bins
    if sampling_ratio > 0:
        n = torch.full((k,), sampling_ratio, dtype=torch.long)
    else:
        n = torch.ceil(extent / bins).clamp_min(1).long()
    nmax = int(n.max()) if k else 1
    i = torch.arange(nmax, dtype=torch.float64)
    p = torch.arange(bins, dtype=torch.float64)
    # sample coordinates [K, bins, nmax]
    c = lo[:, None, None] + p[None, :, None] * bin_len[:, None, None] + (i[None, None, :] + 0.5) * (
        bin_len / n.double())[:, None, None]
    used = (i[None, None, :] < n.double()[:, None, None]) & (c >= -1.0) & (c <= size)
    c = c.clamp(min=0.0)
    c0 = c.floor()
    top = c0 >= size - 1
    c0 = torch.where(top, torch.full_like(c0, size - 1), c0)
    c = torch.where(top, c0, c)
    c1 = torch.where(top, c0, c0 + 1)
    frac = c - c0
    scale = used.double() / n.double()[:, None, None]
    w = torch.zeros(k, bins, size, dtype=torch.float64)
    w.scatter_add_(2, c0.long(), (1.0 - frac) * scale)
    w.scatter_add_(2, c1.long(), frac * scale)
    return w


def roi_align(feat: Tensor, boxes: Tensor, output_size: Tuple[int, int] = (1, 1), spatial_scale: float = 1.0,
              sampling_ratio: int = -1, aligned: bool = True) -> Tensor:
    """RoIAlign with torchvision's semantics (plain torch, differentiable in `feat`; no torchvision needed).

    feat [B, C, H, W]; boxes [K, 5] rows (batch index, x1, y1, x2, y2) in input pixels; the feature cell (i, j)
    covers pixels [j / s, (j + 1) / s). Each output bin averages ceil(roi / bin) x ceil(roi / bin) bilinear samples
    (sampling_ratio <= 0: adaptive, as torchvision) at the centres of a regular sub-grid; samples outside
    [-1, H] x [-1, W] contribute 0, others are clamped to the border. Returns [K, C, oh, ow].

    Bilinear weights, the validity test and the average over a bin's sub-grid all factor into a y part and an x
    part, so each box is computed exactly as Wy [oh, H] @ feat [C, H, W] @ Wx^T [W, ow].
    """
    oh, ow = int(output_size[0]), int(output_size[1])
    k = boxes.shape[0]
    c, hh, ww = feat.shape[1], feat.shape[2], feat.shape[3]
    if k == 0:
        return feat.new_zeros((0, c, oh, ow))
    off = 0.5 if aligned else 0.0
    b = boxes.detach().to("cpu", torch.float64)
    x1 = b[:, 1] * spatial_scale - off
    y1 = b[:, 2] * spatial_scale - off
    rw = b[:, 3] * spatial_scale - off - x1
    rh = b[:, 4] * spatial_scale - off - y1
    if not aligned:
        rw, rh = rw.clamp_min(1.0), rh.clamp_min(1.0)
    wy = _axis_weights(y1, rh, oh, hh, sampling_ratio).to(feat.device, feat.dtype)
    wx = _axis_weights(x1, rw, ow, ww, sampling_ratio).to(feat.device, feat.dtype)
    bidx = b[:, 0].long()
    out = feat.new_zeros((k, c, oh, ow))
    for bi in torch.unique(bidx).tolist():
        sel = (bidx == bi).nonzero().flatten()
        t = torch.einsum("kph,chw->kcpw", wy[sel.to(feat.device)], feat[bi])
        out = out.index_copy(0, sel.to(feat.device), torch.einsum("kcpw,kqw->kcpq", t, wx[sel.to(feat.device)]))
    return out


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
