"""Parity of declip_torch's EVA02-CLIP and DINOv2-reg towers against timm (CPU or GPU).

    python -m declip_torch.parity_timm [--device cuda] [--out parity_timm.json] [--tolerance 1e-4] [--dinov2-size 224]

For each pair (ours preset, timm model):
    eva02-clip-b-16      <-> eva02_base_patch16_clip_224
    dinov2-vit-b-14-reg  <-> vit_base_patch14_reg4_dinov2
our model is random-initialised, its state dict is written under the real release key names (EVA-CLIP `visual.*`,
DINOv2 root keys) and loaded into timm through timm's own `checkpoint_filter_fn` (how timm loads the release
checkpoints), strictly. Both forward passes then run on the same random images; the max abs difference of the
final-normed tokens and of the head output must be <= tolerance. Exit code 1 when parity fails.
timm is a test-only dependency (pinned in requirements.txt, installed with --no-deps by scripts/setup-python.sh);
tests/test_parity_timm.py runs both pairs at 224 on the CPU. --dinov2-size picks the DINOv2 input side (default
the release's 518; 224 is about 3x faster on a CPU): timm is then built for that size and both sides resample the
position embedding once, as timm does when it loads the release checkpoint at another size.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Dict, Optional, Tuple

import torch

from .config import get_preset
from .heads import build_clip
from .keymap import clip_to_external, vfm_to_external
from .vit import build_vision

PAIRS = [("eva02-clip-b-16", "eva02_base_patch16_clip_224", 224),
         ("dinov2-vit-b-14-reg", "vit_base_patch14_reg4_dinov2", 518)]


def _explicit_eva_to_timm(sd: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Fallback EVA-CLIP -> timm Eva mapping (qkv_fused=False, swiglu + scale_mlp, scale_attn_inner)."""
    out = {}
    for k, v in sd.items():
        if not k.startswith("visual.") or "rope." in k:
            continue
        k = k[len("visual."):]
        k = (k.replace("attn.inner_attn_ln", "attn.norm").replace("mlp.ffn_ln", "mlp.norm")
             .replace("mlp.w1", "mlp.fc1_g").replace("mlp.w2", "mlp.fc1_x").replace("mlp.w3", "mlp.fc2")
             .replace("attn.q_bias", "attn.q_proj.bias").replace("attn.v_bias", "attn.v_proj.bias"))
        out[k] = v
    return out


