#!/usr/bin/env python3
"""Model packages small enough to carry to a GPU machine: the ONNX graphs without their weights.

Random-weight B/16 packages are 0.3-0.6 GB and random numbers do not compress, but a benchmark does not care which
random numbers it multiplies. `strip` moves every float initializer of the package's ONNX files into external
data, writes the graph (a few MB) and a JSON list of the external tensors (file, offset, length, dtype), and drops
the data file. `bench/fill_weights.ts` (on the GPU machine) writes fresh seeded random data of the same layout and
updates model.json's sha256 fields, so the package loads as usual.

    .venv/bin/python bench/gpu_skeleton.py strip out/models/b16-448 .node/models/b16-448
    node out/bench-build/bench/fill_weights.js .node/models/b16-448          # on the GPU machine

Optionally `--fuse-attention` runs onnxruntime's transformer optimizer (model_type 'vit', attention fusion into
the Attention / MultiHeadAttention contrib op) on the image encoder first and reports how many blocks it fused.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections import Counter

import onnx
from onnx import numpy_helper  # noqa: F401  (import check: onnx is complete)

FLOAT_TYPES = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.FLOAT16: "float16"}


def fuse_attention(path: str, heads: int, hidden: int, log=print) -> dict:
    from onnxruntime.transformers.optimizer import optimize_model

    before = Counter(n.op_type for n in onnx.load(path, load_external_data=False).graph.node)
    m = optimize_model(path, model_type="vit", num_heads=heads, hidden_size=hidden, opt_level=0)
    ops = Counter(n.op_type for n in m.model.graph.node)
    fused = ops.get("Attention", 0) + ops.get("MultiHeadAttention", 0)
    log(f"  transformer optimizer: {fused} fused attention node(s); Softmax {before.get('Softmax', 0)} -> "
        f"{ops.get('Softmax', 0)}, LayerNormalization {before.get('LayerNormalization', 0)} -> "
        f"{ops.get('LayerNormalization', 0) + ops.get('SkipLayerNormalization', 0)}")
    if fused:
        m.save_model_to_file(path, use_external_data_format=False)
    return {"fused_attention": fused, "ops": dict(ops)}


def strip(src: str, dst: str, fuse: bool = False) -> dict:
    manifest = json.load(open(os.path.join(src, "model.json")))
    os.makedirs(dst, exist_ok=True)
    layout = {"files": {}}
    for role, spec in manifest["files"].items():
        f = spec["file"]
        src_path = os.path.join(src, f)
        if fuse and role == "image_encoder":
            tmp = os.path.join(dst, f + ".fused.onnx")
            shutil.copyfile(src_path, tmp)
            dim = manifest.get("feature_dim")
            info = fuse_attention(tmp, heads=12, hidden=768)
            layout["fusion"] = info | {"feature_dim": dim}
            src_path = tmp
        model = onnx.load(src_path)
        data_name = f + ".data"
        tensors = []
        offset = 0
        for init in model.graph.initializer:
            if init.data_type not in FLOAT_TYPES or not init.raw_data and not init.float_data:
                continue
            raw = init.raw_data if init.raw_data else numpy_helper.to_array(init).tobytes()
            if len(raw) < 1024:
                continue
            # 64-byte aligned external data, as onnx's converter lays it out
            offset = (offset + 63) // 64 * 64
            length = len(raw)
            init.ClearField("raw_data")
            init.ClearField("float_data")
            init.data_location = onnx.TensorProto.EXTERNAL
            del init.external_data[:]
            for k, v in (("location", data_name), ("offset", str(offset)), ("length", str(length))):
                e = init.external_data.add()
                e.key, e.value = k, v
            tensors.append({"name": init.name, "offset": offset, "length": length,
                            "dtype": FLOAT_TYPES[init.data_type]})
            offset += length
        onnx.save(model, os.path.join(dst, f))
        if src_path.endswith(".fused.onnx"):
            os.remove(src_path)
        layout["files"][f] = {"data": data_name, "bytes": offset, "tensors": tensors}
        print(f"  {f}: {len(tensors)} tensors ({offset / 2**20:.0f} MiB) moved out; graph "
              f"{os.path.getsize(os.path.join(dst, f)) / 2**20:.1f} MiB")
    for name in os.listdir(src):
        if name not in layout["files"] and name not in ("model.json",) and not name.endswith(".onnx"):
            shutil.copyfile(os.path.join(src, name), os.path.join(dst, name))
    manifest.setdefault("provenance", {})["weights"] = (
        "random (bench/fill_weights.ts, seeded); graph from " + os.path.basename(os.path.abspath(src)))
    json.dump(manifest, open(os.path.join(dst, "model.json"), "w"), indent=2)
    json.dump(layout, open(os.path.join(dst, "weights-layout.json"), "w"), indent=1)
    return layout


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cmd", choices=["strip"])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--fuse-attention", action="store_true")
    a = ap.parse_args(argv)
    strip(a.src, a.dst, a.fuse_attention)
    return 0


if __name__ == "__main__":
    sys.exit(main())
