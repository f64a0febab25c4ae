"""Checkpoint key mapping: round trips under real key names, strict errors that name keys and presets."""
import pytest
import torch

from declip_torch.config import get_preset
from declip_torch.errors import CheckpointError
from declip_torch.heads import ImageEncoder, TextEncoder, VfmFeatures, build_clip
from declip_torch.keymap import (clip_to_external, load_checkpoint_file, load_clip_state_dict, load_vfm_state_dict,
                                 suggest_presets, vfm_to_external)
from declip_torch.vit import build_vision

PIX = torch.randn(1, 3, 64, 80, generator=torch.Generator().manual_seed(0))
IDS = torch.zeros(2, 77, dtype=torch.long)
IDS[:, 0] = 49406
IDS[0, 1:5] = torch.tensor([5, 6, 7, 8])
IDS[0, 5] = 49407
IDS[1, 1] = 49407


def _outputs(clip):
    with torch.no_grad():
        d, g = ImageEncoder("declip-csa", clip.visual)(PIX)
        t = TextEncoder(clip.text)(IDS)
    return d, g, t


@pytest.mark.parametrize("name,keys", [
    ("tiny", ["visual.transformer.resblocks.1.attn.in_proj_weight", "visual.ln_post.weight", "visual.proj",
              "visual.class_embedding", "transformer.resblocks.0.mlp.c_fc.weight", "text_projection", "logit_scale"]),
    ("tiny-eva02", ["visual.blocks.1.attn.q_proj.weight", "visual.blocks.1.attn.q_bias", "visual.blocks.1.attn.v_bias",
                    "visual.blocks.1.attn.inner_attn_ln.weight", "visual.blocks.1.mlp.w1.weight",
                    "visual.blocks.1.mlp.ffn_ln.bias", "visual.blocks.1.mlp.w3.weight", "visual.head.weight",
                    "visual.patch_embed.proj.bias", "text.transformer.resblocks.1.attn.out_proj.weight"]),
])
def test_clip_round_trip_under_real_key_names(name, keys):
    preset = get_preset(name)
    a = build_clip(preset, seed=1)
    sd = clip_to_external(a, preset)
    for k in keys:
        assert k in sd, k
    b = build_clip(preset, seed=2)
    assert not torch.equal(_outputs(a)[0], _outputs(b)[0])
    load_clip_state_dict(b, sd, preset)
    for x, y in zip(_outputs(a), _outputs(b)):
        assert torch.equal(x, y)


def test_dinov2_round_trip_and_chunked_blocks():
    preset = get_preset("tiny-dinov2-reg")
    a = build_vision(preset.vision, seed=1)
    sd = vfm_to_external(a, preset)
    for k in ["register_tokens", "blocks.1.ls1.gamma", "blocks.1.ls2.gamma", "blocks.0.attn.qkv.bias", "norm.weight"]:
        assert k in sd
    sd["mask_token"] = torch.zeros(1, 32)  # present in real DINOv2 checkpoints, unused
    b = build_vision(preset.vision, seed=2)
    load_vfm_state_dict(b, {k.replace("blocks.1.", "blocks.0.1."): v for k, v in sd.items()}, preset)
    x = torch.randn(1, 3, 70, 84)
    assert torch.equal(VfmFeatures(a, 14, (0.5,) * 3, (0.2,) * 3)(x), VfmFeatures(b, 14, (0.5,) * 3, (0.2,) * 3)(x))


def test_wrapped_fp16_openai_checkpoint_with_metadata_loads(tmp_path):
    preset = get_preset("tiny")
    a = build_clip(preset, seed=4)
    sd = {("module." + k): v.half() for k, v in clip_to_external(a, preset).items()}
    sd["module.input_resolution"] = torch.tensor(64)
    sd["module.context_length"] = torch.tensor(77)
    path = tmp_path / "ckpt.pt"
    torch.save({"epoch": 3, "state_dict": sd}, path)
    b = build_clip(preset, seed=5)
    load_clip_state_dict(b, load_checkpoint_file(str(path)), preset)
    assert b.visual.pos_embed.dtype == torch.float32
    assert torch.equal(b.visual.pos_embed, a.visual.pos_embed.half().float())


def test_eva_rope_buffers_are_ignored():
    preset = get_preset("tiny-eva02")
    sd = clip_to_external(build_clip(preset, seed=1), preset)
    sd["visual.rope.freqs_cos"] = torch.zeros(16, 16)
    sd["visual.blocks.0.attn.rope.freqs_sin"] = torch.zeros(16, 16)
    load_clip_state_dict(build_clip(preset), sd, preset)


def test_missing_and_unexpected_keys_are_listed():
    preset = get_preset("tiny")
    sd = clip_to_external(build_clip(preset, seed=1), preset)
    del sd["visual.transformer.resblocks.1.ln_2.bias"]
    sd["visual.extra_adapter.weight"] = torch.zeros(3)
    with pytest.raises(CheckpointError) as e:
        load_clip_state_dict(build_clip(preset), sd, preset)
    msg = str(e.value)
    assert "missing keys (1): visual.transformer.resblocks.1.ln_2.bias" in msg
    assert "unexpected keys (1): visual.extra_adapter.weight" in msg
    assert "matching preset(s): tiny" in msg


