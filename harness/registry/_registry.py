"""Deployments as MLflow registered models, versions with full lineage, aliases and champion history.

Layout in the MLflow store (any tracking URI: the home SQLite file, PostgreSQL, a server):

* a *deployment* is a registered model tagged ``harness.deployment = true``, with its mode,
  baseline, spec (text, hash, version) and who created / last changed it as tags;
* a *version* is a model version whose tag ``harness.lineage`` holds the JSON lineage
  (strategy, params, BacktestConfig, symbols, frequency, snapshot id, data digest, run id,
  code version, seed, artifact URI and SHA-256, and the feature attributions under
  ``attributions``); readable copies of the main fields are tags too. Its source is
  ``<artifact_root>/registry/<deployment>/v<version>``, holding ``lineage.json``,
  ``attributions.json`` (when given) and, for trainable strategies, the weights folder;
* aliases ``champion``, ``challenger``, ``previous`` are MLflow aliases. MLflow keeps no
  alias history (mlflow#2169), so every move is also a registered-model tag
  ``harness.alias.<time-ns>.<random>`` (JSON: alias, version, old, by, reason, decision,
  approval), which :meth:`Registry.champion_at` and :meth:`Registry.alias_history` read;
* gate decisions and approvals are runs of the MLflow experiment ``harness-decisions``
  (the run id is the decision / approval id), tagged with deployment, version and outcome,
  the full record as JSON; the version carries the latest ids as tags.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from harness import audit
from harness.errors import (
    ArtifactHashMismatch,
    ConflictError,
    InputError,
    PromotionRefused,
    RegistryError,
    SnapshotNotFoundError,
    UnknownAliasError,
    UnknownDecisionError,
    UnknownDeploymentError,
    UnknownVersionError,
)
from harness.registry._mlflow import artifact_root, client, ensure_experiment, tracking_uri
from harness.registry._names import ALIASES, check_alias, check_deployment_name

__all__ = ["Registry", "DeploymentInfo", "ModelVersion", "DeployedStrategy", "MODES", "artifact_digest"]

MODES = ("auto", "governed")
DECISIONS_EXPERIMENT = "harness-decisions"
_MARK = "harness.deployment"
_ALIAS_PREFIX = "harness.alias."
_RM_CHUNK = 4000  # registered-model tag values are VARCHAR(5000) on PostgreSQL
_RUN_CHUNK = 7000  # run tag values are limited to 8000 characters
_DECISION_KEYS = ("outcome", "checks", "reasons", "evidence_digest", "time", "policy")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _to_utc(value: Any, what: str = "when") -> datetime:
    if isinstance(value, (int, np.integer)):  # int64 nanoseconds, the house's timestamps
        return datetime.fromtimestamp(int(value) / 1e9, UTC)
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        value = value.to_pydatetime()
    from harness.audit import _parse_time

    return _parse_time(value, what)


def _json(value: Any) -> str:
    return json.dumps(audit._plain(value, "value"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _chunks(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


def _put_long(tags: dict[str, str], key: str, text: str, size: int) -> None:
    """``tags[key]`` = text, split as ``key``, ``key.1``, ``key.2``... past ``size`` characters."""
    parts = _chunks(text, size)
    tags[key] = parts[0]
    for i, part in enumerate(parts[1:], 1):
        tags[f"{key}.{i}"] = part
    tags[f"{key}.parts"] = str(len(parts))


def _get_long(tags: Mapping[str, str], key: str) -> str | None:
    if key not in tags:
        return None
    n = int(tags.get(f"{key}.parts", "1"))
    return "".join([tags[key], *(tags.get(f"{key}.{i}", "") for i in range(1, n))])


def artifact_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file, or of a folder: of its sorted ``relative-path NUL file-sha256 LF`` lines."""
    path = Path(path)
    if path.is_file():
        return _file_sha(path)
    if not path.is_dir():
        raise InputError(f"artifact {path} does not exist")
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f"{f.relative_to(path).as_posix()}\0{_file_sha(f)}\n".encode())
    return h.hexdigest()


def _file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _attributions_dict(deployment: str, value: Any) -> dict[str, Any] | None:
    """``value`` (an ``Attributions``, its dict, or None) as the checked dict the lineage keeps."""
    if value is None:
        return None
    from harness.explain import Attributions

    if isinstance(value, Attributions):
        return value.to_dict()
    if not isinstance(value, Mapping):
        raise InputError(f"register {deployment}: attributions must be a harness.explain.Attributions or its "
                         f"to_dict(), got {type(value).__name__}")
    try:
        return Attributions.from_dict(value).to_dict()
    except InputError as exc:
        raise InputError(f"register {deployment}: {exc}") from None


def _attributions_of(raw: Any) -> Any:
    """The ``Attributions`` of a stored lineage (None for versions registered before them)."""
    if raw is None:
        return None
    from harness.explain import Attributions

    return Attributions.from_dict(raw)


# ------------------------------------------------------------------ records
@dataclass(frozen=True, kw_only=True)
class DeploymentInfo:
    """A deployment (a registered model): its mode, baseline and spec."""

    name: str
    mode: str
    baseline: str | None
    spec: str
    spec_hash: str
    spec_version: int
    created_by: str
    changed_by: str
    created_at: str
    changed: bool = False  # set by create_deployment: whether this call stored a new spec
    champion: int | None = None
    challenger: int | None = None
    previous: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True, kw_only=True)
