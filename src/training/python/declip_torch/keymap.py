"""Checkpoint loading by state-dict key mapping (OpenAI CLIP, open_clip / EVA-CLIP, DINOv2) with strict checks.

Each family is described by *rules*: a tuple of checkpoint keys <-> a tuple of canonical keys (this package's
parameter names) with a forward (checkpoint -> canonical) and backward (canonical -> checkpoint) transform.
Loading consumes every checkpoint key (or ignores it explicitly, e.g. RoPE buffers that are recomputed) and
reports missing keys, unexpected keys and shape mismatches in one CheckpointError that suggests a preset.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from .config import PRESETS, Preset, TextConfig, VisionConfig, presets_of_family
from .errors import CheckpointError

Fn = Callable[[List[Tensor]], List[Tensor]]


@dataclass(frozen=True)
class Rule:
    ext: Tuple[str, ...]
    can: Tuple[str, ...]
    fwd: Fn
    bwd: Fn


def _ident(t: List[Tensor]) -> List[Tensor]:
    return list(t)


def _same(e: str, c: str) -> Rule:
    return Rule((e,), (c,), _ident, _ident)


def _transpose(e: str, c: str) -> Rule:
    return Rule((e,), (c,), lambda t: [t[0].t().contiguous()], lambda t: [t[0].t().contiguous()])


def _cls(e: str, c: str) -> Rule:
    """cls_token [1, 1, W] in the checkpoint <-> [W] canonical."""
    return Rule((e,), (c,), lambda t: [t[0].reshape(-1)], lambda t: [t[0].reshape(1, 1, -1)])


def _lead1(e: str, c: str) -> Rule:
    """[1, N, W] in the checkpoint <-> [N, W] canonical (pos_embed, register_tokens)."""
    return Rule((e,), (c,), lambda t: [t[0][0]], lambda t: [t[0].unsqueeze(0)])


def _split3(e: str, cs: Tuple[str, str, str]) -> Rule:
    return Rule((e,), cs, lambda t: list(t[0].chunk(3, dim=0)), lambda t: [torch.cat(t, dim=0)])


def _cat3(es: Tuple[str, str, str], c: str) -> Rule:
    return Rule(es, (c,), lambda t: [torch.cat(t, dim=0)], lambda t: list(t[0].chunk(3, dim=0)))


def _ln(e: str, c: str) -> List[Rule]:
    return [_same(f"{e}.weight", f"{c}.weight"), _same(f"{e}.bias", f"{c}.bias")]


def _lin(e: str, c: str, bias: bool = True) -> List[Rule]:
    return [_same(f"{e}.weight", f"{c}.weight")] + ([_same(f"{e}.bias", f"{c}.bias")] if bias else [])


def _openai_blocks(ext: str, can: str, depth: int) -> List[Rule]:
    rules: List[Rule] = []
    for i in range(depth):
        e, c = f"{ext}transformer.resblocks.{i}.", f"{can}blocks.{i}."
        rules += _ln(e + "ln_1", c + "norm1")
        rules.append(_same(e + "attn.in_proj_weight", c + "attn.qkv.weight"))
        rules.append(_split3(e + "attn.in_proj_bias", (c + "attn.q_bias", c + "attn.k_bias", c + "attn.v_bias")))
        rules += _lin(e + "attn.out_proj", c + "attn.proj")
        rules += _ln(e + "ln_2", c + "norm2")
        rules += _lin(e + "mlp.c_fc", c + "mlp.fc1") + _lin(e + "mlp.c_proj", c + "mlp.fc2")
    return rules


def vision_rules(cfg: VisionConfig, ext: str, can: str = "") -> List[Rule]:
    """Rules between a checkpoint's vision keys (prefix `ext`, e.g. 'visual.') and canonical keys (prefix `can`)."""
    r: List[Rule] = []
    if cfg.family == "openai":
        r.append(_same(ext + "conv1.weight", can + "patch_embed.weight"))
        r.append(_same(ext + "class_embedding", can + "cls_token"))
        r.append(_same(ext + "positional_embedding", can + "pos_embed"))
        r += _ln(ext + "ln_pre", can + "ln_pre")
        r += _openai_blocks(ext, can, cfg.depth)
        r += _ln(ext + "ln_post", can + "norm")
        r.append(_transpose(ext + "proj", can + "head.weight"))
        return r
    if cfg.family not in ("eva02", "dinov2"):
        raise CheckpointError(f"family: unknown checkpoint family {cfg.family!r} (openai, eva02, dinov2)")
    r += _lin(ext + "patch_embed.proj", can + "patch_embed")
    r.append(_cls(ext + "cls_token", can + "cls_token"))
    r.append(_lead1(ext + "pos_embed", can + "pos_embed"))
    if cfg.num_registers:
        r.append(_lead1(ext + "register_tokens", can + "reg_tokens"))
    for i in range(cfg.depth):
        e, c = f"{ext}blocks.{i}.", f"{can}blocks.{i}."
        r += _ln(e + "norm1", c + "norm1") + _ln(e + "norm2", c + "norm2")
        r += _lin(e + "attn.proj", c + "attn.proj")
        if cfg.family == "eva02":
            r.append(_cat3((e + "attn.q_proj.weight", e + "attn.k_proj.weight", e + "attn.v_proj.weight"),
                           c + "attn.qkv.weight"))
            r.append(_same(e + "attn.q_bias", c + "attn.q_bias"))
            r.append(_same(e + "attn.v_bias", c + "attn.v_bias"))
            if cfg.inner_ln:
                r += _ln(e + "attn.inner_attn_ln", c + "attn.inner_ln")
            r += _lin(e + "mlp.w1", c + "mlp.fc1_g") + _lin(e + "mlp.w2", c + "mlp.fc1_x")
            r += _lin(e + "mlp.w3", c + "mlp.fc2")
            if cfg.ffn_ln:
                r += _ln(e + "mlp.ffn_ln", c + "mlp.ffn_ln")
        else:
            r.append(_same(e + "attn.qkv.weight", c + "attn.qkv.weight"))
            r.append(_split3(e + "attn.qkv.bias", (c + "attn.q_bias", c + "attn.k_bias", c + "attn.v_bias")))
            r += _lin(e + "mlp.fc1", c + "mlp.fc1") + _lin(e + "mlp.fc2", c + "mlp.fc2")
            if cfg.layer_scale:
                r.append(_same(e + "ls1.gamma", c + "ls1"))
                r.append(_same(e + "ls2.gamma", c + "ls2"))
    r += _ln(ext + "norm", can + "norm")
    if cfg.embed_dim is not None:
        r += _lin(ext + "head", can + "head", bias=cfg.head_bias)
    return r


