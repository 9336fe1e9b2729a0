"""The five lifecycle hooks, driven by AWS's hook invocation sample, over moto and the CodeDeploy emulator."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pushdeploy import aws, clock
from pushdeploy.model.events import HookInvocation
from pushdeploy.settings import CONTINUATION_VARIABLES
from pushdeploy_local.emulator import ecs as ecs_scheduler
from pushdeploy_local.emulator.ecr import BlobServer, publish_image, serve_layer_downloads
from pushdeploy_local.world.apps import LocalApp, smoke_answers

from tests.helpers import REGION, FakeClock, LambdaContext, ledger, load_event, load_handler, push_event

REPO = "my-repository-name"


@pytest.fixture
def blobs(world: Any) -> Iterator[BlobServer]:
    server = BlobServer()
    serve_layer_downloads(server)
    yield server
    server.close()


def start_deployment(
    world: Any, lambda_context: Any, *, digest: str, tag: str = "v2.0.0", target_changes: dict[str, Any] | None = None
) -> str:
    if target_changes:
        world.put_target({**world.target_document(), **target_changes})
    [result] = load_handler("deployer").lambda_handler(push_event(tag=tag, digest=digest), lambda_context)["results"]
    assert result["outcome"] == "deployed", result
    return str(result["deployment_id"])


def invoke_hook(
    stage: str, deployment_id: str, codedeploy: Any, monkeypatch: pytest.MonkeyPatch, timeout_ms: int = 30_000
) -> tuple[dict[str, Any], str]:
    """Open the lifecycle event as CodeDeploy does, invoke the hook with the real sample's shape."""
    execution_id = codedeploy.open_hook(deployment_id, stage)
    event = load_event("codedeploy-lifecycle-hook-invocation.json")
    event.update(DeploymentId=deployment_id, LifecycleEventHookExecutionId=execution_id)
    monkeypatch.setenv("PUSHDEPLOY_HOOK_STAGE", stage)
    verdict = load_handler("hooks").lambda_handler(event, LambdaContext(f"CodeDeployHook_test-{stage}", timeout_ms))
    return verdict, codedeploy.event_status(deployment_id, stage)


def install_replacement(
    world: Any, deployment_id: str, codedeploy: Any, *, running: int, desired: int = 2
) -> dict[str, Any]:
    """What CodeDeploy's Install does: a task set for the new task definition on the second target group."""
    import json

    content = codedeploy.deployments[deployment_id]["revision"]["appSpecContent"]["content"]
    task_definition = json.loads(content)["Resources"][0]["TargetService"]["Properties"]["TaskDefinition"]
    green = world.target_group_arns["sample-app-green"]
    task_set = aws.client("ecs").create_task_set(
        cluster="sample-cluster",
        service="sample-app",
        taskDefinition=task_definition,
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {"subnets": world.subnets, "securityGroups": [world.security_group]}
        },
        loadBalancers=[{"targetGroupArn": green, "containerName": "web", "containerPort": 8080}],
        scale={"value": 100, "unit": "PERCENT"},
    )["taskSet"]
    ecs_scheduler.set_counts(REGION, "sample-cluster", "sample-app", task_set["id"], desired=desired, running=running)
    return dict(task_set)


# -- BeforeInstall -----------------------------------------------------------------------------------------
def test_before_install_passes_for_an_existing_image_of_the_right_architecture(
    world, codedeploy, blobs, lambda_context, monkeypatch
):
    image = publish_image(
        aws.client("ecr"), REPO, "v2.0.0", architectures=("arm64", "amd64"), as_index=True, blobs=blobs
    )
    deployment_id = start_deployment(world, lambda_context, digest=image.digest)

    verdict, status = invoke_hook("BeforeInstall", deployment_id, codedeploy, monkeypatch)

    assert status == "Succeeded", verdict["reason"]
    checks = {c["name"]: c for c in verdict["checks"]}
    assert checks["image-exists"]["passed"]
    assert checks["image-architecture"]["value"] == ["amd64", "arm64"]
    assert checks["container-and-port"]["passed"]
    release = ledger().release_by_deployment(deployment_id)
    assert release is not None and release.hooks["BeforeInstall"]["status"] == "Succeeded"
    assert {c["name"] for c in release.hooks["BeforeInstall"]["checks"]} >= {"image-exists", "image-architecture"}


