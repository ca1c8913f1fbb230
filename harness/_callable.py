"""Packages that are also functions: ``harness.sweep`` and ``harness.optimize``.

``from harness import sweep`` gives the function (``harness._LAZY``), but importing the
subpackage ``harness.sweep`` makes Python bind the attribute ``harness.sweep`` to the
module. So the module forwards calls to its function, and ``harness.sweep(bars, ...)``
works either way.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any


def make_module_callable(module_name: str, func: Callable[..., Any]) -> None:
    """Let ``sys.modules[module_name](...)`` call ``func(...)``."""

    class _CallableModule(types.ModuleType):
        __doc__ = sys.modules[module_name].__doc__

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return func(*args, **kwargs)

    sys.modules[module_name].__class__ = _CallableModule
