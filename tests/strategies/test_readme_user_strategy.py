"""The README's "add your own strategy" example runs exactly as printed, in under 30 lines."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest

import strategies

README = Path(__file__).resolve().parents[2] / "README.md"


def _user_blocks() -> tuple[str, str]:
    text = README.read_text()
    section = text.split("## Strategies", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    module = next(b for b in blocks if b.startswith("# my_momentum.py"))
    usage = blocks[blocks.index(module) + 1]
    return module, usage


def test_user_strategy_example_is_under_30_lines():
    module, usage = _user_blocks()
    assert len(module.splitlines()) + len(usage.splitlines()) < 30


def test_user_strategy_example_registers_and_passes_the_contract(tmp_path, monkeypatch):
    module, usage = _user_blocks()
    (tmp_path / "my_momentum.py").write_text(module)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        exec(compile(usage, "README usage", "exec"), {})  # noqa: S102 - the documented snippet itself
        assert "my_momentum" in strategies.available()
        s = strategies.get("my_momentum")
        assert s.warmup(s.Params()) == 20
        with pytest.raises(strategies.ParamError, match="lookback"):
            s.Params(lookback=1)
    finally:
        strategies.unregister("my_momentum")
        sys.modules.pop("my_momentum", None)
        importlib.invalidate_caches()
