"""A rolling update with the deployment circuit breaker, played by the world's ECS (driven with boto3 only)."""

from __future__ import annotations

from collections.abc import Callable
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


def test_a_deployment_ecs_did_not_name_at_once_is_adopted_by_the_sweep_and_deployed_once(
    native: Any, monkeypatch: Any
) -> None:
    # UpdateService accepted, but neither its answer nor ListServiceDeployments named the deployment in time (or the
    # handler died right after UpdateService): ECS deploys it all the same
    from pushdeploy.aws import ecs

    world = native("ROLLING")
    update_service = ecs.update_service
    monkeypatch.setattr(ecs, "update_service", lambda *a, **k: update_service(*a, **k) and None)
    monkeypatch.setattr(ecs, "deployment_running", lambda *a, **k: None)
    world.emit(world.push_event("v2.0.0", world.publish("v2.0.0", "healthy")))
    world.drain()
    waiting = _releases(world)["v2.0.0"]
    assert waiting.status == "IN_PROGRESS" and waiting.deployment_id is None  # not START_FAILED: ECS deploys it
    monkeypatch.undo()
    world.emit(world.push_event("v2.0.0", waiting.digest))  # EventBridge delivers the push again, after the lease
    world.run_for(100)
    assert [d["status"] for d in _service_deployments()].count("SUCCESSFUL") == 2  # the first, and v2.0.0 once

    world.run_for(5 * 60)  # the sweep (every 5 minutes) adopts it

    release = _releases(world)["v2.0.0"]
    assert release.status == "SUCCEEDED", release.reason
    assert release.deployment_id == _service_deployments()[0]["serviceDeploymentArn"]
    assert world.production()["tag"] == "v2.0.0"


def _failing_bake(monkeypatch: Any, during: Callable[[Any], None] = lambda ctx: None, tag: str = "") -> None:
    """The bake check fails (for the release of ``tag``, or every one), after ``during`` ran."""
    from pushdeploy.checks import CheckResult
    from pushdeploy.services import rolling

    real = rolling.stage_checks

    def checks(stage: str) -> Any:
        if stage != "AfterAllowTraffic":
            return real(stage)

        def run(ctx: Any) -> list[CheckResult]:
            during(ctx)
            if tag and ctx.task_definition_arn != _releases_now()[tag].task_definition_arn:
                return real(stage)(ctx)
            return [CheckResult("Maximum-latency", False, "600 ms, limit 300 ms", value=600, limit=300)]

        return run

    monkeypatch.setattr(rolling, "stage_checks", checks)


def _releases_now() -> dict[str, Any]:
    from pushdeploy import runtime

    target = runtime.services().catalog().targets[0]
    return {r.tag: r for r in runtime.services().ledger.releases(target.name, limit=20)}


def test_no_visit_makes_a_release_known_good_while_its_checks_run(native: Any, monkeypatch: Any) -> None:
    # the sweep, an ECS event or the alarm function may visit while the checks run: they hold the promotion back
    from pushdeploy import runtime

    world = native("ROLLING")
    world.update_target({"rollback": {"watch_minutes_after_success": 0}})
    services = runtime.services()

    def another_visit(_: Any) -> None:
        assert not services.lifecycle.promote_if_due(services.catalog().by_name(world.spec.target))

    _failing_bake(monkeypatch, another_visit)

    _push(world, "v2.0.0")

    ledger = services.ledger
    assert ledger.known_good(world.spec.target).tag == "v1.0.0"
    assert _releases(world)["v2.0.0"].status == "REVERTED" and world.production()["tag"] == "v1.0.0"
    assert ledger.is_quarantined(world.spec.target, _releases(world)["v2.0.0"].digest)


def test_checks_that_fail_while_a_newer_push_deploys_never_undo_it(native: Any, monkeypatch: Any) -> None:
    from pushdeploy import runtime

    world = native("ROLLING")
    _failing_bake(monkeypatch, tag="v2.0.0")
    world.emit(world.push_event("v2.0.0", world.publish("v2.0.0", "healthy")))
    world.run_for(45)  # ECS completed v2.0.0; its checks are due in a minute
    world.emit(world.push_event("v3.0.0", world.publish("v3.0.0", "healthy")))
    world.run_for(5)

    world.run_until_idle(60)
    world.run_for(10 * 60)

    releases, ledger = _releases(world), runtime.services().ledger
    assert world.production()["tag"] == "v3.0.0"
    assert releases["v3.0.0"].status == "SUCCEEDED" and not ledger.is_quarantined(
        world.spec.target, releases["v3.0.0"].digest
    )
    assert [r.trigger for r in releases.values()].count("revert") == 0
    assert releases["v2.0.0"].checks_due_at is None  # settled: v3.0.0 replaced it before they could tell


def test_checks_that_fail_while_a_newer_push_starts_never_undo_it(native: Any, monkeypatch: Any) -> None:
    # the newer push holds the lane while it checks its image and registers its revision, before ECS shows anything
    from pushdeploy.model.events import RollingChecksDue
    from pushdeploy.services import rolling

    world = native("ROLLING")
    _failing_bake(monkeypatch, tag="v2.0.0")
    run_due = rolling.RollingChecks.run_due
    monkeypatch.setattr(rolling.RollingChecks, "run_due", lambda self, target, function_arn=None: [])
    world.emit(world.push_event("v2.0.0", world.publish("v2.0.0", "healthy")))
    world.run_for(150)  # ECS completed v2.0.0; its checks are due (held back here)
    assert _releases(world)["v2.0.0"].checks_due_at
    image_checks, visits = rolling.image_checks, []

    def v3_starting(target: Any, setup: Any, release: Any, arn: str) -> Any:
        if release.tag == "v3.0.0" and not visits:  # meanwhile the deployment-events function runs v2.0.0's checks
            monkeypatch.setattr(rolling.RollingChecks, "run_due", run_due)
            due = RollingChecksDue(world.spec.target, _releases(world)["v2.0.0"].release_id).as_payload()
            visits.append(world.router.invoke("pushdeploy-local-deployment-events", due))
        return image_checks(target, setup, release, arn)

    monkeypatch.setattr(rolling, "image_checks", v3_starting)
    world.emit(world.push_event("v3.0.0", world.publish("v3.0.0", "healthy")))
    world.run_until_idle(60)
    world.run_for(10 * 60)

    assert visits and world.production()["tag"] == "v3.0.0"
    assert [r.trigger for r in _releases(world).values()].count("revert") == 0
