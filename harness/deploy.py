"""Deployment specs: an experiment plus how it is retrained, gated, paper-traded and monitored.

A deployment is a TOML file in ``experiments/deployments/`` (the experiment files stay at
the top of ``experiments/``). It has the experiment tables (``[data]``, ``[strategy]``,
``[cv]``, ``[optimize]``, ``[costs]``, ``[regime]`` with ``[regime.trigger]``; see
:mod:`harness.experiments`) plus::

    [deployment]
    name = "spx-sma"            # the deployment's name in the registry (a path-safe name)
    mode = "auto"               # auto | governed: the only place the mode is set
    baseline = "cash"           # cash | buy_and_hold: the champion before the first promotion

    [retrain]
    window = "trailing:8y"      # trailing:<bars or duration> | expanding | regime
    holdout = "1y"              # bars, a duration or a fraction of the window (default 0.2)
    max_age = "90d"             # retrain at least this often (bar time), regime change or not
    top_k = 3                   # candidates registered per retrain
    warm_start_champion = true  # enqueue the champion's params as the first trial
    timeout = "10min"           # wall-clock budget of the study (seconds or a duration)
    retrain_on = []             # monitor alerts that also trigger a retrain: "drift", "performance"
    purge = 5                   # regime window: bars dropped at each end of each period
    fallback = "trailing:5y"    # regime window: used when too few bars of the new regime exist

    [gate]                      # harness.gate.GatePolicy (its mode comes from [deployment])
    [paper]                     # harness.paper.PaperConfig, with [paper.risk]: harness.paper.RiskLimits
    [monitor]                   # harness.monitor.MonitorConfig

Each table is validated by its owner's config class (imported when the spec is loaded);
unknown tables and keys are errors naming the file, the table and the key.
:func:`load_deployment` reads a file, :func:`resolve` a file or the spec stored in the
registry under a deployment name.
"""

from __future__ import annotations

import hashlib
import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, InputError
from harness.experiments import (
    _NAME,
    Experiment,
    ExperimentSpec,
    build_table,
    experiment_from_raw,
    parse_spec_text,
    read_spec_file,
    regime_parts,
)
from strategies.params import Config, param

__all__ = ["DeploymentSpec", "DeploymentTable", "RetrainConfig", "load_deployment", "loads_deployment",
           "resolve", "WindowSpec", "DEPLOYMENTS_DIR"]

#: where shipped deployment specs live, relative to the repository root
DEPLOYMENTS_DIR = Path("experiments") / "deployments"

_TIME_UNITS_S = {"s": 1, "min": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
_TIMEOUT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|min|h|d|w)?\s*$")


def _size(value: Any, name: str, owner: Config, *, fraction: bool = False) -> None:
    """Check a bar count or duration (or, with ``fraction``, a share in (0, 1))."""
    from harness.validation._splits import resolve_duration

    if fraction and isinstance(value, float) and not isinstance(value, bool):
        if not 0.0 < value < 1.0:
            owner.fail(name, f"as a fraction of the window must be in (0, 1), got {value!r}")
        return
    try:
        resolve_duration(value, name)
    except InputError:
        extra = ", a fraction in (0, 1)" if fraction else ""
        owner.fail(name, f"must be a positive number of bars or a duration like '2y', '6m', '30d'{extra}; "
                         f"got {value!r}")


class DeploymentTable(Config):
    """``[deployment]``: name, mode and baseline."""

    name: str = param("", doc="deployment name (registry key; [A-Za-z0-9][A-Za-z0-9_.-]*)")
    mode: str = param("", doc="auto (a passing gate decision promotes) | governed (a named person approves)")
    baseline: str = param("cash", choices=("cash", "buy_and_hold"),
                          doc="the champion before the first promotion")
    description: str = param("", doc="free text")

    def check(self) -> None:
        if not self.name:
            self.fail("name", "is required (the deployment's name in the registry, e.g. \"spx-sma\")")
        if not _NAME.match(self.name):
            self.fail("name", f"must match [A-Za-z0-9][A-Za-z0-9_.-]* (it becomes a path), got {self.name!r}")
        if self.mode not in ("auto", "governed"):
            self.fail("mode", f"must be 'auto' or 'governed' (set it explicitly), got {self.mode!r}")


