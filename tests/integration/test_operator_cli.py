"""The operator CLI against moto and the CodeDeploy emulator, in both output modes, error paths included."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pushdeploy import aws
from pushdeploy_cli.main import main
from pushdeploy_local.emulator.ecr import publish_image

from tests.helpers import ledger, load_event, load_handler, push_event

TARGET = "sample-app-prod"
REPO = "my-repository-name"


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()  # what the handlers printed before (their EMF metrics) is not the CLI's answer
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def json_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    code, out, _ = cli(capsys, *args, "--output", "json")
    return code, json.loads(out)


def ship(world: Any, codedeploy: Any, lambda_context: Any, tag: str, digest: str) -> str:
    """A push that succeeds, with its task set made PRIMARY (what CodeDeploy's End leaves behind)."""
    [result] = load_handler("deployer").lambda_handler(
        push_event(tag=tag, digest=digest, event_id=f"e-{tag}"), lambda_context
    )["results"]
    deployment_id = str(result["deployment_id"])
    release = ledger().release_by_deployment(deployment_id)
    assert release is not None
    ecs = aws.client("ecs")
    task_set = ecs.create_task_set(
        cluster="sample-cluster",
        service="sample-app",
        taskDefinition=release.task_definition_arn,
        launchType="FARGATE",
        scale={"value": 100, "unit": "PERCENT"},
        networkConfiguration={
            "awsvpcConfiguration": {"subnets": world.subnets, "securityGroups": [world.security_group]}
        },
    )["taskSet"]
    ecs.update_service_primary_task_set(
        cluster="sample-cluster", service="sample-app", primaryTaskSet=task_set["taskSetArn"]
    )
    codedeploy.finish(deployment_id, "Succeeded")
    event = load_event("codedeploy-deployment-state-change.json")
    event["detail"].update(
        deploymentId=deployment_id, state="SUCCESS", application="sample-app", deploymentGroup="sample-app-prod"
    )
    load_handler("deployment_events").lambda_handler(event, lambda_context)
    return deployment_id


@pytest.fixture
def live(world: Any, codedeploy: Any, lambda_context: Any) -> dict[str, str]:
    """v1.0.0 is known good; v1.1.0 serves production inside its watch window."""
    first = ship(world, codedeploy, lambda_context, "v1.0.0", "sha256:" + "1" * 64)
    release = ledger().release_by_deployment(first)
    assert release is not None
    ledger().set_known_good(release)
    second = ship(world, codedeploy, lambda_context, "v1.1.0", "sha256:" + "2" * 64)
    return {"first": first, "second": second}


# -- targets ----------------------------------------------------------------------------------------------------
def targets_file(tmp_path: Any, world: Any, **changes: Any) -> str:
    document = {**world.target_document(), "name": "checkout-prod", **changes}
    path = tmp_path / "targets.yaml"
    path.write_text(json.dumps({"targets": [document]}))
    return str(path)


def test_targets_diff_says_what_apply_would_change_field_by_field(world, capsys, tmp_path):
    path = targets_file(tmp_path, world)
    code, payload = json_cli(capsys, "targets", "diff", path)
    assert code == 0 and [(c["target"], c["change"]) for c in payload] == [
        ("checkout-prod", "create"),
        ("sample-app-prod", "only in SSM"),
    ]
    json_cli(capsys, "targets", "apply", path)

    changed = targets_file(tmp_path, world, on_busy="reject", rollback={"watch_minutes_after_success": 5})
    code, payload = json_cli(capsys, "targets", "diff", changed)

    updates = {(c["field"], c["stored"], c["wanted"]) for c in payload if c["change"] == "update"}
    assert updates == {("on_busy", "queue-latest", "reject"), ("rollback.watch_minutes_after_success", 30, 5)}
    assert "checkout-prod" in cli(capsys, "targets", "list")[1]
    _, out, _ = cli(capsys, "targets", "diff", changed)
    assert "apply would change 1 target(s)" in out and '"queue-latest"' in out


def test_targets_validate_online_checks_what_the_account_has(world, codedeploy, capsys, tmp_path):
    code, answer = json_cli(capsys, "targets", "validate", targets_file(tmp_path, world), "--online")
    assert code == 0 and answer["valid"] is True, answer

    ghost = targets_file(
        tmp_path,
        world,
        deployment_group="nope",
        repository="no-such-repo",
        deployment_config="team.Custom",
        rollback={"alarms": ["ghost-5xx"]},
    )
    (tmp_path / "custom.yaml").write_text(
        Path(ghost).read_text().replace('{"targets"', '{"deployment_configs": ["team.Custom"], "targets"')
    )
    code, answer = json_cli(capsys, "targets", "validate", str(tmp_path / "custom.yaml"), "--online")

    assert code == 2
    assert {p["field"] for p in answer["problems"]} == {
        "deployment_group",
        "deployment_config",
        "repository",
        "rollback.alarms",
    }, answer


def test_targets_apply_dry_run_then_apply_then_list(world, capsys, tmp_path):
    path = targets_file(tmp_path, world)

    code, payload = json_cli(capsys, "targets", "apply", path, "--dry-run")
    assert code == 0 and payload[0]["change"] == "create"
    assert "checkout-prod" not in cli(capsys, "targets", "list")[1]

    code, payload = json_cli(capsys, "targets", "apply", path)
    assert payload[0]["change"] == "created"
    code, payload = json_cli(capsys, "targets", "apply", path)
    assert payload[0]["change"] == "unchanged"
    code, out, _ = cli(capsys, "targets", "list")
    assert code == 0 and "checkout-prod" in out and "sample-app-prod" in out


def test_targets_apply_refuses_an_invalid_file(world, capsys, tmp_path):
    code, _, err = cli(capsys, "targets", "apply", targets_file(tmp_path, world, on_busy="later"))

    assert code == 2 and "nothing applied" in err and "on_busy" in err


# -- status and history -------------------------------------------------------------------------------------------
def test_status_shows_production_known_good_pending_and_quarantine(world, codedeploy, lambda_context, capsys, live):
    load_handler("deployer").lambda_handler(
        push_event(tag="v1.2.0", digest="sha256:" + "3" * 64, event_id="e3"), lambda_context
    )
    load_handler("deployer").lambda_handler(
        push_event(tag="v1.3.0", digest="sha256:" + "4" * 64, event_id="e4", time="2030-01-01T00:00:00Z"),
        lambda_context,
    )
    ledger().quarantine(TARGET, "sha256:" + "9" * 64, reason="test", release_id=None)

    code, [status] = json_cli(capsys, "status", TARGET)

    assert code == 0
    assert status["production"]["tag"] == "v1.1.0" and status["production"]["digest"] == "sha256:" + "2" * 64
    assert status["known_good"]["tag"] == "v1.0.0"
    assert status["active"]["tag"] == "v1.2.0" and status["active"]["status"] == "Created"
    assert status["active"]["step"] == "BeforeInstall"  # GetDeploymentTarget: the next lifecycle event to run
    assert status["active"]["traffic"].startswith("sample-app-blue 100%")
    assert status["pending"]["tag"] == "v1.3.0"
    assert status["quarantined"] == ["sha256:" + "9" * 64]
    assert status["candidate"]["digest"] == "sha256:" + "2" * 64 and status["candidate"]["watch_until"]
    code, out, _ = cli(capsys, "status")
    assert code == 0 and "v1.1.0" in out and "v1.3.0" in out


def test_one_broken_target_never_hides_the_others(world, codedeploy, capsys, live):
    document = {**world.target_document(), "name": "orphan", "deployment_group": "gone", "repository": "orphan-repo"}
    aws.client("ssm").put_parameter(
        Name=world.spec.targets_path + "orphan", Value=json.dumps(document), Type="String", Overwrite=True
    )

    code, statuses = json_cli(capsys, "status")

    assert code == 1  # something is wrong, and the overview still shows everything
    by_target = {s["target"]: s for s in statuses}
    assert by_target[TARGET]["production"]["tag"] == "v1.1.0"
    assert "gone" in by_target["orphan"]["broken"]
    code, _, err = cli(capsys, "status", "orphan")
    assert code != 0 and "gone" in err and "Traceback" not in err


def test_history_lists_releases_newest_first(world, codedeploy, lambda_context, capsys, live):
    code, payload = json_cli(capsys, "history", TARGET)

    assert code == 0
    assert [r["tag"] for r in payload] == ["v1.1.0", "v1.0.0"]
    assert payload[0]["status"] == "SUCCEEDED" and payload[0]["trigger"] == "push"
    code, out, _ = cli(capsys, "history", TARGET, "--limit", "1")
    assert "v1.1.0" in out and "v1.0.0" not in out


def test_unknown_target_is_not_found_in_both_modes(world, capsys):
    code, _, err = cli(capsys, "history", "nope")
    assert code == 3 and "unknown target 'nope'" in err
    code, payload = json_cli(capsys, "status", "nope")
    assert code == 3 and payload["code"] == 3


def test_throttling_is_retried(world, codedeploy, lambda_context, capsys, live):
    ecs = aws.client("ecs")
    throttled = {"left": 2}

    def throttle(**kwargs: Any) -> Any:
        if throttled["left"]:
            throttled["left"] -= 1
            return {"status": 400, "headers": {}, "body": b""} and _throttled_response()
        return None

    ecs.meta.events.register("before-send.ecs.DescribeServices", throttle)

    code, [status] = json_cli(capsys, "status", TARGET)

    assert code == 0 and status["production"]["tag"] == "v1.1.0"
    assert throttled["left"] == 0


def _throttled_response() -> Any:
    from botocore.awsrequest import AWSResponse

    class Raw:
        def stream(self, **kwargs: Any) -> Any:
            yield b'{"__type": "ThrottlingException", "message": "Rate exceeded"}'

    return AWSResponse("https://ecs", 400, {"x-amzn-requestid": "t"}, Raw())


# -- deploy ----------------------------------------------------------------------------------------------------------
def test_deploy_by_tag_goes_through_the_push_path(world, codedeploy, capsys):
    image = publish_image(aws.client("ecr"), REPO, "v2.0.0", as_index=True)

    code, payload = json_cli(capsys, "deploy", TARGET, "--tag", "v2.0.0")
    assert code == 0 and payload["outcome"] == "deployed"
    release = ledger().release_by_deployment(payload["deployment_id"])
    assert release is not None and release.digest == image.digest and release.tag == "v2.0.0"
    assert release.trigger == "manual"  # the push path, labelled as the operator's deploy in the history

    code, payload = json_cli(capsys, "deploy", TARGET, "--digest", image.digest)
    assert code == 1 and payload["outcome"] == "duplicate"


def test_deploy_error_paths(world, codedeploy, capsys):
    code, _, err = cli(capsys, "deploy", TARGET, "--tag", "v9.9.9")
    assert code == 3 and "no image tagged 'v9.9.9'" in err
    code, _, err = cli(capsys, "deploy", TARGET, "--tag", "v9.9.9", "--config", "CodeDeployDefault.ECSAllAtOnc")
    assert code == 3 and "no deployment config 'CodeDeployDefault.ECSAllAtOnc' (did you mean" in err
    assert "nothing was deployed" in err
    code, _, err = cli(capsys, "deploy", TARGET, "--digest", "latest")
    assert code == 2 and "is not a digest" in err

    ledger().quarantine(TARGET, "sha256:" + "b" * 64, reason="rolled back", release_id=None)
    code, payload = json_cli(capsys, "deploy", TARGET, "--digest", "sha256:" + "b" * 64)
    assert code == 1 and payload["outcome"] == "quarantined"
    code, payload = json_cli(capsys, "deploy", TARGET, "--digest", "sha256:" + "b" * 64, "--force")
    assert code == 0 and payload["outcome"] == "deployed"


def finish_when_created(codedeploy: Any, status: str, **kwargs: Any) -> threading.Thread:
    """What CodeDeploy does later: end the deployment the command under test creates."""

    def run() -> None:
        for _ in range(200):
            created = [d for d in codedeploy.deployments.values() if d["status"] == "Created"]
            if created:
                codedeploy.finish(created[0]["deploymentId"], status, **kwargs)
                return
            time.sleep(0.05)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_deploy_wait_reports_a_rollback_as_failure(world, codedeploy, capsys):
    finish_when_created(
        codedeploy,
        "Stopped",
        error_code="ALARM_ACTIVE",
        message="One or more alarms have been activated",
        rollback=True,
    )

    code, out, _ = cli(
        capsys, "deploy", TARGET, "--digest", "sha256:" + "c" * 64, "--wait", "--poll", "0.1", "--timeout", "10"
    )

    assert code == 1
    assert "Stopped" in out and "rolled back by d-" in out and "Succeeded" not in out


def test_deploy_wait_reports_success_and_times_out(world, codedeploy, capsys):
    finish_when_created(codedeploy, "Succeeded")
    code, out, _ = cli(
        capsys, "deploy", TARGET, "--digest", "sha256:" + "c" * 64, "--wait", "--poll", "0.1", "--timeout", "10"
    )
    assert code == 0 and "Succeeded" in out

    code, payload = json_cli(
        capsys, "deploy", TARGET, "--digest", "sha256:" + "d" * 64, "--wait", "--poll", "0.1", "--timeout", "0.3"
    )
    assert code == 4
    assert payload["outcome"] == "deployed" and payload["final"]["timed_out"] is True


# -- rollback and release --------------------------------------------------------------------------------------------
def test_rollback_stops_an_active_deployment(world, codedeploy, capsys, live, lambda_context):
    [result] = load_handler("deployer").lambda_handler(
        push_event(tag="v1.2.0", digest="sha256:" + "3" * 64, event_id="e3"), lambda_context
    )["results"]

    code, payload = json_cli(capsys, "rollback", TARGET, "--yes")

    assert code == 0 and payload["outcome"] == "rollback-started"
    assert codedeploy.deployments[result["deployment_id"]]["status"] == "Stopped"
    assert ledger().is_quarantined(TARGET, "sha256:" + "3" * 64)


def test_rollback_without_an_active_deployment_deploys_known_good_and_quarantines_live(world, codedeploy, capsys, live):
    code, payload = json_cli(capsys, "rollback", TARGET, "--yes")

    assert code == 0 and payload["outcome"] == "revert-started"
    release = ledger().release_by_deployment(payload["deployment_id"])
    assert release is not None and release.tag == "v1.0.0" and release.trigger == "operator-rollback"
    assert ledger().is_quarantined(TARGET, "sha256:" + "2" * 64)


def test_rollback_to_a_named_release(world, codedeploy, capsys, live):
    code, _, err = cli(capsys, "rollback", TARGET, "--to", "v0.0.1", "--yes")
    assert code == 3 and "matches 'v0.0.1'" in err

    code, payload = json_cli(capsys, "rollback", TARGET, "--to", "v1.0.0", "--yes")
    assert code == 0 and ledger().release_by_deployment(payload["deployment_id"]).digest == "sha256:" + "1" * 64


def test_rollback_to_while_a_deployment_is_in_flight_is_refused_before_anything_changes(
    world, codedeploy, lambda_context, capsys, live
):
    load_handler("deployer").lambda_handler(
        push_event(tag="v1.2.0", digest="sha256:" + "3" * 64, event_id="e3"), lambda_context
    )
    active = ledger().releases(TARGET, limit=1)[0].deployment_id
    assert active is not None

    code, _, err = cli(capsys, "rollback", TARGET, "--to", "v1.0.0", "--yes")

    assert code == 2 and f"{active} is deploying" in err and "not to 'v1.0.0'" in err
    assert codedeploy.get_deployment(deploymentId=active)["deploymentInfo"]["status"] not in ("Stopped",)
    assert not ledger().is_quarantined(TARGET, "sha256:" + "3" * 64)


def test_rollback_needs_known_good_before_it_asks(world, codedeploy, capsys):
    code, _, err = cli(capsys, "rollback", TARGET)
    assert code == 3 and "no known-good release" in err  # nothing to ask about
    code, _, err = cli(capsys, "rollback", TARGET, "--yes")
    assert code == 3 and "no known-good release" in err


def test_rollback_asks_with_exactly_what_will_happen(world, codedeploy, capsys, live, monkeypatch):
    asked: list[str] = []
    monkeypatch.setattr("pushdeploy_cli.main._confirm", lambda question: asked.append(question) or False)

    code, _, err = cli(capsys, "rollback", TARGET)

    assert code == 2 and "not confirmed: nothing changed" in err
    assert asked == [
        f"This will deploy v1.0.0 ({'sha256:' + '1' * 64}) over v1.1.0 on {TARGET}; v1.1.0 ({'sha256:' + '2' * 64}) "
        "will be quarantined. Proceed?"
    ]
    assert not ledger().is_quarantined(TARGET, "sha256:" + "2" * 64)


def test_rollback_to_and_release_take_a_tag_or_a_digest_prefix(world, codedeploy, capsys, live):
    code, _, err = cli(capsys, "rollback", TARGET, "--to", "1111111", "--yes")  # a prefix of v1.0.0's digest
    assert code == 0, err
    assert ledger().is_quarantined(TARGET, "sha256:" + "2" * 64)

    code, _, err = cli(capsys, "release", TARGET, "22222")
    assert code == 2 and "too short a digest prefix: give at least 6 hex digits" in err
    code, payload = json_cli(capsys, "release", TARGET, "v1.1.0")  # the tag the quarantined release carried
    assert code == 0 and payload["digest"] == "sha256:" + "2" * 64


def test_release_lifts_a_quarantine(world, capsys):
    ledger().quarantine(TARGET, "sha256:" + "e" * 64, reason="test", release_id=None)

    code, payload = json_cli(capsys, "release", TARGET, "sha256:" + "e" * 64)
    assert code == 0 and payload["released"] is True
    assert not ledger().is_quarantined(TARGET, "sha256:" + "e" * 64)
    code, _, err = cli(capsys, "release", TARGET, "sha256:" + "e" * 64)
    assert code == 3 and "no quarantined digest of sample-app-prod matches" in err


def test_rollback_refuses_when_production_already_runs_the_destination(world, codedeploy, capsys, live):
    code, _, err = cli(capsys, "rollback", TARGET, "--to", "v1.1.0", "--yes")

    assert code == 2 and "already serves v1.1.0" in err
    assert not ledger().is_quarantined(TARGET, "sha256:" + "2" * 64)