def test_before_install_fails_when_the_image_does_not_exist(world, codedeploy, lambda_context, monkeypatch):
    deployment_id = start_deployment(world, lambda_context, digest="sha256:" + "9" * 64)

    verdict, status = invoke_hook("BeforeInstall", deployment_id, codedeploy, monkeypatch)

    assert status == "Failed"
    assert "image-exists" in verdict["reason"] and "does not exist" in verdict["reason"]


def test_before_install_fails_on_an_architecture_mismatch_read_from_the_config_blob(
    world, codedeploy, blobs, lambda_context, monkeypatch
):
    image = publish_image(aws.client("ecr"), REPO, "v2.0.0", architectures=("amd64",), blobs=blobs)
    deployment_id = start_deployment(world, lambda_context, digest=image.digest)

    verdict, status = invoke_hook("BeforeInstall", deployment_id, codedeploy, monkeypatch)

    assert status == "Failed"
    assert "image-architecture" in verdict["reason"] and "linux/amd64" in verdict["reason"]


def test_before_install_fails_when_scan_findings_exceed_the_limits(
    world, codedeploy, blobs, lambda_context, monkeypatch
):
    image = publish_image(aws.client("ecr"), REPO, "v2.0.0", architectures=("arm64",), as_index=True, blobs=blobs)
    deployment_id = start_deployment(
        world,
        lambda_context,
        digest=image.digest,
        target_changes={"checks": {"before_install": {"max_findings": {"HIGH": 1}}}},
    )
    ecr = aws.client("ecr")

    class WithFindings:
        def describe_images(self, **kwargs: Any) -> dict[str, Any]:
            response = ecr.describe_images(**kwargs)
            for detail in response["imageDetails"]:  # moto has no scanner: the summary AWS would return
                detail["imageScanFindingsSummary"] = {"findingSeverityCounts": {"HIGH": 3, "LOW": 12}}
            return dict(response)

        def __getattr__(self, name: str) -> Any:
            return getattr(ecr, name)

    aws.use_client("ecr", WithFindings())

    verdict, status = invoke_hook("BeforeInstall", deployment_id, codedeploy, monkeypatch)

    assert status == "Failed"
    assert "HIGH 3 > 1" in verdict["reason"]


def test_before_install_fails_when_the_appspec_port_is_not_mapped(
    world, codedeploy, blobs, lambda_context, monkeypatch
):
    image = publish_image(aws.client("ecr"), REPO, "v2.0.0", as_index=True, blobs=blobs)
    deployment_id = start_deployment(
        world, lambda_context, digest=image.digest, target_changes={"container_port": 9090}
    )

    verdict, status = invoke_hook("BeforeInstall", deployment_id, codedeploy, monkeypatch)

    assert status == "Failed"
    assert "container-and-port" in verdict["reason"] and "9090" in verdict["reason"]


def test_before_install_warnings_are_recorded_without_failing_unless_configured(
    world, codedeploy, blobs, lambda_context, monkeypatch
):
    aws.client("ecs").update_service(cluster="sample-cluster", service="sample-app", desiredCount=1)
    image = publish_image(aws.client("ecr"), REPO, "v2.0.0", as_index=True, blobs=blobs)
    deployment_id = start_deployment(world, lambda_context, digest=image.digest)

    verdict, status = invoke_hook("BeforeInstall", deployment_id, codedeploy, monkeypatch)

    assert status == "Succeeded"
    assert "warnings: desired-count" in verdict["reason"]


# -- AfterInstall ------------------------------------------------------------------------------------------
def test_after_install_passes_when_the_replacement_runs_its_desired_count(
    world, codedeploy, lambda_context, monkeypatch
):
    deployment_id = start_deployment(world, lambda_context, digest="sha256:" + "a" * 64)
    install_replacement(world, deployment_id, codedeploy, running=2)

    verdict, status = invoke_hook("AfterInstall", deployment_id, codedeploy, monkeypatch)

    assert status == "Succeeded", verdict["reason"]
    assert verdict["checks"][0]["value"] == 2


def test_after_install_reports_the_stopped_reason_verbatim(world, codedeploy, lambda_context, monkeypatch):
    deployment_id = start_deployment(world, lambda_context, digest="sha256:" + "a" * 64)
    task_set = install_replacement(world, deployment_id, codedeploy, running=0)
    reason = (
        "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref "
        "my-repository-name@sha256:aaaa: not found"
    )
    ecs_scheduler.stop_tasks(aws.client("ecs"), "sample-cluster", task_set, reason, count=2)

    verdict, status = invoke_hook("AfterInstall", deployment_id, codedeploy, monkeypatch)

    assert status == "Failed"
    assert reason in verdict["reason"]


