"""A local CodeDeploy for ECS blue/green, faithful to AWS's documented behaviour where pushdeploy relies on it.

moto's CodeDeploy keeps deployments "Created" forever, does not enforce one active deployment per group,
and lacks StopDeployment and PutLifecycleEventHookExecutionStatus (toolchain.md). This emulator speaks the
boto3 client's method names and shapes (so it can be injected as the ``codedeploy`` client in tests) and
raises ``botocore`` ``ClientError`` with AWS's error codes and messages.

The lifecycle itself (hooks in order, task sets, traffic shifting, alarms) is driven by
:mod:`pushdeploy_local.lifecycle`, which calls :meth:`CodeDeployEmulator.advance` style helpers here.
"""

from __future__ import annotations

import copy
import itertools
import random
import string
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

ACTIVE = ("Created", "Queued", "InProgress", "Ready", "Baking")
HOOK_EVENTS = ("BeforeInstall", "AfterInstall", "AfterAllowTestTraffic", "BeforeAllowTraffic", "AfterAllowTraffic")
LIFECYCLE_EVENTS = (
    "BeforeInstall",
    "Install",
    "AfterInstall",
    "AllowTestTraffic",
    "AfterAllowTestTraffic",
    "BeforeAllowTraffic",
    "AllowTraffic",
    "AfterAllowTraffic",
)

PREDEFINED_CONFIGS: dict[str, dict[str, Any]] = {
    "CodeDeployDefault.ECSAllAtOnce": {"type": "AllAtOnce"},
    "CodeDeployDefault.ECSLinear10PercentEvery1Minutes": {
        "type": "TimeBasedLinear",
        "timeBasedLinear": {"linearPercentage": 10, "linearInterval": 1},
    },
    "CodeDeployDefault.ECSLinear10PercentEvery3Minutes": {
        "type": "TimeBasedLinear",
        "timeBasedLinear": {"linearPercentage": 10, "linearInterval": 3},
    },
    "CodeDeployDefault.ECSCanary10Percent5Minutes": {
        "type": "TimeBasedCanary",
        "timeBasedCanary": {"canaryPercentage": 10, "canaryInterval": 5},
    },
    "CodeDeployDefault.ECSCanary10Percent15Minutes": {
        "type": "TimeBasedCanary",
        "timeBasedCanary": {"canaryPercentage": 10, "canaryInterval": 15},
    },
}


def _error(operation: str, code: str, message: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400}}, operation
    )


