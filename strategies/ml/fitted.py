"""``FittedModel``: a trained network, its inference, and its safe on-disk form.

Inference runs in Numba (``strategies.ml.nb``) in float64, one sample at a time, so the
weight at bar ``t`` is the same whether it is computed for all bars at once, for a
prefix, or for the trailing window of one new bar (:meth:`FittedModel.latest_weights`).

On disk a model is a folder::

    <path>/
      manifest.json   params, feature list, lineage (snapshot id, bars digest), seed,
                      code version, metrics, and the SHA-256 of the weights file
      weights.pt      torch.save of a dict of tensors only, read back with
                      torch.load(weights_only=True): no pickled objects

Loading checks the hash, the feature list and every tensor's name and shape before
anything is used; a tampered or mismatched folder raises a ``ModelFileError``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from market_data import Bars
from market_data.errors import InputError
from market_data.frequency import periods_per_year
from strategies.ml.errors import ModelFileError, ModelMismatchError, TamperedModelError
from strategies.ml.features import compute_features
from strategies.ml.nb import (
    FEATURE_NAMES,
    FEATURE_WARMUP,
    N_FEATURES,
    VOL_FEATURE,
    conv_forward_nb,
    gather_windows_nb,
    mlp_forward_nb,
    valid_windows_nb,
    weights_from_scores_nb,
)
from strategies.ml.params import MLPParams, conv_kernel_size
from strategies.params import ParamError

__all__ = ["FittedModel", "load", "code_version", "expected_shapes", "MANIFEST_FILE", "WEIGHTS_FILE"]

MANIFEST_FILE = "manifest.json"
WEIGHTS_FILE = "weights.pt"
FORMAT = "harness.mlp/1"
_NORM_KEYS = ("norm.x_mean", "norm.x_std", "norm.y_scale")


def expected_shapes(params: MLPParams, n_features: int = N_FEATURES) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every network tensor for these params (the weights-file contract)."""
    shapes: dict[str, tuple[int, ...]] = {}
    h, k_layers = params.hidden, params.layers
    if params.model_kind == "mlp":
        widths = [n_features * params.lookback] + [h] * k_layers
        for k in range(k_layers):
            shapes[f"layers.{k}.weight"] = (widths[k + 1], widths[k])
            shapes[f"layers.{k}.bias"] = (widths[k + 1],)
    else:
        chans = [n_features] + [h] * k_layers
        ks = conv_kernel_size(params.lookback)
        for k in range(k_layers):
            shapes[f"layers.{k}.weight"] = (chans[k + 1], chans[k], ks)
            shapes[f"layers.{k}.bias"] = (chans[k + 1],)
    shapes[f"layers.{k_layers}.weight"] = (1, h)
    shapes[f"layers.{k_layers}.bias"] = (1,)
    return shapes


