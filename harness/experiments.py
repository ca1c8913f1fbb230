"""Experiments as code: a TOML file that says what to optimise, on which data, validated how.

Example (``experiments/sma_spx_walkforward.toml``)::

    description = "SMA crossover on the S&P 500, 4-year/1-year walk-forward"

    [data]                      # DataSpec: bars from the home store
    symbols = ["SPX"]
    start = "2004-01-01"
    end = "2018-12-31"
    frequency = "1d"
    # snapshot = "v1"           # a snapshot id or tag; default: the latest

    [strategy]                  # StrategySpec
    name = "sma_crossover"
    params = { long_short = false }              # fixed (not searched)
    search_space = { fast = [5, 60], slow = [70, 250] }

    [cv]                        # CVSpec: scheme + that scheme's options
    scheme = "walk-forward"
    train = "4y"
    test = "1y"

    [optimize]                  # OptimizeSpec
    objective = "sharpe"        # or ["sharpe", "max_drawdown"]
    trials = 40
    seed = 7

    [costs]                     # any BacktestConfig field
    fee_rate = 0.0005

Every table maps onto a frozen :class:`~strategies.params.Config` that rejects unknown
keys; errors name the file, the table and the key. ``harness run FILE`` (or
:func:`run_experiment`) runs it in the home folder: the Optuna study is
``<name>-<hash of the spec>`` in the home SQLite storage and ``trials`` is its *total*,
so running the same file again adds no trial and reports the same result, while any
edit to the file starts a new study. Results (``summary.json`` with lineage, the spec,
``trials.csv``, ``oos_returns.npz``) go to ``<home>/results/experiments/<name>/``.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, InputError, ParamError
from strategies.params import Config, param

__all__ = ["ExperimentSpec", "DataSpec", "StrategySpec", "CVSpec", "OptimizeSpec", "load_experiment",
           "run_experiment", "ExperimentRun", "experiment_from_raw", "build_table", "read_spec_file",
           "parse_spec_text", "regime_parts"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")


class DataSpec(Config):
    """``[data]``: which bars to read from the home store."""

    symbols: object = param(None, doc="list of symbols (None: every symbol of the frequency)")
    start: str | None = param(None, doc="first date (inclusive), e.g. 2005-01-01")
    end: str | None = param(None, doc="last date (inclusive)")
    frequency: str = param("1d", doc="bar frequency")
    snapshot: str | None = param(None, doc="snapshot id or tag (None: the latest)")

    def check(self) -> None:
        s = self.symbols
        if s is not None and (not isinstance(s, (list, tuple)) or not s or not all(isinstance(x, str) and x
                                                                                   for x in s)):
            self.fail("symbols", f"must be a non-empty list of symbol names, got {s!r}")


class StrategySpec(Config):
    """``[strategy]``: the registered strategy, fixed params and search-space overrides."""

    name: str = param("", doc="registered strategy name")
    params: object = param(None, doc="fixed parameter values (not searched)")
    search_space: object = param(None, doc="name -> [low, high] | {low, high, step, log} | {choices}")

    def check(self) -> None:
        if not self.name:
            self.fail("name", "is required (a registered strategy, see `harness strategies ls`)")
        for f in ("params", "search_space"):
            v = getattr(self, f)
            if v is not None and not isinstance(v, dict):
                self.fail(f, f"must be a table, got {v!r}")


class CVSpec(Config):
    """``[cv]``: the validation scheme (``walk-forward``, ``purged-kfold``, ``cpcv``) and its options."""

    scheme: str = param("walk-forward", doc="walk-forward | purged-kfold | cpcv")
    train: object = param(None, doc="walk-forward training window: bars or a duration (2y, 6m, 30d)")
    test: object = param(None, doc="walk-forward test window")
    step: object = param(None, doc="walk-forward step (default: test)")
    anchored: bool | None = param(None, doc="walk-forward: grow the training window from the start")
    label_horizon: int | None = param(None, low=0, doc="bars a label looks ahead (purging)")
    n_splits: int | None = param(None, low=2, doc="purged-kfold folds")
    embargo: float | None = param(None, low=0.0, doc="bars (or fraction) embargoed after each test block")
    n_groups: int | None = param(None, low=2, doc="cpcv groups")
    n_test_groups: int | None = param(None, low=1, doc="cpcv test groups per split")

    def splitter(self):
        from harness.validation import make_splitter

        options = {k: v for k, v in self.to_dict().items() if k != "scheme" and v is not None}
        if "embargo" in options and float(options["embargo"]).is_integer():
            options["embargo"] = int(options["embargo"])
        return make_splitter(self.scheme, options)


class OptimizeSpec(Config):
    """``[optimize]``: objective(s), number of trials, seed, study name."""

    objective: object = param("sharpe", doc="a metric name or a list of them (multi-objective)")
    trials: int = param(20, low=0, high=100_000, doc="total trials of the study")
    seed: int | None = param(None, doc="sampler seed (reproducible with n_jobs = 1)")
    study: str | None = param(None, doc="study name (default: <experiment>-<spec hash>)")
    n_jobs: int = param(1, low=1, high=256, doc="parallel trials (threads)")

    def check(self) -> None:
        obj = self.objective
        if isinstance(obj, str):
            return
        if not isinstance(obj, (list, tuple)) or not obj or not all(isinstance(o, str) for o in obj):
            self.fail("objective", f"must be a metric name or a list of names, got {obj!r}")


class ExperimentSpec(Config):
    """A whole experiment file."""

    name: str = param("", doc="experiment name (default: the file name)")
    description: str = param("", doc="free text")
    data: object = param(None, doc="[data] table")
    strategy: object = param(None, doc="[strategy] table")
    cv: object = param(None, doc="[cv] table")
    optimize: object = param(None, doc="[optimize] table")
    costs: object = param(None, doc="[costs] table: BacktestConfig fields")
    regime: object = param(None, doc="[regime] table: detector, its params, [regime.trigger] (see harness.regime)")


@dataclass(frozen=True)
class Experiment:
    """A parsed experiment: its typed parts plus the file it came from."""

    path: Path | None
    name: str
    description: str
    data: DataSpec
    strategy: StrategySpec
    cv: CVSpec
    optimize: OptimizeSpec
    costs: Any  # BacktestConfig
    spec_hash: str
    raw: dict[str, Any]
    regime: dict[str, Any] | None = None  # the [regime] table as written (validated)


def read_spec_file(path: str | Path, *, kind: str = "experiment") -> tuple[Path, bytes, dict[str, Any]]:
    """``(path, bytes, parsed TOML)`` of a spec file; a missing file or bad TOML is a :class:`ConfigError`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{kind} file {path} does not exist")
    text = path.read_bytes()
    return path, text, parse_spec_text(text, source=str(path))


