"""The journal-file study storage: Optuna's format, resumable, one fsync per finished trial."""

from __future__ import annotations

import os

import numpy as np
import optuna

from harness.optimize import optimize
from harness.optimize._storage import journal_storage
from market_data.synthetic import regime_switching


def test_a_journal_study_resumes_and_plain_optuna_reads_it(tmp_path):
    bars = regime_switching(600, 1, seed=4)[0]
    url = f"journal:{tmp_path / 'studies' / 's.journal'}"
    a = optimize(bars, "sma_crossover", n_trials=4, cv="walk-forward:train=200,test=100", storage=url,
                 study_name="s", seed=1, pruner=optuna.pruners.NopPruner(), progress=False,
                 search_space={"fast": [2, 20], "slow": [25, 80]})
    b = optimize(bars, "sma_crossover", n_trials=3, cv="walk-forward:train=200,test=100", storage=url,
                 study_name="s", seed=1, pruner=optuna.pruners.NopPruner(), progress=False,
                 search_space={"fast": [2, 20], "slow": [25, 80]})
    assert len(b.study.trials) == 7 and set(a.oos_returns) <= set(b.oos_returns)
    for n, r in a.oos_returns.items():
        np.testing.assert_array_equal(b.oos_returns[n], r)
    # Optuna's own journal reader (what optuna-dashboard uses) sees the same study
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    plain = optuna.load_study(study_name="s", storage=JournalStorage(JournalFileBackend(str(tmp_path / "studies" /
                                                                                           "s.journal"))))
    assert [t.params for t in plain.trials] == [t.params for t in b.study.trials]
    assert not any(t.intermediate_values for t in plain.trials)  # NopPruner: no per-fold report written


def test_only_writes_that_finish_something_are_fsynced(tmp_path, monkeypatch):
    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    study = optuna.create_study(storage=journal_storage(tmp_path / "x.journal"))
    calls.clear()

    def objective(trial):
        trial.suggest_int("a", 0, 9)
        trial.suggest_float("b", 0, 1)
        trial.set_user_attr("note", "x")
        return 1.0

    study.optimize(objective, n_trials=5)
    assert len(calls) == 5  # one per finished trial, none for params or attributes
