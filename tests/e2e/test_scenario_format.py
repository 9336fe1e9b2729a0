"""The scenario format is strict: every malformed file is a one-line-per-error message naming file and line (exit 2),
never a traceback; the step forms and helpers mean what docs/scenarios.md says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pushdeploy_local.rehearsal import runner
from pushdeploy_local.rehearsal.scenario import ScenarioError, parse
from pushdeploy_local.world.world import deep_merge, evaluate

from tests.helpers import ROOT

MALFORMED = sorted((Path(__file__).parent / "malformed_scenarios").glob("*.yaml"))
SAMPLE_NAMES = runner.WorldNames(("sample-app",), ("sample-app-5xx",), ("sample-app-prod",))
ALARM = {"EvaluationPeriods": 3, "DatapointsToAlarm": 2, "Threshold": 5, "ComparisonOperator": "GreaterThanThreshold"}


def test_there_are_at_least_twenty_malformed_files():
    assert len(MALFORMED) >= 20


@pytest.mark.parametrize("path", MALFORMED, ids=lambda p: p.stem)
def test_a_malformed_scenario_names_file_line_and_what_is_wrong(path):
    wanted = path.read_text().splitlines()[0].removeprefix("# error: ")

    with pytest.raises(ScenarioError) as raised:
        runner.load(str(path), SAMPLE_NAMES)

    problems = raised.value.problems
    assert any(wanted in problem for problem in problems), problems
    for problem in problems:
        assert problem.startswith(f"{path}:") and problem.split(":")[1].isdigit(), problem
        assert "\n" not in problem and "Traceback" not in problem


def test_every_problem_of_a_file_is_reported_at_once(tmp_path):
    text = (
        "name: x\nsteps:\n  - push: {tagg: v1}\n  - until: done\nexpect:\n  statuses: [Sucess]\n  production_tags: v1\n"
    )

    with pytest.raises(ScenarioError) as raised:
        parse(text, tmp_path / "x.yaml")

    lines = [p.split(":")[1] for p in raised.value.problems]
    assert lines == ["3", "4", "6", "7"], raised.value.problems


def test_the_cli_gives_exit_2_and_one_line_per_error_for_every_malformed_file():
    arguments = [a for path in MALFORMED for a in ("--scenario", str(path))]
    done = subprocess.run(
        [sys.executable, "-m", "pushdeploy_cli", "rehearse", *arguments],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )

    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    errors = done.stderr.splitlines()[1:]
    assert {line.split(":")[0] for line in errors} == {str(path) for path in MALFORMED}
    assert "rehearsal seed" not in done.stdout  # nothing ran


def test_every_built_in_scenario_is_valid_and_listed():
    listed = subprocess.run(
        [sys.executable, "-m", "pushdeploy_cli", "rehearse", "--list"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )

    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == len(runner.built_in())
    for path, line in zip(runner.built_in(), lines, strict=True):
        scenario = runner.load(str(path), SAMPLE_NAMES)
        assert line.split()[0] == scenario.name and len(line) <= 130


@pytest.mark.parametrize(
    ("written", "minutes"), [(5, 5.0), ("5m", 5.0), ("90s", 1.5), ("1h30m", 90.0), ("0.5", 0.5), ("2h", 120.0)]
)
def test_advance_takes_minutes_or_a_duration(tmp_path, written, minutes):
    scenario = parse(f"steps:\n  - advance: {written}\n", tmp_path / "d.yaml")

    assert scenario.steps[0].advance == minutes


def test_images_can_be_named_by_step_label_or_tag(tmp_path):
    text = (
        "steps:\n  - push: {tag: main, as: first}\n  - push: {tag: main}\n  - push: {tag: v2, same_as: step-1}\n"
        "expect:\n  production: step-2\n"
    )
    scenario = parse(text, tmp_path / "r.yaml")

    assert scenario.references() == {"step-1": 1, "first": 1, "main": 2, "step-2": 2, "step-3": 3, "v2": 3}


def test_a_run_step_takes_a_command_or_a_mapping(tmp_path):
    text = 'steps:\n  - run: status\n  - run: {command: "rollback x --yes", exit: 1, output_contains: refused}\n'
    first, second = parse(text, tmp_path / "r.yaml").steps

    assert first.run is not None and first.run.command == "status" and first.run.exit is None
    assert second.run is not None and second.run.exit == 1 and second.run.output_contains == ["refused"]


def test_target_steps_merge_deeply():
    document = {"name": "t", "checks": {"a": {"x": 1, "y": 2}, "b": {"z": 3}}, "on_busy": "queue-latest"}

    merged = deep_merge(document, {"checks": {"a": {"y": 20}}, "on_busy": "reject", "rollback": None})

    assert merged == {"name": "t", "checks": {"a": {"x": 1, "y": 20}, "b": {"z": 3}}, "on_busy": "reject"}
    assert document["checks"]["a"]["y"] == 2  # the original is untouched


@pytest.mark.parametrize(
    ("datapoints", "state"), [([0, 0, 9], "OK"), ([9, 0, 9], "ALARM"), ([9, 9, 0], "ALARM"), ([9, 0, 0, 0], "OK")]
)
def test_datapoints_are_evaluated_by_the_alarms_own_rule(datapoints, state):
    window = datapoints[-ALARM["EvaluationPeriods"] :]

    found, reason = evaluate(ALARM, window)

    assert found == state and f"out of the last {len(window)} datapoints" in reason


def test_run_commands_are_checked_before_anything_runs(tmp_path):
    (tmp_path / "s.yaml").write_text(
        "steps:\n  - push: {tag: v1.1.0}\n  - run: rollbak sample-app-prod\n  - run: rehearse --scenario happy-canary\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pushdeploy_cli",
            "rehearse",
            "--scenario",
            str(tmp_path / "s.yaml"),
            "--then",
            "statuss",
            "--report",
            str(tmp_path / "no" / "r.json"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )

    assert done.returncode == 2 and "Traceback" not in done.stderr
    errors = done.stderr.splitlines()[1:]
    assert errors[0].startswith(f"{tmp_path / 's.yaml'}:3: step 2 run: argument command: invalid choice: 'rollbak'")
    assert errors[1] == f"{tmp_path / 's.yaml'}:4: step 3 run: a rehearsal cannot run inside a rehearsal"
    assert errors[2].startswith("--then 'statuss': argument command: invalid choice: 'statuss'")
    assert errors[3].startswith(f"--report {tmp_path / 'no' / 'r.json'}: no folder")
    assert "rehearsal seed" not in done.stdout


def test_one_target_form_is_ambiguous_with_several_targets(tmp_path):
    names = runner.WorldNames(("shop",), ("a-5xx", "b-5xx"), ("a", "b"))
    text = "steps:\n  - target: {on_busy: reject}\nexpect:\n  production: v1\n"

    with pytest.raises(ScenarioError) as raised:
        parse(text, tmp_path / "m.yaml", known=names)

    assert raised.value.problems == [
        f"{tmp_path / 'm.yaml'}:2: step 1 target: this world has 2 targets: say which with name: (a, b)",
        f"{tmp_path / 'm.yaml'}:4: expect.production: this world has 2 targets: name the target, e.g. "
        "production: {b: ...}",
    ]
