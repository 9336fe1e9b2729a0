"""A rolling update with the deployment circuit breaker, played by the world's ECS (driven with boto3 only)."""

from __future__ import annotations

from typing import Any

from pushdeploy import aws

from tests.integration.test_ecs_native_world import CLUSTER, SERVICE, _deploy, _latest, native, started

__all__ = ["native", "started"]  # the fixtures, shared with the blue/green tests


def test_a_healthy_image_rolls_out_and_completes(native: Any) -> None:
    world = native("ROLLING")

    _deploy(world, "v2.0.0")
    world.run_until_idle(30)

    assert _latest(world)["status"] == "SUCCESSFUL"
    assert world.production()["tag"] == "v2.0.0"


def test_a_crashing_image_trips_the_circuit_breaker_and_rolls_back(native: Any) -> None:
    world = native("ROLLING")

    _deploy(world, "v2.0.0", "crashing")
    world.run_until_idle(30)

    described = _latest(world)
    assert described["status"] == "ROLLBACK_SUCCESSFUL"
    breaker = described["deploymentCircuitBreaker"]
    assert breaker["status"] == "TRIGGERED"
    assert breaker["threshold"] == 3  # 0.5 x 2 tasks, at least 3
    assert breaker["failureCount"] >= 3
    assert world.production()["tag"] == "v1.0.0"
    failed = [e["detail"] for e in world.published if e["detail"]["eventName"] == "SERVICE_DEPLOYMENT_FAILED"]
    assert failed and failed[0]["eventType"] == "ERROR" and "circuit breaker" in failed[0]["reason"]
    stopped = aws.client("ecs").list_tasks(cluster=CLUSTER, desiredStatus="STOPPED")["taskArns"]
    tasks = aws.client("ecs").describe_tasks(cluster=CLUSTER, tasks=stopped)["tasks"]
    assert any("exit code 137" in t.get("stoppedReason", "") for t in tasks)
    ecs = aws.client("ecs")
    back_to = ecs.describe_service_revisions(serviceRevisionArns=[described["rollback"]["serviceRevisionArn"]])
    service = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]
    assert service["taskDefinition"] == back_to["serviceRevisions"][0]["taskDefinition"]


# -- pushdeploy's own checks on a rolling update (ECS runs no hooks for it) ----------------------------------------
def _push(world: Any, tag: str, behaviour: str = "healthy") -> None:
    digest = world.publish(tag, behaviour)
    world.emit(world.push_event(tag, digest))
    world.run_until_idle(30)


def _releases(world: Any) -> dict[str, Any]:
    from pushdeploy import runtime

    return {r.tag: r for r in runtime.services().ledger.releases(world.spec.target, limit=20)}


def test_the_image_checks_refuse_a_rolling_release_before_update_service(native: Any) -> None:
    world = native("ROLLING")
    port = world.target_documents[world.spec.target]["container_port"]
    world.update_target({"container_port": port + 1})  # the task's container maps another port: nothing would answer
    notified = len(world.notifications)

    _push(world, "v2.0.0")

    release = _releases(world)["v2.0.0"]
    assert release.status == "FAILED" and release.deployment_id is None
    assert release.reason.startswith("BeforeInstall checks failed before UpdateService")
    assert "container-and-port" in release.reason
    assert release.hooks["BeforeInstall"]["status"] == "Failed"
    assert [d["status"] for d in _service_deployments()] == ["SUCCESSFUL"]  # ECS never saw it
    assert world.production()["tag"] == "v1.0.0"
    assert [n["state"] for n in world.notifications[notified:]] == ["FAILED"]
    world.update_target({"container_port": port})  # the lane was let go: the next push deploys

    _push(world, "v2.0.1")

    assert _releases(world)["v2.0.1"].status == "SUCCEEDED"


def test_a_rolling_release_is_checked_once_it_has_baked_and_only_then_known_good(native: Any) -> None:
    from pushdeploy import runtime

    world = native("ROLLING")
    world.update_target({"rollback": {"watch_minutes_after_success": 0}})  # no watch window: the checks still gate

    world.emit(world.push_event("v2.0.0", world.publish("v2.0.0", "healthy")))
    world.run_for(45)  # ECS's rolling update completes (30 s here)

    release = _releases(world)["v2.0.0"]
    ledger = runtime.services().ledger
    assert release.status == "SUCCEEDED" and release.checks_due_at  # ECS completed it; the bake is not over
    assert ledger.known_good(world.spec.target).tag == "v1.0.0"
    world.run_until_idle(30)  # the bake (60 s) and Scheduler's minute
    release = _releases(world)["v2.0.0"]
    assert release.checks_due_at is None
    assert {stage: h["status"] for stage, h in release.hooks.items()} == {
        "BeforeInstall": "Succeeded",
        "AfterInstall": "Succeeded",
        "BeforeAllowTraffic": "Succeeded",
        "AfterAllowTraffic": "Succeeded",
    }
    assert ledger.known_good(world.spec.target).tag == "v2.0.0"
    assert any(d.detail_type == "Scheduler" for d in world.deliveries)  # on time, not on the next sweep


def _service_deployments() -> list[dict[str, Any]]:
    ecs = aws.client("ecs")
    listed = ecs.list_service_deployments(cluster=CLUSTER, service=SERVICE)["serviceDeployments"]
    arns = [d["serviceDeploymentArn"] for d in listed]
    return list(ecs.describe_service_deployments(serviceDeploymentArns=arns)["serviceDeployments"])


def test_a_revert_runs_with_the_circuit_breakers_rollback_off_and_the_setting_comes_back(native: Any) -> None:
    world = native("ROLLING")
    _push(world, "v2.0.0")
    breaker = _service()["deploymentConfiguration"]["deploymentCircuitBreaker"]
    assert breaker == {"enable": True, "rollback": True}  # the sample service's own setting
    world.run_for(5 * 60)

    world.set_alarm(world.spec.alarm, "ALARM", "5xx", forced=True)  # in v2.0.0's watch window: revert
    world.drain()

    [revert] = [d for d in _service_deployments() if d["status"] not in ("SUCCESSFUL", "STOPPED")] or [None]
    assert revert is not None, "a revert deployment is running"
    # never rolled back to the release it removes if the known-good tasks fail to start: it fails loudly instead
    assert revert["deploymentConfiguration"]["deploymentCircuitBreaker"] == {"enable": True, "rollback": False}
    world.run_until_idle(30)
    assert _releases(world)["v2.0.0"].status == "REVERTED" and world.production()["tag"] == "v1.0.0"
    assert _service()["deploymentConfiguration"]["deploymentCircuitBreaker"] == breaker  # put back


def _service() -> dict[str, Any]:
    return dict(aws.client("ecs").describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0])
