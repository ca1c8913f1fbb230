"""Connecting to Dask: ``local``, ``local:N``, ``tcp://HOST:PORT`` or a ``distributed.Client``.

Used by ``sweep(..., dask=)``, ``optimize(..., dask=)`` and the CLI's ``--dask``. Dask is
the optional extra ``scale`` (``pip install 'regime-harness[scale]'``); it is imported only
here, only when asked for.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from typing import Any

from harness.errors import EnvironmentProblem, InputError

__all__ = ["connect", "n_workers"]

_LOCAL = re.compile(r"^local(?::(\d+))?$")


@contextlib.contextmanager
def connect(spec: Any, *, threads_per_worker: int = 1) -> Iterator[Any]:
    """A ``distributed.Client`` for ``spec``, closed afterwards if this function made it.

    ``local`` starts a process-based ``LocalCluster`` with one worker per core (``local:N``:
    N workers), each with ``threads_per_worker`` threads; ``tcp://HOST:PORT`` (or any
    scheduler address) connects to a running scheduler; a ``Client`` is used as it is and
    left open.
    """
    try:
        import distributed
    except ImportError:
        raise EnvironmentProblem("Dask is not installed: pip install 'regime-harness[scale]' "
                                 "(dask[distributed])") from None
    if isinstance(spec, distributed.Client):
        yield spec
        return
    if not isinstance(spec, str) or not spec:
        raise InputError(f"dask must be a distributed.Client, 'local', 'local:N' or a scheduler address "
                         f"like 'tcp://HOST:8786', got {spec!r}")
    m = _LOCAL.match(spec)
    if m:
        n = int(m.group(1)) if m.group(1) else (os.cpu_count() or 1)
        if n < 1:
            raise InputError(f"dask 'local:N' needs N >= 1, got {spec!r}")
        cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=threads_per_worker, processes=True,
                                           dashboard_address=":0", silence_logs=40)
        try:
            with distributed.Client(cluster) as client:
                yield client
        finally:
            cluster.close()
        return
    if "://" not in spec:
        raise InputError(f"dask scheduler address {spec!r} must look like tcp://HOST:PORT (or use 'local[:N]')")
    try:
        client = distributed.Client(spec, timeout="10s")
    except OSError as exc:
        raise EnvironmentProblem(f"cannot reach the Dask scheduler at {spec}: {exc}") from None
    try:
        yield client
    finally:
        client.close()


def n_workers(client: Any) -> int:
    """Workers the scheduler knows now (at least 1, so chunking never divides by zero)."""
    return max(1, len(client.scheduler_info().get("workers", {})))
