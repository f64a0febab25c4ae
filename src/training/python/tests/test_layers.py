"""Position-embedding interpolation, RoPE, text EOT pooling and preset shapes (real checkpoint key shapes)."""
import math

import pytest
import torch

from declip_torch.config import get_preset
from declip_torch.errors import ConfigError, InputSizeError
from declip_torch.heads import build_clip
from declip_torch.keymap import clip_to_external, vfm_to_external
from declip_torch.layers import interpolate_pos_embed, rope_cos_sin, rotate_half_interleaved
from declip_torch.vit import build_vision


@pytest.mark.parametrize("antialias", [False, True])
def test_pos_embed_interpolation_is_identity_at_native_size(antialias):
    pos = torch.randn(1 + 7 * 5, 8)
    out = interpolate_pos_embed(pos, (7, 5), 7, 5, antialias=antialias)
    assert torch.allclose(out, pos, atol=1e-6, rtol=0)


def test_pos_embed_interpolation_resizes_and_keeps_class_token():
    pos = torch.randn(1 + 4 * 4, 6)
    out = interpolate_pos_embed(pos, (4, 4), 6, 8)
    assert out.shape == (1 + 48, 6)
    assert torch.equal(out[0], pos[0])
    # a constant grid stays constant under bicubic resampling (weights sum to 1)
    const = torch.cat([pos[:1], torch.full((16, 6), 0.25)])
    assert torch.allclose(interpolate_pos_embed(const, (4, 4), 9, 3)[1:], torch.full((27, 6), 0.25), atol=1e-6)


def test_vit_identical_output_at_native_size_after_noop_resample():
    m = build_vision(get_preset("tiny-dinov2-reg").vision, seed=3)
    x = torch.randn(1, 3, 70, 70)
    a = m(x)
    m.resample_pos_embed((5, 5))
    assert torch.equal(a, m(x))


def test_vit_rejects_size_not_multiple_of_patch():
    m = build_vision(get_preset("tiny").vision, seed=0)
    with pytest.raises(InputSizeError, match="multiple of the patch size 16"):
        m(torch.randn(1, 3, 64, 70))


def test_rotate_half_interleaved_pairs():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert rotate_half_interleaved(x).tolist() == [-2.0, 1.0, -4.0, 3.0]


