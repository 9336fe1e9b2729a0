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
