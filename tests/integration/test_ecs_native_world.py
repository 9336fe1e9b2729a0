"""The world plays Amazon ECS's own blue/green, linear and canary deployments, driven with boto3 only (through the
ECS front at ``AWS_ENDPOINT_URL_ECS``), as the product would drive them."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pushdeploy import aws
from pushdeploy.aws.ecs import register_pinned_revision

from tests.helpers import ROOT

SAMPLES = ROOT.parent / "shared" / "aws-samples"
STACK = "pushdeploy-local"
HOOK = f"{STACK}-ecs-hook"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/{STACK}-EcsHookInvokeRole"
CLUSTER, SERVICE = "sample-cluster", "sample-app"


def _sample(name: str) -> dict[str, Any]:
    path = SAMPLES / name
    if not path.exists():
        path = Path("/work/shared/aws-samples") / name
    return dict(json.loads(path.read_text()))


@pytest.fixture(scope="module")
def started() -> Iterator[Any]:
    from pushdeploy_local.world.world import World

    environment = dict(os.environ)
    world = World(seed=7).start()
    yield world
    world.stop()
    os.environ.clear()
    os.environ.update(environment)


def _invoke_role(*, allowed: bool = True, function: str = HOOK) -> Any:
    from pushdeploy_local.world.iam import ServiceRole

    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    action = "lambda:InvokeFunction" if allowed else "lambda:GetFunction"
    permissions = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": action, "Resource": f"arn:aws:lambda:*:{ACCOUNT}:function:{function}"}
        ],
    }
    return ServiceRole(ROLE, trust, (permissions,))


@pytest.fixture
def native(started: Any) -> Callable[..., Any]:
    """A world whose sample service is deployed by ECS itself (``controller``), the hook's invoke role in place."""
    from pushdeploy_local.world.environment import EnvironmentSpec, WorldSetup

    def build(controller: str = "BLUE_GREEN", **settings: Any) -> Any:
        spec = EnvironmentSpec(controller=controller, **settings)  # type: ignore[arg-type]
        started.use(WorldSetup([spec]))
        started.build_sample()
        started.service_roles[ROLE] = _invoke_role()
        started.run_for(1)
        started.published = []
        original = started.emit

        def emit(event: dict[str, Any], *, delay_seconds: float = 0) -> None:
            if event.get("source") == "aws.ecs":
                started.published.append(event)
            original(event, delay_seconds=delay_seconds)

        started.emit = emit
        return started

    return build


def _hook(world: Any, answer: Callable[[dict[str, Any]], Any]) -> list[dict[str, Any]]:
    from pushdeploy_local.world.native_hooks import StandIn

    calls: list[dict[str, Any]] = []

    def handler(payload: dict[str, Any]) -> Any:
        calls.append(json.loads(json.dumps(payload)) | {"_at": world.now()})
        return answer(payload)

    world.lambda_stand_ins[HOOK] = StandIn(handler)
    return calls


def _deploy(world: Any, tag: str, behaviour: str = "healthy") -> str:
    digest = world.publish(tag, behaviour)
    env = world.environment
    uri = f"{ACCOUNT}.dkr.ecr.{world.spec.region}.amazonaws.com/{world.spec.repository}@{digest}"
    task_definition = register_pinned_revision(env.task_definition_arn, world.spec.container_name, uri)
    aws.client("ecs").update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=task_definition)
    return _latest(world)["serviceDeploymentArn"]


