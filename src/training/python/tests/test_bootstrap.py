"""Bootstrap (synthetic CLIP pretraining) of the embedded default model: vocabulary, losses, crops, fast linear,
a 3-step training run on a tiny dataset in the synthData.ts layout."""
import json
import math
import os
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from declip_torch import bootstrap_fastcpu
from declip_torch.bootstrap import (BootstrapConfig, CropSampler, SynthDataset, WordVocab, contrastive_loss,
                                    object_caption_set, train_bootstrap)
from declip_torch.config import get_preset
from declip_torch.export import ExportOptions, _tokenizer
from declip_torch.heads import build_clip
from declip_torch.keymap import load_clip_state_dict

COLOURS = {"red": (200, 30, 35), "blue": (35, 70, 190), "green": (40, 150, 60)}
CATS = ["mug", "can"]


def write_dataset(d, frames=6, h=48, w=64, seed=0):
    """A dataset in the synthData.ts layout: coloured rectangles ('mug' tall, 'can' wide) on a table / wall."""
    rs = np.random.default_rng(seed)
    os.makedirs(d, exist_ok=True)
    splits = {}
    for split, n in (("train", frames), ("eval", 2)):
        rgb = np.zeros((n, h, w, 3), np.uint8)
        lab = np.zeros((n, h, w), np.uint8)
        lines = []
        for i in range(n):
            rgb[i, : h // 3] = (210, 210, 200)
            lab[i, : h // 3] = 202
            rgb[i, h // 3:] = (120, 75, 40)
            lab[i, h // 3:] = 200
            objs = []
            for k, (colour, cat) in enumerate([("red", "mug"), ("blue", "can")] if split == "train" or i == 0
                                              else [("green", "mug")]):
                x0, y0 = int(rs.integers(2, w // 2 - 16)) + k * (w // 2), int(rs.integers(h // 3, h - 20))
                bw, bh = (8, 16) if cat == "mug" else (16, 8)
                rgb[i, y0:y0 + bh, x0:x0 + bw] = COLOURS[colour]
                lab[i, y0:y0 + bh, x0:x0 + bw] = k + 1
                objs.append({"instance_id": k + 1, "category": cat, "colour": colour, "secondary_colour": colour,
                             "texture": "plain", "bbox": [x0, y0, bw, bh], "px_count": bw * bh,
                             "captions": [f"a {colour} {cat}", f"a plain {colour} {cat}", f"{colour} {cat}",
                                          f"a {cat}"], "held_out": colour == "green"})
            lines.append(json.dumps({"index": i, "scene_seed": i, "width": w, "height": h, "objects": objs}))
        rgb.tofile(os.path.join(d, f"{split}_rgb.u8"))
        lab.tofile(os.path.join(d, f"{split}_labels.u8"))
        with open(os.path.join(d, f"{split}.jsonl"), "w") as f:
            f.write("\n".join(lines) + "\n")
        splits[split] = {"frames": n, "width": w, "height": h, "objects": 0, "scenes": n}
    words = ["a", "an", "the", "and", "on", "plain", "background", "table", "wall", "floor"] + list(COLOURS) + CATS
    with open(os.path.join(d, "vocab.txt"), "w") as f:
        f.write("\n".join(words) + "\n")
    meta = {"format": "declip-synth-dataset", "version": 1, "seed": seed, "splits": splits,
            "held_out_pairs": [["green", "mug"]], "labels": {"table": 200, "floor": 201, "wall": 202, "nothing": 0},
            "categories": CATS, "colours": list(COLOURS), "vocab_file": "vocab.txt", "generator": "test"}
    with open(os.path.join(d, "dataset.json"), "w") as f:
        json.dump(meta, f)
    return d


def test_word_vocab_matches_the_exporter_layout(tmp_path):
    words = ["red", "mug", "a", "table"]
    (tmp_path / "w.txt").write_text("\n".join(words) + "\n")
    opts = ExportOptions(arch="clip-vanilla", backbone="tiny", out=str(tmp_path / "pkg"), word_vocab=str(tmp_path /
                                                                                                     "w.txt"))
    os.makedirs(opts.out)
    spec, fname, sot, eot = _tokenizer(opts, 64, 16)
    exported = (tmp_path / "pkg" / fname).read_text().split("\n")[:-1]
    v = WordVocab(words, 16)
    assert v.tokens == exported
    assert (v.sot, v.eot) == (sot, eot) == (len(exported) - 2, len(exported) - 1)
    ids = v.tokenize(["A red MUG.", "purple mug"])
    assert ids[0, :5].tolist() == [sot, v.index["a"], v.index["red"], v.index["mug"], eot]
    assert ids[1, :4].tolist() == [sot, 1, v.index["mug"], eot]  # unknown word -> <unk> = 1
    assert int(ids[0].argmax()) == 4  # EOT pooling = argmax id


def test_contrastive_loss_multi_positive_formula():
    torch.manual_seed(0)
    img = F.normalize(torch.randn(4, 8), dim=-1)
    txt = F.normalize(torch.randn(4, 8), dim=-1)
    tgt = torch.eye(4)
    tgt[0, 1] = tgt[1, 0] = 1.0  # texts 0 and 1 fit images 0 and 1
    ls = torch.tensor(math.log(10.0))
    got = contrastive_loss(img, txt, ls, tgt)
    logits = 10.0 * img @ txt.t()
    li = -(tgt / tgt.sum(1, keepdim=True) * F.log_softmax(logits, 1)).sum(1).mean()
    lt = -(tgt.t() / tgt.t().sum(1, keepdim=True) * F.log_softmax(logits.t(), 1)).sum(1).mean()
    assert torch.allclose(got, 0.5 * (li + lt))
    # aligned embeddings give a lower loss than random ones
    assert contrastive_loss(img, img, ls, torch.eye(4)) < contrastive_loss(img, txt, ls, torch.eye(4))


def test_conv_linear_equals_linear_values_and_grads():
    torch.manual_seed(1)
    x = torch.randn(3, 5, 12, requires_grad=True)
    w = torch.randn(7, 12, requires_grad=True)
    b = torch.randn(7, requires_grad=True)
    y1 = bootstrap_fastcpu.conv_linear(x, w, b)
    y0 = bootstrap_fastcpu._ORIGINAL(x, w, b)
    assert y1.shape == (3, 5, 7)
    assert torch.allclose(y1, y0, atol=1e-5)
    g1 = torch.autograd.grad(y1.square().sum(), (x, w, b))
    g0 = torch.autograd.grad(y0.square().sum(), (x, w, b))
    for a, c in zip(g1, g0):
        assert torch.allclose(a, c, atol=1e-4)
    xd = torch.randn(2, 12, dtype=torch.float64)
    assert bootstrap_fastcpu.conv_linear(xd, w.double()).dtype == torch.float64  # falls back
    # no bias, frozen weight (the distillation's frozen teacher): only the input gradient is asked for
    wf = w.detach()
    y1 = bootstrap_fastcpu.conv_linear(x, wf)
    (gx1,) = torch.autograd.grad(y1.square().sum(), (x,))
    (gx0,) = torch.autograd.grad(bootstrap_fastcpu._ORIGINAL(x, wf).square().sum(), (x,))
    assert torch.allclose(gx1, gx0, atol=1e-4)


def test_install_and_uninstall_patch_functional_linear():
    try:
        assert bootstrap_fastcpu.install(force=True)
        assert F.linear is bootstrap_fastcpu.conv_linear
        lin = torch.nn.Linear(4, 3)
        x = torch.randn(2, 4)
        assert torch.allclose(lin(x), x @ lin.weight.t() + lin.bias, atol=1e-6)
    finally:
        bootstrap_fastcpu.uninstall()
    assert F.linear is bootstrap_fastcpu._ORIGINAL


def test_crop_sampler_batches_and_targets(tmp_path):
    d = write_dataset(str(tmp_path / "ds"))
    ds = SynthDataset(d, "train")
    assert ds.n == 6 and len(ds.objects) == 12
    s = CropSampler(ds, 32, (0.5,) * 3, (0.25,) * 3, object_frac=0.5, background_frac=0.5)
    img, texts, tgt, kinds = s.batch(16, random.Random(0))
    assert img.shape == (16, 3, 32, 32) and len(texts) == 16 and tgt.shape == (16, 16)
    assert torch.all(tgt.diagonal() == 1)
    assert "background" in kinds and "object" in kinds
    for i, k in enumerate(kinds):
        if k == "background":
            assert texts[i] in ("background", "a background", "a table", "the table", "table", "a wall",
                                "the wall", "wall")
    # a bare-category caption is a positive for every object of that category in the batch
    o = ds.objects[0]
    caps = object_caption_set(o)
    assert f"a {o.category}" in caps and f"{o.colour} {o.category}" in caps


def test_missing_dataset_is_a_clear_error(tmp_path):
    from declip_torch.bootstrap import BootstrapError

    with pytest.raises(BootstrapError, match="dataset.json not found"):
        SynthDataset(str(tmp_path / "nope"), "train")


def test_three_step_bootstrap_writes_a_loadable_checkpoint(tmp_path):
    d = write_dataset(str(tmp_path / "ds"))
    out = str(tmp_path / "run")
    s = train_bootstrap(BootstrapConfig(data=d, out=out, backbone="tiny", steps=3, batch_size=8, size=32,
                                        warmup_steps=1, threads=1, log_every=1, fast_cpu_linear=False))
    assert s["steps"] == 3 and math.isfinite(s["loss_last_avg10"])
    assert s["zero_shot"]["held_objects"] == 1 and s["zero_shot"]["seen_objects"] == 2
    ck = torch.load(os.path.join(out, "bootstrap.pt"), weights_only=True)  # data only (the trainer loads it so)
    m = build_clip(get_preset("tiny"))
    load_clip_state_dict(m, ck["state_dict"], get_preset("tiny"))  # exporter / trainer key names
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 3 and all(math.isfinite(json.loads(x)["loss"]) for x in lines)
    words = (tmp_path / "run" / "vocab.txt").read_text().split()
    assert "mug" in words and "<pad>" not in words


def test_caption_bank_excludes_held_out_pairs_and_bank_loss_targets(tmp_path):
    from declip_torch.bootstrap import attribute_labels, bank_loss, caption_bank

    ds = SynthDataset(write_dataset(str(tmp_path / "ds")), "train")
    bank = caption_bank(ds)
    assert "a green mug" not in bank  # held out in this dataset
    assert "a red mug" in bank and "a mug" in bank and "background" in bank
    sets = [{"a red mug", "red mug", "a mug"}, {"a table", "background"}, {"a red mug and a blue can on a table"}]
    col, cls = attribute_labels(sets, ds.meta["colours"], ds.meta["categories"])
    assert col.tolist() == [ds.meta["colours"].index("red"), -1, -1]
    assert cls.tolist() == [ds.meta["categories"].index("mug"), len(ds.meta["categories"]), -1]
    emb = F.normalize(torch.randn(len(bank), 8), dim=-1)
    img = emb[[bank.index("a red mug"), bank.index("a table"), 0]]
    ls = torch.tensor(math.log(50.0))
    good = bank_loss(img, emb, ls, sets, bank)
    bad = bank_loss(img[[1, 0, 2]], emb, ls, sets, bank)
    assert good is not None and bad is not None and good < bad  # the scene crop row (no bank caption) is skipped
    assert bank_loss(img[2:], emb, ls, sets[2:], bank) is None


def test_window_crops_equal_crops_of_the_whole_frame(tmp_path):
    """CropSampler._crop samples only the frame window under a crop; inside the frame, at its edges and off it
    ("border" padding) it gives what grid_sample over the whole frame gives."""
    from declip_torch.bootstrap import _crop_grid

    ds = SynthDataset(write_dataset(str(tmp_path / "ds"), h=48, w=64), "train")
    s = CropSampler(ds, 24, (0.5,) * 3, (0.25,) * 3)
    cases = [(0, (20.3, 30.7, 17.5), False), (1, (3.0, 4.0, 30.0), True), (2, (63.5, 40.0, 50.0), False),
             (3, (32.0, 24.0, 120.0), True), (4, (-40.0, 10.0, 8.0), False)]
    for f, c, flip in cases:
        whole = torch.from_numpy(np.array(ds.rgb[f])).permute(2, 0, 1)[None].float() / 255.0
        grid = _crop_grid(np.array([[c[0], c[1], c[2], c[2]]]), (48, 64), 24, np.array([flip]))
        ref = F.grid_sample(whole, grid, mode="bilinear", padding_mode="border", align_corners=False)
        got = s._crop(f, c, flip)
        assert got.shape == (1, 3, 24, 24)
        assert float((got - ref).abs().max()) < 1e-4, (f, c, flip)


def test_encode_captions_equals_encoding_every_caption_in_full(tmp_path):
    from declip_torch.bootstrap import build_vocab, caption_bank, encode_captions

    d = write_dataset(str(tmp_path / "ds"))
    ds = SynthDataset(d, "train")
    preset = get_preset("tiny")
    vocab = build_vocab(ds, d, preset)
    torch.manual_seed(0)
    m = build_clip(preset, seed=0)
    texts = ["a red mug", "a red mug", "a blue can", "wall", "a red mug and a blue can on a table"]
    bank = caption_bank(ds)
    te, be = encode_captions(m, vocab, texts, bank, torch.device("cpu"))
    ref_t = F.normalize(m.text(vocab.tokenize(texts)), dim=-1)
    ref_b = F.normalize(m.text(vocab.tokenize(bank)), dim=-1)
    assert te.shape == ref_t.shape and be.shape == ref_b.shape
    assert torch.allclose(te, ref_t, atol=1e-6) and torch.allclose(be, ref_b, atol=1e-6)
    assert not torch.allclose(te[0], te[2])  # different captions stay different
    te2, be2 = encode_captions(m, vocab, texts, [], torch.device("cpu"))
    assert torch.allclose(te2, ref_t, atol=1e-6) and be2.shape[0] == 0
