"""pushdeploy.model.deployments: GetDeploymentGroup / GetDeployment answers (as boto3 returns them), typed."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from pushdeploy.model.appspec import build_appspec
from pushdeploy.model.deployments import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    Deployment,
    DeploymentGroup,
    active_deployment_in,
)

REGION_ARN = "arn:aws:elasticloadbalancing:us-west-2:123456789012"
TASK_DEFINITION = "arn:aws:ecs:us-west-2:123456789012:task-definition/web:42"
APPSPEC = build_appspec(TASK_DEFINITION, "web", 8080, "CodeDeployHook_pushdeploy-prod")

# deploymentGroupInfo as boto3's get_deployment_group returns it for an ECS blue/green group
GROUP_INFO: dict[str, Any] = {
    "applicationName": "web-app",
    "deploymentGroupId": "0a1b2c3d-1111-2222-3333-444455556666",
    "deploymentGroupName": "web-dg",
    "deploymentConfigName": "CodeDeployDefault.ECSCanary10Percent5Minutes",
    "serviceRoleArn": "arn:aws:iam::123456789012:role/codedeploy-ecs",
    "alarmConfiguration": {
        "enabled": True,
        "ignorePollAlarmFailure": False,
        "alarms": [{"name": "web-5xx"}, {"name": "web-latency"}],
    },
    "autoRollbackConfiguration": {"enabled": True, "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]},
    "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
    "blueGreenDeploymentConfiguration": {
        "terminateBlueInstancesOnDeploymentSuccess": {"action": "TERMINATE", "terminationWaitTimeInMinutes": 5},
        "deploymentReadyOption": {"actionOnTimeout": "CONTINUE_DEPLOYMENT", "waitTimeInMinutes": 0},
    },
    "loadBalancerInfo": {
        "targetGroupPairInfoList": [
            {
                "targetGroups": [{"name": "web-blue"}, {"name": "web-green"}],
                "prodTrafficRoute": {"listenerArns": [f"{REGION_ARN}:listener/app/web/1/prod"]},
                "testTrafficRoute": {"listenerArns": [f"{REGION_ARN}:listener/app/web/1/test"]},
            }
        ]
    },
    "computePlatform": "ECS",
    "ecsServices": [{"serviceName": "web", "clusterName": "prod"}],
    "outdatedInstancesStrategy": "UPDATE",
}

# deploymentInfo as boto3's get_deployment returns it for a failed deployment that was rolled back
DEPLOYMENT_INFO: dict[str, Any] = {
    "applicationName": "web-app",
    "deploymentGroupName": "web-dg",
    "deploymentConfigName": "CodeDeployDefault.ECSAllAtOnce",
    "deploymentId": "d-ABC123DEF",
    "revision": {
        "revisionType": "AppSpecContent",
        "appSpecContent": {"content": APPSPEC.content, "sha256": APPSPEC.sha256},
    },
    "status": "Failed",
    "errorInformation": {
        "code": "HEALTH_CONSTRAINTS",
        "message": "The deployment failed because a specified lifecycle event hook failed",
    },
    "createTime": datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=UTC),
    "startTime": datetime(2024, 5, 1, 10, 0, 1, tzinfo=UTC),
    "completeTime": datetime(2024, 5, 1, 10, 7, 30, tzinfo=UTC),
    "deploymentOverview": {"Pending": 0, "InProgress": 0, "Succeeded": 0, "Failed": 1, "Skipped": 0, "Ready": 0},
    "creator": "user",
    "ignoreApplicationStopFailures": False,
    "autoRollbackConfiguration": {"enabled": True, "events": ["DEPLOYMENT_FAILURE"]},
    "updateOutdatedInstancesOnly": False,
    "rollbackInfo": {
        "rollbackDeploymentId": "d-ROLLBACK1",
        "rollbackMessage": "Automatic rollback triggered by deployment failure",
    },
    "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
    "fileExistsBehavior": "DISALLOW",
    "deploymentStatusMessages": [],
    "computePlatform": "ECS",
}


def deployment(**changes: Any) -> Deployment:
    info = copy.deepcopy(DEPLOYMENT_INFO)
    info.update(changes)
    return Deployment.from_api(info)


# -- DeploymentGroup.from_api --------------------------------------------------------------------------------------
def test_a_deployment_group_reads_the_service_it_deploys() -> None:
    group = DeploymentGroup.from_api(GROUP_INFO)

    assert (group.application, group.name) == ("web-app", "web-dg")
    assert (group.cluster, group.service) == ("prod", "web")
    assert group.target_groups == ("web-blue", "web-green")
    assert group.prod_listener_arns == (f"{REGION_ARN}:listener/app/web/1/prod",)
    assert group.test_listener_arns == (f"{REGION_ARN}:listener/app/web/1/test",)
    assert group.alarms == ("web-5xx", "web-latency")
    assert group.alarms_enabled
    assert group.deployment_config == "CodeDeployDefault.ECSCanary10Percent5Minutes"
    assert group.auto_rollback_events == ("DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM")


def test_a_bare_deployment_group_gets_safe_defaults() -> None:
    # Given a group with no services, load balancer, alarms, rollback or config yet
    info = {"applicationName": "web-app", "deploymentGroupName": "web-dg"}

    # When it is read
    group = DeploymentGroup.from_api(info)

    # Then nothing is invented: empty names, no alarms, CodeDeploy's default config
    assert (group.cluster, group.service) == ("", "")
    assert group.target_groups == group.prod_listener_arns == group.test_listener_arns == ()
    assert group.alarms == ()
    assert not group.alarms_enabled
    assert group.deployment_config == "CodeDeployDefault.ECSAllAtOnce"
    assert group.auto_rollback_events == ()


def test_disabled_auto_rollback_has_no_events() -> None:
    info = {**GROUP_INFO, "autoRollbackConfiguration": {"enabled": False, "events": ["DEPLOYMENT_FAILURE"]}}

    assert DeploymentGroup.from_api(info).auto_rollback_events == ()


# -- Deployment.from_api -------------------------------------------------------------------------------------------
def test_a_failed_deployment_reads_its_error_rollback_times_and_appspec() -> None:
    failed = deployment()

    assert (failed.deployment_id, failed.application, failed.deployment_group) == ("d-ABC123DEF", "web-app", "web-dg")
    assert failed.status == "Failed"
    assert failed.creator == "user"
    assert failed.created_at == datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=UTC)
    assert failed.completed_at == datetime(2024, 5, 1, 10, 7, 30, tzinfo=UTC)
    assert failed.error_code == "HEALTH_CONSTRAINTS"
    assert failed.rollback_deployment_id == "d-ROLLBACK1"
    assert failed.rollback_triggering_deployment_id is None
    assert failed.appspec == APPSPEC
    assert failed.deployment_config == "CodeDeployDefault.ECSAllAtOnce"


def test_a_failed_deployment_is_terminal_with_its_error() -> None:
    failed = deployment()

    assert failed.is_terminal
    assert not failed.is_active
    assert not failed.is_rollback
    assert failed.error == "HEALTH_CONSTRAINTS: The deployment failed because a specified lifecycle event hook failed"


def test_codedeploys_rollback_deployment_is_a_rollback() -> None:
    rollback = deployment(
        deploymentId="d-ROLLBACK1",
        creator="codeDeployRollback",
        status="InProgress",
        errorInformation=None,
        rollbackInfo={"rollbackTriggeringDeploymentId": "d-ABC123DEF"},
        completeTime=None,
    )

    assert rollback.is_rollback
    assert rollback.is_active
    assert rollback.rollback_triggering_deployment_id == "d-ABC123DEF"
    assert rollback.rollback_deployment_id is None
    assert rollback.completed_at is None
    assert rollback.error is None


@pytest.mark.parametrize("status", ACTIVE_STATUSES)
def test_active_statuses(status: str) -> None:
    active = deployment(status=status)

    assert active.is_active
    assert not active.is_terminal


@pytest.mark.parametrize("status", TERMINAL_STATUSES)
def test_terminal_statuses(status: str) -> None:
    done = deployment(status=status)

    assert done.is_terminal
    assert not done.is_active


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ({"code": "ALARM_ACTIVE", "message": "Alarm web-5xx fired"}, "ALARM_ACTIVE: Alarm web-5xx fired"),
        ({"message": "stopped by the operator"}, "stopped by the operator"),
        ({"code": "", "message": "no code"}, "no code"),
        ({"code": "TIMEOUT"}, None),
        ({}, None),
    ],
)
def test_error_text(error: dict[str, str], expected: str | None) -> None:
    assert deployment(errorInformation=error).error == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, 0, tzinfo=UTC)),
        ("2024-05-01T10:00:00", datetime(2024, 5, 1, 10, 0, tzinfo=UTC)),
        ("not a time", None),
        ("", None),
        (1714557600, None),
    ],
)
def test_create_time_as_text_is_parsed_or_dropped(value: Any, expected: datetime | None) -> None:
    assert deployment(createTime=value).created_at == expected


def test_a_deployment_with_an_s3_revision_has_no_appspec() -> None:
    s3 = deployment(revision={"revisionType": "S3", "s3Location": {"bucket": "b", "key": "appspec.yaml"}})

    assert s3.appspec is None


def test_an_empty_answer_reads_as_empty_values() -> None:
    empty = Deployment.from_api({})

    assert (empty.deployment_id, empty.status) == ("", "")
    assert not empty.is_active
    assert not empty.is_terminal
    assert empty.appspec is None


# -- active_deployment_in ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("The Deployment Group 'web-dg' already has an active Deployment 'd-ABC123'", "d-ABC123"),
        (
            "An error occurred (DeploymentLimitExceededException) when calling the CreateDeployment operation: "
            "The Deployment Group 'web-dg' already has an active Deployment 'd-7XK2QF9AB'",
            "d-7XK2QF9AB",
        ),
        ("The Deployment Group 'web-dg' already has an active Deployment", None),
        ("Deployment limit exceeded", None),
        ("", None),
    ],
)
def test_active_deployment_in(message: str, expected: str | None) -> None:
    assert active_deployment_in(message) == expected


def test_a_deployment_says_what_pushdeploy_started_it_as() -> None:
    revert = Deployment.from_api({"deploymentId": "d-1", "description": "pushdeploy revert web v1.0.0 sha256:ab"})
    rollback = Deployment.from_api({"deploymentId": "d-2", "description": "pushdeploy operator-rollback web"})
    foreign = Deployment.from_api({"deploymentId": "d-3", "description": "deployed by hand"})

    assert (revert.started_as, rollback.started_as, foreign.started_as) == ("revert", "operator-rollback", None)
    assert Deployment.from_api({"deploymentId": "d-4"}).started_as is None