def _latest(world: Any) -> dict[str, Any]:
    ecs = aws.client("ecs")
    arn = ecs.list_service_deployments(cluster=CLUSTER, service=SERVICE)["serviceDeployments"][0][
        "serviceDeploymentArn"
    ]
    return dict(ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"][0])


def _production_weights(world: Any) -> dict[str, float]:
    return {tg.split("/")[-2]: w for tg, w in world.route(world.environment.prod_listener_arn)}


def _succeeded(_: dict[str, Any]) -> dict[str, Any]:
    return {"hookStatus": "SUCCEEDED"}


def test_blue_green_runs_every_stage_in_order_and_hooks_get_the_documented_payload(native: Any) -> None:
    world = native("BLUE_GREEN", bake_minutes=3)
    calls = _hook(world, _succeeded)

    arn = _deploy(world, "v2.0.0")
    stages_seen = []
    for _ in range(40):
        world.run_for(10)
        stage = _latest(world).get("lifecycleStage")
        if not stages_seen or stages_seen[-1] != stage:
            stages_seen.append(stage)
    world.run_until_idle(30)

    described = _latest(world)
    assert described["serviceDeploymentArn"] == arn and described["status"] == "SUCCESSFUL"
    assert [c["lifecycleStage"] for c in calls] == [
        "PRE_SCALE_UP",
        "POST_SCALE_UP",
        "POST_TEST_TRAFFIC_SHIFT",
        "PRE_PRODUCTION_TRAFFIC_SHIFT",
        "POST_PRODUCTION_TRAFFIC_SHIFT",
    ]
    assert "BAKE_TIME" in stages_seen and stages_seen[-1] == "CLEAN_UP"
    for call in calls:
        sample = _sample(f"ecs-bg-hook-{call['lifecycleStage'].lower().replace('_', '-')}.json")
        assert set(call) - {"_at"} == set(sample)
        assert set(call["executionDetails"]) == set(sample["executionDetails"])
        assert call["resourceArn"] == arn
    pre_production = calls[3]["executionDetails"]["productionTrafficWeights"]
    assert pre_production[described["targetServiceRevision"]["arn"]] == 0
    assert world.production()["tag"] == "v2.0.0"
    assert _production_weights(world) == {"sample-app-green": 100.0}


def test_state_change_events_are_the_documented_ones_at_least_once(native: Any) -> None:
    world = native("BLUE_GREEN", bake_minutes=1)
    _hook(world, _succeeded)

    _deploy(world, "v2.0.0")
    world.run_until_idle(30)
    world.run_for(60)  # late and duplicated deliveries

    names = [(e["detail"]["eventName"], e["detail"]["deploymentId"]) for e in world.published]
    primary = aws.client("ecs").describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]["deployments"][0]
    assert ("SERVICE_DEPLOYMENT_IN_PROGRESS", primary["id"]) in names
    assert ("SERVICE_DEPLOYMENT_COMPLETED", primary["id"]) in names
    sample = _sample("ecs-deployment-state-change-completed.json")
    completed = next(e for e in world.published if e["detail"]["eventName"] == "SERVICE_DEPLOYMENT_COMPLETED")
    assert set(completed) == set(sample) and set(completed["detail"]) == set(sample["detail"])
    assert completed["detail"]["deploymentId"].startswith("ecs-svc/")


def test_in_progress_invokes_again_after_call_back_delay_with_hook_details_merged(native: Any) -> None:
    world = native("BLUE_GREEN")
    answers = iter(
        [
            {"hookStatus": "IN_PROGRESS", "callBackDelay": 60, "hookDetails": {"approvalChecked": True}},
            {"hookStatus": "IN_PROGRESS", "hookDetails": {"round": 2}},
        ]
    )
    calls = _hook(world, lambda p: next(answers, {"hookStatus": "SUCCEEDED"}))

    _deploy(world, "v2.0.0")
    world.run_until_idle(30)

    first, second, third = calls[:3]
    assert first["lifecycleStage"] == second["lifecycleStage"] == third["lifecycleStage"] == "PRE_SCALE_UP"
    assert (second["_at"] - first["_at"]).total_seconds() == pytest.approx(60, abs=6)
    assert (third["_at"] - second["_at"]).total_seconds() == pytest.approx(30, abs=6)  # the default callBackDelay
    assert "hookDetails" not in first
    assert second["hookDetails"] == {"approvalChecked": True}
    assert third["hookDetails"] == {"approvalChecked": True, "round": 2}
    assert calls[3]["lifecycleStage"] == "POST_SCALE_UP" and "hookDetails" not in calls[3]  # same hook, same stage only
    assert _latest(world)["status"] == "SUCCESSFUL"


@pytest.mark.parametrize(
    ("action", "status", "tag"), [("ROLLBACK", "ROLLBACK_SUCCESSFUL", "v1.0.0"), ("CONTINUE", "SUCCESSFUL", "v2.0.0")]
)
def test_a_hook_that_never_finishes_times_out_with_its_action(native: Any, action: str, status: str, tag: str) -> None:
    world = native("BLUE_GREEN")
    configuration = _latest(world)["deploymentConfiguration"]
    configuration["lifecycleHooks"][0]["lifecycleStages"] = ["POST_TEST_TRAFFIC_SHIFT"]
    configuration["lifecycleHooks"][0]["timeoutConfiguration"] = {"timeoutInMinutes": 3, "action": action}
    aws.client("ecs").update_service(cluster=CLUSTER, service=SERVICE, deploymentConfiguration=configuration)
    calls = _hook(world, lambda p: {"hookStatus": "IN_PROGRESS", "callBackDelay": 45})

    _deploy(world, "v2.0.0")
    world.run_until_idle(60)

    assert _latest(world)["status"] == status
    assert world.production()["tag"] == tag
    spent = (calls[-1]["_at"] - calls[0]["_at"]).total_seconds()
    assert 120 <= spent <= 180  # invoked every 45 s until the 3-minute timeout


