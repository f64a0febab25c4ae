"""Parity between a PyTorch module and its ONNX export, run through onnxruntime (Python)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from .errors import ParityError


def compare_arrays(ref: np.ndarray, got: np.ndarray) -> Dict[str, float]:
    """max / mean absolute difference and the minimum cosine similarity along the last axis."""
    ref = np.asarray(ref, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64)
    if ref.shape != got.shape:
        raise ParityError(f"parity: output shape {got.shape} from onnxruntime differs from PyTorch {ref.shape}")
    if not np.all(np.isfinite(got)):
        raise ParityError("parity: onnxruntime output contains NaN or Inf")
    diff = np.abs(ref - got)
    r = ref.reshape(-1, ref.shape[-1])
    g = got.reshape(-1, got.shape[-1])
    cos = (r * g).sum(-1) / np.maximum(np.linalg.norm(r, axis=-1) * np.linalg.norm(g, axis=-1), 1e-12)
    return {"max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()), "min_cosine": float(cos.min())}


def ort_session(path: str):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(path, sess_options=so, providers=["CPUExecutionProvider"])


RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ort_node_runner.js")
Feeds = List[Dict[str, np.ndarray]]


def find_ort_node() -> Optional[str]:
    """Path of `node` when it can load onnxruntime-node from this checkout's node_modules, else None."""
    node = shutil.which("node")
    if not node:
        return None
    try:
        r = subprocess.run([node, "-e", "require.resolve('onnxruntime-node')"], cwd=os.path.dirname(RUNNER),
                           capture_output=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return None
    return node if r.returncode == 0 else None


def run_python_ort(onnx_path: str, feeds: Feeds, output_names: List[str]) -> List[List[np.ndarray]]:
    sess = ort_session(onnx_path)
    return [sess.run(output_names, f) for f in feeds]


def run_node_ort(onnx_path: str, feeds: Feeds, output_names: List[str], node: Optional[str] = None
                 ) -> List[List[np.ndarray]]:
    """Runs the ONNX file with onnxruntime-node (CPU EP) through ort_node_runner.js; raw tensors go via a temp dir."""
    node = node or find_ort_node()
    if node is None:
        raise ParityError("parity-runtime: node with onnxruntime-node is not available; run `npm ci` in the repo "
                          "root or use --parity-runtime python")
    with tempfile.TemporaryDirectory(prefix="declip-parity-") as d:
        runs = []
        for i, feed in enumerate(feeds):
            specs = []
            for name, arr in feed.items():
                arr = np.ascontiguousarray(arr.astype(arr.dtype.newbyteorder("<")))
                f = os.path.join(d, f"in{i}.{name}.bin")
                arr.tofile(f)
                specs.append({"name": name, "dtype": str(arr.dtype), "shape": list(arr.shape), "file": f})
            runs.append({"inputs": specs, "out_prefix": os.path.join(d, f"out{i}")})
        job = os.path.join(d, "job.json")
        with open(job, "w", encoding="utf-8") as fh:
            json.dump({"model": os.path.abspath(onnx_path), "outputs": output_names, "runs": runs}, fh)
        r = subprocess.run([node, RUNNER, job], capture_output=True, text=True)
        if r.returncode != 0:
            raise ParityError(f"parity: onnxruntime-node failed on {os.path.basename(onnx_path)}: "
                              f"{r.stderr.strip()[-2000:]}")
        results = []
        for run in runs:
            with open(run["out_prefix"] + ".json", encoding="utf-8") as fh:
                meta = json.load(fh)
            outs = []
            for name in output_names:
                dt = {"float32": np.float32, "float16": np.float16, "int64": np.int64, "int32": np.int32}[
                    meta[name]["type"]]
                outs.append(np.fromfile(f"{run['out_prefix']}.{name}.bin", dtype=np.dtype(dt).newbyteorder("<"))
                            .reshape(meta[name]["dims"]))
            results.append(outs)
        return results


def resolve_runtime(runtime: str) -> str:
    """'auto' -> 'node' when onnxruntime-node is usable, else 'python'; validates explicit choices."""
    if runtime == "auto":
        return "node" if find_ort_node() else "python"
    if runtime not in ("node", "python"):
        raise ParityError(f"parity-runtime: {runtime!r} is not one of auto, node, python")
    return runtime


def check_parity(module: torch.nn.Module, onnx_path: str, inputs: Sequence[Dict[str, np.ndarray]],
                 output_names: List[str], input_dtype: np.dtype, max_abs: float, min_cosine: float,
                 label: str, runtime: str = "python", log: Optional[Callable[[str], None]] = None
                 ) -> Dict[str, object]:
    """Run `module` (fp32, eager) and the ONNX file on each input set; raise ParityError beyond the tolerance.

    `runtime`: 'node' (onnxruntime-node, what the TS runtime uses) or 'python' (onnxruntime wheel).
    Returns a JSON-able report: per input set and output, max_abs_diff, mean_abs_diff, min_cosine.
    """
    ort_feeds = [{k: (v.astype(input_dtype) if v.dtype.kind == "f" else v) for k, v in feed.items()}
                 for feed in inputs]
    runner: Callable[[str, Feeds, List[str]], List[List[np.ndarray]]] = (
        run_node_ort if runtime == "node" else run_python_ort)
    all_got = runner(onnx_path, ort_feeds, output_names)
    cases = []
    ok = True
    for feed, got in zip(inputs, all_got):
        with torch.no_grad():
            ref = module(*[torch.from_numpy(v) for v in feed.values()])
        if isinstance(ref, torch.Tensor):
            ref = (ref,)
        outs = {}
        for name, r, g in zip(output_names, ref, got):
            m = compare_arrays(r.float().numpy(), g)
            m["shape"] = list(g.shape)
            m["passed"] = bool(m["max_abs_diff"] <= max_abs and m["min_cosine"] >= min_cosine)
            ok = ok and m["passed"]
            outs[name] = m
        cases.append({"inputs": {k: list(v.shape) for k, v in feed.items()}, "outputs": outs})
        if log is not None:
            log(f"  {label} {'x'.join(str(d) for v in feed.values() for d in v.shape)}: " + ", ".join(
                f"{n} max|diff| {o['max_abs_diff']:.2e} cos {o['min_cosine']:.6f}" for n, o in outs.items()))
    rt = ("onnxruntime-node (CPU EP)" if runtime == "node" else "onnxruntime python (CPUExecutionProvider)")
    report = {"file": label, "runtime": rt,
              "tolerance": {"max_abs_diff": max_abs, "min_cosine": min_cosine}, "cases": cases, "passed": ok}
    if not ok:
        bad = [f"{n} at {c['inputs']}: max|diff|={o['max_abs_diff']:.3g}, min cos={o['min_cosine']:.6f}"
               for c in cases for n, o in c["outputs"].items() if not o["passed"]]
        raise ParityError(f"parity: {label} disagrees with PyTorch beyond max_abs_diff {max_abs} / min_cosine "
                          f"{min_cosine}: {'; '.join(bad)}. The export was not written as valid; report this with "
                          f"the command line (try --opset 17, fp32, or another input size).")
    return report


def random_text_ids(n: int, context_length: int, eot_id: int, sot_id: int, seed: int) -> np.ndarray:
    """Random token rows: sot, random ids below min(sot, eot), eot (the max id of the row), zero padding."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((n, context_length), dtype=np.int64)
    top = max(2, min(sot_id, eot_id))
    for i in range(n):
        length = int(rng.integers(0, context_length - 1))
        ids[i, 0] = sot_id
        ids[i, 1:1 + length] = rng.integers(1, top, size=length)
        ids[i, 1 + length] = eot_id
    return ids
