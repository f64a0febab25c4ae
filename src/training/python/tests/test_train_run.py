"""Trainer end to end on a tiny configuration: trainable set, frozen parameters bit-for-bit, loss terms decrease,
kill -9 + resume == uninterrupted, typed errors."""
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from declip_torch.config import get_preset
from declip_torch.errors import ConfigError
from declip_torch.heads import ImageEncoder, build_clip
from declip_torch.train import (Events, TrainConfig, TrainError, build_teacher_terms, compute_losses,
                                configure_trainable, load_base, load_vfm, student_forward, torch_load, train)
from declip_torch.train_data import DatasetError, FrameCache, build_batch, load_dataset, make_synthetic_dataset
from declip_torch.train_data import step_rng

torch.set_num_threads(1)
PKG_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_synthetic_dataset(str(tmp_path_factory.mktemp("frames")), n=8, size=(72, 96), seed=3)


def tiny_cfg(data, out, **kw):
    base = dict(data=data, out=out, backbone="tiny", random_init=True, vfm_backbone="tiny-dinov2-reg",
                vfm_random_init=True, student_min_size=48, student_max_size=64, crop_size=32, max_crops=6,
                batch_size=2, steps=12, lr=2e-3, checkpoint_every=4, threads=1, eval=False, seed=5)
    base.update(kw)
    return TrainConfig(**base)


class Sink:
    def __init__(self):
        self.lines = []

    def write(self, s):
        self.lines += [json.loads(x) for x in s.splitlines() if x.strip()]

    def flush(self):
        pass


def quiet_events():
    sink = Sink()
    return Events(stream=sink, quiet=True), sink


FROZEN_ALWAYS = ("patch_embed.", "pos_embed", "cls_token", "ln_pre.", "norm.weight", "norm.bias", "head.")


def is_frozen(name, depth, mode):
    last = f"blocks.{depth - 1}."
    if name.startswith(FROZEN_ALWAYS):
        return True
    if name.startswith(last + "norm2.") or name.startswith(last + "mlp.") or name == last + "ls2":
        return True
    if mode == "qq" and name == last + "attn.k_bias":
        return True
    return False


@pytest.mark.parametrize("arch", ["declip-csa", "declip-qq"])
def test_gradients_reach_exactly_the_trainable_parameters(data_dir, tmp_path, arch):
    cfg = tiny_cfg(data_dir, str(tmp_path), arch=arch)
    model, preset, _ = load_base(cfg)
    teacher = build_clip(preset, seed=cfg.seed)
    mode = arch.split("-")[1]
    frozen_slices = configure_trainable(model.visual, arch)
    assert len(frozen_slices) == (1 if mode == "qq" else 0)
    vfm = load_vfm(cfg, 16, preset.vision.mean, preset.vision.std)
    terms = build_teacher_terms(cfg, teacher.visual, vfm, mode)
    frames = load_dataset(data_dir)
    b = build_batch(frames[:2], FrameCache(), step_rng(0, 0, 0), patch=16, min_size=48, max_size=64, crop_size=32,
                    mean=preset.vision.mean, std=preset.vision.std, max_crops=6)
    loss, parts = compute_losses(model.visual, teacher.visual, terms, b, cfg, mode, 16, 0)
    assert set(parts) == {"content", "context", "region"}
    loss.backward()
    depth = preset.vision.depth
    for name, p in model.visual.named_parameters():
        if is_frozen(name, depth, mode):
            assert not p.requires_grad and p.grad is None, name
        else:
            assert p.requires_grad and p.grad is not None and float(p.grad.abs().sum()) > 0, name
    assert all(p.grad is None for p in model.text.parameters())


