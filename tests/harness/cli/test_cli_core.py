"""`harness --help`, `version`, `doctor`, `demo` and error handling, in subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest


def test_help_lists_the_commands(run_cli):
    proc = run_cli("--help", check=True)
    for cmd in ("version", "doctor", "demo"):
        assert cmd in proc.stdout


def test_version_names_the_core_libraries(run_cli):
    out = run_cli("version", check=True).stdout
    for lib in ("numpy", "numba", "zarr", "icechunk", "optuna", "torch"):
        assert lib in out


def test_doctor_passes_on_a_fresh_home(run_cli, harness_home):
    proc = run_cli("doctor")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "HARNESS_HOME" in proc.stdout and str(harness_home) in proc.stdout.replace("\n", "")


def test_doctor_reports_a_home_that_is_a_file(run_cli, tmp_path):
    bogus = tmp_path / "not-a-dir"
    bogus.write_text("x")
    proc = run_cli("doctor", env={"HARNESS_HOME": str(bogus)})
    assert proc.returncode == 1
    assert "exists but is not a folder" in proc.stdout.replace("\n", " ")


def test_doctor_reports_a_home_that_cannot_be_created(run_cli, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")  # nothing can be created below a regular file, not even by root
    proc = run_cli("doctor", env={"HARNESS_HOME": str(blocker / "home")})
    assert proc.returncode == 1
    assert "is not writable" in proc.stdout.replace("\n", " ")


def test_home_option_overrides_the_environment(run_cli, tmp_path):
    other = tmp_path / "elsewhere"
    proc = run_cli("--home", str(other), "doctor")
    assert proc.returncode == 0 and str(other) in proc.stdout.replace("\n", "")


def test_the_declared_only_runner_blocks_what_is_merely_installed(run_declared, declared_modules_file):
    """The runner really refuses an installed module outside the declared closure (pytest, a dev
    extra) and lets a declared one through, so the tests below see what a fresh venv sees."""
    import json

    listing = json.loads(declared_modules_file.read_text())
    assert "pytest" in listing["blocked"] and "numpy" in listing["allowed"] and "typer" in listing["allowed"]
    assert "backtesting" in listing["blocked"] and "bokeh_sampledata" in listing["blocked"]


@pytest.mark.parametrize(("args", "message"), [
    (("nosuchcmd",), "No such command 'nosuchcmd'"),
    (("backtest", "--bogus"), "No such option: --bogus"),
    (("backtest", "--fee-rate", "abc"), "Invalid value for '--fee-rate'"),
    (("sweep", "--top", "1.5"), "Invalid value for '--top'"),
    (("data", "info"), "Missing argument"),
    (("data", "tag"), "Missing argument"),
    (("data", "nosuch"), "No such command 'nosuch'"),
], ids=["command", "option", "float-type", "int-type", "argument", "argument-2", "subcommand"])
def test_a_usage_error_prints_the_usage_and_exits_2_without_a_traceback(run_declared, args, message):
    proc = run_declared(*args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stderr.lstrip().startswith("Usage: harness"), proc.stderr
    assert message in proc.stderr and "--help' for help" in proc.stderr


@pytest.mark.parametrize("args", [(), ("--help",), ("data",)], ids=["bare", "help", "bare-group"])
def test_bare_harness_and_help_print_the_help_and_exit_0(run_declared, args):
    proc = run_declared(*args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "Usage: harness" in proc.stdout
    for cmd in (("version", "doctor", "backtest") if not args or args == ("--help",) else ("samples", "ingest")):
        assert cmd in proc.stdout


def test_version_and_doctor_run_on_the_declared_dependencies_alone(run_declared):
    for args in (("version",), ("doctor",)):
        proc = run_declared(*args)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "Traceback" not in proc.stdout + proc.stderr


_APP = ("import sys, time, typer; from harness.cli import app, main\n"
        "@app.command('exit3')\n"
        "def exit3():\n"
        "    raise typer.Exit(3)\n"
        "@app.command('exit0')\n"
        "def exit0():\n"
        "    raise typer.Exit()\n"
        "@app.command('sleepy')\n"
        "def sleepy():\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(60)\n"
        "sys.exit(main(sys.argv[1:]))\n")


@pytest.mark.parametrize(("command", "code"), [("exit3", 3), ("exit0", 0)])
def test_typer_exit_gives_its_code(tmp_path, command, code):
    proc = subprocess.run([sys.executable, "-c", _APP, command], capture_output=True, text=True,
                          env={**os.environ, "HARNESS_HOME": str(tmp_path)}, timeout=120)
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_ctrl_c_exits_130_without_a_traceback(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", _APP, "sleepy"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "HARNESS_HOME": str(tmp_path)})
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in out + err and err.strip() == "interrupted"


def test_harness_errors_print_one_line_without_traceback(tmp_path):
    code = ("import sys; from harness.cli import app, main\n"
            "from harness.errors import InputError\n"
            "@app.command('boom')\n"
            "def boom():\n"
            "    raise InputError('field x must be positive, got -1')\n"
            "sys.exit(main(sys.argv[1:]))\n")
    proc = subprocess.run([sys.executable, "-c", code, "boom"], capture_output=True, text=True,
                          env={**os.environ, "HARNESS_HOME": str(tmp_path)})
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: field x must be positive, got -1 [InputError]"
    proc = subprocess.run([sys.executable, "-c", code, "--debug", "boom"], capture_output=True, text=True,
                          env={**os.environ, "HARNESS_HOME": str(tmp_path)})
    assert "Traceback" in proc.stderr


def test_importing_the_packages_stays_light():
    code = ("import sys, harness, strategies, market_data, harness.cli\n"
            "heavy = [m for m in ('torch', 'vectorbt', 'mlflow', 'plotly', 'dask', 'optuna', 'zarr', 'icechunk', 'arch')"
            " if m in sys.modules]\n"
            "print(','.join(heavy))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == ""


def test_unwritable_numba_cache_dir_falls_back_to_a_writable_one(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")  # a path under a regular file can never be created
    script = tmp_path / "kernel.py"
    script.write_text("import os, numba, market_data\n"
                      "from numba import njit\n"
                      "@njit(cache=True)\n"
                      "def f(x):\n    return x + 1\n"
                      "print(f(1), os.environ['NUMBA_CACHE_DIR'])\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NUMBA_CACHE_DIR": str(blocker / "cache")})
    assert proc.returncode == 0, proc.stderr
    value, cache = proc.stdout.split()
    assert value == "2" and not cache.startswith(str(blocker)) and Path(cache).is_dir()


def _fake_distribution(root: Path, name: str, version: str) -> Path:
    """A dist-info folder that makes importlib.metadata report ``name`` at ``version``."""
    info = root / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return root


@pytest.mark.parametrize(("name", "version", "needs"), [("vectorbt", "0.25.1", ">=0.26"),
                                                         ("zarr", "3.2.0", "<3.2,>=3.1")])
def test_doctor_fails_on_a_version_outside_the_declared_range(run_cli, tmp_path, name, version, needs):
    fake = _fake_distribution(tmp_path / "site", name, version)
    pythonpath = os.pathsep.join([str(fake), os.environ.get("PYTHONPATH", "")])
    proc = run_cli("doctor", env={"PYTHONPATH": pythonpath})
    out = " ".join(proc.stdout.split())
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"{name}: {version} installed, but {needs} is required" in out


def test_doctor_checks_every_declared_core_dependency(run_cli):
    import tomllib

    from packaging.requirements import Requirement

    with open(Path(__file__).parents[3] / "pyproject.toml", "rb") as fh:
        names = [Requirement(d).name for d in tomllib.load(fh)["project"]["dependencies"]]
    out = run_cli("doctor", check=True).stdout
    assert "vectorbt" in names
    for name in names:
        assert f"│ {name} " in out, name


def test_a_missing_dependency_is_a_doctor_failure(monkeypatch):
    from importlib.metadata import PackageNotFoundError

    import harness._doctor as doctor

    def version(name):
        if name == "vectorbt":
            raise PackageNotFoundError(name)
        return "99.0"

    monkeypatch.setattr(doctor, "version", version)
    c = doctor.check_requirement("vectorbt>=0.26")
    assert c.status == "FAIL" and c.detail.startswith("not installed (needs >=0.26")
    assert doctor.check_requirement("numpy>=1.26").status == "ok"
    assert doctor.check_requirement("backtesting>=0.3; extra == 'dev'").detail.startswith("not needed here")
