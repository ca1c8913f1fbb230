"""Save/load: exact round trip, lineage in the manifest, tampered and mismatched files refused."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from strategies.ml import (
    FEATURE_NAMES,
    FittedModel,
    ModelFileError,
    ModelMismatchError,
    TamperedModelError,
    fit,
    load,
)


@pytest.fixture(scope="module")
def model(walk_bars, tiny_params):
    return fit(walk_bars, tiny_params, seed=3)


def _rehash(folder: Path) -> None:
    """Make the manifest's SHA-256 agree with the current weights file."""
    mfile = folder / "manifest.json"
    manifest = json.loads(mfile.read_text())
    manifest["weights_sha256"] = hashlib.sha256((folder / "weights.pt").read_bytes()).hexdigest()
    mfile.write_text(json.dumps(manifest))


def test_save_then_load_gives_the_same_weights_and_predictions(model, walk_bars, tmp_path):
    folder = model.save(tmp_path / "m")
    back = load(folder)
    assert back.same_weights(model)
    assert back.params == model.params and back.seed == 3
    assert np.array_equal(back.target_weights(walk_bars), model.target_weights(walk_bars))


def test_manifest_records_lineage_seed_features_metrics_and_the_weights_hash(model, walk_bars, tmp_path):
    folder = model.save(tmp_path / "m")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["params"] == model.params.to_dict()
    assert manifest["feature_names"] == list(FEATURE_NAMES)
    assert manifest["seed"] == 3
    assert manifest["data"]["bars_digest"] == walk_bars.digest()
    assert manifest["data"]["symbols"] == ["S0", "S1"]
    assert "snapshot_id" in manifest["data"]
    assert manifest["code_version"].startswith("0.1.0+ml.")
    assert manifest["metrics"]["val_loss"] == model.metrics["val_loss"]
    assert manifest["weights_sha256"] == hashlib.sha256((folder / "weights.pt").read_bytes()).hexdigest()


def test_a_flipped_byte_in_the_weights_file_is_refused(model, tmp_path):
    folder = model.save(tmp_path / "m")
    wfile = folder / "weights.pt"
    data = bytearray(wfile.read_bytes())
    data[len(data) // 2] ^= 0x01
    wfile.write_bytes(bytes(data))
    with pytest.raises(TamperedModelError, match="SHA-256"):
        load(folder)


def test_weights_of_another_model_are_refused(model, walk_bars, tiny_params, tmp_path):
    a = model.save(tmp_path / "a")
    b = fit(walk_bars, tiny_params.replace(hidden=12), seed=3).save(tmp_path / "b")
    shutil.copy(b / "weights.pt", a / "weights.pt")
    with pytest.raises(TamperedModelError):
        load(a)
    _rehash(a)  # even with a recomputed hash, the tensors do not fit the manifest's params
    with pytest.raises(ModelMismatchError, match="shape"):
        load(a)


def test_a_manifest_edited_to_other_params_is_refused(model, tmp_path):
    folder = model.save(tmp_path / "m")
    mfile = folder / "manifest.json"
    manifest = json.loads(mfile.read_text())
    manifest["params"]["lookback"] = 6
    mfile.write_text(json.dumps(manifest))
    with pytest.raises(ModelMismatchError, match="layers.0.weight"):
        load(folder)


def test_a_model_trained_on_other_features_is_refused(model, tmp_path):
    folder = model.save(tmp_path / "m")
    mfile = folder / "manifest.json"
    manifest = json.loads(mfile.read_text())
    manifest["feature_names"] = list(reversed(manifest["feature_names"]))
    mfile.write_text(json.dumps(manifest))
    with pytest.raises(ModelMismatchError, match="features"):
        load(folder)


def test_load_checks_the_expected_training_data_and_params(model, walk_bars, tmp_path):
    folder = model.save(tmp_path / "m")
    assert load(folder, expected_bars_digest=walk_bars.digest(), expected_params=model.params).same_weights(model)
    with pytest.raises(ModelMismatchError, match="bars digest"):
        load(folder, expected_bars_digest=walk_bars[:-1].digest())
    with pytest.raises(ModelMismatchError, match="hidden"):
        load(folder, expected_params=model.params.replace(hidden=9))


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_that_would_run_code_is_refused_even_with_a_matching_hash(model, tmp_path):
    folder = model.save(tmp_path / "m")
    marker = tmp_path / "pwned"
    torch.save({"net.layers.0.weight": _Exploit(marker)}, folder / "weights.pt", pickle_module=pickle)
    _rehash(folder)
    with pytest.raises(ModelFileError, match="weights-only"):
        load(folder)
    assert not marker.exists()


def test_missing_or_garbled_files_raise_a_model_file_error(model, tmp_path):
    with pytest.raises(ModelFileError, match="no saved model"):
        FittedModel.load(tmp_path / "nothing")
    folder = model.save(tmp_path / "m")
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="JSON"):
        load(folder)
    folder = model.save(tmp_path / "m2")
    (folder / "weights.pt").unlink()
    with pytest.raises(ModelFileError, match="missing"):
        load(folder)
    folder = model.save(tmp_path / "m3")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["weights_file"] = "../m/weights.pt"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="weights_file"):
        load(folder)
