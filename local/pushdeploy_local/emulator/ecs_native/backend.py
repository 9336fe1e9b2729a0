"""Amazon ECS's side of services with the ECS deployment controller: what moto 5.2.5 drops or lacks.

moto accepts ``deploymentController={"type": "ECS"}`` but drops ``deploymentConfiguration`` (strategy,
lifecycleHooks, bakeTimeInMinutes, alarms...) and ``loadBalancers[].advancedConfiguration``, starts no deployment on
UpdateService and lacks ListServiceDeployments, DescribeServiceDeployments, DescribeServiceRevisions and
StopServiceDeployment. This backend keeps them, in botocore's shapes, and raises ``ClientError`` with the exception
names of the ``ecs`` model. The lifecycle itself is played by :mod:`pushdeploy_local.world.native_engine`.

Documented behaviour played here:
- a new service deployment (and a new service revision) starts when a service is created, when UpdateService
  changes a property that needs a deployment (the task definition here) or sets ``forceNewDeployment``
  (ECS Developer Guide, "View service history using Amazon ECS service deployments", service deployment lifecycle);
- StopServiceDeployment: PENDING or IN_PROGRESS "moves to the ROLLBACK_REQUESTED state, and then the rollback
  operation starts"; STOP_REQUESTED, ROLLBACK_REQUESTED, ROLLBACK_IN_PROGRESS continue; "The valid values are
  ROLLBACK" (ECS Developer Guide, "Stopping Amazon ECS service deployments"; API reference StopServiceDeployment);
- a new deployment while one is ongoing: the ongoing one ends STOPPED and the new one starts with
  RECONCILE_SERVICE, the stage "that only happens when you start a new service deployment with more than 1 service
  revision in an ACTIVE state" (botocore ``ServiceDeploymentLifecycleStage``); a user's report shows the earlier
  deployment finishing STOPPED the moment the next started (kayac/ecspresso issue #899).

Where the documentation is silent (chosen to make the product's life harder, and said so):
- the ``ecs-svc/<n>`` id of DescribeServices' deployments and of the EventBridge events shares nothing with the
  service deployment ARN's id nor with the service revision's number: a caller must look it up, not derive it;
- ListServiceDeployments answers newest first (as the report above shows) and pages at ``maxResults`` (default 20).
"""

from __future__ import annotations

import copy
import random
import string
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from pushdeploy_local.emulator.ecs_native.model import NativeService, Revision, ServiceDeployment

Listener = Callable[[str, NativeService, ServiceDeployment], None]
STOPPABLE = ("PENDING", "IN_PROGRESS", "STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS")
ID_ALPHABET = string.ascii_letters + string.digits + "_-"


def error(operation: str, code: str, message: str) -> ClientError:
    status = 500 if code == "ServerException" else 400
    response: Any = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, operation)


def _cluster_name(value: str | None) -> str:
    value = value or "default"
    return value.rsplit("cluster/", 1)[-1] if value.startswith("arn:") else value


def _service_name(value: str) -> str:
    return value.rsplit("/", 1)[-1] if value.startswith("arn:") else value