# -- AfterAllowTestTraffic ----------------------------------------------------------------------------------
@pytest.fixture
def app() -> Iterator[LocalApp]:
    server = LocalApp("green", "healthy", version="v2.0.0", slow_seconds=0.4)
    server.answers = smoke_answers(smoke_target(server))  # it answers the smoke paths as their checks expect
    yield server
    server.close()


def smoke_target(app: LocalApp, **overrides: Any) -> dict[str, Any]:
    smoke = {
        "base_url": app.url,
        "attempts": 2,
        "backoff_seconds": 0.05,
        "timeout_seconds": 2,
        "requests": [
            {"path": "/health", "expect_status": [200], "max_latency_ms": 300, "body_contains": "ok"},
            {"path": "/admin", "expect_status": [301]},
        ],
    }
    smoke.update(overrides)
    return {"checks": {"after_allow_test_traffic": smoke}}


def test_smoke_passes_against_a_healthy_app_including_an_expected_redirect(
    world, codedeploy, app, lambda_context, monkeypatch
):
    deployment_id = start_deployment(
        world, lambda_context, digest="sha256:" + "a" * 64, target_changes=smoke_target(app)
    )

    verdict, status = invoke_hook("AfterAllowTestTraffic", deployment_id, codedeploy, monkeypatch)

    assert status == "Succeeded", verdict["reason"]
    assert [c["value"]["status"] for c in verdict["checks"]] == [200, 301]


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [("failing-smoke", "status 500, expected [200]"), ("slow", "over 300 ms")],
)
def test_smoke_fails_on_status_and_latency(world, codedeploy, app, lambda_context, monkeypatch, behaviour, expected):
    app.behaviour = behaviour
    deployment_id = start_deployment(
        world, lambda_context, digest="sha256:" + "a" * 64, target_changes=smoke_target(app)
    )

    verdict, status = invoke_hook("AfterAllowTestTraffic", deployment_id, codedeploy, monkeypatch)

    assert status == "Failed"
    assert expected in verdict["reason"] and "after 2 attempt(s)" in verdict["reason"]


def test_smoke_body_match_and_retries_until_the_app_recovers(world, codedeploy, app, lambda_context, monkeypatch):
    app.behaviour = "failing-smoke"
    deployment_id = start_deployment(
        world,
        lambda_context,
        digest="sha256:" + "a" * 64,
        target_changes=smoke_target(app, attempts=4, backoff_seconds=0.2),
    )
    threading_timer = __import__("threading").Timer(0.25, lambda: setattr(app, "behaviour", "healthy"))
    threading_timer.start()

    verdict, status = invoke_hook("AfterAllowTestTraffic", deployment_id, codedeploy, monkeypatch)

    assert status == "Succeeded", verdict["reason"]
    assert "attempt 1)" not in verdict["checks"][0]["message"]
    wrong_body = {"requests": [{"path": "/health", "body_contains": "v9.9.9"}]}
    world.put_target({**world.target_document(), **smoke_target(app, **wrong_body)})
    codedeploy.finish(deployment_id, "Succeeded")
    second = start_deployment(world, lambda_context, digest="sha256:" + "c" * 64, tag="v2.0.1")
    verdict, status = invoke_hook("AfterAllowTestTraffic", second, codedeploy, monkeypatch)
    assert status == "Failed" and "body does not contain 'v9.9.9'" in verdict["reason"]


def test_smoke_without_a_test_listener_succeeds_with_a_note(world, codedeploy, lambda_context, monkeypatch):
    group = codedeploy.groups[("sample-app", "sample-app-prod")]
    group["loadBalancerInfo"]["targetGroupPairInfoList"][0].pop("testTrafficRoute")
    deployment_id = start_deployment(world, lambda_context, digest="sha256:" + "a" * 64)

    verdict, status = invoke_hook("AfterAllowTestTraffic", deployment_id, codedeploy, monkeypatch)

    assert status == "Succeeded"
    assert "no test listener" in verdict["checks"][0]["message"]


