"""Vision transformer covering OpenAI CLIP, EVA02-CLIP and DINOv2-with-registers (selected by VisionConfig)."""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import VisionConfig
from .layers import Block, Rope, check_multiple_of_patch, interpolate_pos_embed, rope_cos_sin


class VisionTransformer(nn.Module):
    """ViT image tower.

    Canonical parameters: patch_embed (conv), cls_token [W], reg_tokens [R, W], pos_embed [1+G*G, W] (class token
    first, registers carry no position), ln_pre, blocks.N.*, norm (final LN: OpenAI ln_post / EVA+DINOv2 norm),
    head (Linear W -> D: OpenAI proj^T / EVA head; absent for DINOv2).
    """

    def __init__(self, cfg: VisionConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.patch_embed = nn.Conv2d(3, w, cfg.patch_size, cfg.patch_size, bias=cfg.patch_bias)
        self.cls_token = nn.Parameter(torch.zeros(w))
        self.reg_tokens = nn.Parameter(torch.zeros(cfg.num_registers, w)) if cfg.num_registers > 0 else None
        self.pos_grid: Tuple[int, int] = (cfg.grid, cfg.grid)
        self.pos_embed = nn.Parameter(torch.zeros(1 + cfg.grid * cfg.grid, w))
        self.ln_pre = nn.LayerNorm(w, eps=cfg.ln_eps) if cfg.ln_pre else None
        self.blocks = nn.ModuleList([
            Block(w, cfg.heads, cfg.mlp_hidden, mlp=cfg.mlp, k_bias=cfg.k_bias, inner_ln=cfg.inner_ln,
                  ffn_ln=cfg.ffn_ln, layer_scale=cfg.layer_scale, eps=cfg.ln_eps)
            for _ in range(cfg.depth)
        ])
        self.norm = nn.LayerNorm(w, eps=cfg.ln_eps)
        self.head = nn.Linear(w, cfg.embed_dim, bias=cfg.head_bias) if cfg.embed_dim is not None else None

    @property
    def num_prefix(self) -> int:
        """Tokens before the patch tokens: class token plus registers."""
        return 1 + self.cfg.num_registers

    def resample_pos_embed(self, grid: Tuple[int, int]) -> None:
        """Replace the position embedding by its bicubic resampling to `grid` (with the family's antialias setting).

        Done once before export so that the nominal input size is exact; other sizes are still interpolated in-graph.
        """
        if tuple(grid) == tuple(self.pos_grid):
            return
        with torch.no_grad():
            new = interpolate_pos_embed(self.pos_embed.data.float(), self.pos_grid, grid[0], grid[1],
                                        antialias=self.cfg.pos_antialias)
        self.pos_embed = nn.Parameter(new.to(self.pos_embed.dtype))
        self.pos_grid = (int(grid[0]), int(grid[1]))

    def rope(self, h: int, w: int, dtype: torch.dtype, device: torch.device) -> Rope:
        if not self.cfg.rope:
            return None
        return rope_cos_sin(h, w, self.cfg.head_dim, self.cfg.rope_ref_grid, self.cfg.rope_theta, dtype, device)

    def embed(self, pixels: Tensor) -> Tuple[Tensor, Tuple[int, int]]:
        """pixels [B, 3, H, W] -> tokens [B, 1+R+h*w, W] (after ln_pre) and the patch grid (h, w)."""
        if not torch.jit.is_tracing() and not torch.onnx.is_in_onnx_export():
            check_multiple_of_patch(int(pixels.shape[-2]), int(pixels.shape[-1]), self.cfg.patch_size)
        x = self.patch_embed(pixels)
        b = x.shape[0]
        h, w = x.shape[2], x.shape[3]
        x = x.flatten(2).transpose(1, 2)
        pos = interpolate_pos_embed(self.pos_embed, self.pos_grid, h, w, antialias=False).to(x.dtype)
        cls = (self.cls_token + pos[0]).reshape(1, 1, -1).expand(b, 1, self.cfg.width)
        parts = [cls]
        if self.reg_tokens is not None:
            parts.append(self.reg_tokens.unsqueeze(0).expand(b, self.cfg.num_registers, self.cfg.width))
        parts.append(x + pos[1:].unsqueeze(0))
        x = torch.cat(parts, dim=1)
        if self.ln_pre is not None:
            x = self.ln_pre(x)
        return x, (h, w)

    def forward_until_last(self, pixels: Tensor) -> Tuple[Tensor, Tuple[int, int], Rope]:
        """Runs blocks 1..N-1; returns the input of the last block, the grid and the RoPE tables."""
        x, (h, w) = self.embed(pixels)
        rope = self.rope(h, w, x.dtype, x.device)
        for blk in self.blocks[:-1]:
            x = blk(x, rope=rope, num_prefix=self.num_prefix)
        return x, (h, w), rope

    def project(self, x: Tensor) -> Tensor:
        """Final LN then head projection (identity head for DINOv2)."""
        x = self.norm(x)
        return self.head(x) if self.head is not None else x

    def forward(self, pixels: Tensor) -> Tensor:
        """Full forward: all tokens after the final norm (no head) [B, 1+R+h*w, W]."""
        x, _, rope = self.forward_until_last(pixels)
        x = self.blocks[-1](x, rope=rope, num_prefix=self.num_prefix)
        return self.norm(x)

    def encode_image(self, pixels: Tensor) -> Tensor:
        """Global embedding: head(norm(class token)) [B, D] (not normalised)."""
        cls = self.forward(pixels)[:, 0]
        return self.head(cls) if self.head is not None else cls

    def patch_features(self, pixels: Tensor, normalize: bool = True) -> Tensor:
        """Final-normed patch tokens [B, h, w, W] (DINOv2 `x_norm_patchtokens`), optionally L2-normalised."""
        x, (h, w), rope = self.forward_until_last(pixels)
        x = self.norm(self.blocks[-1](x, rope=rope, num_prefix=self.num_prefix))[:, self.num_prefix:]
        if normalize:
            x = F.normalize(x, dim=-1)
        return x.reshape(x.shape[0], h, w, -1)


def build_vision(cfg: VisionConfig, seed: Optional[int] = None) -> VisionTransformer:
    """Build a vision tower; with `seed`, random-initialise it deterministically (see `random_init`)."""
    m = VisionTransformer(cfg)
    if seed is not None:
        random_init(m, seed)
    return m.eval()


def random_init(module: nn.Module, seed: int) -> None:
    """Deterministic, non-degenerate random weights (LN weights ~1, biases small) for tests and `--random-init`."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            parent = name.rsplit(".", 2)[-2] if name.count(".") >= 1 else ""
            is_norm = any(s in parent for s in ("norm", "ln", "inner_ln", "ffn_ln")) and p.dim() == 1
            if is_norm and leaf == "weight":
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif leaf in ("ls1", "ls2"):
                p.copy_(0.5 + 0.1 * torch.randn(p.shape, generator=g))
            elif p.dim() >= 2 and leaf == "weight":
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / fan_in ** 0.5)
            else:
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
