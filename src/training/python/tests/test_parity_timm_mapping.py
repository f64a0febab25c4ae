"""The timm parity script's fallback key conversions (the script itself needs timm and runs on the GPU box)."""
import torch

from declip_torch.config import get_preset
from declip_torch.heads import build_clip
from declip_torch.keymap import clip_to_external, vfm_to_external
from declip_torch.parity_timm import PAIRS, _explicit_dinov2_to_timm, _explicit_eva_to_timm
from declip_torch.vit import build_vision


def test_dinov2_to_timm_folds_class_position_into_cls_token():
    p = get_preset("tiny-dinov2-reg")
    sd = vfm_to_external(build_vision(p.vision, seed=1), p)
    out = _explicit_dinov2_to_timm(sd)
    assert out["reg_token"].shape == (1, 4, 32)
    assert out["pos_embed"].shape == (1, 25, 32)
    assert torch.equal(out["cls_token"], sd["cls_token"] + sd["pos_embed"][:, :1])
    assert "register_tokens" not in out and "blocks.1.ls2.gamma" in out


def test_eva_to_timm_renames_swiglu_subln_and_biases():
    p = get_preset("tiny-eva02")
    sd = clip_to_external(build_clip(p, seed=1), p)
    out = _explicit_eva_to_timm(sd)
    for k in ["blocks.0.mlp.fc1_g.weight", "blocks.0.mlp.fc1_x.bias", "blocks.0.mlp.norm.weight",
              "blocks.0.mlp.fc2.weight",
              "blocks.0.attn.norm.bias", "blocks.0.attn.q_proj.bias", "blocks.0.attn.v_proj.bias",
              "blocks.0.attn.k_proj.weight", "head.weight", "pos_embed", "cls_token"]:
        assert k in out, k
    assert not any(k.startswith(("text.", "visual.")) for k in out)
    assert [a for a, _, _ in PAIRS] == ["eva02-clip-b-16", "dinov2-vit-b-14-reg"]
