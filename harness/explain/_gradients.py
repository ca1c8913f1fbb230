"""Integrated gradients (Sundararajan, Taly and Yan, 2017, "Axiomatic Attribution for Deep
Networks", ICML), written with torch autograd; torch is imported when it is called.

For a network ``f``, an input ``x`` and a baseline ``x'``, the attribution of input ``i`` is

    IG_i(x) = (x_i - x'_i) * integral_0^1 df/dx_i(x' + a (x - x')) da

and the attributions add up to ``f(x) - f(x')`` (completeness). The integral is taken with
the trapezoid rule on ``steps`` equal intervals (``steps + 1`` gradient evaluations):
exact for a network that is linear along the path, and for ReLU networks (piecewise
linear: the integrand is piecewise constant) the completeness gap shrinks as the steps
grow. :func:`integrated_gradients` returns the gap with the attributions, so callers can
report it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.errors import InputError

__all__ = ["integrated_gradients", "DEFAULT_STEPS"]

#: gradient evaluations of the path integral: ``steps + 1`` points, trapezoid rule
DEFAULT_STEPS = 64
#: evaluation points (samples x steps x input size) per forward pass, to bound memory
_CHUNK_ELEMENTS = 1 << 22


def integrated_gradients(forward: Any, x: np.ndarray, baseline: np.ndarray | None = None, *,
                         steps: int = DEFAULT_STEPS) -> tuple[np.ndarray, np.ndarray]:
    """``(attributions, gap)`` of the torch callable ``forward`` (``(B, ...) -> (B,)``, float64)
    at the samples ``x`` (``(S, ...)``) against ``baseline`` (same shape or broadcastable;
    default zeros).

    ``attributions`` has the shape of ``x``; ``gap[s] = sum(attributions[s]) - (f(x_s) -
    f(baseline_s))``, the completeness error of the trapezoid rule with ``steps`` intervals.
    """
    import torch

    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 1:
        raise InputError(f"integrated gradients: steps must be a positive integer, got {steps!r}")
    xs = np.asarray(x, dtype=np.float64)
    if xs.ndim < 2:
        raise InputError(f"integrated gradients: x must be (samples, ...), got shape {xs.shape}")
    base = np.zeros_like(xs) if baseline is None else np.broadcast_to(np.asarray(baseline, dtype=np.float64),
                                                                      xs.shape)
    S = xs.shape[0]
    out = np.zeros_like(xs)
    gap = np.zeros(S)
    if S == 0:
        return out, gap
    m = int(steps)
    alphas = torch.linspace(0.0, 1.0, m + 1, dtype=torch.float64)
    w = torch.full((m + 1,), 1.0 / m, dtype=torch.float64)
    w[0] = w[-1] = 0.5 / m
    size = int(np.prod(xs.shape[1:]))
    chunk = max(1, _CHUNK_ELEMENTS // ((m + 1) * max(size, 1)))
    shape = (-1,) + (1,) * xs.ndim  # broadcasts the steps over (samples, ...)
    with torch.enable_grad():
        for lo in range(0, S, chunk):
            xc = torch.from_numpy(np.ascontiguousarray(xs[lo:lo + chunk]))
            bc = torch.from_numpy(np.ascontiguousarray(base[lo:lo + chunk]))
            n = xc.shape[0]
            delta = xc - bc
            path = (bc.unsqueeze(0) + alphas.view(shape) * delta.unsqueeze(0)).reshape((m + 1) * n, *xs.shape[1:])
            path.requires_grad_(True)
            y = forward(path)
            if tuple(y.shape) != ((m + 1) * n,):
                raise InputError(f"integrated gradients: the network must map (B, ...) to (B,), "
                                 f"got output shape {tuple(y.shape)}")
            (grad,) = torch.autograd.grad(y.sum(), path)
            grad = grad.reshape(m + 1, n, *xs.shape[1:])
            avg = (w.view(shape) * grad).sum(dim=0)
            attr = (delta * avg).detach()
            y = y.detach().reshape(m + 1, n)
            out[lo:lo + n] = attr.numpy()
            gap[lo:lo + n] = (attr.reshape(n, -1).sum(dim=1) - (y[-1] - y[0])).numpy()
    return out, gap
