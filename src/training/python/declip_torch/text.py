"""CLIP text transformer (OpenAI and EVA-CLIP text towers): causal mask, EOT pooling, projection."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import TextConfig
from .layers import Block


class TextTransformer(nn.Module):
    """Canonical parameters: token_embedding, pos_embed [ctx, W], blocks.N.*, ln_final, proj (Linear W -> D)."""

    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.cfg = cfg
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.width)
        self.pos_embed = nn.Parameter(torch.zeros(cfg.context_length, cfg.width))
        self.blocks = nn.ModuleList([
            Block(cfg.width, cfg.heads, 4 * cfg.width, mlp=cfg.mlp, eps=cfg.ln_eps) for _ in range(cfg.depth)
        ])
        self.ln_final = nn.LayerNorm(cfg.width, eps=cfg.ln_eps)
        self.proj = nn.Linear(cfg.width, cfg.embed_dim, bias=False)
        mask = torch.full((cfg.context_length, cfg.context_length), float("-inf")).triu(1)
        self.register_buffer("causal_mask", mask, persistent=False)

    def forward(self, input_ids: Tensor) -> Tensor:
        """input_ids [N, L] (L <= context_length) -> projected EOT features [N, D] (not normalised).

        The EOT token is the largest id in each row (CLIP convention), so pooling takes argmax(input_ids).
        """
        ids = input_ids.long()
        n_ctx = ids.shape[1]
        x = self.token_embedding(ids) + self.pos_embed[:n_ctx]
        mask = self.causal_mask[:n_ctx, :n_ctx]
        for blk in self.blocks:
            x = blk(x, mask=mask, rope=None, num_prefix=0)
        x = self.ln_final(x)
        eot = ids.argmax(dim=-1)  # [N]
        idx = eot.reshape(-1, 1, 1).expand(-1, 1, self.cfg.width)
        pooled = torch.gather(x, 1, idx).squeeze(1)
        return self.proj(pooled)

    def encode(self, input_ids: Tensor) -> Tensor:
        """L2-normalised text embeddings [N, D]."""
        return F.normalize(self.forward(input_ids), dim=-1)
