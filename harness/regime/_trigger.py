"""The trigger policy: turn detector labels into confirmed ``RegimeChange`` events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.regime._base import LABEL_NAMES, RegimeResult, RegimeState
from strategies.params import Config, param

__all__ = ["TriggerPolicy", "Trigger", "RegimeChange"]


@dataclass(frozen=True, kw_only=True)
class RegimeChange:
    """A confirmed regime change: fired at bar ``bar`` (timestamp ``timestamp`` when known),
    the new label having started at ``since`` and held ever since."""

    bar: int
    since: int
    from_label: int
    to_label: int
    volatility: float
    timestamp: int | None = None
    #: ``"label"``: a new label confirmed; ``"change_point"``: a change point the detector
    #: reported inside the current label (``TriggerPolicy.on_change_point``)
    kind: str = "label"

    def describe(self) -> str:
        if self.kind == "change_point":
            return f"change point within {LABEL_NAMES[self.to_label]} at bar {self.bar}"
        return f"{LABEL_NAMES[self.from_label]} -> {LABEL_NAMES[self.to_label]} at bar {self.bar} (since {self.since})"


class TriggerPolicy(Config):
    """When a label change becomes an event that retraining acts on."""

    min_duration: int = param(5, low=1, high=10_000, doc="bars the new label must hold before it is confirmed")
    cooldown: int = param(20, low=0, high=100_000, doc="minimum bars between two events")
    on_change_point: bool = param(False, doc="also fire on a change point the detector reports inside the "
                                             "confirmed label (a volatility shift that keeps the label, such "
                                             "as a crash inside a stressed regime), under the same cooldown")


class Trigger:
    """Streaming trigger: feed it every ``RegimeState``; it returns a ``RegimeChange`` or None.

    A label different from the last confirmed one fires once it has held for
    ``min_duration`` consecutive bars and at least ``cooldown`` bars have passed since
    the previous event (otherwise it fires when the cooldown ends, if it still holds).
    The first confirmed label is the baseline and does not fire. With ``on_change_point``
    a detected change point (``RegimeState.change``) inside the confirmed label fires too
    (``kind="change_point"``), at once, if the cooldown has passed. State: ``state()`` /
    ``Trigger.from_state()``.
    """

    def __init__(self, policy: TriggerPolicy | None = None, **params: Any) -> None:
        self.policy = policy if policy is not None else TriggerPolicy(**params)
        if policy is not None and params:
            self.policy = policy.replace(**params)
        self.reset()

    def reset(self) -> None:
        self._confirmed = -1
        self._candidate = -1
        self._since = 0
        self._last_event = None

    def update(self, state: RegimeState, timestamp: int | None = None) -> RegimeChange | None:
        bar, label = state.bar, state.label
        if label != self._candidate:
            self._candidate, self._since = label, bar
        held = bar - self._since + 1
        if self._confirmed < 0:
            if held >= self.policy.min_duration:
                self._confirmed = label
            return None
        cooling = self._last_event is not None and bar - self._last_event < self.policy.cooldown
        if label == self._confirmed:
            if self.policy.on_change_point and state.change and not cooling:
                self._last_event = bar
                return RegimeChange(bar=bar, since=bar, from_label=label, to_label=label,
                                    volatility=state.volatility, timestamp=timestamp, kind="change_point")
            return None
        if held < self.policy.min_duration or cooling:
            return None
        event = RegimeChange(bar=bar, since=self._since, from_label=self._confirmed, to_label=label,
                             volatility=state.volatility, timestamp=timestamp)
        self._confirmed = label
        self._last_event = bar
        return event

    def events(self, result: RegimeResult, timestamps: np.ndarray | None = None) -> list[RegimeChange]:
        """All events of a batch result (from a fresh trigger; the same as streaming)."""
        self.reset()
        out = []
        changes = set(np.asarray(result.change_points).tolist())
        for t in range(len(result)):
            st = RegimeState(bar=t, label=int(result.labels[t]), volatility=float(result.volatility[t]),
                             score=float(result.score[t]), change=t in changes)
            ev = self.update(st, None if timestamps is None else int(timestamps[t]))
            if ev is not None:
                out.append(ev)
        return out

    def state(self) -> dict[str, Any]:
        return {"policy": self.policy.to_dict(), "confirmed": self._confirmed, "candidate": self._candidate,
                "since": self._since, "last_event": self._last_event}

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> Trigger:
        trig = cls(TriggerPolicy(**data["policy"]))
        trig._confirmed = int(data["confirmed"])
        trig._candidate = int(data["candidate"])
        trig._since = int(data["since"])
        trig._last_event = None if data["last_event"] is None else int(data["last_event"])
        return trig