def parse_spec_text(text: bytes | str, *, source: str) -> dict[str, Any]:
    """The parsed TOML of a spec's text; errors name ``source`` (a file or a registry entry)."""
    try:
        return tomllib.loads(text.decode() if isinstance(text, bytes) else text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None


def build_table(cls: type, source: str, table: str | None, data: Any) -> Any:
    """``cls(**data)`` for the table ``[table]`` of ``source``; errors name the source, table and key."""
    where = f"{source}: [{table}]" if table else f"{source}:"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a table, got {data!r}")
    try:
        return cls(**data)
    except ParamError as exc:
        raise ConfigError(f"{where} {exc}") from None


def regime_parts(table: dict[str, Any] | None, source: str, symbols: Any = None) -> tuple[Any, Any, str | None]:
    """``(detector, trigger policy, watched symbol)`` of a ``[regime]`` table (validated).

    ``symbol`` (optional) names the symbol whose returns the detector watches; it must be
    one of ``symbols`` when those are given, and defaults to the first of them.
    """
    from harness import regime

    cfg = dict(table or {})
    symbol = cfg.pop("symbol", None)
    if symbol is not None and not isinstance(symbol, str):
        raise ConfigError(f"{source}: [regime] symbol must be a symbol name, got {symbol!r}")
    if symbols:
        if symbol is None:
            symbol = symbols[0]
        elif symbol not in symbols:
            raise ConfigError(f"{source}: [regime] symbol {symbol!r} is not one of [data] symbols {list(symbols)}")
    trig = cfg.get("trigger")
    if trig is not None and not isinstance(trig, dict):
        raise ConfigError(f"{source}: [regime] trigger must be a table ([regime.trigger]), got {trig!r}")
    try:
        detector = regime.from_config(cfg)
    except InputError as exc:
        raise ConfigError(f"{source}: [regime] {exc}") from None
    try:
        policy = regime.trigger_from_config(cfg)
    except InputError as exc:
        raise ConfigError(f"{source}: [regime.trigger] {exc}") from None
    return detector, policy, symbol


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate an experiment TOML file (errors name the file, table and key)."""
    path, text, raw = read_spec_file(path)
    return experiment_from_raw(raw, text, path=path, source=str(path), top=ExperimentSpec)


def experiment_from_raw(raw: dict[str, Any], text: bytes, *, path: Path | None, source: str,
                        top: type = None, default_name: str | None = None) -> Experiment:
    """The typed :class:`Experiment` of a parsed spec (``top`` validates the top level)."""
    from harness.engine import BacktestConfig

    top_spec = build_table(top or ExperimentSpec, source, None, raw)
    if top_spec.strategy is None:
        raise ConfigError(f"{source}: the [strategy] table is required (with name = \"...\")")
    name = top_spec.name or default_name or (path.stem if path is not None else "")
    if not _NAME.match(name):
        raise ConfigError(f"{source}: experiment name {name!r} must match [A-Za-z0-9][A-Za-z0-9_.-]* "
                          "(it becomes a folder name)")
    cv = build_table(CVSpec, source, "cv", top_spec.cv)
    try:
        cv.splitter()
    except InputError as exc:
        raise ConfigError(f"{source}: [cv] {exc}") from None
    data = build_table(DataSpec, source, "data", top_spec.data)
    if top_spec.regime is not None:
        if not isinstance(top_spec.regime, dict):
            raise ConfigError(f"{source}: [regime] must be a table, got {top_spec.regime!r}")
        regime_parts(top_spec.regime, source, list(data.symbols) if data.symbols else None)
    return Experiment(
        path=path, name=name, description=top_spec.description,
        data=data, strategy=build_table(StrategySpec, source, "strategy", top_spec.strategy),
        cv=cv, optimize=build_table(OptimizeSpec, source, "optimize", top_spec.optimize),
        costs=build_table(BacktestConfig, source, "costs", top_spec.costs),
        spec_hash=hashlib.sha256(text).hexdigest(), raw=raw, regime=top_spec.regime,
    )


@dataclass(frozen=True)
class ExperimentRun:
    """The outcome of :func:`run_experiment`: the optimisation result and where it was written."""

    experiment: Experiment
    result: Any  # OptimizationResult
    folder: Path
    n_new_trials: int = 0  #: trials this call added to the study
    run_id: str | None = None  #: the MLflow run (``track=True``)


def run_experiment(path: str | Path, *, progress: bool = True, track: bool = False) -> ExperimentRun:
    """Run an experiment file in the home folder and write its results (see the module docs).

    ``track=True`` then logs an MLflow run of kind ``run`` (tags ``harness.experiment``
    and ``harness.spec_sha256``); a tracking failure is one warning, the results stay.
    """
    import optuna

    from harness._bars import load_bars
    from harness.config import paths
    from harness.optimize import optimize

    exp = load_experiment(path)
    d = exp.data
    bars = load_bars(list(d.symbols) if d.symbols else None, start=d.start, end=d.end, frequency=d.frequency,
                     snapshot=d.snapshot)
    study_name = exp.optimize.study or f"{exp.name}-{exp.spec_hash[:10]}"
    storage = paths().ensure().optuna_url
    try:
        done = len(optuna.load_study(study_name=study_name, storage=storage).trials)
    except KeyError:
        done = 0
    objective = exp.optimize.objective
    objective = objective if isinstance(objective, str) else tuple(objective)
    n_new = max(0, exp.optimize.trials - done)
    try:
        result = optimize(bars, exp.strategy.name, n_trials=n_new,
                          objective=objective, cv=exp.cv.splitter(), storage=storage, study_name=study_name,
                          seed=exp.optimize.seed, n_jobs=exp.optimize.n_jobs, config=exp.costs,
                          search_space={**(exp.strategy.params or {}), **(exp.strategy.search_space or {})},
                          progress=progress)
    except InputError as exc:
        raise type(exc)(f"{exp.path}: {exc}") from None
    folder = paths().results / "experiments" / exp.name
    result.save(folder)
    summary = json.loads((folder / "summary.json").read_text())
    summary["experiment"] = {"name": exp.name, "description": exp.description, "file": str(exp.path.resolve()),
                             "sha256": exp.spec_hash, "spec": exp.raw}
    (folder / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True, default=str))
    (folder / "spec.toml").write_bytes(exp.path.read_bytes())
    run_id = None
    if track:
        from harness.registry._tracking import log_optimization, track_or_warn

        run_id = track_or_warn(log_optimization, result, kind="run", n_new_trials=n_new, folder=folder,
                               tags={"harness.experiment": exp.name, "harness.spec_sha256": exp.spec_hash})
        if run_id is not None:
            summary["run_id"] = run_id
            (folder / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True, default=str))
    return ExperimentRun(experiment=exp, result=result, folder=folder, n_new_trials=n_new, run_id=run_id)
