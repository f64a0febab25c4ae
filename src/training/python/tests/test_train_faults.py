"""Trainer faults (issue 11): kill -9 at several seeded-random points of one run, resuming each time, ends with the
same student and metrics as an uninterrupted run; a disk-full error while writing a checkpoint leaves the previous
checkpoint intact and the run resumable to the same result."""
import errno
import json
import os
import random
import signal
import subprocess
import sys

import pytest
import torch

import declip_torch.train as train_mod
from declip_torch.train import Events, TrainConfig, torch_load, train
from declip_torch.train_data import make_synthetic_dataset

torch.set_num_threads(1)
PKG_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
STEPS = 12


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_synthetic_dataset(str(tmp_path_factory.mktemp("frames")), n=6, size=(64, 80), seed=4)


def cfg_dict(data, out):
    return dict(data=data, out=out, backbone="tiny", random_init=True, vfm_backbone="tiny-dinov2-reg",
                vfm_random_init=True, student_min_size=48, student_max_size=64, crop_size=32, max_crops=4,
                batch_size=2, steps=STEPS, lr=2e-3, checkpoint_every=3, threads=1, eval=False, seed=9)


def write_cfg(data, out):
    path = out + ".json"
    with open(path, "w") as f:
        json.dump(cfg_dict(data, out), f)
    return path


def run_cli(cfg_path, kill_at_step=None):
    """Runs the trainer; with kill_at_step, SIGKILLs it as soon as it reports that step (mid-run, often between a
    step and the next checkpoint write). Returns (returncode, events)."""
    env = dict(os.environ, PYTHONPATH=PKG_ROOT)
    p = subprocess.Popen([sys.executable, "-m", "declip_torch.train", "--config", cfg_path], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, env=env, text=True)
    events = []
    assert p.stdout is not None
    for line in p.stdout:
        ev = json.loads(line)
        events.append(ev)
        if kill_at_step is not None and ev["event"] in ("step", "checkpoint") and ev.get("step", 0) >= kill_at_step:
            os.kill(p.pid, signal.SIGKILL)
            break
    p.wait()
    return p.returncode, events


def student(out):
    return torch_load(os.path.join(out, "final", "student.pt"))["state_dict"]


def metrics(out):
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [json.loads(x) for x in f]


def test_kill9_at_random_points_then_resume_equals_uninterrupted(data_dir, tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    rc, _ = run_cli(write_cfg(data_dir, a))
    assert rc == 0
    kills = sorted(random.Random(20261202).sample(range(2, STEPS), 3))
    killed = 0
    for k in kills:
        rc, ev = run_cli(write_cfg(data_dir, b), kill_at_step=k)
        if rc == -signal.SIGKILL:
            killed += 1
            assert not os.path.exists(os.path.join(b, "final", "student.pt"))
    assert killed >= 2
    rc, ev = run_cli(write_cfg(data_dir, b))
    assert rc == 0 and ev[-1]["event"] == "done"
    assert ev[0]["resumed"]
    sa, sb = student(a), student(b)
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert [m["step"] for m in metrics(b)] == list(range(1, STEPS + 1))
    assert metrics(a) == metrics(b)


def test_disk_full_while_checkpointing_keeps_the_previous_checkpoint(data_dir, tmp_path, monkeypatch):
    ref = str(tmp_path / "ref")
    train(TrainConfig(**cfg_dict(data_dir, ref)), Events(stream=open(os.devnull, "w"), quiet=True))
    out = str(tmp_path / "full")
    real_save = torch.save
    calls = {"n": 0}

    def save_then_enospc(obj, f, *args, **kw):
        calls["n"] += 1
        if calls["n"] == 2:  # the second checkpoint: write part of it, then the disk is full
            f.write(b"\x00" * 1000)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *args, **kw)

    monkeypatch.setattr(train_mod.torch, "save", save_then_enospc)
    with pytest.raises(OSError) as e:
        train(TrainConfig(**cfg_dict(data_dir, out)), Events(stream=open(os.devnull, "w"), quiet=True))
    assert e.value.errno == errno.ENOSPC
    ck = torch_load(os.path.join(out, "checkpoint.pt"))
    assert ck["step"] == 3  # the first checkpoint, intact and loadable
    monkeypatch.setattr(train_mod.torch, "save", real_save)
    train(TrainConfig(**cfg_dict(data_dir, out)), Events(stream=open(os.devnull, "w"), quiet=True))
    sa, sb = student(ref), student(out)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert metrics(ref) == metrics(out)
