"""Checkpoints are data: the exporter reads them with torch.load(weights_only=True) (torch >= 1.13), so a pickle
that would run code is refused, and only an explicit DECLIP_TRUST_CHECKPOINT=1 loads non-weight objects."""
import argparse
import os

import pytest
import torch

from declip_torch.errors import CheckpointError
from declip_torch.keymap import TRUST_ENV, load_checkpoint_file, torch_has_weights_only


class _Boom:
    """Unpickling this creates a marker file: proof that code from the checkpoint ran."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_this_torch_has_weights_only():
    # Debian's python3-torch 1.13 has it; the safe path below is the one actually used
    assert torch_has_weights_only()


def test_plain_state_dict_loads(tmp_path):
    p = tmp_path / "ok.pt"
    torch.save({"epoch": 3, "state_dict": {"w": torch.ones(2)}}, p)
    sd = load_checkpoint_file(str(p))
    assert torch.equal(sd["w"], torch.ones(2))


def test_code_in_a_checkpoint_is_never_executed(tmp_path, monkeypatch):
    monkeypatch.delenv(TRUST_ENV, raising=False)
    marker = tmp_path / "pwned"
    p = tmp_path / "evil.pt"
    torch.save({"state_dict": {"w": torch.ones(1)}, "payload": _Boom(str(marker))}, p)
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint_file(str(p))
    assert not marker.exists()


def test_non_weight_objects_need_explicit_trust(tmp_path, monkeypatch):
    p = tmp_path / "args.pt"
    torch.save({"state_dict": {"w": torch.zeros(3)}, "args": argparse.Namespace(lr=0.1)}, p)
    monkeypatch.delenv(TRUST_ENV, raising=False)
    with pytest.raises(CheckpointError, match=TRUST_ENV):
        load_checkpoint_file(str(p))
    monkeypatch.setenv(TRUST_ENV, "1")
    sd = load_checkpoint_file(str(p))
    assert sd["w"].shape == (3,)
    assert os.environ[TRUST_ENV] == "1"
