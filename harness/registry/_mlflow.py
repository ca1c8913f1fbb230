"""Where the MLflow store is, one client per process, and retries on a busy SQLite store.

* :func:`tracking_uri`: ``HARNESS_MLFLOW_URI``, else ``mlflow_uri`` in ``<home>/config.toml``,
  else ``sqlite:///<home>/mlflow.db``. Any MLflow tracking URI works
  (``postgresql+psycopg2://...``, ``http://...``).
* :func:`artifact_root`: ``HARNESS_MLFLOW_ARTIFACTS``, else ``mlflow_artifacts`` in the home
  config, else ``<home>/artifacts``.
* :func:`client`: a cached ``MlflowClient`` (tracking and registry on the same URI) whose
  calls retry while SQLite answers "database is locked".

A fresh SQLite store costs seconds of Alembic migrations; the first one is built once into
a schema template in the user's cache folder and copied for every new home afterwards
(then switched to WAL so readers never block the one writer).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import os
import random
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from harness.errors import RegistryError

__all__ = ["MLFLOW_URI_ENV", "MLFLOW_ARTIFACTS_ENV", "tracking_uri", "artifact_root", "client",
           "retry_locked", "is_locked_error", "ensure_experiment", "AuditAnchor"]

_log = logging.getLogger("harness.registry")

MLFLOW_URI_ENV = "HARNESS_MLFLOW_URI"
MLFLOW_ARTIFACTS_ENV = "HARNESS_MLFLOW_ARTIFACTS"
ANCHOR_EXPERIMENT = "harness-audit"
_RETRY_SECONDS = 60.0

T = TypeVar("T")


def tracking_uri() -> str:
    """The MLflow tracking (and registry) URI of the current home."""
    value = os.environ.get(MLFLOW_URI_ENV)
    if value:
        return value
    from harness.config import paths, settings

    value = settings().get("mlflow_uri")
    if value:
        if not isinstance(value, str):
            from harness.errors import ConfigError

            raise ConfigError(f"{paths().config_file}: mlflow_uri must be a string URI, got {value!r}")
        return value
    return f"sqlite:///{paths().mlflow_db}"


def artifact_root() -> str:
    """Where MLflow artifacts (and registered model files) go, as a URI or absolute path."""
    value = os.environ.get(MLFLOW_ARTIFACTS_ENV)
    if value:
        return value
    from harness.config import paths, settings

    value = settings().get("mlflow_artifacts")
    if value:
        return str(value)
    return str(paths().artifacts)


def _sqlite_path(uri: str) -> Path | None:
    if not uri.startswith("sqlite:///"):
        return None
    rest = uri.removeprefix("sqlite:///")
    return None if rest in ("", ":memory:") else Path(rest)


def is_locked_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or its cause chain) is SQLite's "database is locked" / busy."""
    seen = 0
    while exc is not None and seen < 8:
        text = str(exc).lower()
        if "database is locked" in text or "database table is locked" in text or "sqlite_busy" in text:
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def retry_locked(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn``, retrying with jittered back-off for up to a minute while SQLite is locked."""
    deadline = time.monotonic() + _RETRY_SECONDS
    delay = 0.02
    while True:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if not is_locked_error(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)


class _RetryingClient:
    """Proxy of an ``MlflowClient`` whose methods retry on "database is locked"."""

    def __init__(self, inner: Any, uri: str) -> None:
        self._inner = inner
        self.uri = uri

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if not callable(value):
            return value

        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:
            return retry_locked(value, *args, **kwargs)

        return call

    @property
    def inner(self) -> Any:
        """The wrapped ``MlflowClient`` (no retries)."""
        return self._inner

    def __repr__(self) -> str:
        return f"<harness MlflowClient {self.uri}>"


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _template_path() -> Path:
    import mlflow

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "harness"
    return cache / f"mlflow-{mlflow.__version__}-schema.db"


def _build_template(template: Path) -> None:
    """An empty SQLite store with every MLflow table at the latest migration."""
    import sqlalchemy
    from mlflow.store.db.utils import _initialize_tables

    tmp = template.with_name(f"{template.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp}")
    try:
        _initialize_tables(engine)
    finally:
        engine.dispose()
    os.replace(tmp, template)


def _ensure_sqlite(db: Path, artifacts: str) -> None:
    """Create the SQLite store at ``db`` (from the cached schema template), in WAL mode."""
    if db.exists() and db.stat().st_size > 0:
        return
    with _flock(db.with_name(db.name + ".lock")):
        if db.exists() and db.stat().st_size > 0:
            return
        db.parent.mkdir(parents=True, exist_ok=True)
        tmp = db.with_name(f"{db.name}.{os.getpid()}.tmp")
        try:
            template = _template_path()
            with _flock(template.with_name(template.name + ".lock")):
                if not template.exists():
                    _build_template(template)
            shutil.copyfile(template, tmp)
        except OSError as exc:  # no writable cache folder: migrate in place
            _log.debug("no MLflow schema template (%s); initialising %s directly", exc, db)
            _build_template(tmp)
        import sqlite3

        con = sqlite3.connect(tmp)
        try:
            con.execute("PRAGMA journal_mode=WAL")
        finally:
            con.close()
        os.replace(tmp, db)
        # the default experiment (id 0), with its artifacts under the home, not ./mlruns
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        SqlAlchemyStore(f"sqlite:///{db}", artifacts)


def _sqlite_synchronous_normal(inner: Any) -> None:
    """``PRAGMA synchronous=NORMAL`` on the tracking store's connections: in WAL mode a commit
    then skips its fsync (a power cut may lose the last commits, never corrupt the file),
    which is most of what logging a run costs on a busy disk."""
    import sqlalchemy

    engine = getattr(getattr(inner._tracking_client, "store", None), "engine", None)
    if engine is None:
        return

    def pragmas(dbapi_connection: Any, _record: Any) -> None:
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    sqlalchemy.event.listen(engine, "connect", pragmas)
    engine.dispose()  # connections opened before the listener lack the pragma


_CLIENTS: dict[str, _RetryingClient] = {}
_CLIENTS_LOCK = threading.Lock()


def _after_fork_in_child() -> None:
    """A forked child (multiprocessing, Dask's fork workers) must not reuse the parent's DB connections."""
    global _CLIENTS_LOCK
    _CLIENTS_LOCK = threading.Lock()
    import sys

    for module in ("mlflow.store.tracking.sqlalchemy_store", "mlflow.store.model_registry.sqlalchemy_store"):
        store = getattr(sys.modules.get(module), "SqlAlchemyStore", None)
        for engine in list(getattr(store, "_engine_map", {}).values()):
            with contextlib.suppress(Exception):
                engine.dispose(close=False)  # new connections in the child; the parent's stay the parent's


os.register_at_fork(after_in_child=_after_fork_in_child)


def client(uri: str | None = None) -> Any:
    """The process' ``MlflowClient`` for ``uri`` (default :func:`tracking_uri`), retrying on a locked SQLite."""
    uri = uri or tracking_uri()
    with _CLIENTS_LOCK:
        found = _CLIENTS.get(uri)
        if found is not None:
            return found
        # MLflow's usage telemetry stays off unless the environment asks for it: runs stay on
        # the user's machine, and every logging call stays cheap (it costs ~20 ms a call)
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        for name in ("mlflow.store.db.utils", "alembic.runtime.migration"):  # "Creating initial tables..."
            if logging.getLogger(name).level == logging.NOTSET:
                logging.getLogger(name).setLevel(logging.WARNING)
        try:
            db = _sqlite_path(uri)
            if db is not None:
                retry_locked(_ensure_sqlite, db, artifact_root())
            from mlflow import MlflowClient

            inner = retry_locked(MlflowClient, tracking_uri=uri, registry_uri=uri)
            if db is not None:
                _sqlite_synchronous_normal(inner)
        except RegistryError:
            raise
        except Exception as exc:
            raise RegistryError(f"cannot open the MLflow store {uri}: {exc}") from exc
        found = _CLIENTS[uri] = _RetryingClient(inner, uri)
        return found


def ensure_experiment(name: str, *, uri: str | None = None, tags: dict[str, str] | None = None) -> str:
    """The id of the MLflow experiment ``name``, created (artifacts under :func:`artifact_root`) if missing."""
    from mlflow.exceptions import MlflowException

    c = client(uri)
    found = c.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    root = artifact_root()
    location = root if "://" in root else Path(root).absolute().as_uri()
    try:
        return c.create_experiment(name, artifact_location=f"{location.rstrip('/')}/{name}", tags=tags)
    except MlflowException:  # created meanwhile by another process
        found = c.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


class AuditAnchor:
    """The audit head ``(seq, hash)`` anchored as a tag of the ``harness-audit`` MLflow experiment.

    The tag key names the trail (host and absolute path of the log), so several homes can
    share one remote store. A trail that moved (same first record, other path) is found by
    its first record's hash.
    """

    PREFIX = "audit.head."

    def __init__(self, log_path: Path, *, uri: str | None = None) -> None:
        self.log_path = Path(log_path)
        self.uri = uri or tracking_uri()  # pinned: the trail keeps its store if the environment changes
        ident = f"{socket.gethostname()}:{self.log_path}"
        self.key = self.PREFIX + hashlib.sha256(ident.encode()).hexdigest()[:16]
        self._experiment: str | None = None

    def _exp(self) -> str:
        if self._experiment is None:
            self._experiment = ensure_experiment(ANCHOR_EXPERIMENT, uri=self.uri)
        return self._experiment

    def write(self, seq: int, hash_: str, first: str) -> None:
        value = json.dumps({"seq": int(seq), "hash": hash_, "first": first, "path": str(self.log_path),
                            "host": socket.gethostname()}, sort_keys=True)
        client(self.uri).set_experiment_tag(self._exp(), self.key, value)

    def read(self, first: str | None = None) -> tuple[int, str] | None:
        """The anchored head of this trail, or None when it was never anchored."""
        exp = client(self.uri).get_experiment(self._exp())
        tags = dict(exp.tags)
        raw = tags.get(self.key)
        if raw is None and first:
            for key, value in tags.items():
                if key.startswith(self.PREFIX):
                    with contextlib.suppress(ValueError, TypeError):
                        if json.loads(value).get("first") == first:
                            raw = value
                            break
        if raw is None:
            return None
        data = json.loads(raw)
        return int(data["seq"]), str(data["hash"])
