"""``python -m harness`` = the ``harness`` command."""

from harness.cli import run

run()
