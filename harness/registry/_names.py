"""Validation of the names that become registry keys, tags and paths."""

from __future__ import annotations

import re

from harness.errors import InputError

__all__ = ["ALIASES", "check_deployment_name", "check_alias"]

# A deployment name ends up in MLflow registered-model names, in bar-store tags
# (``deploy-<name>-v<version>``, which must match the store's tag rule) and in paths under
# ``<home>/paper``; 64 characters keep the tag well inside the store's 100.
_DEPLOYMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")

ALIASES = ("champion", "challenger", "previous")


def check_deployment_name(name: object) -> str:
    """``name`` if it is a valid deployment name, else :class:`InputError` naming the rule."""
    if not isinstance(name, str) or not _DEPLOYMENT.match(name) or ".." in name or name.endswith("."):
        raise InputError(f"deployment name {name!r} is invalid: use 1-64 letters, digits, '_', '.' and '-', "
                         "starting with a letter or digit (no '..', no trailing '.')")
    return name


def check_alias(alias: object) -> str:
    """``alias`` if it is one of :data:`ALIASES`, else :class:`InputError`."""
    if alias not in ALIASES:
        raise InputError(f"alias {alias!r} is invalid; expected one of {', '.join(ALIASES)}")
    return alias  # type: ignore[return-value]
