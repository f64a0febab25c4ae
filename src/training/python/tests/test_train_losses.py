"""Distillation losses, crops, teachers and schedule against direct re-computations of their formulas."""
import math
import random
import types

import pytest
import torch
import torch.nn.functional as F

from declip_torch.errors import ConfigError
from declip_torch.teachers import DiffusionRefinedTeacher, TeacherAffinity, mask_affinity, parse_teacher_spec
from declip_torch.train import TrainConfig, correlation_agreement, lr_at, prototype_miou
from declip_torch.train_data import patch_labels_from_mask, sample_grid_boxes
from declip_torch.train_losses import (content_loss, context_features, gram_distance, region_correlation_loss,
                                       roi_align, student_context_gram)

torch.set_num_threads(1)


def naive_bilinear(f, y, x):
    """torchvision's roi_align bilinear_interpolate, scalar by scalar (f [C, H, W])."""
    _, h, w = f.shape
    if y < -1.0 or y > h or x < -1.0 or x > w:
        return torch.zeros(f.shape[0], dtype=f.dtype)
    y, x = max(y, 0.0), max(x, 0.0)
    yl, xl = int(y), int(x)
    if yl >= h - 1:
        yh = yl = h - 1
        y = float(yl)
    else:
        yh = yl + 1
    if xl >= w - 1:
        xh = xl = w - 1
        x = float(xl)
    else:
        xh = xl + 1
    ly, lx = y - yl, x - xl
    hy, hx = 1 - ly, 1 - lx
    return hy * hx * f[:, yl, xl] + hy * lx * f[:, yl, xh] + ly * hx * f[:, yh, xl] + ly * lx * f[:, yh, xh]


def naive_roi_align(feat, boxes, out, scale, sr=-1, aligned=True):
    oh, ow = out
    res = torch.zeros(boxes.shape[0], feat.shape[1], oh, ow, dtype=feat.dtype)
    off = 0.5 if aligned else 0.0
    for r in range(boxes.shape[0]):
        b = boxes[r].tolist()
        f = feat[int(b[0])]
        x1, y1, x2, y2 = (v * scale - off for v in b[1:])
        rw, rh = x2 - x1, y2 - y1
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bh, bw = rh / oh, rw / ow
        gh = sr if sr > 0 else math.ceil(rh / oh)
        gw = sr if sr > 0 else math.ceil(rw / ow)
        cnt = max(gh * gw, 1)
        for ph in range(oh):
            for pw in range(ow):
                acc = torch.zeros(feat.shape[1], dtype=feat.dtype)
                for iy in range(gh):
                    yy = y1 + ph * bh + (iy + 0.5) * bh / gh
                    for ix in range(gw):
                        xx = x1 + pw * bw + (ix + 0.5) * bw / gw
                        acc += naive_bilinear(f, yy, xx)
                res[r, :, ph, pw] = acc / cnt
    return res


BOXES = torch.tensor([[0, 0.0, 0.0, 28.0, 20.0], [1, 3.3, 5.1, 17.9, 40.0], [0, 40.0, 30.0, 56.0, 40.0],
                      [1, 10.0, 2.0, 11.0, 3.5], [0, -4.0, -3.0, 60.0, 44.0]], dtype=torch.float64)


@pytest.mark.parametrize("out,sr,aligned", [((1, 1), -1, True), ((2, 3), -1, True), ((4, 4), 2, True),
                                            ((1, 1), -1, False), ((3, 2), 1, False)])
def test_roi_align_matches_torchvision_semantics(out, sr, aligned):
    g = torch.Generator().manual_seed(0)
    feat = torch.randn(2, 3, 5, 7, generator=g, dtype=torch.float64)
    got = roi_align(feat, BOXES, out, 1 / 8, sr, aligned)
    ref = naive_roi_align(feat, BOXES, out, 1 / 8, sr, aligned)
    assert got.shape == (5, 3) + out
    assert torch.allclose(got, ref, atol=1e-12)