def text_rules(cfg: TextConfig, ext: str, can: str = "") -> List[Rule]:
    """Rules for a CLIP text tower (same key names in OpenAI CLIP, open_clip and EVA-CLIP)."""
    r = [_same(ext + "token_embedding.weight", can + "token_embedding.weight"),
         _same(ext + "positional_embedding", can + "pos_embed")]
    r += _openai_blocks(ext, can, cfg.depth)
    r += _ln(ext + "ln_final", can + "ln_final")
    r.append(_transpose(ext + "text_projection", can + "proj.weight"))
    return r


# Keys that real checkpoints carry but that carry no weights we need (recomputed or unused).
IGNORED_PATTERNS = [
    re.compile(r"^(input_resolution|context_length|vocab_size)$"),  # OpenAI .pt metadata
    re.compile(r"(^|\.)rope\.freqs_(cos|sin)$"),  # EVA02 RoPE tables (recomputed for any grid)
    re.compile(r"^mask_token$"),  # DINOv2 iBOT mask token
    re.compile(r"(^|\.)attn_mask$"),  # text causal mask buffer in some exports
]


def clip_rules(preset: Preset, text_prefix: Optional[str] = None) -> List[Rule]:
    """All rules of a CLIP checkpoint (vision under 'visual.', text at the root or under 'text.', logit_scale).

    `text_prefix` defaults to the preset's (OpenAI: '', EVA-CLIP CustomCLIP: 'text.')."""
    assert preset.text is not None
    tp = preset.text.prefix if text_prefix is None else text_prefix
    return (vision_rules(preset.vision, "visual.", "visual.") + text_rules(preset.text, tp, "text.")
            + [_same("logit_scale", "logit_scale")])