def code_version() -> str:
    """Package version plus a hash of this subpackage's sources, e.g. ``0.1.0+ml.3f2a9c0d1e4b``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        pkg = version("regime-harness")
    except PackageNotFoundError:
        pkg = "unknown"
    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for src in sorted(here.glob("*.py")):
        h.update(src.name.encode() + b"\x00" + src.read_bytes())
    return f"{pkg}+ml.{h.hexdigest()[:12]}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class FittedModel:
    """A trained ``mlp`` strategy model: maps bars to ``(T, N)`` target weights.

    Built by :func:`strategies.ml.fit` or :meth:`load`. Attributes: ``params``
    (:class:`MLPParams`), ``seed``, ``metrics`` (training/validation numbers), ``data``
    (lineage of the training bars: snapshot id, digest, symbols, span), ``feature_names``,
    ``code_version`` and ``state`` (tensor name -> read-only float32 array).
    """

    def __init__(self, *, params: MLPParams, state: Mapping[str, np.ndarray], x_mean: np.ndarray,
                 x_std: np.ndarray, y_scale: float, seed: int, metrics: Mapping[str, Any] | None = None,
                 data: Mapping[str, Any] | None = None, feature_names: tuple[str, ...] = FEATURE_NAMES,
                 code_version: str | None = None) -> None:
        if not isinstance(params, MLPParams):
            raise ParamError(f"params must be MLPParams, got {type(params).__name__}")
        self.params = params
        self.seed = int(seed)
        self.metrics = dict(metrics or {})
        self.data = dict(data or {})
        self.feature_names = tuple(feature_names)
        self.code_version = code_version
        want = expected_shapes(params, len(self.feature_names))
        got = {k: tuple(np.shape(v)) for k, v in state.items()}
        if got != want:
            raise ModelMismatchError(_shape_problem(want, got))
        self.state = {}
        for k in want:
            arr = np.array(state[k], dtype=np.float32)
            arr.flags.writeable = False
            self.state[k] = arr
        self.x_mean = _vector(x_mean, "x_mean", len(self.feature_names))
        self.x_std = _vector(x_std, "x_std", len(self.feature_names))
        self.y_scale = float(y_scale)
        # flat float64 parameters and layer shapes for the Numba forward pass
        keys = list(want)
        self._flat = np.concatenate([self.state[k].astype(np.float64).ravel() for k in keys])
        n_lin = len(keys) // 2
        self._shapes = np.array([want[f"layers.{k}.weight"][:2] for k in range(n_lin)], dtype=np.int64)

    # ---------------------------------------------------------------- inference
    @property
    def window(self) -> int:
        """Bars of history one inference needs: the feature warmup plus the lookback."""
        return FEATURE_WARMUP + self.params.lookback

    def raw_outputs(self, bars: Bars) -> np.ndarray:
        """The network's output (logit or standardised return) per bar and symbol; NaN without a full window."""
        return self.raw_outputs_from_features(compute_features(_check_bars(bars)))

    def windows(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(rows, cols, x)``: the standardised ``(S, lookback, F)`` input windows of every row
        and symbol of ``features`` (``(T, N, F)``, :func:`compute_features`) whose window is
        finite; what the network is fed (``x = 0`` is the training mean of every feature)."""
        feats = self._check_features(features)
        T, N, F = feats.shape
        L = self.params.lookback
        valid = np.zeros((T, N), dtype=np.bool_)
        if T and N:
            valid_windows_nb(feats, L, valid)
        rows, cols = np.nonzero(valid)
        rows, cols = rows.astype(np.int64), cols.astype(np.int64)
        x = np.empty((rows.size, L, F))
        if rows.size:
            gather_windows_nb(feats, rows, cols, L, self.x_mean, self.x_std, x)
        return rows, cols, x

    def raw_outputs_from_features(self, features: np.ndarray) -> np.ndarray:
        """:meth:`raw_outputs` of a ``(T, N, F)`` features array (the bars' features, or any
        array of that shape, e.g. with one feature permuted)."""
        rows, cols, x = self.windows(features)
        out = np.full(np.shape(features)[:2], np.nan)
        if rows.size == 0:
            return out
        L, F = x.shape[1], x.shape[2]
        y = np.empty(rows.size)
        if self.params.model_kind == "mlp":
            mlp_forward_nb(x.reshape(rows.size, L * F), self._flat, self._shapes, y)
        else:
            conv_forward_nb(x, self._flat, self._shapes, conv_kernel_size(L), y)
        out[rows, cols] = y
        return out

    def scores(self, bars: Bars) -> np.ndarray:
        """Predictions in ``[-1, 1]`` per bar and symbol (``2*sigmoid(logit)-1`` or ``tanh(size)``)."""
        return self._scores(self.raw_outputs(bars))

    def _scores(self, raw: np.ndarray) -> np.ndarray:
        return np.tanh(raw / 2.0) if self.params.objective == "sign" else np.tanh(raw)

    def target_weights(self, bars: Bars) -> np.ndarray:
        """``(T, N)`` target weights: threshold on the score, volatility scaling, leverage cap.

        Row ``t`` uses bars ``<= t`` only; rows without a full feature window are 0.
        """
        bars = _check_bars(bars)
        return self.weights_from_features(compute_features(bars), bars.frequency)

    def weights_from_features(self, features: np.ndarray, frequency: str) -> np.ndarray:
        """The ``(T, N)`` weights :meth:`target_weights` trades, from a ``(T, N, F)`` features
        array instead of bars (``frequency`` annualises the volatility scaling): scores from
        every feature, the size from the ``vol_20`` column. ``target_weights(bars)`` is
        ``weights_from_features(compute_features(bars), bars.frequency)``; permutation
        importance feeds it features with one column shuffled."""
        feats = self._check_features(features)
        s = self._scores(self.raw_outputs_from_features(feats))
        vol = np.ascontiguousarray(feats[:, :, VOL_FEATURE])
        out = np.zeros(feats.shape[:2])
        if out.size:
            p = self.params
            weights_from_scores_nb(s, vol, p.threshold, p.target_vol, math.sqrt(periods_per_year(frequency)),
                                   p.leverage, p.long_only, out)
        return out

    def torch_network(self) -> Any:
        """The network as a float64 ``torch.nn.Module`` in eval mode, loaded from :attr:`state`
        (imports torch): input ``(B, lookback, F)`` standardised windows (:meth:`windows`),
        output ``(B,)`` raw outputs, equal to :meth:`raw_outputs` up to float rounding."""
        import torch

        from strategies.ml._nets import build_network

        p = self.params
        net = build_network(p.model_kind, n_features=len(self.feature_names), lookback=p.lookback, hidden=p.hidden,
                            layers=p.layers, dropout=0.0)
        net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in self.state.items()})
        return net.double().eval()

    def _check_features(self, features: Any) -> np.ndarray:
        feats = np.asarray(features)
        if feats.ndim != 3 or feats.shape[2] != len(self.feature_names):
            raise InputError(f"features must have shape (bars, symbols, {len(self.feature_names)}) "
                             f"({', '.join(self.feature_names)}), got {feats.shape}")
        return np.ascontiguousarray(feats, dtype=np.float64)

    def latest_weights(self, bars: Bars) -> np.ndarray:
        """The ``(N,)`` weights for the last bar, from the trailing :attr:`window` bars only.

        Equal to ``target_weights(bars)[-1]``, at a cost independent of ``len(bars)``.
        """
        bars = _check_bars(bars)
        if bars.n_bars == 0:
            raise InputError("latest_weights needs at least one bar")
        return self.target_weights(bars[max(0, bars.n_bars - self.window):])[-1]

    # -------------------------------------------------------------- persistence
    def manifest(self) -> dict[str, Any]:
        """The JSON-able description written beside the weights (without the weights hash)."""
        return {
            "format": FORMAT,
            "strategy": "mlp",
            "params": self.params.to_dict(),
            "feature_names": list(self.feature_names),
            "feature_warmup": FEATURE_WARMUP,
            "seed": self.seed,
            "data": self.data,
            "code_version": self.code_version,
            "metrics": self.metrics,
            "tensors": {k: list(v.shape) for k, v in self.state.items()},
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``manifest.json`` and ``weights.pt`` into the folder ``path`` (created); returns it."""
        import torch

        folder = Path(path)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ModelFileError(f"cannot create model folder {folder}: {exc}") from None
        tensors = {f"net.{k}": torch.from_numpy(np.array(v)) for k, v in self.state.items()}
        tensors["norm.x_mean"] = torch.from_numpy(self.x_mean.copy())
        tensors["norm.x_std"] = torch.from_numpy(self.x_std.copy())
        tensors["norm.y_scale"] = torch.tensor(self.y_scale, dtype=torch.float64)
        wfile = folder / WEIGHTS_FILE
        tmp = folder / (WEIGHTS_FILE + ".tmp")
        torch.save(tensors, tmp)
        os.replace(tmp, wfile)
        manifest = self.manifest()
        manifest["weights_file"] = WEIGHTS_FILE
        manifest["weights_sha256"] = _sha256(wfile)
        mtmp = folder / (MANIFEST_FILE + ".tmp")
        mtmp.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=_json_default) + "\n")
        os.replace(mtmp, folder / MANIFEST_FILE)
        return folder

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, expected_bars_digest: str | None = None,
             expected_params: MLPParams | Mapping[str, Any] | None = None) -> FittedModel:
        """Read a model saved by :meth:`save`, refusing tampered or mismatched files.

        Raises :class:`~strategies.ml.errors.TamperedModelError` when the weights' SHA-256
        differs from the manifest's, :class:`~strategies.ml.errors.ModelMismatchError`
        when tensors, features, training data (``expected_bars_digest``) or params
        (``expected_params``) do not match, and :class:`~strategies.ml.errors.ModelFileError`
        when the folder is missing or unreadable.
        """
        folder = Path(path)
        mfile = folder / MANIFEST_FILE
        if not mfile.is_file():
            raise ModelFileError(f"{folder}: no saved model here (expected {MANIFEST_FILE} and {WEIGHTS_FILE})")
        try:
            manifest = json.loads(mfile.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelFileError(f"{mfile}: not a readable JSON manifest: {exc}") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            got = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
            raise ModelFileError(f"{mfile}: format {got!r} is not {FORMAT!r}")
        missing = [k for k in ("params", "feature_names", "seed", "weights_file", "weights_sha256")
                   if k not in manifest]
        if missing:
            raise ModelFileError(f"{mfile}: manifest lacks {', '.join(missing)}")
        try:
            params = MLPParams.from_dict(manifest["params"])
        except (ParamError, TypeError) as exc:
            raise ModelMismatchError(f"{mfile}: params do not fit this code's MLPParams: {exc}") from None
        names = tuple(manifest["feature_names"])
        if names != FEATURE_NAMES:
            raise ModelMismatchError(
                f"{mfile}: model was trained on features {list(names)}, this code computes {list(FEATURE_NAMES)}")
        if manifest["weights_file"] != WEIGHTS_FILE:
            raise ModelFileError(f"{mfile}: weights_file must be {WEIGHTS_FILE!r}, got {manifest['weights_file']!r}")
        wfile = folder / WEIGHTS_FILE
        if not wfile.is_file():
            raise ModelFileError(f"{folder}: weights file {WEIGHTS_FILE} is missing")
        actual = _sha256(wfile)
        if actual != manifest["weights_sha256"]:
            raise TamperedModelError(
                f"{wfile}: SHA-256 {actual[:16]}... differs from the manifest's {str(manifest['weights_sha256'])[:16]}...; "
                "the weights file was modified or belongs to another model")
        tensors = _torch_load(wfile)
        if expected_bars_digest is not None:
            got = (manifest.get("data") or {}).get("bars_digest")
            if got != expected_bars_digest:
                raise ModelMismatchError(f"{mfile}: trained on bars digest {got!r}, expected {expected_bars_digest!r}")
        if expected_params is not None:
            want = expected_params if isinstance(expected_params, MLPParams) else MLPParams.from_dict(expected_params)
            if want != params:
                diff = {k: (v, getattr(params, k)) for k, v in want.to_dict().items() if getattr(params, k) != v}
                raise ModelMismatchError(f"{mfile}: params differ from the expected ones (expected, saved): {diff}")
        extra = set(tensors) - {f"net.{k}" for k in expected_shapes(params, len(names))} - set(_NORM_KEYS)
        if extra:
            raise ModelMismatchError(f"{wfile}: unexpected tensors {sorted(extra)} for a {params.model_kind} model")
        for k in _NORM_KEYS:
            if k not in tensors:
                raise ModelMismatchError(f"{wfile}: tensor {k!r} is missing")
        state = {k[4:]: v.numpy() for k, v in tensors.items() if k.startswith("net.")}
        try:
            return cls(params=params, state=state, x_mean=tensors["norm.x_mean"].numpy(),
                       x_std=tensors["norm.x_std"].numpy(), y_scale=float(tensors["norm.y_scale"]),
                       seed=int(manifest["seed"]), metrics=manifest.get("metrics"), data=manifest.get("data"),
                       feature_names=names, code_version=manifest.get("code_version"))
        except ModelMismatchError as exc:
            raise ModelMismatchError(f"{wfile}: {exc}") from None

    def same_weights(self, other: FittedModel) -> bool:
        """True when both models hold bit-identical tensors and normalisation."""
        return (self.state.keys() == other.state.keys()
                and all(np.array_equal(self.state[k], other.state[k]) for k in self.state)
                and np.array_equal(self.x_mean, other.x_mean) and np.array_equal(self.x_std, other.x_std)
                and self.y_scale == other.y_scale)

    def __repr__(self) -> str:
        p = self.params
        return (f"FittedModel({p.model_kind}, lookback={p.lookback}, hidden={p.hidden}, layers={p.layers}, "
                f"seed={self.seed}, val_loss={self.metrics.get('val_loss')})")


def load(path: str | os.PathLike[str], **kwargs: Any) -> FittedModel:
    """Shorthand for :meth:`FittedModel.load`."""
    return FittedModel.load(path, **kwargs)


# helpers -------------------------------------------------------------------
def _torch_load(wfile: Path) -> dict[str, Any]:
    import pickle

    import torch

    try:
        tensors = torch.load(wfile, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(f"{wfile}: not a weights-only tensor file: {first}") from None
    if not isinstance(tensors, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                for k, v in tensors.items()):
        raise ModelFileError(f"{wfile}: expected a dict of named tensors")
    return tensors


def _shape_problem(want: dict[str, tuple], got: dict[str, tuple]) -> str:
    missing = [k for k in want if k not in got]
    extra = [k for k in got if k not in want]
    if missing:
        return f"tensor {missing[0]!r} is missing (expected {len(want)} tensors, got {len(got)})"
    if extra:
        return f"unexpected tensor {extra[0]!r} for this architecture"
    k = next(k for k in want if want[k] != got[k])
    return f"tensor {k!r} has shape {got[k]}, the params imply {want[k]}"


def _vector(values: Any, name: str, size: int) -> np.ndarray:
    arr = np.array(values, dtype=np.float64).reshape(-1)
    if arr.size != size or not np.all(np.isfinite(arr)):
        raise ModelMismatchError(f"{name} must hold {size} finite numbers, got shape {arr.shape}")
    if name == "x_std" and np.any(arr <= 0):
        raise ModelMismatchError("x_std must be positive")
    arr.flags.writeable = False
    return arr


def _check_bars(bars: Any) -> Bars:
    if not isinstance(bars, Bars):
        raise InputError(f"expected market_data.Bars, got {type(bars).__name__}")
    return bars


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to the manifest")