def test_smoke_derives_the_url_from_the_test_listener(world, codedeploy, lambda_context, monkeypatch):
    deployment_id = start_deployment(
        world,
        lambda_context,
        digest="sha256:" + "a" * 64,
        target_changes={"checks": {"after_allow_test_traffic": {"attempts": 1, "timeout_seconds": 0.5}}},
    )

    verdict, status = invoke_hook("AfterAllowTestTraffic", deployment_id, codedeploy, monkeypatch)

    assert status == "Failed"  # moto's load balancer DNS name does not resolve here: the URL is what matters
    assert f"http://{world.load_balancer_dns}:8080/" in verdict["reason"]


# -- BeforeAllowTraffic -------------------------------------------------------------------------------------
def test_before_allow_traffic_passes_when_every_replacement_target_is_healthy(
    world, codedeploy, lambda_context, monkeypatch
):
    deployment_id = start_deployment(world, lambda_context, digest="sha256:" + "a" * 64)
    install_replacement(world, deployment_id, codedeploy, running=2)
    aws.client("elbv2").register_targets(
        TargetGroupArn=world.target_group_arns["sample-app-green"],
        Targets=[{"Id": "10.20.0.11", "Port": 8080}, {"Id": "10.20.1.12", "Port": 8080}],
    )

    verdict, status = invoke_hook("BeforeAllowTraffic", deployment_id, codedeploy, monkeypatch)

    assert status == "Succeeded", verdict["reason"]


def test_before_allow_traffic_fails_when_fewer_targets_are_healthy_than_desired(
    world, codedeploy, lambda_context, monkeypatch
):
    deployment_id = start_deployment(
        world,
        lambda_context,
        digest="sha256:" + "a" * 64,
        target_changes={"checks": {"before_allow_traffic": {"timeout_seconds": 1}}},
    )
    install_replacement(world, deployment_id, codedeploy, running=2)
    aws.client("elbv2").register_targets(
        TargetGroupArn=world.target_group_arns["sample-app-green"], Targets=[{"Id": "10.20.0.11", "Port": 8080}]
    )

    verdict, status = invoke_hook("BeforeAllowTraffic", deployment_id, codedeploy, monkeypatch)

    assert status == "Failed"
    assert "1 healthy, 2 wanted" in verdict["reason"]


# -- AfterAllowTraffic ---------------------------------------------------------------------------------------
def bake_target(**overrides: Any) -> dict[str, Any]:
    bake = {"bake_seconds": 1, "max_5xx_rate": 0.05, "max_latency_ms": 500, "latency_statistic": "Maximum"}
    bake.update(overrides)
    return {"checks": {"after_allow_traffic": bake}}


def put_tg_metrics(world: Any, *, requests: int, errors: int, latency_s: float) -> None:
    tg = world.target_group_arns["sample-app-green"].split(":")[-1]
    lb = world.load_balancer_arn.split(":loadbalancer/")[-1]
    dims = [{"Name": "TargetGroup", "Value": tg}, {"Name": "LoadBalancer", "Value": lb}]
    now = datetime.now(UTC)
    aws.client("cloudwatch").put_metric_data(
        Namespace="AWS/ApplicationELB",
        MetricData=[
            {"MetricName": "RequestCount", "Dimensions": dims, "Value": requests, "Timestamp": now},
            {"MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": dims, "Value": errors, "Timestamp": now},
            {"MetricName": "TargetResponseTime", "Dimensions": dims, "Value": latency_s, "Timestamp": now},
        ],
    )


def test_bake_passes_with_quiet_alarms_and_good_metrics(world, codedeploy, lambda_context, monkeypatch):
    deployment_id = start_deployment(world, lambda_context, digest="sha256:" + "a" * 64, target_changes=bake_target())
    install_replacement(world, deployment_id, codedeploy, running=2)
    put_tg_metrics(world, requests=1000, errors=3, latency_s=0.12)

    verdict, status = invoke_hook("AfterAllowTraffic", deployment_id, codedeploy, monkeypatch)

    assert status == "Succeeded", verdict["reason"]
    checks = {c["name"]: c for c in verdict["checks"]}
    assert checks["5xx-rate"]["value"] == 0.003 and checks["Maximum-latency"]["value"] == 120.0


