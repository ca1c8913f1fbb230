"""Retraining: triggers, training windows, re-optimisation and re-fit, evidence for the gate.

``retrain(deployment, reason=...)`` re-optimises (and re-fits) a deployment on its
training window and registers its candidates with the evidence the gate needs;
``DetectorState`` is the deployment's persisted regime detector (``--if-regime-changed``),
``training_window`` builds trailing, expanding and regime-aware windows that end at the
trigger bar. Optuna and torch are imported on first use.
"""

from harness.retrain._retrain import (
    ACTOR,
    Candidate,
    Champion,
    RetrainResult,
    champion_of,
    gate_evidence,
    retrain,
    study_storage,
)
from harness.retrain._state import (
    DetectorState,
    DetectorStateError,
    RetrainLocked,
    deployment_dir,
    deployment_lock,
    state_path,
)
from harness.retrain._window import TrainingWindow, cv_fits, holdout_size, training_window

__all__ = ["retrain", "RetrainResult", "Candidate", "Champion", "champion_of", "gate_evidence", "study_storage",
           "DetectorState", "DetectorStateError", "RetrainLocked", "deployment_dir", "deployment_lock",
           "state_path", "TrainingWindow", "training_window", "cv_fits", "holdout_size", "ACTOR"]
