"""When monitors evaluate: every N bars, or at the first bar of each period (default one UTC day)."""

from __future__ import annotations

from typing import Any

__all__ = ["period_ns", "Schedule"]


def period_ns(text: str) -> int:
    """Nanoseconds of a period such as ``"1d"``, ``"4h"``, ``"30min"`` (raises ValueError)."""
    from market_data.frequency import frequency_ns

    return frequency_ns(text)


class Schedule:
    """``due(bar_index, time)``: True on the first bar, then every ``every`` bars (int) or
    at the first bar whose ``time // period`` differs from the last evaluated bar's."""

    def __init__(self, every: Any = "1d") -> None:
        self.every = every
        self._period = period_ns(every) if isinstance(every, str) else None
        self._last_index: int | None = None
        self._last_bucket: int | None = None

    def due(self, bar_index: int, time: int) -> bool:
        if self._period is None:
            ok = self._last_index is None or bar_index - self._last_index >= int(self.every)
        else:
            ok = self._last_bucket is None or int(time) // self._period != self._last_bucket
        if ok:
            self._last_index = int(bar_index)
            self._last_bucket = int(time) // self._period if self._period else None
        return ok

    def may_be_due(self, time: int) -> bool:
        """False when no bar after the last evaluated one, up to a bar at ``time``, can be due:
        a period schedule whose last evaluation was in ``time``'s period (bar times only grow).
        A count schedule cannot tell without the bars' indices: always True."""
        return self._period is None or self._last_bucket is None or int(time) // self._period != self._last_bucket

    def state(self) -> dict:
        return {"last_index": self._last_index, "last_bucket": self._last_bucket}

    def restore(self, state: dict) -> None:
        self._last_index = state.get("last_index")
        self._last_bucket = state.get("last_bucket")
