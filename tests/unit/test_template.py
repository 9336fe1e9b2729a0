"""template.yaml: rule patterns against the real sample events, and least-privilege IAM."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pushdeploy_local.world.bus import EventRouter, load_template

from tests.helpers import load_event

TEMPLATE = load_template()

# Actions IAM cannot scope to a resource (Resource "*" is the only form AWS accepts for them).
NOT_RESOURCE_SCOPED = {
    "ecs:DescribeTaskDefinition",
    "ecs:RegisterTaskDefinition",
    "ecs:DeregisterTaskDefinition",
    "ecs:ListTaskDefinitions",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetHealth",
    "cloudwatch:GetMetricData",
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
}


def rule_for(function: str) -> dict[str, Any]:
    router = EventRouter("pushdeploy-test", template=TEMPLATE)
    [rule] = [r for r in router.rules if r.function.logical_id == function]
    return {"router": router, "rule": rule}


def matches(function: str, event: dict[str, Any]) -> bool:
    found = rule_for(function)
    return found["rule"] in found["router"].matching(event)


def test_the_push_rule_matches_the_real_sample_and_nothing_else():
    push = load_event("ecr-image-action-push.json")
    assert matches("DeployerFunction", push)
    assert not matches("DeployerFunction", load_event("ecr-image-action-delete.json"))
    failed = copy.deepcopy(push)
    failed["detail"]["result"] = "FAILURE"
    assert not matches("DeployerFunction", failed)
    assert not matches("DeployerFunction", load_event("cloudwatch-alarm-state-change-metric.json"))


def test_the_alarm_rule_matches_alarm_state_only():
    alarm = load_event("cloudwatch-alarm-state-change-metric.json")
    assert matches("AlarmRollbackFunction", alarm)
    ok = copy.deepcopy(alarm)
    ok["detail"]["state"]["value"] = "OK"
    assert not matches("AlarmRollbackFunction", ok)
    config_change = copy.deepcopy(alarm)
    config_change["detail-type"] = "CloudWatch Alarm Configuration Change"
    assert not matches("AlarmRollbackFunction", config_change)


def test_the_deployment_state_rule_matches_the_real_sample():
    assert matches("DeploymentEventsFunction", load_event("codedeploy-deployment-state-change.json"))
    assert not matches("DeploymentEventsFunction", load_event("ecr-image-action-push.json"))


def _statements() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, resource in TEMPLATE["Resources"].items():
        props = resource.get("Properties", {})
        documents = []
        if "PolicyDocument" in props:
            documents.append(props["PolicyDocument"])
        for policy in props.get("Policies", []) or []:
            if isinstance(policy, dict) and "Statement" in policy:
                documents.append(policy)
            elif isinstance(policy, dict) and "PolicyDocument" in policy:
                documents.append(policy["PolicyDocument"])
        for document in documents:
            found += [(name, statement) for statement in document["Statement"]]
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def problems(statement: dict[str, Any]) -> list[str]:
    """Why an IAM statement is not least-privilege (empty when it is)."""
    if statement["Effect"] == "Deny":
        return []
    found = []
    actions = _as_list(statement["Action"])
    if "*" in actions or any(a.endswith(":*") for a in actions):
        found.append("wildcard action")
    if "*" in _as_list(statement.get("Resource")):
        scoped = [a for a in actions if a not in NOT_RESOURCE_SCOPED]
        if scoped:
            found.append(f"Resource '*' for actions that support resource scoping: {scoped}")
    if "iam:PassRole" in actions and not statement.get("Condition", {}).get("StringEquals", {}).get(
        "iam:PassedToService"
    ):
        found.append("iam:PassRole without an iam:PassedToService condition")
    return found


@pytest.mark.parametrize(("resource", "statement"), _statements(), ids=lambda v: v if isinstance(v, str) else "")
def test_iam_statements_are_least_privilege(resource, statement):
    assert problems(statement) == [], resource


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        ({"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::x"}, "wildcard action"),
        ({"Effect": "Allow", "Action": ["ecs:*"], "Resource": "arn:aws:ecs:::x"}, "wildcard action"),
        ({"Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": "*"}, "Resource '*'"),
        ({"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::1:role/x"}, "iam:PassRole without"),
    ],
)
def test_the_checker_catches_what_it_must(statement, problem):
    assert any(problem in p for p in problems(statement))
