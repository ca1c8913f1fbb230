"""Deterministic training: ``fit(bars, params, seed) -> FittedModel``.

The fit window is split chronologically: the first ``train_fraction`` of its labelled
bars train the network, the next ``embargo`` bars are dropped, the rest is the
validation set used for early stopping (the epoch with the lowest validation loss is
kept). The label of bar ``t`` is the next close-to-close log return
``log(close[t+1] / close[t])``: its sign (``objective="sign"``) or its size divided by
the training set's standard deviation (``"size"``). All symbols share one network.

Reproducibility: training runs under ``torch.random.fork_rng`` seeded with ``seed``,
with ``torch.use_deterministic_algorithms(True)`` and ``params.threads`` intra-op
threads, all restored afterwards; two fits with the same bars, params, seed and thread
count give bit-identical weights.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from market_data import Bars
from market_data.errors import InputError
from strategies.ml.errors import NotEnoughDataError
from strategies.ml.features import compute_features
from strategies.ml.fitted import FittedModel, code_version
from strategies.ml.nb import FEATURE_NAMES, FEATURE_WARMUP, gather_windows_nb, valid_windows_nb
from strategies.ml.params import MLPParams, min_fit_bars
from strategies.params import ParamError

__all__ = ["fit", "Dataset", "build_dataset", "train"]


@dataclass(frozen=True)
class Dataset:
    """Standardised training and validation windows cut from one fit window of bars."""

    x_train: np.ndarray    #: (S_train, lookback, F) float64, standardised
    y_train: np.ndarray    #: (S_train,) labels (0/1 for "sign", scaled return for "size")
    r_train: np.ndarray    #: (S_train,) raw next-bar log returns
    x_val: np.ndarray
    y_val: np.ndarray
    r_val: np.ndarray
    x_mean: np.ndarray     #: (F,) training-set feature means
    x_std: np.ndarray      #: (F,) training-set feature stds (1 where constant)
    y_scale: float         #: std of training returns ("size"), else 1
    train_rows: tuple[int, int]  #: first and last bar index of the training labels
    val_rows: tuple[int, int]    #: first and last bar index of the validation labels
    lineage: dict[str, Any]

    def with_labels(self, y_train: np.ndarray, y_val: np.ndarray | None = None) -> Dataset:
        """The same windows with other labels (e.g. shuffled ones, for a null control)."""
        y = np.asarray(y_train, dtype=np.float64)
        if y.shape != self.y_train.shape:
            raise InputError(f"y_train must have shape {self.y_train.shape}, got {y.shape}")
        yv = self.y_val if y_val is None else np.asarray(y_val, dtype=np.float64)
        if yv.shape != self.y_val.shape:
            raise InputError(f"y_val must have shape {self.y_val.shape}, got {yv.shape}")
        return replace(self, y_train=y, y_val=yv)


def _as_params(params: Any) -> MLPParams:
    if params is None:
        return MLPParams()
    if isinstance(params, MLPParams):
        return params
    if isinstance(params, Mapping):
        return MLPParams.from_dict(params)
    raise ParamError(f"params must be MLPParams or a dict, got {type(params).__name__}")


def build_dataset(bars: Bars, params: MLPParams | None = None) -> Dataset:
    """Cut ``bars`` into standardised, chronologically split training and validation windows."""
    params = _as_params(params)
    if not isinstance(bars, Bars):
        raise InputError(f"fit expects market_data.Bars, got {type(bars).__name__}")
    T, N = bars.shape
    need = min_fit_bars(params)
    if T < need or N == 0:
        raise NotEnoughDataError(
            f"fit needs at least {need} bars (feature warmup {FEATURE_WARMUP} + lookback {params.lookback} "
            f"+ embargo {params.embargo} + 100 labelled), got {T} bars x {N} symbols")
    feats = compute_features(bars)
    L = params.lookback
    t0 = FEATURE_WARMUP + L - 1
    t_end = T - 2  # the last bar with a next-bar label
    usable = t_end - t0 + 1 - params.embargo
    n_tr = int(math.floor(params.train_fraction * usable))
    tr = (t0, t0 + n_tr - 1)
    va = (t0 + n_tr + params.embargo, t_end)

    with np.errstate(divide="ignore", invalid="ignore"):
        logc = np.log(np.where(bars.close > 0, bars.close, np.nan))
    ret = np.full((T, N), np.nan)
    ret[:-1] = logc[1:] - logc[:-1]
    valid = np.zeros((T, N), dtype=np.bool_)
    valid_windows_nb(feats, L, valid)
    valid &= np.isfinite(ret)

    def positions(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        mask = np.zeros((T, N), dtype=np.bool_)
        mask[lo:hi + 1] = valid[lo:hi + 1]
        rows, cols = np.nonzero(mask)  # time-major order
        return rows.astype(np.int64), cols.astype(np.int64)

    rtr, ctr = positions(*tr)
    rva, cva = positions(*va)
    if rtr.size < 20 or rva.size < 5:
        raise NotEnoughDataError(
            f"fit found {rtr.size} training and {rva.size} validation samples with complete features "
            f"(bars {tr[0]}..{tr[1]} and {va[0]}..{va[1]}); need at least 20 and 5 - too many missing bars?")
    cur = feats[rtr, ctr]  # (S, F) features at the sample bars
    x_mean = cur.mean(axis=0)
    x_std = cur.std(axis=0)
    x_std = np.where(x_std > 0, x_std, 1.0)
    F = feats.shape[2]
    x_train = np.empty((rtr.size, L, F))
    gather_windows_nb(feats, rtr, ctr, L, x_mean, x_std, x_train)
    x_val = np.empty((rva.size, L, F))
    gather_windows_nb(feats, rva, cva, L, x_mean, x_std, x_val)
    r_train = ret[rtr, ctr]
    r_val = ret[rva, cva]
    if params.objective == "sign":
        y_scale = 1.0
        y_train = (r_train > 0).astype(np.float64)
        y_val = (r_val > 0).astype(np.float64)
    else:
        sd = float(r_train.std())
        y_scale = sd if sd > 0 else 1.0
        y_train = r_train / y_scale
        y_val = r_val / y_scale
    lineage = {
        "snapshot_id": bars.snapshot_id,
        "bars_digest": bars.digest(),
        "symbols": list(bars.symbols),
        "frequency": bars.frequency,
        "start_ns": int(bars.timestamps[0]),
        "end_ns": int(bars.timestamps[-1]),
        "n_bars": T,
    }
    return Dataset(x_train=x_train, y_train=y_train, r_train=r_train, x_val=x_val, y_val=y_val, r_val=r_val,
                   x_mean=x_mean, x_std=x_std, y_scale=y_scale, train_rows=tr, val_rows=va, lineage=lineage)


def train(dataset: Dataset, params: MLPParams | None = None, seed: int = 0) -> FittedModel:
    """Train a network on ``dataset`` deterministically; returns the best-validation-loss model."""
    import torch

    from strategies.ml._nets import build_network

    params = _as_params(params)
    seed = int(seed)
    if seed < 0:
        raise ParamError(f"seed must be >= 0, got {seed}")
    started = time.perf_counter()
    prev_threads = torch.get_num_threads()
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        torch.set_num_threads(params.threads)
        torch.use_deterministic_algorithms(True)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            result = _train_loop(torch, build_network, dataset, params, seed)
    finally:
        torch.set_num_threads(prev_threads)
        torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)
    state, metrics = result
    metrics["fit_seconds"] = round(time.perf_counter() - started, 4)
    metrics["threads"] = params.threads
    metrics["train_rows"] = list(dataset.train_rows)
    metrics["val_rows"] = list(dataset.val_rows)
    return FittedModel(params=params, state=state, x_mean=dataset.x_mean, x_std=dataset.x_std,
                       y_scale=dataset.y_scale, seed=seed, metrics=metrics, data=dataset.lineage,
                       feature_names=FEATURE_NAMES, code_version=code_version())


def _train_loop(torch: Any, build_network: Any, ds: Dataset, params: MLPParams,
                seed: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    net = build_network(params.model_kind, n_features=ds.x_train.shape[2], lookback=params.lookback,
                        hidden=params.hidden, layers=params.layers, dropout=params.dropout)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(net.parameters(), lr=params.learning_rate, weight_decay=params.weight_decay)
    loss_fn = torch.nn.BCEWithLogitsLoss() if params.objective == "sign" else torch.nn.MSELoss()
    xtr = torch.from_numpy(ds.x_train.astype(np.float32))
    ytr = torch.from_numpy(ds.y_train.astype(np.float32))
    xva = torch.from_numpy(ds.x_val.astype(np.float32))
    yva = torch.from_numpy(ds.y_val.astype(np.float32))
    n = xtr.shape[0]
    bs = params.batch_size
    best = math.inf
    best_state: dict[str, Any] = {}
    best_epoch = 0
    stale = 0
    epochs_run = 0
    for epoch in range(1, params.epochs + 1):
        epochs_run = epoch
        net.train()
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            val = float(loss_fn(net(xva), yva))
        if val < best:
            best, best_epoch, stale = val, epoch, 0
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        else:
            stale += 1
            if stale >= params.patience:
                break
    net.load_state_dict(best_state)
    net.eval()
    with torch.no_grad():
        train_loss = float(loss_fn(net(xtr), ytr))
        pred_val = net(xva).numpy().astype(np.float64)
    # the constant predictor fitted on the training labels, for an honest comparison
    if params.objective == "sign":
        p = float(np.clip(ds.y_train.mean(), 1e-6, 1 - 1e-6))
        yv = ds.y_val
        baseline = float(-(yv * math.log(p) + (1 - yv) * math.log(1 - p)).mean())
    else:
        baseline = float(((ds.y_val - ds.y_train.mean()) ** 2).mean())
    direction = np.sign(pred_val)  # logit or standardised return: both positive for "up"
    nz = ds.r_val != 0
    hit = float((direction[nz] == np.sign(ds.r_val[nz])).mean()) if nz.any() else None
    ic = None
    if pred_val.size > 2 and pred_val.std() > 0 and ds.r_val.std() > 0:
        ic = float(np.corrcoef(pred_val, ds.r_val)[0, 1])
    metrics = {
        "train_loss": train_loss,
        "val_loss": best,
        "val_loss_baseline": baseline,
        "val_hit_rate": hit,
        "val_ic": ic,
        "best_epoch": best_epoch,
        "epochs_run": epochs_run,
        "n_train": int(n),
        "n_val": int(xva.shape[0]),
    }
    state = {k: v.numpy().copy() for k, v in best_state.items()}
    return state, metrics


def fit(bars: Bars, params: MLPParams | None = None, seed: int = 0) -> FittedModel:
    """Fit the ``mlp`` strategy's network on ``bars`` (see the module docstring).

    Raises :class:`~strategies.ml.errors.NotEnoughDataError` when the bars are too few.
    """
    params = _as_params(params)
    return train(build_dataset(bars, params), params, seed)