@pytest.mark.parametrize(
    ("errors", "latency_s", "expected"),
    [(200, 0.1, "5xx-rate: 200 5xx of 1000 requests"), (0, 1.5, "Maximum-latency: Maximum target response time 1500")],
)
def test_bake_fails_on_5xx_rate_or_latency(world, codedeploy, lambda_context, monkeypatch, errors, latency_s, expected):
    deployment_id = start_deployment(world, lambda_context, digest="sha256:" + "a" * 64, target_changes=bake_target())
    install_replacement(world, deployment_id, codedeploy, running=2)
    put_tg_metrics(world, requests=1000, errors=errors, latency_s=latency_s)

    verdict, status = invoke_hook("AfterAllowTraffic", deployment_id, codedeploy, monkeypatch)

    assert status == "Failed"
    assert expected in verdict["reason"]


def test_bake_fails_when_a_watched_alarm_fires_during_the_bake(world, codedeploy, lambda_context, monkeypatch):
    deployment_id = start_deployment(
        world, lambda_context, digest="sha256:" + "a" * 64, target_changes=bake_target(bake_seconds=5)
    )
    install_replacement(world, deployment_id, codedeploy, running=2)
    cloudwatch = aws.client("cloudwatch")
    timer = __import__("threading").Timer(
        0.3,
        lambda: cloudwatch.set_alarm_state(
            AlarmName="sample-app-5xx", StateValue="ALARM", StateReason="Threshold Crossed: 42 > 5"
        ),
    )
    timer.start()
    started = time.monotonic()

    verdict, status = invoke_hook("AfterAllowTraffic", deployment_id, codedeploy, monkeypatch)

    assert status == "Failed"
    assert "alarm sample-app-5xx is in ALARM: Threshold Crossed: 42 > 5" in verdict["reason"]
    assert time.monotonic() - started < 5  # stopped at the alarm, not at the end of the bake


def test_bake_ignores_an_alarm_already_in_alarm_before_the_deployment(world, codedeploy, lambda_context, monkeypatch):
    aws.client("cloudwatch").set_alarm_state(AlarmName="sample-app-5xx", StateValue="ALARM", StateReason="old")
    time.sleep(0.01)
    deployment_id = start_deployment(world, lambda_context, digest="sha256:" + "a" * 64, target_changes=bake_target())
    install_replacement(world, deployment_id, codedeploy, running=2)
    codedeploy.deployments[deployment_id]["createTime"] = datetime.now(UTC) + timedelta(seconds=1)

    verdict, status = invoke_hook("AfterAllowTraffic", deployment_id, codedeploy, monkeypatch)

    assert status == "Succeeded", verdict["reason"]
    assert "ignored (already in ALARM before the deployment): ['sample-app-5xx']" in verdict["checks"][0]["message"]


# -- whatever goes wrong, exactly one report ------------------------------------------------------------------
def test_an_exception_in_a_check_reports_failed_with_the_reason(world, codedeploy, lambda_context, monkeypatch):
    deployment_id = start_deployment(world, lambda_context, digest="sha256:" + "a" * 64)
    from pushdeploy.checks import after_install

    def explode(ctx: Any) -> Any:
        raise RuntimeError("ECS said no")

    monkeypatch.setattr(after_install, "run", explode)

    verdict, status = invoke_hook("AfterInstall", deployment_id, codedeploy, monkeypatch)

    assert status == "Failed"
    assert verdict["reason"] == "RuntimeError: ECS said no"


def test_a_hanging_check_reports_failed_within_the_budget(world, codedeploy, lambda_context, monkeypatch):
    deployment_id = start_deployment(world, lambda_context, digest="sha256:" + "a" * 64)
    from pushdeploy.checks import target_health

    monkeypatch.setattr(target_health, "run", lambda ctx: time.sleep(30))
    started = time.monotonic()

    verdict, status = invoke_hook("BeforeAllowTraffic", deployment_id, codedeploy, monkeypatch, timeout_ms=6_500)

    assert status == "Failed"
    assert "did not finish within the function's time budget" in verdict["reason"]
    assert time.monotonic() - started < 6.5


def test_a_wait_that_outlasts_the_invocation_without_a_schedule_group_reports_failed(
    world, codedeploy, lambda_context, monkeypatch, virtual_time
):
    deployment_id = start_deployment(world, lambda_context, digest="sha256:" + "a" * 64)
    install_replacement(world, deployment_id, codedeploy, running=0)

    verdict, status = invoke_hook("AfterInstall", deployment_id, codedeploy, monkeypatch, timeout_ms=30_000)

    assert status == "Failed"  # this function has no schedule group: it cannot carry the wait on, so it says so
    assert "waited 25s of 10m" in verdict["reason"] and "cannot carry on" in verdict["reason"]  # 30 s less 5 kept


