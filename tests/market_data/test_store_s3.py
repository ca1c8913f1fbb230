"""The bar store on object storage (Icechunk's S3 storage against a local moto server).

The write/read/append/tag suite in test_store_write.py runs on both backends through the
``store_at`` fixture; this file adds what only concurrent writers on S3 show. On object
storage there is no local writer lock: Icechunk's optimistic commits guard the branch,
and the store replans a write that lost a race on the new tip.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading

import pytest

from market_data import BarStore
from market_data.errors import ConflictError, InputError
from market_data.store import StoreLayout, _s3_options
from market_data.synthetic import regime_switching

LAYOUT = StoreLayout(chunk_bars=32, shard_bars=32, shard_symbols=4)

CONCURRENT = textwrap.dedent("""
    import sys
    from market_data import BarStore
    from market_data.synthetic import regime_switching
    uri, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    bars, _ = regime_switching(60, 6, seed=2)
    store = BarStore.open(uri)
    for i in range(first, first + count):
        store.write(bars.select([f"SYN{i}"]), message=f"symbol {i}")
""")


def test_s3_options_come_from_arguments_or_the_environment(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("HARNESS_S3_PATH_STYLE", "1")
    opts = _s3_options(None)
    assert opts == {"region": "eu-west-1", "endpoint_url": "http://127.0.0.1:9000", "allow_http": True,
                    "force_path_style": True, "from_env": True}
    opts = _s3_options({"endpoint_url": "https://s3.example.com", "region": "us-east-2", "force_path_style": False})
    assert opts["allow_http"] is False and opts["region"] == "us-east-2" and opts["force_path_style"] is False
    assert _s3_options({"anonymous": True})["anonymous"] is True
    with pytest.raises(InputError, match="unknown S3 option 'secret'"):
        _s3_options({"secret": "x"})
    with pytest.raises(InputError, match="names no bucket"):
        BarStore.open("s3:///prefix", create=True)
    with pytest.raises(InputError, match="not an s3:// URI"):
        BarStore.open("memory://", create=True, s3={"region": "x"})


def test_explicit_options_reach_the_server(s3_bucket, s3_env, monkeypatch):
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.delenv("HARNESS_S3_PATH_STYLE")
    bars, _ = regime_switching(30, 2, seed=1)
    uri = f"s3://{s3_bucket}/explicit"
    store = BarStore.open(uri, create=True, layout=LAYOUT,
                          s3={"endpoint_url": endpoint, "force_path_style": True, "region": "us-east-1"})
    sid = store.write(bars, message="x")
    again = BarStore.open(uri, s3={"endpoint_url": endpoint, "force_path_style": True})
    assert again.read().equals(bars) and again.read().snapshot_id == sid


@pytest.mark.slow
def test_disjoint_concurrent_writers_on_s3_both_land(s3_bucket, s3_env):
    bars, _ = regime_switching(60, 6, seed=2)
    uri = f"s3://{s3_bucket}/concurrent"
    store = BarStore.open(uri, create=True, layout=LAYOUT)
    procs = [subprocess.Popen([sys.executable, "-c", CONCURRENT, uri, str(first), "3"],
                              stderr=subprocess.PIPE, text=True) for first in (0, 3)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    back = store.read()
    assert sorted(back.symbols) == sorted(bars.symbols)
    assert back.select(bars.symbols).equals(bars)
    writes = [h for h in store.history() if h.message.startswith("symbol ")]
    assert len(writes) == 6
    for h in writes:  # every commit holds exactly one whole symbol
        i = int(h.message.split()[1])
        assert store.read(snapshot=h.id).select(f"SYN{i}").equals(bars.select(f"SYN{i}"))


def test_a_writer_that_loses_a_race_on_s3_replans_on_the_new_tip(s3_bucket, s3_env):
    bars, _ = regime_switching(50, 2, seed=3)
    uri = f"s3://{s3_bucket}/race"
    a = BarStore.open(uri, create=True, layout=LAYOUT)
    a.write(bars.select("SYN0")[:25], message="base")
    b = BarStore.open(uri)
    calls = []

    def rival():
        if not calls:
            calls.append(b.write(bars.select("SYN1"), message="rival"))

    a._before_commit = rival
    sid = a.write(bars.select("SYN0")[25:], message="mine")
    assert calls and a.history()[0].id == sid and a.history()[1].id == calls[0]
    assert a.read().select(["SYN0", "SYN1"]).equals(bars)


def test_overlapping_concurrent_writes_on_s3_give_exactly_one_conflict_and_lose_nothing(s3_bucket, s3_env):
    bars, _ = regime_switching(40, 2, seed=4)
    uri = f"s3://{s3_bucket}/overlap"
    BarStore.open(uri, create=True, layout=LAYOUT).write(bars[:20], message="base")
    writers = [BarStore.open(uri) for _ in range(2)]
    both_ready = threading.Barrier(2)
    for w in writers:  # both have planned their write on the same tip before either commits
        w._before_commit = lambda: both_ready.wait(timeout=60)
    outcomes: list[object] = [None, None]

    def run(k: int) -> None:
        try:
            outcomes[k] = writers[k].write(bars[20:], message=f"writer {k}")
        except ConflictError as exc:
            outcomes[k] = exc
        except Exception as exc:  # anything else is a failure of the test
            outcomes[k] = RuntimeError(repr(exc))

    threads = [threading.Thread(target=run, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    conflicts = [o for o in outcomes if isinstance(o, ConflictError)]
    landed = [o for o in outcomes if isinstance(o, str)]
    assert len(conflicts) == 1 and len(landed) == 1, outcomes
    assert "already has this bar" in str(conflicts[0])
    store = BarStore.open(uri)
    assert store.read().equals(bars)  # no lost update: the winner's bars, once
    assert sum(h.message.startswith("writer ") for h in store.history()) == 1
