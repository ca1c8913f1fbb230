"""No asyncio task outlives a store read.

Reads start fetches on Zarr's I/O event loop (the timestamps while the bars are planned,
every field at once). A fetch still pending when the interpreter exits is destroyed with
Zarr's loop and asyncio prints "Task was destroyed but it is pending!" (seen after
``harness doctor``, which lists symbols and never reads the timestamps). The read path
runs many times in a subprocess under ``-W error`` and asyncio's debug mode; after every
call the loop must hold no task, and the process must exit without asyncio's complaints.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

_SCRIPT = textwrap.dedent('''
    import asyncio, sys
    import numpy as np
    from zarr.core.sync import _get_loop
    from market_data.errors import InputError
    from market_data.store import BarStore
    from market_data.synthetic import regime_switching

    async def _others():
        me = asyncio.current_task()
        return [t for t in asyncio.all_tasks() if t is not me]

    def pending(what):
        left = asyncio.run_coroutine_threadsafe(_others(), _get_loop()).result()
        assert not left, f"{what} left {len(left)} task(s) running on Zarr's loop: {left}"

    path = sys.argv[1]
    bars, _ = regime_switching(300, 3, seed=4)
    BarStore.open(path, create=True).write(bars, message="bars")
    for i in range(int(sys.argv[2])):
        store = BarStore.open(path)  # a fresh store object: no cached views
        store.frequencies(); pending("frequencies")
        store.symbols("1d"); pending("symbols")
        if i % 3 == 0:
            store.info(); pending("info")
        store.read(); pending("read of whole histories")
        store.read(bars.symbols[1]); pending("read of one symbol")
        store.read(start=int(bars.timestamps[50]), end=int(bars.timestamps[200])); pending("read of a range")
        try:
            BarStore.open(path).read("NOPE")
        except InputError:
            pass
        pending("read of an unknown symbol")

    # one field's damaged shard index: the error leaves only after the other fields' fetches ended
    import zarr
    from zarr.codecs import BloscCodec
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync
    from market_data._shards import IndexCache, ShardSpec, read_blocks

    mem = zarr.storage.MemoryStore()
    specs = []
    for name in ("open", "close", "volume"):
        arr = zarr.create_array(mem, name=f"g/{name}", shape=(50, 5), chunks=(8, 1), shards=(16, 5), dtype="f8",
                                fill_value=np.nan, compressors=[BloscCodec(cname="lz4", clevel=5, shuffle="bitshuffle")])
        arr[:] = np.arange(250.0).reshape(50, 5)
        specs.append(ShardSpec.from_array(arr))
    key = specs[0].key(1, 0)
    raw = bytearray(sync(mem.get(key, default_buffer_prototype())).to_bytes())
    raw[-10] ^= 0xFF
    sync(mem.set(key, default_buffer_prototype().buffer.from_bytes(bytes(raw))))
    for _ in range(20):
        try:
            read_blocks(mem, specs, 5, 45, np.array([3]), [None] * 3, IndexCache())
            raise SystemExit("a damaged shard index was read without an error")
        except ValueError:
            pass
        pending("a failed read")
    print("ok")
''')


def test_no_asyncio_task_outlives_a_store_read(tmp_path):
    env = {**os.environ, "PYTHONASYNCIODEBUG": "1", "PYTHONDEVMODE": "1"}
    proc = subprocess.run([sys.executable, "-X", "dev", "-W", "error", "-c", _SCRIPT, str(tmp_path / "store"), "30"],
                          capture_output=True, text=True, timeout=600, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert proc.stdout.strip() == "ok", out
    for complaint in ("destroyed but it is pending", "was never awaited", "Traceback", "Warning"):
        assert complaint not in proc.stderr, proc.stderr
