"""What Amazon ECS keeps for a service with the ECS deployment controller: its service revisions and service
deployments, in the shapes of botocore's ``ecs`` model (``ServiceRevision``, ``ServiceDeployment``,
``ServiceDeploymentBrief``, ``Deployment``).

ECS Developer Guide, "Amazon ECS service revisions": a revision is created when a service is created or updated in a
way that starts a deployment; it is immutable; "Amazon ECS doesn't create a new service revision for a rollback
operation. Amazon ECS uses the last successful service revision for the rollback." "View service history using
Amazon ECS service deployments": the states PENDING; IN_PROGRESS, STOP_REQUESTED, ROLLBACK_REQUESTED,
ROLLBACK_IN_PROGRESS (ongoing); SUCCESSFUL, STOPPED, ROLLBACK_SUCCESSFUL, ROLLBACK_FAILED (completed).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

ONGOING = ("PENDING", "IN_PROGRESS", "STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS")
COMPLETED = ("SUCCESSFUL", "STOPPED", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED")


@dataclass
class Revision:
    arn: str
    service_arn: str
    cluster_arn: str
    task_definition: str
    load_balancers: list[dict[str, Any]]
    network_configuration: dict[str, Any] | None
    launch_type: str | None
    created_at: datetime
    requested: int = 0  # tasks ECS wants of this revision
    running: int = 0
    pending: int = 0
    test_weight: float = 0.0
    production_weight: float = 0.0

    def api(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "serviceRevisionArn": self.arn,
            "serviceArn": self.service_arn,
            "clusterArn": self.cluster_arn,
            "taskDefinition": self.task_definition,
            "loadBalancers": copy.deepcopy(self.load_balancers),
            "createdAt": self.created_at,
        }
        if self.launch_type:
            found["launchType"] = self.launch_type
        if self.network_configuration:
            found["networkConfiguration"] = copy.deepcopy(self.network_configuration)
        return found

    def summary(self) -> dict[str, Any]:
        return {
            "arn": self.arn,
            "requestedTaskCount": self.requested,
            "runningTaskCount": self.running,
            "pendingTaskCount": self.pending,
            "requestedTestTrafficWeight": self.test_weight,
            "requestedProductionTrafficWeight": self.production_weight,
        }


@dataclass
class HookDetail:
    """``lifecycleHookDetails[]`` of a service deployment: one hook's execution in the current stage."""

    hook_id: str
    target_arn: str
    status: str  # IN_PROGRESS | SUCCEEDED | FAILED | TIMED_OUT
    expires_at: datetime
    timeout_action: str

    def api(self) -> dict[str, Any]:
        return {
            "hookId": self.hook_id,
            "targetType": "AWS_LAMBDA",
            "targetArn": self.target_arn,
            "status": self.status,
            "expiresAt": self.expires_at,
            "timeoutAction": self.timeout_action,
        }


@dataclass
class ServiceDeployment:
    arn: str
    ecs_deployment_id: str  # "ecs-svc/<n>": the id DescribeServices' deployments[] and the events carry
    service_arn: str
    cluster_arn: str
    created_at: datetime
    sources: list[str]  # revision arns serving when it started
    target: str  # revision arn
    configuration: dict[str, Any]
    status: str = "PENDING"
    status_reason: str = ""
    lifecycle_stage: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    stopped_at: datetime | None = None
    updated_at: datetime | None = None
    rollback: dict[str, Any] | None = None  # {reason, startedAt, serviceRevisionArn}
    rollback_deployment_id: str | None = None  # the ecs-svc id ECS gives the rollback's deployment
    circuit_breaker: dict[str, Any] = field(default_factory=dict)
    alarms: dict[str, Any] = field(default_factory=dict)
    hooks: list[HookDetail] = field(default_factory=list)

    @property
    def ongoing(self) -> bool:
        return self.status in ONGOING

    def brief(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "serviceDeploymentArn": self.arn,
            "serviceArn": self.service_arn,
            "clusterArn": self.cluster_arn,
            "createdAt": self.created_at,
            "targetServiceRevisionArn": self.target,
            "status": self.status,
        }
        for key, value in (
            ("startedAt", self.started_at),
            ("finishedAt", self.finished_at),
            ("statusReason", self.status_reason),
        ):
            if value:
                found[key] = value
        return found

    def api(self, revisions: dict[str, Revision]) -> dict[str, Any]:
        found: dict[str, Any] = {
            "serviceDeploymentArn": self.arn,
            "serviceArn": self.service_arn,
            "clusterArn": self.cluster_arn,
            "createdAt": self.created_at,
            "sourceServiceRevisions": [revisions[arn].summary() for arn in self.sources if arn in revisions],
            "targetServiceRevision": revisions[self.target].summary(),
            "status": self.status,
            "deploymentConfiguration": copy.deepcopy(self.configuration),
            "lifecycleHookDetails": [hook.api() for hook in self.hooks],
        }
        optional = {
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "stoppedAt": self.stopped_at,
            "updatedAt": self.updated_at,
            "statusReason": self.status_reason,
            "lifecycleStage": self.lifecycle_stage,
            "rollback": self.rollback,
            "deploymentCircuitBreaker": self.circuit_breaker,
            "alarms": self.alarms,
        }
        found.update({key: copy.deepcopy(value) for key, value in optional.items() if value})
        return found


@dataclass
class NativeService:
    """A service whose deploymentController is ECS, as ECS keeps it (moto keeps the rest)."""

    arn: str
    name: str
    cluster: str
    cluster_arn: str
    configuration: dict[str, Any]  # the whole deploymentConfiguration
    load_balancers: list[dict[str, Any]]  # with advancedConfiguration
    desired_count: int
    task_definition: str
    network_configuration: dict[str, Any] | None
    launch_type: str | None
    revisions: dict[str, Revision] = field(default_factory=dict)  # arn -> revision, in creation order
    deployments: list[ServiceDeployment] = field(default_factory=list)  # oldest first
    last_successful: str | None = None  # revision arn ECS rolls back to

    @property
    def strategy(self) -> str:
        return str(self.configuration.get("strategy") or "ROLLING")

    def ongoing(self) -> ServiceDeployment | None:
        return next((d for d in reversed(self.deployments) if d.ongoing), None)

    def active_revisions(self) -> list[Revision]:
        """Revisions with tasks (ACTIVE in ECS's words)."""
        return [r for r in self.revisions.values() if r.requested > 0 or r.running > 0]