def test_an_unknown_deployment_reports_failed(world, codedeploy, lambda_context, monkeypatch):
    deployment_id = start_deployment(world, lambda_context, digest="sha256:" + "a" * 64)
    execution_id = codedeploy.open_hook(deployment_id, "BeforeInstall")
    monkeypatch.setenv("PUSHDEPLOY_HOOK_STAGE", "BeforeInstall")
    original = codedeploy.get_deployment

    def vanished(deploymentId: str) -> Any:
        if deploymentId == deployment_id:
            from botocore.exceptions import ClientError

            raise ClientError(
                {"Error": {"Code": "DeploymentDoesNotExistException", "Message": "gone"}}, "GetDeployment"
            )
        return original(deploymentId=deploymentId)

    monkeypatch.setattr(codedeploy, "get_deployment", vanished)
    verdict = load_handler("hooks").lambda_handler(
        {"DeploymentId": deployment_id, "LifecycleEventHookExecutionId": execution_id}, lambda_context
    )

    assert verdict["status"] == "Failed" and "gone" in verdict["reason"]
    assert codedeploy.event_status(deployment_id, "BeforeInstall") == "Failed"


def test_a_target_with_bad_config_reports_failed(world, codedeploy, lambda_context, monkeypatch):
    deployment_id = start_deployment(world, lambda_context, digest="sha256:" + "a" * 64)
    world.put_target({**world.target_document(), "on_busy": "wait-forever"})

    verdict, status = invoke_hook("BeforeInstall", deployment_id, codedeploy, monkeypatch)

    assert status == "Failed"
    assert "target configuration is invalid" in verdict["reason"] and "on_busy" in verdict["reason"]


def test_a_second_report_is_treated_as_done(world, codedeploy, lambda_context, monkeypatch):
    deployment_id = start_deployment(world, lambda_context, digest="sha256:" + "a" * 64)
    execution_id = codedeploy.open_hook(deployment_id, "AfterInstall")
    codedeploy.put_lifecycle_event_hook_execution_status(
        deploymentId=deployment_id, lifecycleEventHookExecutionId=execution_id, status="Failed"
    )
    monkeypatch.setenv("PUSHDEPLOY_HOOK_STAGE", "AfterInstall")

    verdict = load_handler("hooks").lambda_handler(
        {"DeploymentId": deployment_id, "LifecycleEventHookExecutionId": execution_id}, lambda_context
    )

    assert verdict["reported"] is True
    assert codedeploy.event_status(deployment_id, "AfterInstall") == "Failed"  # the first report stands


def test_hooks_refuse_to_report_for_an_application_no_target_names(world, codedeploy, lambda_context, monkeypatch):
    codedeploy.create_application(applicationName="someone-elses-app")
    info = codedeploy.get_deployment_group(applicationName="sample-app", deploymentGroupName="sample-app-prod")
    codedeploy.create_deployment_group(
        applicationName="someone-elses-app",
        deploymentGroupName="theirs",
        ecsServices=info["deploymentGroupInfo"]["ecsServices"],
    )
    foreign = codedeploy.create_deployment(
        applicationName="someone-elses-app",
        deploymentGroupName="theirs",
        revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": "{}"}},
    )["deploymentId"]

    verdict, status = invoke_hook("BeforeInstall", foreign, codedeploy, monkeypatch)

    assert verdict["status"] is None and verdict["reported"] is False
    assert status == "InProgress"  # untouched: pushdeploy does not vouch for it
    assert "no target names someone-elses-app/theirs" in ledger().unprocessable()[0]["reason"]


def test_a_rollback_deployment_is_never_blocked(world, codedeploy, lambda_context, monkeypatch):
    deployment_id = start_deployment(world, lambda_context, digest="sha256:" + "a" * 64)
    rollback = codedeploy.finish(deployment_id, "Stopped", rollback=True)

    verdict, status = invoke_hook("BeforeInstall", rollback["deploymentId"], codedeploy, monkeypatch)

    assert status == "Succeeded" and "never block a rollback" in verdict["reason"]


