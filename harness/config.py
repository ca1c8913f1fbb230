"""The home folder and the paths of everything in it.

With no configuration everything lives under one folder: ``$HARNESS_HOME`` or, when
unset, ``./.harness`` (relative to the working directory). The CLI's ``--home`` sets
``HARNESS_HOME`` for the process. Layout::

    <home>/
      data/            Icechunk repository holding the bar store
      results/         backtest, sweep and experiment outputs
      optuna.db        SQLite storage of Optuna studies
      mlflow.db        SQLite MLflow tracking store and model registry
      artifacts/       MLflow artifacts and saved models
      paper/           paper-trading runner state
      audit.log        append-only audit trail (JSON lines)
      config.toml      home settings (e.g. [regime] default detector)
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

__all__ = ["home", "paths", "Paths", "settings", "HOME_ENV"]

HOME_ENV = "HARNESS_HOME"
DEFAULT_HOME = ".harness"


def home() -> Path:
    """The home folder in force (not created)."""
    value = os.environ.get(HOME_ENV)
    return Path(value).expanduser().absolute() if value else (Path.cwd() / DEFAULT_HOME).absolute()


@dataclass(frozen=True, kw_only=True)
class Paths:
    """Where each piece of state lives under a home folder."""

    home: Path

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def results(self) -> Path:
        return self.home / "results"

    @property
    def optuna_db(self) -> Path:
        return self.home / "optuna.db"

    @property
    def optuna_url(self) -> str:
        return f"sqlite:///{self.optuna_db}"

    @property
    def mlflow_db(self) -> Path:
        return self.home / "mlflow.db"

    @property
    def artifacts(self) -> Path:
        return self.home / "artifacts"

    @property
    def paper(self) -> Path:
        return self.home / "paper"

    @property
    def audit_log(self) -> Path:
        return self.home / "audit.log"

    @property
    def config_file(self) -> Path:
        return self.home / "config.toml"

    def ensure(self) -> Paths:
        """Create the home folder (and results folder) if missing; returns self."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.results.mkdir(exist_ok=True)
        return self


def paths(home_dir: str | os.PathLike[str] | None = None) -> Paths:
    """The paths under ``home_dir`` (default: :func:`home`)."""
    return Paths(home=Path(home_dir).expanduser().absolute() if home_dir else home())


def settings(section: str | None = None, *, home_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The home settings from ``<home>/config.toml`` (``{}`` when absent), or one section of them."""
    file = paths(home_dir).config_file
    if not file.exists():
        return {}
    try:
        data = tomllib.loads(file.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: invalid TOML: {exc}") from None
    if section is None:
        return data
    value = data.get(section, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{file}: [{section}] must be a table")
    return value
