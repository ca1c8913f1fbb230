"""``harness data ...``: the bar store of the home folder (ingest, list, inspect, version, samples)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

data_app = typer.Typer(help="The versioned bar store in the home folder: ingest, list, history, tags, samples.",
                       no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")


def _console():
    from rich.console import Console

    return Console(soft_wrap=True)


def _store(*, create: bool = False):
    from harness._bars import home_store

    return home_store(create=create)


@data_app.command("ingest")
def ingest_cmd(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet file of bars (long layout, or one symbol).")],
    symbol: Annotated[str | None, typer.Option("--symbol", help="The symbol of a one-symbol file.")] = None,
    symbol_column: Annotated[str | None, typer.Option("--symbol-column", help="The column holding symbols.")] = None,
    frequency: Annotated[str | None, typer.Option("--frequency", help="Bar frequency, e.g. 1d, 1h, 1min "
                                                  "(default: inferred from the spacing).")] = None,
    tz: Annotated[str | None, typer.Option("--tz", help="Timezone of naive timestamps, e.g. UTC, "
                                           "America/New_York.")] = None,
    map_: Annotated[list[str] | None, typer.Option("--map", help="Column mapping SOURCE=TARGET, e.g. "
                                                   "'Adj Close=close' (repeatable).")] = None,
    ignore_extra: Annotated[bool, typer.Option("--ignore-extra", help="Drop unknown columns instead of "
                                               "failing.")] = False,
    timestamp_unit: Annotated[str, typer.Option("--timestamp-unit", help="Unit of integer epoch "
                                                "timestamps: ns, us, ms, s.")] = "ns",
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite bars that are already stored (a "
                                          "correction; older snapshots keep the old values).")] = False,
    batch_rows: Annotated[int, typer.Option("--batch-rows", help="Rows per batch when streaming big "
                                            "files.")] = 1_000_000,
    message: Annotated[str | None, typer.Option("--message", "-m", help="Commit message.")] = None,
) -> None:
    """Validate FILE and add its bars to the home store as one snapshot."""
    from market_data.errors import InputError
    from market_data.ingest import ingest

    if symbol and symbol_column:
        raise InputError("give --symbol or --symbol-column, not both")
    mapping = {}
    for item in map_ or []:
        src, sep, dst = item.partition("=")
        if not sep or not src or not dst:
            raise InputError(f"--map expects SOURCE=TARGET, got {item!r}")
        mapping[src] = dst
    result = ingest(file, _store(create=True), symbol=symbol, symbol_column=symbol_column, columns=mapping,
                    tz=tz, frequency=frequency, extra="ignore" if ignore_extra else "error",
                    timestamp_unit=timestamp_unit, batch_rows=batch_rows,
                    on_conflict="replace" if replace else "reject", message=message, progress=True)
    _console().print(f"ingested {result.rows:,} bars of {len(result.symbols)} symbol(s) "
                     f"({', '.join(result.symbols[:8])}{', ...' if len(result.symbols) > 8 else ''}) "
                     f"{result.first} .. {result.last} at {result.frequency} in {result.seconds:.1f}s; "
                     f"snapshot [bold]{result.snapshot_id}[/]")


@data_app.command("ls")
def ls_cmd(
    frequency: Annotated[str | None, typer.Option("--frequency", help="Only this frequency.")] = None,
    snapshot: Annotated[str | None, typer.Option("--snapshot", help="Snapshot id or tag (default: latest).")] = None,
) -> None:
    """List the stored symbols with their date range and bar count."""
    from rich.table import Table

    store = _store()
    infos = store.info(frequency=frequency, snapshot=snapshot)
    table = Table(show_header=True, header_style="bold", title=f"snapshot {store.resolve(snapshot)}")
    for col in ("symbol", "frequency", "first", "last", "bars", "gaps"):
        table.add_column(col, justify="right" if col in ("bars", "gaps") else "left")
    for i in infos:
        table.add_row(i.symbol, i.frequency, i.first or "-", i.last or "-", f"{i.bars:,}", f"{i.gaps:,}")
    console = _console()
    if not infos:
        console.print("the store holds no symbols yet; run `harness data samples` or `harness data ingest FILE`")
        return
    console.print(table)


@data_app.command("info")
def info_cmd(
    symbol: Annotated[str, typer.Argument(help="The symbol.")],
    frequency: Annotated[str | None, typer.Option("--frequency", help="Only this frequency.")] = None,
    snapshot: Annotated[str | None, typer.Option("--snapshot", help="Snapshot id or tag (default: latest).")] = None,
) -> None:
    """First and last timestamp, bar count and gaps of SYMBOL."""
    store = _store()
    console = _console()
    for i in store.info(symbol, frequency=frequency, snapshot=snapshot):
        console.print(f"[bold]{i.symbol}[/] {i.frequency}: {i.bars:,} bars, {i.first} .. {i.last}, "
                      f"{i.gaps:,} missing bar(s) inside that range (snapshot {store.resolve(snapshot)}); "
                      f"stored as {i.storage()}")


@data_app.command("history")
def history_cmd(
    limit: Annotated[int, typer.Option("--limit", "-n", help="Show at most this many snapshots.")] = 20,
) -> None:
    """The snapshots of the store, newest first (id, time, message, tags)."""
    from rich.table import Table

    table = Table(show_header=True, header_style="bold")
    table.add_column("snapshot", no_wrap=True, min_width=20)
    table.add_column("time (UTC)", no_wrap=True)
    for col in ("message", "bars", "tags"):
        table.add_column(col)
    for rec in _store().history()[:limit]:
        meta = rec.metadata
        what = f"{meta.get('bars', '')} x {meta.get('symbols', '')} {meta.get('frequency', '')}" if "bars" in meta else ""
        table.add_row(rec.id, rec.time[:19].replace("T", " "), rec.message, what, ", ".join(rec.tags))
    _console().print(table)


@data_app.command("tag")
def tag_cmd(
    name: Annotated[str, typer.Argument(help="Tag name (letters, digits, '.', '_', '-').")],
    snapshot: Annotated[str | None, typer.Argument(help="Snapshot id or tag (default: latest).")] = None,
) -> None:
    """Give a snapshot a name, so it can be read later with --snapshot NAME."""
    sid = _store().tag(name, snapshot)
    _console().print(f"tagged snapshot {sid} as [bold]{name}[/]")


@data_app.command("samples")
def samples_cmd() -> None:
    """Ingest the real sample data shipped with installed packages (SPX, NASDAQ; AAPL, IBM, MSFT, GOOG)."""
    from rich.markup import escape

    from market_data import samples

    console = _console()
    for g in samples.write_samples(_store(create=True)):
        names = ", ".join(g["symbols"])
        if g["status"] == "unavailable":
            # escaped: rich would take "[samples]" for a markup tag and print nothing of it
            console.print(f"[yellow]{g['group']}[/]: not installed ({names}); "
                          f"{escape(samples.install_hint())} for them")
        elif g["status"] == "present":
            console.print(f"{g['group']}: {names} already in the store")
        else:
            console.print(f"{g['group']}: wrote {names} as snapshot [bold]{g['snapshot_id']}[/]")


@data_app.command("synth")
def synth_cmd(
    bars: Annotated[int, typer.Option("--bars", help="Bars per symbol.", min=2)] = 2000,
    symbols: Annotated[int, typer.Option("--symbols", help="Number of symbols.", min=1)] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same data).")] = 0,
    frequency: Annotated[str, typer.Option("--frequency", help="Bar frequency.")] = "1d",
    prefix: Annotated[str, typer.Option("--prefix", help="Symbol names: PREFIX0, PREFIX1, ...")] = "SYN",
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite bars already stored.")] = False,
) -> None:
    """Write regime-switching synthetic bars (with known regimes) to the home store."""
    from market_data.synthetic import regime_switching

    names = [f"{prefix}{i}" for i in range(symbols)]
    b, truth = regime_switching(bars, symbols, seed=seed, frequency=frequency, symbols=names)
    sid = _store(create=True).write(
        b, message=f"synth: {bars} x {symbols} seed {seed}", on_conflict="replace" if replace else "reject",
        metadata={"source": "market_data.synthetic.regime_switching", "seed": seed,
                  "change_points": [int(x) for x in truth.change_points][:1000]})
    _console().print(f"wrote {symbols} synthetic symbol(s) x {bars:,} {frequency} bars "
                     f"({names[0]}{'..' + names[-1] if symbols > 1 else ''}, seed {seed}) as snapshot [bold]{sid}[/]")
