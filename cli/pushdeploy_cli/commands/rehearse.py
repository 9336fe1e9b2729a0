"""``pushdeploy rehearse``: the whole flow on this machine, no AWS account (needs the ``rehearse`` extra)."""

from __future__ import annotations

import importlib.util
import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pushdeploy_cli.answers import BAD_INPUT, NOT_FOUND, CommandError

TYPING_SECONDS = 30  # virtual time between two operator commands (--then, --shell): events in flight arrive

if TYPE_CHECKING:
    from pushdeploy_local.world.environment import WorldSetup


def rehearse(
    *,
    scenarios: list[str],
    report: str | None,
    quiet: bool,
    then: list[str],
    run_command: Callable[[list[str]], int],
    parse_command: Callable[[list[str]], object],
    seed: int | None = None,
    targets: list[str] | None = None,
    world_file: str | None = None,
    from_stack: str | None = None,
    profile: str | None = None,
    region: str | None = None,
    shell: bool = False,
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

    from pushdeploy_local.rehearsal import own_targets

    setup = None
    if (targets or from_stack) and not scenarios:
        raise CommandError(
            "with --targets or --from-stack, name the scenario(s) to run with --scenario (the built-in ones are "
            "written for the sample environment); see docs/scenarios.md and examples/two-environments/",
            BAD_INPUT,
        )
    if from_stack:
        if targets or world_file:
            raise CommandError("--from-stack reads the targets from the stack: leave out --targets/--world", BAD_INPUT)
        setup = _read_stack(from_stack, profile, region)
        print(f"read from stack {from_stack}: " + ", ".join(s.target for s in setup.specs))
    elif targets:
        try:
            setup = own_targets.load_setup([Path(t) for t in targets], Path(world_file) if world_file else None)
        except own_targets.SetupError as exc:
            raise CommandError("\n".join(["the targets cannot be rehearsed:", *exc.problems]), BAD_INPUT) from exc
    elif world_file:
        raise CommandError("--world describes the account around --targets: pass --targets too", BAD_INPUT)
    names = own_targets.names_of(setup)
    chosen, problems = [], []
    for name in scenarios or [str(p) for p in runner.built_in()]:
        try:
            chosen.append(runner.load(name, names))
        except runner.ScenarioError as exc:
            problems += exc.problems
    for scenario in chosen:
        if scenario.service is not None and setup is not None:
            problems.append(
                f"{scenario.path}: service: sets the sample's controller; with your own targets, say each target's "
                "controller in --world"
            )
        for number, step in enumerate(scenario.steps, 1):
            if step.run is not None:
                mistake = command_mistake(step.run.command, parse_command)
                if mistake:
                    problems.append(f"{scenario.path}:{scenario.lines[number - 1]}: step {number} run: {mistake}")
    for command in then:
        mistake = command_mistake(command, parse_command)
        if mistake:
            problems.append(f"--then {command!r}: {mistake}")
    if report and not Path(report).resolve().parent.is_dir():
        problems.append(f"--report {report}: no folder {Path(report).resolve().parent} to write it in")
    if problems:
        raise CommandError("\n".join(["the scenario cannot run:", *problems]), BAD_INPUT)
    if setup is not None:
        for scenario in chosen:
            if scenario.path is not None and scenario.path.parent == runner.BUILT_IN:
                print(f"note: {scenario.name} is a built-in scenario, written for the sample environment")
    if seed is None:
        seed = secrets.randbelow(1_000_000)
    print(f"rehearsal seed: {seed} (repeat this run with --seed {seed})")
    started = time.perf_counter()
    world = World(seed=seed).start()
    if setup is not None:
        world.use(setup)
        print("targets: " + ", ".join(f"{s.target} ({s.repository}, {s.tag_pattern})" for s in setup.specs))
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
            for failure in result.failures:
                print(f"  expected: {failure}")
            for target, state in result.report["state_by_target"].items():
                name = f"{target} " if len(result.report["state_by_target"]) > 1 else ""
                print(f"  {name}production: {state['serves']} {state['image'][:19]}")
            if not quiet or not result.passed:
                print("  summary")
                for line in runner.summary(result.report):
                    print(f"    {line}")
            afterwards = []
            for command in then:  # after the scenario, in its virtual time; a failing command never stops the run
                done = runner.run_command(world, command, run_command)
                done.at = world.clock.now().isoformat()
                world.run_for(TYPING_SECONDS)  # the world goes on while the next command is typed
                afterwards.append(done.as_report())
                print(f"\n$ pushdeploy {command}\n{done.output.rstrip()}\n(exit {done.code})")
            result.report["then"] = afterwards
            results.append(result)
        if shell:
            operate(world, run_command)
    finally:
        world.stop()
    passed = sum(r.passed for r in results)
    print(f"\nrehearsal: {passed} passed, {len(results) - passed} failed in {time.perf_counter() - started:.1f} s")
    if report:
        Path(report).write_text(json.dumps([r.report for r in results], indent=2, default=str))
        print(f"report written to {report}")
    return 0 if passed == len(results) else 1


def _read_stack(stack: str, profile: str | None, region: str | None) -> WorldSetup:
    """The stack's setup, read-only, before the local world points the clients at itself."""
    from pushdeploy_local.rehearsal.from_stack import StackUnreadable, read_stack
    from pushdeploy_local.rehearsal.own_targets import SetupError

    try:
        return read_stack(stack, profile=profile, region=region)
    except StackUnreadable as exc:
        code = {"not-found": NOT_FOUND, "bad-input": BAD_INPUT}.get(exc.kind, 1)
        raise CommandError(f"reading stack {stack}: {exc}", code) from exc
    except SetupError as exc:
        raise CommandError("\n".join([f"stack {stack} cannot be rehearsed:", *exc.problems]), BAD_INPUT) from exc


def operate(world: Any, run_command: Callable[[list[str]], int]) -> None:
    """``--shell``: after the scenarios, the world stays up and takes operator commands from the terminal, one per
    line, in its virtual time (prompts and ``--wait`` progress as on a real account); an empty line or EOF ends."""
    from pushdeploy_local.rehearsal import runner

    print(
        "\nthe world is yours: type pushdeploy commands (status, history T, rollback T, deploy T --tag X --wait, ...);"
    )
    print("an empty line or Ctrl-D ends the rehearsal")
    while True:
        try:
            line = input(f"pushdeploy [{world.clock.now():%H:%M:%S} virtual]> ").strip()
        except EOFError:
            break
        if not line or line in ("exit", "quit"):
            break
        line = line.removeprefix("pushdeploy ").strip()
        if line.split()[0] in ("advance", "until"):
            print(_let_time_pass(world, line))
            continue
        done = runner.run_command(world, line, run_command, capture=False)
        world.run_for(TYPING_SECONDS)  # the world goes on while the next command is typed
        print(f"(exit {done.code})")


def _let_time_pass(world: Any, line: str) -> str:
    """The shell's own commands: ``advance 5m`` (or 90s, 1h) and ``until idle``."""
    from pushdeploy_local.rehearsal.scenario import Step
    from pydantic import ValidationError

    kind, _, value = line.partition(" ")
    try:
        step = Step.model_validate({kind: value.strip() or None})
    except ValidationError as exc:
        return f"{line!r}: {exc.errors()[0]['msg'].removeprefix('Value error, ')} (e.g. advance 5m, until idle)"
    if step.advance is not None:
        world.run_for(float(step.advance) * 60)
    elif not world.run_until_idle():
        return "still busy after 4 virtual hours"
    return f"now {world.clock.now():%H:%M:%S} virtual"


def command_mistake(command: str, parse: Callable[[list[str]], object]) -> str | None:
    """Why ``pushdeploy <command>`` cannot run (checked with the CLI's own parser ``parse`` before the rehearsal
    starts), or None."""
    import contextlib
    import io
    import shlex

    try:
        argv = shlex.split(command)
    except ValueError as exc:
        return f"cannot parse {command!r}: {exc}"
    if argv[:1] == ["rehearse"]:
        return "a rehearsal cannot run inside a rehearsal"
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
            parse(argv)
    except SystemExit as exc:
        if exc.code:
            lines = [line for line in errors.getvalue().splitlines() if line.strip()]
            return lines[-1].removeprefix("pushdeploy: ").removeprefix("error: ") if lines else "not a command"
    return None


LIST_COLUMNS = 120


def list_built_in() -> int:
    """``rehearse --list``: each built-in scenario, one line."""
    missing = [name for name in ("moto", "pushdeploy_local") if importlib.util.find_spec(name) is None]
    if missing:
        raise CommandError("the rehearsal needs the rehearse extra (pip install 'pushdeploy[rehearse]')", BAD_INPUT)
    from pushdeploy_local.rehearsal import runner

    listed = runner.describe_built_in()
    width = max(len(name) for name, _ in listed)
    room = LIST_COLUMNS - width - 2  # one line per scenario, whatever the longest name
    for name, description in listed:
        shown = description if len(description) <= room else description[: room - 1].rstrip() + "…"
        print(f"{name:<{width}}  {shown}")
    return 0