def _explicit_dinov2_to_timm(sd: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Fallback DINOv2-reg -> timm (no_embed_class): class position folded into cls_token, registers renamed."""
    sd = dict(sd)
    out = {"reg_token": sd.pop("register_tokens"), "cls_token": sd.pop("cls_token") + sd["pos_embed"][:, :1],
           "pos_embed": sd.pop("pos_embed")[:, 1:]}
    sd.pop("mask_token", None)
    out.update(sd)
    return out


def _load_into_timm(model: torch.nn.Module, sd: Dict[str, torch.Tensor], module_name: str, fallback) -> str:
    import importlib

    try:
        filt = importlib.import_module(f"timm.models.{module_name}").checkpoint_filter_fn
        model.load_state_dict(filt(dict(sd), model), strict=True)
        return f"timm.models.{module_name}.checkpoint_filter_fn"
    except Exception as e:  # noqa: BLE001 - report and fall back to the explicit mapping
        print(f"  timm filter failed ({type(e).__name__}: {e}); using the explicit mapping", file=sys.stderr)
        model.load_state_dict(fallback(sd), strict=True)
        return "explicit mapping"


def pair_size(ours_name: str, size: Optional[int] = None) -> int:
    """The input side of a pair: `size` or the pair's default; must be a positive multiple of the patch size."""
    preset = get_preset(ours_name)
    default = {o: sz for o, _, sz in PAIRS}[ours_name]
    size = default if size is None else int(size)
    if size <= 0 or size % preset.vision.patch_size:
        raise ValueError(f"size: input size {size} for {ours_name} is not a positive multiple of its patch size "
                         f"{preset.vision.patch_size}; pick e.g. {default}")
    return size


def build_pair(ours_name: str, timm_name: str, size: int, seed: int = 0
               ) -> Tuple[torch.nn.Module, torch.nn.Module, str]:
    """(ours, timm model, how it was loaded): our random-initialised tower and timm's model holding its weights."""
    import timm

    preset = get_preset(ours_name)
    size = pair_size(ours_name, size)
    if preset.text is not None:
        clip = build_clip(preset, seed=seed)
        ours = clip.visual
        sd = {k: v for k, v in clip_to_external(clip, preset).items() if k.startswith("visual.")}
        tm = timm.create_model(timm_name, pretrained=False)
        how = _load_into_timm(tm, sd, "eva", _explicit_eva_to_timm)
    else:
        ours = build_vision(preset.vision, seed=seed)
        sd = vfm_to_external(ours, preset)
        sd["mask_token"] = torch.zeros(1, preset.vision.width)
        # at another size than the release's 518, timm is built for that size and its checkpoint filter resamples
        # pos_embed once (bicubic, antialiased); ours does the same with resample_pos_embed, as the exporter does
        # for the nominal input size
        tm = timm.create_model(timm_name, pretrained=False, num_classes=0, img_size=size)
        how = _load_into_timm(tm, sd, "vision_transformer", _explicit_dinov2_to_timm)
        g = size // preset.vision.patch_size
        ours.resample_pos_embed((g, g))
    return ours.eval(), tm.eval(), how


def compare(ours: torch.nn.Module, tm: torch.nn.Module, x: torch.Tensor) -> Tuple[float, float]:
    """Max abs differences (final-normed tokens, head output) of the two models on pixels `x`."""
    with torch.no_grad():
        a = ours(x)
        b = tm.forward_features(x)
        tok = (a - b).abs().max().item()
        ha = ours.encode_image(x)
        hb = tm.forward_head(b)
        head = (ha - hb).abs().max().item()
    return tok, head


def run(device: str, tolerance: float, seed: int = 0, batch: int = 2,
        sizes: Optional[Dict[str, int]] = None) -> Dict[str, object]:
    """Compare every pair of PAIRS; `sizes` overrides the input side per our preset name (a multiple of its patch)."""
    import timm

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    report: Dict[str, object] = {"timm": timm.__version__, "torch": torch.__version__, "device": device,
                                 "tolerance": tolerance, "pairs": []}
    ok = True
    for ours_name, timm_name, _ in PAIRS:
        size = pair_size(ours_name, (sizes or {}).get(ours_name))
        x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))
        ours, tm, how = build_pair(ours_name, timm_name, size, seed)
        tok, head = compare(ours.to(device), tm.to(device), x.to(device))
        passed = tok <= tolerance and head <= tolerance
        ok = ok and passed
        entry = {"ours": ours_name, "timm": timm_name, "input": [batch, 3, size, size], "loaded_with": how,
                 "tokens_max_abs_diff": tok, "head_max_abs_diff": head, "passed": passed}
        print(json.dumps(entry), file=sys.stderr)
        report["pairs"].append(entry)
    report["passed"] = ok
    return report


def main(argv: Optional[list] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--dinov2-size", type=int, default=PAIRS[1][2],
                    help="input side for the DINOv2 pair (multiple of 14; default %(default)s, 224 is faster on CPU)")
    ap.add_argument("--out", help="write the JSON report here")
    a = ap.parse_args(argv)
    try:
        pair_size(PAIRS[1][0], a.dinov2_size)
    except ValueError as e:
        ap.error(f"--dinov2-{e}")
    rep = run(a.device, a.tolerance, a.seed, a.batch, sizes={PAIRS[1][0]: a.dinov2_size})
    text = json.dumps(rep, indent=2)
    if a.out:
        with open(a.out, "w", encoding="utf-8") as f:
            f.write(text)
    print(text)
    return 0 if rep["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
