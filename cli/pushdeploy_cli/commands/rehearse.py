"""``pushdeploy rehearse``: the whole flow on this machine, no AWS account (needs the ``rehearse`` extra)."""

from __future__ import annotations

import importlib.util
import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from pushdeploy_cli.answers import BAD_INPUT, CommandError


def rehearse(
    *,
    scenarios: list[str],
    report: str | None,
    quiet: bool,
    then: list[str],
    run_command: Callable[[list[str]], int],
    seed: int | None = None,
) -> int:
    missing = [name for name in ("moto", "pushdeploy_local") if importlib.util.find_spec(name) is None]
    if missing:
        raise CommandError(
            f"the rehearsal needs the rehearse extra (pip install 'pushdeploy[rehearse]'; missing: "
            f"{', '.join(missing)}), and runs from a checkout of the project",
            BAD_INPUT,
        )
    from pushdeploy_local.paths import TEMPLATE
    from pushdeploy_local.rehearsal import runner
    from pushdeploy_local.world.world import World

    if not TEMPLATE.exists():
        raise CommandError(f"the rehearsal runs from a checkout of the project: {TEMPLATE} not found", BAD_INPUT)

    world = World(seed=0)  # not started: its names are what scenarios may use
    names = runner.WorldNames(
        repositories=(world.spec.repository,), alarms=(world.spec.alarm,), targets=(world.spec.target,)
    )
    chosen, problems = [], []
    for name in scenarios or [str(p) for p in runner.built_in()]:
        try:
            chosen.append(runner.load(name, names))
        except runner.ScenarioError as exc:
            problems += exc.problems
    if problems:
        raise CommandError("\n".join(["the scenario cannot run:", *problems]), BAD_INPUT)
    if seed is None:
        seed = secrets.randbelow(1_000_000)
    print(f"rehearsal seed: {seed} (repeat this run with --seed {seed})")
    started = time.perf_counter()
    world = World(seed=seed).start()
    results = []
    try:
        for scenario in chosen:
            begun = time.perf_counter()
            result = runner.run(world, scenario, run_command)
            mark = "PASS" if result.passed else "FAIL"
            print(
                f"\n=== {mark} {scenario.name} ({time.perf_counter() - begun:.1f} s)"
                + (f" - {scenario.description}" if scenario.description else "")
            )
            if not quiet or not result.passed:
                for line in result.timeline:
                    print(f"  {line}")
            production = result.report["production"]
            print(f"  production: {production['tag']} {production['image'][:19]}")
            for failure in result.failures:
                print(f"  expected: {failure}")
            afterwards = []
            for command in then:  # after the scenario, in its virtual time; a failing command never stops the run
                done = runner.run_command(world, command, run_command)
                afterwards.append(done.as_report())
                print(f"\n$ pushdeploy {command}\n{done.output.rstrip()}\n(exit {done.code})")
            result.report["then"] = afterwards
            results.append(result)
    finally:
        world.stop()
    passed = sum(r.passed for r in results)
    print(f"\nrehearsal: {passed} passed, {len(results) - passed} failed in {time.perf_counter() - started:.1f} s")
    if report:
        Path(report).write_text(json.dumps([r.report for r in results], indent=2, default=str))
        print(f"report written to {report}")
    return 0 if passed == len(results) else 1


def list_built_in() -> int:
    """``rehearse --list``: each built-in scenario, one line."""
    missing = [name for name in ("moto", "pushdeploy_local") if importlib.util.find_spec(name) is None]
    if missing:
        raise CommandError("the rehearsal needs the rehearse extra (pip install 'pushdeploy[rehearse]')", BAD_INPUT)
    from pushdeploy_local.rehearsal import runner

    listed = runner.describe_built_in()
    width = max(len(name) for name, _ in listed)
    for name, description in listed:
        print(f"{name:<{width}}  {description}")
    return 0
