"""``MonitorConfig``: the ``[monitor]`` table of a deployment spec, with justified defaults.

Defaults and why (calibration figures: ``benchmarks/bench_monitor.py``, table in
``benchmarks/README.md``):

- ``alpha = 0.01``: the family-wise false-alarm rate of one evaluated window of the
  drift monitors, after the multiple-testing correction. Daily evaluation over a year
  is ~250 windows; consecutive windows overlap almost completely, so their errors are
  strongly correlated, and de-duplication turns a persisting condition into one alert:
  at 1 % the expected false alerts are a few per deployment-year instead of one a month
  at 5 %. Power stays high: a 0.5 sigma mean shift in one of 100 features at n = 500 is
  found in essentially every seed (bench).
- ``correction = "bonferroni"``: a feature-drift alarm means "at least one input
  changed"; the error rate that matters is the family-wise one, and Bonferroni bounds it
  under *any* dependence between features (a strategy's inputs are strongly
  correlated: ``ret_5`` and ``ret_20``, ``vol_20`` and ``vol_ratio``), which
  Benjamini-Hochberg only does under positive regression dependence. ``"bh"`` is
  available for many weakly related features.
- ``autocorrelation = "ess"``: KS p-values assume independent draws; on ``vol_20`` or an
  AR(1) with coefficient 0.95 they over-alarm massively. Each (symbol, input) series'
  integrated autocorrelation time ``tau`` is estimated on the *reference* window
  (Geyer's initial monotone sequence) and both sample sizes are divided by it before the
  asymptotic KS p-value is taken.
- ``psi_warn = 0.1``, ``psi_alert = 0.25`` (the industry habit) are kept, but as
  *effect-size floors* on top of significance: a feature is reported only when its drift
  is statistically significant after correction *and* its PSI is at least ``psi_warn``
  (warn) or ``psi_alert`` (alert). For a normal feature with 10 decile bins PSI 0.1 is a
  mean shift of about 0.33 sigma and 0.25 one of about 0.52 sigma: smaller shifts rarely
  move a strategy's edges, and PSI alone cannot be used as a test because its noise
  level grows with autocorrelation (E[PSI] ~ (bins - 1)(tau/n_ref + tau/n_cur)).
- ``window = 250`` bars (one trading year of daily bars) against the training window,
  ``min_samples = 60`` finite values in the live window (and 4x that in the reference)
  before a drift monitor reports anything but ``insufficient data``.
- Performance: the live cumulative return and Sharpe over ``perf_window = 63`` bars (a
  quarter) against a predictive circular block bootstrap (``n_boot = 2000`` paths) of the
  champion's holdout returns; alert when one sits below the ``percentile = 1`` st
  percentile for ``k_bars = 10`` bars in a row. The band is looked at on every bar, so a
  pointwise 5 % band is crossed by a perfectly healthy model most years: on 16 stable
  synthetic markets (sma_crossover, 400 holdout bars, 300 live bars; bench_monitor's
  performance table) 5 %/5 bars alarmed on 9, 1 %/10 bars on 1, while a 0.4 %-a-day
  drag was still caught within 100 bars on 14 of 16.
- Data quality: ``stale_intervals = 3`` missed bar intervals; a gap is a spacing of more
  than ``gap_factor = 5`` median spacings that is also longer than every spacing of the
  reference calendar (weekends and holidays are not gaps); ``nan_burst = 3`` missing
  bars in a row of a listed symbol; ``jump_z = 8`` reference sigmas for a price jump (8
  catches decimal-point and unit errors while the largest S&P 500 days of 2008, about
  7.5 sigma of its 1999-2018 history, stay quiet); ``stopped_bars = 5`` trailing
  missing or zero-volume bars for a symbol that stops trading.
- ``tracking_tolerance = 0.0``: with the SimBroker the paper ledger must equal the
  backtest exactly; any difference is a bug or a broker divergence.
- ``remind_every = 20`` bars: a persisting condition raises one alert, then a reminder
  every 20 bars (four weeks of daily bars) while it lasts; ``clear_after = 5``: it is
  closed after 5 ok evaluations in a row, so a metric hovering at its threshold (a
  p-value around alpha) does not raise a fresh alert at every crossing.
- ``every = "1d"``: evaluate at the first bar of each UTC day (every bar for daily data);
  an integer evaluates every that many bars.
"""

from __future__ import annotations

from market_data.config import Config, param

__all__ = ["MonitorConfig", "MONITOR_NAMES", "RETRAIN_REASONS", "RETRAIN_ON"]

#: The monitors, in evaluation order.
MONITOR_NAMES = ("feature_drift", "decision_drift", "performance", "data_quality", "tracking_error")
#: Which monitors' alerts may trigger a retrain, by ``[retrain] retrain_on`` name. Data
#: quality and tracking error never do: retraining on a broken feed or a buggy broker
#: would hide the fault.
#: ``"regime"`` is the regime detector's trigger (owned by ``harness.retrain``, not an alert of
#: these monitors); it is listed so that every name ``retrain_on`` accepts is a value here.
RETRAIN_REASONS = {"feature_drift": "drift", "decision_drift": "drift", "performance": "performance",
                   "regime": "regime"}
