"""EventBridge Scheduler: a one-time schedule that invokes a function later, with what it needs in its input: a hook
function again to continue a long check, the deployment-events function when a rolling update's checks are due.

Why Scheduler (not a Step Functions wait): one ``CreateSchedule`` call per hand-over, no state machine to define
or pay for, the check's state travels in the schedule's input, and the schedule deletes itself once it has
invoked its target (``ActionAfterCompletion: DELETE``). Scheduler invokes "with 60 second precision" (Scheduler
User Guide, schedule types): a continuation set for 12:00:00 runs between 12:00:00 and 12:00:59.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pushdeploy import aws

Scheduled = Literal["scheduled", "already-scheduled"]
PRECISION = timedelta(seconds=60)  # "invoke the target API between 1:00:00 and 1:00:59"


def not_before(at: datetime) -> datetime:
    """The at() time that invokes no earlier than ``at``: Scheduler may invoke anywhere in at()'s minute ("set to
    run at 1:00, it invokes the target API between 1:00:00 and 1:00:59"), so ``at`` rounded up to a whole minute."""
    moment = at.astimezone(UTC)
    if moment.second or moment.microsecond:
        moment = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return moment


def latest_invocation(at: datetime) -> datetime:
    """The latest a schedule for ``at`` invokes its target."""
    return not_before(at) + PRECISION


@dataclass(frozen=True)
class Continuations:
    """Where continuations are scheduled: the stack's schedule group and the role Scheduler invokes with."""

    group: str
    role_arn: str
    dead_letter_arn: str | None = None

    def schedule(
        self,
        name: str,
        at: datetime,
        function_arn: str,
        payload: dict[str, Any],
        description: str = "pushdeploy: continue a lifecycle-hook check in a new invocation",
    ) -> Scheduled:
        """Invoke ``function_arn`` with ``payload`` once, never before ``at`` (:func:`not_before`).

        The name is the idempotency key: a second hand-over of the same step (a redelivered invocation) finds the
        schedule there and leaves it (``ConflictException``)."""
        moment = not_before(at)
        target: dict[str, Any] = {
            "Arn": function_arn,
            "RoleArn": self.role_arn,
            "Input": json.dumps(payload, separators=(",", ":")),
            # a continuation is useless once the hook's hour is over: retry briefly, then dead-letter
            "RetryPolicy": {"MaximumEventAgeInSeconds": 600, "MaximumRetryAttempts": 5},
        }
        if self.dead_letter_arn:
            target["DeadLetterConfig"] = {"Arn": self.dead_letter_arn}
        try:
            aws.client("scheduler").create_schedule(
                Name=name,
                GroupName=self.group,
                ScheduleExpression=f"at({moment:%Y-%m-%dT%H:%M:%S})",
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                Description=description,
                Target=target,
            )
        except Exception as exc:
            if aws.error_code(exc) == "ConflictException":
                return "already-scheduled"
            raise
        return "scheduled"
