"""``pushdeploy rehearse``: the whole flow on this machine, no AWS account (needs the ``rehearse`` extra)."""

from __future__ import annotations

import importlib.util
import json
import secrets
import shlex
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

    try:
        chosen = [runner.load(s) for s in scenarios] if scenarios else [runner.load(str(p)) for p in runner.built_in()]
    except runner.ScenarioError as exc:
        raise CommandError(str(exc), BAD_INPUT) from exc
    if seed is None:
        seed = secrets.randbelow(1_000_000)
    print(f"rehearsal seed: {seed} (repeat this run with --seed {seed})")
    started = time.perf_counter()
    world = World(seed=seed).start()
    results = []
    try:
        for scenario in chosen:
            begun = time.perf_counter()
            result = runner.run(world, scenario)
            results.append(result)
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
            for command in then:
                print(f"\n$ pushdeploy {command}")
                run_command(shlex.split(command))
    finally:
        world.stop()
    passed = sum(r.passed for r in results)
    print(f"\nrehearsal: {passed} passed, {len(results) - passed} failed in {time.perf_counter() - started:.1f} s")
    if report:
        Path(report).write_text(json.dumps([r.report for r in results], indent=2, default=str))
        print(f"report written to {report}")
    return 0 if passed == len(results) else 1
