"""``run_declared``: the ``harness`` command as a fresh venv built from ``pyproject.toml`` would run it."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

_HERE = Path(__file__).parent
_RUNNER = _HERE / "_declared_only.py"
_PYPROJECT = _HERE.parents[2] / "pyproject.toml"


@pytest.fixture(scope="session")
def declared_modules_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = importlib.util.spec_from_file_location("_declared_only", _RUNNER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    listing = mod.declared_modules(_PYPROJECT)
    path = tmp_path_factory.mktemp("declared") / "modules.json"
    path.write_text(json.dumps(listing))
    return path


@pytest.fixture
def run_declared(harness_home: Path, declared_modules_file: Path):
    """Run ``harness ARGS...`` in a subprocess whose imports are limited to the declared dependencies."""

    def _run(*args: str, timeout: float = 600, env: dict | None = None):
        full_env = {**os.environ, "HARNESS_HOME": str(harness_home), "COLUMNS": "200", **(env or {})}
        return subprocess.run([sys.executable, str(_RUNNER), str(declared_modules_file), *args],
                              capture_output=True, text=True, timeout=timeout, env=full_env)

    return _run
