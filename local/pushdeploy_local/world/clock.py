"""Virtual time for the local world: starts now, moves only when advanced (sleeping advances it, instantly)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any


class VirtualClock:
    """Virtual time: starts now, moves only when advanced (sleeping advances it, instantly)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime.now(UTC).replace(microsecond=0)
        self.lock = threading.RLock()
        self.on_advance: list[Any] = []

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        with self.lock:
            target = self.current + timedelta(seconds=seconds)
            while self.current < target:
                step = min(target, self.current + timedelta(seconds=60))
                before, self.current = self.current, step
                for callback in list(self.on_advance):
                    callback(before, step)
