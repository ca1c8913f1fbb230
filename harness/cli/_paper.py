"""``harness paper ...`` (run, status, orders, stop, halt, resume, parity) and ``harness feed replay``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

paper_app = typer.Typer(help="Paper-trade a deployment's champion: the backtest's strategy code and fill kernel, "
                        "a crash-safe ledger, risk limits, hot-swapped champions.", no_args_is_help=True)
feed_app = typer.Typer(help="Simulate a live market: append bars to the home store one commit per bar.",
                       no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(paper_app, name="paper")
    app.add_typer(feed_app, name="feed")


def _ledger(name: str):
    from harness.errors import LedgerError
    from harness.paper import Ledger, ledger_path
    from harness.registry import check_deployment_name

    check_deployment_name(name)
    path = ledger_path(name)
    if not path.exists():
        raise LedgerError(f"deployment {name!r} has no paper ledger at {path}; start it with "
                          f"`harness paper run {name}`")
    return Ledger(path, deployment=name)


def _fmt_time(ns) -> str | None:
    from market_data.bars import _fmt_ts

    return None if ns is None else _fmt_ts(int(ns))


@paper_app.command("run")
def run_cmd(
    name: Annotated[str, typer.Argument(help="Deployment name.")],
    feed: Annotated[str, typer.Option("--feed", help="store: follow the home store's new commits; replay: "
                                      "replay stored bars from --start to --end.")] = "store",
    start: Annotated[str | None, typer.Option("--start", help="First bar to trade (earlier bars are history).")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Last bar to replay (--feed replay stops there).")] = None,
    speed: Annotated[float, typer.Option("--speed", help="Replay speed in bars per second (0 = as fast as "
                                         "possible).")] = 0.0,
    shadow: Annotated[bool, typer.Option("--shadow", help="Also run the challenger into a shadow ledger "
                                         "(no broker orders): evidence for the gate's shadow check.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No line per bar with orders.")] = False,
) -> None:
    """Run the paper runner in the foreground (Ctrl-C or SIGTERM: a clean stop after the current bar)."""
    from harness._bars import load_bars
    from harness.errors import InputError
    from harness.paper import PaperRunner, ReplayFeed
    from harness.paper._runner import champion
    from harness.registry import Registry, check_deployment_name
    from market_data.bars import to_ns

    check_deployment_name(name)
    if feed not in ("store", "replay"):
        raise InputError(f"--feed must be store or replay, got {feed!r}")
    reg = Registry.open()
    v = champion(reg, name)
    the_feed = None
    if feed == "replay":
        if start is None or end is None:
            raise InputError("--feed replay needs --start and --end")
        bars = load_bars(list(v.symbols), end=end, frequency=v.frequency)
        cut = int(__import__("numpy").searchsorted(bars.timestamps, to_ns(start, name="--start"), "left"))
        if cut >= bars.n_bars:
            raise InputError(f"no stored bars of {list(v.symbols)} between --start {start} and --end {end}")
        the_feed = ReplayFeed(bars[cut:], speed=speed, history=bars[:cut] if cut else None)
    elif speed:
        raise InputError("--speed applies to --feed replay")
    runner = PaperRunner(name, feed=the_feed, registry=reg, shadow=shadow)
    if feed == "store" and start is not None:
        raise InputError("--start applies to --feed replay (the store feed trades new bars from now)")

    def on_bar(res):
        if not quiet and (res.orders or res.fills or res.alerts):
            print(f"{_fmt_time(res.time)}  orders {res.orders}  fills {res.fills}  state {runner.state}"
                  + (f"  alerts {', '.join(res.alerts)}" if res.alerts else ""), flush=True)

    try:
        n = runner.run(on_bar=on_bar)
    except KeyboardInterrupt:
        n = None
    st = runner.ledger.state()
    eq = runner.ledger.equity()
    print(f"{name}: {'stopped' if n is None else f'{n} bar(s) applied'}; state {runner.state}; version "
          f"v{st.get('version')}; last bar {_fmt_time(st.get('last_time'))}; equity "
          f"{eq.iloc[-1] if len(eq) else runner.config.init_cash:,.2f}")
    runner.close()


def _status(name: str) -> dict:
    from harness.paper._runner import runner_pid

    led = _ledger(name)
    try:
        st = led.state()
        eq = led.equity()
        cash = led.cash()
        today = None
        if len(eq):
            days = eq.index.normalize()
            prev = eq[days < days[-1]]
            base = prev.iloc[-1] if len(prev) else float(led.meta["init_cash"])
            today = float(eq.iloc[-1] - base)
        return {"deployment": name, "state": st.get("risk_state", "ACTIVE"), "reason": st.get("risk_reason", ""),
                "version": st.get("version"), "running_pid": runner_pid(name),
                "equity": float(eq.iloc[-1]) if len(eq) else float(led.meta["init_cash"]),
                "cash": float(cash.iloc[-1]) if len(cash) else float(led.meta["init_cash"]),
                "positions": led.current_positions(), "last_bar": _fmt_time(st.get("last_time")),
                "bars": led.n_bars(), "pnl_today": today, "open_orders": len(led.open),
                "ledger": str(led.path), "monitor": _monitor_status(name)}
    finally:
        led.close()


def _monitor_status(name: str, last: int = 5) -> dict:
    """What the deployment's monitors said (``harness watch`` / ``harness monitor`` evaluate them):
    the open conditions, the number of alerts and the last few."""
    from harness.monitor import alerts, status

    st = status(name) or {}
    book = (st.get("book") or {}).get("open") or {}
    every = alerts(name)
    return {"evaluations": int(st.get("evaluations") or 0), "last_evaluated": _fmt_time(st.get("time")),
            "open": {k: {"severity": v.get("severity"), "since_bar": v.get("since")} for k, v in sorted(book.items())},
            "alerts": len(every), "last_alerts": [a.to_dict() for a in every[-last:]]}


def _monitor_lines(m: dict) -> list[str]:
    if not m["evaluations"] and not m["alerts"]:
        return ["monitor      never evaluated (harness watch or harness monitor NAME evaluates it)"]
    out = [f"monitor      {m['evaluations']} evaluation(s), last {m['last_evaluated']}; {m['alerts']} alert(s)"]
    out += [f"  open       {k} {v['severity']} since bar {v['since_bar']}" for k, v in m["open"].items()]
    for a in m["last_alerts"]:
        out.append(f"  alert      {a['time_utc']} {a['monitor']}.{a['metric']} {a['severity']} value {a['value']} "
                   f"threshold {a['threshold']}" + (" (reminder)" if a.get("reminder") else ""))
    return out


@paper_app.command("status")
def status_cmd(name: Annotated[str, typer.Argument(help="Deployment name.")],
               as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """State, version, equity, cash, positions, last bar, P&L today, risk state, monitor alerts."""
    s = _status(name)
    if as_json:
        print(json.dumps(s, indent=2, default=str))
        return
    mon = s.pop("monitor")
    for k, v in s.items():
        print(f"{k:12} {v}")
    for line in _monitor_lines(mon):
        print(line)


@paper_app.command("orders")
def orders_cmd(name: Annotated[str, typer.Argument(help="Deployment name.")],
               as_json: Annotated[bool, typer.Option("--json", help="Print JSON (one object per order).")] = False
               ) -> None:
    """Every order with its client_order_id and state."""
    led = _ledger(name)
    try:
        df = led.orders()
    finally:
        led.close()
    cols = ["time", "client_order_id", "symbol", "leg", "version", "target_weight", "state", "filled_size",
            "avg_price", "fees", "reason"]
    if as_json:
        out = df[cols].copy()
        out["time"] = out["time"].astype(str)
        print(json.dumps(json.loads(out.to_json(orient="records")), indent=1))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(*cols)
    for _, r in df.iterrows():
        t.add_row(*[str(r[c]) for c in cols])
    Console(soft_wrap=True).print(t)


@paper_app.command("stop")
def stop_cmd(name: Annotated[str, typer.Argument(help="Deployment name.")]) -> None:
    """Ask the running runner for a clean stop after its current bar (as SIGTERM)."""
    import os
    import signal

    from harness.errors import InputError
    from harness.paper._runner import runner_pid
    from harness.registry import check_deployment_name

    check_deployment_name(name)
    pid = runner_pid(name)
    if pid is None or pid <= 0:
        raise InputError(f"no paper runner of {name!r} is running")
    os.kill(pid, signal.SIGTERM)
    print(f"{name}: asked runner pid {pid} to stop after its current bar")


def _act(name: str, action: str, *, by: str, flatten: bool = False) -> None:
    from harness.paper import PaperRunner
    from harness.paper._runner import runner_pid
    from harness.registry import check_deployment_name

    check_deployment_name(name)
    if not by or not by.strip():
        from harness.errors import InputError

        raise InputError(f"paper {action} needs --by NAME (the person responsible)")
    led = _ledger(name)
    led.close()
    pid = runner_pid(name)
    if pid:
        from harness.paper import Ledger, ledger_path

        led = Ledger(ledger_path(name), deployment=name)
        led.push_control({"action": action, "by": by, "flatten": flatten})
        led.close()
        print(f"{name}: {action} requested from the running runner (pid {pid}); it acts before its next bar")
        return
    runner = PaperRunner(name, feed=[], audit=True)
    try:
        if action == "halt":
            out = runner.core.kill_switch(by=by, flatten=flatten)
            print(f"{name}: HALTED by {by}; canceled {len(out['canceled'])} open order(s)"
                  + (f"; {len(out['flatten_orders'])} flatten order(s) sent" if flatten else ""))
        else:
            runner.core.resume(by=by)
            print(f"{name}: ACTIVE again (resumed by {by})")
    finally:
        runner.close()


@paper_app.command("halt")
def halt_cmd(name: Annotated[str, typer.Argument(help="Deployment name.")],
             by: Annotated[str, typer.Option("--by", help="Who halts it (recorded).")],
             flatten: Annotated[bool, typer.Option("--flatten", help="Also close every position.")] = False) -> None:
    """The kill switch: HALTED, every open order canceled; --flatten also closes all positions."""
    _act(name, "halt", by=by, flatten=flatten)


@paper_app.command("resume")
def resume_cmd(name: Annotated[str, typer.Argument(help="Deployment name.")],
               by: Annotated[str, typer.Option("--by", help="Who re-enables it (recorded).")]) -> None:
    """The human re-enable of a HALTED or REDUCING runner (it never resumes by itself)."""
    _act(name, "resume", by=by)


@paper_app.command("parity")
def parity_cmd(name: Annotated[str, typer.Argument(help="Deployment name.")],
               start: Annotated[str, typer.Option("--start", help="First bar of the range.")],
               end: Annotated[str, typer.Option("--end", help="Last bar of the range.")],
               version: Annotated[str, typer.Option("--version", help="Version or alias.")] = "champion") -> None:
    """Replay the range into a scratch ledger and compare it with a backtest of the same version (exit 1 on a
    difference)."""
    from harness.paper._parity import parity

    rep = parity(name, start=start, end=end, version=version)
    for line in rep["lines"]:
        print(line)
    if not rep["equal"]:
        raise typer.Exit(1)


@feed_app.command("replay")
def feed_replay_cmd(
    symbols: Annotated[str, typer.Option("--symbols", help="Comma-separated symbols.")],
    start: Annotated[str, typer.Option("--start", help="First bar to append.")],
    end: Annotated[str, typer.Option("--end", help="Last bar to append.")],
    speed: Annotated[float, typer.Option("--speed", help="Bars per second (0 = as fast as possible).")] = 0.0,
    source_snapshot: Annotated[str | None, typer.Option("--source-snapshot", help="Read the bars from this "
                                                        "snapshot (id or tag) of a bar store.")] = None,
    source_store: Annotated[Path | None, typer.Option("--source-store", help="The bar store of "
                                                      "--source-snapshot (default: the home store).")] = None,
    csv: Annotated[Path | None, typer.Option("--csv", help="Read the bars from a CSV file (validated as by "
                                             "`harness data ingest`).")] = None,
    frequency: Annotated[str, typer.Option("--frequency", help="Bar frequency.")] = "1d",
) -> None:
    """Append bars to the home store one bar, one commit at a time, as a live feed would."""
    from harness.paper._feed import append_bars

    n = append_bars([s.strip() for s in symbols.split(",") if s.strip()], start=start, end=end, speed=speed,
                    source_snapshot=source_snapshot, source_store=source_store, csv=csv, frequency=frequency,
                    progress=lambda i, total, t: print(f"{i}/{total} {_fmt_time(t)}", file=sys.stderr)
                    if i == total or i % 100 == 0 else None)
    print(f"appended {n} bar(s) to the home store, one commit each")
