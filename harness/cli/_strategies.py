"""``harness strategies ls`` and ``harness strategies show NAME``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

strategies_app = typer.Typer(help="List the registered strategies and show their parameters.",
                             no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(strategies_app, name="strategies")


def _summary(strategy: Any) -> str:
    doc = (getattr(strategy, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (tuple, list)):
        return ", ".join(map(str, value))
    return str(value)


def _describe(name: str) -> dict[str, Any]:
    import strategies

    s = strategies.get(name)
    p = s.Params()
    lev = getattr(s, "max_leverage", None)
    space = s.search_space()
    return {
        "name": name,
        "summary": _summary(s),
        "module": getattr(s, "__name__", type(s).__name__),
        "kind": "trainable" if getattr(s, "trainable", False) else "rule",
        "fusable_kernel": getattr(s, "kernel", None) is not None,
        "warmup": int(s.warmup(p)),
        "max_leverage": float(lev(p)) if lev is not None else 1.0,
        "params": [{**f, "searched": f["name"] in space} for f in s.Params.describe()],
        "doc": (getattr(s, "__doc__", None) or "").strip(),
    }


@strategies_app.command("ls")
def ls(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List every registered strategy with its warmup and one-line summary."""
    import strategies

    rows = [_describe(n) for n in strategies.available()]
    if as_json:
        import json

        typer.echo(json.dumps([{k: r[k] for k in ("name", "kind", "warmup", "max_leverage", "summary")}
                               for r in rows], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(show_header=True, header_style="bold")
    for col in ("name", "kind", "warmup", "params", "summary"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["name"], r["kind"], str(r["warmup"]), str(len(r["params"])), r["summary"])
    Console().print(table)


@strategies_app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Registered strategy name (see `harness strategies ls`).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Show a strategy's documentation, parameters (defaults, bounds, docs) and warmup."""
    info = _describe(name)
    if as_json:
        import json

        typer.echo(json.dumps(info, indent=2, default=str))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{info['name']}[/]  ({info['module']}, {info['kind']}"
                  f"{', fusable kernel' if info['fusable_kernel'] else ''})")
    console.print(escape(info["doc"]))
    table = Table(title="parameters", show_header=True, header_style="bold")
    for col in ("name", "type", "default", "low", "high", "choices", "searched", "doc"):
        table.add_column(col, overflow="fold")
    for f in info["params"]:
        table.add_row(f["name"], f["type"], _fmt(f["default"]), _fmt(f["low"]), _fmt(f["high"]),
                      _fmt(f["choices"]), "yes" if f["searched"] else "no", escape(f["doc"]))
    console.print(table)
    console.print(f"warmup with the defaults: {info['warmup']} bars; "
                  f"gross leverage bound: {info['max_leverage']:g}")