def detect_text_prefix(sd: Mapping[str, Tensor], default: str) -> str:
    """'' or 'text.' depending on where the checkpoint keeps its text tower (both layouts exist for EVA-CLIP)."""
    for p in ("", "text."):
        if p + "token_embedding.weight" in sd:
            return p
    return default


def vfm_rules(preset: Preset) -> List[Rule]:
    """All rules of a DINOv2 checkpoint (keys at the root)."""
    return vision_rules(preset.vision, "", "")


def unwrap_state_dict(obj) -> Dict[str, Tensor]:
    """Accepts a state dict, a training checkpoint ({'state_dict': ...}, {'model': ...}), a TorchScript module
    (OpenAI .pt) or an nn.Module; strips 'module.' prefixes."""
    if isinstance(obj, torch.jit.ScriptModule) or isinstance(obj, nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, Mapping):
        for k in ("state_dict", "model", "module"):
            if k in obj and isinstance(obj[k], Mapping):
                obj = obj[k]
                break
    if not isinstance(obj, Mapping):
        raise CheckpointError(
            f"checkpoint: expected a state dict (mapping of name -> tensor), got {type(obj).__name__}")
    out: Dict[str, Tensor] = {}
    for k, v in obj.items():
        k2 = k[len("module."):] if k.startswith("module.") else k
        if isinstance(v, Tensor):
            out[k2] = v
    return out


#: Set to 1 to load checkpoints that hold arbitrary Python objects with full pickle (runs code from the file).
TRUST_ENV = "DECLIP_TRUST_CHECKPOINT"


def torch_has_weights_only() -> bool:
    """True when this torch's torch.load accepts weights_only (torch >= 1.13)."""
    import inspect
    return "weights_only" in inspect.signature(torch.load).parameters


def load_checkpoint_file(path: str, trusted: Optional[bool] = None) -> Dict[str, Tensor]:
    """Load a checkpoint file (state dict / training checkpoint / OpenAI TorchScript archive) on the CPU.

    Checkpoints are data: they are read with ``torch.load(weights_only=True)`` (tensors and plain containers only;
    unpickling cannot run code) where the torch version has it (>= 1.13; Debian's 1.13 does). A file that needs
    more (e.g. a pickled argparse.Namespace) is refused unless ``trusted`` (default: the DECLIP_TRUST_CHECKPOINT=1
    environment variable) is set, which loads it with full pickle. TorchScript archives load with torch.jit.load.
    """
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint: file not found: {path}")
    if trusted is None:
        trusted = os.environ.get(TRUST_ENV, "") == "1"
    safe = torch_has_weights_only()
    try:
        if safe:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        else:
            if not trusted:
                raise CheckpointError(
                    f"checkpoint: torch {torch.__version__} has no torch.load(weights_only=...), so {path} could "
                    f"only be read with full pickle, which can run code; set {TRUST_ENV}=1 if you trust the file")
            obj = torch.load(path, map_location="cpu")
    except CheckpointError:
        raise
    except Exception as e:  # noqa: BLE001 - torch.load raises many types (pickle, zip, runtime)
        try:
            obj = torch.jit.load(path, map_location="cpu")
        except Exception:  # noqa: BLE001
            if safe and trusted:
                try:
                    obj = torch.load(path, map_location="cpu", weights_only=False)
                except Exception as e2:  # noqa: BLE001
                    raise CheckpointError(f"checkpoint: cannot read {path}: {e2}") from e2
                return unwrap_state_dict(obj)
            hint = (f"; it holds more than tensors and plain containers: if you trust the file, set {TRUST_ENV}=1 "
                    "to load it with full pickle (which can run code from it)") if safe and _is_pickle_error(e) else ""
            raise CheckpointError(f"checkpoint: cannot read {path}: {e}{hint}") from e
    return unwrap_state_dict(obj)