@pytest.mark.parametrize("arch", ["declip-csa", "declip-qq"])
def test_frozen_parameters_unchanged_bit_for_bit(data_dir, tmp_path, arch):
    cfg = tiny_cfg(data_dir, str(tmp_path), arch=arch, steps=5, checkpoint_every=5, ensemble_alpha=0.7)
    ev, _ = quiet_events()
    train(cfg, ev)
    trained = torch_load(os.path.join(str(tmp_path), "checkpoint.pt"))["student_visual"]
    base = build_clip(get_preset("tiny"), seed=cfg.seed).visual.state_dict()
    depth = get_preset("tiny").vision.depth
    mode = arch.split("-")[1]
    w = get_preset("tiny").vision.width
    for name, v in base.items():
        if is_frozen(name, depth, mode):
            assert torch.equal(trained[name], v), name
        elif name == f"blocks.{depth - 1}.attn.qkv.weight":
            k_rows = slice(w, 2 * w)
            assert torch.equal(trained[name][k_rows], v[k_rows]) == (mode == "qq")
            assert not torch.equal(trained[name][:w], v[:w])
        else:
            assert not torch.equal(trained[name], v), f"{name} did not train"
    # the exported encoder computes the same dense features as the training forward
    # the student checkpoint is plain data: loadable with weights_only=True (what the exporter uses)
    student = torch.load(os.path.join(str(tmp_path), "final", "student.pt"), map_location="cpu", weights_only=True)
    cfg2 = TrainConfig(data=data_dir, out=str(tmp_path / "x"), base=os.path.join(str(tmp_path), "final",
                                                                                  "student.pt"))
    m, preset, _ = load_base(cfg2)  # backbone comes from the embedded config
    assert preset.name == "tiny" and json.loads(student["declip_json"])["arch"] == arch
    assert preset is get_preset("tiny")
    pix = torch.randn(1, 3, 48, 64)
    enc = ImageEncoder(arch, m.visual)
    with torch.no_grad():
        assert torch.allclose(enc.run(pix).dense, student_forward(m.visual, pix, mode, None).dense)
    text_base = build_clip(get_preset("tiny"), seed=cfg.seed).text.state_dict()
    assert all(torch.equal(m.text.state_dict()[k], v) for k, v in text_base.items())


def fixed_probe_losses(cfg, visual_state=None):
    """Each loss term on 4 fixed batches, for the base weights or the given trained vision weights."""
    model, preset, _ = load_base(dataclass_replace(cfg, random_init=True))
    teacher = build_clip(preset, seed=cfg.seed)
    if visual_state is not None:
        model.visual.load_state_dict(visual_state)
    mode = cfg.arch.split("-")[1]
    vfm = load_vfm(cfg, 16, preset.vision.mean, preset.vision.std)
    terms = build_teacher_terms(cfg, teacher.visual, vfm, mode)
    frames = load_dataset(cfg.data)
    cache = FrameCache()
    tot = {}
    with torch.no_grad():
        for i in range(4):
            b = build_batch(frames[2 * i:2 * i + 2], cache, step_rng(99, i, 0), patch=16,
                            min_size=cfg.student_min_size, max_size=cfg.student_max_size, crop_size=32,
                            mean=preset.vision.mean, std=preset.vision.std, max_crops=6, max_split=cfg.max_split)
            _, parts = compute_losses(model.visual, teacher.visual, terms, b, cfg, mode, 16, 0)
            for k, v in parts.items():
                tot[k] = tot.get(k, 0.0) + float(v) / 4
    return tot


def dataclass_replace(cfg, **kw):
    import dataclasses

    return dataclasses.replace(cfg, **kw)


@pytest.mark.parametrize("form,teachers", [("l2", ["vfm", "mask-affinity,weight=0.25"]), ("kl", ["vfm"])])
def test_every_loss_term_decreases(data_dir, tmp_path, form, teachers):
    # larger boxes (max_split 2) on a 5x5..6x6 grid so that the region term has several patches per crop
    cfg = tiny_cfg(data_dir, str(tmp_path), steps=36, lr=2e-3, context_form=form, context_teachers=teachers,
                   ensemble_alpha=1.0, region_weight=0.5, checkpoint_every=36, student_min_size=80,
                   student_max_size=96, max_split=2, region_points=3)
    ev, sink = quiet_events()
    train(cfg, ev)
    steps = [e for e in sink.lines if e["event"] == "step"]
    assert len(steps) == 36 and steps[-1]["lr"] < steps[0]["lr"]
    before = fixed_probe_losses(cfg)
    after = fixed_probe_losses(cfg, torch_load(os.path.join(str(tmp_path), "checkpoint.pt"))["student_visual"])
    expected = {"content", "region"} | ({"context"} if len(teachers) == 1 else
                                        {"context[vfm]", "context[mask-affinity,weight=0.25]"})
    assert set(before) == expected
    for k in expected:
        assert after[k] < before[k], (k, before[k], after[k])


