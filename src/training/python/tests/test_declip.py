"""DeCLIP decoupled block, MaskCLIP baseline and ProxyCLIP head against direct re-computations of the formulas."""
import pytest
import torch
import torch.nn.functional as F

from declip_torch.config import get_preset
from declip_torch.heads import ImageEncoder, VfmFeatures, build_clip, decoupled_last_block, proxy_attention
from declip_torch.vit import build_vision


def _ln(x, mod):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + mod.eps) * mod.weight + mod.bias


def _softmax(a):
    e = torch.exp(a - a.max(-1, keepdim=True).values)
    return e / e.sum(-1, keepdim=True)


def reference_decoupled(block, x, mode, scale=None):
    """Hand-written DeCLIP last block: loops over heads, explicit weights, no residual, no MLP, no RoPE."""
    attn = block.attn
    wd = attn.dim
    hd = attn.head_dim
    s = hd ** -0.5 if scale is None else scale
    xn = _ln(x[0], block.norm1)  # [L, W]
    wq, wk, wv = attn.qkv.weight[:wd], attn.qkv.weight[wd:2 * wd], attn.qkv.weight[2 * wd:]
    kb = attn.k_bias if attn.k_bias is not None else torch.zeros(wd)
    q = xn @ wq.T + attn.q_bias
    k = xn @ wk.T + kb
    v = xn @ wv.T + attn.v_bias
    outs = []
    for h in range(attn.heads):
        sl = slice(h * hd, (h + 1) * hd)
        qh, kh, vh = q[:, sl], k[:, sl], v[:, sl]
        if mode == "v":
            a = torch.eye(x.shape[1])
        else:
            a = _softmax(qh @ qh.T * s)
            if mode == "csa":
                a = a + _softmax(kh @ kh.T * s)
        outs.append(a @ vh)
    o = torch.cat(outs, dim=-1)
    if attn.inner_ln is not None:
        o = _ln(o, attn.inner_ln)
    out = o @ attn.proj.weight.T + attn.proj.bias
    if block.ls1 is not None:
        out = out * block.ls1
    return out[None], q


@pytest.fixture(scope="module", params=["tiny", "tiny-eva02"])
def clip(request):
    torch.manual_seed(0)
    return build_clip(get_preset(request.param), seed=11)


@pytest.mark.parametrize("mode", ["qq", "csa", "v"])
def test_decoupled_block_matches_formula(clip, mode):
    x = torch.randn(1, 1 + 12, clip.visual.cfg.width)
    block = clip.visual.blocks[-1]
    with torch.no_grad():
        got, (q, k) = decoupled_last_block(block, x, mode)
        ref, ref_q = reference_decoupled(block, x, mode)
    assert torch.allclose(got, ref, atol=1e-5), (got - ref).abs().max()
    # context features are the plain (RoPE-free) per-head queries
    assert torch.allclose(q[0].transpose(0, 1).reshape(13, -1), ref_q, atol=1e-5)
    assert k.shape == q.shape == (1, block.attn.heads, 13, block.attn.head_dim)


def test_qq_and_csa_differ_and_scale_is_used(clip):
    x = torch.randn(1, 10, clip.visual.cfg.width)
    block = clip.visual.blocks[-1]
    with torch.no_grad():
        qq, _ = decoupled_last_block(block, x, "qq")
        csa, _ = decoupled_last_block(block, x, "csa")
        qq2, _ = decoupled_last_block(block, x, "qq", scale=0.7)
        ref2, _ = reference_decoupled(block, x, "qq", scale=0.7)
    assert (qq - csa).abs().max() > 1e-3
    assert (qq - qq2).abs().max() > 1e-4
    assert torch.allclose(qq2, ref2, atol=1e-5)


