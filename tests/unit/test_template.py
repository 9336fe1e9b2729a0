"""template.yaml: rule patterns against the real sample events, and least-privilege IAM."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pushdeploy_local.emulator.iam import reference
from pushdeploy_local.world.bus import EventRouter, load_template

from tests.helpers import ROOT, load_event

TEMPLATE = load_template()

# Authorized against * although the reference lists a resource type, with the condition that scopes them instead
# (contracts.md 11.1): cluster-wide ListTasks (ecs:cluster), and DescribeAlarms answering composite alarms.
STAR_BY_DOCUMENTED_EXCEPTION = {"ecs:ListTasks": "ecs:cluster", "cloudwatch:DescribeAlarms": None}


def resource_scoped(action: str) -> bool:
    """The Service Authorization Reference lists a required resource type for this action ('*' is not needed)."""
    prefix, name = action.split(":", 1)
    return any(r["required"] for r in reference.action(prefix, name)["resourceTypes"])


def matches(function: str, event: dict[str, Any]) -> bool:
    """Some rule of ``function`` matches ``event`` (as EventBridge matches: moto's pattern matcher)."""
    router = EventRouter("pushdeploy-test", template=TEMPLATE)
    return any(rule.function.logical_id == function for rule in router.matching(event))


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


@pytest.mark.parametrize("state", ["in-progress", "rollback-in-progress", "completed", "failed"])
def test_ecs_deployment_state_changes_reach_the_deployment_events_function(state: str):
    event = load_event(f"ecs-deployment-state-change-{state}.json")

    assert matches("DeploymentEventsFunction", event)
    assert not matches("DeployerFunction", event) and not matches("AlarmRollbackFunction", event)
    assert not matches("DeploymentEventsFunction", load_event("ecs-hook-state-change-awaiting-action.json"))


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
            for statement in document["Statement"]:  # a conditional statement: both of its branches
                branches = statement["Fn::If"][1:] if "Fn::If" in statement else [statement]
                found += [(name, s) for s in branches if isinstance(s, dict) and "Effect" in s]
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
    resources = _as_list(statement.get("Resource"))
    conditions = {key for keys in (statement.get("Condition") or {}).values() for key in keys}
    if "*" in resources:
        scoped = [
            a
            for a in actions
            if "*" not in a
            and resource_scoped(a)
            and not (
                a in STAR_BY_DOCUMENTED_EXCEPTION
                and (STAR_BY_DOCUMENTED_EXCEPTION[a] is None or STAR_BY_DOCUMENTED_EXCEPTION[a] in conditions)
            )
        ]
        if scoped:
            found.append(f"Resource '*' for actions that support resource scoping: {scoped}")
    elif [a for a in actions if "*" not in a and not reference.resource_types(*a.split(":", 1))]:
        unscoped = [a for a in actions if "*" not in a and not reference.resource_types(*a.split(":", 1))]
        found.append(f"a resource ARN for actions authorized only against '*' (the grant never applies): {unscoped}")
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
        ({"Effect": "Allow", "Action": ["ecs:ListTasks"], "Resource": "*"}, "Resource '*'"),
        (
            {"Effect": "Allow", "Action": ["codedeploy:StopDeployment"], "Resource": "arn:aws:codedeploy:::x"},
            "the grant never applies",
        ),
        ({"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::1:role/x"}, "iam:PassRole without"),
    ],
)
def test_the_checker_catches_what_it_must(statement, problem):
    assert any(problem in p for p in problems(statement))


# -- what stack creation and operation need in real accounts (contracts.md 11.1) -----------------------------------
FUNCTIONS = {k: v for k, v in TEMPLATE["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}


def test_no_function_reserves_concurrency_unless_the_stack_is_told_to():
    assert TEMPLATE["Parameters"]["ReservedConcurrency"]["Default"] == 0
    assert TEMPLATE["Conditions"]["ReservesConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ReservedConcurrency"}, 0]}]
    }
    for name, function in FUNCTIONS.items():
        assert function["Properties"]["ReservedConcurrentExecutions"] == {
            "Fn::If": ["ReservesConcurrency", {"Ref": "ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
        }, name


def test_the_topic_alarms_publish_to_is_not_encrypted_with_the_aws_managed_sns_key():
    topic = TEMPLATE["Resources"]["NotificationTopic"]["Properties"]
    assert topic.get("KmsMasterKeyId") not in ("alias/aws/sns", "aws/sns")


def test_every_function_logs_to_the_stacks_own_log_group_which_does_not_wait_for_the_function():
    for name, function in FUNCTIONS.items():
        group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        group_name = TEMPLATE["Resources"][group]["Properties"]["LogGroupName"]["Fn::Sub"]
        assert name not in group_name, f"{group} names {name}: Lambda could create it first"
        assert group_name == "/aws/lambda/" + function["Properties"]["FunctionName"]["Fn::Sub"], name


def test_the_vpc_access_policy_is_attached_to_the_hooks_only_when_they_run_in_a_vpc():
    from pushdeploy_local.world.iam import StackNames, render_principals

    def hook_policies(**parameters: str) -> set[str]:
        names = StackNames(
            stack="pushdeploy-test",
            account="123456789012",
            region="us-west-2",
            parameters={"Stage": "test", **parameters},
        )
        principals = render_principals(names)
        return {p for name, r in principals.items() if name.startswith("CodeDeployHook_") for p in r.policy_names}

    assert "AWSLambdaVPCAccessExecutionRole" not in hook_policies()
    assert "AWSLambdaVPCAccessExecutionRole" in hook_policies(HookSubnetIds="subnet-1", HookSecurityGroupIds="sg-1")


@pytest.mark.parametrize("example", ["sample-service", "native-service"])
def test_each_example_stacks_target_document_is_a_valid_target(example: str) -> None:
    """The target an example stack declares (an SSM parameter, `!Sub` text) validates once its names are filled."""
    import re

    from pushdeploy.model.targets import Target

    stack = load_template(ROOT / "examples" / example / "template.yaml")
    text = stack["Resources"]["Target"]["Properties"]["Value"]["Fn::Sub"]
    filled = re.sub(r"\$\{[^}]+\}", "filled", text)
    target = Target.model_validate_json(filled)

    assert target.through_codedeploy is (example == "sample-service")
