"""Rehearse your own setup: the world is built from the user's targets file (and --world), each target with its
own repository, group, deployment config, alarms and smoke paths; mistakes in either file are exit 2, never a
traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pushdeploy.model.targets import Target
from pushdeploy_local.rehearsal.own_targets import SetupError, load_setup, names_of

from tests.helpers import ROOT

EXAMPLE = ROOT / "examples" / "two-environments"
OWN = ("--targets", str(EXAMPLE / "targets.yaml"), "--world", str(EXAMPLE / "world.yaml"))


def rehearse(tmp_path: Path, *args: str) -> tuple[int, str, list[dict[str, Any]]]:
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "pushdeploy_cli", "rehearse", "--seed", "3", "--report", str(report), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr, json.loads(report.read_text()) if report.exists() else []


@pytest.fixture(scope="module")
def release_day(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, dict[str, Any]]:
    code, output, reports = rehearse(
        tmp_path_factory.mktemp("own"), *OWN, "--scenario", str(EXAMPLE / "release-day.yaml")
    )
    return code, output, reports[0] if reports else {}


def test_the_example_rehearses_both_targets(release_day):
    code, output, report = release_day

    assert code == 0, output
    assert report["targets"] == ["shop-staging", "shop-prod"]
    by_target = [(d["target"], d["creator"], d["status"]) for d in report["deployments"]]
    assert by_target == [
        ("shop-staging", "user", "Succeeded"),
        ("shop-prod", "user", "Succeeded"),
        ("shop-staging", "user", "Failed"),
        ("shop-staging", "codeDeployRollback", "Succeeded"),
        ("shop-prod", "user", "Stopped"),
        ("shop-prod", "codeDeployRollback", "Succeeded"),
    ]


def test_the_targets_file_alone_is_enough(tmp_path):
    code, output, [report] = rehearse(
        tmp_path, "--targets", str(EXAMPLE / "targets.yaml"), "--scenario", str(EXAMPLE / "release-day.yaml")
    )

    assert code == 0, output
    assert "shop-prod: v1.0.0 serves production and is KNOWN_GOOD" in output  # no world.yaml: the default live tag
    assert report["state_by_target"]["shop-prod"]["quarantined"] == ["v2.4.1"]


def test_each_target_uses_its_own_smoke_paths_through_its_own_load_balancer(release_day):
    _, output, report = release_day

    failed = next(d for d in report["deployments"] if d["status"] == "Failed")
    assert failed["hooks"]["AfterAllowTestTraffic"] == "Failed"
    assert "shop-staging-1.us-east-1.elb.amazonaws.com:8080/ready: status 500" in output
    assert "/login" not in failed["error"]  # staging does not check prod's paths
    assert "AfterAllowTestTraffic: Succeeded (passed: smoke GET /ready, smoke GET /api/v1/ping, smoke GET /login)" in (
        output
    )  # prod's three paths


def test_each_target_uses_its_own_deployment_config_and_alarms(release_day):
    _, output, report = release_day

    assert "started (CodeDeployDefault.ECSLinear10PercentEvery1Minutes)" in output  # prod's linear config
    assert "shop-prod v2.4.0: production: original 90% / replacement 10%" in output
    assert "started (CodeDeployDefault.ECSAllAtOnce)" in output
    assert "shop-prod-5xx: OK -> ALARM" in output  # prod's own alarm, on prod's load balancer
    assert "shop-staging-5xx: OK -> ALARM" not in output
    stopped = [r for r in report["releases"] if r["status"] == "STOPPED"]
    assert [(r["target"], r["tag"]) for r in stopped] == [("shop-prod", "v2.4.1")]


def test_operator_commands_name_the_users_targets(release_day):
    _, _, report = release_day

    history, status = report["runs"]
    assert history["exit"] == 0 and "v2.4.1" in history["output"] and "shop-prod" in history["output"]
    assert status["exit"] == 0 and "shop-staging" in status["output"]


def test_the_example_setup_reads_as_written():
    setup = load_setup([EXAMPLE / "targets.yaml"], EXAMPLE / "world.yaml")

    staging, prod = setup.specs
    assert (staging.target, staging.initial_tag, staging.desired_count, staging.alarms) == (
        "shop-staging",
        "main",
        1,
        ("shop-staging-5xx",),
    )
    assert prod.alarms == ("shop-prod-5xx", "shop-prod-5xx-sustained") and prod.termination_wait_minutes == 10
    assert prod.alarm_rules == {
        "shop-prod-5xx-sustained": {
            "Threshold": 20,
            "EvaluationPeriods": 1,
            "Period": 300,
            "Statistic": "Sum",
            "DatapointsToAlarm": 1,
        }
    }
    assert staging.repository == prod.repository == "shop" and staging.network != prod.network
    assert setup.deployment_configs == {}
    names = names_of(setup)
    assert names.repositories == ("shop",) and names.targets == ("shop-staging", "shop-prod")


def _broken(tmp_path: Path, targets: str, world: str | None = None) -> list[str]:
    (tmp_path / "t.yaml").write_text(targets)
    if world is not None:
        (tmp_path / "w.yaml").write_text(world)
    with pytest.raises(SetupError) as raised:
        load_setup([tmp_path / "t.yaml"], tmp_path / "w.yaml" if world is not None else None)
    return raised.value.problems


TARGET = (
    "- {name: a, repository: shop, tag_pattern: '^main$', application: shop, deployment_group: a, "
    "container_name: web, container_port: 8080%s}\n"
)


def test_a_deployment_config_nobody_declared_is_an_error(tmp_path):
    problems = _broken(tmp_path, TARGET % ", deployment_config: CodeDeployDefault.ECSCanary10Percent5Minute")

    assert problems == [
        "target 'a': deployment config 'CodeDeployDefault.ECSCanary10Percent5Minute' is neither a CodeDeploy default "
        "for ECS (did you mean 'CodeDeployDefault.ECSCanary10Percent5Minutes'?) nor declared under deployment_configs "
        "in --world"
    ]


def test_targets_that_cannot_coexist_and_invalid_targets_are_errors(tmp_path):
    problems = _broken(tmp_path, TARGET % "" + TARGET % "" + "- {name: b, repository: shop}\n")

    assert any("target 'b': tag_pattern: Field required" in p for p in problems), problems
    assert sum("target 'a': name: declared more than once" in p for p in problems) == 2, problems


def test_a_world_file_with_a_typo_names_the_line(tmp_path):
    problems = _broken(tmp_path, TARGET % "", "targets:\n  a:\n    desird_count: 3\n  z: {}\n")

    assert problems[0].endswith(
        "w.yaml:3: targets.a.desird_count: unknown key 'desird_count' (did you mean 'desired_count'?); allowed: "
        "desired_count, termination_wait_minutes, alarms, live, controller, cluster, service, deployment_config, "
        "test_listener, bake_minutes, linear_step_percent, linear_step_bake_minutes, canary_percent, "
        "canary_bake_minutes, hook_timeout_minutes"
    ), problems


def test_a_world_file_naming_no_target_is_an_error(tmp_path):
    problems = _broken(tmp_path, TARGET % "", "targets:\n  aa: {desired_count: 3}\n")

    assert problems == [f"{tmp_path / 'w.yaml'}: targets.aa: no such target in the targets file (did you mean 'a'?)"]


def test_the_cli_gives_exit_2_for_setup_problems_and_for_scenarios_naming_what_the_world_lacks(tmp_path):
    (tmp_path / "t.yaml").write_text(TARGET % ", deployment_config: Nope")
    code, output, _ = rehearse(tmp_path, "--targets", str(tmp_path / "t.yaml"), "--scenario", "happy-canary")
    assert code == 2 and "deployment config 'Nope'" in output and "Traceback" not in output

    code, output, _ = rehearse(tmp_path, *OWN, "--scenario", "alarm-during-canary")  # names the sample alarm
    assert code == 2 and "unknown alarm 'sample-app-5xx'" in output and "Traceback" not in output

    code, output, _ = rehearse(tmp_path, *OWN)
    assert code == 2 and "name the scenario(s) to run with --scenario" in output


def test_from_stack_reads_productions_configuration_back(tmp_path):
    """The account is a world built from the example (moto + the CodeDeploy emulator playing it); reading its stack
    read-only gives the setup that built it: targets, configs, alarms and their rules, waits, counts, live tags."""
    import dataclasses
    import os

    from pushdeploy_local.rehearsal.from_stack import read_stack
    from pushdeploy_local.world.environment import WorldSetup
    from pushdeploy_local.world.world import STACK, World

    example = load_setup([EXAMPLE / "targets.yaml"], EXAMPLE / "world.yaml")
    custom = {"type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": 25, "linearInterval": 1}}
    staging, prod = example.specs
    assert prod.document is not None
    prod = dataclasses.replace(
        prod, deployment_config="shop.Linear25", document={**prod.document, "deployment_config": "shop.Linear25"}
    )
    written = WorldSetup([staging, prod], {"shop.Linear25": custom})  # a custom config the account has
    environment = dict(os.environ)
    account = World(seed=1).start()
    try:
        account.use(written)
        account.build_sample()

        read = read_stack(STACK)  # PUSHDEPLOY_* point at the account, as a deployed stack's outputs would
    finally:
        account.stop()
        os.environ.clear()
        os.environ.update(environment)

    assert read.deployment_configs == written.deployment_configs
    fields = (
        "target",
        "repository",
        "tag_pattern",
        "application",
        "deployment_group",
        "deployment_config",
        "alarms",
        "termination_wait_minutes",
        "desired_count",
        "initial_tag",
        "container_name",
        "container_port",
        "with_test_listener",
        "service",
        "cluster",
    )
    by_name = {spec.target: spec for spec in written.specs}
    assert sorted(by_name) == sorted(spec.target for spec in read.specs)
    for got in read.specs:
        want = by_name[got.target]
        assert {f: getattr(got, f) for f in fields} == {f: getattr(want, f) for f in fields}
        for alarm, rule in want.alarm_rules.items():
            assert {k: got.alarm_rules[alarm][k] for k in rule} == rule
        assert got.document is not None and want.document is not None
        assert Target.model_validate(got.document) == Target.model_validate(want.document)  # checks and all


def test_from_stack_says_what_is_wrong_without_a_traceback(tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PUSHDEPLOY_"))}
    done = subprocess.run(
        [sys.executable, "-m", "pushdeploy_cli", "rehearse", "--from-stack", "nope", "--scenario", "happy-canary"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env | {"AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")},
        timeout=120,
        check=False,
    )

    assert done.returncode in (2, 3), done.stdout + done.stderr
    assert "reading stack nope" in done.stderr and "Traceback" not in done.stderr
