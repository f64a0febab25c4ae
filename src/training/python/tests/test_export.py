"""Exporter: every architecture (tiny configs) exports a package per src/perception/manifest.ts and passes parity."""
import gzip
import hashlib
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from declip_torch.config import get_preset
from declip_torch.errors import ParityError
from declip_torch.export import ExportOptions, export_package, main
from declip_torch.heads import build_clip
from declip_torch.keymap import clip_to_external

MANIFEST_KEYS = {"format_version", "name", "version", "architecture", "image", "feature_dim", "logit_scale",
                 "tokenizer", "text", "prompt_templates", "files", "provenance"}
IMAGE_KEYS = {"input_size", "resize", "patch_size", "dynamic_hw", "mean", "std"}
FILE_KEYS = {"file", "sha256", "inputs", "outputs", "dtype"}


@pytest.fixture(scope="module")
def words(tmp_path_factory):
    p = tmp_path_factory.mktemp("vocab") / "words.txt"
    p.write_text("mug\nbox\nbrick\nMug\n")
    return str(p)


def _sess(path):
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"])


def _check_package(out, arch, feature_dim, patch, fp16=False):
    m = json.load(open(os.path.join(out, "model.json")))
    assert set(m) == MANIFEST_KEYS
    assert set(m["image"]) == IMAGE_KEYS
    assert m["format_version"] == 1 and m["architecture"] == arch
    assert m["image"]["patch_size"] == patch and m["image"]["dynamic_hw"] is True
    assert m["feature_dim"] == feature_dim
    assert m["text"] == {"input_dtype": "int64"}
    assert os.path.isfile(os.path.join(out, m["tokenizer"]["vocab_file"]))
    assert m["provenance"]["command"].startswith(
        ("python -m declip_torch.export", "declip_torch.export.export_package("))
    expected_files = {"image_encoder", "text_encoder"} | ({"vfm"} if arch == "proxyclip" else set())
    assert set(m["files"]) == expected_files
    for key, spec in m["files"].items():
        assert set(spec) == FILE_KEYS
        path = os.path.join(out, spec["file"])
        assert hashlib.sha256(open(path, "rb").read()).hexdigest() == spec["sha256"]
        model = onnx.load(path)
        assert [i.name for i in model.graph.input] == spec["inputs"]
        assert [o.name for o in model.graph.output] == spec["outputs"]
        assert spec["dtype"] == ("float16" if fp16 else "float32")
        assert model.opset_import[0].version == 17
        dims = [[d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input]
        assert dims == ([[1, 3, "height", "width"]] if key != "text_encoder" else [["batch", 77]])
    parity = json.load(open(os.path.join(out, "parity.json")))
    assert set(parity) == expected_files and all(r["passed"] for r in parity.values())
    assert all(v["passed"] for v in m["provenance"]["parity"].values())
    return m


@pytest.mark.parametrize("arch,backbone,extra", [
    ("declip-csa", "tiny-eva02", []),
    ("declip-qq", "tiny", []),
    ("clip-vanilla", "tiny", ["--input-size", "48x64"]),
    ("proxyclip", "tiny", ["--vfm-backbone", "tiny-dinov2-reg"]),
])
def test_every_architecture_exports_and_passes_parity(tmp_path, words, arch, backbone, extra):
    out = str(tmp_path / arch)
    rc = main(["--arch", arch, "--backbone", backbone, "--random-init", "--seed", "3", "--out", out,
               "--word-vocab", words] + extra)
    assert rc == 0
    m = _check_package(out, arch, 24, 16)
    assert m["tokenizer"]["type"] == "word"
    vocab = open(os.path.join(out, "vocab.txt")).read().split("\n")
    assert vocab[:5] == ["<pad>", "<unk>", "mug", "box", "brick"]
    assert m["tokenizer"]["eot_id"] == 6 and m["tokenizer"]["sot_id"] == 5
    # dynamic H, W: a size never seen at export runs, outputs are unit vectors on the patch grid
    d, g = _sess(os.path.join(out, "image_encoder.onnx")).run(
        None, {"pixels": np.random.default_rng(0).standard_normal((1, 3, 96, 32)).astype(np.float32)})
    assert d.shape == (1, 6, 2, 24) and g.shape == (1, 24)
    assert np.allclose(np.linalg.norm(d, axis=-1), 1, atol=1e-5)
    ids = np.zeros((4, 77), dtype=np.int64)
    ids[:, 0], ids[:, 1], ids[:, 2] = 5, 2, 6
    (t,) = _sess(os.path.join(out, "text_encoder.onnx")).run(None, {"input_ids": ids})
    assert t.shape == (4, 24) and np.allclose(t[0], t[3], atol=1e-6)
    if arch == "proxyclip":
        assert m["provenance"]["teachers"] == ["tiny-dinov2-reg"]
        (f,) = _sess(os.path.join(out, "vfm.onnx")).run(
            None, {"pixels": np.zeros((1, 3, 64, 48), dtype=np.float32)})
        assert f.shape == (1, 4, 3, 32)


@pytest.mark.parametrize("arch,backbone,vfm", [("declip-csa", "tiny", None),
                                               ("proxyclip", "tiny-eva02", "tiny-dinov2-reg")])
def test_fp16_export_runs_with_float16_io(tmp_path, words, arch, backbone, vfm):
    out = str(tmp_path / "fp16")
    export_package(ExportOptions(arch=arch, backbone=backbone, vfm_backbone=vfm, out=out, random_init=True,
                                 fp16=True, word_vocab=words), log=lambda s: None)
    _check_package(out, arch, 24, 16, fp16=True)
    s = _sess(os.path.join(out, "image_encoder.onnx"))
    assert s.get_inputs()[0].type == "tensor(float16)"
    d, _ = s.run(None, {"pixels": np.zeros((1, 3, 64, 64), dtype=np.float16)})
    assert d.dtype == np.float16


def test_checkpoint_export_matches_the_loaded_model_and_records_provenance(tmp_path, words):
    preset = get_preset("tiny-eva02")
    model = build_clip(preset, seed=9)
    ck = tmp_path / "declip_eva02_tiny.pt"
    torch.save(clip_to_external(model, preset), ck)
    bpe = tmp_path / "bpe_simple_vocab_16e6.txt.gz"
    with gzip.open(bpe, "wt") as f:
        f.write("\"bpe_simple_vocab_16e6.txt#version: 0.2\ni n\n")
    out = str(tmp_path / "pkg")
    assert main(["--arch", "declip-qq", "--backbone", "tiny-eva02", "--checkpoint", str(ck), "--out", out,
                 "--bpe-vocab", str(bpe), "--resize", "short_side", "--scale", "0.2"]) == 0
    m = _check_package(out, "declip-qq", 24, 16)
    assert m["tokenizer"] == {"type": "clip-bpe", "vocab_file": "bpe_simple_vocab_16e6.txt.gz", "context_length": 77,
                              "sot_id": 49406, "eot_id": 49407, "pad_id": 0}
    assert m["image"]["resize"] == "short_side"
    prov = m["provenance"]
    assert prov["checkpoint"]["sha256"] == hashlib.sha256(ck.read_bytes()).hexdigest()
    assert "--scale 0.2" in prov["command"] and "scale 0.2" in prov["notes"]
    from declip_torch.heads import ImageEncoder

    pix = np.random.default_rng(1).standard_normal((1, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        ref, _ = ImageEncoder("declip-qq", model.visual, scale=0.2)(torch.from_numpy(pix))
    d, _ = _sess(os.path.join(out, "image_encoder.onnx")).run(None, {"pixels": pix})
    assert np.abs(d - ref.numpy()).max() < 1e-4


def test_clear_errors_exit_code_2(tmp_path, words, capsys):
    base = ["--random-init", "--out", str(tmp_path / "x"), "--word-vocab", words]
    assert main(["--arch", "segformer", "--backbone", "tiny"] + base) == 2
    assert "arch: unknown architecture 'segformer'" in capsys.readouterr().err
    assert main(["--arch", "declip-csa", "--backbone", "tiny", "--input-size", "70"] + base) == 2
    assert "not a multiple of the patch size 16" in capsys.readouterr().err
    assert main(["--arch", "proxyclip", "--backbone", "tiny"] + base) == 2
    assert "--vfm-backbone" in capsys.readouterr().err
    preset = get_preset("tiny")
    ck = tmp_path / "openai_tiny.pt"
    torch.save(clip_to_external(build_clip(preset, seed=1), preset), ck)
    assert main(["--arch", "declip-csa", "--backbone", "tiny-eva02", "--checkpoint", str(ck), "--out",
                 str(tmp_path / "y"), "--word-vocab", words]) == 2
    err = capsys.readouterr().err
    assert "family 'openai'" in err and "matching preset(s): tiny" in err
    assert main(["--arch", "declip-csa", "--backbone", "tiny", "--random-init", "--out", str(tmp_path / "z")]) == 2
    assert "--bpe-vocab" in capsys.readouterr().err


def test_export_fails_loudly_when_parity_is_out_of_tolerance(tmp_path, words):
    with pytest.raises(ParityError, match="image_encoder.onnx disagrees with PyTorch"):
        export_package(ExportOptions(arch="clip-vanilla", backbone="tiny", out=str(tmp_path / "p"), random_init=True,
                                     word_vocab=words, tolerance=-1.0), log=lambda s: None)
    assert not os.path.exists(tmp_path / "p" / "model.json")


def test_optional_graph_optimisation_is_parity_checked(tmp_path, words):
    out = str(tmp_path / "opt")
    m = export_package(ExportOptions(arch="declip-qq", backbone="tiny-eva02", out=out, random_init=True,
                                     word_vocab=words, optimize=True), log=lambda s: None)
    assert m["provenance"]["optimized"] == ["image_encoder.onnx", "text_encoder.onnx"]
    assert m["provenance"]["parity"]["image_encoder"]["max_abs_diff"] <= 1e-4
    _check_package(out, "declip-qq", 24, 16)


@pytest.mark.parametrize("runtime,label", [("node", "onnxruntime-node"), ("python", "onnxruntime python")])
def test_parity_runs_on_onnxruntime_node_and_python(tmp_path, words, runtime, label):
    out = str(tmp_path / runtime)
    m = export_package(ExportOptions(arch="declip-csa", backbone="tiny", out=out, random_init=True,
                                     word_vocab=words, parity_runtime=runtime), log=lambda s: None)
    for rep in m["provenance"]["parity"].values():
        assert rep["runtime"].startswith(label) and rep["max_abs_diff"] <= 1e-4
    rep = json.load(open(os.path.join(out, "parity.json")))["image_encoder"]
    assert [c["outputs"]["dense_features"]["shape"] for c in rep["cases"]] == [[1, 4, 4, 24], [1, 5, 3, 24]]


def test_auto_parity_runtime_prefers_onnxruntime_node():
    from declip_torch.parity import find_ort_node, resolve_runtime

    assert find_ort_node() is not None, "node + onnxruntime-node expected (run npm ci in the repo root)"
    assert resolve_runtime("auto") == "node"


def test_visual_only_checkpoint_with_text_tower_from_base_checkpoint(tmp_path, words, capsys):
    preset = get_preset("tiny-eva02")
    base = build_clip(preset, seed=1)
    tuned = build_clip(preset, seed=2)
    full = clip_to_external(tuned, preset)
    torch.save({k: v for k, v in full.items() if k.startswith("visual.")}, tmp_path / "visual_only.pt")
    torch.save(clip_to_external(base, preset), tmp_path / "base.pt")
    args = ["--arch", "declip-csa", "--backbone", "tiny-eva02", "--word-vocab", words]
    assert main(args + ["--checkpoint", str(tmp_path / "visual_only.pt"), "--out", str(tmp_path / "a")]) == 2
    assert "missing keys" in capsys.readouterr().err
    out = str(tmp_path / "b")
    assert main(args + ["--checkpoint", str(tmp_path / "visual_only.pt"), "--text-checkpoint",
                        str(tmp_path / "base.pt"), "--out", out]) == 0
    ids = np.zeros((1, 77), dtype=np.int64)
    ids[0, :3] = [5, 2, 6]
    (t,) = _sess(os.path.join(out, "text_encoder.onnx")).run(None, {"input_ids": ids})
    with torch.no_grad():
        ref = base.text.encode(torch.from_numpy(ids)).numpy()
    assert np.abs(t - ref).max() < 1e-5
    assert json.load(open(os.path.join(out, "model.json")))["provenance"]["text_checkpoint"]["file"] == "base.pt"
