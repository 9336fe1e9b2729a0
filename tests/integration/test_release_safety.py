"""Release safety under real incidents (design.md section 9): remedies are never undone by pushdeploy, fixes ship
while alarms fire, idempotency means "the same event or already there", history tells the truth.

Each test is one of the incident sequences the release-safety issue lists; each failed on the code before it.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from pushdeploy import aws, clock, runtime
from pushdeploy_cli.main import main

from tests.helpers import ledger, load_handler, push_event
from tests.integration.test_lifecycle import (
    alarm,
    deploy,
    establish_known_good,
    release_of,
    state_change,
    succeed,
)

TARGET = "sample-app-prod"
ALARM = "sample-app-5xx"
GOOD, BAD, FIX = "sha256:" + "1" * 64, "sha256:" + "2" * 64, "sha256:" + "3" * 64


def services() -> Any:
    return runtime.services()


def target() -> Any:
    return services().catalog().by_name(TARGET)


def set_alarm_state(name: str, state: str, *, at: Any = None) -> None:
    """CloudWatch's side: the alarm's state and when it entered it."""
    aws.client("cloudwatch").set_alarm_state(AlarmName=name, StateValue=state, StateReason="test")
    if at is not None:
        from moto.cloudwatch.models import cloudwatch_backends

        backend = cloudwatch_backends["123456789012"]["us-west-2"]
        backend.alarms[name].state_updated_timestamp = at


def reverting(codedeploy: Any, lambda_context: Any, later: Any) -> dict[str, Any]:
    """v1.0.0 is KNOWN_GOOD, v1.1.0 shipped; the alarm fires in its watch window: a revert to v1.0.0 runs."""
    establish_known_good(codedeploy, lambda_context, later)
    second = deploy(lambda_context, tag="v1.1.0", digest=BAD)
    succeed(codedeploy, lambda_context, second["deployment_id"])
    later(10)
    [revert] = alarm(lambda_context)
    assert revert["outcome"] == "revert-started", revert
    return {"bad": second, "revert": revert}


def push_later(lambda_context: Any, *, tag: str, digest: str, minutes: int = 5) -> dict[str, Any]:
    """A push some minutes after the sample's (a new event, later by the registry's clock)."""
    event = push_event(tag=tag, digest=digest, time=f"2019-11-16T02:{minutes:02d}:00Z")
    [result] = load_handler("deployer").lambda_handler(event, lambda_context)["results"]
    return dict(result)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    capsys.readouterr()
    code = main([*args, "--output", "json"])
    return code, json.loads(capsys.readouterr().out)


# -- remedies are never stopped or superseded --------------------------------------------------------------------
def test_an_alarm_that_flaps_during_a_revert_is_recorded_and_never_stops_it(
    world, codedeploy, lambda_context, later, inbox
):
    story = reverting(codedeploy, lambda_context, later)
    revert_id = story["revert"]["deployment_id"]

    # ALARM -> OK -> ALARM while the revert's tasks start: a fresh transition, after the revert began
    [again] = alarm(lambda_context, at=clock.now() + timedelta(seconds=1))

    assert again["outcome"] == "recorded", again
    assert "still in ALARM while revert" in again["reason"] and "to v1.0.0" in again["reason"]
    assert codedeploy.deployments[revert_id]["status"] in ("Created", "InProgress")  # never stopped
    assert not ledger().is_quarantined(TARGET, GOOD)  # the known-good digest keeps its way back
    assert ledger().is_quarantined(TARGET, BAD)
    revert = release_of(revert_id)
    assert revert.incidents and "still in ALARM" in revert.incidents[0]
    states = [m["state"] for m in inbox()]
    assert "ALARM_DURING_REMEDY" in states

    alarm(lambda_context, at=clock.now() + timedelta(seconds=1))  # the same alarm event delivered twice
    assert len(release_of(revert_id).incidents) == 1


def test_the_alarm_a_revert_answers_delivered_again_is_not_an_incident(world, codedeploy, lambda_context, later):
    revert_id = reverting(codedeploy, lambda_context, later)["revert"]["deployment_id"]
    created = codedeploy.deployments[revert_id]["createTime"]

    [again] = alarm(lambda_context, at=created - timedelta(seconds=1))  # EventBridge delivers it a second time

    assert again["outcome"] == "recorded" and "already answered by revert" in again["reason"]
    assert release_of(revert_id).incidents == []


def test_the_reverted_release_reads_reverted_with_its_alarm(world, codedeploy, lambda_context, later):
    story = reverting(codedeploy, lambda_context, later)

    bad = release_of(story["bad"]["deployment_id"])

    assert bad.status == "REVERTED" and bad.alarm == ALARM and bad.reason.startswith("reverted: alarm")


def test_an_operator_rollback_during_a_revert_is_refused_with_what_is_happening(
    world, codedeploy, lambda_context, later, capsys
):
    story = reverting(codedeploy, lambda_context, later)
    revert_id = story["revert"]["deployment_id"]

    code, answer = cli(capsys, "rollback", TARGET, "--yes")

    assert code == 1
    assert f"revert {revert_id} to v1.0.0 in progress since" in answer["error"] and "--force" in answer["error"]
    assert codedeploy.deployments[revert_id]["status"] in ("Created", "InProgress")
    code, answer = cli(capsys, "rollback", TARGET, "--yes")  # twice: still nothing undone
    assert code == 1 and codedeploy.deployments[revert_id]["status"] in ("Created", "InProgress")

    code, answer = cli(capsys, "rollback", TARGET, "--yes", "--force")

    assert code == 0 and answer["outcome"] == "rollback-started"
    assert not ledger().is_quarantined(TARGET, GOOD)  # stopping a remedy quarantines nothing


@pytest.mark.parametrize("remedy", ["revert", "codedeploy-rollback"])
def test_a_push_with_on_busy_supersede_never_stops_a_remedy(world, codedeploy, lambda_context, later, remedy):
    world.put_target({**world.target_document(), "on_busy": "supersede"})
    if remedy == "revert":
        remedy_id = reverting(codedeploy, lambda_context, later)["revert"]["deployment_id"]
    else:
        started = deploy(lambda_context, tag="v1.1.0", digest=BAD)
        codedeploy.finish(started["deployment_id"], "Failed", error_code="HOOK_EXECUTION_FAILURE", rollback=True)
        remedy_id = codedeploy.deployments[started["deployment_id"]]["rollbackInfo"]["rollbackDeploymentId"]

    pushed = deploy(lambda_context, tag="v1.2.0", digest=FIX)

    assert pushed["outcome"] == "queued", pushed
    assert "not superseding" in release_of_id(pushed["release_id"]).reason
    assert codedeploy.deployments[remedy_id]["status"] in ("Created", "InProgress")


def release_of_id(release_id: str) -> Any:
    release = ledger().get_release(TARGET, release_id)
    assert release is not None
    return release


def test_a_remedy_starts_without_alarm_polling_or_automatic_rollback_and_its_failure_is_loud(
    world, codedeploy, lambda_context, later, inbox
):
    revert_id = reverting(codedeploy, lambda_context, later)["revert"]["deployment_id"]
    deployment = codedeploy.deployments[revert_id]
    assert deployment["overrideAlarmConfiguration"]["enabled"] is False
    assert deployment["autoRollbackConfiguration"]["enabled"] is False  # a failed remedy never flips back

    codedeploy.finish(revert_id, "Failed", error_code="HOOK_EXECUTION_FAILURE", message="BeforeInstall failed")
    state_change(lambda_context, revert_id, "FAILURE")

    assert release_of(revert_id).status == "FAILED"
    assert not any(d["creator"] == "codeDeployRollback" for d in codedeploy.deployments.values())
    failed = [m for m in inbox() if m["state"] == "REMEDY_FAILED"]
    assert failed and "REMEDY FAILED" in failed[0]["text"]


# -- fixes ship during incidents --------------------------------------------------------------------------------
def test_a_fix_pushed_while_the_alarm_fires_leaves_exactly_that_alarm_out(world, codedeploy, lambda_context):
    cloudwatch = aws.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName="sample-app-latency",
        MetricName="TargetResponseTime",
        Namespace="AWS/ApplicationELB",
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanThreshold",
    )
    codedeploy.groups[("sample-app", "sample-app-prod")]["alarmConfiguration"]["alarms"].append(
        {"name": "sample-app-latency"}
    )
    from pushdeploy.aws import codedeploy as codedeploy_adapter

    codedeploy_adapter.clear_cache()
    set_alarm_state(ALARM, "ALARM", at=clock.now() - timedelta(minutes=5))

    fix = deploy(lambda_context, tag="v1.2.0", digest=FIX)

    override = codedeploy.deployments[fix["deployment_id"]]["overrideAlarmConfiguration"]
    assert override["enabled"] is True and override["alarms"] == [{"name": "sample-app-latency"}]  # still armed
    assert release_of(fix["deployment_id"]).excluded_alarms == [ALARM]
    # pushdeploy watches the left-out alarm: a fresh transition during the deployment stops it
    [fresh] = alarm(lambda_context, at=clock.now() + timedelta(seconds=30))
    assert fresh["outcome"] == "rollback-started"


def test_a_change_codedeploy_stopped_for_an_alarm_that_predates_it_is_retried_as_the_same_release(
    world, codedeploy, lambda_context
):
    from pushdeploy_local.world.engine import ALARM_ACTIVE_MESSAGE

    fix = deploy(lambda_context, tag="v1.2.0", digest=FIX)
    first_attempt = fix["deployment_id"]
    created = codedeploy.deployments[first_attempt]["createTime"]
    # the alarm went to ALARM just before CreateDeployment, after pushdeploy read the alarms (the race)
    set_alarm_state(ALARM, "ALARM", at=created - timedelta(seconds=1))
    codedeploy.finish(
        first_attempt,
        "Stopped",
        error_code="ALARM_ACTIVE",
        message=ALARM_ACTIVE_MESSAGE.format(alarms=ALARM),
        rollback=True,
    )

    stopped = state_change(lambda_context, first_attempt, "STOP")

    release = release_of(first_attempt)
    assert stopped["outcome"] == "queued" and release.status == "QUEUED"
    assert "not this release's fault" in release.reason
    assert not ledger().is_quarantined(TARGET, FIX)
    rollback_id = codedeploy.deployments[first_attempt]["rollbackInfo"]["rollbackDeploymentId"]
    succeed(codedeploy, lambda_context, rollback_id)  # the group is free: the same release starts again

    retried = ledger().get_release(TARGET, release.release_id)
    assert retried is not None and retried.status == "IN_PROGRESS"
    assert retried.deployment_id != first_attempt and retried.earlier_deployment_ids == [first_attempt]
    assert retried.excluded_alarms == [ALARM] and not retried.reason
    assert len([r for r in ledger().releases(TARGET) if r.digest == FIX]) == 1  # one release, two attempts


def test_a_push_queued_behind_an_alarm_rollback_starts_with_that_alarm_left_out_and_a_true_reason(
    world, codedeploy, lambda_context
):
    bad = deploy(lambda_context, tag="v1.1.0", digest=BAD)
    queued = deploy(lambda_context, tag="v1.2.0", digest=FIX)
    assert (
        queued["outcome"] == "queued" and "waiting for active deployment" in release_of_id(queued["release_id"]).reason
    )
    set_alarm_state(ALARM, "ALARM")
    alarm(lambda_context)  # stops v1.1.0 with rollback
    rollback_id = codedeploy.deployments[bad["deployment_id"]]["rollbackInfo"]["rollbackDeploymentId"]
    state_change(lambda_context, bad["deployment_id"], "STOP")

    succeed(codedeploy, lambda_context, rollback_id)  # the alarm still fires: the rollback's errors linger

    started = release_of_id(queued["release_id"])
    assert started.status == "IN_PROGRESS" and started.excluded_alarms == [ALARM]
    assert not started.reason  # no stale "waiting for active deployment"
    assert codedeploy.deployments[started.deployment_id]["overrideAlarmConfiguration"]["enabled"] is False


# -- idempotency: the same event, or already there ---------------------------------------------------------------
def test_a_released_digest_deploys_on_its_next_push(world, codedeploy, lambda_context, capsys):
    started = deploy(lambda_context, tag="v1.1.0", digest=BAD)
    alarm(lambda_context)
    state_change(lambda_context, started["deployment_id"], "STOP")
    assert deploy(lambda_context, tag="v1.1.1", digest=BAD)["outcome"] == "quarantined"

    code, _ = cli(capsys, "release", TARGET, BAD)
    for deployment in list(codedeploy.deployments.values()):  # the rollback ends
        if deployment["status"] in ("Created", "InProgress"):
            succeed(codedeploy, lambda_context, deployment["deploymentId"])

    again = deploy(lambda_context, tag="v1.1.2", digest=BAD)

    assert code == 0 and again["outcome"] == "deployed", again


def test_re_tagging_an_older_image_deploys_it_and_the_live_one_is_already_there(
    world, codedeploy, lambda_context, later
):
    establish_known_good(codedeploy, lambda_context, later)
    newer = deploy(lambda_context, tag="v1.1.0", digest=BAD)
    succeed(codedeploy, lambda_context, newer["deployment_id"])

    live_again = push_later(lambda_context, tag="main", digest=BAD, minutes=5)
    retag = push_later(lambda_context, tag="v1.1.1", digest=GOOD, minutes=6)  # v1.0.0's image again, to roll back

    assert live_again["outcome"] == "duplicate" and "already live" in live_again["reason"]
    assert "main" in release_of(newer["deployment_id"]).tags
    assert retag["outcome"] == "deployed", retag
    assert release_of(retag["deployment_id"]).digest == GOOD


def test_a_redelivered_event_is_a_duplicate_and_one_digest_under_two_tags_deploys_once(
    world, codedeploy, lambda_context
):
    first = deploy(lambda_context, tag="v1.1.0", digest=FIX, event_id="evt-1")
    redelivered = deploy(lambda_context, tag="v1.1.0", digest=FIX, event_id="evt-1")
    other_tag = deploy(lambda_context, tag="main", digest=FIX, event_id="evt-2")

    assert first["outcome"] == "deployed"
    assert redelivered["outcome"] == "duplicate" and "same push event" in redelivered["reason"]
    assert other_tag["outcome"] == "duplicate" and "already deploying" in other_tag["reason"]
    assert len(codedeploy.deployments) == 1


def test_a_failed_release_s_digest_deploys_again_when_pushed_again(world, codedeploy, lambda_context):
    first = deploy(lambda_context, tag="v1.1.0", digest=FIX)
    codedeploy.finish(first["deployment_id"], "Failed", error_code="HOOK_EXECUTION_FAILURE", message="smoke failed")
    state_change(lambda_context, first["deployment_id"], "FAILURE")

    again = push_later(lambda_context, tag="v1.1.0", digest=FIX)

    assert again["outcome"] == "deployed", again  # not quarantined (no alarm), not live, not in flight


# -- the operator's rollback takes what is live from the service --------------------------------------------------
def test_rollback_when_what_is_live_is_unknown_to_the_ledger(world, codedeploy, lambda_context, later, capsys):
    establish_known_good(codedeploy, lambda_context, later)
    ecs = aws.client("ecs")
    foreign = ecs.register_task_definition(
        family="sample-app",
        containerDefinitions=[{"name": "sample-app", "image": "public.ecr.aws/nginx/nginx:latest", "memory": 256}],
    )["taskDefinition"]["taskDefinitionArn"]
    task_set = ecs.create_task_set(
        cluster="sample-cluster",
        service="sample-app",
        taskDefinition=foreign,
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {"subnets": world.subnets, "securityGroups": [world.security_group]}
        },
    )["taskSet"]
    ecs.update_service_primary_task_set(
        cluster="sample-cluster", service="sample-app", primaryTaskSet=task_set["taskSetArn"]
    )
    before = {r.release_id for r in ledger().releases(TARGET)}

    code, answer = cli(capsys, "rollback", TARGET, "--yes")

    assert code == 0 and answer["outcome"] == "revert-started", answer
    assert [q.digest for q in ledger().quarantined(TARGET)] == []  # nothing called "unknown" is quarantined
    new = [r for r in ledger().releases(TARGET) if r.release_id not in before]
    assert [(r.trigger, r.digest) for r in new] == [("operator-rollback", GOOD)]


def test_automation_never_quarantines_the_known_good_digest(world, codedeploy, lambda_context, later):
    establish_known_good(codedeploy, lambda_context, later)

    assert ledger().quarantine(TARGET, GOOD, reason="test", release_id=None) is False
    assert not ledger().is_quarantined(TARGET, GOOD)
    assert ledger().quarantine(TARGET, BAD, reason="test", release_id=None) is True


def test_a_stale_claim_whose_release_ended_never_blocks_a_new_push(world, codedeploy, lambda_context):
    first = deploy(lambda_context, tag="v1.1.0", digest=FIX)
    release = release_of(first["deployment_id"])
    ledger().update_release(TARGET, release.release_id, status="FAILED")  # ended, its claim never given back
    codedeploy.finish(first["deployment_id"], "Failed")

    again = push_later(lambda_context, tag="v1.1.0", digest=FIX)

    assert again["outcome"] == "deployed", again


# -- order of pushes by the registry's clock ------------------------------------------------------------------------
@pytest.mark.parametrize("arrival", ["newer-first", "older-first"])
def test_two_pushes_in_one_second_are_ordered_by_the_registry_not_the_event_id(
    world, codedeploy, lambda_context, arrival
):
    from datetime import UTC, datetime

    from pushdeploy_local.emulator.ecr import publish_image, registry_as_ecr

    ecr = aws.client("ecr")
    moments = iter([datetime(2019, 11, 16, 2, 0, 0, 100_000, UTC), datetime(2019, 11, 16, 2, 0, 0, 900_000, UTC)])
    registry_as_ecr(now=lambda: next(moments))  # ECR's clock: both pushed within one second
    try:
        older = publish_image(ecr, "my-repository-name", "main", seed="older").digest
        newer = publish_image(ecr, "my-repository-name", "main", seed="newer").digest
    finally:
        registry_as_ecr(now=None)
    second = "2019-11-16T02:00:00Z"  # EventBridge's time: both pushes in one second
    events = {  # the event ids sort against the push order: they are random, and say nothing about it
        older: push_event(tag="main", digest=older, event_id="ffffffff-older", time=second),
        newer: push_event(tag="main", digest=newer, event_id="00000000-newer", time=second),
    }
    order = [newer, older] if arrival == "newer-first" else [older, newer]

    answers = {d: load_handler("deployer").lambda_handler(events[d], lambda_context)["results"][0] for d in order}

    assert answers[newer]["outcome"] in ("deployed", "queued"), answers[newer]
    if arrival == "newer-first":
        assert answers[older]["outcome"] == "superseded" and "newer push" in answers[older]["reason"]
    else:
        assert answers[older]["outcome"] == "deployed"
        assert answers[newer]["outcome"] == "queued"  # it waits, and is the one that ships next
        assert ledger().get_pending(TARGET).digest == newer


def test_an_event_whose_handler_died_mid_start_deploys_when_delivered_after_the_lease(
    world, codedeploy, lambda_context, monkeypatch
):
    event = push_event(tag="v1.1.0", digest=FIX, time="2019-11-16T02:10:00Z")

    def died(**kwargs: Any) -> Any:
        raise SystemExit("the Lambda sandbox died")  # not an Exception: nothing in the handler cleans up

    with monkeypatch.context() as patched:
        patched.setattr(codedeploy, "create_deployment", died)
        with pytest.raises(SystemExit):
            load_handler("deployer").lambda_handler(event, lambda_context)
    at_once = load_handler("deployer").lambda_handler(event, lambda_context)["results"][0]
    later = clock.now() + timedelta(minutes=16)
    clock.use(lambda: later)
    try:
        after_lease = load_handler("deployer").lambda_handler(event, lambda_context)["results"][0]
    finally:
        clock.reset()

    assert at_once["outcome"] == "duplicate"  # the claim is still leased: its owner may be alive
    assert after_lease["outcome"] == "deployed", after_lease
    assert [r.release_id for r in ledger().releases(TARGET)] == [after_lease["release_id"]]  # one release


def test_a_waiting_revert_is_never_displaced_by_a_push_and_starts_first(world, codedeploy, lambda_context, later):
    establish_known_good(codedeploy, lambda_context, later)
    bad = deploy(lambda_context, tag="v1.1.0", digest=BAD)
    succeed(codedeploy, lambda_context, bad["deployment_id"])
    foreign = codedeploy.create_deployment(  # someone else's deployment holds the group
        applicationName="sample-app",
        deploymentGroupName="sample-app-prod",
        revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": "{}"}},
    )["deploymentId"]
    revert = services().reverts.revert(target(), bad=release_of(bad["deployment_id"]), reason="alarm (test)")
    pushed = push_later(lambda_context, tag="v1.2.0", digest=FIX, minutes=30)  # a newer push, also waiting

    codedeploy.finish(foreign, "Succeeded")
    first = services().starter.start_pending(target())

    assert revert.outcome == "queued" and pushed["outcome"] == "queued"
    assert first is not None and first.release_id == revert.release_id  # the remedy first
    assert release_of_id(pushed["release_id"]).status == "QUEUED"  # the push still waits, not dropped
    succeed(codedeploy, lambda_context, first.deployment_id)
    assert release_of_id(pushed["release_id"]).status == "IN_PROGRESS"


def test_one_release_at_a_time_holds_an_ecs_services_lane(world):
    # ECS starts a deployment on every UpdateService: the lane is what keeps one per service (invariant 4)
    book = ledger()

    assert book.take_lane("web", "r1") is None  # taken
    assert book.take_lane("web", "r1") is None  # taken again by its holder: idempotent
    assert book.take_lane("web", "r2") == "r1"  # the holder is named to whoever else asks
    assert not book.free_lane("web", "r2")  # only its holder lets go of it
    assert book.lane_holder("web") == "r1"
    assert book.free_lane("web", "r1") and book.lane_holder("web") is None
    assert book.take_lane("web", "r2") is None and book.take_lane("other", "r3") is None  # one lane per target


def test_a_rolling_releases_due_checks_are_held_by_one_visit_at_a_time(world):
    # the schedule, ECS's events and the sweep may all arrive when they are due: one runs them (one revert at most);
    # a visit that dies lets go when its hold ends, and the checks stay due (never skipped) until they conclude
    from pushdeploy.model.releases import Release

    book = ledger()
    release = Release.new(target="web", digest=GOOD, image_uri=f"repo@{GOOD}", trigger="push", status="SUCCEEDED")
    book.put_release(release)
    due = "2026-12-01T10:01:00.000Z"
    book.update_release("web", release.release_id, checks_due_at=due)
    soon, past = clock.iso(clock.now() + timedelta(minutes=4)), clock.iso(clock.now() - timedelta(seconds=1))

    assert not book.claim_due_checks("web", release.release_id, "2026-12-01T10:00:00.000Z", soon)  # another due
    assert book.claim_due_checks("web", release.release_id, due, soon)
    assert not book.claim_due_checks("web", release.release_id, due, soon)  # held
    assert book.get_release("web", release.release_id).checks_due_at == due  # still due while they run
    book.update_release("web", release.release_id, checks_claimed_until=past)  # the visit died; its hold ended
    assert book.claim_due_checks("web", release.release_id, due, soon)


def test_evidence_a_hook_records_before_the_start_is_recorded_is_kept(world):
    # ECS may invoke its first hook as soon as UpdateService returns, before the starter records the start
    from pushdeploy.model.releases import Release

    book = ledger()
    release = Release.new(target="web", digest=GOOD, image_uri=f"repo@{GOOD}", trigger="push", reason="waiting")
    book.put_release(release)
    book.record_hook("web", release.release_id, "PRE_SCALE_UP", {"status": "Succeeded", "reason": "image ok"})
    release.reason = None  # the starter's copy, changed in memory since

    book.mark_started(
        release,
        deployment_id="d-1",
        task_definition_arn="td:2",
        previous_task_definition_arn="td:1",
        deployment_config=None,
    )

    stored = book.get_release("web", release.release_id)
    assert stored.hooks == {"PRE_SCALE_UP": {"status": "Succeeded", "reason": "image ok"}}
    assert (stored.status, stored.deployment_id, stored.reason) == ("IN_PROGRESS", "d-1", None)
    assert book.release_by_deployment("d-1").release_id == release.release_id
