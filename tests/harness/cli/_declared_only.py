"""Run ``harness`` as if in a fresh venv built from ``pyproject.toml`` alone.

``declared_modules()`` (called in the test process) resolves the project's declared
runtime dependencies, and theirs, through the installed metadata, and lists the top-level
modules those distributions provide. Run as a script (``python _declared_only.py FILE
ARGS...``, FILE holding that list as JSON), it installs an import hook that refuses every
top-level module of an installed distribution outside that closure, exactly as
``ModuleNotFoundError`` would in the fresh venv, and then runs the ``harness`` command.
So a module that is only installed here by chance (a dev extra, a peer for benchmarks, a
dependency of another tool) cannot hide a missing dependency of the command.
"""

from __future__ import annotations

import sys

OWN = ("harness", "market_data", "strategies")


def declared_modules(pyproject) -> dict:
    """{"allowed": [...], "blocked": [...]}: top-level modules inside / outside the closure."""
    import re
    import tomllib
    from importlib import metadata

    from packaging.requirements import Requirement

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    with open(pyproject, "rb") as fh:
        deps = tomllib.load(fh)["project"]["dependencies"]
    todo = [(Requirement(d), "") for d in deps]
    seen: dict[str, set[str]] = {}
    while todo:
        req, via_extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": via_extra}):
            continue
        name = norm(req.name)
        extras = set(req.extras)
        if name in seen and extras <= seen[name]:
            continue
        seen.setdefault(name, set()).update(extras)
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            continue  # not installed: its import fails anyway, as in a fresh venv that lacks it
        for line in dist.requires or ():
            sub = Requirement(line)
            if sub.marker is None:
                todo.append((sub, ""))
            else:  # a requirement of the base package, or of an extra we asked for
                for extra in ("", *extras):
                    if sub.marker.evaluate({"extra": extra}):
                        todo.append((sub, extra))
                        break
    allowed, blocked = set(OWN), set()
    for module, dists in metadata.packages_distributions().items():
        (allowed if any(norm(d) in seen for d in dists) else blocked).add(module)
    blocked -= allowed
    return {"allowed": sorted(allowed), "blocked": sorted(blocked), "distributions": sorted(seen)}


class _BlockUndeclared:
    def __init__(self, blocked: set[str]):
        self.blocked = blocked

    def find_spec(self, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        if top in self.blocked:
            raise ModuleNotFoundError(
                f"No module named {fullname!r} (installed here, but not a declared dependency "
                "of regime-harness: a fresh venv built from pyproject.toml would not have it)",
                name=fullname)
        return None


if __name__ == "__main__":
    import json

    with open(sys.argv[1]) as fh:
        blocked = set(json.load(fh)["blocked"]) - set(sys.stdlib_module_names)
    leaked = sorted(m for m in blocked if m in sys.modules)
    if leaked:  # imported by the interpreter's start-up (a .pth file): say so, do not hide it
        print(f"undeclared modules already imported at start-up: {leaked}", file=sys.stderr)
    sys.meta_path.insert(0, _BlockUndeclared(blocked))
    import importlib.util

    _find_spec = importlib.util.find_spec

    def find_spec(name, package=None):  # "is it installed?" answers no, as in the fresh venv
        try:
            return _find_spec(name, package)
        except ModuleNotFoundError as exc:
            if "not a declared dependency" in str(exc):
                return None
            raise

    importlib.util.find_spec = find_spec
    sys.argv = ["harness", *sys.argv[2:]]
    from harness.cli import main

    sys.exit(main(sys.argv[1:]))
