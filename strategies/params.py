"""Strategy parameters: :class:`Params` = a :class:`market_data.config.Config` with a search space.

``Config``, ``param`` and ``ParamError`` live in :mod:`market_data.config` (the lowest
layer, so the store can use them too) and are re-exported here.

Example::

    class SMAParams(Params):
        fast: int = param(10, low=2, high=200, doc="fast moving-average window (bars)")
        slow: int = param(50, low=3, high=1000, doc="slow moving-average window (bars)")

        def check(self) -> None:
            if self.fast >= self.slow:
                self.fail("fast", f"must be below slow ({self.slow}), got {self.fast}")
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from market_data.config import Config, ParamError, param

__all__ = ["Config", "Params", "param", "ParamError"]


class Params(Config):
    """Base class of strategy parameters; adds the Optuna search space."""

    @classmethod
    def search_space(cls) -> dict[str, Any]:
        """Optuna distributions for every searchable field with bounds or choices."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        space: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            meta = f.metadata.get("param")
            if not meta or not meta["search"]:
                continue
            typ = cls._types[f.name]
            if meta["choices"] is not None:
                space[f.name] = CategoricalDistribution(list(meta["choices"]))
            elif typ is bool:
                space[f.name] = CategoricalDistribution([False, True])
            elif meta["low"] is not None and meta["high"] is not None:
                if typ is int:
                    space[f.name] = IntDistribution(int(meta["low"]), int(meta["high"]), log=meta["log"],
                                                    step=int(meta["step"] or 1))
                else:
                    space[f.name] = FloatDistribution(float(meta["low"]), float(meta["high"]), log=meta["log"],
                                                      step=meta["step"])
        return space

    def to_array(self) -> np.ndarray:
        """Numeric fields as a float64 vector in field order (the form kernels take); a fresh copy each call
        of the vector built once per (immutable) instance."""
        cached = self.__dict__.get("_array")
        if cached is None:
            cached = self._build_array()
            object.__setattr__(self, "_array", cached)
        return cached.copy()

    def _build_array(self) -> np.ndarray:
        vals = []
        for k, v in self.to_dict().items():
            if isinstance(v, str):
                meta = next(f for f in dataclasses.fields(self) if f.name == k).metadata["param"]
                v = meta["choices"].index(v)
            vals.append(np.nan if v is None else float(v))
        return np.asarray(vals, dtype=np.float64)
