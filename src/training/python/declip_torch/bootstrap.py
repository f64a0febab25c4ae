"""Synthetic "CLIP pretraining" (the bootstrap) of the embedded default model.

No pretrained CLIP weights exist on the machines this project targets, so the default model's dual encoder is
trained here, from scratch, contrastively on crops of the synthetic world (src/training/synthData.ts):

  * object crops (70 %): the visible box of an object, enlarged 1.15-2x and jittered, with one of its procedural
    captions ("a red mug", "a striped blue can", "a yellow bottle with a white label", "a laptop", ...);
  * background crops (15 %): table / floor / wall patches without objects ("a table", "the floor", "background");
  * scene crops (15 %): large crops with their two largest objects ("a red mug and a blue can on a table").

Captions are a *set* per image (every caption of the object, plus "COLOUR CATEGORY"), so "a mug" is a positive for
every mug in the batch: the InfoNCE targets are the normalised image x caption membership matrix. A second term
contrasts every image with a fixed caption bank (all non-held-out "a COLOUR CATEGORY", "a CATEGORY" and the
background captions), and auxiliary linear colour / class heads on the image embedding (training only, not
exported) use the labels the synthetic world provides; together they give a batch of 64 the negatives a large CLIP batch would have; without it the
in-batch loss barely moves in a CPU-sized budget (300 steps: colour top-1 0.16 vs 1/12 chance).
Colour x category pairs held out by the dataset (dataset.json held_out_pairs) never occur in training; the
zero-shot evaluation reports them apart.

    python -m declip_torch.bootstrap --data runs/tiny-synth/data --out runs/tiny-synth/bootstrap --steps 1500

Writes OUT/bootstrap.pt (OpenAI-CLIP key names, loadable by the exporter and the DeCLIP trainer with
--backbone synth-vit-s16), OUT/vocab.txt, OUT/metrics.jsonl (one line per step) and OUT/summary.json.
Progress: one JSON object per line on stdout (events start, step, eval, done); logs on stderr.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Sequence, Set, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import __version__
from .config import Preset, get_preset
from .errors import ConfigError, DeclipError
from .export import git_commit
from .heads import ClipModel, build_clip
from .keymap import clip_to_external

SPECIALS_HEAD = ["<pad>", "<unk>"]
SPECIALS_TAIL = ["<|startoftext|>", "<|endoftext|>"]
BACKGROUND_CAPTIONS = {
    "table": ["a table", "the table", "table"],
    "floor": ["the floor", "a floor", "floor"],
    "wall": ["a wall", "the wall", "wall"],
}
GENERIC_BACKGROUND = ["background", "a background"]


class BootstrapError(DeclipError):
    code = "bootstrap"


# ----------------------------------------------------------------------------------------------------------------
# vocabulary


class WordVocab:
    """The exporter's word-tokenizer layout: [<pad>, <unk>, words..., <|startoftext|>, <|endoftext|>]; lower-case,
    split on non-alphanumerics (as src/perception/tokenizer.ts WordTokenizer)."""

    def __init__(self, words: Sequence[str], context_length: int):
        ws = [w.strip().lower() for w in words if w.strip()]
        ws = [w for w in dict.fromkeys(ws) if w not in SPECIALS_HEAD + SPECIALS_TAIL]
        self.tokens = SPECIALS_HEAD + ws + SPECIALS_TAIL
        self.index = {w: i for i, w in enumerate(self.tokens)}
        self.sot = len(self.tokens) - 2
        self.eot = len(self.tokens) - 1
        self.context_length = context_length

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> List[int]:
        import re

        return [self.index.get(w, 1) for w in re.split(r"[^0-9a-z]+", text.lower()) if w]

    def tokenize(self, texts: Sequence[str]) -> Tensor:
        out = torch.zeros(len(texts), self.context_length, dtype=torch.long)
        for i, t in enumerate(texts):
            ids = [self.sot] + self.encode(t)[: self.context_length - 2] + [self.eot]
            out[i, : len(ids)] = torch.tensor(ids)
        return out


# ----------------------------------------------------------------------------------------------------------------
# data


@dataclass
class Obj:
    frame: int
    instance_id: int
    category: str
    colour: str
    bbox: Tuple[int, int, int, int]
    px: int
    captions: List[str]
    held_out: bool


class SynthDataset:
    """A split of a synthData.ts dataset directory: frames (memory-mapped rgb8 and label maps) and objects."""

    def __init__(self, directory: str, split: str):
        head = os.path.join(directory, "dataset.json")
        if not os.path.isfile(head):
            raise BootstrapError(f"data: {head} not found; write the dataset first "
                                 f"(node dist/training/synthDataCli.js --out {directory})")
        with open(head, encoding="utf-8") as f:
            self.meta = json.load(f)
        if split not in self.meta["splits"]:
            raise BootstrapError(f"data: split {split!r} not in {head} (splits: {', '.join(self.meta['splits'])})")
        sp = self.meta["splits"][split]
        self.width, self.height, self.n = int(sp["width"]), int(sp["height"]), int(sp["frames"])
        if self.n == 0:
            raise BootstrapError(f"data: split {split!r} of {directory} has no frames")
        self.rgb = np.memmap(os.path.join(directory, f"{split}_rgb.u8"), np.uint8, "r",
                             shape=(self.n, self.height, self.width, 3))
        self.labels = np.memmap(os.path.join(directory, f"{split}_labels.u8"), np.uint8, "r",
                                shape=(self.n, self.height, self.width))
        self.frames: List[dict] = []
        with open(os.path.join(directory, f"{split}.jsonl"), encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    self.frames.append(json.loads(line))
        self.objects: List[Obj] = []
        for fr in self.frames:
            for o in fr["objects"]:
                self.objects.append(Obj(fr["index"], o["instance_id"], o["category"], o["colour"], tuple(o["bbox"]),
                                        o["px_count"], list(o["captions"]), bool(o["held_out"])))
        lab = self.meta["labels"]
        self.stuff = {int(lab["table"]): "table", int(lab["floor"]): "floor", int(lab["wall"]): "wall"}
        self.held_out = {(c, k) for c, k in self.meta["held_out_pairs"]}


def object_caption_set(o: Obj) -> List[str]:
    art = "an" if o.colour[0] in "aeiou" else "a"
    extra = [f"{art} {o.colour} {o.category}", f"{o.colour} {o.category}"]
    return list(dict.fromkeys(o.captions + extra))


def _crop_grid(boxes: np.ndarray, src_hw: Tuple[int, int], size: int, flip: np.ndarray) -> Tensor:
    """affine_grid for square crops: boxes [B, 4] (cx, cy, side, side) in pixels -> grid [B, size, size, 2]."""
    h, w = src_hw
    b = boxes.shape[0]
    theta = torch.zeros(b, 2, 3)
    cx, cy, sw, sh = (torch.from_numpy(boxes[:, i]).float() for i in range(4))
    sx = sw / w
    theta[:, 0, 0] = torch.where(torch.from_numpy(flip), -sx, sx)
    theta[:, 0, 2] = (2 * cx / w) - 1
    theta[:, 1, 1] = sh / h
    theta[:, 1, 2] = (2 * cy / h) - 1
    return F.affine_grid(theta, [b, 3, size, size], align_corners=False)


class CropSampler:
    """Draws contrastive batches (images, caption texts, caption-membership targets) from a SynthDataset."""

    def __init__(self, ds: SynthDataset, size: int, mean, std, object_frac: float = 0.7, background_frac: float = 0.15):
        self.ds = ds
        self.size = size
        self.mean = torch.tensor(mean).reshape(1, 3, 1, 1)
        self.std = torch.tensor(std).reshape(1, 3, 1, 1)
        self.object_frac = object_frac
        self.background_frac = background_frac
        self.objs = [o for o in ds.objects if o.bbox[2] >= 6 and o.bbox[3] >= 6]
        if not self.objs:
            raise BootstrapError("data: no visible objects in the training split")

    def _object(self, rng: random.Random) -> Tuple[int, Tuple[float, float, float], List[str]]:
        o = rng.choice(self.objs)
        x, y, w, h = o.bbox
        side = max(w, h) * rng.uniform(1.15, 2.0)
        cx = x + w / 2 + rng.uniform(-0.12, 0.12) * side
        cy = y + h / 2 + rng.uniform(-0.12, 0.12) * side
        return o.frame, (cx, cy, side), object_caption_set(o)

    def _background(self, rng: random.Random) -> Optional[Tuple[int, Tuple[float, float, float], List[str]]]:
        ds = self.ds
        for _ in range(12):
            f = rng.randrange(ds.n)
            side = rng.uniform(32, 0.6 * ds.height)
            cx = rng.uniform(side / 2, ds.width - side / 2)
            cy = rng.uniform(side / 2, ds.height - side / 2)
            lab = np.asarray(ds.labels[f, int(cy - side / 2):int(cy + side / 2), int(cx - side / 2):int(cx + side / 2)])
            if lab.size == 0:
                continue
            counts = np.bincount(lab.reshape(-1), minlength=256)
            obj = counts[1:200].sum() / lab.size
            if obj > 0.03:
                continue
            best = max(ds.stuff, key=lambda k: counts[k])
            if counts[best] / lab.size < 0.7:
                continue
            return f, (cx, cy, side), BACKGROUND_CAPTIONS[ds.stuff[best]] + GENERIC_BACKGROUND
        return None

    def _scene(self, rng: random.Random) -> Optional[Tuple[int, Tuple[float, float, float], List[str]]]:
        ds = self.ds
        f = rng.randrange(ds.n)
        side = rng.uniform(0.55, 1.0) * ds.height
        cx = rng.uniform(side / 2, ds.width - side / 2)
        cy = rng.uniform(side / 2, ds.height - side / 2)
        lab = np.asarray(ds.labels[f, int(cy - side / 2):int(cy + side / 2), int(cx - side / 2):int(cx + side / 2)])
        counts = np.bincount(lab.reshape(-1), minlength=256)
        objs = {o["instance_id"]: o for o in ds.frames[f]["objects"]}
        inside = sorted(((counts[i], i) for i in objs if i < 200 and counts[i] >= 60), reverse=True)[:2]
        if not inside:
            return None
        names = [f"{objs[i]['colour']} {objs[i]['category']}" for _, i in inside]
        parts = [("an " if n[0] in "aeiou" else "a ") + n for n in names]
        return f, (cx, cy, side), [" and ".join(parts) + " on a table"]

    def _crop(self, frame: int, c: Tuple[float, float, float], flip: bool) -> Tensor:
        """One square crop (centre c[0], c[1], side c[2]) resampled to size x size, in [0, 1], [1, 3, S, S].

        Only the frame window under the crop (plus 2 px for the bilinear support) is converted to float, so a
        batch costs its crops, not its frames; the window is clamped to the frame, where "border" padding then
        repeats the frame's edge pixels exactly as a crop of the whole frame would."""
        h, w = self.ds.height, self.ds.width
        cx, cy, side = c
        x0, x1 = max(0, int(math.floor(cx - side / 2)) - 2), min(w, int(math.ceil(cx + side / 2)) + 2)
        y0, y1 = max(0, int(math.floor(cy - side / 2)) - 2), min(h, int(math.ceil(cy + side / 2)) + 2)
        if x1 - x0 < 2 or y1 - y0 < 2:  # a crop entirely off the frame: sample the whole frame's border
            x0, x1, y0, y1 = 0, w, 0, h
        win = torch.from_numpy(np.array(self.ds.rgb[frame, y0:y1, x0:x1])).permute(2, 0, 1)[None]
        grid = _crop_grid(np.array([[cx - x0, cy - y0, side, side]]), (y1 - y0, x1 - x0), self.size,
                          np.array([flip]))
        return F.grid_sample(win.float() / 255.0, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def batch(self, n: int, rng: random.Random) -> Tuple[Tensor, List[str], Tensor, List[str]]:
        """images [n, 3, S, S] (normalised), texts [n], targets [n, n] (row i: texts valid for image i), kinds."""
        items, kinds = [], []
        while len(items) < n:
            r = rng.random()
            it, kind = None, "object"
            if r < self.background_frac:
                it, kind = self._background(rng), "background"
            elif r < self.background_frac + (1 - self.object_frac - self.background_frac):
                it, kind = self._scene(rng), "scene"
            if it is None:
                it, kind = self._object(rng), "object"
            items.append(it)
            kinds.append(kind)
        flip = np.array([rng.random() < 0.5 for _ in items])
        img = torch.cat([self._crop(f, c, bool(fl)) for (f, c, _), fl in zip(items, flip)])
        bright = torch.tensor([rng.uniform(0.85, 1.15) for _ in items]).reshape(-1, 1, 1, 1)
        img = (img * bright).clamp(0, 1)
        img = (img - self.mean) / self.std
        texts = [rng.choice(caps) for _, _, caps in items]
        sets = [set(caps) for _, _, caps in items]
        self.last_sets = sets
        tgt =  torch.tensor([[1.0 if t in s else 0.0 for t in texts] for s in sets])
        return img, texts, tgt, kinds


# ----------------------------------------------------------------------------------------------------------------
# model


def init_clip_weights(m: ClipModel, seed: int) -> None:
    """Fan-in init for every weight matrix (normal(0, 1/sqrt(fan_in))), zero biases, unit LayerNorms, small position /
    token embeddings, zero class token.

    The usual ViT init (normal(0, 0.02)) leaves the class token's output nearly independent of the image at the
    start (the attention / MLP branches are ~0.1 of the residual), so both towers' embeddings are almost constant
    and a small-batch contrastive loss barely moves in a few hundred steps; fan-in scaling makes the branches O(1).
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name == "logit_scale":
                p.fill_(math.log(1 / 0.07))
            elif "pos_embed" in name or "token_embedding" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
            elif name.endswith("cls_token"):
                p.zero_()
            elif p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=g) / p[0].numel() ** 0.5)
            else:
                p.zero_()
        for mod in m.modules():
            if isinstance(mod, nn.LayerNorm):
                mod.weight.fill_(1.0)
                mod.bias.zero_()


def contrastive_loss(img: Tensor, txt: Tensor, logit_scale: Tensor, target: Tensor) -> Tensor:
    """Symmetric InfoNCE with multi-positive targets (rows / columns of `target` normalised)."""
    logits = logit_scale.exp().clamp(max=100.0) * img @ txt.t()
    ti = target / target.sum(1, keepdim=True)
    tt = target.t() / target.t().sum(1, keepdim=True)
    li = -(ti * F.log_softmax(logits, dim=1)).sum(1).mean()
    lt = -(tt * F.log_softmax(logits.t(), dim=1)).sum(1).mean()
    return 0.5 * (li + lt)


def caption_bank(ds: SynthDataset) -> List[str]:
    """The fixed caption bank: every "a COLOUR CATEGORY" except the held-out pairs, every "a CATEGORY", and the
    background captions. Held-out pair captions are never in it (not even as negatives)."""
    bank = []
    for c in ds.meta["colours"]:
        for k in ds.meta["categories"]:
            if (c, k) not in ds.held_out:
                bank.append(("an " if c[0] in "aeiou" else "a ") + f"{c} {k}")
    bank += [("an " if k[0] in "aeiou" else "a ") + k for k in ds.meta["categories"]]
    bank += ["a table", "the floor", "a wall", "background"]
    return bank


STUFF_CLASSES = [("table", "a table"), ("floor", "the floor"), ("wall", "a wall")]


def attribute_labels(sets: Sequence[Set[str]], colours: Sequence[str], categories: Sequence[str]
                     ) -> Tuple[Tensor, Tensor]:
    """Per image: colour index (-1 = none) and class index (categories, then table / floor / wall; -1 = none, e.g.
    scene crops), read off its caption set."""
    col, cls = [], []
    for st in sets:
        c, k = -1, -1
        for j, cat in enumerate(categories):
            if f"a {cat}" in st or f"an {cat}" in st:
                k = j
                c = next((i for i, cc in enumerate(colours) if f"{cc} {cat}" in st), -1)
                break
        if k < 0:
            for j, (_, cap) in enumerate(STUFF_CLASSES):
                if cap in st:
                    k = len(categories) + j
                    break
        col.append(c)
        cls.append(k)
    return torch.tensor(col), torch.tensor(cls)


def bank_loss(img: Tensor, bank_emb: Tensor, logit_scale: Tensor, sets: Sequence[Set[str]], bank: Sequence[str]
              ) -> Optional[Tensor]:
    """Image -> caption-bank cross-entropy (soft targets: the bank captions in each image's caption set; images
    without any, e.g. scene crops, are skipped). Gives every image all bank captions as negatives every step."""
    tgt = torch.tensor([[1.0 if b in st else 0.0 for b in bank] for st in sets], device=img.device)
    keep = tgt.sum(1) > 0
    if not bool(keep.any()):
        return None
    logits = logit_scale.exp().clamp(max=100.0) * img[keep] @ bank_emb.t()
    t = tgt[keep] / tgt[keep].sum(1, keepdim=True)
    return -(t * F.log_softmax(logits, dim=1)).sum(1).mean()


# ----------------------------------------------------------------------------------------------------------------
# zero-shot evaluation


@torch.no_grad()
def zero_shot_eval(model: ClipModel, vocab: WordVocab, ds: SynthDataset, size: int, mean, std,
                   device: torch.device, max_objects: int = 400) -> Dict[str, object]:
    """Object-crop classification among all colour x category prompts ("a COLOUR CATEGORY"), on `ds` (eval split,
    frames resized to the training frame height first, as the runtime does). Reports pair / colour / category top-1
    for seen and held-out pairs."""
    colours, cats = ds.meta["colours"], ds.meta["categories"]
    pairs = [(c, k) for c in colours for k in cats]
    prompts = [("an " if c[0] in "aeiou" else "a ") + f"{c} {k}" for c, k in pairs]
    t = F.normalize(model.text(vocab.tokenize(prompts).to(device)), dim=-1)
    scale = 240.0 / ds.height
    res: Dict[str, List[int]] = {"seen_pair": [], "seen_colour": [], "seen_category": [], "held_pair": [],
                                 "held_colour": [], "held_category": []}
    objs = [o for o in ds.objects][:max_objects]
    by_frame: Dict[int, List[Obj]] = {}
    for o in objs:
        by_frame.setdefault(o.frame, []).append(o)
    m = torch.tensor(mean).reshape(1, 3, 1, 1)
    s = torch.tensor(std).reshape(1, 3, 1, 1)
    for f, os_ in by_frame.items():
        img = torch.from_numpy(np.array(ds.rgb[f])).permute(2, 0, 1)[None].float() / 255.0
        hh, ww = round(ds.height * scale), round(ds.width * scale)
        img = F.interpolate(img, size=(hh, ww), mode="bilinear", align_corners=False, antialias=True)
        boxes = np.array([[(o.bbox[0] + o.bbox[2] / 2) * scale, (o.bbox[1] + o.bbox[3] / 2) * scale,
                           max(o.bbox[2], o.bbox[3]) * scale * 1.4, max(o.bbox[2], o.bbox[3]) * scale * 1.4]
                          for o in os_])
        grid = _crop_grid(boxes, (hh, ww), size, np.zeros(len(os_), dtype=bool))
        crops = F.grid_sample(img.expand(len(os_), -1, -1, -1), grid, mode="bilinear", padding_mode="border",
                              align_corners=False)
        e = F.normalize(model.visual.encode_image(((crops - m) / s).to(device)), dim=-1)
        pred = (e @ t.t()).argmax(1).tolist()
        for o, p in zip(os_, pred):
            pc, pk = pairs[p]
            key = "held" if o.held_out else "seen"
            res[f"{key}_pair"].append(int(pc == o.colour and pk == o.category))
            res[f"{key}_colour"].append(int(pc == o.colour))
            res[f"{key}_category"].append(int(pk == o.category))
    out: Dict[str, object] = {k: (float(np.mean(v)) if v else None) for k, v in res.items()}
    out["seen_objects"] = len(res["seen_pair"])
    out["held_objects"] = len(res["held_pair"])
    out["classes"] = len(pairs)
    return out


# ----------------------------------------------------------------------------------------------------------------
# training


@dataclass
class BootstrapConfig:
    data: str
    out: str
    backbone: str = "synth-vit-s16"
    steps: int = 1500
    batch_size: int = 64
    size: Optional[int] = None  # crop size (default: the preset's image size)
    lr: float = 5e-4
    text_lr: Optional[float] = None
    weight_decay: float = 0.05
    warmup_steps: int = 20
    seed: int = 0
    device: str = "cpu"
    threads: int = 2
    fast_cpu_linear: bool = True
    eval_every: int = 0
    log_every: int = 10
    bank_weight: float = 1.0  # weight of the caption-bank term (0 = plain in-batch InfoNCE)
    attribute_weight: float = 1.0  # weight of the auxiliary colour / class heads on the image embedding (0 = off)


def emit(event: str, **fields) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def log(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def build_vocab(ds: SynthDataset, directory: str, preset: Preset) -> WordVocab:
    assert preset.text is not None
    vf = os.path.join(directory, ds.meta.get("vocab_file", "vocab.txt"))
    if not os.path.isfile(vf):
        raise BootstrapError(f"data: vocabulary {vf} not found")
    with open(vf, encoding="utf-8") as f:
        words = [w.strip() for w in f if w.strip()]
    vocab = WordVocab(words, preset.text.context_length)
    if len(vocab) > preset.text.vocab_size:
        raise BootstrapError(f"data: vocabulary has {len(vocab)} tokens, the {preset.name} text tower "
                             f"{preset.text.vocab_size}; use a larger preset")
    return vocab


def encode_captions(model: ClipModel, vocab: WordVocab, texts: Sequence[str], bank: Sequence[str],
                    device: torch.device) -> Tuple[Tensor, Tensor]:
    """L2-normalised text embeddings of the batch captions and of the caption bank, [len(texts), D] and
    [len(bank), D], from one text-tower pass over the distinct captions, cut to the longest one's tokens.

    The same result as encoding both lists in full: rows do not interact, the causal mask keeps every token before
    EOT blind to the padding after it, and pooling reads the EOT token; a batch of 64 draws from a few dozen
    distinct captions, and the 16-token context is mostly padding, so this is about a third of the work."""
    uniq = list(dict.fromkeys(list(texts) + list(bank)))
    pos = {t: i for i, t in enumerate(uniq)}
    ids = vocab.tokenize(uniq)
    ids = ids[:, :int((ids != 0).sum(1).max())]
    emb = F.normalize(model.text(ids.to(device)), dim=-1)
    return emb[[pos[t] for t in texts]], emb[[pos[b] for b in bank]]


def lr_factor(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


def train_bootstrap(cfg: BootstrapConfig) -> Dict[str, object]:
    t0 = time.time()
    c0 = time.process_time()
    torch.set_num_threads(cfg.threads)
    device = torch.device(cfg.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device: {cfg.device} requested but torch {torch.__version__} sees no CUDA device; "
                          f"pass --device cpu")
    fast = False
    if cfg.fast_cpu_linear and device.type == "cpu":
        from . import bootstrap_fastcpu

        fast = bootstrap_fastcpu.install()
    preset = get_preset(cfg.backbone)
    if preset.text is None:
        raise ConfigError(f"backbone: {cfg.backbone!r} has no text tower")
    size = cfg.size or preset.vision.image_size
    if size % preset.vision.patch_size:
        raise ConfigError(f"size: {size} is not a multiple of the patch size {preset.vision.patch_size}")
    ds = SynthDataset(cfg.data, "train")
    ev_ds = SynthDataset(cfg.data, "eval") if "eval" in ds.meta["splits"] and ds.meta["splits"]["eval"]["frames"] \
        else None
    vocab = build_vocab(ds, cfg.data, preset)
    os.makedirs(cfg.out, exist_ok=True)
    with open(os.path.join(cfg.out, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab.tokens[2:-2]) + "\n")
    torch.manual_seed(cfg.seed)
    rng = random.Random(f"bootstrap:{cfg.seed}")
    model = build_clip(preset)
    init_clip_weights(model, cfg.seed)
    model.to(device).train()
    colours, cats = ds.meta["colours"], ds.meta["categories"]
    aux = nn.Linear(preset.vision.out_dim, len(colours) + len(cats) + len(STUFF_CLASSES)).to(device)
    decay, no_decay = [], list(aux.parameters())
    for n, p in model.named_parameters():
        (decay if p.dim() >= 2 and "pos_embed" not in n and "token_embedding" not in n else no_decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6)
    sampler = CropSampler(ds, size, preset.vision.mean, preset.vision.std)
    bank = caption_bank(ds)
    emit("start", steps=cfg.steps, batch_size=cfg.batch_size, size=size, backbone=preset.name, device=str(device),
         frames=ds.n, objects=len(ds.objects), vocab=len(vocab), fast_cpu_linear=fast,
         params=sum(p.numel() for p in model.parameters()), torch=torch.__version__)
    log(f"bootstrap: {preset.name} on {ds.n} frames / {len(ds.objects)} objects, {cfg.steps} steps of "
        f"{cfg.batch_size} crops at {size}px, device {device}{', conv-backed linear' if fast else ''}")
    metrics = open(os.path.join(cfg.out, "metrics.jsonl"), "w", encoding="utf-8")
    hist: List[float] = []
    first_loss = None
    t_last = time.time()
    for step in range(cfg.steps):
        f = lr_factor(step, cfg.steps, cfg.warmup_steps)
        for g in opt.param_groups:
            g["lr"] = cfg.lr * f
        img, texts, tgt, kinds = sampler.batch(cfg.batch_size, rng)
        ie = F.normalize(model.visual.encode_image(img.to(device)), dim=-1)
        te, be = encode_captions(model, vocab, texts, bank if cfg.bank_weight > 0 else [], device)
        loss = contrastive_loss(ie, te, model.logit_scale, tgt.to(device))
        if cfg.bank_weight > 0:
            lb = bank_loss(ie, be, model.logit_scale, sampler.last_sets, bank)
            if lb is not None:
                loss = loss + cfg.bank_weight * lb
        if cfg.attribute_weight > 0:
            cl, kl = attribute_labels(sampler.last_sets, colours, cats)
            logits = aux(ie * 10.0)
            la = torch.zeros((), device=device)
            if bool((cl >= 0).any()):
                la = la + F.cross_entropy(logits[:, :len(colours)][cl >= 0], cl[cl >= 0].to(device))
            if bool((kl >= 0).any()):
                la = la + F.cross_entropy(logits[:, len(colours):][kl >= 0], kl[kl >= 0].to(device))
            loss = loss + cfg.attribute_weight * la
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = float(torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0))
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100.0))
        lv = float(loss.detach())
        if not math.isfinite(lv):
            raise BootstrapError(f"loss became {lv} at step {step + 1}; lower --lr")
        first_loss = lv if first_loss is None else first_loss
        hist.append(lv)
        rec = {"step": step + 1, "loss": lv, "lr": cfg.lr * f, "grad_norm": gn,
               "logit_scale": float(model.logit_scale.exp())}
        metrics.write(json.dumps(rec) + "\n")
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            now = time.time()
            its = cfg.log_every / max(1e-9, now - t_last)
            t_last = now
            avg = float(np.mean(hist[-cfg.log_every:]))
            emit("step", step=step + 1, steps=cfg.steps, loss=avg, lr=cfg.lr * f, its=its,
                 eta_s=(cfg.steps - step - 1) / its if its > 0 else None)
            log(f"bootstrap: step {step + 1}/{cfg.steps} loss {avg:.3f} scale {rec['logit_scale']:.1f} "
                f"{its:.2f} it/s")
        if cfg.eval_every and ev_ds is not None and (step + 1) % cfg.eval_every == 0 and step + 1 < cfg.steps:
            model.eval()
            zs = zero_shot_eval(model, vocab, ev_ds, size, preset.vision.mean, preset.vision.std, device)
            model.train()
            emit("eval", step=step + 1, **zs)
            log(f"bootstrap: eval step {step + 1}: {json.dumps(zs)}")
    metrics.close()
    model.eval()
    zs = zero_shot_eval(model, vocab, ev_ds, size, preset.vision.mean, preset.vision.std, device) if ev_ds else None
    if zs:
        emit("eval", step=cfg.steps, **zs)
        log(f"bootstrap: zero-shot eval: {json.dumps(zs)}")
    ckpt = os.path.join(cfg.out, "bootstrap.pt")
    model.cpu()
    sd = clip_to_external(model, preset)
    # tensors and strings only: loadable with torch.load(weights_only=True) on torch 1.13
    torch.save({"state_dict": sd, "format": "declip-bootstrap", "config_json": json.dumps(asdict(cfg))}, ckpt)
    summary = {
        "checkpoint": ckpt, "backbone": preset.name, "steps": cfg.steps, "batch_size": cfg.batch_size,
        "crop_size": size, "seed": cfg.seed, "data_seed": ds.meta.get("seed"), "frames": ds.n,
        "objects": len(ds.objects), "vocab_size": len(vocab), "loss_first": first_loss,
        "loss_last_avg10": float(np.mean(hist[-10:])), "logit_scale": float(model.logit_scale.exp()),
        "zero_shot": zs, "held_out_pairs": sorted(ds.held_out), "wall_s": time.time() - t0,
        "cpu_s": time.process_time() - c0, "device": str(device), "threads": cfg.threads,
        "fast_cpu_linear": fast, "commit": git_commit(),
        "trainer": f"declip_torch.bootstrap {__version__}, torch {torch.__version__}", "config": asdict(cfg),
    }
    summary["held_out_pairs"] = [list(p) for p in summary["held_out_pairs"]]
    with open(os.path.join(cfg.out, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
    emit("done", checkpoint=ckpt, wall_s=summary["wall_s"], loss=summary["loss_last_avg10"])
    return summary


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m declip_torch.bootstrap", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="dataset directory written by src/training/synthDataCli.ts")
    ap.add_argument("--out", required=True)
    ap.add_argument("--backbone", default="synth-vit-s16")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--size", type=int, help="crop size (default: the preset's image size)")
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--warmup-steps", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="cpu | cuda[:N]")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-fast-cpu-linear", dest="fast_cpu_linear", action="store_false",
                    help="keep torch's BLAS linear even when it is the slow reference BLAS")
    ap.add_argument("--bank-weight", type=float, default=1.0,
                    help="weight of the image -> caption-bank term (0: in-batch InfoNCE only)")
    ap.add_argument("--attribute-weight", type=float, default=1.0,
                    help="weight of the auxiliary colour / class heads on the image embedding (0: off)")
    ap.add_argument("--eval-every", type=int, default=0)
    ap.add_argument("--log-every", type=int, default=10)
    return ap


def main(argv: Optional[Sequence[str]] = None) -> int:
    a = build_parser().parse_args(argv)
    try:
        train_bootstrap(BootstrapConfig(**vars(a)))
    except DeclipError as e:
        emit("error", message=str(e))
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
