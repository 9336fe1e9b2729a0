"""What happened to one event (or one target of an event), and why: every use case answers with these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Outcome = Literal[
    "deployed",
    "queued",
    "superseded",
    "rejected",
    "duplicate",
    "ignored",
    "quarantined",
    "rollback-started",
    "revert-started",
    "recorded",
    "failed",
]
OUTCOMES: frozenset[str] = frozenset(get_args(Outcome))


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    reason: str
    target: str | None = None
    release_id: str | None = None
    deployment_id: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {
            "outcome": self.outcome,
            "reason": self.reason,
            "target": self.target,
            "release_id": self.release_id,
            "deployment_id": self.deployment_id,
        }
