"""Our EVA02-CLIP-B/16 and DINOv2-B/14-reg towers against timm's, at full width on the CPU (issue #4).

Both models hold the same random weights (ours written under the release key names, loaded into timm by timm's own
checkpoint_filter_fn); their final-normed tokens and head outputs must agree to 1e-4. timm is a pinned test
dependency: a missing timm fails this test instead of skipping it.
"""
import pytest
import torch

from declip_torch.parity_timm import PAIRS, build_pair, compare

torch.set_num_threads(1)

TOLERANCE = 1e-4
SIZE = 224  # B/16: its native 14x14 grid; B/14-reg: a 16x16 grid, pos_embed resampled from the release's 37x37


def _require_timm():
    try:
        import timm  # noqa: F401
        return
    except ImportError as e:
        err = e
    pytest.fail(
        f"timm: cannot import timm ({type(err).__name__}: {err}). It is a pinned test dependency: run "
        f"`bash scripts/setup-python.sh`, which does `pip install -r src/training/python/requirements.txt` and "
        f"installs the lines marked `# no-deps` (timm) with `pip install --no-deps` so that PyPI's torch is not "
        f"pulled in; timm also needs the torchvision that matches torch (Debian: apt-get install -y "
        f"--no-install-recommends python3-torchvision, done by scripts/system-deps.sh)", pytrace=False)


@pytest.mark.parametrize("ours_name,timm_name", [(o, t) for o, t, _ in PAIRS], ids=[o for o, _, _ in PAIRS])
def test_matches_timm(ours_name, timm_name):
    _require_timm()
    ours, tm, how = build_pair(ours_name, timm_name, SIZE, seed=0)
    assert how.startswith("timm.models."), f"loaded with {how}, not timm's own checkpoint_filter_fn"
    x = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    tok, head = compare(ours, tm, x)
    assert tok <= TOLERANCE, f"{ours_name} vs {timm_name}: final-normed tokens differ by {tok:.3e}"
    assert head <= TOLERANCE, f"{ours_name} vs {timm_name}: head outputs differ by {head:.3e}"
    # the comparison can fail: nudge one early timm weight (one channel: a shift of all channels alike would be
    # removed by every LayerNorm), and the same check must see the tokens move
    with torch.no_grad():
        tm.patch_embed.proj.bias[0] += 1e-2
    moved, _ = compare(ours, tm, x)
    print(f"{ours_name} vs {timm_name} @ {SIZE}: tokens {tok:.3e}, head {head:.3e}; perturbed {moved:.3e}")
    assert moved > 10 * TOLERANCE, f"a perturbed timm model still matches ({moved:.3e}): the comparison is vacuous"