def _is_pickle_error(e: Exception) -> bool:
    return "weights_only" in str(e) or "Unsupported" in str(e) or "unpickl" in str(e).lower()


def detect_family(sd: Mapping[str, Tensor]) -> Optional[str]:
    """Guess the checkpoint family from signature keys: 'openai' | 'eva02' | 'dinov2' | 'open_clip-timm' | None."""
    keys = set(sd)
    if "visual.transformer.resblocks.0.attn.in_proj_weight" in keys:
        return "openai"
    if "visual.blocks.0.attn.q_proj.weight" in keys:
        return "eva02"
    if any(k.startswith("visual.trunk.") for k in keys):
        return "open_clip-timm"
    if "blocks.0.attn.qkv.weight" in keys or "blocks.0.0.attn.qkv.weight" in keys:
        return "dinov2"
    return None


def suggest_presets(sd: Mapping[str, Tensor]) -> List[str]:
    """Presets whose family, width, depth, patch size and registers match the checkpoint."""
    fam = detect_family(sd)
    if fam not in ("openai", "eva02", "dinov2"):
        return []
    pre = "" if fam == "dinov2" else "visual."
    conv = sd.get(pre + ("conv1.weight" if fam == "openai" else "patch_embed.proj.weight"))
    blk = re.compile(re.escape(pre) + (r"transformer\.resblocks\.(\d+)\." if fam == "openai" else r"blocks\.(\d+)\."))
    depth = 1 + max((int(m.group(1)) for m in (blk.match(k) for k in sd) if m), default=-1)
    regs = sd.get("register_tokens")
    out = []
    for name in presets_of_family(fam):
        v = PRESETS[name].vision
        if conv is not None and (conv.shape[0] != v.width or conv.shape[-1] != v.patch_size):
            continue
        if depth != v.depth:
            continue
        if fam == "dinov2" and (0 if regs is None else regs.shape[1]) != v.num_registers:
            continue
        out.append(name)
    return out


def _fmt(keys: Sequence[str], limit: int = 12) -> str:
    ks = list(keys)
    more = f" ... and {len(ks) - limit} more" if len(ks) > limit else ""
    return ", ".join(ks[:limit]) + more


