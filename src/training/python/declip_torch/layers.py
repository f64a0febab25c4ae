"""Transformer building blocks shared by the vision and text towers (plain torch.nn, torch 1.13 compatible).

Canonical parameter names used here are translated to / from real checkpoint names by `keymap.py`.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Rope = Optional[Tuple[Tensor, Tensor]]


class QuickGELU(nn.Module):
    """OpenAI CLIP's GELU approximation x * sigmoid(1.702 x)."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(1.702 * x)


def make_act(name: str) -> nn.Module:
    if name == "quick_gelu":
        return QuickGELU()
    if name == "gelu":
        return nn.GELU()
    raise ValueError(f"mlp: unknown activation {name!r} (use 'quick_gelu', 'gelu' or 'swiglu')")


class Mlp(nn.Module):
    """fc1 -> activation -> fc2 (OpenAI c_fc/c_proj, DINOv2 fc1/fc2)."""

    def __init__(self, dim: int, hidden: int, act: str):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = make_act(act)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class SwiGLU(nn.Module):
    """EVA02 SwiGLU with optional sub-LN: fc2(ffn_ln(silu(fc1_g(x)) * fc1_x(x))) (EVA w1=fc1_g, w2=fc1_x, w3=fc2)."""

    def __init__(self, dim: int, hidden: int, ffn_ln: bool, eps: float):
        super().__init__()
        self.fc1_g = nn.Linear(dim, hidden)
        self.fc1_x = nn.Linear(dim, hidden)
        self.ffn_ln = nn.LayerNorm(hidden, eps=eps) if ffn_ln else None
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        h = F.silu(self.fc1_g(x)) * self.fc1_x(x)
        if self.ffn_ln is not None:
            h = self.ffn_ln(h)
        return self.fc2(h)