def test_an_invocation_without_ids_is_kept_and_not_reported(world, codedeploy, lambda_context, monkeypatch):
    monkeypatch.setenv("PUSHDEPLOY_HOOK_STAGE", "BeforeInstall")

    verdict = load_handler("hooks").lambda_handler({"DeploymentId": "d-ABCDEF"}, lambda_context)

    assert verdict["status"] is None
    assert "LifecycleEventHookExecutionId" in ledger().unprocessable()[0]["reason"]


def test_an_ecs_hook_invocation_without_its_deployment_answers_failed_and_is_kept(world, lambda_context):
    # ECS reads a raised exception as "HookStatus must not be null": every unusable payload still gets an answer
    event = load_event("ecs-bg-hook-post-scale-up.json")
    del event["resourceArn"]

    answer = load_handler("ecs_hooks").lambda_handler(event, lambda_context)

    assert answer == {"hookStatus": "FAILED"}
    kept = ledger().unprocessable()[0]
    assert kept["function"] == "ecs-hook" and "resourceArn" in kept["reason"]


# -- checks that outlast one invocation ------------------------------------------------------------------------
@pytest.fixture
def continuations(principals: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The long hooks' continuation settings as template.yaml renders them, and the stack's schedule group."""
    rendered = dict(principals["CodeDeployHook_pushdeploy-test-AfterAllowTraffic"].environment)
    for variable in CONTINUATION_VARIABLES:
        monkeypatch.setenv(variable, rendered[variable])
    aws.client("scheduler").create_schedule_group(Name=rendered["PUSHDEPLOY_CONTINUATION_GROUP"])
    return rendered


@pytest.fixture
def virtual_time() -> Iterator[FakeClock]:
    fake = FakeClock(datetime.now(UTC).replace(microsecond=0))
    clock.use(lambda: fake.now)
    clock.use_sleep(fake.sleep)
    yield fake
    clock.reset()
    clock.reset_sleep()


def scheduled(continuations: dict[str, str], name: str) -> dict[str, Any]:
    return dict(
        aws.client("scheduler").get_schedule(Name=name, GroupName=continuations["PUSHDEPLOY_CONTINUATION_GROUP"])
    )


def continue_hook(stage: str, schedule: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What EventBridge Scheduler does when the schedule's time comes: invoke the hook with the schedule's input."""
    monkeypatch.setenv("PUSHDEPLOY_HOOK_STAGE", stage)
    payload = json.loads(schedule["Target"]["Input"])
    return dict(load_handler("hooks").lambda_handler(payload, LambdaContext(f"CodeDeployHook_test-{stage}", 60_000)))


def test_a_bake_longer_than_one_invocation_carries_on_and_the_last_invocation_reports(
    world, codedeploy, lambda_context, monkeypatch, continuations, virtual_time, iam
):
    # Given a two-minute bake and a hook invocation with 55 s of budget (35 s once the final metrics are kept)
    deployment_id = start_deployment(
        world, lambda_context, digest="sha256:" + "a" * 64, target_changes=bake_target(bake_seconds=120)
    )
    began = virtual_time.now

    # When CodeDeploy invokes AfterAllowTraffic
    first, status = invoke_hook("AfterAllowTraffic", deployment_id, codedeploy, monkeypatch, timeout_ms=60_000)

    # Then it bakes what it can, reports nothing, and schedules the next invocation with its progress
    assert (first["status"], first["reported"], status) == ("InProgress", False, "InProgress"), first["reason"]
    assert first["reason"].startswith("baked 35s of 2m; invocation 2 scheduled")
    schedule = scheduled(continuations, f"AfterAllowTraffic-{deployment_id}-2")
    # 30 s after the hand-over, set for the next whole minute: Scheduler invokes anywhere in at()'s minute
    at = began + timedelta(seconds=35 + 30)
    at = at.replace(second=0, microsecond=0) + timedelta(minutes=1) if at.second or at.microsecond else at
    assert schedule["ScheduleExpression"] == f"at({at:%Y-%m-%dT%H:%M:%S})"
    assert (schedule["ScheduleExpressionTimezone"], schedule["ActionAfterCompletion"]) == ("UTC", "DELETE")
    assert schedule["Target"]["Arn"].endswith(":function:CodeDeployHook_test-AfterAllowTraffic")
    assert schedule["Target"]["RoleArn"] == continuations["PUSHDEPLOY_CONTINUATION_ROLE_ARN"]
    assert schedule["Target"]["DeadLetterConfig"]["Arn"] == continuations["PUSHDEPLOY_DEAD_LETTER_QUEUE_ARN"]
    payload = json.loads(schedule["Target"]["Input"])
    assert payload["DeploymentId"] == deployment_id and payload["PushdeployContinuation"]["invocation"] == 2
    release = ledger().release_by_deployment(deployment_id)
    assert release is not None and release.hooks["AfterAllowTraffic"]["status"] == "InProgress"
    # the hook's own role may create the schedule and pass Scheduler its role, and nothing broader did it
    grants = {(g.authorization.action, g.statement) for g in iam.granted if g.function.endswith("AfterAllowTraffic")}
    assert {("scheduler:CreateSchedule", "ScheduleContinuations"), ("iam:PassRole", "PassContinuationRole")} <= grants

    # When Scheduler invokes the hook a minute later
    virtual_time.advance(60)
    second = continue_hook("AfterAllowTraffic", schedule, monkeypatch)

    # Then it bakes the rest (from the first invocation's start) and reports once
    assert (second["status"], second["reported"], second["invocation"]) == ("Succeeded", True, 2), second["reason"]
    quiet = next(c for c in second["checks"] if c["name"] == "alarms-quiet")
    assert quiet["passed"] and "quiet for 2m" in quiet["message"] and "over 2 invocations" in second["reason"]
    assert codedeploy.event_status(deployment_id, "AfterAllowTraffic") == "Succeeded"
    assert virtual_time.now - began == timedelta(seconds=120)


def test_a_continuation_of_a_deployment_that_ended_reports_nothing(
    world, codedeploy, lambda_context, monkeypatch, continuations, virtual_time
):
    deployment_id = start_deployment(
        world, lambda_context, digest="sha256:" + "a" * 64, target_changes=bake_target(bake_seconds=600)
    )
    invoke_hook("AfterAllowTraffic", deployment_id, codedeploy, monkeypatch, timeout_ms=60_000)
    codedeploy.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=False)

    verdict = continue_hook(
        "AfterAllowTraffic", scheduled(continuations, f"AfterAllowTraffic-{deployment_id}-2"), monkeypatch
    )

    assert verdict["status"] is None and not verdict["reported"]
    assert "is Stopped: the check that carried on ends here" in verdict["reason"]