def run_cli(cfg_path, kill_after_checkpoint=None):
    env = dict(os.environ, PYTHONPATH=PKG_ROOT)
    p = subprocess.Popen([sys.executable, "-m", "declip_torch.train", "--config", cfg_path], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, env=env, text=True)
    events = []
    assert p.stdout is not None
    for line in p.stdout:
        ev = json.loads(line)
        events.append(ev)
        if kill_after_checkpoint and ev["event"] == "checkpoint" and ev["step"] >= kill_after_checkpoint:
            os.kill(p.pid, signal.SIGKILL)
            break
    p.wait()
    return p.returncode, events


def test_kill9_then_resume_equals_uninterrupted(data_dir, tmp_path):
    def write_cfg(out):
        c = tiny_cfg(data_dir, out, steps=14, checkpoint_every=4, accumulation=2, batch_size=3)
        d = {k: v for k, v in c.__dict__.items()}
        path = out + ".json"
        with open(path, "w") as f:
            json.dump(d, f)
        return path

    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    rc, ev_a = run_cli(write_cfg(a))
    assert rc == 0 and ev_a[-1]["event"] == "done"
    rc, ev_b1 = run_cli(write_cfg(b), kill_after_checkpoint=8)
    assert rc == -signal.SIGKILL
    assert not os.path.exists(os.path.join(b, "final"))
    rc, ev_b2 = run_cli(write_cfg(b))
    assert rc == 0
    start = ev_b2[0]
    assert start["event"] == "start" and start["resumed"] and start["step"] >= 8
    sa = torch_load(os.path.join(a, "final", "student.pt"))["state_dict"]
    sb = torch_load(os.path.join(b, "final", "student.pt"))["state_dict"]
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    # the metrics file holds each step once, with the same losses as the uninterrupted run
    ma = [json.loads(x) for x in open(os.path.join(a, "metrics.jsonl"))]
    mb = [json.loads(x) for x in open(os.path.join(b, "metrics.jsonl"))]
    assert [m["step"] for m in mb] == list(range(1, 15)) and ma == mb


def test_errors_are_typed(data_dir, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "manifest.jsonl").write_text("")
    with pytest.raises(DatasetError, match="empty"):
        train(tiny_cfg(str(empty), str(tmp_path / "o1")), quiet_events()[0])
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "model.json").write_text("{}")
    with pytest.raises(TrainError) as ei:
        train(tiny_cfg(data_dir, str(tmp_path / "o2"), random_init=False, base=str(pkg)), quiet_events()[0])
    assert ei.value.code == "onnx-base" and "original PyTorch checkpoint" in ei.value.hint
    if not torch.cuda.is_available():
        with pytest.raises(TrainError) as ei:
            train(tiny_cfg(data_dir, str(tmp_path / "o3"), device="cuda"), quiet_events()[0])
        assert ei.value.code == "cuda-unavailable"
    # a checkpoint of another architecture
    ck = tmp_path / "eva.pt"
    from declip_torch.keymap import clip_to_external

    torch.save(clip_to_external(build_clip(get_preset("tiny-eva02"), seed=1), get_preset("tiny-eva02")), str(ck))
    with pytest.raises(TrainError) as ei:
        train(tiny_cfg(data_dir, str(tmp_path / "o4"), random_init=False, base=str(ck)), quiet_events()[0])
    assert ei.value.code == "checkpoint-mismatch" and "tiny-eva02" in str(ei.value)
    # resuming with another configuration
    out = str(tmp_path / "o5")
    train(tiny_cfg(data_dir, out, steps=2, checkpoint_every=1), quiet_events()[0])
    with pytest.raises(TrainError) as ei:
        train(tiny_cfg(data_dir, out, steps=2, lr=5e-3), quiet_events()[0])
    assert ei.value.code == "checkpoint-mismatch" and "lr" in str(ei.value)


