"""``harness features ...``: feature sets, their materialisation into the home bar store, and their values."""

from __future__ import annotations

from typing import Annotated

import typer

features_app = typer.Typer(help="Feature sets: list them, materialise them beside the bars (one commit), show them.",
                           no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(features_app, name="features")


def _store():
    from harness._bars import home_store

    return home_store()


def _materialised(store, name=None, frequency=None):
    from market_data.features import FeatureStore

    return FeatureStore(store).list(name, frequency=frequency)


@features_app.command("ls")
def ls_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the feature sets and, for each, its latest materialisation in the home store."""
    import strategies.features as F
    from harness._bars import NoDataError

    try:
        done = _materialised(_store())
    except NoDataError:  # no store yet: still list the definitions
        done = []
    latest: dict[str, object] = {}
    for m in done:
        latest.setdefault(m.feature_set, m)
    rows = []
    for name in dict.fromkeys([*F.feature_sets(), *latest]):
        fs = F.feature_set(name) if name in F.feature_sets() else None
        m = latest.get(name)
        current = None if fs is None or m is None else m.definitions == fs.hashes
        rows.append({"set": name, "features": len(fs.definitions) if fs else len(m.definitions),
                     "description": fs.doc if fs else "(not a built-in set)",
                     "materialised_from": getattr(m, "source_snapshot", None),
                     "snapshot_id": getattr(m, "snapshot_id", None), "rows": getattr(m, "rows", None),
                     "symbols": getattr(m, "symbols", None), "time": getattr(m, "time", None),
                     "definitions_current": current})
    if as_json:
        import json

        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="feature sets", header_style="bold")
    for col in ("set", "features", "materialised from", "rows x symbols", "definitions", "description"):
        table.add_column(col, overflow="fold")
    for r in rows:
        state = "-" if r["definitions_current"] is None else ("current" if r["definitions_current"] else
                                                              "[yellow]changed[/]")
        shape = "-" if r["rows"] is None else f"{r['rows']} x {r['symbols']}"
        table.add_row(r["set"], str(r["features"]), (r["materialised_from"] or "-")[:12], shape, state,
                      r["description"])
    Console(soft_wrap=True).print(table)


@features_app.command("materialise")
def materialise_cmd(
    name: Annotated[str, typer.Option("--set", help="Feature set, e.g. mlp, base, sma_crossover (see `ls`).")],
    snapshot: Annotated[str | None, typer.Option("--snapshot", help="Bar snapshot id or tag (default: latest).")] = None,
    frequency: Annotated[str, typer.Option("--frequency", help="Bar frequency.")] = "1d",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Compute a feature set on a snapshot's bars and write it beside them, as one commit of the bar store."""
    import strategies.features as F

    store = _store()
    say = (lambda msg: None) if as_json else (lambda msg: typer.echo(msg, err=True))
    sid = F.materialise(store, name, snapshot=snapshot, frequency=frequency, progress=say)
    m = next(x for x in _materialised(store, name, frequency) if x.snapshot_id == sid)
    out = {"set": name, "snapshot_id": sid, "source_snapshot": m.source_snapshot, "rows": m.rows,
           "symbols": m.symbols, "computed_rows": m.computed_rows, "incremental": m.incremental,
           "definitions": m.definitions}
    if as_json:
        import json

        typer.echo(json.dumps(out, indent=2))
        return
    how = "incrementally" if m.incremental else "in full"
    typer.echo(f"materialised {name} ({m.rows} rows x {m.symbols} symbols; {m.computed_rows} rows computed {how}) "
               f"from snapshot {m.source_snapshot}: commit {sid}")


@features_app.command("show")
def show_cmd(
    name: Annotated[str, typer.Argument(help="Feature set.")],
    symbol: Annotated[str | None, typer.Option("--symbol", help="Symbol whose values to show (default: first).")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Bar snapshot the features were materialised "
                                              "from (default: the latest materialisation).")] = None,
    last: Annotated[int, typer.Option("--last", help="How many of the latest rows to show.")] = 5,
    frequency: Annotated[str, typer.Option("--frequency", help="Bar frequency.")] = "1d",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a feature set's definitions (hash, lookback) and, when materialised, its latest values."""
    import strategies.features as F
    from market_data.errors import FeaturesNotMaterialisedError
    from market_data.features import FeatureStore

    fs = F.feature_set(name)
    stored = None
    try:
        found = FeatureStore(_store()).read(feature_set=fs.name, symbols=symbol, as_of=as_of, frequency=frequency)
        stored = found
    except FeaturesNotMaterialisedError:
        if as_of is not None:
            raise
    defs = [{"name": d.name, "hash": d.hash, "lookback": d.lookback, "align": d.align,
             "kernel": f"{d.kernel.__module__}.{d.kernel.__qualname__}",
             "stored_hash": None if stored is None else stored.hashes.get(d.name)} for d in fs.definitions]
    values = None
    if stored is not None and stored.values.shape[0]:
        k = max(0, stored.values.shape[0] - max(0, last))
        values = {"symbol": stored.symbols[0], "source_snapshot": stored.source_snapshot,
                  "snapshot_id": stored.snapshot_id,
                  "time": [str(t) for t in stored.frame().index[k:]],
                  "rows": stored.values[k:, 0, :].tolist()}
    if as_json:
        import json

        typer.echo(json.dumps({"set": fs.name, "doc": fs.doc, "definitions": defs, "values": values}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(soft_wrap=True)
    table = Table(title=f"{fs.name}: {fs.doc}", header_style="bold")
    for col in ("feature", "hash", "lookback", "align", "kernel", "stored"):
        table.add_column(col, overflow="fold")
    for d in defs:
        st = "-" if d["stored_hash"] is None else ("same" if d["stored_hash"] == d["hash"] else "[yellow]changed[/]")
        table.add_row(d["name"], d["hash"][:12], str(d["lookback"]), str(d["align"]), d["kernel"], st)
    console.print(table)
    if values is None:
        console.print(f"not materialised; run `harness features materialise --set {fs.name}`")
        return
    vt = Table(title=f"{values['symbol']}: last {len(values['rows'])} rows (from snapshot "
               f"{values['source_snapshot'][:12]})", header_style="bold")
    vt.add_column("time")
    for n in stored.names:
        vt.add_column(n, justify="right")
    for t, row in zip(values["time"], values["rows"], strict=True):
        vt.add_row(t[:19], *(f"{v:.6g}" for v in row))
    console.print(vt)
