"""The ``harness`` command.

Start-up must stay fast (``harness --help`` well under a second): this module and the
command modules import only typer/rich at top level; each command imports the APIs it
calls inside its function. Errors derived from ``HarnessError`` print as one line and
exit with code 2 (bad input) or 1 (anything else); ``--debug`` shows the traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="harness",
    help="Backtesting and auto-retraining harness for algorithmic trading.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_STATE = {"debug": False}

# Each module registers its commands with `register(app)`; keep imports inside commands.
_COMMAND_MODULES = (
    "harness.cli._core",
    "harness.cli._data",
    "harness.cli._regime",
    "harness.cli._optimize",
    "harness.cli._backtest",
    "harness.cli._sweep",
    "harness.cli._strategies",
)


@app.callback()
def _root(
    home: Annotated[Path | None, typer.Option("--home", help="Home folder (default: $HARNESS_HOME or ./.harness).")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
) -> None:
    if home is not None:
        os.environ["HARNESS_HOME"] = str(home.expanduser().absolute())
    _STATE["debug"] = debug


for _name in _COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run the app, turning harness errors into one clear line."""
    from market_data.errors import HarnessError

    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        rv = app(args=argv, standalone_mode=False)
        if isinstance(rv, int):  # click returns typer.Exit's code in non-standalone mode
            return rv
    except HarnessError as exc:
        if debug:
            raise
        kind = type(exc).__name__
        print(f"error: {exc} [{kind}]", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:  # typer.Exit inside commands
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    except Exception as exc:  # click usage errors come here with standalone_mode=False
        import click

        if isinstance(exc, click.exceptions.Exit):
            return exc.exit_code
        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        if isinstance(exc, click.exceptions.Abort):
            print("aborted", file=sys.stderr)
            return 1
        raise
    return 0


def run() -> None:  # pragma: no cover - the console script
    sys.exit(main())
