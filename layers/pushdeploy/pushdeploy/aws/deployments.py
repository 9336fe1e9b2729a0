"""One set of questions about a target's deployments, whoever runs them: CodeDeploy (a target that names its
deployment group) or ECS itself (a target that names its cluster and service: blue/green, linear, canary or
rolling). The domain asks here and never needs to know which.

ECS's service deployments are answered as :class:`~pushdeploy.model.deployments.Deployment` values
(:meth:`Deployment.from_service_deployment`): the statuses the release state machine decides on.
"""

from __future__ import annotations

from pushdeploy.aws import codedeploy, ecs
from pushdeploy.errors import DeploymentNotFound
from pushdeploy.model.deployments import Deployment
from pushdeploy.model.targets import Target


def service_of(target: Target) -> tuple[str, str]:
    """(cluster, service) the target deploys."""
    if target.through_codedeploy:
        group = codedeploy.describe_group(*target.group)
        return group.cluster, group.service
    return str(target.cluster), str(target.service)


def watched_alarms(target: Target) -> tuple[str, ...]:
    """The alarms the controller itself watches: the deployment group's, or the service's deployment alarms."""
    if target.through_codedeploy:
        return codedeploy.describe_group(*target.group).alarms
    return ecs.service_setup(*service_of(target)).alarms


def active_deployment_ids(target: Target) -> list[str]:
    if target.through_codedeploy:
        return codedeploy.active_deployment_ids(*target.group)
    return [d.arn for d in ecs.active_service_deployments(*service_of(target))]


def get_deployment(deployment_id: str) -> Deployment:
    """A deployment by its id: CodeDeploy's ``d-...``, or an ECS service deployment's ARN."""
    if not deployment_id.startswith("arn:"):
        return codedeploy.get_deployment(deployment_id)
    found = ecs.service_deployment(deployment_id)
    if found is None:
        raise DeploymentNotFound(f"service deployment {deployment_id}: not found")
    return Deployment.from_service_deployment(found)


def stop_with_rollback(target: Target, deployment_id: str, reason: str) -> str:
    """Stop a deployment and send production back (CodeDeploy: StopDeployment with rollback; ECS:
    StopServiceDeployment ROLLBACK)."""
    if target.through_codedeploy:
        return codedeploy.stop_with_rollback(deployment_id, reason)
    return ecs.stop_service_deployment(deployment_id)


def current_step(deployment: Deployment) -> str | None:
    """The lifecycle event (CodeDeploy) or stage (ECS) a deployment is in."""
    if deployment.application:
        group = codedeploy.describe_group(deployment.application, deployment.deployment_group)
        return codedeploy.current_step(deployment.deployment_id, group.cluster, group.service)
    return deployment.stage