class CodeDeployEmulator:
    """In-memory CodeDeploy (ECS compute platform). Thread-safe; time comes from ``now``."""

    def __init__(
        self,
        *,
        region: str = "us-east-1",
        account: str = "123456789012",
        now: Callable[[], datetime] | None = None,
        seed: int | None = None,
        stops_pending: bool = False,
    ) -> None:
        self.region, self.account = region, account
        # StopDeployment answers Pending and the stop (and its rollback) happens a moment later, as CodeDeploy may
        # ("some deployment lifecycle events might still be running"); whoever drives the lifecycle completes it.
        self.stops_pending = stops_pending
        self.pending_stops: dict[str, bool] = {}  # deployment id -> roll back
        self.now = now or (lambda: datetime.now(UTC))
        self.lock = threading.RLock()
        self.applications: dict[str, dict[str, Any]] = {}
        self.groups: dict[tuple[str, str], dict[str, Any]] = {}
        self.configs: dict[str, dict[str, Any]] = {
            k: {"trafficRoutingConfig": v} for k, v in PREDEFINED_CONFIGS.items()
        }
        self.deployments: dict[str, dict[str, Any]] = {}
        self.hook_executions: dict[str, tuple[str, str]] = {}  # execution id -> (deployment id, event)
        self._rng = random.Random(seed)
        self._sequence = itertools.count(1)
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []  # (kind, deployment) callbacks
        self.calls: list[str] = []

    # -- helpers --------------------------------------------------------------------------------------
    def _new_id(self, prefix: str, length: int = 9) -> str:
        alphabet = string.ascii_uppercase + string.digits
        return prefix + "".join(self._rng.choice(alphabet) for _ in range(length))

    def _group(self, operation: str, application: str, group: str) -> dict[str, Any]:
        if application not in self.applications:
            raise _error(operation, "ApplicationDoesNotExistException", f"No application found for name: {application}")
        found = self.groups.get((application, group))
        if found is None:
            raise _error(
                operation, "DeploymentGroupDoesNotExistException", f"No Deployment Group found for name: {group}"
            )
        return found

    def _deployment(self, operation: str, deployment_id: str) -> dict[str, Any]:
        if not deployment_id:
            raise _error(operation, "DeploymentIdRequiredException", "Deployment id is required")
        found = self.deployments.get(deployment_id)
        if found is None:
            raise _error(
                operation, "DeploymentDoesNotExistException", f"The deployment {deployment_id} could not be found."
            )
        return found

    def _notify(self, kind: str, deployment: dict[str, Any]) -> None:
        for listener in list(self.listeners):
            listener(kind, deployment)

    # -- applications and groups -------------------------------------------------------------------------
    def create_application(self, applicationName: str, computePlatform: str = "ECS", **_: Any) -> dict[str, Any]:
        with self.lock:
            self.calls.append("CreateApplication")
            if applicationName in self.applications:
                raise _error(
                    "CreateApplication",
                    "ApplicationAlreadyExistsException",
                    f"The application {applicationName} already exists",
                )
            app_id = self._new_id("", 8).lower() + "-app"
            self.applications[applicationName] = {
                "applicationId": app_id,
                "applicationName": applicationName,
                "computePlatform": computePlatform,
                "createTime": self.now(),
            }
            return {"applicationId": app_id}

    def create_deployment_group(self, applicationName: str, deploymentGroupName: str, **kwargs: Any) -> dict[str, Any]:
        with self.lock:
            self.calls.append("CreateDeploymentGroup")
            if applicationName not in self.applications:
                raise _error(
                    "CreateDeploymentGroup",
                    "ApplicationDoesNotExistException",
                    f"No application found for name: {applicationName}",
                )
            if (applicationName, deploymentGroupName) in self.groups:
                raise _error(
                    "CreateDeploymentGroup",
                    "DeploymentGroupAlreadyExistsException",
                    f"The deployment group {deploymentGroupName} already exists",
                )
            group_id = self._new_id("", 8).lower() + "-dg"
            info = {
                "applicationName": applicationName,
                "deploymentGroupName": deploymentGroupName,
                "deploymentGroupId": group_id,
                "computePlatform": "ECS",
                "deploymentConfigName": kwargs.get("deploymentConfigName", "CodeDeployDefault.ECSAllAtOnce"),
                **copy.deepcopy({k: v for k, v in kwargs.items() if k != "deploymentConfigName"}),
            }
            self.groups[(applicationName, deploymentGroupName)] = info
            return {"deploymentGroupId": group_id}

    def get_deployment_group(self, applicationName: str, deploymentGroupName: str) -> dict[str, Any]:
        with self.lock:
            self.calls.append("GetDeploymentGroup")
            group = self._group("GetDeploymentGroup", applicationName, deploymentGroupName)
            return {"deploymentGroupInfo": copy.deepcopy(group)}

    def create_deployment_config(
        self, deploymentConfigName: str, trafficRoutingConfig: dict[str, Any], computePlatform: str = "ECS", **_: Any
    ) -> dict[str, Any]:
        with self.lock:
            if deploymentConfigName in self.configs:
                raise _error(
                    "CreateDeploymentConfig",
                    "DeploymentConfigAlreadyExistsException",
                    f"Deployment config {deploymentConfigName} already exists",
                )
            self.configs[deploymentConfigName] = {"trafficRoutingConfig": copy.deepcopy(trafficRoutingConfig)}
            return {"deploymentConfigId": self._new_id("", 8).lower()}

    def get_deployment_config(self, deploymentConfigName: str) -> dict[str, Any]:
        with self.lock:
            config = self.configs.get(deploymentConfigName)
            if config is None:
                raise _error(
                    "GetDeploymentConfig",
                    "DeploymentConfigDoesNotExistException",
                    f"Deployment config {deploymentConfigName} does not exist",
                )
            return {
                "deploymentConfigInfo": {
                    "deploymentConfigName": deploymentConfigName,
                    "computePlatform": "ECS",
                    **copy.deepcopy(config),
                }
            }

    # -- deployments -------------------------------------------------------------------------------------
    def create_deployment(
        self,
        applicationName: str,
        deploymentGroupName: str | None = None,
        revision: dict[str, Any] | None = None,
        deploymentConfigName: str | None = None,
        description: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        return {
            "deploymentId": self._create(
                applicationName,
                deploymentGroupName or "",
                revision,
                deploymentConfigName,
                description,
                creator="user",
                extra=kwargs,
            )["deploymentId"]
        }

    def _create(
        self,
        application: str,
        group_name: str,
        revision: dict[str, Any] | None,
        config_name: str | None,
        description: str | None,
        *,
        creator: str,
        rollback_of: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        extra = extra or {}
        with self.lock:
            self.calls.append("CreateDeployment")
            group = self._group("CreateDeployment", application, group_name)
            active = [
                d
                for d in self.deployments.values()
                if d["applicationName"] == application
                and d["deploymentGroupName"] == group_name
                and d["status"] in ACTIVE
            ]
            if active:
                raise _error(
                    "CreateDeployment",
                    "DeploymentLimitExceededException",
                    f"The Deployment Group '{group_name}' already has an active Deployment "
                    f"'{active[0]['deploymentId']}'",
                )
            if revision is None:
                raise _error("CreateDeployment", "RevisionRequiredException", "Revision must be specified.")
            if revision.get("revisionType") == "AppSpecContent":
                import hashlib

                content = (revision.get("appSpecContent") or {}).get("content", "")
                given = (revision.get("appSpecContent") or {}).get("sha256")
                if given and given != hashlib.sha256(content.encode()).hexdigest():
                    raise _error(
                        "CreateDeployment",
                        "InvalidRevisionException",
                        "The AppSpec content's SHA-256 does not match its content.",
                    )
            config = config_name or group.get("deploymentConfigName") or "CodeDeployDefault.ECSAllAtOnce"
            if config not in self.configs:
                raise _error(
                    "CreateDeployment",
                    "DeploymentConfigDoesNotExistException",
                    f"Deployment config {config} does not exist",
                )
            deployment_id = self._new_id("d-")
            now = self.now()
            deployment: dict[str, Any] = {
                "applicationName": application,
                "deploymentGroupName": group_name,
                "deploymentId": deployment_id,
                "deploymentConfigName": config,
                "revision": copy.deepcopy(revision),
                "status": "Created",
                "createTime": now,
                "creator": creator,
                "description": description or "",
                "computePlatform": "ECS",
                "deploymentStyle": copy.deepcopy(group.get("deploymentStyle", {})),
                "ignoreApplicationStopFailures": False,
                "updateOutdatedInstancesOnly": False,
                "fileExistsBehavior": "DISALLOW",
                "instanceTerminationWaitTimeStarted": False,
                "deploymentStatusMessages": [],
                "sequence": next(self._sequence),
                "lifecycleEvents": [{"lifecycleEventName": e, "status": "Pending"} for e in LIFECYCLE_EVENTS],
            }
            if extra.get("overrideAlarmConfiguration"):
                deployment["overrideAlarmConfiguration"] = copy.deepcopy(extra["overrideAlarmConfiguration"])
            # "Configuration information for an automatic rollback that is added when a deployment is created"
            rollback_config = extra.get("autoRollbackConfiguration") or group.get("autoRollbackConfiguration")
            if rollback_config:
                deployment["autoRollbackConfiguration"] = copy.deepcopy(rollback_config)
            if rollback_of is not None:
                deployment["rollbackInfo"] = {
                    "rollbackTriggeringDeploymentId": rollback_of["deploymentId"],
                    "rollbackMessage": f"Rollback of {rollback_of['deploymentId']}",
                }
            self.deployments[deployment_id] = deployment
            self._notify("created", deployment)
            return deployment

    def get_deployment(self, deploymentId: str) -> dict[str, Any]:
        with self.lock:
            self.calls.append("GetDeployment")
            deployment = self._deployment("GetDeployment", deploymentId)
            public = {
                k: copy.deepcopy(v) for k, v in deployment.items() if k not in ("lifecycleEvents", "sequence", "engine")
            }
            return {"deploymentInfo": public}

    def get_deployment_target(self, deploymentId: str, targetId: str | None = None, **_: Any) -> dict[str, Any]:
        """The deployment's ECS target: its lifecycle events as CodeDeploy names them (the deployment's own ECS
        service is the one target). ``taskSetsInfo`` (counts and traffic weights) is not played: the load
        balancer's weights are the world's (read them from the listener)."""
        with self.lock:
            self.calls.append("GetDeploymentTarget")
            deployment = self._deployment("GetDeploymentTarget", deploymentId)
            group = self.groups.get((deployment["applicationName"], deployment["deploymentGroupName"]), {})
            service = (group.get("ecsServices") or [{}])[0]
            target = f"{service.get('clusterName', '')}:{service.get('serviceName', '')}"
            if targetId is not None and targetId != target:
                raise _error("GetDeploymentTarget", "DeploymentTargetDoesNotExistException", f"no target {targetId}")
            return {
                "deploymentTarget": {
                    "deploymentTargetType": "ECSTarget",
                    "ecsTarget": {
                        "deploymentId": deploymentId,
                        "targetId": target,
                        "lifecycleEvents": copy.deepcopy(deployment["lifecycleEvents"]),
                        "status": deployment["status"],
                    },
                }
            }

    def list_deployments(
        self,
        applicationName: str | None = None,
        deploymentGroupName: str | None = None,
        includeOnlyStatuses: list[str] | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        with self.lock:
            self.calls.append("ListDeployments")
            if applicationName and deploymentGroupName:
                self._group("ListDeployments", applicationName, deploymentGroupName)
            found = [
                d
                for d in sorted(self.deployments.values(), key=lambda d: d["sequence"], reverse=True)
                if (not applicationName or d["applicationName"] == applicationName)
                and (not deploymentGroupName or d["deploymentGroupName"] == deploymentGroupName)
                and (not includeOnlyStatuses or d["status"] in includeOnlyStatuses)
            ]
            return {"deployments": [d["deploymentId"] for d in found]}

    def stop_deployment(self, deploymentId: str, autoRollbackEnabled: bool | None = None) -> dict[str, Any]:
        """Stop; with rollback, CodeDeploy creates a *new* deployment (creator ``codeDeployRollback``)."""
        with self.lock:
            self.calls.append("StopDeployment")
            deployment = self._deployment("StopDeployment", deploymentId)
            if deployment["status"] not in ACTIVE:
                raise _error(
                    "StopDeployment",
                    "DeploymentAlreadyCompletedException",
                    f"The deployment {deploymentId} has already completed.",
                )
            if self.stops_pending:
                self.pending_stops[deploymentId] = bool(autoRollbackEnabled)
                return {"status": "Pending", "statusMessage": "Stopping the deployment"}
            self.complete_stop(deploymentId, bool(autoRollbackEnabled))
            return {"status": "Succeeded", "statusMessage": "Deployment stopped"}

    def complete_stop(self, deployment_id: str, rollback: bool) -> None:
        """The stop StopDeployment asked for takes effect (at once, or a moment after a Pending answer)."""
        with self.lock:
            self.pending_stops.pop(deployment_id, None)
            if self.deployments[deployment_id]["status"] not in ACTIVE:
                return
            self.finish(
                deployment_id,
                "Stopped",
                error_code="MANUAL_STOP",
                message="Deployment was stopped by a user request",
                rollback=rollback,
            )

    def put_lifecycle_event_hook_execution_status(
        self, deploymentId: str, lifecycleEventHookExecutionId: str, status: str
    ) -> dict[str, Any]:
        with self.lock:
            self.calls.append("PutLifecycleEventHookExecutionStatus")
            deployment = self._deployment("PutLifecycleEventHookExecutionStatus", deploymentId)
            if status not in ("Succeeded", "Failed"):
                raise _error(
                    "PutLifecycleEventHookExecutionStatus",
                    "InvalidLifecycleEventHookExecutionStatusException",
                    f"Status {status} is not valid; only Succeeded and Failed can be reported",
                )
            execution = self.hook_executions.get(lifecycleEventHookExecutionId)
            if execution is None or execution[0] != deploymentId:
                raise _error(
                    "PutLifecycleEventHookExecutionStatus",
                    "InvalidLifecycleEventHookExecutionIdException",
                    f"Lifecycle event hook execution {lifecycleEventHookExecutionId} is not valid",
                )
            event = self._event(deployment, execution[1])
            if event["status"] != "InProgress":
                raise _error(
                    "PutLifecycleEventHookExecutionStatus",
                    "LifecycleEventAlreadyCompletedException",
                    f"The lifecycle event {execution[1]} has already completed",
                )
            event["status"] = status
            event["endTime"] = self.now()
            self._notify("hook-reported", deployment)
            return {"lifecycleEventHookExecutionId": lifecycleEventHookExecutionId}

    def continue_deployment(self, deploymentId: str, deploymentWaitType: str = "READY_WAIT") -> dict[str, Any]:
        with self.lock:
            deployment = self._deployment("ContinueDeployment", deploymentId)
            wanted = "Ready" if deploymentWaitType == "READY_WAIT" else "InProgress"
            if deployment["status"] != wanted:
                raise _error(
                    "ContinueDeployment",
                    "DeploymentIsNotInReadyStateException",
                    f"The deployment {deploymentId} is not in a {deploymentWaitType} state",
                )
            deployment.setdefault("continue", set()).add(deploymentWaitType)
            self._notify("continued", deployment)
            return {}

    # -- used by the lifecycle engine and by tests ---------------------------------------------------------
    @staticmethod
    def _event(deployment: dict[str, Any], name: str) -> dict[str, Any]:
        return next(e for e in deployment["lifecycleEvents"] if e["lifecycleEventName"] == name)

    def open_hook(self, deployment_id: str, event: str) -> str:
        """Mark ``event`` InProgress and return the execution id CodeDeploy passes to the hook function."""
        with self.lock:
            deployment = self.deployments[deployment_id]
            record = self._event(deployment, event)
            record["status"], record["startTime"] = "InProgress", self.now()
            execution_id = self._new_id("", 24).lower()
            self.hook_executions[execution_id] = (deployment_id, event)
            return execution_id

    def event_status(self, deployment_id: str, event: str) -> str:
        with self.lock:
            return str(self._event(self.deployments[deployment_id], event)["status"])

    def set_status(self, deployment_id: str, status: str) -> None:
        with self.lock:
            deployment = self.deployments[deployment_id]
            previous = deployment["status"]
            deployment["status"] = status
            if status == "InProgress" and previous != "InProgress":
                deployment.setdefault("deploymentOverview", {})
                self._notify("started", deployment)
            elif status == "Ready":
                self._notify("ready", deployment)

    def finish(
        self,
        deployment_id: str,
        status: str,
        *,
        error_code: str | None = None,
        message: str | None = None,
        rollback: bool = False,
    ) -> dict[str, Any] | None:
        """End a deployment (Succeeded / Failed / Stopped). With ``rollback``, start the rollback deployment."""
        with self.lock:
            deployment = self.deployments[deployment_id]
            deployment["status"] = status
            deployment["completeTime"] = self.now()
            for event in deployment["lifecycleEvents"]:
                if event["status"] in ("Pending", "InProgress"):
                    event["status"] = (
                        "Skipped" if event["status"] == "Pending" else status if status == "Failed" else "Skipped"
                    )
            if error_code:
                deployment["errorInformation"] = {"code": error_code, "message": message or error_code}
            self._notify("finished", deployment)
            if not rollback:
                return None
            rollback_deployment = self._create(
                deployment["applicationName"],
                deployment["deploymentGroupName"],
                deployment.get("previousRevision") or deployment["revision"],
                "CodeDeployDefault.ECSAllAtOnce",
                f"Rollback of {deployment_id}",
                creator="codeDeployRollback",
                rollback_of=deployment,
            )
            deployment["rollbackInfo"] = {  # a rollback that is itself rolled back keeps what it rolled back
                **deployment.get("rollbackInfo", {}),
                "rollbackDeploymentId": rollback_deployment["deploymentId"],
                "rollbackMessage": f"Deployment {deployment_id} was rolled back "
                f"by {rollback_deployment['deploymentId']}",
            }
            return rollback_deployment
