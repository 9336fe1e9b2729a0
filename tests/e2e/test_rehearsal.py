"""The local rehearsal through its CLI: every built-in scenario passes, and the report says why."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT

OUTCOMES = {
    "deployed",
    "queued",
    "superseded",
    "rejected",
    "duplicate",
    "ignored",
    "quarantined",
    "rollback-started",
    "revert-started",
    "recorded",
    "failed",
}
HOOKS = {"BeforeInstall", "AfterInstall", "AfterAllowTestTraffic", "BeforeAllowTraffic", "AfterAllowTraffic"}


def rehearse(tmp_path: Path, *args: str) -> tuple[int, str, list[dict[str, Any]]]:
    report = tmp_path / "report.json"
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    done = subprocess.run(
        [sys.executable, "-m", "pushdeploy_cli", "rehearse", "--report", str(report), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
        check=False,
    )
    reports = json.loads(report.read_text()) if report.exists() else []
    return done.returncode, done.stdout + done.stderr, reports


@pytest.fixture(scope="module")
def built_in_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, list[dict[str, Any]]]:
    # operator commands after each scenario: ones that fail never stop the run (a command that does not parse is
    # refused before anything runs: test_scenario_format)
    return rehearse(
        tmp_path_factory.mktemp("rehearsal"),
        "--then",
        "history no-such-target",
        "--then",
        "rollback sample-app-prod --to nothing-like-it --yes",
    )


def test_every_built_in_scenario_passes(built_in_run):
    code, output, reports = built_in_run

    assert code == 0, output
    names = {r["scenario"] for r in reports}
    assert names >= {
        "happy-canary",
        "failing-smoke",
        "crashing-tasks",
        "erroring-in-production",
        "alarm-during-canary",
        "alarm-after-success",
        "duplicates-and-tags",
        "busy-queue-latest",
        "busy-supersede",
        "busy-reject",
        "codedeploy-stops-first",
        "alarm-flaps-during-revert",
        "fix-while-the-alarm-fires",
        "on-call-commands",
        "long-bake",
        "ecs-blue-green-happy",
        "ecs-canary-alarm-rollback",
        "ecs-linear-failing-smoke",
        "rolling-happy",
        "rolling-circuit-breaker",
        "rolling-alarm-after-success",
        "ecs-long-bake",
        "ecs-alarm-flaps-during-revert",
        "ecs-busy-queue-latest",
    }
    assert all(r["passed"] for r in reports)
    assert f"{len(reports)} passed, 0 failed" in output and len(reports) == 25


def test_services_under_ecs_own_controller_are_deployed_by_ecs(built_in_run):
    _, _, reports = built_in_run
    native = {r["scenario"]: r for r in reports if r["scenario"].startswith(("ecs-", "rolling-"))}

    for report in native.values():  # ECS deployed them: no CodeDeploy deployment at all
        assert report["deployments"] and {d["creator"] for d in report["deployments"]} == {"ECS"}
        assert all(
            d["id"].startswith("arn:aws:ecs:") and ":service-deployment/" in d["id"] for d in report["deployments"]
        )
    smoke = native["ecs-linear-failing-smoke"]["deployments"][0]
    assert smoke["hooks"]["AfterAllowTestTraffic"] == "Failed" and smoke["hooks"]["BeforeAllowTraffic"] == "Skipped"
    [bake] = [r for r in native["ecs-long-bake"]["releases"] if r["tag"] == "v1.1.0"]
    assert bake["hook_invocations"]["AfterAllowTraffic"] == 3  # IN_PROGRESS twice, then SUCCEEDED
    releases = native["rolling-alarm-after-success"]["releases"]  # oldest first
    assert [r["trigger"] for r in releases][-2:] == ["push", "revert"]
    busy = native["ecs-busy-queue-latest"]["deployments"]  # the lane: one ECS deployment at a time, never two
    assert len(busy) == 2 and all(d["status"] == "Succeeded" for d in busy)
    flaps = native["ecs-alarm-flaps-during-revert"]  # an alarm during the revert never stops it (design.md 9)
    assert [d["status"] for d in flaps["deployments"]] == ["Succeeded", "Succeeded"]
    assert "ALARM_DURING_REMEDY" in [n["state"] for n in flaps["notifications"]]


def test_a_bake_longer_than_one_invocation_carries_on_in_scheduled_invocations(built_in_run):
    _, _, reports = built_in_run
    long_bake = next(r for r in reports if r["scenario"] == "long-bake")

    [release] = [r for r in long_bake["releases"] if r["tag"] == "v1.1.0"]
    assert release["status"] == "SUCCEEDED" and release["hook_invocations"]["AfterAllowTraffic"] == 3
    handed_over = [e for e in long_bake["events"] if e["detail_type"] == "Scheduler"]
    assert [e["function"] for e in handed_over] == ["AfterAllowTrafficHookFunction"] * 2  # invocations 2 and 3
    assert "invocation 3 scheduled" in handed_over[0]["reason"] and "over 3 invocations" in handed_over[1]["reason"]


def test_operator_commands_run_inside_virtual_time(built_in_run):
    _, _, reports = built_in_run
    on_call = next(r for r in reports if r["scenario"] == "on-call-commands")

    rollback, history, deploy, status = on_call["runs"]
    assert rollback["exit"] == 1 and "in progress" in rollback["output"]  # refused: the revert is a remedy
    assert history["exit"] == 0 and "REVERTED" in history["output"]
    assert deploy["exit"] == 0 and "Succeeded" in deploy["output"]  # --wait waited in virtual time
    assert deploy["at"] > history["at"]  # the world ran while the command waited
    assert status["exit"] == 0 and "sample-app-prod" in status["output"]


def test_then_commands_are_reported_and_never_stop_the_run(built_in_run):
    _, output, reports = built_in_run

    for report in reports:
        missing, nowhere = report["then"]
        assert missing["exit"] == 3 and "unknown target 'no-such-target'" in missing["output"]
        assert nowhere["exit"] == 3 and "matches 'nothing-like-it'" in nowhere["output"] and nowhere["at"]
    assert "Traceback" not in output


def test_the_report_has_the_documented_fields(built_in_run):
    _, _, reports = built_in_run

    for report in reports:
        assert set(report) >= {"scenario", "passed", "events", "deployments", "production"}
        assert set(report["production"]) == {"tag", "image"}
        for event in report["events"]:
            assert set(event) >= {"detail_type", "function", "outcome", "reason"}
            assert set(event["outcome"].split(",")) <= OUTCOMES, event
        for deployment in report["deployments"]:
            assert set(deployment) >= {"id", "target", "tag", "image", "creator", "trigger", "status", "hooks", "error"}
            assert deployment["status"] in {"Succeeded", "Failed", "Stopped"}
            assert set(deployment["hooks"]) == HOOKS
            assert set(deployment["hooks"].values()) <= {"Succeeded", "Failed", "Skipped"}


def test_the_report_explains_each_ending(built_in_run):
    _, output, reports = built_in_run
    by_name = {r["scenario"]: r for r in reports}

    smoke = by_name["failing-smoke"]["deployments"][0]
    assert smoke["hooks"]["AfterAllowTestTraffic"] == "Failed" and "AfterAllowTestTraffic" in smoke["error"]
    assert by_name["failing-smoke"]["deployments"][1]["creator"] == "codeDeployRollback"
    crash = by_name["crashing-tasks"]["deployments"][0]
    assert crash["hooks"]["AfterInstall"] == "Skipped"  # Install never reached a steady state: it timed out
    assert "steady state" in crash["error"] and "Essential container in task exited" not in crash["error"]
    [crashed] = [r for r in by_name["crashing-tasks"]["releases"] if r["status"] == "FAILED"]
    assert "Essential container in task exited" in crashed["reason"]  # pushdeploy looked the tasks up itself
    revert = by_name["alarm-after-success"]["deployments"][1]
    assert revert["trigger"] == "revert" and revert["tag"] == "v1.0.0"
    assert by_name["alarm-after-success"]["production"]["tag"] == "v1.0.0"
    assert "production: original 90% / replacement 10%" in output


def test_a_user_scenario_file_with_a_wrong_expectation_fails(tmp_path):
    event = json.loads((ROOT / "events" / "ecr-image-action-push.json").read_text())
    (tmp_path / "push.json").write_text(json.dumps(event))  # another repository: ignored with a reason
    (tmp_path / "mine.yaml").write_text(
        "name: mine\nsteps:\n  - event: push.json\n  - push: {tag: feature-x, app: healthy}\n  - until: idle\n"
        "expect: {production_tag: v9.9.9}\n"
    )

    code, output, reports = rehearse(tmp_path, "--scenario", str(tmp_path / "mine.yaml"))

    assert code == 1
    [report] = reports
    assert report["passed"] is False
    assert "production serves 'v1.0.0', expected 'v9.9.9'" in output
    assert [e["outcome"] for e in report["events"]] == ["ignored", "ignored"]
    assert "no target deploys repository 'my-repository-name'" in report["events"][0]["reason"]
    assert "matches no target's tag_pattern" in report["events"][1]["reason"]


def test_an_unknown_scenario_is_a_usage_error(tmp_path):
    code, output, _ = rehearse(tmp_path, "--scenario", "no-such-scenario")

    assert code == 2 and "no scenario file or built-in scenario named 'no-such-scenario'" in output


def test_the_reconcile_schedule_runs_on_the_virtual_clock(built_in_run):
    _, _, reports = built_in_run
    happy = next(r for r in reports if r["scenario"] == "happy-canary")  # 12 virtual minutes: two 5-minute marks
    sweeps = [e for e in happy["events"] if e["detail_type"] == "Scheduled Event"]
    assert len(sweeps) >= 2 and {e["function"] for e in sweeps} == {"DeploymentEventsFunction"}
    assert all(e["outcome"] == "recorded" for e in sweeps)


def _without_ids(reports: list[dict[str, Any]]) -> Any:
    """What a seed decides. Set aside: release ids (wall-clock start of virtual time + a random suffix) and free
    text, which quotes measured real-time latencies of the local apps."""
    return [
        {
            "scenario": r["scenario"],
            "passed": r["passed"],
            "production": r["production"],
            "quarantined": r["quarantined"],
            # the 5-minute reconcile schedule fires on wall-clock minutes of the virtual clock, which starts at the real
            # time of the run: where its sweeps fall between the other events is not something a seed decides
            "events": [
                (e["detail_type"], e["function"], e["outcome"])
                for e in r["events"]
                if e["detail_type"] != "Scheduled Event"
            ],
            "deployments": [
                (d["id"], d["creator"], d["trigger"], d["status"], d["tag"], d["image"], sorted(d["hooks"].items()))
                for d in r["deployments"]
            ],
            "releases": [(x["tag"], x["status"], x["trigger"]) for x in r["releases"]],
            "notifications": [(n["state"], n["tag"], n["trigger"]) for n in r.get("notifications", [])],
        }
        for r in reports
    ]


def test_the_same_seed_gives_the_same_rehearsal(tmp_path, built_in_run):
    scenarios = ("--scenario", "codedeploy-stops-first", "--scenario", "busy-queue-latest")
    runs = []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        runs.append(rehearse(tmp_path / name, "--seed", "11", *scenarios))
    first, second = runs
    assert first[0] == second[0] == 0, first[1]
    assert "rehearsal seed: 11" in first[1]
    assert _without_ids(first[2]) == _without_ids(second[2])
    _, output, _ = built_in_run
    assert "rehearsal seed: " in output and "--seed" in output  # an unseeded run says how to repeat it


def test_what_a_team_would_receive_is_in_the_report(built_in_run):
    _, output, reports = built_in_run
    happy = next(r for r in reports if r["scenario"] == "happy-canary")
    [shipped] = [n for n in happy["notifications"] if n["state"] == "SUCCEEDED"]
    assert shipped["tag"] == "v1.1.0" and shipped["commit_revision"]  # the commit it came from
    assert "notify    ✅ sample-app-prod: v1.1.0 deployed" in output or "v1.1.0 deployed" in output
    stopped = next(r for r in reports if r["scenario"] == "alarm-during-canary")
    assert any(n["state"] == "STOPPED" and n["reason"] for n in stopped["notifications"]), stopped["notifications"]


def test_the_new_step_forms_show_in_the_timeline_and_report(tmp_path):
    (tmp_path / "forms.yaml").write_text(
        "name: forms\nsteps:\n"
        "  - target: {on_busy: bogus}\n"
        "  - push: {tag: v1.1.0, as: first}\n"
        "  - target: {on_busy: reject, checks: {after_allow_traffic: {bake_seconds: 30}}}\n"
        "  - push: {tag: v1.2.0}\n"
        "  - until: idle\n"
        "  - alarm: {name: sample-app-5xx, datapoints: [0, 9, 9], deliveries: 2}\n"
        "  - tick: reconcile\n"
        "  - run: {command: status, as: look}\n"
        "expect:\n  production: step-4\n  outcomes_include: [ignored]\n"
    )

    code, output, [report] = rehearse(tmp_path, "--seed", "2", "--scenario", str(tmp_path / "forms.yaml"))

    assert "target sample-app-prod is now invalid (on_busy: Input should be 'queue-latest', 'supersede' or " in output
    assert "ECR push sample-app:v1.1.0 -> DeployerFunction: ignored" in output  # an invalid target deploys nothing
    assert "2 out of the last 3 datapoints [9.0, 9.0, 0.0] were greater than the threshold" in output
    assert "(delivered again)" in output and "tick reconcile" in output
    assert report["runs"][0]["label"] == "look" and report["runs"][0]["exit"] == 0
    assert "summary" in output and "expectations:" in output
    assert code == 0 and "Traceback" not in output