def test_out_of_memory_becomes_a_hint(data_dir, tmp_path, monkeypatch):
    import declip_torch.train as T

    def boom(*a, **k):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(T, "compute_losses", boom)
    with pytest.raises(TrainError) as ei:
        train(tiny_cfg(data_dir, str(tmp_path), batch_size=4), quiet_events()[0])
    assert ei.value.code == "oom" and "--batch-size" in ei.value.hint and "2" in ei.value.hint


def test_cli_prints_error_events(tmp_path):
    env = dict(os.environ, PYTHONPATH=PKG_ROOT)
    r = subprocess.run([sys.executable, "-m", "declip_torch.train", "--data", str(tmp_path / "nope"), "--out",
                        str(tmp_path / "o"), "--backbone", "tiny", "--random-init"], capture_output=True, text=True,
                       env=env)
    assert r.returncode == 2
    ev = json.loads(r.stdout.strip().splitlines()[-1])
    assert ev["event"] == "error" and ev["code"] == "dataset" and "not found" in ev["message"]


ONNX_VFM = os.path.join(PKG_ROOT, "..", "..", "..", "test", "models", "tiny-proxyclip", "vfm.onnx")
PROVIDER = '''
import torch
def attention(pixels, grid, checkpoint):
    assert checkpoint == "my-sd.ckpt", checkpoint
    n = grid[0] * grid[1]
    a = torch.ones(pixels.shape[0], n, n) + torch.eye(n)
    return a / a.sum(-1, keepdim=True)
'''


@pytest.mark.parametrize("kind", ["self-layer", "scd", "onnx-vfm", "diffusion"])
def test_other_teacher_kinds_train(data_dir, tmp_path, kind):
    kw = {}
    if kind == "self-layer":
        kw = dict(context_teachers=["self-layer:1"], vfm_random_init=False, vfm_backbone=None)
    elif kind == "scd":
        kw = dict(context_teachers=["scd,form=kl"], vfm_random_init=False, vfm_backbone=None)
    elif kind == "onnx-vfm":
        kw = dict(vfm=os.path.abspath(ONNX_VFM), vfm_random_init=False, vfm_backbone=None)
    else:
        prov = tmp_path / "sd_attention.py"
        prov.write_text(PROVIDER)
        kw = dict(context_teachers=[f"diffusion:{prov},checkpoint=my-sd.ckpt,lambda=0.5"])
    cfg = tiny_cfg(data_dir, str(tmp_path / "run"), steps=2, checkpoint_every=2, eval=True, eval_size=96, **kw)
    ev, sink = quiet_events()
    train(cfg, ev)
    start = sink.lines[0]
    names = {"self-layer": "self-layer:1", "scd": "scd", "onnx-vfm": "vfm-onnx",
             "diffusion": "diffusion(vfm:tiny-dinov2-reg)"}
    assert start["teachers"] == [names[kind]]
    steps = [e for e in sink.lines if e["event"] == "step"]
    terms = steps[-1]["terms"]
    # the region constraint needs VFM features: on with a VFM teacher, off for the self teachers
    assert set(terms) == ({"content", "context"} | ({"region"} if kind in ("onnx-vfm", "diffusion") else set()))
    assert all(v == v and v >= 0 for v in terms.values())
    evals = [e for e in sink.lines if e["event"] == "eval"]
    assert evals and "corr_agreement" in evals[0]["after"] and "mask_miou" in evals[0]["after"]


def test_prefetching_batches_changes_nothing(data_dir, tmp_path):
    outs = []
    for pf in (False, True):
        out = str(tmp_path / f"pf{int(pf)}")
        train(tiny_cfg(data_dir, out, steps=5, checkpoint_every=5, accumulation=2, prefetch=pf), quiet_events()[0])
        outs.append(torch_load(os.path.join(out, "checkpoint.pt"))["student_visual"])
    assert all(torch.equal(outs[0][k], outs[1][k]) for k in outs[0])


