"""pushdeploy.model.ecs_deployments: ECS's hook invocations (AWS's samples), answers, services and deployments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pushdeploy.model.deployments import Deployment
from pushdeploy.model.ecs_deployments import (
    EcsHookInvocation,
    ServiceDeployment,
    ServiceSetup,
    hook_response,
    parse_ecs_hook_invocation,
    parse_service_event,
)

from tests.helpers import ROOT, load_event

SAMPLES = ROOT.parent / "shared" / "aws-samples"
HOOK_SAMPLES = sorted(p.name for p in (ROOT / "events").glob("ecs-bg-hook-*.json"))
TARGET = "arn:aws:ecs:us-west-2:123456789012:service-revision/my-cluster/my-service/9313423515462893900"
SOURCE = "arn:aws:ecs:us-west-2:123456789012:service-revision/my-cluster/my-service/1920498462936580504"


def sample(name: str) -> Any:
    return json.loads(Path(SAMPLES / name).read_text())


@pytest.mark.parametrize("name", HOOK_SAMPLES)
def test_every_real_hook_invocation_sample_parses(name: str) -> None:
    event = load_event(name)

    invocation = parse_ecs_hook_invocation(event)

    assert isinstance(invocation, EcsHookInvocation), invocation
    assert invocation.stage == event["lifecycleStage"] and invocation.execution_id == event["executionId"]
    assert invocation.service_deployment_arn == event["resourceArn"]
    assert invocation.service_arn.endswith(":service/my-cluster/my-service")
    assert invocation.target_revision_arn == TARGET
    assert not invocation.is_rollback  # every sample is a deployment going forward


def test_hook_details_from_an_earlier_answer_come_back() -> None:
    invocation = parse_ecs_hook_invocation(load_event("ecs-bg-hook-post-test-traffic-shift-with-hookdetails.json"))

    assert isinstance(invocation, EcsHookInvocation)
    assert invocation.hook_details == {"approvalChecked": True, "S3_BUCKET_NAME": "my-approval-bucket"}


@pytest.mark.parametrize("weights", ["productionTrafficWeights", "testTrafficWeights"])
def test_a_recurring_stage_with_the_target_at_zero_is_a_rollback(weights: str) -> None:
    # ECS has no rollback stage: traffic flowing back shows as the target revision at 0 and another at 100
    event = load_event("ecs-bg-hook-production-traffic-shift.json")
    event["executionDetails"][weights] = {TARGET: 0, SOURCE: 100}

    invocation = parse_ecs_hook_invocation(event)

    assert isinstance(invocation, EcsHookInvocation) and invocation.is_rollback


def test_before_the_first_step_is_not_a_rollback() -> None:
    # PRE_PRODUCTION_TRAFFIC_SHIFT's sample has the target at 0 and the source at 100, going forward
    invocation = parse_ecs_hook_invocation(load_event("ecs-bg-hook-pre-production-traffic-shift.json"))

    assert isinstance(invocation, EcsHookInvocation) and not invocation.is_rollback


def test_weights_may_be_doubles() -> None:
    event = load_event("ecs-bg-hook-production-traffic-shift.json")
    event["executionDetails"]["productionTrafficWeights"] = {TARGET: 12.5, SOURCE: 87.5}

    invocation = parse_ecs_hook_invocation(event)

    assert isinstance(invocation, EcsHookInvocation) and invocation.production_weights[TARGET] == 12.5


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda e: e.pop("executionDetails"), "no executionDetails"),
        (lambda e: e.update(lifecycleStage="ROLLBACK"), "not one of ECS's hookable stages"),
        (lambda e: e.update(resourceArn=""), "lacks resourceArn"),
        (lambda e: e["executionDetails"].pop("targetServiceRevisionArn"), "targetServiceRevisionArn"),
        (lambda e: e["executionDetails"].update(productionTrafficWeights={TARGET: "all"}), "numbers"),
        (lambda e: e.update(hookDetails=["x"]), "hookDetails must be an object"),
    ],
)
def test_an_unusable_invocation_says_what_is_wrong(change: Any, problem: str) -> None:
    event = load_event("ecs-bg-hook-production-traffic-shift.json")
    change(event)

    outcome = parse_ecs_hook_invocation(event)

    assert isinstance(outcome, str) and problem in outcome


def test_the_flat_payload_of_the_old_docs_is_refused() -> None:
    # contracts 8.3: the real payload nests these under executionDetails
    flat = {"serviceArn": "arn:...", "targetServiceRevisionArn": TARGET, "testTrafficWeights": {}}

    assert "no executionDetails" in str(parse_ecs_hook_invocation(flat))


@pytest.mark.parametrize(
    ("answer", "name"),
    [
        (hook_response("SUCCEEDED"), "ecs-bg-hook-response-succeeded.json"),
        (hook_response("FAILED"), "ecs-bg-hook-response-failed.json"),
        (hook_response("IN_PROGRESS", callback_delay=60), "ecs-bg-hook-response-in-progress-callbackdelay.json"),
        (
            hook_response(
                "IN_PROGRESS",
                callback_delay=30,
                hook_details={"approvalChecked": True, "S3_BUCKET_NAME": "my-approval-bucket"},
            ),
            "ecs-bg-hook-response-in-progress-hookdetails.json",
        ),
    ],
)
def test_answers_have_the_shape_of_awss_samples(answer: dict[str, Any], name: str) -> None:
    expected = sample(name)

    assert set(answer) == set(expected)
    assert answer["hookStatus"] == expected["hookStatus"]


def test_a_native_service_says_how_it_deploys() -> None:
    hook = sample("ecs-bg-lifecycle-hook-lambda.config.json")
    service = {
        "serviceArn": "arn:aws:ecs:us-west-2:123456789012:service/my-cluster/my-service",
        "serviceName": "my-service",
        "clusterArn": "arn:aws:ecs:us-west-2:123456789012:cluster/my-cluster",
        "taskDefinition": "arn:aws:ecs:us-west-2:123456789012:task-definition/web:7",
        "desiredCount": 2,
        "deploymentController": {"type": "ECS"},
        "deploymentConfiguration": {
            "strategy": "LINEAR",
            "bakeTimeInMinutes": 15,
            "linearConfiguration": {"stepPercent": 20.0, "stepBakeTimeInMinutes": 5},
            "alarms": {"alarmNames": ["web-5xx"], "enable": True, "rollback": True},
            "lifecycleHooks": [hook],
        },
        "loadBalancers": [
            {
                "targetGroupArn": "arn:blue",
                "advancedConfiguration": {
                    "alternateTargetGroupArn": "arn:green",
                    "productionListenerRule": "arn:prod-rule",
                    "testListenerRule": "arn:test-rule",
                    "roleArn": "arn:elb-role",
                },
            }
        ],
    }

    setup = ServiceSetup.from_api(service)

    assert (setup.kind, setup.cluster, setup.service, setup.bake_minutes) == ("LINEAR", "my-cluster", "my-service", 15)
    assert setup.alarms == ("web-5xx",) and setup.alarms_enabled and setup.alarm_rollback
    assert setup.hook_functions == (hook["hookTargetArn"],)
    assert setup.load_balancing[0].alternate_target_group_arn == "arn:green"


@pytest.mark.parametrize(
    ("controller", "strategy", "kind"),
    [
        ("CODE_DEPLOY", None, "CODE_DEPLOY"),
        ("ECS", None, "ROLLING"),
        ("ECS", "CANARY", "CANARY"),
        (None, None, "ROLLING"),
    ],
)
def test_the_controller_and_strategy_decide_the_kind(controller: str | None, strategy: str | None, kind: str) -> None:
    service: dict[str, Any] = {"serviceArn": "arn:aws:ecs:r:1:service/c/s", "deploymentConfiguration": {}}
    if controller:
        service["deploymentController"] = {"type": controller}
    if strategy:
        service["deploymentConfiguration"]["strategy"] = strategy

    assert ServiceSetup.from_api(service).kind == kind


def test_a_rolled_back_service_deployment_is_one_deployment_turned_round() -> None:
    deployment = ServiceDeployment.from_api(
        {
            "serviceDeploymentArn": "arn:aws:ecs:r:1:service-deployment/c/s/abc",
            "serviceArn": "arn:aws:ecs:r:1:service/c/s",
            "status": "ROLLBACK_IN_PROGRESS",
            "targetServiceRevision": {"arn": TARGET, "requestedTaskCount": 2, "runningTaskCount": 1},
            "sourceServiceRevisions": [{"arn": SOURCE}],
            "rollback": {"reason": "hook failed", "serviceRevisionArn": SOURCE},
            "createdAt": "2026-12-01T12:00:00Z",
        }
    )

    assert deployment.is_active and deployment.rolled_back and deployment.rollback_reason == "hook failed"
    assert deployment.source_revision_arns == (SOURCE,) and deployment.created_at is not None


def service_deployment(status: str, reason: str = "", **fields: Any) -> ServiceDeployment:
    return ServiceDeployment.from_api(
        {
            "serviceDeploymentArn": "arn:aws:ecs:r:1:service-deployment/c/s/abc",
            "status": status,
            "statusReason": reason,
            "targetServiceRevision": {"arn": TARGET},
            "createdAt": "2026-12-01T12:00:00Z",
            "finishedAt": "2026-12-01T12:20:00Z",
            **fields,
        }
    )


TRIGGERED = {
    "alarms": {"status": "TRIGGERED", "alarmNames": ["web-5xx", "web-p99"], "triggeredAlarmNames": ["web-5xx"]}
}
WATCHED = {"alarms": {"status": "MONITORING_COMPLETE", "alarmNames": ["web-5xx"]}}
BREAKER = {"deploymentCircuitBreaker": {"status": "TRIGGERED", "failureCount": 3, "threshold": 3}}
HOOK_FAILED = {
    "lifecycleHookDetails": [{"hookId": "h", "targetArn": "arn:aws:lambda:r:1:function:hook", "status": "FAILED"}]
}


@pytest.mark.parametrize(
    ("status", "reason", "fields", "expected"),
    [
        ("PENDING", "", {}, ("InProgress", None)),
        ("IN_PROGRESS", "", {}, ("InProgress", None)),
        ("ROLLBACK_IN_PROGRESS", "", HOOK_FAILED, ("InProgress", None)),  # turning round: not over yet
        ("SUCCESSFUL", "", WATCHED, ("Succeeded", None)),
        ("ROLLBACK_SUCCESSFUL", "anything at all", HOOK_FAILED, ("Failed", "HOOK_EXECUTION_FAILURE")),
        ("ROLLBACK_SUCCESSFUL", "stopped (says the text)", BREAKER, ("Failed", "ECS_CIRCUIT_BREAKER")),
        ("ROLLBACK_SUCCESSFUL", "", TRIGGERED, ("Stopped", "ALARM_ACTIVE")),  # ECS's own alarm rollback
        ("ROLLBACK_SUCCESSFUL", "an alarm was mentioned", WATCHED, ("Stopped", "ECS_STOPPED")),  # a stop request
        ("STOPPED", "", TRIGGERED, ("Stopped", "ALARM_ACTIVE")),  # alarms without rollback stop it
        ("STOPPED", "a newer deployment started", {}, ("Stopped", "ECS_STOPPED")),
        ("ROLLBACK_FAILED", "could not roll back", {}, ("Failed", "ECS_ROLLBACK_FAILED")),
    ],
)
def test_a_service_deployment_reads_as_the_state_machines_status_from_ecss_fields_never_its_text(
    status: str, reason: str, fields: dict[str, Any], expected: tuple[str, str | None]
) -> None:
    deployment = Deployment.from_service_deployment(service_deployment(status, reason, **fields))

    assert (deployment.status, deployment.error_code) == expected
    assert deployment.deployment_id.endswith("service-deployment/c/s/abc") and not deployment.is_rollback


def test_an_alarm_rollback_names_the_alarms_ecs_says_triggered_as_codedeploy_does() -> None:
    deployment = Deployment.from_service_deployment(service_deployment("ROLLBACK_SUCCESSFUL", "", **TRIGGERED))

    assert deployment.stopped_by_alarm and deployment.activated_alarms == ("web-5xx",)


def test_a_deployment_turning_round_is_marked_so() -> None:
    assert Deployment.from_service_deployment(service_deployment("ROLLBACK_REQUESTED")).turning_back
    assert not Deployment.from_service_deployment(service_deployment("IN_PROGRESS")).turning_back


@pytest.mark.parametrize("state", ["in-progress", "rollback-in-progress", "completed", "failed"])
def test_ecs_deployment_events_name_the_service_to_look_at(state: str) -> None:
    event = parse_service_event(load_event(f"ecs-deployment-state-change-{state}.json"))

    assert event is not None and event.service_arn == "arn:aws:ecs:us-west-2:111122223333:service/default/servicetest"
    assert event.name.startswith("SERVICE_DEPLOYMENT_")


def test_other_events_are_not_ecs_deployment_events() -> None:
    assert parse_service_event(load_event("codedeploy-deployment-state-change.json")) is None
    assert parse_service_event(load_event("ecs-hook-state-change-awaiting-action.json")) is None
    unusable = load_event("ecs-deployment-state-change-completed.json") | {"resources": []}
    assert "naming no service" in str(
        parse_service_event(unusable)
    )  # kept as unprocessable, never taken as CodeDeploy's


def test_a_turned_round_deployment_our_hook_failed_reads_as_failed() -> None:
    # ECS's hook details show only the stage it is in now: the ledger's verdict explains the rollback
    stopped = Deployment.from_service_deployment(service_deployment("ROLLBACK_SUCCESSFUL"))

    failed = stopped.explained_by("POST_TEST_TRAFFIC_SHIFT hook failed: smoke GET /health: 500")

    assert (failed.status, failed.error_code) == ("Failed", "HOOK_EXECUTION_FAILURE")
    assert stopped.explained_by(None) is stopped
    alarmed = Deployment.from_service_deployment(service_deployment("ROLLBACK_SUCCESSFUL", **TRIGGERED))
    assert alarmed.explained_by("a hook failed too").stopped_by_alarm  # ECS's own alarm field wins
