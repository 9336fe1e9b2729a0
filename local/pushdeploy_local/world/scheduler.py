"""EventBridge Scheduler's one-time schedules, played on the virtual clock.

The handlers create schedules in moto (``CreateSchedule``, IAM enforced). This player does what the service does
with them, from AWS's documentation:
- a one-time schedule ``at(...)`` invokes its target once, "with 60 second precision ... if you set your schedule
  to run at 1:00, it will invoke the target API between 1:00:00 and 1:00:59" (Scheduler User Guide, schedule
  types): anywhere in at()'s minute, so up to 59 s before an at() with seconds in it; here at a seeded moment in
  that minute;
- it invokes as the schedule's execution role: Scheduler assumes the role (its trust policy, with the account and
  schedule-group conditions) and the role must allow ``lambda:InvokeFunction`` on the target; else the invocation
  fails and, after the retry policy, goes to the schedule's dead-letter queue;
- Lambda targets are invoked asynchronously;
- ``ActionAfterCompletion: DELETE`` deletes the schedule after it has invoked its target
  (Scheduler User Guide, deleting a schedule).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pushdeploy_local.world.bus import Delivery
from pushdeploy_local.world.iam import ServiceRole

PRECISION_SECONDS = 59.0
_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")


class Invoker(Protocol):
    def invoke_async(self, function_name: str, payload: Any, detail_type: str = "") -> Delivery: ...


@dataclass
class Due:
    group: str
    name: str
    at: datetime  # when the service invokes it (a moment in the at() time's minute)
    target: dict[str, Any]
    arn: str
    delete_after: bool


@dataclass
class SchedulerPlayer:
    account: str
    region: str
    seed: int
    roles: Callable[[], dict[str, ServiceRole]]
    invoker: Callable[[], Invoker]
    note: Callable[[str, str], None]
    _offsets: dict[str, float] = field(default_factory=dict)
    _ran: set[str] = field(default_factory=set)  # one-time schedules that invoked and were kept (NONE)

    def _backend(self) -> Any:
        from moto.scheduler.models import scheduler_backends

        return scheduler_backends[self.account][self.region]

    def _offset(self, arn: str) -> float:
        if arn not in self._offsets:
            self._offsets[arn] = random.Random(f"{self.seed}:{arn}").uniform(0.0, PRECISION_SECONDS)
        return self._offsets[arn]

    def pending(self) -> list[Due]:
        """Every enabled one-time schedule that has not run yet, soonest first."""
        found = []
        for group in list(self._backend().schedule_groups.values()):
            for schedule in list(group.schedules.values()):
                match = _AT.match(schedule.schedule_expression or "")
                if schedule.state != "ENABLED" or match is None or schedule.arn in self._ran:
                    continue
                at = datetime.fromisoformat(match.group(1)).replace(tzinfo=UTC)  # ScheduleExpressionTimezone UTC
                # "60 second precision ... set to run at 1:00, it invokes the target API between 1:00:00 and
                # 1:00:59": anywhere in at()'s minute, so up to 59 s before an at() with seconds in it
                due = at.replace(second=0, microsecond=0) + timedelta(seconds=self._offset(schedule.arn))
                delete = schedule.action_after_completion == "DELETE"
                found.append(Due(group.name, schedule.name, due, dict(schedule.target), schedule.arn, delete))
        return sorted(found, key=lambda d: d.at)

    def next_due(self) -> datetime | None:
        pending = self.pending()
        return pending[0].at if pending else None

    def run_due(self, now: datetime) -> list[Delivery]:
        deliveries = []
        for due in self.pending():
            if due.at > now:
                break
            deliveries.append(self._invoke(due))
            if due.delete_after:  # ActionAfterCompletion: DELETE, after a one-time schedule's only invocation
                self._backend().delete_schedule(due.group, due.name)
            else:
                self._ran.add(due.arn)
        return deliveries

    def _invoke(self, due: Due) -> Delivery:
        function_arn, role_arn = str(due.target.get("Arn", "")), str(due.target.get("RoleArn", ""))
        function = function_arn.split(":function:", 1)[-1].split(":", 1)[0]
        role = self.roles().get(role_arn)
        group_arn = f"arn:aws:scheduler:{self.region}:{self.account}:schedule-group/{due.group}"
        context = {"aws:SourceAccount": self.account, "aws:SourceArn": group_arn}
        refusal = None
        if role is None:
            refusal = f"execution role {role_arn} does not exist"
        elif not role.assumable_by("scheduler.amazonaws.com", context):
            refusal = f"scheduler.amazonaws.com may not assume {role_arn} (its trust policy)"
        elif not role.allows("lambda:InvokeFunction", function_arn):
            refusal = f"{role_arn} is not allowed lambda:InvokeFunction on {function_arn}"
        if refusal is not None:
            self.note("dlq", f"schedule {due.group}/{due.name} could not invoke {function}: {refusal}")
            return Delivery("Scheduler", function, "failed", refusal)
        payload = json.loads(due.target.get("Input") or "{}")
        delivery = self.invoker().invoke_async(function, payload, "Scheduler")
        self.note(
            "event",
            f"schedule {due.name} -> {delivery.function}: {delivery.outcome}"
            + (f" ({delivery.reason})" if delivery.reason else ""),
        )
        return delivery
