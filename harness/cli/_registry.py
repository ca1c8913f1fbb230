"""``harness registry ls | show NAME | history NAME``: deployments, versions, lineage, attributions, alias moves."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

registry_app = typer.Typer(help="Deployments in the MLflow model registry: versions, aliases, lineage, history.",
                           no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(registry_app, name="registry")


def _table(columns: tuple[str, ...], rows: list[tuple[Any, ...]], title: str | None = None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(show_header=True, header_style="bold", title=title)
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*(escape("" if c is None else str(c)) for c in row))
    Console(highlight=False).print(table)


def _when(text: str | None) -> str:
    return (text or "")[:19].replace("T", " ")


@registry_app.command("ls")
def ls(as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False) -> None:
    """List deployments with their mode, champion, challenger and last retrain."""
    from harness.registry import Registry

    reg = Registry.open()
    rows = []
    for d in reg.deployments():
        versions = reg.versions(d.name)
        last = versions[-1] if versions else None
        rows.append({**d.to_dict(), "versions": len(versions),
                     "last_retrain": last.created_at if last else None, "last_version": last.version if last else None})
    if as_json:
        for r in rows:
            r.pop("spec", None)
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo(f"no deployments in {reg.uri} (create one with `harness deploy SPEC --by NAME`)")
        return
    _table(("deployment", "mode", "champion", "challenger", "previous", "versions", "last retrain (UTC)", "spec v"),
           [(r["name"], r["mode"], r["champion"] if r["champion"] is not None else f"baseline ({r['baseline']})",
             r["challenger"] if r["challenger"] is not None else "-", r["previous"] if r["previous"] is not None else "-",
             r["versions"], _when(r["last_retrain"]) or "-", r["spec_version"]) for r in rows])


@registry_app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Deployment name (see `harness registry ls`).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    all_attributions: Annotated[bool, typer.Option(
        "--all-attributions", help="Print every version's feature attributions, not only the latest's.")] = False,
) -> None:
    """Show a deployment's versions, aliases, full lineage and feature attributions.

    The attributions (permutation importance on the version's out-of-sample blocks, and
    integrated gradients for torch models) are those of the latest version, or of every
    version with --all-attributions; --json holds every version's under "attributions".
    """
    from harness.registry import Registry

    reg = Registry.open()
    info = reg.deployment(name)
    versions = reg.versions(name)
    if as_json:
        typer.echo(json.dumps({"deployment": info.to_dict(), "versions": [v.lineage() for v in versions]}, indent=2))
        return
    champion = info.champion if info.champion is not None else f"baseline ({info.baseline})"
    typer.echo(f"deployment {info.name}: {info.mode} mode, champion {champion}, spec v{info.spec_version} "
               f"({info.spec_hash[:12]}), created by {info.created_by} {_when(info.created_at)}, "
               f"last changed by {info.changed_by}")
    if not versions:
        typer.echo("no versions registered yet")
        return
    _table(("version", "aliases", "strategy", "params", "symbols", "snapshot", "data digest", "run", "seed",
            "artifact sha256", "decision", "registered (UTC)"),
           [(v.version, ", ".join(v.aliases) or "-", v.strategy,
             json.dumps(v.params, separators=(",", ":")), ",".join(v.symbols) + f" {v.frequency}", v.snapshot_id,
             v.data_digest[:12], (v.run_id or "-")[:12], "-" if v.seed is None else v.seed,
             (v.artifact_sha256 or "-")[:12], v.tags.get("harness.decision_outcome", "-"), _when(v.created_at))
            for v in versions])
    latest = versions[-1]
    typer.echo(f"v{latest.version} code {latest.code_version}; config {json.dumps(latest.config.to_dict())}")
    if latest.features:
        typer.echo(f"v{latest.version} {_features_line(latest.features)}")
    for v in (versions if all_attributions else [latest]):
        _attributions_table(v)


def _features_line(features: dict) -> str:
    """The feature set a version was trained on, its definitions' digest, and what came from the store."""
    import hashlib

    defs = features.get("definitions") or {}
    digest = hashlib.blake2b(json.dumps(defs, sort_keys=True).encode(), digest_size=6).hexdigest()
    line = f"features: set {features.get('feature_set')} ({len(defs)} definitions, digest {digest})"
    used = features.get("from_store")
    if used:
        commits = ", ".join(str(c)[:12] for c in used.get("feature_snapshots") or {}) or "none"
        line += (f"; training read {used.get('stored', 0)} requests from the feature store (commit {commits}), "
                 f"computed {used.get('computed', 0)}")
    else:
        line += "; computed on the fly in training"
    return line


def _fmt(x: Any) -> str:
    return "-" if x is None else f"{x:.4g}"


def _attributions_table(v: Any) -> None:
    """Version ``v``'s feature attributions, most important first (or why there are none)."""
    att = v.attributions
    if att is None:
        typer.echo(f"v{v.version}: no attributions recorded (registered without them, or before versions carried "
                   "them)")
        return
    columns, raw = att.table()
    rows = [(r[0], *(_fmt(x) for x in r[1:])) for r in raw]
    typer.echo(f"v{v.version} attributions: {att.describe()}")
    _table(columns, rows)


@registry_app.command("history")
def history(
    name: Annotated[str, typer.Argument(help="Deployment name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Every alias move (champion, challenger, previous) with who made it, why, and on which decision."""
    from harness.registry import Registry

    rows = Registry.open().alias_history(name)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo(f"{name}: no alias has moved yet (the baseline is champion)")
        return
    _table(("time (UTC)", "alias", "version", "was", "action", "by", "reason", "decision", "approval"),
           [(_when(r["time"]), r["alias"], "-" if r["version"] is None else r["version"],
             "-" if r["old"] is None else r["old"], r.get("action"), r["by"], r.get("reason") or "",
             (r.get("decision") or "-")[:12], (r.get("approval") or "-")[:12]) for r in rows])