def test_shape_mismatch_names_both_keys_and_shapes():
    preset = get_preset("tiny")
    sd = clip_to_external(build_clip(preset, seed=1), preset)
    sd["visual.proj"] = torch.zeros(32, 40)
    with pytest.raises(CheckpointError, match=r"visual\.proj -> visual\.head\.weight: checkpoint \(40, 32\) vs model "
                                              r"\(24, 32\)"):
        load_clip_state_dict(build_clip(preset), sd, preset)


def test_checkpoint_of_another_architecture_suggests_the_right_preset():
    eva = get_preset("tiny-eva02")
    sd = clip_to_external(build_clip(eva, seed=1), eva)
    with pytest.raises(CheckpointError) as e:
        load_clip_state_dict(build_clip(get_preset("tiny")), sd, get_preset("tiny"))
    assert "family 'eva02'" in str(e.value) and "tiny-eva02" in str(e.value)
    assert suggest_presets(sd) == ["tiny-eva02"]
    dino = get_preset("tiny-dinov2-reg")
    dsd = vfm_to_external(build_vision(dino.vision, seed=1), dino)
    del dsd["register_tokens"]
    with pytest.raises(CheckpointError, match="missing keys \\(1\\): register_tokens"):
        load_vfm_state_dict(build_vision(dino.vision), dsd, dino)


def test_unreadable_checkpoint_is_a_checkpoint_error(tmp_path):
    p = tmp_path / "bad.pt"
    p.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint_file(str(p))


def test_eva_text_tower_at_root_or_under_text_prefix():
    preset = get_preset("tiny-eva02")
    a = build_clip(preset, seed=1)
    sd = clip_to_external(a, preset)
    root = {(k[len("text."):] if k.startswith("text.") else k): v for k, v in sd.items()}
    assert "token_embedding.weight" in root and "text.token_embedding.weight" in sd
    b = build_clip(preset, seed=2)
    load_clip_state_dict(b, root, preset)
    assert torch.equal(_outputs(a)[2], _outputs(b)[2])


def _block_keys(sd, prefix):
    return {k[len(prefix):] for k in sd if k.startswith(prefix)}


def test_exact_key_sets_of_released_checkpoint_layouts():
    """Key names written out by hand from the released OpenAI CLIP, EVA02-CLIP and DINOv2 checkpoints."""
    oa = clip_to_external(build_clip(get_preset("tiny")), get_preset("tiny"))
    assert _block_keys(oa, "visual.transformer.resblocks.0.") == {
        "ln_1.weight", "ln_1.bias", "attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight",
        "attn.out_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight",
        "mlp.c_proj.bias"}
    assert {k for k in oa if k.startswith("visual.") and ".resblocks." not in k} == {
        "visual.conv1.weight", "visual.class_embedding", "visual.positional_embedding", "visual.ln_pre.weight",
        "visual.ln_pre.bias", "visual.ln_post.weight", "visual.ln_post.bias", "visual.proj"}
    assert {k for k in oa if not k.startswith("visual.") and ".resblocks." not in k} == {
        "token_embedding.weight", "positional_embedding", "ln_final.weight", "ln_final.bias", "text_projection",
        "logit_scale"}
    ev = clip_to_external(build_clip(get_preset("tiny-eva02")), get_preset("tiny-eva02"))
    assert _block_keys(ev, "visual.blocks.0.") == {
        "norm1.weight", "norm1.bias", "attn.q_proj.weight", "attn.k_proj.weight", "attn.v_proj.weight",
        "attn.q_bias", "attn.v_bias", "attn.inner_attn_ln.weight", "attn.inner_attn_ln.bias", "attn.proj.weight",
        "attn.proj.bias", "norm2.weight", "norm2.bias", "mlp.w1.weight", "mlp.w1.bias", "mlp.w2.weight",
        "mlp.w2.bias", "mlp.ffn_ln.weight", "mlp.ffn_ln.bias", "mlp.w3.weight", "mlp.w3.bias"}
    assert {k for k in ev if k.startswith("visual.") and ".blocks." not in k} == {
        "visual.patch_embed.proj.weight", "visual.patch_embed.proj.bias", "visual.cls_token", "visual.pos_embed",
        "visual.norm.weight", "visual.norm.bias", "visual.head.weight", "visual.head.bias"}
    dp = get_preset("tiny-dinov2-reg")
    dn = vfm_to_external(build_vision(dp.vision), dp)
    assert _block_keys(dn, "blocks.0.") == {
        "norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias",
        "ls1.gamma", "norm2.weight", "norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight",
        "mlp.fc2.bias", "ls2.gamma"}
    assert {k for k in dn if not k.startswith("blocks.")} == {
        "patch_embed.proj.weight", "patch_embed.proj.bias", "cls_token", "pos_embed", "register_tokens",
        "norm.weight", "norm.bias"}
