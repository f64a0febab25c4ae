"""Training data: `declip collect` datasets (PNG frames + manifest.jsonl), DeCLIP crop sampling, batches.

Dataset layout (written by `declip collect`, src/training/collect.ts):

    DIR/dataset.json      {"format": "declip-frames", "version": 1, ...}  (collector options, sources, counts)
    DIR/manifest.jsonl    one JSON object per frame: {"id", "image": "images/ID.png", "width", "height",
                          "mask"?: "masks/ID.png" (16-bit or 8-bit instance ids, 0 = background),
                          "split"?: "train" | "val", "source": {"bag", "topic", "stampNs"}}
    DIR/images/*.png      rgb8 frames

Randomness: every batch is drawn from its own generator seeded by (seed, step, micro-batch), and the frame order of
an epoch is a permutation seeded by (seed, epoch), so a resumed run sees exactly the batches it would have seen.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import random
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import DeclipError

DATASET_FORMAT = "declip-frames"
MANIFEST = "manifest.jsonl"
HEADER = "dataset.json"


class DatasetError(DeclipError):
    """Missing / empty / malformed dataset directory."""

    code = "dataset"


@dataclass
class FrameRecord:
    id: str
    image: str  # absolute path
    width: int
    height: int
    mask: Optional[str] = None
    split: Optional[str] = None
    source: Dict[str, object] = field(default_factory=dict)


def load_dataset(directory: str) -> List[FrameRecord]:
    """Read DIR/manifest.jsonl. A truncated last line (collector killed mid-write) is ignored."""
    man = os.path.join(directory, MANIFEST)
    if not os.path.isdir(directory):
        raise DatasetError(f"data: dataset directory not found: {directory} (create one with `declip collect`)")
    if not os.path.isfile(man):
        raise DatasetError(f"data: {man} not found; is {directory} a `declip collect` dataset?")
    frames: List[FrameRecord] = []
    with open(man, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            o = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                break  # partial last line
            raise DatasetError(f"data: {man} line {i + 1} is not JSON; fix or delete the line")
        try:
            img = os.path.join(directory, o["image"])
            rec = FrameRecord(id=str(o["id"]), image=img, width=int(o["width"]), height=int(o["height"]),
                              mask=os.path.join(directory, o["mask"]) if o.get("mask") else None,
                              split=o.get("split"), source=dict(o.get("source") or {}))
        except (KeyError, TypeError, ValueError) as e:
            raise DatasetError(f"data: {man} line {i + 1}: missing or bad field ({e}); each line needs id, image, "
                               f"width, height")
        if not os.path.isfile(rec.image):
            raise DatasetError(f"data: frame {rec.id}: image file missing: {rec.image}")
        frames.append(rec)
    if not frames:
        raise DatasetError(f"data: dataset {directory} is empty (manifest.jsonl has no frames); collect frames with "
                           f"`declip collect --bag BAG --out {directory}`")
    return frames


def split_frames(frames: Sequence[FrameRecord], val_fraction: float, seed: int
                 ) -> Tuple[List[FrameRecord], List[FrameRecord]]:
    """Held-out split: an explicit "split" field wins, else a hash of (seed, id) puts `val_fraction` aside.
    At least one frame stays in the training split."""
    train, val = [], []
    for fr in frames:
        if fr.split in ("train", "val"):
            (val if fr.split == "val" else train).append(fr)
            continue
        h = int(hashlib.sha1(f"{seed}:{fr.id}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        (val if h < val_fraction else train).append(fr)
    if not train:
        train, val = [val[0]], val[1:]
    return train, val


def read_rgb(path: str) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def read_mask(path: str) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        a = np.asarray(im)
    if a.ndim == 3:
        a = a[..., 0]
    return a.astype(np.int64)


def sample_grid_boxes(width: float, height: float, rng: random.Random, max_split: int = 6, max_crops: int = 20
                      ) -> List[Tuple[float, float, float, float]]:
    """DeCLIP crops: a random m x n grid over the image (m rows in 1..max_split, n columns in
    [ceil(m / 2), min(2m, max_split)]); the cells are the crops, at most `max_crops` of them (a random subset)."""
    m = rng.randint(1, max_split)
    n = rng.randint(math.ceil(m / 2), min(2 * m, max_split))
    cells = [(j * width / n, i * height / m, (j + 1) * width / n, (i + 1) * height / m)
             for i in range(m) for j in range(n)]
    if len(cells) > max_crops:
        cells = rng.sample(cells, max_crops)
    return cells


def object_boxes(mask: np.ndarray, max_boxes: int, min_px: int = 64, max_box_frac: float = 0.5
                 ) -> List[Tuple[float, float, float, float]]:
    """Object-centred content crops from an instance mask: the tight boxes (x1, y1, x2, y2; pixels, x2 / y2
    exclusive) of up to `max_boxes` labels (largest first) with at least `min_px` pixels whose box covers at most
    `max_box_frac` of the frame. Label 0 (nothing) is never an object, and the box-size limit leaves out "stuff"
    labels that span the frame (a table top, the floor, a wall) in datasets that label those too."""
    if max_boxes <= 0:
        return []
    h, w = mask.shape
    labels, counts = np.unique(mask, return_counts=True)
    out: List[Tuple[int, Tuple[float, float, float, float]]] = []
    for lab, cnt in zip(labels.tolist(), counts.tolist()):
        if lab <= 0 or cnt < min_px:
            continue
        ys, xs = np.nonzero(mask == lab)
        x1, y1, x2, y2 = float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)
        if (x2 - x1) * (y2 - y1) > max_box_frac * w * h:
            continue
        out.append((cnt, (x1, y1, x2, y2)))
    out.sort(key=lambda t: -t[0])
    return [b for _, b in out[:max_boxes]]


def teacher_square(box: Tuple[float, float, float, float], width: int, height: int, margin: float
                   ) -> Tuple[int, int, int, int]:
    """The teacher's view of an object box: the square of side margin x the box's longer side around its centre,
    clipped to the frame (integer pixels, exclusive ends; non-square only where the frame cuts it)."""
    x1, y1, x2, y2 = box
    side = max(x2 - x1, y2 - y1) * margin
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    ix1, iy1 = max(0, int(math.floor(cx - side / 2))), max(0, int(math.floor(cy - side / 2)))
    ix2, iy2 = min(width, int(math.ceil(cx + side / 2))), min(height, int(math.ceil(cy + side / 2)))
    return ix1, iy1, max(ix1 + 1, ix2), max(iy1 + 1, iy2)


@dataclass
class Batch:
    pixels: Tensor  # [B, 3, S, S] CLIP-normalised, zero-padded (= mean colour) right / bottom
    boxes: Tensor  # [K, 5] (batch index, x1, y1, x2, y2) in student-input pixels
    crops: Tensor  # [K, 3, c, c] CLIP-normalised teacher inputs
    valid: Tensor  # [B, h * w] bool: patch centre inside the image (not padding)
    grid: Tuple[int, int]
    patch_labels: Optional[Tensor]  # [B, h * w] int64 instance id per patch (majority), -1 = unknown / padding
    ids: List[str]
    images: List[np.ndarray]  # original uint8 frames (for teachers that need raw pixels)


class FrameCache:
    """Decoded frames (uint8) and masks, loaded on first use."""

    def __init__(self, limit: int = 512):
        self.limit = limit
        self._img: Dict[str, np.ndarray] = {}
        self._mask: Dict[str, Optional[np.ndarray]] = {}

    def image(self, fr: FrameRecord) -> np.ndarray:
        if fr.id not in self._img:
            if len(self._img) >= self.limit:
                self._img.pop(next(iter(self._img)))
            self._img[fr.id] = read_rgb(fr.image)
        return self._img[fr.id]

    def mask(self, fr: FrameRecord) -> Optional[np.ndarray]:
        if fr.mask is None:
            return None
        if fr.id not in self._mask:
            if len(self._mask) >= self.limit:
                self._mask.pop(next(iter(self._mask)))
            self._mask[fr.id] = read_mask(fr.mask) if os.path.isfile(fr.mask) else None
        return self._mask[fr.id]


def _normalise(x: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    m = torch.tensor(mean, dtype=x.dtype).reshape(3, 1, 1)
    s = torch.tensor(std, dtype=x.dtype).reshape(3, 1, 1)
    return (x - m) / s


def _resize(x: Tensor, size: Tuple[int, int]) -> Tensor:
    return F.interpolate(x[None], size=size, mode="bilinear", align_corners=False, antialias=True)[0]


def patch_labels_from_mask(mask: Tensor, patch: int) -> Tensor:
    """[S, S] int64 labels (-1 = padding) -> [h * w] majority label per patch (-1 when padding dominates)."""
    s0, s1 = mask.shape
    tiles = mask.reshape(s0 // patch, patch, s1 // patch, patch).permute(0, 2, 1, 3).reshape(-1, patch * patch)
    return torch.mode(tiles, dim=-1).values


def student_size_choices(min_size: int, max_size: int, patch: int) -> List[int]:
    lo = int(math.ceil(min_size / patch)) * patch
    hi = max(lo, (max_size // patch) * patch)
    return list(range(lo, hi + 1, patch))


def build_batch(frames: Sequence[FrameRecord], cache: FrameCache, rng: random.Random, *, patch: int,
                min_size: int, max_size: int, crop_size: int, mean: Sequence[float], std: Sequence[float],
                max_split: int = 6, max_crops: int = 20, fixed_size: Optional[int] = None, object_crops: int = 0,
                object_margin: float = 1.4) -> Batch:
    """One training batch: every frame resized (longest side) to the batch's student size S (one random
    multiple of the patch in [min_size, max_size]) and padded to S x S; DeCLIP grid crops resized to
    crop_size x crop_size from the original frame.

    object_crops > 0 adds, for frames with an instance mask, up to that many object-centred crops
    (`object_boxes`): the student's region is the object's tight box, the teacher sees the square of
    `object_margin` x its longer side around it (`teacher_square`), as it saw objects in its own training."""
    size = fixed_size or rng.choice(student_size_choices(min_size, max_size, patch))
    g = size // patch
    pix, boxes, crops, valid, labels, imgs = [], [], [], [], [], []
    any_mask = False
    for b, fr in enumerate(frames):
        arr = cache.image(fr)
        imgs.append(arr)
        hh, ww = arr.shape[:2]
        x = torch.from_numpy(arr).permute(2, 0, 1).float() / 255.0
        sc = size / max(hh, ww)
        nh, nw = max(1, min(size, round(hh * sc))), max(1, min(size, round(ww * sc)))
        canvas = torch.zeros(3, size, size)
        canvas[:, :nh, :nw] = _normalise(_resize(x, (nh, nw)), mean, std)
        pix.append(canvas)
        cy = (torch.arange(g, dtype=torch.float32) + 0.5) * patch
        valid.append(((cy[:, None] < nh) & (cy[None, :] < nw)).reshape(-1))
        # (student box, teacher window in frame pixels): DeCLIP's grid cells, then the object-centred crops
        regions = []
        for (x1, y1, x2, y2) in sample_grid_boxes(ww, hh, rng, max_split, max_crops):
            ix1, iy1 = int(math.floor(x1)), int(math.floor(y1))
            regions.append(((x1, y1, x2, y2),
                            (ix1, iy1, max(ix1 + 1, int(math.ceil(x2))), max(iy1 + 1, int(math.ceil(y2))))))
        m = cache.mask(fr)
        if m is not None and object_crops > 0:
            regions += [(box, teacher_square(box, ww, hh, object_margin)) for box in object_boxes(m, object_crops)]
        for (x1, y1, x2, y2), (ix1, iy1, ix2, iy2) in regions:
            boxes.append([b, x1 * nw / ww, y1 * nh / hh, x2 * nw / ww, y2 * nh / hh])
            crops.append(_normalise(_resize(x[:, iy1:iy2, ix1:ix2], (crop_size, crop_size)), mean, std))
        lab = torch.full((size, size), -1, dtype=torch.int64)
        if m is not None:
            any_mask = True
            mt = torch.from_numpy(m)[None, None].float()
            lab[:nh, :nw] = F.interpolate(mt, size=(nh, nw), mode="nearest")[0, 0].long()
            labels.append(patch_labels_from_mask(lab, patch))
        else:
            labels.append(torch.full((g * g,), -1, dtype=torch.int64))
    return Batch(pixels=torch.stack(pix), boxes=torch.tensor(boxes, dtype=torch.float32), crops=torch.stack(crops),
                 valid=torch.stack(valid), grid=(g, g), patch_labels=torch.stack(labels) if any_mask else None,
                 ids=[fr.id for fr in frames], images=imgs)


def epoch_order(n: int, seed: int, epoch: int) -> List[int]:
    """Frame order of one epoch (a permutation seeded by seed and epoch)."""
    r = random.Random(f"declip-order:{seed}:{epoch}")
    order = list(range(n))
    r.shuffle(order)
    return order


def step_rng(seed: int, step: int, micro: int) -> random.Random:
    return random.Random(f"declip-batch:{seed}:{step}:{micro}")


def make_synthetic_dataset(directory: str, n: int = 12, size: Tuple[int, int] = (72, 96), seed: int = 0,
                           with_masks: bool = True, val_every: int = 0) -> str:
    """Procedural frames (coloured rectangles and discs on a textured background) with instance masks, in the
    `declip collect` layout; for tests and benchmarks."""
    from PIL import Image

    rs = np.random.default_rng(seed)
    os.makedirs(os.path.join(directory, "images"), exist_ok=True)
    if with_masks:
        os.makedirs(os.path.join(directory, "masks"), exist_ok=True)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    lines = []
    for i in range(n):
        base = rs.uniform(60, 200, size=3)
        img = np.clip(base + 25 * np.sin(xx[..., None] / rs.uniform(3, 9) + rs.uniform(0, 6, size=3))
                      + rs.normal(0, 6, size=(h, w, 3)), 0, 255)
        mask = np.zeros((h, w), dtype=np.uint16)
        for obj in range(1, int(rs.integers(2, 5)) + 1):
            col = rs.uniform(0, 255, size=3)
            cy, cx = rs.uniform(0.15, 0.85) * h, rs.uniform(0.15, 0.85) * w
            ry, rx = rs.uniform(0.1, 0.25) * h, rs.uniform(0.1, 0.25) * w
            if rs.random() < 0.5:
                sel = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
            else:
                sel = (np.abs(yy - cy) <= ry) & (np.abs(xx - cx) <= rx)
            img[sel] = col + 10 * np.sin(yy[sel] / 2.0)[:, None]
            mask[sel] = obj
        fid = f"{i:06d}"
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(
            os.path.join(directory, "images", f"{fid}.png"))
        rec: Dict[str, object] = {"id": fid, "image": f"images/{fid}.png", "width": w, "height": h,
                                  "source": {"synthetic": True, "seed": seed, "index": i}}
        if with_masks:
            Image.fromarray(mask.astype(np.uint16)).save(os.path.join(directory, "masks", f"{fid}.png"))
            rec["mask"] = f"masks/{fid}.png"
        if val_every and i % val_every == val_every - 1:
            rec["split"] = "val"
        lines.append(json.dumps(rec))
    with open(os.path.join(directory, MANIFEST), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(directory, HEADER), "w", encoding="utf-8") as f:
        json.dump({"format": DATASET_FORMAT, "version": 1, "synthetic": True, "frames": n}, f, indent=2)
    return directory


__all__ = ["Batch", "DatasetError", "FrameCache", "FrameRecord", "build_batch", "epoch_order", "load_dataset",
           "make_synthetic_dataset", "object_boxes", "patch_labels_from_mask", "read_mask", "read_rgb",
           "sample_grid_boxes", "split_frames", "step_rng", "student_size_choices", "teacher_square"]