class NativeEcs:
    def __init__(self, *, region: str, account: str, now: Callable[[], datetime] | None = None, seed: int = 0) -> None:
        self.region, self.account = region, account
        self.now = now or (lambda: datetime.now(UTC))
        self.seed = seed
        self.rng = random.Random(seed)
        self.services: dict[tuple[str, str], NativeService] = {}  # (cluster, service name) -> service
        self.deployment_ids: dict[str, str] = {}  # revision arn -> the ecs-svc id of the deployment running it
        self.listeners: list[Listener] = []
        self.lock = threading.RLock()

    def reset(self, *, region: str) -> None:
        """A clean slate (moto forgot its services too); listeners stay."""
        with self.lock:
            self.region = region
            self.rng = random.Random(self.seed)
            self.services.clear()
            self.deployment_ids.clear()

    # -- ids ------------------------------------------------------------------------------------------------------
    def _number(self) -> str:
        return str(self.rng.randrange(10**18, 10**19))

    def _deployment_id(self) -> str:
        return "".join(self.rng.choice(ID_ALPHABET) for _ in range(21))

    def new_ecs_deployment_id(self) -> str:
        return f"ecs-svc/{self._number()}"

    # -- lookups --------------------------------------------------------------------------------------------------
    def knows(self, cluster: str | None, service: str) -> bool:
        return (_cluster_name(cluster), _service_name(service)) in self.services

    def service(self, cluster: str | None, service: str, operation: str) -> NativeService:
        found = self.services.get((_cluster_name(cluster), _service_name(service)))
        if found is None:
            raise error(operation, "ServiceNotFoundException", "Service not found.")
        return found

    def deployment(self, arn: str, operation: str) -> tuple[NativeService, ServiceDeployment]:
        for service in self.services.values():
            for deployment in service.deployments:
                if deployment.arn == arn:
                    return service, deployment
        raise error(operation, "ServiceDeploymentNotFoundException", f"Service deployment not found: {arn}")

    # -- writes ---------------------------------------------------------------------------------------------------
    def create_service(self, params: dict[str, Any], created: dict[str, Any]) -> NativeService:
        """Keep what moto dropped of a service it has just created (``created``: moto's answer)."""
        with self.lock:
            cluster = _cluster_name(params.get("cluster"))
            service = NativeService(
                arn=str(created["serviceArn"]),
                name=str(created["serviceName"]),
                cluster=cluster,
                cluster_arn=str(created["clusterArn"]),
                configuration=_with_defaults(params.get("deploymentConfiguration") or {}),
                load_balancers=copy.deepcopy(params.get("loadBalancers") or []),
                desired_count=int(params.get("desiredCount") or 0),
                task_definition=str(created["taskDefinition"]),
                network_configuration=copy.deepcopy(params.get("networkConfiguration")),
                launch_type=params.get("launchType"),
            )
            self.services[(cluster, service.name)] = service
            self._start(service, "CreateService")
            return service

    def update_service(self, params: dict[str, Any], task_definition: str) -> tuple[NativeService, bool]:
        """Apply an UpdateService; True when it starts a new service deployment."""
        with self.lock:
            service = self.service(params.get("cluster"), str(params["service"]), "UpdateService")
            if "desiredCount" in params:
                service.desired_count = int(params["desiredCount"])
            if params.get("deploymentConfiguration") is not None:
                sent = params["deploymentConfiguration"]
                kept_hooks = service.configuration.get("lifecycleHooks")
                service.configuration = _with_defaults(sent)
                if "lifecycleHooks" not in sent and kept_hooks is not None:
                    # "ECS requires an explicit empty lifecycle hook list to clear existing hooks": an update
                    # without the key keeps them (hashicorp/terraform-provider-aws PR #47096)
                    service.configuration["lifecycleHooks"] = kept_hooks
            if params.get("loadBalancers") is not None:
                service.load_balancers = copy.deepcopy(params["loadBalancers"])
            if params.get("networkConfiguration") is not None:
                service.network_configuration = copy.deepcopy(params["networkConfiguration"])
            changed = task_definition != service.task_definition
            service.task_definition = task_definition
            if not (changed or params.get("forceNewDeployment")):
                return service, False
            self._start(service, "UpdateService")
            return service, True

    def _start(self, service: NativeService, cause: str) -> ServiceDeployment:
        now = self.now()
        revision = Revision(
            arn=(
                f"arn:aws:ecs:{self.region}:{self.account}:service-revision/{service.cluster}/{service.name}/"
                f"{self._number()}"
            ),
            service_arn=service.arn,
            cluster_arn=service.cluster_arn,
            task_definition=service.task_definition,
            load_balancers=copy.deepcopy(service.load_balancers),
            network_configuration=copy.deepcopy(service.network_configuration),
            launch_type=service.launch_type,
            created_at=now,
        )
        service.revisions[revision.arn] = revision
        interrupted = service.ongoing()
        if interrupted is not None:  # ends STOPPED; the new deployment reconciles (see the module's docstring)
            interrupted.status = "STOPPED"
            interrupted.status_reason = "Service deployment stopped: a new service deployment started."
            interrupted.stopped_at = interrupted.finished_at = interrupted.updated_at = now
        deployment = ServiceDeployment(
            arn=(
                f"arn:aws:ecs:{self.region}:{self.account}:service-deployment/{service.cluster}/{service.name}/"
                f"{self._deployment_id()}"
            ),
            ecs_deployment_id=self.new_ecs_deployment_id(),
            service_arn=service.arn,
            cluster_arn=service.cluster_arn,
            created_at=now,
            sources=[r.arn for r in service.active_revisions() if r.arn != revision.arn],
            target=revision.arn,
            configuration=copy.deepcopy(service.configuration),
            updated_at=now,
        )
        self.deployment_ids[revision.arn] = deployment.ecs_deployment_id
        service.deployments.append(deployment)
        for listener in list(self.listeners):
            if interrupted is not None:
                listener("stopped", service, interrupted)
            listener("created", service, deployment)
        return deployment

    def stop_service_deployment(self, serviceDeploymentArn: str, stopType: str = "ROLLBACK") -> dict[str, Any]:
        operation = "StopServiceDeployment"
        if stopType != "ROLLBACK":
            raise error(operation, "InvalidParameterException", "The valid stopType value is ROLLBACK.")
        with self.lock:
            service, deployment = self.deployment(serviceDeploymentArn, operation)
            if deployment.status not in STOPPABLE:
                raise error(
                    operation,
                    "ConflictException",
                    f"The service deployment is {deployment.status} and cannot be stopped.",
                )
            if deployment.status in ("PENDING", "IN_PROGRESS"):
                self.request_rollback(service, deployment, "Service deployment rolled back because of a stop request.")
            return {"serviceDeploymentArn": deployment.arn}

    def request_rollback(self, service: NativeService, deployment: ServiceDeployment, reason: str) -> None:
        now = self.now()
        deployment.status = "ROLLBACK_REQUESTED"
        deployment.status_reason = reason
        deployment.updated_at = now
        deployment.rollback = {"reason": reason, "startedAt": now, "serviceRevisionArn": self.rollback_target(service)}
        deployment.rollback_deployment_id = self.new_ecs_deployment_id()
        for listener in list(self.listeners):
            listener("rollback-requested", service, deployment)

    @staticmethod
    def rollback_target(service: NativeService) -> str:
        """The last successfully deployed revision (ECS Developer Guide, service revisions)."""
        return str(service.last_successful or next(iter(service.revisions)))

    # -- reads ----------------------------------------------------------------------------------------------------
    def list_service_deployments(
        self,
        service: str,
        cluster: str | None = None,
        status: list[str] | None = None,
        createdAt: dict[str, Any] | None = None,
        nextToken: str | None = None,
        maxResults: int = 20,
    ) -> dict[str, Any]:
        operation = "ListServiceDeployments"
        if not 1 <= int(maxResults) <= 100:
            raise error(operation, "InvalidParameterException", "maxResults must be between 1 and 100.")
        with self.lock:
            found = self.service(cluster, service, operation)
            chosen = [d for d in reversed(found.deployments) if not status or d.status in status]
            window = createdAt or {}
            after, before = window.get("after"), window.get("before")
            if after is not None:
                chosen = [d for d in chosen if d.created_at.timestamp() >= float(after)]
            if before is not None:
                chosen = [d for d in chosen if d.created_at.timestamp() <= float(before)]
            start = int(nextToken or 0)
            page = chosen[start : start + int(maxResults)]
            answer: dict[str, Any] = {"serviceDeployments": [d.brief() for d in page]}
            if start + int(maxResults) < len(chosen):
                answer["nextToken"] = str(start + int(maxResults))
            return answer

    def describe_service_deployments(self, serviceDeploymentArns: list[str]) -> dict[str, Any]:
        found, failures = [], []
        with self.lock:
            for arn in serviceDeploymentArns:
                try:
                    service, deployment = self.deployment(arn, "DescribeServiceDeployments")
                except ClientError:
                    failures.append({"arn": arn, "reason": "MISSING"})
                    continue
                found.append(deployment.api(service.revisions))
        return {"serviceDeployments": found, "failures": failures}

    def describe_service_revisions(self, serviceRevisionArns: list[str]) -> dict[str, Any]:
        found, failures = [], []
        with self.lock:
            for arn in serviceRevisionArns:
                revision = next((s.revisions[arn] for s in self.services.values() if arn in s.revisions), None)
                if revision is None:
                    failures.append({"arn": arn, "reason": "MISSING"})
                else:
                    found.append(revision.api())
        return {"serviceRevisions": found, "failures": failures}

    def overlay(self, described: dict[str, Any]) -> dict[str, Any]:
        """A service as moto describes it, with what ECS keeps and moto does not."""
        service = self.services.get((_cluster_name(str(described.get("clusterArn", ""))), described["serviceName"]))
        if service is None:
            return described
        with self.lock:
            described = dict(described)
            described["deploymentConfiguration"] = copy.deepcopy(service.configuration)
            described["loadBalancers"] = copy.deepcopy(service.load_balancers)
            described["deploymentController"] = {"type": "ECS"}
            described["taskDefinition"] = service.task_definition
            described["desiredCount"] = service.desired_count
            described["runningCount"] = sum(r.running for r in service.revisions.values())
            described["pendingCount"] = sum(r.pending for r in service.revisions.values())
            described["deployments"] = self._deployments(service)
            if service.deployments:  # Service.currentServiceDeployment (botocore model): the newest one
                described["currentServiceDeployment"] = service.deployments[-1].arn
            described.pop("taskSets", None)
            return described

    def _deployments(self, service: NativeService) -> list[dict[str, Any]]:
        """DescribeServices' ``deployments``: the revision ECS is moving to (PRIMARY), then the others with tasks."""
        latest = service.deployments[-1] if service.deployments else None
        if latest is None:
            return []
        primary = latest.target
        state, reason = "IN_PROGRESS", ""
        if latest.status in ("ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL"):
            primary = str((latest.rollback or {}).get("serviceRevisionArn") or primary)
        if latest.status in ("SUCCESSFUL", "ROLLBACK_SUCCESSFUL"):
            state = "COMPLETED"
        elif latest.status in ("STOPPED", "ROLLBACK_FAILED"):
            state, reason = "FAILED", latest.status_reason
        entries = []
        for revision in [service.revisions[primary], *(r for r in service.active_revisions() if r.arn != primary)]:
            entry = {
                "id": self.deployment_ids.get(revision.arn, ""),
                "status": "PRIMARY" if revision.arn == primary else "ACTIVE",
                "taskDefinition": revision.task_definition,
                "desiredCount": revision.requested,
                "pendingCount": revision.pending,
                "runningCount": revision.running,
                "failedTasks": int(latest.circuit_breaker.get("failureCount", 0)) if revision.arn == primary else 0,
                "createdAt": revision.created_at,
                "updatedAt": latest.updated_at or revision.created_at,
                "rolloutState": state if revision.arn == primary else "COMPLETED",
            }
            if revision.launch_type:
                entry["launchType"] = revision.launch_type
            if reason and revision.arn == primary:
                entry["rolloutStateReason"] = reason
            entries.append(entry)
        return entries


def _with_defaults(configuration: dict[str, Any]) -> dict[str, Any]:
    """DeploymentConfiguration as ECS answers it: the documented defaults filled in (BOTO ``ecs``:
    strategy ROLLING, maximumPercent 200, minimumHealthyPercent 100; linear 10%/6 min; canary 5%/10 min)."""
    found = copy.deepcopy(configuration)
    found.setdefault("strategy", "ROLLING")
    found.setdefault("maximumPercent", 200)
    found.setdefault("minimumHealthyPercent", 100)
    found.setdefault("deploymentCircuitBreaker", {"enable": False, "rollback": False})
    if found["strategy"] == "LINEAR":
        linear = found.setdefault("linearConfiguration", {})
        linear.setdefault("stepPercent", 10.0)
        linear.setdefault("stepBakeTimeInMinutes", 6)
    if found["strategy"] == "CANARY":
        canary = found.setdefault("canaryConfiguration", {})
        canary.setdefault("canaryPercent", 5.0)
        canary.setdefault("canaryBakeTimeInMinutes", 10)
    return found