def test_object_boxes_and_teacher_square():
    from declip_torch.train_data import object_boxes, teacher_square

    m = np.zeros((40, 60), np.int64)
    m[5:15, 10:18] = 3  # 80 px, box 8 x 10
    m[20:30, 30:50] = 7  # 200 px
    m[0:2, 0:3] = 9  # 6 px: too small
    m[30:40, :] = 200  # a stuff label spanning the frame's width: box 60 x 10 = 25 % of the frame
    assert object_boxes(m, 8, min_px=20, max_box_frac=0.2) == [(30.0, 20.0, 50.0, 30.0), (10.0, 5.0, 18.0, 15.0)]
    assert object_boxes(m, 1, min_px=20, max_box_frac=0.2) == [(30.0, 20.0, 50.0, 30.0)]
    assert len(object_boxes(m, 8, min_px=20, max_box_frac=0.5)) == 3  # now the stuff box counts too
    assert object_boxes(m, 0) == [] and object_boxes(np.zeros((4, 4), np.int64), 5) == []
    assert teacher_square((10.0, 5.0, 18.0, 15.0), 60, 40, 1.4) == (7, 3, 21, 17)  # 14 x 14 around (14, 10)
    assert teacher_square((50.0, 30.0, 60.0, 40.0), 60, 40, 2.0) == (45, 25, 60, 40)  # clipped by the frame


def test_object_crops_add_tight_student_boxes_and_square_teacher_views(data_dir):
    from declip_torch.train_data import object_boxes, read_mask, teacher_square

    frames = load_dataset(data_dir)[:2]
    vc = get_preset("tiny").vision
    kw = dict(patch=16, min_size=64, max_size=64, crop_size=32, mean=vc.mean, std=vc.std, max_split=2, max_crops=3)
    plain = build_batch(frames, FrameCache(), step_rng(0, 0, 0), **kw)
    objs = build_batch(frames, FrameCache(), step_rng(0, 0, 0), object_crops=4, **kw)
    want = [object_boxes(read_mask(fr.mask), 4) for fr in frames]
    assert sum(map(len, want)) > 0
    assert objs.boxes.shape[0] == plain.boxes.shape[0] + sum(map(len, want))
    # frame 0's grid crops, then its object crops, then frame 1's
    n0 = int((plain.boxes[:, 0] == 0).sum())
    assert torch.equal(objs.boxes[:n0], plain.boxes[:n0]) and torch.equal(objs.crops[:n0], plain.crops[:n0])
    arr = FrameCache().image(frames[0])
    h, w = arr.shape[:2]
    sc = 64 / max(h, w)
    for j, box in enumerate(want[0]):
        row = objs.boxes[n0 + j]
        assert int(row[0]) == 0
        assert torch.allclose(row[1:], torch.tensor([box[0] * round(w * sc) / w, box[1] * round(h * sc) / h,
                                                     box[2] * round(w * sc) / w, box[3] * round(h * sc) / h]))
        x1, y1, x2, y2 = teacher_square(box, w, h, 1.4)
        x = torch.from_numpy(arr).permute(2, 0, 1).float() / 255.0
        ref = F.interpolate(x[None, :, y1:y2, x1:x2], size=(32, 32), mode="bilinear", align_corners=False,
                            antialias=True)[0]
        ref = (ref - torch.tensor(vc.mean).reshape(3, 1, 1)) / torch.tensor(vc.std).reshape(3, 1, 1)
        assert torch.allclose(objs.crops[n0 + j], ref, atol=1e-6)


def test_object_crops_train_and_bad_values_are_config_errors(data_dir, tmp_path):
    cfg = tiny_cfg(data_dir, str(tmp_path / "obj"), steps=2, object_crops=4, context_teachers=["mask-affinity"])
    ev, sink = quiet_events()
    s = train(cfg, events=ev)
    assert s["training"]["steps"] == 2
    for bad in (dict(object_crops=-1), dict(object_margin=0.5)):
        with pytest.raises(ConfigError, match="object-crops / object-margin"):
            train(tiny_cfg(data_dir, str(tmp_path / "bad"), steps=1, **bad), events=quiet_events()[0])
