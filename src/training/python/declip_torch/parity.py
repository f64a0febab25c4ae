"""Parity between a PyTorch module and its ONNX export, run through onnxruntime (Python)."""
from __future__ import annotations

from typing import Dict, List, Sequence

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


def check_parity(module: torch.nn.Module, onnx_path: str, inputs: Sequence[Dict[str, np.ndarray]],
                 output_names: List[str], input_dtype: np.dtype, max_abs: float, min_cosine: float,
                 label: str) -> Dict[str, object]:
    """Run `module` (fp32, eager) and the ONNX file on each input set; raise ParityError beyond the tolerance.

    Returns a JSON-able report: per input set and output, max_abs_diff, mean_abs_diff, min_cosine.
    """
    sess = ort_session(onnx_path)
    cases = []
    ok = True
    for feed in inputs:
        with torch.no_grad():
            ref = module(*[torch.from_numpy(v) for v in feed.values()])
        if isinstance(ref, torch.Tensor):
            ref = (ref,)
        ort_feed = {k: (v.astype(input_dtype) if v.dtype.kind == "f" else v) for k, v in feed.items()}
        got = sess.run(output_names, ort_feed)
        outs = {}
        for name, r, g in zip(output_names, ref, got):
            m = compare_arrays(r.float().numpy(), g)
            m["shape"] = list(g.shape)
            m["passed"] = bool(m["max_abs_diff"] <= max_abs and m["min_cosine"] >= min_cosine)
            ok = ok and m["passed"]
            outs[name] = m
        cases.append({"inputs": {k: list(v.shape) for k, v in feed.items()}, "outputs": outs})
    report = {"file": label, "runtime": "onnxruntime (python, CPUExecutionProvider)",
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