#: The names ``[retrain] retrain_on`` accepts.
RETRAIN_ON = ("regime", "drift", "performance")


class MonitorConfig(Config):
    """``[monitor]``: which monitors run, when, their thresholds and where alerts go."""

    monitors: object = param(MONITOR_NAMES, doc="monitors to run (subset of MONITOR_NAMES)")
    every: object = param("1d", doc='evaluate every N bars (an integer) or at the first bar of each period ("1d", "4h", "30min")')
    window: int = param(250, low=10, high=1_000_000, doc="live window (bars) compared with the training window")
    min_samples: int = param(60, low=5, high=1_000_000, doc="finite live values a drift test needs (reference: 4x)")
    alpha: float = param(0.01, low=1e-9, high=0.5, doc="family-wise false-alarm rate per evaluated window")
    correction: str = param("bonferroni", choices=("bonferroni", "bh"), doc="multiple-testing correction across inputs")
    autocorrelation: str = param("ess", choices=("ess", "none"),
                                 doc="ess: divide sample sizes by the reference's autocorrelation time")
    bins: int = param(10, low=2, high=100, doc="PSI and Jensen-Shannon bins (reference quantiles)")
    psi_warn: float = param(0.1, low=0.0, high=10.0, doc="PSI effect-size floor of a significant drift: warn")
    psi_alert: float = param(0.25, low=0.0, high=10.0, doc="PSI effect-size floor of a significant drift: alert")
    decision_ks_min: float = param(0.2, low=0.0, high=1.0, doc="KS effect-size floor of a significant decision drift")
    turnover_ratio: float = param(3.0, low=1.0, high=1000.0, doc="alert when live turnover is this many times the backtest's (or 1/x)")
    perf_window: int = param(63, low=5, high=100_000, doc="bars of live P&L and Sharpe compared with the holdout band")
    percentile: float = param(1.0, low=0.01, high=50.0, doc="lower percentile of the holdout bootstrap band")
    k_bars: int = param(10, low=1, high=100_000, doc="consecutive bars below the band before a performance alert")
    n_boot: int = param(2000, low=100, high=1_000_000, doc="bootstrap paths of the holdout band")
    seed: int = param(0, low=0, high=2**32 - 1, doc="seed of the bootstrap")
    stale_intervals: float = param(3.0, low=1.0, high=1e6, doc="bar intervals without a bar before the feed is stale")
    gap_factor: float = param(5.0, low=1.0, high=1e6, doc="a gap is a spacing above this many median spacings")
    nan_burst: int = param(3, low=1, high=100_000, doc="missing bars in a row of a listed symbol (NaN burst)")
    jump_z: float = param(8.0, low=1.0, high=1000.0, doc="price jump threshold in reference sigmas of log returns")
    stopped_bars: int = param(5, low=1, high=100_000, doc="trailing missing or zero-volume bars: the symbol stopped trading")
    tracking_tolerance: float = param(0.0, low=0.0, high=1.0, doc="largest relative equity difference paper vs backtest")
    remind_every: int = param(20, low=1, high=1_000_000, doc="bars between reminders of a persisting alert")
    clear_after: int = param(5, low=1, high=1_000_000, doc="ok evaluations in a row before a condition is closed")
    log: bool = param(True, doc="alerts go to the log (logger harness.monitor)")
    jsonl: str = param("", doc="extra JSON Lines file for alerts (the deployment's own is always written)")
    on_alert: str = param("", doc="shell command run per alert, the alert as JSON on stdin")
    hook_timeout: float = param(10.0, low=0.1, high=3600.0, doc="seconds before a hook is killed")
    audit: bool = param(True, doc="alerts go to the audit trail (drift_alert)")
    mlflow: bool = param(True, doc="readings go to the deployment's MLflow monitoring run")

    def check(self) -> None:
        m = self.monitors
        if isinstance(m, str) or not isinstance(m, (list, tuple)) or not all(isinstance(x, str) for x in m):
            self.fail("monitors", f"must be a list of monitor names, got {m!r}")
        unknown = [x for x in m if x not in MONITOR_NAMES]
        if unknown:
            self.fail("monitors", f"has unknown monitor {unknown[0]!r}; expected some of {', '.join(MONITOR_NAMES)}")
        object.__setattr__(self, "monitors", tuple(m))
        e = self.every
        if isinstance(e, bool) or not isinstance(e, (int, str)):
            self.fail("every", f'must be a number of bars or a period such as "1d", got {e!r}')
        if isinstance(e, int) and e < 1:
            self.fail("every", f"must be at least 1 bar, got {e}")
        if isinstance(e, str):
            from harness.monitor._schedule import period_ns

            try:
                period_ns(e)
            except ValueError as exc:
                self.fail("every", str(exc))
        if self.psi_alert < self.psi_warn:
            self.fail("psi_alert", f"must be >= psi_warn ({self.psi_warn}), got {self.psi_alert}")