class ModelVersion:
    """One registered version of a deployment, with everything needed to trade it."""

    deployment: str
    version: int
    strategy: str
    params: dict
    config: Any  # harness.engine.BacktestConfig
    symbols: list[str]
    frequency: str
    snapshot_id: str
    data_digest: str
    run_id: str | None
    code_version: str | None
    seed: int | None
    artifact_uri: str | None
    artifact_sha256: str | None
    aliases: tuple[str, ...] = ()
    tags: dict = field(default_factory=dict)
    created_at: str = ""
    source: str = ""
    #: the feature set and definition hashes it was trained on (``strategies.features.feature_lineage``), and
    #: what training read from the feature store (``from_store``); None for versions registered before this
    features: dict | None = None
    attributions: Any = None  # harness.explain.Attributions; None for versions registered without them

    def lineage(self) -> dict[str, Any]:
        """The JSON-able lineage (what ``registry show`` prints)."""
        return {"deployment": self.deployment, "version": self.version, "strategy": self.strategy,
                "params": self.params, "config": self.config.to_dict(), "symbols": list(self.symbols),
                "frequency": self.frequency, "snapshot_id": self.snapshot_id, "data_digest": self.data_digest,
                "run_id": self.run_id, "code_version": self.code_version, "seed": self.seed,
                "artifact_uri": self.artifact_uri, "artifact_sha256": self.artifact_sha256,
                "aliases": list(self.aliases), "tags": dict(self.tags), "created_at": self.created_at,
                "features": self.features,
                "attributions": None if self.attributions is None else self.attributions.to_dict()}


class DeployedStrategy:
    """A loaded version: ``target_weights(bars)`` is exactly what ``backtest`` trades with it.

    Rule-based strategies: ``backtest(bars, strategy, params, config=config).weights``.
    Trainable strategies with a weights artifact: the fitted model's weights
    (``backtest(bars, weights=model.target_weights(bars), config=config).weights``); the
    model is loaded through :meth:`strategies.ml.fitted.FittedModel.load` (SHA-checked,
    ``torch.load(weights_only=True)``).
    """

    def __init__(self, version: ModelVersion, strategy: Any, params: Any, model: Any = None) -> None:
        self.version = version
        self.strategy = strategy
        self.params = params
        self.model = model
        self.config = version.config

    def raw_weights(self, bars: Any) -> np.ndarray:
        """The strategy's (or model's) weights before the engine's validation and clipping."""
        if self.model is not None:
            return self.model.target_weights(bars)
        return self.strategy.target_weights(bars, self.params)

    def target_weights(self, bars: Any) -> np.ndarray:
        """``(T, N)`` float64 target weights, validated and clipped as the engine does."""
        from harness.engine.api import prepare_weights

        if tuple(bars.symbols) != tuple(self.version.symbols):
            raise InputError(f"{self.version.deployment} v{self.version.version} trades symbols "
                             f"{list(self.version.symbols)}, the bars hold {list(bars.symbols)}")
        return prepare_weights(bars, self.raw_weights(bars), self.config)

    def __repr__(self) -> str:
        v = self.version
        return f"DeployedStrategy({v.deployment!r} v{v.version}, {v.strategy})"