@dataclass(frozen=True)
class WindowSpec:
    """A parsed ``[retrain] window``: ``kind`` (trailing | expanding | regime) and, for
    trailing, ``size`` (bars, or ``(count, unit)`` for a duration)."""

    kind: str
    size: int | tuple[int, str] | None = None

    @classmethod
    def parse(cls, text: str) -> WindowSpec:
        from harness.validation._splits import resolve_duration

        t = text.strip()
        if t in ("expanding", "regime"):
            return cls(t)
        if t.startswith("trailing:"):
            return cls("trailing", resolve_duration(t.split(":", 1)[1].strip(), "trailing window"))
        raise InputError(f"window must be 'trailing:<bars or duration>', 'expanding' or 'regime', got {text!r}")

    def spec(self) -> str:
        if self.kind != "trailing":
            return self.kind
        size = self.size if isinstance(self.size, int) else f"{self.size[0]}{self.size[1]}"
        return f"trailing:{size}"


class RetrainConfig(Config):
    """``[retrain]``: the training window, holdout, cadence and budget of a retrain."""

    window: str = param("expanding", doc="trailing:<bars or duration> | expanding | regime")
    holdout: object = param(0.2, doc="bars, a duration, or a fraction of the window at its end that the "
                                     "study never sees (the gate's paired evidence)")
    max_age: object = param(None, doc="retrain at least this often (bars or a duration of bar time)")
    top_k: int = param(3, low=1, high=100, doc="candidates registered per retrain")
    warm_start_champion: bool = param(True, doc="enqueue the champion's params as the first trial")
    timeout: object = param(None, doc="wall-clock budget of the study: seconds or '30s', '10min', '1h'")
    retrain_on: object = param(None, doc="monitor alerts that also trigger a retrain in harness "
                                "watch (drift, performance; under [regime.trigger] cooldown)")
    purge: int = param(5, low=0, high=10_000,
                       doc="regime window: bars dropped at each end of every period of the new regime")
    fallback: str = param("trailing:5y", doc="regime window: the trailing window used when too few bars of "
                                             "the new regime exist for one full cv fold plus the holdout")

    def check(self) -> None:
        try:
            WindowSpec.parse(self.window)
        except InputError as exc:
            self.fail("window", str(exc).removeprefix("window "))
        try:
            fb = WindowSpec.parse(self.fallback)
        except InputError as exc:
            self.fail("fallback", str(exc).removeprefix("window "))
        if fb.kind != "trailing":
            self.fail("fallback", f"must be a trailing window ('trailing:<bars or duration>'), got {self.fallback!r}")
        _size(self.holdout, "holdout", self, fraction=True)
        if self.max_age is not None:
            _size(self.max_age, "max_age", self)
        if self.timeout is not None:
            self.timeout_seconds()
        r = self.retrain_on
        if r is not None and (not isinstance(r, (list, tuple)) or not all(isinstance(x, str) and x for x in r)):
            self.fail("retrain_on", f"must be a list of alert names, got {r!r}")
        if r:
            try:
                from harness.monitor._config import RETRAIN_ON
            except ImportError:
                return
            known = list(RETRAIN_ON)
            bad = [x for x in r if x not in known]
            if bad:
                self.fail("retrain_on", f"names unknown alert kind {bad[0]!r} (expected any of {', '.join(known)})")

    @property
    def window_spec(self) -> WindowSpec:
        return WindowSpec.parse(self.window)

    def timeout_seconds(self) -> float | None:
        """The study's timeout in seconds (None: no limit)."""
        v = self.timeout
        if v is None:
            return None
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if v <= 0:
                self.fail("timeout", f"must be positive, got {v!r}")
            return float(v)
        m = _TIMEOUT.match(v) if isinstance(v, str) else None
        if not m or float(m.group(1)) <= 0:
            self.fail("timeout", f"must be seconds or a duration like '30s', '10min', '1h', got {v!r}")
        return float(m.group(1)) * _TIME_UNITS_S[m.group(2) or "s"]


