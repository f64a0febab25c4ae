"""Fast fp32 linear layers on CPU through oneDNN 1x1 convolutions.

Debian's python3-torch links the generic (reference) BLAS unless an optimised one is installed
(`apt install libopenblas0-pthread`). Its matrix products reach ~4 GFLOP/s on two cores, while the oneDNN
(MKL-DNN) convolutions compiled into the same torch run a 1x1 convolution -- the same product -- about 20x faster.
Even with OpenBLAS, a linear layer's forward + backward at the trainers' sizes (2368 x 192 -> 768) is ~1.5x faster
as three 1x1 convolutions (`ConvLinear`: output, input gradient and weight gradient), because torch's own backward
of a 1x1 convolution is slow on CPU.
`install()` routes `torch.nn.functional.linear` for float32 CPU tensors through `ConvLinear` when a short probe
finds it faster than `F.linear` (or always, with `force`). The arithmetic is the same product (float32, different
summation order), gradients flow normally, and nothing changes for other dtypes / devices or inside ONNX export
(the patch is never active while exporting).

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


def _conv1x1(x2: Tensor, w: Tensor, bias: Optional[Tensor] = None) -> Tensor:
    """x2 [N, I] @ w[O, I]^T (+ bias) as a 1x1 convolution -> [N, O]."""
    return F.conv2d(x2[:, :, None, None], w[:, :, None, None], bias)[:, :, 0, 0]


class ConvLinear(torch.autograd.Function):
    """y = x2 w^T + b for 2-D x2, with the forward and both backward products as oneDNN 1x1 convolutions."""

    @staticmethod
    def forward(ctx, x2: Tensor, weight: Tensor, bias: Optional[Tensor]) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x2, weight)
        ctx.has_bias = bias is not None
        return _conv1x1(x2, weight, bias)

    @staticmethod
    def backward(ctx, g: Tensor):  # type: ignore[override]
        x2, weight = ctx.saved_tensors
        g = g.contiguous()
        gx = _conv1x1(g, weight.t().contiguous()) if ctx.needs_input_grad[0] else None
        gw = _conv1x1(x2.t().contiguous(), g.t().contiguous()).t() if ctx.needs_input_grad[1] else None
        gb = g.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return gx, gw, gb


def conv_linear(x: Tensor, weight: Tensor, bias: Optional[Tensor] = None) -> Tensor:
    """F.linear(x, weight, bias) computed with 1x1 convolutions (float32 CPU tensors only; else the original)."""
    if (x.dtype != torch.float32 or x.device.type != "cpu" or weight.dtype != torch.float32 or x.dim() < 2
            or torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or x.shape[-1] != weight.shape[1]
            or (bias is not None and bias.dtype != torch.float32)):
        return _ORIGINAL(x, weight, bias)
    lead = x.shape[:-1]
    y = ConvLinear.apply(x.reshape(-1, x.shape[-1]), weight, bias)
    return y.reshape(*lead, weight.shape[0])


def _time_fwd_bwd(fn, x: Tensor, w: Tensor, b: Tensor, reps: int = 3) -> float:
    fn(x, w, b).sum().backward()
    t = time.perf_counter()
    for _ in range(reps):
        fn(x, w, b).sum().backward()
    return (time.perf_counter() - t) / reps


def conv_is_faster() -> bool:
    """Probe: forward + backward of a 2368 x 192 -> 768 linear layer (a trainer MLP layer), `conv_linear` vs
    `F.linear`. With the reference BLAS the convolution wins ~20x, with OpenBLAS ~1.5x (two cores)."""
    x = torch.randn(2368, 192, requires_grad=True)
    w = torch.randn(768, 192, requires_grad=True)
    b = torch.randn(768, requires_grad=True)
    return _time_fwd_bwd(conv_linear, x, w, b) < 0.9 * _time_fwd_bwd(_ORIGINAL, x, w, b)


def install(force: bool = False) -> bool:
    """Patch torch.nn.functional.linear when the convolution path is faster here (or `force`). Returns whether the
    patch is active."""
    global _installed
    if _installed:
        return True
    if not force and not conv_is_faster():
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
