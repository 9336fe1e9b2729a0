"""Wall-clock time, replaceable by the local rehearsal's virtual clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

_now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def now() -> datetime:
    return _now()


def iso(moment: datetime | None = None) -> str:
    return (moment or now()).astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def span(seconds: float) -> str:
    """A duration as people write it: ``45s``, ``14m55s``, ``40m``, ``1h05m``."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m" + (f"{secs:02d}s" if secs else "")
    if minutes:
        return f"{minutes}m" + (f"{secs:02d}s" if secs else "")
    return f"{secs}s"


def parse(text: str) -> datetime:
    """ISO 8601 as AWS writes it: ``...Z`` in envelopes, ``...+0000`` inside alarm details."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def moment(value: Any) -> datetime | None:
    """A time from an AWS answer: boto3's datetime, or ISO 8601 text (JSON events); None for anything else."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return parse(value)
        except ValueError:
            return None
    return None


def use(source: Callable[[], datetime]) -> None:
    global _now
    _now = source


def reset() -> None:
    use(lambda: datetime.now(UTC))


def _real_sleep(seconds: float) -> None:
    import time

    time.sleep(seconds)


_sleep: Callable[[float], None] = _real_sleep


def sleep(seconds: float) -> None:
    """Wait (the rehearsal's virtual clock makes this instant and advances virtual time instead)."""
    if seconds > 0:
        _sleep(seconds)


def use_sleep(source: Callable[[float], None]) -> None:
    global _sleep
    _sleep = source


def reset_sleep() -> None:
    use_sleep(_real_sleep)