# ------------------------------------------------------------------ registry
class Registry:
    """The model registry on an MLflow store; open with :meth:`Registry.open`."""

    def __init__(self, uri: str | None = None, *, store: Any = None) -> None:
        self.uri = uri or tracking_uri()
        self._client = client(self.uri)
        self._store = store
        self._decisions_exp: str | None = None

    @classmethod
    def open(cls, uri: str | None = None, *, store: Any = None) -> Registry:
        """The registry at ``uri`` (default :func:`harness.registry.tracking_uri`).

        ``store``: the bar store whose snapshots promotions tag (default: the home store).
        """
        return cls(uri, store=store)

    def __repr__(self) -> str:
        return f"Registry({self.uri!r})"

    # -------------------------------------------------------------- helpers
    def _mlflow_call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return fn(*args, **kwargs)
        except MlflowException as exc:
            raise RegistryError(f"MLflow store {self.uri}: {what}: {exc.message}") from exc

    def _is_missing(self, exc: BaseException) -> bool:
        return "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", "")) or "not found" in str(exc).lower()

    def _rm(self, name: str) -> Any:
        from mlflow.exceptions import MlflowException

        check_deployment_name(name)
        try:
            rm = self._client.get_registered_model(name)
        except MlflowException as exc:
            if self._is_missing(exc):
                raise UnknownDeploymentError(self._unknown_deployment(name)) from None
            raise RegistryError(f"MLflow store {self.uri}: reading deployment {name!r}: {exc.message}") from exc
        if rm.tags.get(_MARK) != "true":
            raise UnknownDeploymentError(f"{name!r} is an MLflow registered model but not a harness deployment")
        return rm

    def _unknown_deployment(self, name: str) -> str:
        import difflib

        names = [d.name for d in self.deployments()]
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else (
            f"; known: {', '.join(names)}" if names else "; none exist yet (`harness deploy SPEC --by NAME`)")
        return f"unknown deployment {name!r}{hint}"

    @contextlib.contextmanager
    def _lock(self, name: str) -> Iterator[None]:
        """Serialise alias moves of one deployment across the processes of this machine."""
        from harness.config import paths

        folder = paths().home / "locks"
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / f"registry-{name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _info(self, rm: Any, changed: bool = False) -> DeploymentInfo:
        t = rm.tags
        aliases = {a: int(v) for a, v in (getattr(rm, "aliases", None) or {}).items()}
        return DeploymentInfo(name=rm.name, mode=t.get("harness.mode", "auto"), baseline=t.get("harness.baseline") or None,
                              spec=_get_long(t, "harness.spec") or "", spec_hash=t.get("harness.spec_hash", ""),
                              spec_version=int(t.get("harness.spec_version", "1")),
                              created_by=t.get("harness.created_by", ""), changed_by=t.get("harness.changed_by", ""),
                              created_at=t.get("harness.created_at", ""), changed=changed,
                              champion=aliases.get("champion"), challenger=aliases.get("challenger"),
                              previous=aliases.get("previous"))

    @staticmethod
    def _check_by(by: Any, what: str) -> str:
        if not isinstance(by, str) or not by.strip():
            raise InputError(f"{what}: --by must name the person responsible")
        return by.strip()

    # -------------------------------------------------------------- deployments
    def create_deployment(self, name: str, *, mode: str, baseline: str | None, spec: str, spec_hash: str,
                          by: str) -> DeploymentInfo:
        """Create deployment ``name`` or update its spec; idempotent when ``spec_hash`` is unchanged.

        Audits ``deployment_created`` (new) or ``deployment_changed`` (spec changed:
        ``spec_version`` + 1, mode and baseline updated).
        """
        from mlflow.exceptions import MlflowException

        check_deployment_name(name)
        by = self._check_by(by, f"deployment {name}")
        if mode not in MODES:
            raise InputError(f"deployment {name}: mode must be one of {', '.join(MODES)}, got {mode!r}")
        if not isinstance(spec, str) or not isinstance(spec_hash, str) or not spec_hash:
            raise InputError(f"deployment {name}: spec must be the spec text and spec_hash its hash")
        with self._lock(name):
            try:
                rm = self._client.get_registered_model(name)
            except MlflowException as exc:
                if not self._is_missing(exc):
                    raise RegistryError(f"MLflow store {self.uri}: reading deployment {name!r}: {exc.message}") \
                        from exc
                rm = None
            if rm is not None and rm.tags.get(_MARK) != "true":
                raise ConflictError(f"{name!r} is an MLflow registered model not created by the harness; "
                                    "pick another deployment name")
            now = _now()
            if rm is None:
                tags = {_MARK: "true", "harness.mode": mode, "harness.baseline": baseline or "",
                        "harness.spec_hash": spec_hash, "harness.spec_version": "1", "harness.created_by": by,
                        "harness.changed_by": by, "harness.created_at": now}
                _put_long(tags, "harness.spec", spec, _RM_CHUNK)
                try:
                    self._client.create_registered_model(name, tags=tags,
                                                         description=f"harness deployment ({mode} mode)")
                except MlflowException as exc:
                    raise RegistryError(f"MLflow store {self.uri}: creating deployment {name!r}: {exc.message}") \
                        from exc
                audit.append("deployment_created", actor=by, deployment=name,
                             payload={"mode": mode, "baseline": baseline, "spec_hash": spec_hash, "spec_version": 1})
                return self._info(self._rm(name), changed=True)
            if rm.tags.get("harness.spec_hash") == spec_hash:
                return self._info(rm, changed=False)
            old = self._info(rm)
            tags = {"harness.mode": mode, "harness.baseline": baseline or "", "harness.spec_hash": spec_hash,
                    "harness.spec_version": str(old.spec_version + 1), "harness.changed_by": by,
                    "harness.changed_at": now}
            _put_long(tags, "harness.spec", spec, _RM_CHUNK)
            stale = {k for k in rm.tags if k.startswith("harness.spec.")} - set(tags)
            for key in stale:
                self._mlflow_call("updating the spec", self._client.delete_registered_model_tag, name, key)
            for key, value in tags.items():
                self._mlflow_call("updating the spec", self._client.set_registered_model_tag, name, key, value)
            audit.append("deployment_changed", actor=by, deployment=name,
                         payload={"mode": mode, "baseline": baseline, "spec_hash": spec_hash,
                                  "old_spec_hash": old.spec_hash, "spec_version": old.spec_version + 1,
                                  "old_mode": old.mode})
            return self._info(self._rm(name), changed=True)

    def deployment(self, name: str) -> DeploymentInfo:
        """The deployment ``name``; :class:`UnknownDeploymentError` if there is none."""
        return self._info(self._rm(name))

    def deployments(self) -> list[DeploymentInfo]:
        """Every harness deployment in the store, by name."""
        out = []
        token = None
        while True:
            page = self._mlflow_call("listing deployments", self._client.search_registered_models,
                                     max_results=1000, page_token=token)
            out.extend(self._info(rm) for rm in page if rm.tags.get(_MARK) == "true")
            token = getattr(page, "token", None)
            if not token:
                break
        return sorted(out, key=lambda d: d.name)

    # -------------------------------------------------------------- versions
    def register(self, deployment: str, *, strategy: str, params: Mapping[str, Any], config: Any,
                 symbols: list[str], frequency: str, snapshot_id: str, data_digest: str,
                 run_id: str | None = None, code_version: str | None = None, seed: int | None = None,
                 artifact_path: str | os.PathLike[str] | None = None,
                 tags: Mapping[str, Any] | None = None, features: Mapping[str, Any] | None = None,
                 attributions: Any = None) -> ModelVersion:
        """Register a new version of ``deployment`` with its full lineage; returns it.

        ``params`` are validated against the strategy's ``Params``; with ``artifact_path``
        (a trained model folder or file) the registry copies it under the version's
        artifact folder and records its SHA-256 (:func:`artifact_digest`). The version
        always records its feature set and definition hashes
        (:func:`strategies.features.feature_lineage`), which :meth:`load` checks;
        ``features`` adds what training read from the feature store (``{"from_store":
        FeatureUsage.to_dict()}``). ``attributions`` (a :class:`harness.explain.Attributions`
        or its ``to_dict()``) are stored as the version's ``attributions.json`` and in its
        lineage (``ModelVersion.attributions``).
        """
        import strategies
        from harness.engine import BacktestConfig
        from harness.engine.api import code_version as engine_code_version

        self._rm(deployment)
        strat = strategies.get(strategy)
        if not isinstance(params, Mapping):
            raise InputError(f"register {deployment}: params must be a dict, got {type(params).__name__}")
        p = strat.Params.from_dict(dict(params))
        if not isinstance(config, BacktestConfig):
            raise InputError(f"register {deployment}: config must be a BacktestConfig, got {type(config).__name__}")
        syms = [symbols] if isinstance(symbols, str) else list(symbols)
        if not syms or not all(isinstance(s, str) and s for s in syms):
            raise InputError(f"register {deployment}: symbols must be a non-empty list of names, got {symbols!r}")
        for what, value in (("frequency", frequency), ("snapshot_id", snapshot_id), ("data_digest", data_digest)):
            if not isinstance(value, str) or not value:
                raise InputError(f"register {deployment}: {what} must be a non-empty string, got {value!r}")
        if seed is not None and not isinstance(seed, (int, np.integer)):
            raise InputError(f"register {deployment}: seed must be an int or None, got {seed!r}")
        local = None
        if artifact_path is not None:
            local = Path(artifact_path)
            if not local.exists():
                raise InputError(f"register {deployment}: artifact {local} does not exist")
        explained = _attributions_dict(deployment, attributions)
        extra = {str(k): str(v) for k, v in (tags or {}).items()}
        if features is not None and not isinstance(features, Mapping):
            raise InputError(f"register {deployment}: features must be a dict, got {type(features).__name__}")
        from strategies.features import feature_lineage

        feats = {**dict(features or {}), **feature_lineage(strat, p)}
        lineage = {"strategy": strat.name, "params": p.to_dict(), "config": config.to_dict(), "symbols": syms,
                   "frequency": frequency, "snapshot_id": snapshot_id, "data_digest": data_digest,
                   "run_id": run_id, "code_version": code_version or engine_code_version(),
                   "seed": None if seed is None else int(seed), "tags": extra, "features": feats}
        dest = f"{_as_uri(artifact_root())}/registry/{deployment}/{uuid.uuid4().hex}"
        staging = Path(tempfile.mkdtemp(prefix="harness-register-"))
        try:
            sha = art_uri = None
            if local is not None:
                sha = artifact_digest(local)
                model_dir = staging / "model"
                if local.is_file():
                    model_dir.mkdir()
                    shutil.copy2(local, model_dir / local.name)
                    copied, art_uri = model_dir / local.name, f"{dest}/model/{local.name}"
                else:
                    shutil.copytree(local, model_dir)
                    copied, art_uri = model_dir, f"{dest}/model"
                if artifact_digest(copied) != sha:
                    raise ArtifactHashMismatch(f"register {deployment}: {local} changed while it was copied")
            # the version number is MLflow's; everything else is written before the version
            # exists, so the version is created complete, in one call (a crash before it
            # leaves only an unreferenced artifact folder)
            lineage.update(artifact_uri=art_uri, artifact_sha256=sha, deployment=deployment, created_at=_now())
            if explained is not None:
                lineage["attributions"] = explained
                (staging / "attributions.json").write_text(_json(explained) + "\n")
            (staging / "lineage.json").write_text(_json(lineage) + "\n")
            _upload(staging, dest)
            vtags = {"harness.lineage": _json(lineage), "harness.strategy": strat.name,
                     "harness.snapshot_id": snapshot_id, "harness.data_digest": data_digest,
                     "harness.run_id": run_id or "", "harness.code_version": lineage["code_version"],
                     "harness.seed": "" if seed is None else str(seed), "harness.artifact_sha256": sha or "",
                     "harness.state": "registered", **{f"user.{k}": v for k, v in extra.items()}}
            mv = self._mlflow_call(
                "registering a version", self._client.create_model_version, deployment, source=dest, tags=vtags,
                description=f"{strat.name} on {', '.join(syms)} ({frequency})")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        # MLflow answers with the version as stored (tags, source); a new version has no alias
        # yet. Building it from that saves reading it back (it equals ``get``'s: tested).
        return self._version(mv, aliases=())

    def _mv(self, deployment: str, ref: int | str) -> Any:
        from mlflow.exceptions import MlflowException

        self._rm(deployment)
        if isinstance(ref, str) and ref.isdigit():
            ref = int(ref)
        if isinstance(ref, (int, np.integer)) and not isinstance(ref, bool):
            try:
                mv = self._client.get_model_version(deployment, str(int(ref)))
            except MlflowException as exc:
                if self._is_missing(exc):
                    known = [v.version for v in self.versions(deployment)]
                    raise UnknownVersionError(f"deployment {deployment} has no version {ref}; versions: "
                                              f"{', '.join(map(str, known)) or 'none yet'}") from None
                raise RegistryError(f"MLflow store {self.uri}: reading {deployment} v{ref}: {exc.message}") from exc
            if mv.tags.get("harness.state") != "registered":
                raise UnknownVersionError(f"deployment {deployment} version {ref} was never completely registered "
                                          "(interrupted); register again")
            return mv
        if not isinstance(ref, str):
            raise InputError(f"a version is a number or an alias ({', '.join(ALIASES)}), got {ref!r}")
        try:
            check_alias(ref)
        except InputError as exc:
            raise UnknownAliasError(f"{exc}; or give a version number") from None
        try:
            return self._client.get_model_version_by_alias(deployment, ref)
        except MlflowException as exc:
            if self._is_missing(exc) or "alias" in str(exc).lower():
                raise UnknownAliasError(f"deployment {deployment} has no {ref} yet" + (
                    " (the baseline is champion until the first promotion)" if ref == "champion" else "")) from None
            raise RegistryError(f"MLflow store {self.uri}: reading {deployment}@{ref}: {exc.message}") from exc

    def _version(self, mv: Any, aliases: tuple[str, ...] | None = None) -> ModelVersion:
        from harness.engine import BacktestConfig

        raw = mv.tags.get("harness.lineage")
        if raw is None:
            raise RegistryError(f"{mv.name} v{mv.version} has no harness lineage tag")
        lin = json.loads(raw)
        return ModelVersion(deployment=mv.name, version=int(mv.version), strategy=lin["strategy"],
                            params=dict(lin["params"]), config=BacktestConfig.from_dict(lin["config"]),
                            symbols=list(lin["symbols"]), frequency=lin["frequency"],
                            snapshot_id=lin["snapshot_id"], data_digest=lin["data_digest"], run_id=lin.get("run_id"),
                            code_version=lin.get("code_version"), seed=lin.get("seed"),
                            artifact_uri=lin.get("artifact_uri"), artifact_sha256=lin.get("artifact_sha256"),
                            aliases=tuple(sorted(getattr(mv, "aliases", None) or ())) if aliases is None else aliases,
                            tags={k: v for k, v in mv.tags.items() if not k.startswith("harness.lineage")},
                            created_at=lin.get("created_at", ""), source=mv.source, features=lin.get("features"),
                            attributions=_attributions_of(lin.get("attributions")))

    def get(self, deployment: str, ref: int | str) -> ModelVersion:
        """Version ``ref`` (a number or ``champion`` / ``challenger`` / ``previous``) of ``deployment``."""
        return self._version(self._mv(deployment, ref))

    def versions(self, deployment: str) -> list[ModelVersion]:
        """Every completely registered version of ``deployment``, oldest first."""
        rm = self._rm(deployment)
        by_version: dict[int, list[str]] = {}
        for alias, number in (getattr(rm, "aliases", None) or {}).items():
            by_version.setdefault(int(number), []).append(alias)
        out = []
        token = None
        while True:  # search results carry no aliases: they come from the registered model
            page = self._mlflow_call("listing versions", self._client.search_model_versions,
                                     f"name = '{deployment}'", max_results=1000, page_token=token)
            out.extend(self._version(mv, tuple(sorted(by_version.get(int(mv.version), ())))) for mv in page
                       if mv.tags.get("harness.state") == "registered")
            token = getattr(page, "token", None)
            if not token:
                break
        return sorted(out, key=lambda v: v.version)

    def load(self, deployment: str, ref: int | str = "champion") -> DeployedStrategy:
        """A :class:`DeployedStrategy` for version ``ref``; the artifact's SHA-256 is checked first, and a version
        whose feature definitions changed since it was trained is refused
        (:class:`market_data.errors.FeatureDefinitionChangedError`)."""
        import strategies

        v = self.get(deployment, ref)
        strat = strategies.get(v.strategy)
        params = strat.Params.from_dict(v.params)
        if v.features:  # versions registered before feature lineage existed carry none
            from market_data.errors import FeatureDefinitionChangedError
            from strategies.features import check_feature_lineage

            try:
                check_feature_lineage(v.features, strat, params)
            except FeatureDefinitionChangedError as exc:
                raise FeatureDefinitionChangedError(f"refusing to load {deployment} v{v.version}: {exc}") from None
        model = None
        if v.artifact_uri:
            local = _download(v.artifact_uri)
            actual = artifact_digest(local)
            if actual != v.artifact_sha256:
                raise ArtifactHashMismatch(f"{deployment} v{v.version}: artifact {v.artifact_uri} has SHA-256 "
                                           f"{actual[:16]}..., the registry recorded {str(v.artifact_sha256)[:16]}...; "
                                           "refusing to load it")
            if getattr(strat, "trainable", False):
                from strategies.ml.fitted import FittedModel

                model = FittedModel.load(local)
        return DeployedStrategy(v, strat, params, model)

    def set_challenger(self, deployment: str, version: int, *, by: str = "harness.retrain",
                       reason: str | None = None) -> ModelVersion:
        """Point ``challenger`` at ``version`` (audited ``challenger_set``)."""
        with self._lock(deployment):
            v = self.get(deployment, version)
            old = self._alias_version(deployment, "challenger")
            self._set_alias(deployment, "challenger", v.version, old=old, by=by, reason=reason)
            audit.append("challenger_set", actor=by, deployment=deployment,
                         payload={"version": v.version, "old": old, "reason": reason})
        # the version as read, plus the alias just moved onto it (what ``get`` returns: tested)
        return dataclasses.replace(v, aliases=tuple(sorted({*v.aliases, "challenger"})))

    # -------------------------------------------------------------- aliases and history
    def _alias_version(self, deployment: str, alias: str) -> int | None:
        rm = self._rm(deployment)
        value = (getattr(rm, "aliases", None) or {}).get(alias)
        return None if value is None else int(value)

    def _set_alias(self, deployment: str, alias: str, version: int | None, *, old: int | None, by: str,
                   reason: str | None, decision: str | None = None, approval: str | None = None,
                   action: str = "set") -> dict:
        # the history entry is written first: an interrupted move is visible, and a retry
        # (Registry.promote) finishes it from there
        entry = {"time": _now(), "alias": alias, "version": version, "old": old, "by": by, "reason": reason,
                 "decision": decision, "approval": approval, "action": action}
        key = f"{_ALIAS_PREFIX}{time.time_ns():020d}.{uuid.uuid4().hex[:6]}"
        self._mlflow_call("recording the alias history", self._client.set_registered_model_tag,
                          deployment, key, _json(entry))
        self._move_alias(deployment, alias, version)
        return entry

    def _move_alias(self, deployment: str, alias: str, version: int | None) -> None:
        if version is None:
            if self._alias_version(deployment, alias) is not None:
                self._mlflow_call("deleting an alias", self._client.delete_registered_model_alias, deployment, alias)
        else:
            self._mlflow_call("setting an alias", self._client.set_registered_model_alias,
                              deployment, alias, str(version))

    def alias_history(self, deployment: str, alias: str | None = None) -> list[dict]:
        """Every alias move of ``deployment`` (oldest first): time, alias, version, old, by, reason, decision, approval."""
        if alias is not None:
            check_alias(alias)
        rm = self._rm(deployment)
        rows = [json.loads(v) for k, v in sorted(rm.tags.items()) if k.startswith(_ALIAS_PREFIX)]
        return [r for r in rows if alias is None or r["alias"] == alias]

    def champion_at(self, deployment: str, when: Any) -> ModelVersion | None:
        """The version that was champion at ``when`` (ISO time, datetime, pandas Timestamp or int ns UTC).

        None: no version had been promoted yet, so the baseline was champion.
        """
        at = _to_utc(when)
        current = None
        for row in self.alias_history(deployment, "champion"):
            if _to_utc(row["time"]) <= at:
                current = row["version"]
            else:
                break
        return None if current is None else self.get(deployment, current)

    # -------------------------------------------------------------- decisions and approvals
    def _decisions(self) -> str:
        if self._decisions_exp is None:
            self._decisions_exp = ensure_experiment(DECISIONS_EXPERIMENT, uri=self.uri)
        return self._decisions_exp

    def _store_record(self, kind: str, deployment: str, version: int, record: dict, extra: dict[str, str]) -> str:
        tags = {"harness.kind": kind, "harness.deployment": deployment, "harness.version": str(version), **extra}
        _put_long(tags, "harness.record", _json(record), _RUN_CHUNK)
        run = self._mlflow_call(f"recording a {kind}", self._client.create_run, self._decisions(),
                                tags=tags, run_name=f"{kind} {deployment} v{version}")
        self._mlflow_call(f"recording a {kind}", self._client.set_terminated, run.info.run_id, "FINISHED")
        return run.info.run_id

    def _load_record(self, record_id: str, kind: str) -> dict:
        from mlflow.exceptions import MlflowException

        if not isinstance(record_id, str) or not record_id.isalnum():
            raise UnknownDecisionError(f"{kind} id {record_id!r} is not a registry id (32 hex digits)")
        try:
            run = self._client.get_run(record_id)
        except MlflowException as exc:
            raise UnknownDecisionError(f"unknown {kind} id {record_id!r}") from exc
        tags = run.data.tags
        if tags.get("harness.kind") != kind:
            raise UnknownDecisionError(f"{record_id!r} is not a {kind} id (it is a "
                                       f"{tags.get('harness.kind', 'run')})")
        rec = json.loads(_get_long(tags, "harness.record") or "{}")
        rec["id"] = record_id
        for key in ("consumed_by",):
            if f"harness.{key}" in tags:
                rec[key] = tags[f"harness.{key}"]
        return rec

    def record_decision(self, deployment: str, version: int, decision: Mapping[str, Any], *,
                        actor: str = "harness.gate") -> str:
        """Store a gate decision (``Decision.to_dict()``) for ``deployment`` ``version``; returns its id.

        Tagged on the version (``harness.decision``, ``harness.decision_outcome``), audited ``gate_decision``.
        """
        v = self.get(deployment, version)
        if not isinstance(decision, Mapping):
            raise InputError(f"decision must be a mapping (Decision.to_dict()), got {type(decision).__name__}")
        missing = [k for k in _DECISION_KEYS if k not in decision]
        if missing:
            raise InputError(f"decision for {deployment} v{v.version} lacks {', '.join(missing)} "
                             f"(expected at least {', '.join(_DECISION_KEYS)})")
        outcome = decision["outcome"]
        if not isinstance(outcome, str):
            raise InputError(f"decision outcome must be a string, got {outcome!r}")
        rec = {**audit._plain(dict(decision), "decision"), "deployment": deployment, "version": v.version,
               "recorded_at": _now()}
        rid = self._store_record("gate_decision", deployment, v.version, rec, {"harness.outcome": outcome})
        for key, value in (("harness.decision", rid), ("harness.decision_outcome", outcome)):
            self._mlflow_call("tagging the decision", self._client.set_model_version_tag,
                              deployment, str(v.version), key, value)
        audit.append("gate_decision", actor=actor, deployment=deployment,
                     payload={"decision_id": rid, "version": v.version, **{k: rec[k] for k in _DECISION_KEYS},
                              **{k: rec[k] for k in rec if k not in (*_DECISION_KEYS, "deployment", "version")}})
        return rid

    def decision(self, decision_id: str) -> dict:
        """The stored decision (with ``id``, ``deployment``, ``version``); :class:`UnknownDecisionError` if unknown."""
        return self._load_record(decision_id, "gate_decision")

    def _search_records(self, kind: str, deployment: str) -> list[dict]:
        self._rm(deployment)
        runs = self._mlflow_call(f"listing {kind}s", self._client.search_runs, [self._decisions()],
                                 filter_string=f"tags.`harness.kind` = '{kind}' and "
                                               f"tags.`harness.deployment` = '{deployment}'",
                                 max_results=50000, order_by=["attributes.start_time ASC"])
        out = []
        for run in runs:
            rec = json.loads(_get_long(run.data.tags, "harness.record") or "{}")
            rec["id"] = run.info.run_id
            if "harness.consumed_by" in run.data.tags:
                rec["consumed_by"] = run.data.tags["harness.consumed_by"]
            out.append(rec)
        return sorted(out, key=lambda r: r.get("recorded_at", ""))

    def decisions(self, deployment: str) -> list[dict]:
        """Every decision recorded for ``deployment``, oldest first."""
        return self._search_records("gate_decision", deployment)

    def record_approval(self, deployment: str, version: int, *, decision_id: str, by: str, note: str | None = None,
                        approved: bool = True) -> str:
        """Store a person's approval (or rejection, ``approved=False``) of a decision; returns its id.

        Audited ``approval`` / ``rejection``. Policy (expiry, void decisions, separation of
        duties) is :mod:`harness.gate`'s, checked before this is called.
        """
        by = self._check_by(by, "approval" if approved else "rejection")
        v = self.get(deployment, version)
        dec = self.decision(decision_id)
        if dec.get("deployment") != deployment or int(dec.get("version", -1)) != v.version:
            raise InputError(f"decision {decision_id} is for {dec.get('deployment')} v{dec.get('version')}, "
                             f"not {deployment} v{v.version}")
        kind = "approval" if approved else "rejection"
        rec = {"deployment": deployment, "version": v.version, "decision_id": decision_id, "by": by,
               "note": note, "approved": bool(approved), "user": audit._os_user(), "recorded_at": _now()}
        rid = self._store_record(kind, deployment, v.version, rec,
                                 {"harness.decision_id": decision_id, "harness.by": by})
        self._mlflow_call("tagging the approval", self._client.set_model_version_tag,
                          deployment, str(v.version), f"harness.{kind}", rid)
        audit.append(kind, actor=by, deployment=deployment,
                     payload={f"{kind}_id": rid, "version": v.version, "decision_id": decision_id, "note": note,
                              "outcome": dec.get("outcome"), "evidence_digest": dec.get("evidence_digest")})
        return rid

    def approval(self, approval_id: str) -> dict:
        """The stored approval or rejection (``approved`` says which)."""
        from mlflow.exceptions import MlflowException

        try:
            run = self._client.get_run(approval_id) if isinstance(approval_id, str) and approval_id.isalnum() else None
        except MlflowException:
            run = None
        kind = run.data.tags.get("harness.kind") if run is not None else None
        return self._load_record(approval_id, "rejection" if kind == "rejection" else "approval")

    def approvals(self, deployment: str) -> list[dict]:
        """Every approval and rejection recorded for ``deployment``, oldest first."""
        rows = self._search_records("approval", deployment) + self._search_records("rejection", deployment)
        return sorted(rows, key=lambda r: r.get("recorded_at", ""))

    # -------------------------------------------------------------- promotion
    def promote(self, deployment: str, version: int, *, decision: str, approval: str | None = None,
                by: str = "harness.gate") -> ModelVersion:
        """Make ``version`` champion (old champion -> ``previous``); needs a passing decision id.

        Refused (:class:`PromotionRefused`) unless ``decision`` exists, is for this
        deployment and version, has not promoted before, and passed: ``outcome ==
        "promote"``; in governed mode (the deployment's or the decision's policy)
        ``"promote"`` or ``"pending_approval"`` plus ``approval``, an approved approval of
        that very decision. Tags the training snapshot ``deploy-<deployment>-v<version>``
        in the bar store (kept if it exists) and audits ``promotion``. Promoting the
        champion again with the decision that promoted it is a no-op (a retry).
        """
        by = self._check_by(by, f"promote {deployment}")
        info = self.deployment(deployment)
        with self._lock(deployment):
            v = self.get(deployment, version)
            where = f"promote {deployment} v{v.version}"
            if not isinstance(decision, str) or not decision:
                raise PromotionRefused(f"{where}: refused, no gate decision given (a champion moves only through a "
                                       "passing decision, or `harness rollback --by NAME`)")
            try:
                dec = self.decision(decision)
            except UnknownDecisionError as exc:
                raise PromotionRefused(f"{where}: refused, {exc}") from None
            if dec.get("deployment") != deployment or int(dec.get("version", -1)) != v.version:
                raise PromotionRefused(f"{where}: refused, decision {decision} is for {dec.get('deployment')} "
                                       f"v{dec.get('version')}")
            champion = self._alias_version(deployment, "champion")
            if dec.get("consumed_by"):
                if champion == v.version and dec["consumed_by"] == str(v.version):
                    return v  # a retry of a promotion that went through
                raise PromotionRefused(f"{where}: refused, decision {decision} already promoted this version once; "
                                       "a new gate decision is needed")
            policy = dec.get("policy") or {}
            governed = info.mode == "governed" or (isinstance(policy, Mapping) and policy.get("mode") == "governed")
            outcome = dec.get("outcome")
            appr = None
            if governed:
                if outcome not in ("promote", "pending_approval"):
                    raise PromotionRefused(f"{where}: refused, decision {decision} did not pass (outcome {outcome!r})")
                if not approval:
                    raise PromotionRefused(f"{where}: refused, governed mode needs an approval of decision {decision} "
                                           f"(`harness approve {deployment} {v.version} --by NAME`)")
            elif outcome != "promote":
                raise PromotionRefused(f"{where}: refused, decision {decision} did not pass (outcome {outcome!r})")
            if approval:
                try:
                    appr = self.approval(approval)
                except UnknownDecisionError as exc:
                    raise PromotionRefused(f"{where}: refused, {exc}") from None
                if appr.get("decision_id") != decision:
                    raise PromotionRefused(f"{where}: refused, approval {approval} approves decision "
                                           f"{appr.get('decision_id')}, not {decision}")
                if not appr.get("approved"):
                    raise PromotionRefused(f"{where}: refused, {approval} is a rejection by {appr.get('by')}")
            tag = self._tag_snapshot(deployment, v)
            # a promotion interrupted (killed) after its first alias move is finished, not redone
            done = {h["alias"]: h for h in self.alias_history(deployment)
                    if h.get("decision") == decision and h.get("action") == "promote"}
            retry = "champion" in done
            if retry:
                entry = done["champion"]
                old_champion = entry["old"]
                self._move_alias(deployment, "champion", v.version)
            else:
                old_champion = champion
                entry = self._set_alias(deployment, "champion", v.version, old=champion, by=by, reason="promotion",
                                        decision=decision, approval=approval, action="promote")
            if old_champion is not None and old_champion != v.version:
                if "previous" in done:
                    self._move_alias(deployment, "previous", old_champion)
                else:
                    self._set_alias(deployment, "previous", old_champion,
                                    old=self._alias_version(deployment, "previous"), by=by, reason="promotion",
                                    decision=decision, approval=approval, action="promote")
            if self._alias_version(deployment, "challenger") == v.version:
                self._set_alias(deployment, "challenger", None, old=v.version, by=by, reason="promoted",
                                decision=decision, approval=approval, action="clear")
            audited = retry and any(r["payload"].get("decision_id") == decision
                                    for r in audit.trail().records(deployment=deployment, kind="promotion"))
            if not audited:
                audit.append("promotion", actor=by, deployment=deployment,
                             payload={"version": v.version, "old_champion": old_champion, "decision_id": decision,
                                      "approval_id": approval, "approved_by": appr.get("by") if appr else None,
                                      "snapshot_id": v.snapshot_id, "snapshot_tag": tag, "time": entry["time"],
                                      "evidence_digest": dec.get("evidence_digest")})
            # last: a decision marked used has promoted, completely and audited
            self._mlflow_call("marking the decision used", self._client.set_tag, decision,
                              "harness.consumed_by", str(v.version))
        return self.get(deployment, v.version)

    def _tag_snapshot(self, deployment: str, v: ModelVersion) -> str:
        """Tag the training snapshot ``deploy-<deployment>-v<version>``; an existing tag is kept."""
        name = f"deploy-{deployment}-v{v.version}"
        store = self._store
        if store is None:
            from harness._bars import home_store

            store = home_store()
        existing = store.tags()
        if name in existing:
            if existing[name] != v.snapshot_id:
                raise PromotionRefused(f"promote {deployment} v{v.version}: refused, bar-store tag {name} exists on "
                                       f"snapshot {existing[name]}, not the training snapshot {v.snapshot_id}")
            return name
        try:
            store.tag(name, v.snapshot_id)
        except SnapshotNotFoundError:
            raise PromotionRefused(f"promote {deployment} v{v.version}: refused, its training snapshot "
                                   f"{v.snapshot_id} is not in the bar store {store.uri} (a champion's data must "
                                   "stay readable)") from None
        except ConflictError:  # tagged meanwhile by another process
            if store.tags().get(name) != v.snapshot_id:
                raise
        return name

    def rollback(self, deployment: str, *, by: str, reason: str | None = None) -> ModelVersion:
        """Restore ``previous`` as champion; needs a named person. Audited ``rollback``.

        ``previous`` then points at the champion before the restored one (if any).
        """
        by = self._check_by(by, f"rollback {deployment}")
        if by.startswith("harness."):
            raise InputError(f"rollback {deployment}: --by must name a person, not the system actor {by!r}")
        with self._lock(deployment):
            self._rm(deployment)
            champion = self._alias_version(deployment, "champion")
            previous = self._alias_version(deployment, "previous")
            if previous is None:
                raise UnknownAliasError(f"deployment {deployment} has no previous version to roll back to"
                                        + ("" if champion is not None else " (the baseline is champion)"))
            self.get(deployment, previous)  # it must still be a complete version
            before = None
            for row in reversed(self.alias_history(deployment, "champion")):
                if row["version"] == previous and row.get("action") == "promote":
                    before = row.get("old")
                    break
            entry = self._set_alias(deployment, "champion", previous, old=champion, by=by, reason=reason,
                                    action="rollback")
            new_prev = before if before not in (None, previous) else None
            self._set_alias(deployment, "previous", new_prev, old=previous, by=by, reason=reason, action="rollback")
            audit.append("rollback", actor=by, deployment=deployment,
                         payload={"version": previous, "from_version": champion, "reason": reason,
                                  "previous": new_prev, "time": entry["time"]})
        return self.get(deployment, previous)


def _as_uri(root: str) -> str:
    return root.rstrip("/") if "://" in root else Path(root).absolute().as_uri()


def _upload(local_dir: Path, dest_uri: str) -> None:
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    get_artifact_repository(dest_uri).log_artifacts(str(local_dir))


def _download(uri: str) -> Path:
    if uri.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(uri).path))
    from mlflow.artifacts import download_artifacts

    return Path(download_artifacts(artifact_uri=uri))