def test_a_failed_hook_rolls_the_whole_deployment_back(native: Any) -> None:
    world = native("BLUE_GREEN")
    _hook(
        world,
        lambda p: (
            _sample("ecs-bg-hook-response-failed.json")
            if p["lifecycleStage"] == "POST_TEST_TRAFFIC_SHIFT"
            else {"hookStatus": "SUCCEEDED"}
        ),
    )

    _deploy(world, "v2.0.0")
    world.run_until_idle(30)

    described = _latest(world)
    assert described["status"] == "ROLLBACK_SUCCESSFUL"
    assert described["rollback"]["serviceRevisionArn"] != described["targetServiceRevision"]["arn"]
    assert world.production()["tag"] == "v1.0.0"
    assert "sample-app-green" not in {tg.split("/")[-2] for tg in world.apps}  # green removed


@pytest.mark.parametrize(
    ("answer", "role_allows"),
    [({"status": "Succeeded"}, True), ({"hookStatus": "SUCCEEDED"}, False)],
    ids=["no-valid-hookStatus", "role-without-lambda-InvokeFunction"],
)
def test_an_invalid_answer_or_a_role_that_cannot_invoke_rolls_back(
    native: Any, answer: dict[str, Any], role_allows: bool
) -> None:
    world = native("BLUE_GREEN")
    world.service_roles[ROLE] = _invoke_role(allowed=role_allows)
    calls = _hook(world, lambda p: answer)

    _deploy(world, "v2.0.0")
    world.run_until_idle(30)

    assert _latest(world)["status"] == "ROLLBACK_SUCCESSFUL"
    assert len(calls) == (1 if role_allows else 0)  # ECS could not invoke the function at all
    assert world.production()["tag"] == "v1.0.0"


def test_a_hook_function_that_does_not_exist_fails_the_deployment(native: Any) -> None:
    world = native("BLUE_GREEN")
    configuration = _latest(world)["deploymentConfiguration"]
    hook = configuration["lifecycleHooks"][0]
    hook["hookTargetArn"] = hook["hookTargetArn"].replace("-ecs-hook", "-no-such-hook")  # no function of that name
    aws.client("ecs").update_service(cluster=CLUSTER, service=SERVICE, deploymentConfiguration=configuration)
    world.service_roles[ROLE] = _invoke_role(function="*")  # the role may invoke it: Lambda has no such function

    _deploy(world, "v2.0.0")
    world.run_until_idle(30)

    assert _latest(world)["status"] == "ROLLBACK_SUCCESSFUL"
    assert any("Function not found" in e.text for e in world.timeline)


def test_linear_moves_production_step_by_step(native: Any) -> None:
    world = native("LINEAR", linear_step_percent=25.0, linear_step_bake_minutes=2, bake_minutes=1)
    calls = _hook(world, _succeeded)

    seen = [_production_weights(world).get("sample-app-green", 0.0)]
    _deploy(world, "v2.0.0")
    for _ in range(40):
        world.run_for(30)
        green = _production_weights(world).get("sample-app-green", 0.0)
        if seen[-1] != green:
            seen.append(green)
    world.run_until_idle(30)

    assert seen == [0.0, 25.0, 50.0, 75.0, 100.0]
    steps = [
        c["executionDetails"]["productionTrafficWeights"]
        for c in calls
        if c["lifecycleStage"] == "PRE_PRODUCTION_TRAFFIC_SHIFT"
    ]
    assert len(steps) == 4  # before every step
    assert _latest(world)["status"] == "SUCCESSFUL"


def test_canary_holds_its_percent_then_moves_the_rest(native: Any) -> None:
    world = native("CANARY", canary_percent=10.0, canary_bake_minutes=3, bake_minutes=1)
    _hook(world, _succeeded)

    _deploy(world, "v2.0.0")
    timeline = []
    for _ in range(30):
        world.run_for(30)
        timeline.append(_production_weights(world).get("sample-app-green", 0.0))
    world.run_until_idle(30)

    assert 10.0 in timeline and 100.0 in timeline
    assert 5 <= timeline.count(10.0) <= 7  # three minutes, sampled every 30 s
    assert set(timeline) <= {0.0, 10.0, 100.0}


