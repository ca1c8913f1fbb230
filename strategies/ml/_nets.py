"""The PyTorch networks (imported only by ``fit`` and ``load``: this module imports torch).

Parameter names are part of the saved-weights format: ``layers.{k}.weight`` /
``layers.{k}.bias`` for every layer in order, the last one being the linear head.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from strategies.ml.params import conv_kernel_size

__all__ = ["MLP", "TemporalConv", "build_network"]


class MLP(nn.Module):
    """Flattened ``(lookback, F)`` window -> ``layers`` x (Linear, ReLU, Dropout) -> Linear(1)."""

    def __init__(self, n_features: int, lookback: int, hidden: int, n_layers: int, dropout: float) -> None:
        super().__init__()
        widths = [n_features * lookback] + [hidden] * n_layers
        self.layers = nn.ModuleList(
            [nn.Linear(widths[k], widths[k + 1]) for k in range(n_layers)] + [nn.Linear(widths[-1], 1)]
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.flatten(1)
        for layer in self.layers[:-1]:
            h = self.dropout(F.relu(layer(h)))
        return self.layers[-1](h).squeeze(-1)


class TemporalConv(nn.Module):
    """Causal dilated 1-D convolutions over the window -> Linear(1) on the last bar.

    Layer ``k`` has dilation ``2**k`` and ``(kernel - 1) * 2**k`` zeros of left padding, so
    the last bar sees ``1 + (kernel - 1) * (2**layers - 1)`` bars (15 for 3 layers).
    """

    def __init__(self, n_features: int, lookback: int, hidden: int, n_layers: int, dropout: float) -> None:
        super().__init__()
        self.kernel = conv_kernel_size(lookback)
        chans = [n_features] + [hidden] * n_layers
        self.layers = nn.ModuleList(
            [nn.Conv1d(chans[k], chans[k + 1], self.kernel, dilation=2**k) for k in range(n_layers)]
            + [nn.Linear(chans[-1], 1)]
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.transpose(1, 2)  # (B, F, L)
        for k, conv in enumerate(self.layers[:-1]):
            h = self.dropout(F.relu(conv(F.pad(h, ((self.kernel - 1) * 2**k, 0)))))
        return self.layers[-1](h[:, :, -1]).squeeze(-1)


def build_network(kind: str, *, n_features: int, lookback: int, hidden: int, layers: int,
                  dropout: float) -> nn.Module:
    """The network named by ``kind`` (``"mlp"`` or ``"conv"``), freshly initialised from torch's RNG."""
    cls = {"mlp": MLP, "conv": TemporalConv}[kind]
    return cls(n_features, lookback, hidden, layers, dropout)