class _DeploymentFile(ExperimentSpec):
    """The top level of a deployment file: the experiment's tables plus the live ones."""

    deployment: object = param(None, doc="[deployment] table")
    retrain: object = param(None, doc="[retrain] table")
    gate: object = param(None, doc="[gate] table (harness.gate.GatePolicy)")
    paper: object = param(None, doc="[paper] table (harness.paper.PaperConfig, [paper.risk])")
    monitor: object = param(None, doc="[monitor] table (harness.monitor.MonitorConfig)")


_TABLES = tuple(f for f in _DeploymentFile.field_names() if f not in ("name", "description"))


@dataclass(frozen=True, eq=False)
class DeploymentSpec:
    """A validated deployment spec.

    ``name``, ``mode``, ``baseline``, ``path`` (the file, or None when read from the
    registry), ``source`` (what error messages name), ``text`` (the spec as written),
    ``hash`` (SHA-256 of the text), ``experiment`` (the :class:`~harness.experiments.Experiment`
    part; ``data``, ``strategy``, ``cv``, ``optimize``, ``costs`` and ``regime`` are
    shortcuts to it), ``retrain`` (:class:`RetrainConfig`), ``gate``
    (``harness.gate.GatePolicy``), ``paper`` (``harness.paper.PaperConfig``), ``paper_risk``
    (``harness.paper.RiskLimits``), ``monitor`` (``harness.monitor.MonitorConfig``); each of
    the last four is None when its table is absent and its owner is not installed.
    """

    name: str
    mode: str
    baseline: str
    description: str
    path: Path | None
    source: str
    text: str
    hash: str
    experiment: Experiment
    retrain: RetrainConfig
    gate: Any
    paper: Any
    paper_risk: Any
    monitor: Any
    regime_symbol: str

    @property
    def data(self):
        return self.experiment.data

    @property
    def strategy(self):
        return self.experiment.strategy

    @property
    def cv(self):
        return self.experiment.cv

    @property
    def optimize(self):
        return self.experiment.optimize

    @property
    def costs(self):
        return self.experiment.costs

    @property
    def regime(self) -> dict[str, Any]:
        return dict(self.experiment.regime or {})

    @property
    def symbols(self) -> list[str]:
        return list(self.experiment.data.symbols)

    def detector(self):
        """A fresh detector built from ``[regime]`` (the home default when the table is absent)."""
        from harness.config import settings

        table = self.experiment.regime if self.experiment.regime is not None else settings("regime")
        return regime_parts(table, self.source, self.symbols)[0]

    def trigger_policy(self):
        """The ``[regime.trigger]`` policy."""
        return regime_parts(self.experiment.regime, self.source, self.symbols)[1]

    def search_space(self) -> dict[str, Any]:
        """The ``[strategy]`` overrides: fixed params plus the search space."""
        return {**(self.strategy.params or {}), **(self.strategy.search_space or {})}

    def __repr__(self) -> str:
        return f"DeploymentSpec({self.name!r}, mode={self.mode!r}, strategy={self.strategy.name!r}, " \
               f"symbols={self.symbols}, window={self.retrain.window!r})"


def _owner_class(module: str, attr: str, source: str, table: str, present: bool) -> Any:
    """The config class owning a table, imported now; None when absent and not installed."""
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        if present:
            raise ConfigError(f"{source}: [{table}] is validated by {module}.{attr}, which this installation "
                              "does not have; remove the table or upgrade the harness") from None
        return None


def _table(raw: Any, source: str, table: str) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: [{table}] must be a table, got {raw!r}")
    return dict(raw)


def load_deployment(path: str | Path) -> DeploymentSpec:
    """Read and validate a deployment spec file (errors name the file, the table and the key)."""
    path, text, raw = read_spec_file(path, kind="deployment")
    return _from_raw(raw, text, path=path, source=str(path))


def loads_deployment(text: str | bytes, *, source: str = "<deployment spec>") -> DeploymentSpec:
    """Validate a deployment spec given as text (e.g. the copy stored in the registry)."""
    data = text.encode() if isinstance(text, str) else text
    return _from_raw(parse_spec_text(data, source=source), data, path=None, source=source)


