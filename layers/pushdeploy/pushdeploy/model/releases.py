"""Releases and the markers around them: what the ledger records about each deployment of a target."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

from pushdeploy import clock

ReleaseStatus = Literal[
    "RECEIVED",  # claimed, task definition being registered
    "QUEUED",  # waiting in the PENDING slot for the group to be free
    "IN_PROGRESS",
    "SUCCEEDED",
    "FAILED",
    "STOPPED",  # stopped (and rolled back) by an alarm, an operator or a superseding push
    "REVERTED",  # succeeded, then replaced by a revert to KNOWN_GOOD (an alarm in its watch window, an operator)
    "SUPERSEDED",  # never started: a newer push took its place
    "REJECTED",  # the group was busy and the target's policy is reject
    "REFUSED",  # quarantined digest
    "START_FAILED",  # could not be started (bad config, AWS error after retries)
]
Trigger = Literal["push", "revert", "manual", "rollback", "operator-rollback"]
UNFINISHED_STATUSES: frozenset[str] = frozenset({"RECEIVED", "QUEUED", "IN_PROGRESS"})
# A remedy moves production back toward a release that already proved itself: a revert to KNOWN_GOOD, CodeDeploy's
# rollback deployment, an operator's rollback. Nothing in pushdeploy stops or supersedes a remedy (design.md s. 9).
REMEDY_TRIGGERS: frozenset[str] = frozenset({"revert", "rollback", "operator-rollback"})
# The reasons a release waits (in the queue): they describe the wait, and go when it starts.
WAITING_FOR_GROUP = "waiting for active deployment"
WAITING_FOR_RETRY = "to be retried:"
REMEDY_NAMES = {"revert": "revert", "rollback": "CodeDeploy rollback", "operator-rollback": "operator rollback"}


def new_release_id(digest: str) -> str:
    """Sortable by creation time, readable (digest prefix), and unique (random suffix)."""
    return f"{clock.now():%Y%m%dT%H%M%S%fZ}-{digest.split(':', 1)[-1][:12]}-{secrets.token_hex(3)}"


@dataclass
class Release:
    target: str
    release_id: str
    digest: str
    image_uri: str
    trigger: Trigger
    status: ReleaseStatus
    created_at: str
    updated_at: str
    tag: str | None = None
    tags: list[str] = field(default_factory=list)
    repository: str | None = None
    event_id: str | None = None
    pushed_at: str | None = None
    push_order: str | None = None  # the order key its claim was accepted with (refined for same-second pushes)
    deployment_id: str | None = None
    deployment_config: str | None = None
    task_definition_arn: str | None = None
    previous_task_definition_arn: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    reason: str | None = None
    reverts_release_id: str | None = None
    rolled_back_by: str | None = None  # rollback deployment id
    rollback_of: str | None = None  # for trigger=rollback: the release it undid
    hooks: dict[str, Any] = field(default_factory=dict)
    commit: dict[str, str] = field(default_factory=dict)
    alarm: str | None = None
    excluded_alarms: list[str] = field(default_factory=list)  # in ALARM when it started: CodeDeploy told to ignore
    circuit_breaker_rollback_off: bool = False  # a remedy on ECS: the breaker's rollback off until it ends
    earlier_deployment_ids: list[str] = field(default_factory=list)  # attempts stopped through no fault of its own
    incidents: list[str] = field(default_factory=list)  # what happened during a remedy (alarms still firing, ...)
    # a rolling update ECS completed: pushdeploy's own checks run once it has baked until then (services/rolling.py);
    # set until they conclude, so the release is never KNOWN_GOOD before; a visit running them holds them until
    # checks_claimed_until (a visit that dies lets the next one run them); their waits count from checks_started_at
    checks_due_at: str | None = None
    checks_claimed_until: str | None = None
    checks_started_at: str | None = None

    @classmethod
    def new(
        cls,
        *,
        target: str,
        digest: str,
        image_uri: str,
        trigger: Trigger,
        status: ReleaseStatus = "RECEIVED",
        tag: str | None = None,
        **details: Any,
    ) -> Release:
        """A release created now: a fresh id, both timestamps now, ``tags`` starting with ``tag``."""
        now = clock.iso()
        details.setdefault("tags", [tag] if tag else [])
        return cls(
            target=target,
            release_id=new_release_id(digest),
            digest=digest,
            image_uri=image_uri,
            trigger=trigger,
            status=status,
            created_at=now,
            updated_at=now,
            tag=tag,
            **details,
        )

    @classmethod
    def from_record(cls, values: dict[str, Any]) -> Release:
        """A release from a stored record (unknown attributes, e.g. the table's keys, are ignored)."""
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in values.items() if k in known})

    @property
    def is_unfinished(self) -> bool:
        return self.status in UNFINISHED_STATUSES

    @property
    def is_deploying(self) -> bool:
        """Starting (its handler holds it) or deployed by the controller now."""
        return self.status in ("RECEIVED", "IN_PROGRESS")

    @property
    def is_remedy(self) -> bool:
        return self.trigger in REMEDY_TRIGGERS

    @property
    def order_key(self) -> str:
        """Where a push sorts among the target's pushes (see :attr:`ImagePush.order_key`); others by creation."""
        if self.push_order:
            return self.push_order
        if self.pushed_at:
            return f"{self.pushed_at}#"
        return f"{self.created_at}#{self.release_id}"

    def failed_hook(self) -> str | None:
        """``<Stage> hook failed: <its reason>``, from the verdicts the hooks recorded on this release."""
        for stage, verdict in (self.hooks or {}).items():
            if isinstance(verdict, dict) and verdict.get("status") == "Failed":
                return f"{stage} hook failed: {verdict.get('reason', '')}"
        return None


@dataclass(frozen=True)
class Pending:
    """The newest push waiting for the deployment group to be free (newer wins the slot)."""

    release_id: str
    digest: str
    tag: str | None
    order_key: str


@dataclass(frozen=True)
class KnownGood:
    """The last release that survived its watch window: where reverts go."""

    release_id: str
    digest: str
    image_uri: str
    task_definition_arn: str
    tag: str | None
    since: str

    @classmethod
    def of(cls, release: Release, since: str | None = None) -> KnownGood:
        return cls(
            release.release_id,
            release.digest,
            release.image_uri,
            str(release.task_definition_arn),
            release.tag,
            since or release.finished_at or release.created_at,
        )


@dataclass(frozen=True)
class Candidate:
    """The last succeeded release still inside its watch window."""

    release_id: str
    digest: str
    succeeded_at: str
    watch_until: str


@dataclass(frozen=True)
class Quarantine:
    """A digest that was rolled back: never auto-deployed again until an operator releases it."""

    digest: str
    reason: str
    release_id: str | None
    quarantined_at: str


ClaimOutcome = Literal["claimed", "duplicate", "quarantined", "stale"]


@dataclass(frozen=True)
class Claim:
    """The answer to "may this push start a release?"."""

    outcome: ClaimOutcome
    release_id: str | None
    why: str = ""
