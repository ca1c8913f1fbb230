"""Registry, default detector from the home config and experiment tables, lazy imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness import regime
from harness.errors import InputError


def test_available_lists_the_four_builtin_detectors():
    assert regime.available() == ["bocpd", "cusum", "ewma", "garch"]


def test_get_builds_a_detector_with_the_given_parameters():
    det = regime.get("bocpd", threshold=0.7)
    assert det.name == "bocpd" and det.config.threshold == 0.7 and det.config.expected_run == 1000.0


def test_unknown_detector_names_the_closest_match():
    with pytest.raises(InputError, match="unknown regime detector 'cusm'; did you mean 'cusum'"):
        regime.get("cusm")


def test_default_without_home_config_is_the_builtin_default():
    det = regime.default()
    assert det.name == regime.DEFAULT_DETECTOR
    assert det.config == regime.detector_class(regime.DEFAULT_DETECTOR).Config()


def test_default_reads_detector_and_parameters_from_the_home_config(harness_home):
    (harness_home / "config.toml").write_text(
        '[regime]\ndetector = "ewma"\nhalflife = 30.0\n[regime.trigger]\nmin_duration = 7\n')
    det = regime.default()
    assert det.name == "ewma" and det.config.halflife == 30.0
    from harness.config import settings

    assert regime.trigger_from_config(settings("regime")).min_duration == 7


def test_from_config_takes_flat_and_nested_parameters_nested_winning():
    det = regime.from_config({"detector": "cusum", "threshold": 8.0, "rho": 2.0, "params": {"rho": 4.0}})
    assert (det.config.threshold, det.config.rho) == (8.0, 4.0)
    assert regime.from_config(None).name == regime.DEFAULT_DETECTOR


def test_from_config_rejects_a_parameter_of_another_detector():
    with pytest.raises(InputError, match="EWMAConfig has no field 'expected_run'"):
        regime.from_config({"detector": "ewma", "expected_run": 10})
    with pytest.raises(InputError, match="detector must be a detector name"):
        regime.from_config({"detector": 3})


def test_user_detector_can_be_registered():
    class Mine(regime.detector_class("ewma")):
        name = "mine_test"

    regime.register(Mine)
    try:
        assert "mine_test" in regime.available()
        assert isinstance(regime.get("mine_test", halflife=5.0), Mine)
        with pytest.raises(InputError, match="already registered"):
            regime.register(Mine)
    finally:
        from harness.regime import _registry

        _registry._USER.pop("mine_test", None)


def test_importing_the_regime_package_stays_light():
    code = ("import sys, harness; from harness import regime; regime.get('garch'); regime.default(); "
            "heavy = [m for m in ('arch', 'plotly', 'torch', 'optuna', 'vectorbt', 'mlflow', 'dask') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