def test_decoupled_block_has_no_residual_and_no_mlp(clip):
    x = torch.randn(1, 10, clip.visual.cfg.width)
    block = clip.visual.blocks[-1]
    with torch.no_grad():
        before, _ = decoupled_last_block(block, x, "csa")
        before_shift, _ = decoupled_last_block(block, x * 2.0 + 0.0, "csa")
        saved = [p.clone() for p in block.mlp.parameters()]
        for p in block.mlp.parameters():
            p.add_(1.0)
        after, _ = decoupled_last_block(block, x, "csa")
        for p, s in zip(block.mlp.parameters(), saved):
            p.copy_(s)
        full = block(x)
    assert torch.equal(before, after)  # MLP unused
    assert (full - before).abs().max() > 1e-3  # differs from the normal block
    # LayerNorm input: scaling x (up to eps) leaves the content unchanged -> no residual path from x
    assert torch.allclose(before, before_shift, atol=1e-3)


@pytest.mark.parametrize("arch", ["declip-csa", "declip-qq", "clip-vanilla"])
def test_dense_features_are_head_projection_of_content_l2_normalised(clip, arch):
    enc = ImageEncoder(arch, clip.visual)
    pix = torch.randn(1, 3, 64, 48)
    with torch.no_grad():
        out = enc.run(pix)
        ref = F.normalize(clip.visual.head(clip.visual.norm(out.content)), dim=-1).reshape(1, 4, 3, -1)
        glob = F.normalize(clip.visual.encode_image(pix), dim=-1)
    assert out.dense.shape == (1, 4, 3, clip.visual.cfg.embed_dim)
    assert torch.allclose(out.dense, ref, atol=1e-6)
    assert torch.allclose(out.dense.norm(dim=-1), torch.ones(1, 4, 3), atol=1e-5)
    assert torch.allclose(out.global_embedding, glob, atol=1e-6)
    if arch != "clip-vanilla":
        assert out.q.shape == (1, clip.visual.cfg.heads, 12, clip.visual.cfg.head_dim)


def reference_proxy_attention(f, beta, gamma):
    f = f / f.norm(dim=-1, keepdim=True)
    sim = f @ f.transpose(-1, -2)
    sim = (sim - sim.mean() * beta) * gamma
    sim[sim < 0] = float("-inf")
    return torch.softmax(sim, dim=-1)


def test_proxy_attention_matches_proxyclip_formula():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(1, 20, 16, generator=g) + 0.5
    got = proxy_attention(f, beta=1.2, gamma=3.0)
    ref = reference_proxy_attention(f, 1.2, 3.0)
    assert torch.allclose(got, ref, atol=1e-6)
    assert torch.allclose(got.sum(-1), torch.ones(1, 20), atol=1e-5)
    assert (got == 0).any()  # negative (masked) similarities get no weight


def test_proxyclip_head_applies_vfm_attention_to_clip_values():
    clip = build_clip(get_preset("tiny"), seed=2)
    vfm = VfmFeatures(build_vision(get_preset("tiny-dinov2-reg").vision, seed=3), 16, (0.5,) * 3, (0.25,) * 3)
    enc = ImageEncoder("proxyclip", clip.visual, vfm)
    pix = torch.randn(1, 3, 48, 64)
    with torch.no_grad():
        out = enc.run(pix)
        feats = vfm(pix)
        assert feats.shape == (1, 3, 4, 32)
        x, _, _ = clip.visual.forward_until_last(pix)
        block = clip.visual.blocks[-1]
        wd = block.attn.dim
        hd = block.attn.head_dim
        v = (_ln(x[0], block.norm1) @ block.attn.qkv.weight[2 * wd:].T + block.attn.v_bias)[1:]
        a = reference_proxy_attention(feats.reshape(1, 12, -1), 1.2, 3.0)[0]
        o = torch.cat([a @ v[:, h * hd:(h + 1) * hd] for h in range(block.attn.heads)], dim=-1)
        content = o @ block.attn.proj.weight.T + block.attn.proj.bias
    assert torch.allclose(out.content[0], content, atol=1e-5)
    assert out.dense.shape == (1, 3, 4, 24)
