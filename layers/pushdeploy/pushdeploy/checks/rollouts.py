"""Where a deployment runs and what it brings up, per controller (:class:`pushdeploy.checks.Rollout`).

- CodeDeploy: the deployment group names the service and its listeners; the replacement is the task set running
  the deployment's task definition (not the PRIMARY one).
- ECS's own blue/green, linear and canary: the service names its listener *rules* (advancedConfiguration); the
  replacement is the deployment's target service revision, its counts from DescribeServiceDeployments; green's
  target group is the one the test listener rule forwards to (ECS moves test traffic to green before any check
  that needs it runs), or without a test rule the alternate target group, "the target group for the green service
  revision" (ECS developer guide, alb-resources-for-blue-green).
- ECS's rolling update: one target group serves every revision; once ECS says the update completed, the old tasks
  are gone (drained and stopped) and it serves the new revision's.
"""

from __future__ import annotations

from dataclasses import dataclass

from pushdeploy import aws
from pushdeploy.aws import elbv2
from pushdeploy.checks import Replacement
from pushdeploy.model.deployments import DeploymentGroup
from pushdeploy.model.ecs_deployments import ServiceSetup


@dataclass(frozen=True)
class TaskSetRollout:
    group: DeploymentGroup

    @property
    def cluster(self) -> str:
        return self.group.cluster

    @property
    def service(self) -> str:
        return self.group.service

    @property
    def alarms(self) -> tuple[str, ...]:
        return self.group.alarms

    def test_listener_arns(self) -> tuple[str, ...]:
        return self.group.test_listener_arns

    def prod_listener_arns(self) -> tuple[str, ...]:
        return self.group.prod_listener_arns

    def replacement(self, task_definition_arn: str) -> Replacement | None:
        described = aws.client("ecs").describe_services(cluster=self.cluster, services=[self.service])
        task_sets = ((described.get("services") or [{}])[0]).get("taskSets") or []
        ours = [ts for ts in task_sets if ts.get("taskDefinition") == task_definition_arn]
        chosen = ([ts for ts in ours if ts.get("status") != "PRIMARY"] or ours or [None])[0]
        if chosen is None:
            return None
        target_group = next(
            (lb["targetGroupArn"] for lb in chosen.get("loadBalancers", []) if lb.get("targetGroupArn")), None
        )
        return Replacement(
            str(chosen.get("id")),
            int(chosen.get("computedDesiredCount", 0)),
            int(chosen.get("runningCount", 0)),
            str(target_group) if target_group else None,
        )


def listener_of_rule(rule_arn: str) -> str:
    """``...:listener-rule/app/<lb>/<id>/<listener>/<rule>`` -> ``...:listener/app/<lb>/<id>/<listener>``; an NLB's
    "rule" is already its listener (contracts 8.1)."""
    if ":listener-rule/" not in rule_arn:
        return rule_arn
    head, path = rule_arn.split(":listener-rule/", 1)
    return f"{head}:listener/{path.rsplit('/', 1)[0]}"


@dataclass(frozen=True)
class RevisionRollout:
    setup: ServiceSetup
    service_deployment_arn: str

    @property
    def cluster(self) -> str:
        return self.setup.cluster

    @property
    def service(self) -> str:
        return self.setup.service

    @property
    def alarms(self) -> tuple[str, ...]:
        return self.setup.alarms

    def test_listener_arns(self) -> tuple[str, ...]:
        return tuple(
            listener_of_rule(lb.test_listener_rule) for lb in self.setup.load_balancing if lb.test_listener_rule
        )

    def prod_listener_arns(self) -> tuple[str, ...]:
        return tuple(
            listener_of_rule(lb.production_listener_rule)
            for lb in self.setup.load_balancing
            if lb.production_listener_rule
        )

    def replacement(self, task_definition_arn: str) -> Replacement | None:
        if self.setup.kind == "ROLLING":
            return self._rolled_out(task_definition_arn)
        described = aws.client("ecs").describe_service_deployments(serviceDeploymentArns=[self.service_deployment_arn])
        deployments = described.get("serviceDeployments") or []
        if not deployments:
            return None
        target = deployments[0].get("targetServiceRevision") or {}
        return Replacement(
            str(target.get("arn", "")).rsplit("/", 1)[-1],
            int(target.get("requestedTaskCount") or 0),
            int(target.get("runningTaskCount") or 0),
            self.green_target_group(),
            "service revision",
        )

    def _rolled_out(self, task_definition_arn: str) -> Replacement | None:
        """A rolling update's tasks as the service counts them now (DescribeServices ``deployments``): a service
        revision's counts are "the number of running tasks when the deployment completed" (ECS developer guide,
        service deployments), and the service may have scaled since."""
        described = aws.client("ecs").describe_services(cluster=self.cluster, services=[self.service])
        entries = ((described.get("services") or [{}])[0]).get("deployments") or []
        ours = [e for e in entries if e.get("taskDefinition") == task_definition_arn]
        if not ours:
            return None
        entry = next((e for e in ours if e.get("status") == "PRIMARY"), ours[0])
        return Replacement(
            str(entry.get("id", "")),
            int(entry.get("desiredCount") or 0),
            int(entry.get("runningCount") or 0),
            self.green_target_group(),
            "rolling update",
        )

    def green_target_group(self) -> str | None:
        for lb in self.setup.load_balancing:
            if lb.test_listener_rule:
                forwarded = elbv2.forward_weights(lb.test_listener_rule)
                if forwarded:
                    return max(forwarded, key=lambda pair: (pair[1], pair[0]))[0]
            if lb.alternate_target_group_arn:
                return lb.alternate_target_group_arn
        rolling = [lb.target_group_arn for lb in self.setup.load_balancing if lb.target_group_arn]
        return rolling[0] if self.setup.kind == "ROLLING" and rolling else None