def test_a_stop_with_rollback_moves_weights_back_and_reinvokes_the_shifting_stages(native: Any) -> None:
    world = native("BLUE_GREEN", bake_minutes=10)
    configuration = _latest(world)["deploymentConfiguration"]
    configuration["lifecycleHooks"][0]["lifecycleStages"] += ["TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT"]
    aws.client("ecs").update_service(cluster=CLUSTER, service=SERVICE, deploymentConfiguration=configuration)
    calls = _hook(world, _succeeded)
    arn = _deploy(world, "v2.0.0")
    while _latest(world).get("lifecycleStage") != "BAKE_TIME":
        world.run_for(10)
    assert _production_weights(world) == {"sample-app-green": 100.0}

    aws.client("ecs").stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")
    assert _latest(world)["status"] == "ROLLBACK_REQUESTED"
    world.run_until_idle(30)

    described = _latest(world)
    assert described["status"] == "ROLLBACK_SUCCESSFUL"
    assert _production_weights(world) == {"sample-app-blue": 100.0}
    target = described["targetServiceRevision"]["arn"]
    assert len(calls) == 9  # seven stages forward, then the two shifting stages again
    again = calls[-2:]
    assert [c["lifecycleStage"] for c in again] == ["PRODUCTION_TRAFFIC_SHIFT", "TEST_TRAFFIC_SHIFT"]
    assert again[0]["executionDetails"]["productionTrafficWeights"][target] == 0
    assert again[1]["executionDetails"]["testTrafficWeights"][target] == 0
    reasons = [
        e["detail"]["reason"] for e in world.published if e["detail"]["eventName"] == "SERVICE_DEPLOYMENT_IN_PROGRESS"
    ]
    assert any("rolling back" in r for r in reasons)  # a rollback shows only in the reason
    with pytest.raises(aws.client("ecs").exceptions.ConflictException):
        aws.client("ecs").stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")


def test_an_alarm_in_alarm_rolls_back_during_bake_time(native: Any) -> None:
    world = native("BLUE_GREEN", bake_minutes=10)
    # ECS's own alarm watch alone: no target names the service, so pushdeploy's alarm function does not race it
    aws.client("ssm").delete_parameter(Name=world.spec.targets_path + world.spec.target)
    _hook(world, _succeeded)
    _deploy(world, "v2.0.0")
    while _latest(world).get("lifecycleStage") != "BAKE_TIME":
        world.run_for(10)

    world.set_alarm(world.spec.alarm, "ALARM", "forced by the test", forced=True)
    world.run_for(100)  # ECS polls its alarms about once a minute

    described = _latest(world)
    assert described["status"] in ("ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL")
    assert described["alarms"]["status"] == "TRIGGERED"
    assert described["alarms"]["triggeredAlarmNames"] == [world.spec.alarm]
    world.run_until_idle(30)
    assert world.production()["tag"] == "v1.0.0"


def test_a_new_update_during_a_deployment_stops_it_and_the_next_one_reconciles(native: Any) -> None:
    world = native("BLUE_GREEN")
    calls = _hook(world, _succeeded)
    first = _deploy(world, "v2.0.0")
    world.run_for(60)

    second = _deploy(world, "v3.0.0")
    ecs = aws.client("ecs")
    described = {
        d["serviceDeploymentArn"]: d
        for d in ecs.describe_service_deployments(serviceDeploymentArns=[first, second])["serviceDeployments"]
    }
    assert described[first]["status"] == "STOPPED"
    world.run_until_idle(30)

    assert _latest(world)["status"] == "SUCCESSFUL"
    assert world.production()["tag"] == "v3.0.0"
    assert calls[-1]["resourceArn"] == second


def test_pushdeploys_own_hook_blocks_nothing_on_a_service_no_target_names(native: Any) -> None:
    # the real EcsHookFunction (no stand-in): the service's target document is gone
    world = native("BLUE_GREEN")
    aws.client("ssm").delete_parameter(Name=world.spec.targets_path + world.spec.target)

    _deploy(world, "v2.0.0")
    world.run_until_idle(30)

    assert _latest(world)["status"] == "SUCCESSFUL"  # not checked, not rolled back: recorded as unprocessable
    assert world.production()["tag"] == "v2.0.0"
    assert any("SUCCEEDED" in e.text and "ecs-hook" in e.text for e in world.timeline)