def rotate_half_interleaved(x: Tensor) -> Tensor:
    """Pairs (x0, x1), (x2, x3), ... -> (-x1, x0), (-x3, x2), ... (EVA / timm 'rot')."""
    shape = x.shape
    x = x.reshape(shape[:-1] + (shape[-1] // 2, 2))
    x1 = x[..., 0]
    x2 = x[..., 1]
    return torch.stack([-x2, x1], dim=-1).reshape(shape)


def rope_cos_sin(h: int, w: int, head_dim: int, ref_grid: int, theta: float = 10000.0,
                 dtype: torch.dtype = torch.float32, device: Optional[torch.device] = None) -> Tuple[Tensor, Tensor]:
    """EVA02 2-D rotary embedding for an h x w patch grid: (cos, sin), each [h*w, head_dim].

    The first half of each head's channels rotates with the row index, the second half with the column index;
    positions are rescaled to the pre-training grid (t = i / n * ref_grid), frequencies theta^(-2j/(head_dim/2)),
    each repeated twice (interleaved pairs). Works with traced (dynamic) h and w.
    """
    half = head_dim // 2
    freqs = 1.0 / (theta ** (torch.arange(0, half, 2, dtype=torch.float32, device=device) / half))  # [half/2]
    th = torch.arange(h, dtype=torch.float32, device=device) / h * ref_grid
    tw = torch.arange(w, dtype=torch.float32, device=device) / w * ref_grid
    fh = th[:, None] * freqs[None, :]  # [h, half/2]
    fw = tw[:, None] * freqs[None, :]
    fh = torch.stack([fh, fh], dim=-1).reshape(-1, half)  # [h, half] interleaved repeat
    fw = torch.stack([fw, fw], dim=-1).reshape(-1, half)
    nh = fh.shape[0]
    nw = fw.shape[0]
    full = torch.cat([fh[:, None, :].expand(nh, nw, half), fw[None, :, :].expand(nh, nw, half)], dim=-1)
    full = full.reshape(-1, head_dim)
    return full.cos().to(dtype), full.sin().to(dtype)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """x [..., N, head_dim] rotated by (cos, sin) [N, head_dim]."""
    return x * cos + rotate_half_interleaved(x) * sin


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv weight and separate q/k/v biases.

    Canonical names: qkv.weight [3W, W], q_bias, k_bias (absent for EVA02), v_bias, inner_ln (EVA02 sub-LN), proj.
    """

    def __init__(self, dim: int, heads: int, k_bias: bool = True, inner_ln: bool = False, eps: float = 1e-5):
        super().__init__()
        if dim % heads != 0:
            raise ValueError(f"heads: width {dim} is not divisible by heads {heads}")
        self.dim = dim
        self.heads = heads
        self.head_dim = dim // heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.k_bias = nn.Parameter(torch.zeros(dim)) if k_bias else None
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.inner_ln = nn.LayerNorm(dim, eps=eps) if inner_ln else None
        self.proj = nn.Linear(dim, dim)

    def qkv_heads(self, x: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """x [B, L, W] -> q, k, v each [B, heads, L, head_dim] (no RoPE, no scaling)."""
        kb = self.k_bias if self.k_bias is not None else torch.zeros_like(self.q_bias)
        bias = torch.cat([self.q_bias, kb, self.v_bias])
        y = F.linear(x, self.qkv.weight, bias)
        b = x.shape[0]
        y = y.reshape(b, -1, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return y[0], y[1], y[2]

    def merge(self, o: Tensor) -> Tensor:
        """o [B, heads, L, head_dim] -> proj(inner_ln(concat heads)) [B, L, W]."""
        b = o.shape[0]
        x = o.transpose(1, 2).reshape(b, -1, self.dim)
        if self.inner_ln is not None:
            x = self.inner_ln(x)
        return self.proj(x)

    def forward(self, x: Tensor, mask: Optional[Tensor] = None, rope: Rope = None, num_prefix: int = 1) -> Tensor:
        q, k, v = self.qkv_heads(x)
        if rope is not None:
            cos, sin = rope
            q = torch.cat([q[:, :, :num_prefix], apply_rope(q[:, :, num_prefix:], cos, sin)], dim=2)
            k = torch.cat([k[:, :, :num_prefix], apply_rope(k[:, :, num_prefix:], cos, sin)], dim=2)
        a = torch.matmul(q * self.scale, k.transpose(-1, -2))
        if mask is not None:
            a = a + mask
        a = a.softmax(dim=-1)
        return self.merge(torch.matmul(a, v))


class Block(nn.Module):
    """Pre-LN transformer block: x + ls1 * attn(norm1(x)); x + ls2 * mlp(norm2(x))."""

    def __init__(self, dim: int, heads: int, mlp_hidden: int, mlp: str = "quick_gelu", k_bias: bool = True,
                 inner_ln: bool = False, ffn_ln: bool = False, layer_scale: bool = False, eps: float = 1e-5):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, heads, k_bias=k_bias, inner_ln=inner_ln, eps=eps)
        self.ls1 = nn.Parameter(torch.ones(dim)) if layer_scale else None
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp: nn.Module = SwiGLU(dim, mlp_hidden, ffn_ln, eps) if mlp == "swiglu" else Mlp(dim, mlp_hidden, mlp)
        self.ls2 = nn.Parameter(torch.ones(dim)) if layer_scale else None

    def scale1(self, x: Tensor) -> Tensor:
        return x * self.ls1 if self.ls1 is not None else x

    def scale2(self, x: Tensor) -> Tensor:
        return x * self.ls2 if self.ls2 is not None else x

    def forward(self, x: Tensor, mask: Optional[Tensor] = None, rope: Rope = None, num_prefix: int = 1) -> Tensor:
        x = x + self.scale1(self.attn(self.norm1(x), mask=mask, rope=rope, num_prefix=num_prefix))
        return x + self.scale2(self.mlp(self.norm2(x)))


def interpolate_pos_embed(pos: Tensor, src_grid: Tuple[int, int], h: int, w: int, antialias: bool = False) -> Tensor:
    """Bicubic (align_corners=False) resampling of a [1+S, W] position embedding (class token first) to h x w.

    At h, w == src_grid this is exactly the identity (the cubic kernel is 1 at offset 0 and 0 at integer offsets).
    """
    cls = pos[:1]
    dim = pos.shape[1]
    grid = pos[1:].reshape(1, src_grid[0], src_grid[1], dim).permute(0, 3, 1, 2)
    if antialias:
        grid = F.interpolate(grid, size=(int(h), int(w)), mode="bicubic", align_corners=False, antialias=True)
    else:
        grid = F.interpolate(grid, size=(h, w), mode="bicubic", align_corners=False)
    return torch.cat([cls, grid.permute(0, 2, 3, 1).reshape(-1, dim)], dim=0)


def check_multiple_of_patch(h: int, w: int, patch: int, what: str = "pixels") -> None:
    """Raise InputSizeError unless h, w are positive multiples of `patch`."""
    from .errors import InputSizeError

    if h <= 0 or w <= 0 or h % patch != 0 or w % patch != 0:
        lo_h, lo_w = max(patch, h // patch * patch), max(patch, w // patch * patch)
        raise InputSizeError(
            f"{what}: input size {h}x{w} is not a multiple of the patch size {patch}; "
            f"resize or crop to e.g. {lo_h}x{lo_w} or {math.ceil(h / patch) * patch}x{math.ceil(w / patch) * patch}")
