"""DeCLIP decoupled last block, MaskCLIP value-only baseline, ProxyCLIP head, and the exportable encoders."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import ARCHITECTURES, Preset, TextConfig, VisionConfig, check_architecture
from .errors import ConfigError
from .layers import Block
from .text import TextTransformer
from .vit import VisionTransformer, random_init

DECOUPLED_MODES = ("csa", "qq", "v")
ARCH_MODE = {"declip-csa": "csa", "declip-qq": "qq", "clip-vanilla": "v"}


def decoupled_attention_weights(q: Tensor, k: Tensor, mode: str, scale: float) -> Optional[Tensor]:
    """DeCLIP context attention: 'qq' softmax(q q^T s); 'csa' softmax(q q^T s) + softmax(k k^T s); 'v' None (identity).

    q, k: [B, heads, L, head_dim]. Returns [B, heads, L, L] or None for the value-only (MaskCLIP) mode.
    """
    if mode == "qq":
        return torch.softmax(torch.matmul(q, q.transpose(-1, -2)) * scale, dim=-1)
    if mode == "csa":
        return (torch.softmax(torch.matmul(q, q.transpose(-1, -2)) * scale, dim=-1)
                + torch.softmax(torch.matmul(k, k.transpose(-1, -2)) * scale, dim=-1))
    if mode == "v":
        return None
    raise ConfigError(f"mode: unknown decoupled attention mode {mode!r}; pick one of {', '.join(DECOUPLED_MODES)}")


def decoupled_last_block(block: Block, x: Tensor, mode: str, scale: Optional[float] = None
                         ) -> Tuple[Tensor, Tuple[Tensor, Tensor]]:
    """DeCLIP's decoupled last block.

    q, k, v are the block's own projections of norm1(x) (no RoPE). The content output is
    ls1 * proj(inner_attn_ln(A @ v)) with A from `decoupled_attention_weights` (A = I for mode 'v'); there is no
    residual and no MLP. Returns (content [B, L, W], context (q, k) each [B, heads, L, head_dim]).
    """
    s = block.attn.scale if scale is None else float(scale)
    q, k, v = block.attn.qkv_heads(block.norm1(x))
    a = decoupled_attention_weights(q, k, mode, s)
    o = v if a is None else torch.matmul(a, v)
    return block.scale1(block.attn.merge(o)), (q, k)


def proxy_attention(vfm_feats: Tensor, beta: float = 1.2, gamma: float = 3.0) -> Tensor:
    """ProxyCLIP proxy attention from VFM patch features [B, N, Dv] -> [B, N, N].

    sim = cos-similarity; sim = (sim - mean(sim) * beta) * gamma; entries < 0 are masked out; softmax over the last
    axis. (Masked entries get -1e4 instead of -inf: identical result, but a fully masked row gives uniform weights
    instead of NaN.)
    """
    f = F.normalize(vfm_feats, dim=-1)
    sim = torch.matmul(f, f.transpose(-1, -2))
    # mean of row means == global mean (equal row lengths), but never sums N*N values at once (fp16-safe)
    sim = (sim - sim.mean(dim=-1).mean() * beta) * gamma
    sim = sim.masked_fill(sim < 0, -1e4)
    return torch.softmax(sim, dim=-1)


def proxyclip_last_block(block: Block, x: Tensor, num_prefix: int, vfm_feats: Tensor, beta: float = 1.2,
                         gamma: float = 3.0) -> Tensor:
    """ProxyCLIP: proxy attention (from the VFM) applied to the last block's value features of the patch tokens.

    The VFM grid must equal the CLIP grid (the VFM input is resized so). Returns content [B, N, W] for the patch
    tokens: ls1 * proj(inner_ln(A @ v)), no residual, no MLP.
    """
    _, _, v = block.attn.qkv_heads(block.norm1(x))
    v = v[:, :, num_prefix:]
    a = proxy_attention(vfm_feats, beta, gamma).unsqueeze(1)  # same weights for every head
    return block.scale1(block.attn.merge(torch.matmul(a, v)))


class VfmFeatures(nn.Module):
    """VFM (DINOv2) patch features for CLIP-normalised pixels, on the CLIP patch grid.

    pixels [B, 3, H, W] normalised with the CLIP mean/std -> re-normalised with the VFM's mean/std, resized
    (bilinear) to (H / clip_patch * vfm_patch, W / clip_patch * vfm_patch) -> final-normed patch tokens,
    L2-normalised: [B, H / clip_patch, W / clip_patch, Dv].
    """

    def __init__(self, vfm: VisionTransformer, clip_patch: int, clip_mean, clip_std):
        super().__init__()
        self.vfm = vfm
        self.clip_patch = clip_patch
        vc = vfm.cfg
        self.register_buffer("clip_mean", torch.tensor(clip_mean).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("clip_std", torch.tensor(clip_std).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("vfm_mean", torch.tensor(vc.mean).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("vfm_std", torch.tensor(vc.std).reshape(1, 3, 1, 1), persistent=False)

    def forward(self, pixels: Tensor) -> Tensor:
        gh = pixels.shape[2] // self.clip_patch
        gw = pixels.shape[3] // self.clip_patch
        x = (pixels * self.clip_std + self.clip_mean - self.vfm_mean) / self.vfm_std
        p = self.vfm.cfg.patch_size
        x = F.interpolate(x, size=(gh * p, gw * p), mode="bilinear", align_corners=False)
        return self.vfm.patch_features(x, normalize=True)


@dataclass
class DenseOutput:
    dense: Tensor  # [B, h, w, D] L2-normalised
    global_embedding: Tensor  # [B, D] L2-normalised
    content: Tensor  # [B, h*w, W] last-block content tokens (patches)
    q: Optional[Tensor] = None  # [B, heads, h*w, head_dim] context features (patch tokens)
    k: Optional[Tensor] = None


class ImageEncoder(nn.Module):
    """pixels [1, 3, H, W] -> (dense_features [1, h, w, D], global_embedding [1, D]), both L2-normalised.

    arch 'declip-csa' / 'declip-qq': DeCLIP decoupled last block; 'clip-vanilla': MaskCLIP value-only last block;
    'proxyclip': ProxyCLIP head over a VFM. The global embedding is the unchanged CLIP image embedding.
    """

    def __init__(self, arch: str, visual: VisionTransformer, vfm: Optional[VfmFeatures] = None,
                 scale: Optional[float] = None, beta: float = 1.2, gamma: float = 3.0):
        super().__init__()
        self.arch = check_architecture(arch)
        if visual.head is None:
            raise ConfigError("backbone: the image encoder needs a CLIP backbone with a projection head, "
                              "not a VFM preset (use --vfm-backbone for DINOv2)")
        if arch == "proxyclip" and vfm is None:
            raise ConfigError("vfm: architecture 'proxyclip' needs a VFM (pass --vfm-backbone and --vfm or "
                              "--random-init)")
        self.visual = visual
        self.vfm = vfm if arch == "proxyclip" else None
        self.scale = scale
        self.beta = beta
        self.gamma = gamma

    def run(self, pixels: Tensor) -> DenseOutput:
        vis = self.visual
        x, (h, w), rope = vis.forward_until_last(pixels)
        last = vis.blocks[-1]
        g = vis.norm(last(x, rope=rope, num_prefix=vis.num_prefix)[:, 0])
        glob = F.normalize(vis.head(g), dim=-1)
        q = k = None
        if self.arch == "proxyclip":
            assert self.vfm is not None
            feats = self.vfm(pixels)
            feats = feats.reshape(feats.shape[0], -1, feats.shape[-1])
            content = proxyclip_last_block(last, x, vis.num_prefix, feats, self.beta, self.gamma)
        else:
            content, (q, k) = decoupled_last_block(last, x, ARCH_MODE[self.arch], self.scale)
            content = content[:, vis.num_prefix:]
            q, k = q[:, :, vis.num_prefix:], k[:, :, vis.num_prefix:]
        dense = F.normalize(vis.project(content), dim=-1)
        dense = dense.reshape(dense.shape[0], h, w, -1)
        return DenseOutput(dense=dense, global_embedding=glob, content=content, q=q, k=k)

    def forward(self, pixels: Tensor) -> Tuple[Tensor, Tensor]:
        out = self.run(pixels)
        return out.dense, out.global_embedding


class TextEncoder(nn.Module):
    """input_ids [N, 77] -> text_embeddings [N, D] (L2-normalised)."""

    def __init__(self, text: TextTransformer):
        super().__init__()
        self.text = text

    def forward(self, input_ids: Tensor) -> Tensor:
        return self.text.encode(input_ids)


class ClipModel(nn.Module):
    """A CLIP model: `visual` + `text` + `logit_scale` (log of the scale, as in checkpoints)."""

    def __init__(self, vision: VisionConfig, text: TextConfig):
        super().__init__()
        self.visual = VisionTransformer(vision)
        self.text = TextTransformer(text)
        self.logit_scale = nn.Parameter(torch.tensor(float(torch.log(torch.tensor(1 / 0.07)))))


def build_clip(preset: Preset, seed: Optional[int] = None) -> ClipModel:
    """Build the CLIP model of a preset (eval mode); random-initialised with `seed` when given."""
    if preset.text is None:
        raise ConfigError(f"backbone: preset {preset.name!r} is a vision foundation model without a text tower; "
                          f"pick a CLIP preset (openai-*, eva02-clip-*, tiny, tiny-eva02)")
    m = ClipModel(preset.vision, preset.text)
    if seed is not None:
        random_init(m, seed)
        with torch.no_grad():
            m.logit_scale.fill_(float(torch.log(torch.tensor(1 / 0.07))))
    return m.eval()


__all__ = ["ARCHITECTURES", "ClipModel", "DenseOutput", "ImageEncoder", "TextEncoder", "VfmFeatures", "build_clip",
           "decoupled_attention_weights", "decoupled_last_block", "proxy_attention", "proxyclip_last_block"]
