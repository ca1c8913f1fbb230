"""Optuna trials on a Dask cluster, with driver-side ask/tell.

The driver owns the study: it asks ``batch_size`` trials at a time (suggesting their
parameters itself, in trial-number order), ships each valid parameter set to a worker,
and tells the results in trial-number order once the whole batch is back. So:

- the budget is exact: exactly ``n_trials`` trials are asked (no n+m overshoot, optuna#3518);
- only the driver touches the storage (one RDB, SQLite or PostgreSQL): the study exists
  before any worker starts, and workers need no database access at all;
- a task that fails (or whose worker dies past Dask's retries) is told FAIL; none is left
  RUNNING. On RDB storages the driver records heartbeats for the trials in flight, and a
  resumed study first fails the RUNNING trials of a driver that died (stale heartbeats);
- reproducibility: for a given seed and ``batch_size`` the sampler sees the same
  completed trials at every ``ask`` whatever the number of workers or their speed, so the
  study (parameters and values, trial by trial) is identical across worker counts. With
  ``batch_size=1`` it equals the in-process study with pruning off. A different
  ``batch_size`` gives a different (equally valid) study: the sampler is asked for
  several trials before it sees their results. Trials' wall times are not reproducible.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

__all__ = ["optimize_on_dask", "HEARTBEAT_S"]

#: Seconds between heartbeats of in-flight trials (RDB storages); stale after 4 of them.
HEARTBEAT_S = 10


def _score_on_worker(evaluator: Any, params: dict, objectives: tuple[str, ...], cv: Any, seed: int) -> tuple:
    from harness.optimize._optimize import _score

    p = evaluator.strategy.Params.from_dict(params)
    return _score(evaluator, p, objectives, cv, seed)


class _Heartbeat:
    """Records a heartbeat for every in-flight trial while a batch runs (RDB storages only)."""

    def __init__(self, study: Any) -> None:
        storage = study._storage
        self._storage = storage if hasattr(storage, "record_heartbeat") else None
        self._ids: list[int] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _Heartbeat:
        if self._storage is not None:
            self._thread = threading.Thread(target=self._run, name="harness-trial-heartbeat", daemon=True)
            self._thread.start()
        return self

    def watch(self, trial_ids: list[int]) -> None:
        self._ids = list(trial_ids)
        self.beat()

    def beat(self) -> None:
        if self._storage is None:
            return
        for tid in list(self._ids):
            try:
                self._storage.record_heartbeat(tid)
            except Exception:  # a heartbeat is best effort; the next one retries
                pass

    def _run(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            self.beat()

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


def _fail_stale(study: Any) -> int:
    """Fail RUNNING trials whose heartbeat stopped (a driver that died); returns how many."""
    import optuna

    storage = study._storage
    if not hasattr(storage, "record_heartbeat"):
        return 0
    if storage.get_heartbeat_interval() is None:
        return 0
    before = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)))
    optuna.storages.fail_stale_trials(study)
    after = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)))
    return before - after


def optimize_on_dask(study: Any, evaluator: Any, strat: Any, space: dict, fixed: dict, objectives: tuple[str, ...],
                     cv: Any, seed: int, n_trials: int, *, timeout: float | None, dask: Any,
                     batch_size: int | None, returns: dict[int, np.ndarray], sidecar: Any,
                     callbacks: list) -> None:
    """Run ``n_trials`` trials of ``study`` on Dask (see the module docstring)."""
    import optuna

    from harness._dask import connect, n_workers
    from harness.errors import InputError, ParamError
    from harness.optimize._optimize import _record, _suggest

    if batch_size is not None and (isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1):
        raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")
    import warnings

    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
    warnings.filterwarnings("ignore", message=".*fail_stale_trials.*", category=optuna.exceptions.ExperimentalWarning)
    _fail_stale(study)
    single = len(objectives) == 1
    deadline = None if timeout is None else time.monotonic() + float(timeout)
    with connect(dask) as client:
        k = int(batch_size) if batch_size else 2 * n_workers(client)
        ev = client.scatter(evaluator, broadcast=True, hash=False)
        asked = 0
        with _Heartbeat(study) as heart:
            while asked < n_trials and (deadline is None or time.monotonic() < deadline):
                batch = []
                for _ in range(min(k, n_trials - asked)):
                    trial = study.ask()
                    asked += 1
                    values = {name: _suggest(trial, name, d) for name, d in space.items()}
                    try:
                        params = strat.Params.from_dict({**fixed, **values})
                    except ParamError as exc:
                        trial.set_user_attr("invalid", str(exc))
                        batch.append((trial, None))
                        continue
                    fut = client.submit(_score_on_worker, ev, params.to_dict(), objectives, cv, seed, pure=False)
                    batch.append((trial, fut))
                heart.watch([t._trial_id for t, f in batch if f is not None])
                for trial, fut in batch:  # tell in trial-number order, after the batch is done
                    if fut is None:
                        frozen = study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                    else:
                        try:
                            scored = fut.result()
                        except Exception as exc:  # a failed task or a worker lost past retries
                            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
                            frozen = study.tell(trial, state=optuna.trial.TrialState.FAIL)
                        else:
                            out, oos = _record(trial, scored)
                            returns[trial.number] = oos
                            if sidecar is not None:
                                sidecar.mkdir(parents=True, exist_ok=True)
                                np.save(sidecar / f"trial_{trial.number}.npy", oos)
                            frozen = study.tell(trial, out[0] if single else out)
                    for cb in callbacks:
                        cb(study, frozen)
                heart.watch([])
