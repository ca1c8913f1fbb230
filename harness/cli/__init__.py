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
    "harness.cli._retrain",
    "harness.cli._report",
    "harness.cli._watch",
    "harness.cli._registry",
    "harness.cli._audit",
    "harness.cli._monitor",
    "harness.cli._paper",
    "harness.cli._tracking",
    "harness.cli._gate",
    "harness.cli._features",
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


def _usage_error_classes() -> tuple[type[BaseException], type[BaseException] | None]:
    """Typer's ``ClickException`` and ``NoArgsIsHelpError`` classes, through typer's public names.

    typer >= 0.29 vendors click as the private ``typer._click`` (the ``click`` package may
    not even be installed); older typer re-exports click's own classes. Both put
    ``ClickException`` in the MRO of the public ``typer.BadParameter``.
    """
    mro = typer.BadParameter.__mro__
    click_exc = next(c for c in mro if c.__name__ == "ClickException")
    module = sys.modules[click_exc.__module__]
    return click_exc, getattr(module, "NoArgsIsHelpError", None)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run the app, turning harness errors into one clear line.

    Exit codes: 0 success (and bare ``harness``, which prints the help); 2 usage errors
    (unknown command or option, bad or missing value: usage and one ``Error:`` line on
    stderr) and bad input (``InputError``); 1 other harness errors and aborts; 130 Ctrl-C;
    ``typer.Exit(n)`` gives ``n``. Only ``--debug`` shows a traceback of a harness error.
    """
    from market_data.errors import HarnessError

    args = list(argv if argv is not None else sys.argv[1:])
    debug = "--debug" in args
    click_exception, no_args_is_help = _usage_error_classes()
    try:
        rv = app(args=args, prog_name="harness", standalone_mode=False)
        if isinstance(rv, int):  # typer returns typer.Exit's code (and Ctrl-C's 130) here
            if rv == 130:
                print("interrupted", file=sys.stderr)
            return rv
    except HarnessError as exc:
        if debug:
            raise
        kind = type(exc).__name__
        print(f"error: {exc} [{kind}]", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1
    except KeyboardInterrupt:  # typer < 0.29 lets it through (or turns it into Abort, below)
        print("interrupted", file=sys.stderr)
        return 130
    except typer.Exit as exc:  # older typer raises it in non-standalone mode
        return int(exc.exit_code)
    except typer.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt) or isinstance(exc.__context__, KeyboardInterrupt):
            print("interrupted", file=sys.stderr)
            return 130
        print("aborted", file=sys.stderr)
        return 1
    except SystemExit as exc:  # sys.exit inside commands
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    except click_exception as exc:  # usage errors: usage line, hint and one "Error:" line
        if no_args_is_help is not None and isinstance(exc, no_args_is_help):
            print(exc.format_message())  # bare `harness` / `harness data`: the help, exit 0
            return 0
        exc.show()
        return int(exc.exit_code)
    return 0


def run() -> None:  # pragma: no cover - the console script
    sys.exit(main())