def test_a_check_that_would_outlast_codedeploys_hour_fails_instead_of_shortening(
    world, codedeploy, lambda_context, monkeypatch, continuations, virtual_time
):
    # Given a bake whose hook began 59 minutes ago and that has five minutes still to go
    deployment_id = start_deployment(
        world, lambda_context, digest="sha256:" + "a" * 64, target_changes=bake_target(bake_seconds=3300)
    )
    execution_id = codedeploy.open_hook(deployment_id, "AfterAllowTraffic")
    invocation = HookInvocation(deployment_id, execution_id)
    began = virtual_time.now - timedelta(minutes=59)
    payload = invocation.continued({"started_at": clock.iso(virtual_time.now - timedelta(minutes=50))}, began)
    monkeypatch.setenv("PUSHDEPLOY_HOOK_STAGE", "AfterAllowTraffic")

    verdict = load_handler("hooks").lambda_handler(
        payload, LambdaContext("CodeDeployHook_test-AfterAllowTraffic", 60_000)
    )

    assert (verdict["status"], verdict["reported"]) == ("Failed", True)
    assert "one-hour limit for a lifecycle hook" in verdict["reason"] and "not shortening" in verdict["reason"]
    assert codedeploy.event_status(deployment_id, "AfterAllowTraffic") == "Failed"


def test_an_unreadable_continuation_reports_failed(world, codedeploy, lambda_context, monkeypatch, continuations):
    deployment_id = start_deployment(world, lambda_context, digest="sha256:" + "a" * 64)
    execution_id = codedeploy.open_hook(deployment_id, "AfterAllowTraffic")
    monkeypatch.setenv("PUSHDEPLOY_HOOK_STAGE", "AfterAllowTraffic")
    payload = {
        "DeploymentId": deployment_id,
        "LifecycleEventHookExecutionId": execution_id,
        "PushdeployContinuation": 7,
    }

    verdict = load_handler("hooks").lambda_handler(payload, LambdaContext("CodeDeployHook_test-AfterAllowTraffic"))

    assert verdict["status"] == "Failed" and "cannot continue the check" in verdict["reason"]
    assert codedeploy.event_status(deployment_id, "AfterAllowTraffic") == "Failed"
