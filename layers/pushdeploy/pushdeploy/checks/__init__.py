"""Lifecycle-hook checks: one module per stage, each a function ``run(ctx) -> list[CheckResult]``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Literal, Protocol

from pushdeploy import aws, clock
from pushdeploy.model.targets import Target

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class CheckResult:
    """One piece of evidence: what was measured against which limit, and what it means."""

    name: str
    passed: bool
    message: str
    value: Any = None
    limit: Any = None
    severity: Severity = "error"

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


class BudgetExhausted(Exception):
    """The hook's time budget ran out before a check could conclude."""


@dataclass(frozen=True)
class CarryOn:
    """A check that outlasts this invocation: where it stands (JSON, handed to the next invocation of the same hook)
    and what it has done so far, in words."""

    state: dict[str, Any]
    progress: str


@dataclass
class Budget:
    """A deadline on the (possibly virtual) clock, shared by every check of one hook invocation."""

    deadline: datetime

    @classmethod
    def seconds(cls, seconds: float) -> Budget:
        return cls(clock.now() + timedelta(seconds=max(0.0, seconds)))

    def remaining(self) -> float:
        return (self.deadline - clock.now()).total_seconds()

    def wait(self, seconds: float) -> None:
        """Sleep ``seconds`` or until the deadline, whichever is first; raise when nothing is left."""
        left = self.remaining()
        if left <= 0:
            raise BudgetExhausted("time budget exhausted")
        clock.sleep(min(seconds, left))


@dataclass(frozen=True)
class Replacement:
    """What a deployment brings up: CodeDeploy's replacement task set, or the ECS deployment of the target
    service revision (green)."""

    id: str
    desired: int
    running: int
    target_group_arn: str | None = None
    kind: str = "task set"  # or "service revision"

    def __str__(self) -> str:
        return f"{self.kind} {self.id}"


class Rollout(Protocol):
    """Where a deployment runs and how to find what it brings up, whoever deploys it (CodeDeploy or ECS)."""

    @property
    def cluster(self) -> str: ...

    @property
    def service(self) -> str: ...

    @property
    def alarms(self) -> tuple[str, ...]: ...

    def test_listener_arns(self) -> tuple[str, ...]: ...

    def prod_listener_arns(self) -> tuple[str, ...]: ...

    def replacement(self, task_definition_arn: str) -> Replacement | None: ...


@dataclass
class HookContext:
    """What every check of a hook may look at. AWS reads are lazy and cached for the invocation."""

    stage: str
    target: Target
    rollout: Rollout
    started_at: datetime  # when the deployment began
    task_definition_arn: str
    container_name: str
    container_port: int
    budget: Budget
    notes: list[str] = field(default_factory=list)
    remedy: bool = False  # a revert or an operator's rollback: alarms the bad release left firing never block it
    resumed: dict[str, Any] = field(default_factory=dict)  # the state an earlier invocation carried on with
    carry_on: CarryOn | None = None  # set by a check that continues in the next invocation

    def since(self) -> datetime:
        """When this check began, across invocations (the first invocation's clock reading)."""
        text = self.resumed.setdefault("started_at", clock.iso())
        return clock.parse(str(text))

    def continue_later(self, progress: str, **state: Any) -> list[CheckResult]:
        """Hand the rest of the check to the next invocation; nothing is concluded yet."""
        kept = {"started_at": clock.iso(self.since()), **{k: v for k, v in state.items() if v is not None}}
        self.carry_on = CarryOn(kept, progress)
        return []

    def pause(self, seconds: float, until: datetime, progress: str, *, keep: float = 0.0, **state: Any) -> bool:
        """Wait ``seconds`` (never past ``until``) and return True; or, when this invocation has no time left for it
        (``keep`` seconds kept back to conclude), carry the check on to the next invocation and return False."""
        room = self.budget.remaining() - keep
        if room <= 0:
            self.continue_later(progress, **state)
            return False
        self.budget.wait(min(seconds, room, max(0.0, (until - clock.now()).total_seconds())))
        return True

    @cached_property
    def task_definition(self) -> dict[str, Any]:
        described = aws.client("ecs").describe_task_definition(taskDefinition=self.task_definition_arn)
        return dict(described["taskDefinition"])

    def service(self) -> dict[str, Any]:
        cluster, name = self.rollout.cluster, self.rollout.service
        response = aws.client("ecs").describe_services(cluster=cluster, services=[name])
        services = response.get("services") or []
        if not services:
            raise LookupError(f"ECS service {name} in cluster {cluster} not found")
        return dict(services[0])

    def replacement(self) -> Replacement | None:
        """What this deployment brings up for its task definition, as the service reports it now."""
        return self.rollout.replacement(self.task_definition_arn)

    @property
    def watched_alarms(self) -> list[str]:
        configured = self.target.rollback.alarms
        return list(configured) if configured is not None else list(self.rollout.alarms)
