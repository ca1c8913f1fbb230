"""`harness --help`, `version`, `doctor`, `demo` and error handling, in subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


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


def test_unknown_command_exits_non_zero(run_cli):
    proc = run_cli("no-such-command")
    assert proc.returncode != 0 and "No such command" in proc.stderr


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