def _eva_rope_reference(h, w, head_dim, ref, theta=10000.0):
    dim = head_dim // 2
    freqs = [1.0 / theta ** (2 * j / dim) for j in range(dim // 2)]
    cos = torch.zeros(h * w, head_dim)
    sin = torch.zeros(h * w, head_dim)
    for r in range(h):
        for c in range(w):
            ang = []
            for t in (r / h * ref,):
                for f in freqs:
                    ang += [t * f, t * f]
            for t in (c / w * ref,):
                for f in freqs:
                    ang += [t * f, t * f]
            cos[r * w + c] = torch.tensor([math.cos(a) for a in ang])
            sin[r * w + c] = torch.tensor([math.sin(a) for a in ang])
    return cos, sin


def test_rope_tables_match_eva_formula_on_non_square_grid():
    cos, sin = rope_cos_sin(3, 5, 16, 16)
    rc, rs = _eva_rope_reference(3, 5, 16, 16)
    assert cos.shape == (15, 16)
    assert torch.allclose(cos, rc, atol=1e-5) and torch.allclose(sin, rs, atol=1e-5)


def test_text_eot_pooling_takes_argmax_position_and_is_causal():
    m = build_clip(get_preset("tiny"), seed=1)
    captured = {}
    h = m.text.ln_final.register_forward_hook(lambda mod, inp, out: captured.__setitem__("h", out))
    ids = torch.zeros(2, 77, dtype=torch.long)
    ids[:, 0] = 49406
    ids[0, 1:4] = torch.tensor([10, 20, 30])
    ids[0, 4] = 49407
    ids[1, 1:9] = torch.arange(100, 108)
    ids[1, 9] = 49407
    out = m.text(ids)
    h.remove()
    ref = m.text.proj(torch.stack([captured["h"][0, 4], captured["h"][1, 9]]))
    assert torch.allclose(out, ref, atol=1e-6)
    # tokens after the EOT (padding) cannot change the embedding (causal mask)
    ids2 = ids.clone()
    ids2[0, 10:20] = 777
    assert torch.allclose(m.text(ids2)[0], out[0], atol=1e-6)
    # a token before the EOT does change it
    ids3 = ids.clone()
    ids3[0, 2] = 999
    assert (m.text(ids3)[0] - out[0]).abs().max() > 1e-4


def test_vfm_preset_cannot_be_used_as_clip():
    with pytest.raises(ConfigError, match="without a text tower"):
        build_clip(get_preset("dinov2-vit-b-14-reg"))


def test_unknown_preset_lists_known_ones():
    with pytest.raises(ConfigError, match="eva02-clip-b-16"):
        get_preset("vit-h-14")


def test_real_preset_shapes_follow_released_checkpoints():
    oa = clip_to_external(build_clip(get_preset("openai-vit-b-16")), get_preset("openai-vit-b-16"))
    assert oa["visual.positional_embedding"].shape == (197, 768)
    assert oa["visual.conv1.weight"].shape == (768, 3, 16, 16)
    assert oa["visual.proj"].shape == (768, 512)
    assert oa["visual.transformer.resblocks.11.attn.in_proj_weight"].shape == (2304, 768)
    assert oa["text_projection"].shape == (512, 512)
    assert oa["token_embedding.weight"].shape == (49408, 512)
    ev = clip_to_external(build_clip(get_preset("eva02-clip-b-16")), get_preset("eva02-clip-b-16"))
    assert ev["visual.pos_embed"].shape == (1, 197, 768)
    assert ev["visual.cls_token"].shape == (1, 1, 768)
    assert ev["visual.blocks.11.mlp.w1.weight"].shape == (2048, 768)
    assert ev["visual.blocks.11.mlp.ffn_ln.weight"].shape == (2048,)
    assert ev["visual.blocks.11.attn.inner_attn_ln.weight"].shape == (768,)
    assert ev["visual.blocks.0.attn.q_bias"].shape == (768,)
    assert "visual.blocks.0.attn.k_bias" not in ev
    assert ev["visual.head.weight"].shape == (512, 768)
    assert ev["text.text_projection"].shape == (512, 512)
    dp = get_preset("dinov2-vit-b-14-reg")
    dn = vfm_to_external(build_vision(dp.vision), dp)
    assert dn["pos_embed"].shape == (1, 1370, 768)
    assert dn["register_tokens"].shape == (1, 4, 768)
    assert dn["blocks.11.ls1.gamma"].shape == (768,)
    assert dn["blocks.0.attn.qkv.bias"].shape == (2304,)
    assert len(dn) == 4 + 1 + 12 * 14 + 2  # patch w/b, cls, pos, regs; 14 tensors per block; norm w/b


@pytest.mark.parametrize("name,width,depth,heads,patch,size,mlp,embed,text_width", [
    ("openai-vit-b-16", 768, 12, 12, 16, 224, 3072, 512, 512),
    ("openai-vit-l-14", 1024, 24, 16, 14, 224, 4096, 768, 768),
    ("openai-vit-l-14-336", 1024, 24, 16, 14, 336, 4096, 768, 768),
    ("eva02-clip-b-16", 768, 12, 12, 16, 224, 2048, 512, 512),
    ("eva02-clip-l-14-336", 1024, 24, 16, 14, 336, 2730, 768, 768),
    ("dinov2-vit-b-14-reg", 768, 12, 12, 14, 518, 3072, None, None),
    ("dinov2-vit-l-14-reg", 1024, 24, 16, 14, 518, 4096, None, None),
])
def test_presets_match_released_architectures(name, width, depth, heads, patch, size, mlp, embed, text_width):
    p = get_preset(name)
    v = p.vision
    assert (v.width, v.depth, v.heads, v.patch_size, v.image_size, v.mlp_hidden, v.embed_dim) == (
        width, depth, heads, patch, size, mlp, embed)
    assert (p.text.width if p.text else None) == text_width
    if v.family == "eva02":
        assert v.rope and v.rope_ref_grid == 16 and v.inner_ln and v.ffn_ln and not v.k_bias and v.mlp == "swiglu"
    if v.family == "dinov2":
        assert v.num_registers == 4 and v.layer_scale and v.mean == (0.485, 0.456, 0.406)
    if v.family == "openai":
        assert v.mlp == "quick_gelu" and v.ln_pre and not v.patch_bias
