"""Rehearsal scenarios: steps run against the local world, with expectations and a report (format: scenario.py)."""

from __future__ import annotations

import contextlib
import difflib
import io
import json
import logging
import re
import shlex
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from pushdeploy import aws, clock, runtime
from pushdeploy.model.targets import document_problems

from pushdeploy_local.rehearsal.scenario import (
    HOOK_NAMES,
    STEP_REF,
    Alarm,
    Expect,
    Push,
    Scenario,
    ScenarioError,
    Step,
    WorldNames,
    parse,
)
from pushdeploy_local.world import iam
from pushdeploy_local.world.apps import Behaviour
from pushdeploy_local.world.world import World

__all__ = ["ScenarioError", "WorldNames", "built_in", "load", "run", "run_command"]


@dataclass
class ScenarioResult:
    scenario: Scenario
    passed: bool
    report: dict[str, Any]
    failures: list[str] = field(default_factory=list)
    timeline: list[str] = field(default_factory=list)


@dataclass
class Images:
    """The images a scenario pushed, by every name a scenario may use: ``step-N``, an ``as:`` label, and a tag
    (the image it was last pushed with)."""

    by_name: dict[str, str] = field(default_factory=dict)
    first_tag: dict[str, str] = field(default_factory=dict)  # digest -> the first tag it was pushed with

    def add(self, digest: str, number: int, push: Push) -> None:
        self.by_name[f"step-{number}"] = digest
        for name in (push.label, push.tag):
            if name:
                self.by_name[name] = digest
        if push.tag:
            self.first_tag.setdefault(digest, push.tag)

    def digest(self, name: str) -> str | None:
        return self.by_name.get(name)

    def names_of(self, digest: str) -> list[str]:
        return [name for name, d in self.by_name.items() if d == digest and not STEP_REF.match(name)]


BUILT_IN = Path(__file__).resolve().parent / "scenarios"
Runner = Callable[[list[str]], int]  # the pushdeploy CLI's main(argv) -> exit code


def built_in() -> list[Path]:
    return sorted(BUILT_IN.glob("*.yaml"))


def describe_built_in() -> list[tuple[str, str]]:
    """(name, one-line description) of each built-in scenario."""
    listed = []
    for path in built_in():
        scenario = load(str(path))
        first = re.split(r"\. ", scenario.description)[0].rstrip(".")
        listed.append((scenario.name, first if len(first) <= 100 else first[:99] + "…"))
    return listed