def _from_raw(raw: dict[str, Any], text: bytes, *, path: Path | None, source: str) -> DeploymentSpec:
    unknown = [k for k in raw if k not in _DeploymentFile.field_names()]
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], _TABLES, n=1)
        hint = f"; did you mean [{close[0]}]?" if close else ""
        raise ConfigError(f"{source}: unknown table or key {unknown[0]!r}{hint} (a deployment has the tables "
                          f"{', '.join(f'[{t}]' for t in _TABLES)})")
    if raw.get("deployment") is None:
        raise ConfigError(f"{source}: the [deployment] table is required (name, mode, baseline)")
    dep = build_table(DeploymentTable, source, "deployment", raw["deployment"])
    exp = experiment_from_raw(raw, text, path=path, source=source, top=_DeploymentFile, default_name=dep.name)
    if not exp.data.symbols:
        raise ConfigError(f"{source}: [data] symbols is required for a deployment (the symbols it trades)")
    _detector, _policy, symbol = regime_parts(exp.regime, source, list(exp.data.symbols))
    retrain = build_table(RetrainConfig, source, "retrain", raw.get("retrain"))
    _check_strategy(exp, source)

    gate_raw = _table(raw.get("gate"), source, "gate")
    gate_cls = _owner_class("harness.gate", "GatePolicy", source, "gate", gate_raw is not None)
    gate = None
    if gate_cls is not None:
        gate_raw = gate_raw or {}
        if "mode" in gate_raw:
            raise ConfigError(f"{source}: [gate] mode is not allowed here: the mode is set by [deployment] mode")
        gate = build_table(gate_cls, source, "gate", {"mode": dep.mode, **gate_raw})

    paper_raw = _table(raw.get("paper"), source, "paper")
    risk_raw = _table((paper_raw or {}).pop("risk", None), source, "paper.risk")
    paper_cls = _owner_class("harness.paper", "PaperConfig", source, "paper", paper_raw is not None)
    risk_cls = _owner_class("harness.paper", "RiskLimits", source, "paper.risk", risk_raw is not None)
    risk = build_table(risk_cls, source, "paper.risk", risk_raw) if risk_cls is not None else None
    paper = None
    if paper_cls is not None:
        fields = paper_cls.field_names() if hasattr(paper_cls, "field_names") else ()
        extra = {"risk": risk} if "risk" in fields and risk is not None else {}
        paper = build_table(paper_cls, source, "paper", {**(paper_raw or {}), **extra})

    monitor_raw = _table(raw.get("monitor"), source, "monitor")
    monitor_cls = _owner_class("harness.monitor", "MonitorConfig", source, "monitor", monitor_raw is not None)
    monitor = build_table(monitor_cls, source, "monitor", monitor_raw) if monitor_cls is not None else None

    return DeploymentSpec(
        name=dep.name, mode=dep.mode, baseline=dep.baseline, description=dep.description or exp.description,
        path=path, source=source, text=text.decode(), hash=hashlib.sha256(text).hexdigest(), experiment=exp,
        retrain=retrain, gate=gate, paper=paper, paper_risk=risk, monitor=monitor, regime_symbol=symbol,
    )


def _check_strategy(exp: Experiment, source: str) -> None:
    """The strategy exists and its search space resolves (bad names fail at load, not at 3 a.m.)."""
    import strategies
    from harness.optimize import resolve_search_space

    try:
        strat = strategies.get(exp.strategy.name)
        space, _ = resolve_search_space(strat, {**(exp.strategy.params or {}), **(exp.strategy.search_space or {})})
    except InputError as exc:
        raise ConfigError(f"{source}: [strategy] {exc}") from None
    if not space:
        raise ConfigError(f"{source}: [strategy] {exp.strategy.name!r} has nothing to search "
                          "(every parameter is fixed)")


def resolve(name_or_path: str | Path) -> DeploymentSpec:
    """A deployment spec from a file path, or from the registry by deployment name.

    Anything that is an existing file, ends in ``.toml`` or contains a path separator is a
    path; otherwise it is a name whose stored spec (the latest spec version) is loaded.
    """
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or text.endswith(".toml") or "/" in text or Path(text).is_file():
        return load_deployment(name_or_path)
    from harness.registry import Registry

    info = Registry.open().deployment(text)
    return loads_deployment(info.spec, source=f"deployment {text!r} (spec v{info.spec_version} in the registry)")
