"""Fast fp32 linear layers on CPUs where torch uses the reference BLAS.

Debian's python3-torch links the generic (reference) BLAS unless an optimised one is installed
(`apt install libopenblas0-pthread`). Its matrix products reach ~4 GFLOP/s on two cores, while the oneDNN
(MKL-DNN) convolutions compiled into the same torch run a 1x1 convolution -- the same product -- about 20x faster.
`install()` routes `torch.nn.functional.linear` for float32 CPU tensors through `conv2d` with a 1x1 kernel. The
arithmetic is the same product (float32, different summation order), gradients flow normally, and nothing changes
for other dtypes / devices or inside ONNX export (the patch is never active while exporting).

    python -m declip_torch.bootstrap_fastcpu MODULE [args...]   runs `python -m MODULE args...` with the patch
"""
from __future__ import annotations

import runpy
import sys
import time
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

_ORIGINAL = F.linear
_installed = False


def conv_linear(x: Tensor, weight: Tensor, bias: Optional[Tensor] = None) -> Tensor:
    """F.linear(x, weight, bias) computed as a 1x1 convolution (float32 CPU tensors only; else the original)."""
    if (x.dtype != torch.float32 or x.device.type != "cpu" or weight.dtype != torch.float32 or x.dim() < 2
            or torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or x.shape[-1] != weight.shape[1]):
        return _ORIGINAL(x, weight, bias)
    lead = x.shape[:-1]
    x2 = x.reshape(-1, x.shape[-1], 1, 1)
    y = F.conv2d(x2, weight[:, :, None, None], bias)
    return y.reshape(*lead, weight.shape[0])


def blas_is_slow(threshold_gflops: float = 15.0) -> bool:
    """Rough probe: a 512^3 float32 matmul below `threshold_gflops` means the reference BLAS."""
    a = torch.randn(512, 512)
    b = torch.randn(512, 512)
    a @ b
    t = time.perf_counter()
    for _ in range(3):
        a @ b
    dt = (time.perf_counter() - t) / 3
    return (2 * 512 ** 3 / max(dt, 1e-9) / 1e9) < threshold_gflops


def install(force: bool = False) -> bool:
    """Patch torch.nn.functional.linear when the BLAS is slow (or `force`). Returns whether the patch is active."""
    global _installed
    if _installed:
        return True
    if not force and not blas_is_slow():
        return False
    F.linear = conv_linear
    torch.nn.functional.linear = conv_linear
    _installed = True
    return True


def uninstall() -> None:
    global _installed
    F.linear = _ORIGINAL
    torch.nn.functional.linear = _ORIGINAL
    _installed = False


def main() -> int:
    if len(sys.argv) < 2:
        print("usage: python -m declip_torch.bootstrap_fastcpu MODULE [args...]", file=sys.stderr)
        return 2
    mod = sys.argv[1]
    active = install()
    print(f"bootstrap_fastcpu: conv-backed linear {'on' if active else 'off (fast BLAS)'}", file=sys.stderr)
    sys.argv = [mod] + sys.argv[2:]
    runpy.run_module(mod, run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