def test_roi_align_is_differentiable():
    feat = torch.randn(1, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    y = roi_align(feat, BOXES[:1].clone().fill_(0)[:, :5] + torch.tensor([[0, 0, 0, 16.0, 16.0]],
                                                                         dtype=torch.float64), (1, 1), 1 / 4)
    y.sum().backward()
    # a box over the whole 4x4 map with 4x4 samples at cell centres: every cell weighs 1/16
    assert torch.allclose(feat.grad, torch.full_like(feat, 1 / 16))


def test_content_loss_formula():
    g = torch.Generator().manual_seed(1)
    dense = F.normalize(torch.randn(2, 5, 7, 6, generator=g, dtype=torch.float64), dim=-1)
    temb = F.normalize(torch.randn(5, 6, generator=g, dtype=torch.float64), dim=-1)
    got = content_loss(dense, BOXES, temb, 8)
    roi = naive_roi_align(dense.permute(0, 3, 1, 2), BOXES, (1, 1), 1 / 8)[:, :, 0, 0]
    ref = sum(1 - float(roi[i] @ temb[i] / roi[i].norm()) for i in range(5)) / 5
    assert abs(float(got) - ref) < 1e-12


def _rand_gram(g, b, n):
    f = F.normalize(torch.randn(b, n, 4, generator=g, dtype=torch.float64), dim=-1)
    return f @ f.transpose(1, 2)


def test_gram_distance_l2_rows():
    g = torch.Generator().manual_seed(2)
    s, t = _rand_gram(g, 2, 6), _rand_gram(g, 2, 6)
    valid = torch.tensor([[1, 1, 0, 1, 1, 1], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    got = float(gram_distance(s, t, "l2", valid))
    rows = []
    for b in range(2):
        for i in range(6):
            if valid[b, i]:
                rows.append(math.sqrt(sum(float(t[b, i, j] - s[b, i, j]) ** 2 for j in range(6) if valid[b, j])))
    assert abs(got - sum(rows) / len(rows)) < 1e-6
    # no mask: (T - S).norm(dim=-1).mean(), the released code's form
    assert abs(float(gram_distance(s, t, "l2")) - float((t - s).norm(p=2, dim=-1).mean())) < 1e-6


def test_gram_distance_kl_rows():
    g = torch.Generator().manual_seed(3)
    s, t = _rand_gram(g, 1, 5), _rand_gram(g, 1, 5)
    valid = torch.tensor([[1, 0, 1, 1, 1]], dtype=torch.bool)
    tau = 0.2
    got = float(gram_distance(s, t, "kl", valid, tau))
    idx = [0, 2, 3, 4]
    kls = []
    for i in idx:
        p = torch.softmax(t[0, i, idx] / tau, 0)
        q = torch.softmax(s[0, i, idx] / tau, 0)
        kls.append(float((p * (p / q).log()).sum()))
    assert abs(got - sum(kls) / len(kls)) < 1e-5
    assert float(gram_distance(t, t, "kl")) < 1e-6


def test_gram_distance_rejects_unknown_form():
    with pytest.raises(ConfigError, match="form"):
        gram_distance(torch.eye(2)[None], torch.eye(2)[None], "cosine")


def test_student_context_gram_csa_and_qq():
    g = torch.Generator().manual_seed(4)
    q = torch.randn(2, 3, 6, 4, generator=g, dtype=torch.float64)
    k = torch.randn(2, 3, 6, 4, generator=g, dtype=torch.float64)

    def cat_norm(x):
        c = torch.cat([x[:, h] for h in range(3)], dim=-1)  # heads concatenated
        return c / c.norm(dim=-1, keepdim=True)

    gq = cat_norm(q) @ cat_norm(q).transpose(1, 2)
    gk = cat_norm(k) @ cat_norm(k).transpose(1, 2)
    assert torch.allclose(student_context_gram(q, k, "qq", (2, 3), (2, 3)), gq)
    assert torch.allclose(student_context_gram(q, k, "csa", (2, 3), (2, 3)), (gq + gk) / 2)


def test_context_features_resized_to_the_vfm_grid():
    q = torch.randn(1, 2, 4 * 4, 3, dtype=torch.float64)
    fq, _ = context_features(q, None, (4, 4), (2, 2))
    m = torch.cat([q[:, 0], q[:, 1]], -1).transpose(1, 2).reshape(1, 6, 4, 4)
    ref = F.interpolate(m, size=(2, 2), mode="bilinear", align_corners=False).flatten(2).transpose(1, 2)
    assert fq.shape == (1, 4, 6) and torch.allclose(fq, ref)


def test_region_correlation_formula():
    g = torch.Generator().manual_seed(5)
    s = torch.randn(2, 5, 7, 6, generator=g, dtype=torch.float64)
    t = torch.randn(2, 5, 7, 3, generator=g, dtype=torch.float64)
    got = float(region_correlation_loss(s, t, BOXES[:3], 8, points=2))
    rs = naive_roi_align(s.permute(0, 3, 1, 2), BOXES[:3], (2, 2), 1 / 8).flatten(2).transpose(1, 2)
    rt = naive_roi_align(t.permute(0, 3, 1, 2), BOXES[:3], (2, 2), 1 / 8).flatten(2).transpose(1, 2)
    tot = []
    for r in range(3):
        a = F.normalize(rs[r], dim=-1)
        b = F.normalize(rt[r], dim=-1)
        cs, ct = a @ a.T, b @ b.T
        tot += [float((ct[i] - cs[i]).norm()) for i in range(4)]
    assert abs(got - sum(tot) / len(tot)) < 1e-6


def test_mask_affinity_and_patch_labels():
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 0, 0], [2, 2, -1, -1], [2, 2, -1, -1]])
    lab = patch_labels_from_mask(mask, 2)
    assert lab.tolist() == [1, 0, 2, -1]
    a = mask_affinity(lab[None])
    assert a.gram[0].tolist() == [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    assert a.valid[0].tolist() == [True, True, True, False]
    assert mask_affinity(lab[None], "ignore").valid[0].tolist() == [True, False, True, False]


def test_grid_crops_follow_the_declip_rule():
    seen = set()
    for s in range(400):
        rng = random.Random(s)
        boxes = sample_grid_boxes(640, 480, rng)
        rng2 = random.Random(s)
        m = rng2.randint(1, 6)
        n = rng2.randint(math.ceil(m / 2), min(2 * m, 6))
        assert 1 <= m <= 6 and math.ceil(m / 2) <= n <= min(2 * m, 6)
        assert len(boxes) == min(20, m * n)
        for (x1, y1, x2, y2) in boxes:
            assert abs((x2 - x1) - 640 / n) < 1e-9 and abs((y2 - y1) - 480 / m) < 1e-9
            assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 480
        if m * n <= 20:  # the cells tile the image
            assert abs(sum((b[2] - b[0]) * (b[3] - b[1]) for b in boxes) - 640 * 480) < 1e-6
        seen.add((m, n))
    assert (1, 1) in seen and (6, 6) in seen and (1, 3) not in seen


def test_teacher_spec_parsing():
    sp = parse_teacher_spec("self-layer:6,weight=0.5,form=kl")
    assert (sp.kind, sp.arg, sp.weight, sp.options["form"]) == ("self-layer", "6", 0.5, "kl")
    assert parse_teacher_spec("mask-affinity").weight is None
    for bad, msg in [("clip", "unknown teacher kind"), ("self-layer:x", "block number"),
                     ("vfm,colour=red", "bad option"), ("diffusion", "provider file"), ("vfm,student=x", "student")]:
        with pytest.raises(ConfigError, match=msg):
            parse_teacher_spec(bad)


def test_diffusion_refinement_formula():
    class Base:
        name = "b"

        def affinity(self, batch):
            return TeacherAffinity(gram=torch.tensor([[[1.0, 0.2], [0.2, 1.0]]]))

    p = torch.tensor([[[0.5, 0.5], [0.0, 1.0]]])
    t = DiffusionRefinedTeacher(Base(), lambda pix, grid, ck: p, None, lam=0.25)
    a = torch.tensor([[1.0, 0.2], [0.2, 1.0]])
    ref = 0.75 * a + 0.25 * (p[0] @ a @ p[0].T)
    batch = types.SimpleNamespace(pixels=torch.zeros(1, 3, 2, 4), grid=(1, 2))
    assert torch.allclose(t.affinity(batch).gram[0], ref)
    ident = DiffusionRefinedTeacher(Base(), lambda pix, grid, ck: torch.eye(2)[None], None, lam=0.7)
    assert torch.allclose(ident.affinity(batch).gram[0], a)


def test_lr_schedule_warmup_then_cosine():
    cfg = TrainConfig(data="d", out="o", lr=1e-3, warmup_steps=4, min_lr_ratio=0.1)
    assert lr_at(0, 20, cfg) == pytest.approx(2.5e-4)
    assert lr_at(3, 20, cfg) == pytest.approx(1e-3)
    assert lr_at(4, 20, cfg) == pytest.approx(1e-3)
    assert lr_at(12, 20, cfg) == pytest.approx(1e-4 + 0.9e-3 * 0.5)
    assert lr_at(20, 20, cfg) == pytest.approx(1e-4)


def test_eval_metrics():
    labels = torch.tensor([0, 0, 1, 1, 2, -1])
    feats = F.one_hot(labels.clamp_min(0), 3).double()
    assert prototype_miou(feats, labels) == pytest.approx(1.0)
    mixed = torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]])
    # patch 1 (label 0) goes to segment 1: IoU(0) = 1/2, IoU(1) = 2/3, IoU(2) = 1
    assert prototype_miou(mixed, labels) == pytest.approx((0.5 + 2 / 3 + 1) / 3, abs=1e-9)
    g = _rand_gram(torch.Generator().manual_seed(6), 1, 5)[0]
    v = torch.ones(5, dtype=torch.bool)
    assert correlation_agreement(g, g, v) == pytest.approx(1.0)
    assert correlation_agreement(g, -g, v) == pytest.approx(-1.0)
