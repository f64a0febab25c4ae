"""Model configurations and presets (OpenAI CLIP, EVA02-CLIP, DINOv2-with-registers, tiny test variants)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .errors import ConfigError

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

ARCHITECTURES = ("declip-csa", "declip-qq", "clip-vanilla", "proxyclip")


@dataclass(frozen=True)
class VisionConfig:
    """A ViT image tower. `family` selects the checkpoint key map: 'openai' | 'eva02' | 'dinov2'."""

    family: str
    width: int
    depth: int
    heads: int
    patch_size: int
    image_size: int
    mlp_hidden: int
    mlp: str = "quick_gelu"  # 'quick_gelu' | 'gelu' | 'swiglu'
    embed_dim: Optional[int] = None  # head output dim; None = no head (DINOv2)
    head_bias: bool = False
    patch_bias: bool = False
    ln_pre: bool = False
    k_bias: bool = True  # EVA02 has q/v bias only
    inner_ln: bool = False  # EVA02 sub-LN inside attention (inner_attn_ln)
    ffn_ln: bool = False  # EVA02 sub-LN inside SwiGLU (ffn_ln)
    layer_scale: bool = False  # DINOv2 ls1/ls2
    num_registers: int = 0
    rope: bool = False  # EVA02 2-D RoPE on patch tokens
    rope_ref_grid: int = 16  # EVA02 pt_hw_seq_len
    rope_theta: float = 10000.0
    ln_eps: float = 1e-5
    pos_antialias: bool = False  # antialias when resampling the position embedding (DINOv2-reg)
    mean: Tuple[float, float, float] = OPENAI_CLIP_MEAN
    std: Tuple[float, float, float] = OPENAI_CLIP_STD

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size

    @property
    def head_dim(self) -> int:
        return self.width // self.heads

    @property
    def out_dim(self) -> int:
        return self.embed_dim if self.embed_dim is not None else self.width


@dataclass(frozen=True)
class TextConfig:
    """A CLIP text tower (causal transformer, EOT pooling = argmax token id, projection)."""

    width: int
    depth: int
    heads: int
    embed_dim: int
    vocab_size: int = 49408
    context_length: int = 77
    mlp: str = "quick_gelu"
    ln_eps: float = 1e-5
    prefix: str = ""  # key prefix of the text tower in the checkpoint ('' for OpenAI, 'text.' for EVA-CLIP CustomCLIP)


@dataclass(frozen=True)
class Preset:
    """A named backbone: vision tower plus (for CLIP models) a text tower."""

    name: str
    vision: VisionConfig
    text: Optional[TextConfig] = None
    description: str = ""
    aliases: Tuple[str, ...] = field(default_factory=tuple)


def _openai(name: str, width: int, depth: int, heads: int, patch: int, size: int, embed: int, tw: int, th: int,
            desc: str) -> Preset:
    return Preset(
        name=name,
        vision=VisionConfig(family="openai", width=width, depth=depth, heads=heads, patch_size=patch, image_size=size,
                            mlp_hidden=4 * width, mlp="quick_gelu", embed_dim=embed, ln_pre=True),
        text=TextConfig(width=tw, depth=12, heads=th, embed_dim=embed, mlp="quick_gelu"),
        description=desc,
    )


def _eva02(name: str, width: int, depth: int, heads: int, patch: int, size: int, embed: int, tw: int, th: int,
           desc: str) -> Preset:
    return Preset(
        name=name,
        vision=VisionConfig(family="eva02", width=width, depth=depth, heads=heads, patch_size=patch, image_size=size,
                            mlp_hidden=int(width * 2.6667), mlp="swiglu", embed_dim=embed, head_bias=True,
                            patch_bias=True, k_bias=False, inner_ln=True, ffn_ln=True, rope=True, rope_ref_grid=16,
                            ln_eps=1e-6),
        text=TextConfig(width=tw, depth=12, heads=th, embed_dim=embed, mlp="gelu", prefix="text."),
        description=desc,
    )


def _dinov2(name: str, width: int, depth: int, heads: int, desc: str) -> Preset:
    return Preset(
        name=name,
        vision=VisionConfig(family="dinov2", width=width, depth=depth, heads=heads, patch_size=14, image_size=518,
                            mlp_hidden=4 * width, mlp="gelu", embed_dim=None, patch_bias=True, layer_scale=True,
                            num_registers=4, ln_eps=1e-6, pos_antialias=True, mean=IMAGENET_MEAN, std=IMAGENET_STD),
        description=desc,
    )


PRESETS: Dict[str, Preset] = {}


def _register(p: Preset) -> None:
    PRESETS[p.name] = p


_register(_openai("openai-vit-b-16", 768, 12, 12, 16, 224, 512, 512, 8, "OpenAI CLIP ViT-B/16"))
_register(_openai("openai-vit-l-14", 1024, 24, 16, 14, 224, 768, 768, 12, "OpenAI CLIP ViT-L/14"))
_register(_openai("openai-vit-l-14-336", 1024, 24, 16, 14, 336, 768, 768, 12, "OpenAI CLIP ViT-L/14@336px"))
_register(_eva02("eva02-clip-b-16", 768, 12, 12, 16, 224, 512, 512, 8, "EVA02-CLIP-B/16 (DeCLIP backbone)"))
_register(_eva02("eva02-clip-l-14-336", 1024, 24, 16, 14, 336, 768, 768, 12,
                 "EVA02-CLIP-L/14@336 (DeCLIP backbone)"))
_register(_dinov2("dinov2-vit-b-14-reg", 768, 12, 12, "DINOv2 ViT-B/14 with 4 registers (VFM)"))
_register(_dinov2("dinov2-vit-l-14-reg", 1024, 24, 16, "DINOv2 ViT-L/14 with 4 registers (VFM)"))

# Tiny variants for tests: same structure and key names, small widths. The text vocab keeps 49408 so that the
# CLIP BPE tokenizer ids (sot 49406, eot 49407) stay valid.
_register(Preset(
    name="tiny",
    vision=dataclasses.replace(PRESETS["openai-vit-b-16"].vision, width=32, depth=2, heads=2, image_size=64,
                               mlp_hidden=64, embed_dim=24),
    text=dataclasses.replace(PRESETS["openai-vit-b-16"].text, width=32, depth=2, heads=2, embed_dim=24),
    description="tiny OpenAI-CLIP-style model for tests",
))
_register(Preset(
    name="tiny-eva02",
    vision=dataclasses.replace(PRESETS["eva02-clip-b-16"].vision, width=32, depth=2, heads=2, image_size=64,
                               mlp_hidden=48, embed_dim=24),
    text=dataclasses.replace(PRESETS["eva02-clip-b-16"].text, width=32, depth=2, heads=2, embed_dim=24),
    description="tiny EVA02-CLIP-style model for tests",
))
_register(Preset(
    name="tiny-dinov2-reg",
    vision=dataclasses.replace(PRESETS["dinov2-vit-b-14-reg"].vision, width=32, depth=2, heads=2, image_size=70,
                               mlp_hidden=64),
    description="tiny DINOv2-with-registers-style VFM for tests",
))

# The embedded default model (models/tiny-synth): a small OpenAI-CLIP-style dual encoder trained from scratch on the
# synthetic world by declip_torch.bootstrap, with a word-level text tower (vocab <= 64 words, context 16).
_register(Preset(
    name="synth-vit-s16",
    vision=VisionConfig(family="openai", width=192, depth=4, heads=3, patch_size=16, image_size=96, mlp_hidden=768,
                        mlp="quick_gelu", embed_dim=128, ln_pre=True),
    text=TextConfig(width=128, depth=3, heads=2, embed_dim=128, vocab_size=64, context_length=16, mlp="quick_gelu"),
    description="small ViT-S/16-like CLIP for the synthetic world (models/tiny-synth), word tokenizer",
))


def get_preset(name: str) -> Preset:
    """Return the preset called `name`; raises ConfigError listing the known presets."""
    if name not in PRESETS:
        raise ConfigError(f"backbone: unknown preset {name!r}; pick one of {', '.join(sorted(PRESETS))}")
    return PRESETS[name]


def presets_of_family(family: str) -> List[str]:
    """Names of presets whose vision tower belongs to `family`."""
    return [n for n, p in PRESETS.items() if p.vision.family == family]


def check_architecture(arch: str) -> str:
    """Validate an architecture name; raises ConfigError naming the valid ones."""
    if arch not in ARCHITECTURES:
        raise ConfigError(f"arch: unknown architecture {arch!r}; pick one of {', '.join(ARCHITECTURES)}")
    return arch
