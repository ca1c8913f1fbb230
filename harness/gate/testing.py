"""Evidence for testing gate checks (the shared contract suite, user checks, examples)."""

from __future__ import annotations

import numpy as np

from harness.gate._evidence import Evidence, Shadow

__all__ = ["example_evidence"]


def example_evidence(seed: int = 0, *, n_bars: int = 300, n_trials: int = 5, edge: float = 0.0012) -> Evidence:
    """Evidence with every optional input present, so every check can run: a challenger
    with a daily edge ``edge`` over a fat-tailed champion, ``n_trials`` trials (the
    challenger first), six folds, backtest stats, ``sma_crossover`` on 200 random-walk
    bars for the look-ahead check and a 30-bar shadow record that tracks closely."""
    from strategies.testing import make_bars

    rng = np.random.default_rng(seed)
    champion = rng.standard_t(4, n_bars) * 0.007 + 0.0002
    challenger = champion + rng.standard_t(4, n_bars) * 0.003 + edge
    trials = np.column_stack([challenger] + [champion + rng.standard_t(4, n_bars) * 0.003
                                             for _ in range(n_trials - 1)])
    bars = make_bars(100 * np.exp(np.cumsum(rng.normal(0, 0.01, 200))))
    shadow = Shadow(returns=challenger[-30:] + rng.normal(0, 1e-4, 30), expected_returns=challenger[-30:])
    return Evidence(challenger_returns=challenger, champion_returns=champion, n_trials=n_trials,
                    trial_returns=trials, fold_ids=np.repeat(np.arange(6), n_bars // 6 + 1)[:n_bars],
                    trades=40, max_drawdown=0.08, turnover=6.0, exposure=1.0, strategy="sma_crossover",
                    params={"fast": 5, "slow": 20}, bars=bars, shadow=shadow, meta={"run_id": "r1"})