def test_a_remedys_failing_checks_never_turn_it_back_to_the_release_it_removes(native: Any) -> None:
    # the real EcsHookFunction: FAILED would make ECS roll the revert back, to the release it is removing
    from pushdeploy import runtime

    world = native("BLUE_GREEN")
    digest = world.publish("v2.0.0", "healthy")
    world.emit(world.push_event("v2.0.0", digest))
    world.run_until_idle(60)
    assert world.production()["tag"] == "v2.0.0"
    port = world.target_documents[world.spec.target]["container_port"]
    world.update_target({"container_port": port + 1})  # now no release passes the image checks (PRE_SCALE_UP)

    world.set_alarm(world.spec.alarm, "ALARM", "5xx", forced=True)  # in v2.0.0's watch window: revert
    world.run_until_idle(60)

    assert world.production()["tag"] == "v1.0.0" and _latest(world)["status"] == "SUCCESSFUL"
    releases = runtime.services().ledger.releases(world.spec.target, limit=10)
    [revert] = [r for r in releases if r.trigger == "revert"]
    assert revert.status == "SUCCEEDED"
    verdict = revert.hooks["PRE_SCALE_UP"]
    assert verdict["status"] == "Succeeded"
    assert verdict["reason"].startswith("checks failed during a remedy, not blocking it (escalated): container-and")


def test_status_shows_where_production_traffic_goes_during_a_canary(native: Any) -> None:
    from pushdeploy import runtime

    world = native("CANARY", canary_percent=10.0, canary_bake_minutes=5, bake_minutes=1)
    _hook(world, _succeeded)
    services = runtime.services()
    target = services.catalog().by_name(world.spec.target)
    digest = world.publish("v2.0.0", "healthy")
    world.emit(world.push_event("v2.0.0", digest))

    seen = set()
    for _ in range(12):
        world.run_for(30)
        active = services.inspection.status(target).active
        if active is not None:
            seen.add(active.traffic)
    world.run_until_idle(30)

    assert "sample-app-blue 90% / sample-app-green 10%" in seen  # the production listener rule's split


def test_an_alarm_left_out_of_a_fix_is_still_watched_by_pushdeploy_during_it(native: Any) -> None:
    # ECS keeps a deployment's alarm list on the service: the one already firing when the fix started is off it for
    # the deployment, so pushdeploy's own alarm handler is what catches it firing again
    from pushdeploy import runtime

    world = native("BLUE_GREEN", bake_minutes=10, alarms=("sample-app-5xx", "sample-app-latency"))
    alarm = world.spec.alarm  # the other stays armed on the service
    world.set_alarm(alarm, "ALARM", "the previous release's errors", forced=True)
    world.drain()
    world.emit(world.push_event("v2.0.0", world.publish("v2.0.0", "healthy")))
    world.run_for(60)
    fix = {r.tag: r for r in runtime.services().ledger.releases(world.spec.target, limit=10)}["v2.0.0"]
    assert fix.status == "IN_PROGRESS" and fix.excluded_alarms == [alarm]
    config = aws.client("ecs").describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]
    assert config["deploymentConfiguration"]["alarms"]["alarmNames"] == ["sample-app-latency"]

    world.set_alarm(alarm, "OK", "recovered", forced=True)
    world.drain()
    from pushdeploy.aws import ecs

    ecs.clear_setups()  # the alarm function reads the service afresh (on AWS it has a cache of its own, maybe cold)
    world.set_alarm(alarm, "ALARM", "the fix errors too", forced=True)  # a fresh transition, during the fix
    world.run_until_idle(60)

    fix = runtime.services().ledger.get_release(world.spec.target, fix.release_id)
    assert fix.status == "STOPPED" and fix.alarm == alarm
    assert world.production()["tag"] == "v1.0.0"


def test_a_release_whose_stop_did_not_take_is_reverted_never_known_good(native: Any, monkeypatch: Any) -> None:
    # the operator stops a deployment just as ECS completes it (the stop loses the race): pushdeploy quarantined it and
    # meant production to go back; ECS says SUCCESSFUL, so pushdeploy finishes what the stop asked for
    from pushdeploy import runtime
    from pushdeploy.aws import ecs

    world = native("BLUE_GREEN", bake_minutes=1)
    world.update_target({"rollback": {"watch_minutes_after_success": 0}})
    services = runtime.services()
    world.emit(world.push_event("v2.0.0", world.publish("v2.0.0", "healthy")))
    world.run_for(60)
    monkeypatch.setattr(ecs, "stop_service_deployment", lambda arn: "ROLLBACK_REQUESTED")  # lost the race
    target = services.catalog().by_name(world.spec.target)
    assert services.reverts.operator_rollback(target, to=None).outcome == "rollback-started"
    monkeypatch.undo()

    world.run_until_idle(60)

    releases = {r.tag: r for r in services.ledger.releases(world.spec.target, limit=10) if r.trigger == "push"}
    assert (
        releases["v2.0.0"].status == "REVERTED" and "completed after pushdeploy stopped it" in releases["v2.0.0"].reason
    )
    assert services.ledger.known_good(world.spec.target).tag == "v1.0.0"
    assert world.production()["tag"] == "v1.0.0"
