"""Shared fixtures: every test runs against its own temporary home folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def harness_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty ``HARNESS_HOME`` for each test (nothing touches ./.harness)."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HARNESS_HOME", str(home))
    return home


@pytest.fixture
def run_cli(harness_home: Path):
    """Run ``harness ARGS...`` in a subprocess against the test's home; returns CompletedProcess."""

    def _run(*args: str, check: bool = False, timeout: float = 600, env: dict | None = None):
        full_env = {**os.environ, "HARNESS_HOME": str(harness_home), "COLUMNS": "200", **(env or {})}
        proc = subprocess.run(
            [sys.executable, "-m", "harness", *args], capture_output=True, text=True,
            timeout=timeout, env=full_env,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"harness {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    return _run


@pytest.fixture
def stored_bars(harness_home: Path):
    """Two random-walk daily symbols (AAA, BBB; 400 bars) written to the test's home store."""
    import numpy as np

    from harness._bars import home_store
    from market_data import Bars

    day = 86_400_000_000_000
    rng = np.random.default_rng(1)
    T, N = 400, 2
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (T, N)), axis=0))
    open_ = close * np.exp(rng.normal(0, 0.003, (T, N)))
    bars = Bars(timestamps=np.arange(T, dtype=np.int64) * day + 18_000 * day, symbols=("AAA", "BBB"),
                open=open_, high=np.maximum(open_, close) * 1.005, low=np.minimum(open_, close) * 0.995,
                close=close, volume=np.full((T, N), 1e6), frequency="1d")
    home_store(create=True).write(bars, message="test bars")
    return bars


# ----------------------------------------------------------------------------- services
# PostgreSQL and a local S3 server (moto) for the scale-out tests. .ci/services starts
# PostgreSQL; the S3 server is started here. A missing service skips the tests that need
# it, naming the reason, except under CI=true, where it fails them.
PG_URL_ENV = "HARNESS_TEST_PG_URL"
PG_DEFAULT = "postgresql+psycopg2://harness:harness@127.0.0.1:5432/harness_test"


def _missing_service(msg: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{msg} [CI=true: a missing service fails the run]")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The SQLAlchemy URL of the test PostgreSQL database (``HARNESS_TEST_PG_URL`` or the .ci/services one)."""
    url = os.environ.get(PG_URL_ENV, PG_DEFAULT)
    try:
        import sqlalchemy

        engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        _missing_service(f"PostgreSQL is not reachable at {url} ({type(exc).__name__}); run `bash .ci/services` "
                         f"or set {PG_URL_ENV}")
    return url


def _drop_database(admin, name: str) -> None:
    """Drop a test database: end this role's sessions on it, then a plain DROP, which also stops an
    autovacuum worker there. ``DROP ... WITH (FORCE)`` fails when autovacuum happens to be working on
    the database: terminating a superuser's worker needs a privilege the test role does not have."""
    import time

    import sqlalchemy

    for attempt in range(50):
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n "
                                         "AND pid <> pg_backend_pid() AND usename = current_user"), {"n": name})
            try:
                conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}"'))
                return
            except sqlalchemy.exc.OperationalError:  # a terminated session has not exited yet
                if attempt == 49:
                    raise
        time.sleep(0.1)


@pytest.fixture
def pg_database(pg_url: str):
    """A fresh, empty PostgreSQL database for one test (dropped afterwards); yields its URL."""
    import uuid

    import sqlalchemy

    name = f"harness_t_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    url = sqlalchemy.engine.make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        _drop_database(admin, name)
        admin.dispose()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory):
    """A moto S3 server on 127.0.0.1 for the session; yields its endpoint URL (fake credentials in env)."""
    import socket
    import time

    try:
        import moto.server  # noqa: F401  (moto[server] is a dev dependency)
    except ImportError as exc:
        _missing_service(f"moto[server] is not installed ({exc})")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=fh, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                _missing_service(f"the moto S3 server did not start: {log.read_text()[-500:]}")
            time.sleep(0.1)
    try:
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def s3_env(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Fake credentials and the moto endpoint in the environment (as a real deployment would set them)."""
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": s3_server,
                       "HARNESS_S3_PATH_STYLE": "1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    return s3_server


@pytest.fixture
def s3_bucket(s3_env: str) -> str:
    """A fresh bucket on the moto server; yields its name."""
    import uuid

    import boto3

    name = f"harness-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_env, region_name="us-east-1").create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def _mlflow_pg_template(pg_url: str) -> str:
    """A PostgreSQL database holding an empty MLflow schema, cloned per test (migrating is slow)."""
    import uuid

    import sqlalchemy
    from mlflow.store.db.utils import _initialize_tables

    name = f"harness_mlflow_tpl_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    url = sqlalchemy.engine.make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    engine = sqlalchemy.create_engine(url)
    try:
        _initialize_tables(engine)
    finally:
        engine.dispose()
    try:
        yield name
    finally:
        _drop_database(admin, name)
        admin.dispose()


@pytest.fixture
def mlflow_pg_uri(pg_url: str, _mlflow_pg_template: str):
    """A fresh MLflow tracking/registry store on PostgreSQL for one test; yields its URI."""
    import uuid

    import sqlalchemy

    name = f"harness_t_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}" TEMPLATE "{_mlflow_pg_template}"'))
    url = sqlalchemy.engine.make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        from harness.registry import _mlflow

        _mlflow._CLIENTS.pop(url, None)
        _drop_database(admin, name)
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def mlflow_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test on both MLflow stores: the home SQLite default, and PostgreSQL by URI."""
    if request.param == "sqlite":
        return "sqlite"
    uri = request.getfixturevalue("mlflow_pg_uri")
    monkeypatch.setenv("HARNESS_MLFLOW_URI", uri)
    return uri


def _local_client(*, processes: bool):
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=processes, dashboard_address=":0",
                           silence_logs=40)
    with Client(cluster) as client:
        yield client
    cluster.close()


@pytest.fixture(scope="session")
def dask_client():
    """A two-worker Dask ``LocalCluster`` of processes (one thread each), shared by the session's
    sweep tests: the sweep suite runs on it as well as in process (one cluster per pytest worker)."""
    yield from _local_client(processes=True)


@pytest.fixture(scope="session")
def dask_threads_client():
    """A two-worker Dask ``LocalCluster`` of threads: for tests whose strategies are registered in
    this process only (worker processes could not import them)."""
    yield from _local_client(processes=False)


@pytest.fixture(params=["in-process", "dask"])
def sweep_on(request: pytest.FixtureRequest) -> dict:
    """Where a sweep runs: ``{}`` (in process) or ``{"dask": client}`` (the session's cluster)."""
    return {} if request.param == "in-process" else {"dask": request.getfixturevalue("dask_client")}