def find(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.exists():
        return path
    matches = [p for p in built_in() if p.stem.split("-", 1)[-1] == name_or_path or p.stem == name_or_path]
    if not matches:
        names = [p.stem.split("-", 1)[-1] for p in built_in()]
        close = difflib.get_close_matches(name_or_path, names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ScenarioError(
            [f"no scenario file or built-in scenario named {name_or_path!r}{hint} (built-in: {', '.join(names)})"]
        )
    return matches[0]


def load(name_or_path: str, known: WorldNames | None = None) -> Scenario:
    path = find(name_or_path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError([f"{path}: cannot be read: {exc}"]) from None
    return parse(text, path, known=known)


@dataclass
class CommandResult:
    """An operator command run against the world: what it printed and how it ended."""

    command: str
    code: int
    output: str
    at: str = ""

    def as_report(self) -> dict[str, Any]:
        return {"command": self.command, "exit": self.code, "output": self.output, "at": self.at}


def run_command(world: World, command: str, runner: Runner, *, capture: bool = True) -> CommandResult:
    """Run ``pushdeploy <command>`` against the world, in its virtual time: a ``--wait`` (or any sleep) lets the
    world run for that long instead of sleeping. Never raises: a crash is exit 1 with its last line. Without
    ``capture`` the command talks to the terminal (its prompts, its progress) and the result has no output."""
    buffer = io.StringIO()
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        return CommandResult(command, 2, f"cannot parse the command: {exc}")
    if argv[:1] == ["rehearse"]:
        return CommandResult(command, 2, "a rehearsal cannot run inside a rehearsal (it would stop this world)")
    depth = [0]
    domain = logging.getLogger("pushdeploy")
    world_level = domain.level

    def let_the_world_run(seconds: float) -> None:
        if depth[0]:  # a handler sleeping inside the world's own run: time just passes
            world.clock.advance(seconds)
            return
        depth[0] += 1
        command_level, domain.level = domain.level, world_level  # the world's handlers log as in the world
        try:
            world.run_for(seconds)
        finally:
            depth[0] -= 1
            domain.level = command_level

    streams = [h for h in domain.handlers if isinstance(h, logging.StreamHandler)]
    saved = [h.stream for h in streams]
    clock.use_sleep(let_the_world_run)
    try:
        with contextlib.ExitStack() as scope:
            scope.enter_context(iam.as_the_world())
            if capture:
                scope.enter_context(contextlib.redirect_stdout(buffer))
                scope.enter_context(contextlib.redirect_stderr(buffer))
            code = runner(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code if isinstance(exc.code, int) else 2
    except Exception as exc:  # noqa: BLE001 - a crash is a result to report, not the end of the rehearsal
        buffer.write(f"crashed: {type(exc).__name__}: {exc}\n")
        code = 1
    finally:
        clock.use_sleep(world.clock.advance)
        domain.setLevel(world_level)  # the CLI set its own level: the world's logs stay as quiet as before
        for handler, stream in zip(streams, saved, strict=True):
            handler.stream = stream
    world.drain()
    return CommandResult(command, int(code), buffer.getvalue())


def run(world: World, scenario: Scenario, runner: Runner | None = None) -> ScenarioResult:
    world.reset()
    if scenario.service is not None and world.setup is not None:
        raise ValueError(
            f"scenario {scenario.name}: 'service:' sets the sample's controller; with --targets, say each target's "
            "controller in --world"
        )
    world.build_sample(service=scenario.service.model_dump() if scenario.service else None)
    images = Images()
    commands: list[tuple[int, Step, CommandResult]] = []
    for number, step in enumerate(scenario.steps, 1):
        if step.push is not None:
            _push(world, step.push, number, images)
        elif step.event is not None:
            event = json.loads((scenario.base / step.event).read_text())
            world.note("step", f"event {step.event}")
            world.emit(event)
            world.drain()
        elif step.alarm is not None:
            _alarm(world, step.alarm)
        elif step.advance is not None:
            world.note("step", f"advance {_minutes(step.advance)}")
            world.run_for(float(step.advance) * 60)
        elif step.until is not None:
            world.note("step", f"until {step.until}")
            if not world.run_until_idle():
                world.note("step", "gave up waiting: still busy after 4 virtual hours")
        elif step.target is not None:
            name = str(step.target.get("name") or world.spec.target)
            world.update_target(step.target)
            changes = {k: v for k, v in step.target.items() if k != "name"}
            world.note("step", f"target {name}: {json.dumps(changes, sort_keys=True)}")
            for problem in document_problems(world.target_documents[name], default_name=name):
                world.note(
                    "step",
                    f"target {name} is now invalid ({problem.field}: {problem.reason}): pushes to it are ignored",
                )
        elif step.tick is not None:
            world.note("step", f"tick {step.tick}")
            world.tick_reconcile()
        elif step.run is not None:
            world.note("step", f"run pushdeploy {step.run.command}")
            result = run_command(world, step.run.command, runner or _no_cli)
            result.at = world.clock.now().isoformat()
            commands.append((number, step, result))
            for line in _summary_lines(result):
                world.note("run", line)
    report = _report(world, scenario, images)
    report["runs"] = [
        dict(result.as_report(), step=number, label=step.run.label if step.run else None)
        for number, step, result in commands
    ]
    failures = _check(scenario.expect, report, images) + _check_runs(commands)
    report["passed"] = not failures
    report["failures"] = failures
    start = world.timeline[0].at if world.timeline else world.clock.now()
    timeline = [f"+{_mmss((e.at - start).total_seconds())} {e.kind:<9} {e.text}" for e in world.timeline]
    return ScenarioResult(scenario, not failures, report, failures, timeline)


def _no_cli(argv: list[str]) -> int:
    print("no operator CLI in this run")
    return 1


def _summary_lines(result: CommandResult, keep: int = 6) -> list[str]:
    lines = [line for line in result.output.splitlines() if line.strip()]
    shown = [f"exit {result.code}" + (f": {lines[0]}" if lines else "")]
    shown += [f"  {line}" for line in lines[1:keep]]
    if len(lines) > keep:
        shown.append(f"  ... {len(lines) - keep} more line(s) in the report")
    return shown


def summary(report: dict[str, Any]) -> list[str]:
    """One screen: what each target serves and holds, how its releases ended, what the team was told, the
    commands run and whether the expectations held."""
    lines = []
    states = report.get("state_by_target") or {}
    width = max((len(t) for t in states), default=6)
    for target, state in states.items():
        names = [n for n in state["names"] if n != state["serves"]]
        serves = f"{state['serves'] or state['image'][:19]}" + (f" ({', '.join(names)})" if names else "")
        held = f"known good {state['known_good'] or '-'}"
        if state["quarantined"]:
            held += f", quarantined {', '.join(state['quarantined'])}"
        lines.append(f"{target:<{width}}  serves {serves}; {held}")
        ended = [
            f"{r['tag'] or '?'} {r['status']}" + ("" if r["trigger"] == "push" else f" ({r['trigger']})")
            for r in report["releases"]
            if r.get("target") == target and not (r["reason"] or "").startswith("initial release")
        ]
        if ended:
            lines.append(f"{'':<{width}}  releases: {', '.join(ended)}")
    told = Counter(str(n.get("state")) for n in report.get("notifications", []))
    if told:
        lines.append("notified: " + ", ".join(f"{state} x{n}" if n > 1 else state for state, n in told.items()))
    ran = report.get("runs", []) + report.get("then", [])
    if ran:
        lines.append("commands: " + ", ".join(f"`{r['command']}` -> {r['exit']}" for r in ran))
    failures = report.get("failures", [])
    lines.append("expectations: " + (f"{len(failures)} not met (above)" if failures else "all met"))
    return lines


def _check_runs(commands: list[tuple[int, Step, CommandResult]]) -> list[str]:
    failures = []
    for number, step, result in commands:
        assert step.run is not None
        if step.run.exit is not None and result.code != step.run.exit:
            failures.append(f"step {number} `{step.run.command}` exited {result.code}, expected {step.run.exit}")
        for text in step.run.output_contains:
            if text not in result.output:
                failures.append(f"step {number} `{step.run.command}` did not print {text!r}")
    return failures


def _minutes(value: float) -> str:
    return f"{value:g} min"


def _mmss(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"


def _push(world: World, push: Push, number: int, images: Images) -> None:
    tag = push.tag
    if push.same_as:
        digest = images.digest(push.same_as)
        if digest is None:  # the scenario's check guarantees an earlier push; an event: step's image is not one
            raise ScenarioError([f"step {number}: same_as {push.same_as!r} names no image pushed before"])
        if tag:
            repository = push.repository or world.spec.repository
            aws.client("ecr").put_image(
                repositoryName=repository,
                imageManifest=_manifest_of(repository, digest),
                imageTag=tag,
                imageManifestMediaType="application/vnd.oci.image.index.v1+json",
            )
    else:
        digest = world.publish(tag or "untagged", cast(Behaviour, push.app or "healthy"), push.repository)
    images.add(digest, number, push)
    label = f" as {push.label}" if push.label else ""
    what = f"same image as {push.same_as}" if push.same_as else (push.app or "healthy")
    world.note("step", f"push {tag or '(untagged)'} ({what}){label} {digest[:19]}")
    for copy in range(push.deliveries):
        world.emit(
            world.push_event(
                tag, digest, push.repository, event_id=f"push-{tag}-{digest[-6:]}-{copy}" if copy else None
            )
        )
        world.drain()


def _alarm(world: World, alarm: Alarm) -> None:
    if alarm.datapoints is not None:
        state, reason = world.evaluate_datapoints(alarm.name, alarm.datapoints)
    else:
        state, reason = str(alarm.state), alarm.reason
    copies = f", delivered {alarm.deliveries} times" if alarm.deliveries > 1 else ""
    world.note("step", f"alarm {alarm.name} -> {state}{copies}")
    world.set_alarm(
        alarm.name,
        state,
        reason,
        forced=True,
        delivery_delay=float(alarm.delivery_delay),  # EventBridge late: CodeDeploy may act first
        deliveries=alarm.deliveries,
    )
    world.drain()


def _manifest_of(repository: str, digest: str) -> str:
    images = aws.client("ecr").batch_get_image(repositoryName=repository, imageIds=[{"imageDigest": digest}])["images"]
    return str(images[0]["imageManifest"])


def _native_deployments(world: World, ledger: Any, tag_of: dict[str, str]) -> list[dict[str, Any]]:
    """ECS's own service deployments (not a service's first: that is the world's setup), in the report's shape:
    statuses as the release state machine reads them, hooks by the CodeDeploy hook whose checks each stage runs."""
    from pushdeploy.model.deployments import Deployment
    from pushdeploy.model.ecs_deployments import ServiceDeployment
    from pushdeploy.services.ecs_hooks import CHECKS_OF_STAGE

    found = []
    for service in world.native_backend.services.values():
        for deployment in service.deployments:
            if not deployment.sources:
                continue
            described = ServiceDeployment.from_api(deployment.api(service.revisions))
            release = ledger.release_by_deployment(described.arn)
            hooks = {name: "Skipped" for name in HOOK_NAMES}
            for stage, verdict in ((release.hooks or {}) if release else {}).items():
                # an ECS hook's stage, or (a rolling update: ECS runs no hooks) the checks pushdeploy ran itself
                name = CHECKS_OF_STAGE.get(stage) or (stage if stage in HOOK_NAMES else None)
                if name and verdict.get("status") in ("Succeeded", "Failed"):
                    hooks[name] = str(verdict["status"])
            target = next((t for t, e in world.environments.items() if e.spec.service == service.name), "")
            found.append(
                {
                    "id": described.arn,
                    "target": target,
                    "tag": (release.tag if release else None) or tag_of.get(release.digest if release else "", ""),
                    "image": release.image_uri if release else "",
                    "creator": "ECS",
                    "trigger": release.trigger if release else "unknown",
                    "status": Deployment.from_service_deployment(described)
                    .explained_by(release.failed_hook() if release else None)
                    .status,
                    "hooks": hooks,
                    "error": described.status_reason,
                    "created": described.created_at,
                }
            )
    return [{k: v for k, v in d.items() if k != "created"} for d in sorted(found, key=lambda d: str(d["created"]))]


def _report(world: World, scenario: Scenario, images: Images) -> dict[str, Any]:
    from pushdeploy.services.ecs_hooks import CHECKS_OF_STAGE

    ledger = runtime.services().ledger
    tag_of = images.first_tag | world.tags
    deployments = []
    for deployment in sorted(world.emulator.deployments.values(), key=lambda d: d["sequence"]):
        release = ledger.release_by_deployment(deployment["deploymentId"])
        hooks = {}
        for event in deployment["lifecycleEvents"]:
            if event["lifecycleEventName"] in HOOK_NAMES:
                status = event["status"]
                hooks[event["lifecycleEventName"]] = status if status in ("Succeeded", "Failed") else "Skipped"
        error = deployment.get("errorInformation") or {}
        environment = world.environment_of(deployment["applicationName"], deployment["deploymentGroupName"])
        deployments.append(
            {
                "id": deployment["deploymentId"],
                "target": environment.spec.target,
                "tag": (release.tag if release else None) or tag_of.get(release.digest if release else "", ""),
                "image": release.image_uri if release else "",
                "creator": deployment["creator"],
                "trigger": release.trigger if release else "unknown",
                "status": deployment["status"],
                "hooks": hooks,
                "error": error.get("message", ""),
            }
        )
    deployments += _native_deployments(world, ledger, tag_of)
    by_target, state = {}, {}
    for target in world.environments:
        serving = world.production(target)
        by_target[target] = {"tag": serving["tag"], "image": serving["image"]}
        known_good = ledger.known_good(target)
        releases = ledger.releases(target, limit=50)  # newest first: the tag this target deployed an image as

        def as_deployed(digest: str, releases: list[Any] = releases) -> str:
            tags = [r.tag for r in releases if r.digest == digest and r.tag]
            return tags[0] if tags else tag_of.get(digest, digest[:19])

        state[target] = {
            "serves": as_deployed(serving["image"]) if serving["image"] else serving["tag"],
            "image": serving["image"],
            "names": images.names_of(serving["image"]),
            "known_good": known_good.tag or known_good.digest[:19] if known_good else None,
            "quarantined": sorted(as_deployed(q.digest) for q in ledger.quarantined(target)),
        }
    targets = list(world.environments)
    return {
        "scenario": scenario.name,
        "targets": targets,
        "events": [
            {"detail_type": d.detail_type, "function": d.function, "outcome": d.outcome, "reason": d.reason}
            for d in world.deliveries
        ],
        "deployments": deployments,
        "production": by_target[world.spec.target],
        "production_by_target": by_target,
        "state_by_target": state,
        "quarantined": sorted(tag_of.get(q.digest, q.digest) for t in targets for q in ledger.quarantined(t)),
        "releases": [
            {
                "target": r.target,
                "tag": r.tag,
                "status": r.status,
                "trigger": r.trigger,
                "reason": r.reason,
                # by the CodeDeploy hook whose checks ran (an ECS stage runs the same checks: CHECKS_OF_STAGE)
                "hook_invocations": {
                    CHECKS_OF_STAGE.get(stage, stage): int(h.get("invocation") or 1)
                    for stage, h in (r.hooks or {}).items()
                },
            }
            for t in targets
            for r in reversed(ledger.releases(t, limit=50))
        ],
        "notifications": [
            {k: n.get(k) for k in ("target", "state", "tag", "trigger", "reason", "commit_revision", "text")}
            for n in world.notifications
        ],
    }


def _outcomes(report: dict[str, Any]) -> list[str]:
    return [o for e in report["events"] for o in e["outcome"].split(",") if o]


def _check(expect: Expect, report: dict[str, Any], images: Images) -> list[str]:
    failures = []
    statuses = [d["status"] for d in report["deployments"]]
    outcomes = _outcomes(report)

    def want(ok: bool, message: str) -> None:
        if not ok:
            failures.append(message)

    if expect.production_tag is not None:
        want(
            report["production"]["tag"] == expect.production_tag,
            f"production serves {report['production']['tag']!r}, expected {expect.production_tag!r}",
        )
    if expect.production is not None:
        wanted = expect.production if isinstance(expect.production, dict) else {"": expect.production}
        for target, name in wanted.items():
            serving = report["production_by_target"].get(target) if target else report["production"]
            digest = images.digest(name)
            where = f"{target} production" if target else "production"
            if serving is None:
                failures.append(f"{where}: no such target in this world")
            elif digest is None:
                want(serving["tag"] == name, f"{where} serves {serving['tag']!r}, expected {name!r}")
            else:
                now = images.names_of(serving["image"]) or [serving["tag"] or serving["image"][:19]]
                want(
                    serving["image"] == digest,
                    f"{where} serves {'/'.join(now)} ({serving['image'][:19]}), expected {name} ({digest[:19]})",
                )
    if expect.statuses is not None:
        want(statuses == expect.statuses, f"deployment statuses {statuses}, expected {expect.statuses}")
    if expect.statuses_end_with is not None:
        tail = expect.statuses_end_with
        want(statuses[-len(tail) :] == tail, f"deployment statuses {statuses} do not end with {tail}")
    if expect.first_status_in is not None:
        want(
            bool(statuses) and statuses[0] in expect.first_status_in,
            f"first deployment ended {statuses[:1]}, expected one of {expect.first_status_in}",
        )
    if expect.triggers is not None:
        triggers = [d["trigger"] for d in report["deployments"]]
        want(triggers == expect.triggers, f"triggers {triggers}, expected {expect.triggers}")
    for outcome in expect.outcomes_include:
        want(outcome in outcomes, f"no event had outcome {outcome!r} (outcomes: {sorted(set(outcomes))})")
    for outcome, number in expect.outcome_counts.items():
        want(outcomes.count(outcome) == number, f"{outcomes.count(outcome)} {outcome!r} outcomes, expected {number}")
    if expect.quarantined is not None:
        want(
            report["quarantined"] == sorted(expect.quarantined),
            f"quarantined {report['quarantined']}, expected {expect.quarantined}",
        )
    if expect.failed_hook is not None:
        failed = [h for d in report["deployments"] for h, s in d["hooks"].items() if s == "Failed"]
        want(failed == [expect.failed_hook], f"failed hooks {failed}, expected [{expect.failed_hook}]")
    for tag, status in expect.release_statuses.items():
        found = [r["status"] for r in report["releases"] if r["tag"] == tag]
        want(status in found, f"release {tag} is {found}, expected {status}")
    notified = [str(n.get("state")) for n in report["notifications"]]
    for state in expect.notified:
        want(state in notified, f"no {state} notification (notified: {notified})")
    for tag, text in expect.release_reason_contains.items():
        reasons = [r["reason"] or "" for r in report["releases"] if r["tag"] == tag]
        want(any(text in reason for reason in reasons), f"release {tag}'s reason {reasons} does not say {text!r}")
    for tag, wanted_invocations in expect.hook_invocations.items():
        took = [r["hook_invocations"] for r in report["releases"] if r["tag"] == tag]
        for stage, count in wanted_invocations.items():
            want(
                any(t.get(stage) == count for t in took),
                f"release {tag}'s {stage} took {[t.get(stage) for t in took]} invocation(s), expected {count}",
            )
    return failures
