"""Alarm rollback, deployment events, known-good releases, notifications and retention (issue: rollback)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from pushdeploy import aws, clock, runtime
from pushdeploy.settings import Settings
from pushdeploy_local.emulator.ecr import BlobServer, publish_image, serve_layer_downloads

from tests.helpers import ledger, load_event, load_handler, push_event, stack_names

TARGET = "sample-app-prod"


def deploy(lambda_context: Any, *, tag: str, digest: str, event_id: str | None = None) -> dict[str, Any]:
    [result] = load_handler("deployer").lambda_handler(
        push_event(tag=tag, digest=digest, event_id=event_id or f"evt-{tag}-{digest[7:15]}"), lambda_context
    )["results"]
    return dict(result)


def state_change(lambda_context: Any, deployment_id: str, state: str) -> dict[str, Any]:
    event = load_event("codedeploy-deployment-state-change.json")
    event["detail"].update(
        deploymentId=deployment_id, state=state, application="sample-app", deploymentGroup="sample-app-prod"
    )
    [result] = load_handler("deployment_events").lambda_handler(event, lambda_context)["results"]
    return dict(result)


def alarm(
    lambda_context: Any, *, name: str = "sample-app-5xx", at: datetime | None = None, **detail: Any
) -> list[dict[str, Any]]:
    event = load_event("cloudwatch-alarm-state-change-metric.json")
    event["detail"]["alarmName"] = name
    event["resources"] = [f"arn:aws:cloudwatch:us-west-2:123456789012:alarm:{name}"]
    event["detail"]["state"]["timestamp"] = (at or clock.now()).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
    event["detail"].update(detail)
    return list(load_handler("alarm_rollback").lambda_handler(event, lambda_context)["results"])


def succeed(codedeploy: Any, lambda_context: Any, deployment_id: str) -> dict[str, Any]:
    codedeploy.finish(deployment_id, "Succeeded")
    return state_change(lambda_context, deployment_id, "SUCCESS")


def release_of(deployment_id: str) -> Any:
    release = ledger().release_by_deployment(deployment_id)
    assert release is not None
    return release


def establish_known_good(codedeploy: Any, lambda_context: Any, later: Any) -> dict[str, Any]:
    """v1.0.0 ships, survives its watch window, and becomes KNOWN_GOOD."""
    first = deploy(lambda_context, tag="v1.0.0", digest="sha256:" + "1" * 64)
    succeed(codedeploy, lambda_context, first["deployment_id"])
    later(31)
    runtime.services().lifecycle.promote_if_due(runtime.services().catalog().by_name(TARGET))
    clock.reset()
    known_good = ledger().known_good(TARGET)
    assert known_good is not None and known_good.tag == "v1.0.0"
    return first


# -- alarm during a deployment ----------------------------------------------------------------------------------
def test_an_alarm_during_a_deployment_stops_it_with_rollback_and_quarantines_the_digest(
    world, codedeploy, lambda_context
):
    started = deploy(lambda_context, tag="v1.1.0", digest="sha256:" + "b" * 64)

    [result] = alarm(lambda_context)

    assert result["outcome"] == "rollback-started"
    assert "sample-app-5xx" in result["reason"]
    stopped = codedeploy.deployments[started["deployment_id"]]
    assert stopped["status"] == "Stopped"
    rollback_id = stopped["rollbackInfo"]["rollbackDeploymentId"]
    assert codedeploy.deployments[rollback_id]["creator"] == "codeDeployRollback"
    release = release_of(started["deployment_id"])
    assert release.alarm == "sample-app-5xx" and "Threshold Crossed" in release.reason
    assert ledger().is_quarantined(TARGET, "sha256:" + "b" * 64)

    refused = deploy(lambda_context, tag="v1.1.1", digest="sha256:" + "b" * 64)
    assert refused["outcome"] == "quarantined"


def test_an_alarm_already_in_alarm_before_the_deployment_started_is_ignored(world, codedeploy, lambda_context):
    started = deploy(lambda_context, tag="v1.1.0", digest="sha256:" + "b" * 64)
    created = codedeploy.deployments[started["deployment_id"]]["createTime"]

    [result] = alarm(lambda_context, at=created - timedelta(minutes=3))

    assert result["outcome"] == "ignored"
    assert "already in ALARM" in result["reason"] and "must not block a fix" in result["reason"]
    assert codedeploy.deployments[started["deployment_id"]]["status"] == "Created"
    assert "already in ALARM" in release_of(started["deployment_id"]).reason


def test_the_rollback_deployment_is_recognised_and_linked_to_the_release_it_undid(
    world, codedeploy, lambda_context, inbox
):
    started = deploy(lambda_context, tag="v1.1.0", digest="sha256:" + "b" * 64)
    alarm(lambda_context)
    rollback_id = codedeploy.deployments[started["deployment_id"]]["rollbackInfo"]["rollbackDeploymentId"]

    stopped = state_change(lambda_context, started["deployment_id"], "STOP")
    codedeploy.finish(rollback_id, "Succeeded")
    rolled = state_change(lambda_context, rollback_id, "SUCCESS")

    assert stopped["outcome"] == rolled["outcome"] == "recorded"
    original = release_of(started["deployment_id"])
    rollback = release_of(rollback_id)
    assert original.status == "STOPPED" and original.rolled_back_by == rollback_id
    assert rollback.trigger == "rollback" and rollback.rollback_of == original.release_id
    assert rollback.status == "SUCCEEDED"
    assert rollback.task_definition_arn == world.task_definition_arn
    assert ledger().candidate(TARGET) is None  # a rollback is not a release candidate
    stop_message = next(m for m in inbox() if m["state"] == "STOPPED")
    assert stop_message["reason"].startswith("alarm sample-app-5xx: alarm sample-app-5xx (metric) in ALARM")


# -- alarm after success: revert to known-good ------------------------------------------------------------------
def test_an_alarm_inside_the_watch_window_reverts_to_known_good_and_quarantines(
    world, codedeploy, lambda_context, later
):
    first = establish_known_good(codedeploy, lambda_context, later)
    second = deploy(lambda_context, tag="v1.1.0", digest="sha256:" + "2" * 64)
    succeed(codedeploy, lambda_context, second["deployment_id"])
    later(10)

    [result] = alarm(lambda_context)

    assert result["outcome"] == "revert-started", result
    revert = release_of(result["deployment_id"])
    assert revert.trigger == "revert" and revert.digest == "sha256:" + "1" * 64
    assert revert.task_definition_arn == release_of(first["deployment_id"]).task_definition_arn
    assert revert.reverts_release_id == release_of(second["deployment_id"]).release_id
    assert codedeploy.deployments[result["deployment_id"]]["deploymentConfigName"] == "CodeDeployDefault.ECSAllAtOnce"
    appspec = json.loads(codedeploy.deployments[result["deployment_id"]]["revision"]["appSpecContent"]["content"])
    assert len(appspec["Hooks"]) == 5  # the revert is validated like any release
    assert ledger().is_quarantined(TARGET, "sha256:" + "2" * 64)
    assert deploy(lambda_context, tag="v1.1.1", digest="sha256:" + "2" * 64)["outcome"] == "quarantined"


def test_a_revert_never_redeploys_the_release_it_reverts(world, codedeploy, lambda_context, later):
    only = deploy(lambda_context, tag="v1.0.0", digest="sha256:" + "1" * 64)
    succeed(codedeploy, lambda_context, only["deployment_id"])  # a candidate, not yet known good

    [result] = alarm(lambda_context)

    assert result["outcome"] == "recorded" and "no known-good release" in result["reason"]
    assert len(codedeploy.deployments) == 1


def test_an_alarm_outside_the_watch_window_does_nothing_and_the_release_becomes_known_good(
    world, codedeploy, lambda_context, later
):
    establish_known_good(codedeploy, lambda_context, later)
    second = deploy(lambda_context, tag="v1.1.0", digest="sha256:" + "2" * 64)
    succeed(codedeploy, lambda_context, second["deployment_id"])
    later(45)

    [result] = alarm(lambda_context)

    assert result["outcome"] == "recorded"
    assert "no release inside its watch window" in result["reason"]
    known_good = ledger().known_good(TARGET)
    assert known_good is not None and known_good.tag == "v1.1.0"
    assert len(codedeploy.deployments) == 2


def test_watch_window_zero_makes_a_success_known_good_at_once(world, codedeploy, lambda_context):
    world.put_target({**world.target_document(), "rollback": {"watch_minutes_after_success": 0}})
    only = deploy(lambda_context, tag="v1.0.0", digest="sha256:" + "1" * 64)

    succeed(codedeploy, lambda_context, only["deployment_id"])

    known_good = ledger().known_good(TARGET)
    assert known_good is not None and known_good.digest == "sha256:" + "1" * 64


# -- queue, reconciliation -----------------------------------------------------------------------------------
def test_the_pending_push_starts_when_the_active_deployment_ends(world, codedeploy, lambda_context):
    active = deploy(lambda_context, tag="v1.0.0", digest="sha256:" + "1" * 64)
    queued = deploy(lambda_context, tag="v1.0.1", digest="sha256:" + "2" * 64)
    assert queued["outcome"] == "queued"

    succeed(codedeploy, lambda_context, active["deployment_id"])

    started = [d for d in codedeploy.deployments.values() if d["deploymentId"] != active["deployment_id"]]
    assert len(started) == 1
    assert release_of(started[0]["deploymentId"]).digest == "sha256:" + "2" * 64
    assert ledger().get_pending(TARGET) is None


def test_a_missed_event_is_reconciled_by_the_next_event_for_the_group(world, codedeploy, lambda_context):
    missed = deploy(lambda_context, tag="v1.0.0", digest="sha256:" + "1" * 64)
    codedeploy.finish(
        missed["deployment_id"],
        "Failed",
        error_code="HOOK_EXECUTION_FAILURE",
        message="lifecycle event AfterAllowTestTraffic failed",
    )  # ... and its FAILURE event is lost
    assert release_of(missed["deployment_id"]).status == "IN_PROGRESS"
    later = deploy(lambda_context, tag="v1.0.1", digest="sha256:" + "2" * 64)

    state_change(lambda_context, later["deployment_id"], "START")

    release = release_of(missed["deployment_id"])
    assert release.status == "FAILED"
    assert "HOOK_EXECUTION_FAILURE" in release.reason


def test_the_scheduled_sweep_reconciles_and_promotes(world, codedeploy, lambda_context, later):
    missed = deploy(lambda_context, tag="v1.0.0", digest="sha256:" + "1" * 64)
    codedeploy.finish(missed["deployment_id"], "Succeeded")
    sweep = {"source": "aws.events", "detail-type": "Scheduled Event", "id": "pushdeploy-reconcile", "detail": {}}

    [result] = load_handler("deployment_events").lambda_handler(sweep, lambda_context)["results"]
    later(31)
    load_handler("deployment_events").lambda_handler(sweep, lambda_context)

    assert result["reason"] == "reconciled 1 release(s)"
    assert release_of(missed["deployment_id"]).status == "SUCCEEDED"
    known_good = ledger().known_good(TARGET)
    assert known_good is not None and known_good.tag == "v1.0.0"


# -- retention ---------------------------------------------------------------------------------------------------
def test_pruning_keeps_known_good_and_running_revisions(world, codedeploy, lambda_context, later):
    world.put_target({**world.target_document(), "keep_task_definitions": 2})
    first = establish_known_good(codedeploy, lambda_context, later)
    known_good_td = release_of(first["deployment_id"]).task_definition_arn
    for n in range(2, 6):
        step = deploy(lambda_context, tag=f"v1.0.{n}", digest="sha256:" + str(n) * 64)
        succeed(codedeploy, lambda_context, step["deployment_id"])

    ecs = aws.client("ecs")
    active = ecs.list_task_definitions(familyPrefix="sample-app", status="ACTIVE")["taskDefinitionArns"]
    revisions = sorted(int(a.rsplit(":", 1)[1]) for a in active)
    assert known_good_td in active  # the rollback target survives, though it is old
    assert world.task_definition_arn in active  # the revision the service runs survives
    assert revisions == [1, 2, 5, 6]  # newest two kept, plus the protected ones; 3 and 4 deregistered


# -- notifications -------------------------------------------------------------------------------------------
def test_notifications_name_the_commit_when_the_image_has_labels(world, codedeploy, lambda_context, inbox):
    blobs = BlobServer()
    try:
        serve_layer_downloads(blobs)
        image = publish_image(
            aws.client("ecr"),
            "my-repository-name",
            "v3.0.0",
            blobs=blobs,
            labels={
                "org.opencontainers.image.revision": "4f1c2e9d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e",
                "org.opencontainers.image.source": "https://github.com/acme/sample-app",
                "org.opencontainers.image.version": "3.0.0",
            },
        )
        started = deploy(lambda_context, tag="v3.0.0", digest=image.digest)
        succeed(codedeploy, lambda_context, started["deployment_id"])
    finally:
        blobs.close()

    [message] = [m for m in inbox() if m["state"] == "SUCCEEDED"]
    assert message["commit_revision"] == "4f1c2e9d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e"
    assert message["commit_source"] == "https://github.com/acme/sample-app"
    assert message["commit_version"] == "3.0.0"
    assert message["tag"] == "v3.0.0" and message["digest"] == image.digest and message["target"] == TARGET
    assert "duration" in message and "commit 4f1c2e9d8b7a" in message["text"]


def test_notifications_without_labels_leave_the_commit_out(world, codedeploy, lambda_context, inbox):
    blobs = BlobServer()
    try:
        serve_layer_downloads(blobs)
        image = publish_image(aws.client("ecr"), "my-repository-name", "v3.0.0", blobs=blobs, labels=None)
        started = deploy(lambda_context, tag="v3.0.0", digest=image.digest)
        codedeploy.finish(
            started["deployment_id"],
            "Failed",
            error_code="HOOK_EXECUTION_FAILURE",
            message="The deployment failed because a specified lifecycle hook failed",
        )
        ledger().record_hook(
            TARGET,
            release_of(started["deployment_id"]).release_id,
            "AfterAllowTestTraffic",
            {"status": "Failed", "reason": "smoke GET /health: status 500, expected [200]"},
        )
        state_change(lambda_context, started["deployment_id"], "FAILURE")
    finally:
        blobs.close()

    [message] = [m for m in inbox() if m["state"] == "FAILED"]
    assert not any(key.startswith("commit_") for key in message)
    assert message["reason"] == "AfterAllowTestTraffic hook failed: smoke GET /health: status 500, expected [200]"


def test_a_notification_failure_never_fails_the_bookkeeping(world, codedeploy, lambda_context, monkeypatch):
    monkeypatch.setenv("PUSHDEPLOY_TOPIC_ARN", "arn:aws:sns:us-west-2:123456789012:does-not-exist")
    runtime.configure(Settings.from_env())
    started = deploy(lambda_context, tag="v1.0.0", digest="sha256:" + "1" * 64)

    result = succeed(codedeploy, lambda_context, started["deployment_id"])

    assert result["outcome"] == "recorded"
    assert release_of(started["deployment_id"]).status == "SUCCEEDED"


# -- what is not ours, or not well-formed --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda e: e["detail"]["state"].update(value="OK"), "is OK: only ALARM acts"),
        (lambda e: e.update({"detail-type": "CloudWatch Alarm Configuration Change"}), "is not acted on"),
        (lambda e: e["detail"].update(alarmName="ServerCpuTooHigh"), "no target watches alarm ServerCpuTooHigh"),
        (lambda e: e["detail"].pop("state"), "detail.state is missing"),
        (lambda e: e["detail"]["state"].update(timestamp="yesterday"), "is not a timestamp"),
    ],
)
def test_alarm_events_not_to_act_on_are_ignored_with_a_reason(world, codedeploy, lambda_context, mutate, reason):
    event = load_event("cloudwatch-alarm-state-change-metric.json")
    event["detail"]["alarmName"] = "sample-app-5xx"
    mutate(event)

    [result] = load_handler("alarm_rollback").lambda_handler(event, lambda_context)["results"]

    assert result["outcome"] == "ignored" and reason in result["reason"]


def test_composite_and_metric_math_alarms_are_recognised(world, codedeploy, lambda_context):
    world.put_target({**world.target_document(), "rollback": {"alarms": ["sample-app-health", "sample-app-errors"]}})
    started = deploy(lambda_context, tag="v1.1.0", digest="sha256:" + "b" * 64)
    composite = {"alarmRule": "ALARM(sample-app-5xx) OR ALARM(sample-app-latency)"}
    reason_data = json.dumps(
        {
            "triggeringAlarms": [
                {"arn": "arn:aws:cloudwatch:us-west-2:123456789012:alarm:sample-app-5xx", "state": {"value": "ALARM"}}
            ]
        }
    )

    [result] = alarm(lambda_context, name="sample-app-health", configuration=composite)

    assert result["outcome"] == "rollback-started" and "(composite)" in result["reason"]
    from pushdeploy.model.events import parse_alarm_event

    math = load_event("cloudwatch-alarm-state-change-metric.json")
    math["detail"]["configuration"] = {"metrics": [{"id": "e1", "expression": "m1/m2*100", "returnData": True}]}
    math["detail"]["state"]["reasonData"] = reason_data
    parsed = parse_alarm_event(math)
    assert not isinstance(parsed, str) and parsed.kind == "metric-math"
    assert parsed.triggering_alarms == ("sample-app-5xx",)
    assert codedeploy.deployments[started["deployment_id"]]["status"] == "Stopped"


def test_deployment_events_for_unknown_deployments_and_groups_are_ignored(world, codedeploy, lambda_context):
    unknown_group = load_event("codedeploy-deployment-state-change.json")  # AWS's sample, untouched
    [result] = load_handler("deployment_events").lambda_handler(unknown_group, lambda_context)["results"]
    assert result["outcome"] == "ignored" and "no target deploys myApplication/myDeploymentGroup" in result["reason"]

    foreign = codedeploy.create_deployment(
        applicationName="sample-app",
        deploymentGroupName="sample-app-prod",
        revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": "{}"}},
    )["deploymentId"]
    result = state_change(lambda_context, foreign, "START")
    assert result["outcome"] == "ignored" and "unknown to the ledger" in result["reason"]

    result = state_change(lambda_context, "d-NOSUCHONE", "SUCCESS")
    assert result["outcome"] == "ignored" and "could not be found" in result["reason"]


def test_a_malformed_deployment_event_is_kept_in_the_ledger(world, codedeploy, lambda_context):
    event = load_event("codedeploy-deployment-state-change.json")
    del event["detail"]["deploymentId"]

    [result] = load_handler("deployment_events").lambda_handler(event, lambda_context)["results"]

    assert result["outcome"] == "ignored" and "deploymentId" in result["reason"]
    assert ledger().unprocessable()[0]["function"] == "deployment-events"


@pytest.mark.parametrize(
    ("checks", "why"),
    [
        ({"target": 5, "release_id": "r"}, "needs a target and a release_id"),
        ({"target": "x", "release_id": "r"}, "no target named x"),
    ],
)
def test_a_rolling_checks_schedule_that_cannot_be_used_is_kept_in_the_ledger(
    world, codedeploy, lambda_context, checks, why
):
    event = {"PushdeployRollingChecks": checks}

    [result] = load_handler("deployment_events").lambda_handler(event, lambda_context)["results"]

    assert result["outcome"] == "ignored" and why in result["reason"]
    assert ledger().unprocessable()[0]["function"] == "deployment-events"


def test_slack_gets_the_message_and_the_webhook_url_never_reaches_the_logs(
    world, codedeploy, lambda_context, capsys, iam
):
    import io
    import logging

    from pushdeploy.observability import logger
    from pushdeploy_local.world.iam import render_principals

    logs = io.StringIO()  # the structured log, whatever stream the logger was built with
    handlers = [(h, h.stream) for h in logger.handlers if isinstance(h, logging.StreamHandler)]
    for handler, _ in handlers:
        handler.stream = logs
    import http.server
    import threading

    received: list[dict[str, Any]] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200 if len(received) == 1 else 500)  # the second post fails
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/secret-token"
    secret = aws.client("secretsmanager").create_secret(Name="pushdeploy/slack", SecretString=url)["ARN"]
    iam.principals = render_principals(stack_names(TargetSlackSecretArns=secret))  # the stack grants the secret
    world.put_target({**world.target_document(), "notify": {"slack_webhook_secret_arn": secret}})
    try:
        first = deploy(lambda_context, tag="v1.0.0", digest="sha256:" + "1" * 64)
        succeed(codedeploy, lambda_context, first["deployment_id"])
        second = deploy(lambda_context, tag="v1.0.1", digest="sha256:" + "2" * 64)
        result = succeed(codedeploy, lambda_context, second["deployment_id"])
    finally:
        server.shutdown()
        for handler, stream in handlers:
            handler.stream = stream

    assert received[0]["text"].startswith("✅ sample-app-prod: v1.0.0 deployed")
    assert result["outcome"] == "recorded"  # the failed Slack post did not fail the bookkeeping
    assert release_of(second["deployment_id"]).status == "SUCCEEDED"
    output = capsys.readouterr()
    assert "secret-token" not in output.out + output.err + logs.getvalue()
    assert "Slack notification failed" in logs.getvalue()


def test_a_revert_that_waits_in_the_queue_still_deploys_the_known_good_revision(
    world, codedeploy, lambda_context, later
):
    first = establish_known_good(codedeploy, lambda_context, later)
    second = deploy(lambda_context, tag="v1.1.0", digest="sha256:" + "2" * 64)
    succeed(codedeploy, lambda_context, second["deployment_id"])
    foreign = codedeploy.create_deployment(
        applicationName="sample-app",
        deploymentGroupName="sample-app-prod",
        revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": "{}"}},
    )["deploymentId"]
    target = runtime.services().catalog().by_name(TARGET)

    queued = runtime.services().reverts.revert(target, bad=release_of(second["deployment_id"]), reason="test")
    codedeploy.finish(foreign, "Succeeded")
    started = runtime.services().starter.start_pending(target)

    assert queued.outcome == "queued"
    assert started is not None and started.outcome == "deployed"
    deployment = codedeploy.deployments[started.deployment_id]
    appspec = json.loads(deployment["revision"]["appSpecContent"]["content"])
    known_good_td = release_of(first["deployment_id"]).task_definition_arn
    assert appspec["Resources"][0]["TargetService"]["Properties"]["TaskDefinition"] == known_good_td
    assert deployment["deploymentConfigName"] == "CodeDeployDefault.ECSAllAtOnce"


def _stopped_for_an_alarm(
    codedeploy: Any, lambda_context: Any, *, codedeploy_first: bool, digest: str
) -> dict[str, Any]:
    """v2.0.0 deploys; the watched alarm fires 30 s in; pushdeploy's handler and CodeDeploy's own poll race."""
    from pushdeploy_local.world.engine import ALARM_ACTIVE_MESSAGE

    started = deploy(lambda_context, tag="v2.0.0", digest=digest)
    assert started["outcome"] == "deployed", started
    deployment_id = started["deployment_id"]
    fired = codedeploy.deployments[deployment_id]["createTime"] + timedelta(seconds=30)
    if codedeploy_first:
        codedeploy.finish(
            deployment_id,
            "Stopped",
            error_code="ALARM_ACTIVE",
            message=ALARM_ACTIVE_MESSAGE.format(alarms="sample-app-5xx"),
            rollback=True,
        )
        state_change(lambda_context, deployment_id, "STOP")
        clock.use(lambda: fired + timedelta(seconds=5))
        try:
            [answer] = alarm(lambda_context, at=fired)  # delivered after CodeDeploy acted
        finally:
            clock.reset()
    else:
        clock.use(lambda: fired + timedelta(seconds=5))
        try:
            [answer] = alarm(lambda_context, at=fired)
        finally:
            clock.reset()
        state_change(lambda_context, deployment_id, "STOP")
    release = release_of(deployment_id)
    return {
        "status": release.status,
        "alarm": release.alarm,
        "rolled_back": release.rolled_back_by is not None,
        "quarantined": ledger().is_quarantined(TARGET, release.digest),
        "answer": answer["outcome"],
    }


def test_the_same_ending_whoever_stops_a_deployment_for_an_alarm_first(world, codedeploy, lambda_context):
    pushdeploy_first = _stopped_for_an_alarm(
        codedeploy, lambda_context, codedeploy_first=False, digest="sha256:" + "7" * 64
    )
    for deployment in codedeploy.deployments.values():  # let the rollback finish: the group is free again
        if deployment["status"] in ("Created", "InProgress"):
            codedeploy.finish(deployment["deploymentId"], "Succeeded")

    codedeploy_first = _stopped_for_an_alarm(
        codedeploy, lambda_context, codedeploy_first=True, digest="sha256:" + "8" * 64
    )

    assert pushdeploy_first["answer"] == "rollback-started"
    assert codedeploy_first["answer"] == "recorded"  # the rollback is already under way
    same = ("status", "alarm", "rolled_back", "quarantined")
    assert (
        {k: pushdeploy_first[k] for k in same}
        == {k: codedeploy_first[k] for k in same}
        == {
            "status": "STOPPED",
            "alarm": "sample-app-5xx",
            "rolled_back": True,
            "quarantined": True,
        }
    )


def test_an_install_that_never_steadies_is_explained_by_the_stopped_tasks(world, codedeploy, lambda_context):
    from pushdeploy_local.emulator import ecs as ecs_scheduler
    from pushdeploy_local.world.engine import INSTALL_TIMEOUT_MESSAGE

    started = deploy(lambda_context, tag="v4.0.0", digest="sha256:" + "4" * 64)
    release = release_of(started["deployment_id"])
    reason = (
        "Essential container in task exited (exit code 137: OutOfMemoryError: Container killed due to memory usage)"
    )
    ecs_scheduler.stop_tasks(
        aws.client("ecs"),
        "sample-cluster",
        {
            "taskDefinition": release.task_definition_arn,
            "id": "ecs-svc/1",
            "networkConfiguration": {
                "awsvpcConfiguration": {"subnets": world.subnets, "securityGroups": [world.security_group]}
            },
        },
        reason,
        count=2,
    )
    codedeploy.finish(
        started["deployment_id"], "Failed", error_code="TIMEOUT", message=INSTALL_TIMEOUT_MESSAGE, rollback=True
    )

    state_change(lambda_context, started["deployment_id"], "FAILURE")  # AfterInstall never ran: no hook verdict

    failed = release_of(started["deployment_id"])
    assert failed.status == "FAILED" and not failed.hooks
    assert "steady state" in failed.reason and "2 task(s) of the replacement stopped" in failed.reason
    assert reason in failed.reason