def merge_text_tower(visual_sd: Mapping[str, Tensor], text_sd: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    """visual.* weights from `visual_sd` (e.g. a DeCLIP fine-tune) + everything else (text tower, logit_scale) from
    `text_sd` (the base CLIP checkpoint)."""
    v = unwrap_state_dict(visual_sd)
    t = unwrap_state_dict(text_sd)
    out = {k: x for k, x in t.items() if not k.startswith("visual.")}
    out.update({k: x for k, x in v.items() if k.startswith("visual.")})
    return out


def map_to_canonical(sd: Mapping[str, Tensor], rules: Sequence[Rule], expected: Mapping[str, Tensor],
                     preset: Preset, what: str = "checkpoint") -> Dict[str, Tensor]:
    """Translate a checkpoint state dict to canonical keys with strict checking.

    `expected` is the canonical state dict of the model being loaded (for shapes). Raises CheckpointError naming
    missing keys, unexpected keys and shape mismatches, and which preset fits the checkpoint.
    """
    out: Dict[str, Tensor] = {}
    used = set()
    missing: List[str] = []
    mismatched: List[str] = []
    for rule in rules:
        absent = [k for k in rule.ext if k not in sd]
        if absent:
            missing += absent
            continue
        used.update(rule.ext)
        vals = rule.fwd([sd[k] for k in rule.ext])
        for ck, ek_val in zip(rule.can, vals):
            exp = expected.get(ck)
            if exp is None:
                continue
            if tuple(ek_val.shape) != tuple(exp.shape):
                mismatched.append(f"{'+'.join(rule.ext)} -> {ck}: checkpoint {tuple(ek_val.shape)} vs model "
                                  f"{tuple(exp.shape)}")
                continue
            out[ck] = ek_val.to(exp.dtype)
    unexpected = [k for k in sd if k not in used and not any(p.search(k) for p in IGNORED_PATTERNS)]
    not_loaded = [k for k in expected if k not in out and not missing and not mismatched]
    if missing or unexpected or mismatched or not_loaded:
        fam = detect_family(sd)
        fits = suggest_presets(sd)
        hint = (f"the checkpoint looks like family {fam!r}; matching preset(s): {', '.join(fits)}" if fits else
                f"the checkpoint looks like family {fam!r}, no preset matches its shapes" if fam else
                "the checkpoint's keys match no known family (OpenAI CLIP, EVA02-CLIP, DINOv2)")
        if fam == "open_clip-timm":
            hint += " (open_clip timm-trunk checkpoints 'visual.trunk.*' are not supported: use the EVA-CLIP " \
                    "release checkpoint)"
        parts = [f"{what}: does not match preset {preset.name!r} (family {preset.vision.family!r})."]
        if missing:
            parts.append(f"missing keys ({len(missing)}): {_fmt(missing)}.")
        if unexpected:
            parts.append(f"unexpected keys ({len(unexpected)}): {_fmt(unexpected)}.")
        if mismatched:
            parts.append(f"shape mismatches ({len(mismatched)}): {_fmt(mismatched, 6)}.")
        if not_loaded:
            parts.append(f"model parameters without a source: {_fmt(not_loaded)}.")
        parts.append(f"Fix: {hint}; pass it with --backbone / --vfm-backbone.")
        raise CheckpointError(" ".join(parts))
    return out


def to_external(canonical: Mapping[str, Tensor], rules: Sequence[Rule]) -> Dict[str, Tensor]:
    """Inverse mapping: canonical state dict -> checkpoint key names (used by tests and the timm parity script)."""
    out: Dict[str, Tensor] = {}
    for rule in rules:
        vals = [canonical[k] for k in rule.can]
        for ek, v in zip(rule.ext, rule.bwd(vals)):
            out[ek] = v.clone()
    return out


def load_clip_state_dict(model: nn.Module, sd: Mapping[str, Tensor], preset: Preset) -> None:
    """Load a CLIP checkpoint (OpenAI / open_clip / EVA-CLIP / DeCLIP) into a `ClipModel` built from `preset`."""
    sd = unwrap_state_dict(sd)
    expected = model.state_dict()
    assert preset.text is not None
    rules = clip_rules(preset, detect_text_prefix(sd, preset.text.prefix))
    can = map_to_canonical(sd, rules, expected, preset, "checkpoint")
    model.load_state_dict(can, strict=True)


def load_vfm_state_dict(model: nn.Module, sd: Mapping[str, Tensor], preset: Preset) -> None:
    """Load a DINOv2 checkpoint into a `VisionTransformer` built from `preset` (block chunks are flattened)."""
    sd = {re.sub(r"^blocks\.\d+\.(\d+)\.", r"blocks.\1.", k): v for k, v in unwrap_state_dict(sd).items()}
    expected = model.state_dict()
    can = map_to_canonical(sd, vfm_rules(preset), expected, preset, "vfm checkpoint")
    model.load_state_dict(can, strict=True)


def clip_to_external(model: nn.Module, preset: Preset) -> Dict[str, Tensor]:
    """State dict of a `ClipModel` under the real checkpoint key names of its preset's family."""
    return to_external(model.state_dict(), clip_rules(preset))


def vfm_to_external(model: nn.Module, preset: Preset) -> Dict[str, Tensor]:
    """State dict of a VFM `VisionTransformer` under DINOv2 key names."""
    return to_external(model.state_dict(), vfm_rules(preset))
