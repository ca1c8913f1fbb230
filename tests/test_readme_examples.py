"""The README's Python examples run as written (each in a fresh namespace and folder)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)

# Blocks that need something the README leaves to the reader; the prelude supplies it.
PRELUDES = {
    "true_change_points": "import numpy as np\ntrue_change_points = np.array([2440, 3200])\n",
    "res = backtest(bars, weights=": "from market_data import samples\nbars = samples.load('SPX')\n",
    'reg.get("spx-sma", "champion")': (
        "from harness._bars import home_store\n"
        "from harness.engine import BacktestConfig\n"
        "from harness.registry import Registry as _Registry\n"
        "from market_data import samples\n"
        "bars = samples.load('SPX')\n"
        "_snap = str(home_store(create=True).write(bars, message='readme'))\n"
        "_r = _Registry.open()\n"
        "_r.create_deployment('spx-sma', mode='auto', baseline='cash', spec='', spec_hash='h', by='alice')\n"
        "_v = _r.register('spx-sma', strategy='sma_crossover', params={'fast': 20, 'slow': 100},\n"
        "                 config=BacktestConfig(), symbols=list(bars.symbols), frequency=bars.frequency,\n"
        "                 snapshot_id=_snap, data_digest=bars.digest())\n"
        "_d = {'outcome': 'promote', 'checks': [], 'reasons': [], 'evidence_digest': 'e', 'time': 'now',\n"
        "      'policy': {'mode': 'auto'}}\n"
        "_r.promote('spx-sma', _v.version, decision=_r.record_decision('spx-sma', _v.version, _d))\n"
    ),
    'ingest.ingest("minute.csv"': (
        "import pandas as pd\n"
        "pd.DataFrame({'timestamp': pd.date_range('2024-01-02 09:30', periods=5, freq='min'),\n"
        "              'ticker': 'XYZ', 'open': 10.0, 'high': 11.0, 'low': 9.0, 'close': 10.5,\n"
        "              'volume': 100}).to_csv('minute.csv', index=False)\n"
    ),
}
# Blocks tested elsewhere: the user strategy (tests/strategies/test_readme_user_strategy.py).
SKIP = ("my_momentum",)
SLOW = ("optimize(",)


def _params():
    for i, block in enumerate(BLOCKS):
        if any(s in block for s in SKIP):
            continue
        marks = [pytest.mark.slow] if any(s in block for s in SLOW) else []
        yield pytest.param(block, id=f"block{i}", marks=marks)


def test_readme_has_examples():
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize("block", list(_params()))
def test_readme_example_runs(block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    prelude = "".join(code for key, code in PRELUDES.items() if key in block)
    namespace: dict = {"np": np}
    exec(compile(prelude + block, "README.md", "exec"), namespace)
