"""Wall-clock laps of a multi-step job (the per-step seconds a summary reports)."""

from __future__ import annotations

import time


class Laps:
    """``lap(step)`` records the seconds since the previous lap (or since creation)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._clock = time.perf_counter()

    def lap(self, step: str) -> None:
        """Record ``step`` as the time since the previous lap, rounded to ms."""
        now = time.perf_counter()
        self.seconds[step] = round(now - self._clock, 3)
        self._clock = now
