"""Parity of declip_torch's EVA02-CLIP and DINOv2-reg towers against timm (run where timm is installed, e.g. GPU box).

    python -m declip_torch.parity_timm [--device cuda] [--out parity_timm.json] [--tolerance 1e-4]

For each pair (ours preset, timm model):
    eva02-clip-b-16      <-> eva02_base_patch16_clip_224
    dinov2-vit-b-14-reg  <-> vit_base_patch14_reg4_dinov2
our model is random-initialised, its state dict is written under the real release key names (EVA-CLIP `visual.*`,
DINOv2 root keys) and loaded into timm through timm's own `checkpoint_filter_fn` (how timm loads the release
checkpoints), strictly. Both forward passes then run on the same random images; the max abs difference of the
final-normed tokens and of the head output must be <= tolerance. Exit code 1 when parity fails.
Not a test (needs timm, which is not a runtime dependency).
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Dict, Optional

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


def run(device: str, tolerance: float, seed: int = 0, batch: int = 2) -> Dict[str, object]:
    import timm

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    report: Dict[str, object] = {"timm": timm.__version__, "torch": torch.__version__, "device": device,
                                 "tolerance": tolerance, "pairs": []}
    ok = True
    for ours_name, timm_name, size in PAIRS:
        preset = get_preset(ours_name)
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(batch, 3, size, size, generator=g)
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
            tm = timm.create_model(timm_name, pretrained=False, num_classes=0)
            how = _load_into_timm(tm, sd, "vision_transformer", _explicit_dinov2_to_timm)
        ours = ours.to(device).eval()
        tm = tm.to(device).eval()
        xd = x.to(device)
        with torch.no_grad():
            a = ours(xd)
            b = tm.forward_features(xd)
            tok = (a - b).abs().max().item()
            ha = ours.encode_image(xd)
            hb = tm.forward_head(b)
            head = (ha - hb).abs().max().item()
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
    ap.add_argument("--out", help="write the JSON report here")
    a = ap.parse_args(argv)
    rep = run(a.device, a.tolerance, a.seed)
    text = json.dumps(rep, indent=2)
    if a.out:
        with open(a.out, "w", encoding="utf-8") as f:
            f.write(text)
    print(text)
    return 0 if rep["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
