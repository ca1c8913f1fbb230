"""Hyperparameters of the trainable strategy (``strategies.get("mlp").Params``)."""

from __future__ import annotations

from strategies.ml.nb import FEATURE_WARMUP
from strategies.params import Params, param

__all__ = ["MLPParams", "MIN_USABLE_ROWS", "min_fit_bars", "conv_kernel_size"]

#: Bars of labelled samples (after the feature warmup, lookback and embargo) a fit needs.
MIN_USABLE_ROWS = 100


class MLPParams(Params):
    """Model, training and position-sizing parameters of the ``mlp`` strategy.

    Searchable fields (bounds below) are tuned by ``harness optimize``; the others
    (``search=False``) are settings of a run.
    """

    model_kind: str = param("mlp", choices=("mlp", "conv"),
                            doc="network: 'mlp' (flattened window) or 'conv' (causal dilated 1-D temporal "
                                "convolution; sees up to 1 + 2 * (2**layers - 1) bars of the window)")
    objective: str = param("sign", choices=("sign", "size"),
                           doc="predict the sign of the next return (logistic loss) or its size (squared loss)")
    lookback: int = param(5, low=1, high=20, doc="bars of feature history per sample (the model's input window)")
    hidden: int = param(16, low=4, high=64, log=True, doc="hidden units (MLP) or channels (conv) per layer")
    layers: int = param(1, low=1, high=3, doc="hidden layers (MLP) or conv layers")
    dropout: float = param(0.0, low=0.0, high=0.5, doc="dropout after each hidden layer while training")
    learning_rate: float = param(3e-3, low=1e-4, high=3e-2, log=True, doc="AdamW learning rate")
    weight_decay: float = param(1e-4, low=1e-6, high=1e-2, log=True, doc="AdamW weight decay")
    epochs: int = param(30, low=2, high=60, doc="maximum training epochs (early stopping may end sooner)")
    threshold: float = param(0.05, low=0.0, high=0.9,
                             doc="trade only when |score| exceeds this (score in [-1, 1])")
    train_fraction: float = param(0.8, low=0.5, high=0.95,
                                  doc="share of the fit window's labelled bars used for training; the rest, "
                                      "after the embargo, is the validation set for early stopping")
    embargo: int = param(5, low=0, high=20, doc="bars left out between the training and validation sets")
    patience: int = param(5, low=1, high=50, search=False,
                          doc="epochs without a better validation loss before training stops")
    batch_size: int = param(256, low=8, high=8192, search=False, doc="minibatch size")
    target_vol: float = param(0.10, low=0.01, high=1.0, search=False,
                              doc="annualised volatility each traded position is scaled to")
    leverage: float = param(1.0, low=0.0, high=10.0, search=False, doc="cap on gross exposure")
    long_only: bool = param(False, search=False, doc="never go short")
    train_bars: int = param(300, low=150, high=100_000, search=False,
                            doc="target_weights(bars, params) fits on the first train_bars bars "
                                "and trades after them (the strategy's warmup)")
    seed: int = param(0, low=0, high=2**31 - 1, search=False, doc="seed of target_weights(bars, params)'s fit")
    threads: int = param(1, low=1, high=64, search=False,
                         doc="torch threads used by fit (results are reproducible for a fixed count)")

    def check(self) -> None:
        need = min_fit_bars(self)
        if self.train_bars < need:
            self.fail("train_bars", f"must be >= {need} (feature warmup {FEATURE_WARMUP} + lookback "
                                    f"{self.lookback} + embargo {self.embargo} + {MIN_USABLE_ROWS} labelled bars), "
                                    f"got {self.train_bars}")


def min_fit_bars(params: MLPParams) -> int:
    """The fewest bars ``fit`` accepts with these params."""
    return FEATURE_WARMUP + params.lookback + params.embargo + MIN_USABLE_ROWS


def conv_kernel_size(lookback: int) -> int:
    """Kernel width of the temporal convolution for a window of ``lookback`` bars."""
    return min(3, lookback)
