"""The scenario format: a strict schema (pydantic) for steps and expectations, read from YAML with line numbers.

Every mistake in a scenario file is reported as ``file:line: where: what`` (one line each, all of them at once,
with a "did you mean" for a misspelt key or name) and never as a traceback. The format is documented in
docs/scenarios.md; :data:`STEP_KINDS` and :class:`Expect` are its single source.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pushdeploy.model.notifications import ICONS
from pushdeploy.model.releases import ReleaseStatus, Trigger
from pushdeploy.model.results import OUTCOMES
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from pushdeploy_local.world.apps import BEHAVIOURS

HOOK_NAMES = ("BeforeInstall", "AfterInstall", "AfterAllowTestTraffic", "BeforeAllowTraffic", "AfterAllowTraffic")
DEPLOYMENT_STATUSES = ("Succeeded", "Failed", "Stopped")
RELEASE_STATUSES: tuple[str, ...] = get_args(ReleaseStatus)
TRIGGERS: tuple[str, ...] = get_args(Trigger)
NOTIFICATION_STATES: tuple[str, ...] = tuple(ICONS)
ALARM_STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")
STEP_REF = re.compile(r"^step-(\d+)$")


class ScenarioError(ValueError):
    """A scenario that cannot be run: every problem, one line each (``file:line: where: what``)."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def suggest(word: object, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _one_of(kind: str, names: Sequence[str]) -> AfterValidator:
    """A string that must be one of ``names``: the error names the kind, suggests the closest, lists them all."""

    def check(value: str) -> str:
        if value not in names:
            raise ValueError(f"unknown {kind} {value!r}{suggest(value, names)}; one of: {', '.join(names)}")
        return value

    return AfterValidator(check)


def _duration(unit_seconds: float) -> BeforeValidator:
    """A number (in the field's unit) or a text duration such as ``90s``, ``5m``, ``1h30m``; returns the unit."""

    def parse(value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("a duration is a number or a text such as '90s', '5m', '1h30m'")
        if isinstance(value, int | float):
            return value
        text = str(value).strip().replace(" ", "")
        parts = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?", text)
        if not text or not parts:
            raise ValueError(f"{value!r} is not a duration: a number or a text such as '90s', '5m', '1h30m'")
        hours, minutes, seconds = (float(p or 0) for p in parts.groups())
        return (hours * 3600 + minutes * 60 + seconds) / unit_seconds

    return BeforeValidator(parse)


Minutes = Annotated[float, _duration(60), Field(ge=0)]
Seconds = Annotated[float, _duration(1), Field(ge=0)]
Outcome = Annotated[str, _one_of("outcome", sorted(OUTCOMES))]
DeploymentStatus = Annotated[str, _one_of("deployment status", DEPLOYMENT_STATUSES)]
ReleaseStatusName = Annotated[str, _one_of("release status", RELEASE_STATUSES)]
TriggerName = Annotated[str, _one_of("trigger", TRIGGERS)]
NotificationState = Annotated[str, _one_of("notification", NOTIFICATION_STATES)]
HookName = Annotated[str, _one_of("hook", HOOK_NAMES)]
AppBehaviour = Annotated[str, _one_of("app behaviour", BEHAVIOURS)]
AlarmState = Annotated[str, _one_of("alarm state", ALARM_STATES)]
Label = Annotated[str, Field(pattern=r"^[A-Za-z][\w.-]*$", max_length=64)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Push(Strict):
    """Push an image (a new one, or the image an earlier push made) and deliver ECR's push event."""

    tag: str | None = Field(default=None, description="the tag pushed; none: an untagged push")
    app: AppBehaviour | None = Field(default=None, description="how the new image behaves (default healthy)")
    same_as: str | None = Field(default=None, description="push the image of an earlier push (tag, step-N or its as:)")
    repository: str | None = Field(default=None, description="the repository (default: the only one, or the first)")
    deliveries: int = Field(default=1, ge=1, le=20, description="how many times EventBridge delivers the event")
    label: Label | None = Field(default=None, alias="as", description="a name for the image, for later steps")

    @model_validator(mode="before")
    @classmethod
    def _a_mapping(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError(f"push takes a mapping such as {{tag: v1.1.0, app: healthy}}, not {value!r}")
        return value


class Alarm(Strict):
    """Set an alarm's state (forced, as ``set-alarm-state`` does) or let CloudWatch evaluate datapoints."""

    name: str
    state: AlarmState | None = None
    datapoints: list[float] | None = Field(
        default=None, min_length=1, description="evaluated with the alarm's own rule"
    )
    reason: str = "set by the scenario"
    delivery_delay: Seconds = Field(default=0, description="seconds before EventBridge delivers the state change")
    deliveries: int = Field(default=1, ge=1, le=20, description="how many times EventBridge delivers the state change")

    @model_validator(mode="after")
    def _state_or_datapoints(self) -> Alarm:
        if (self.state is None) == (self.datapoints is None):
            raise ValueError("give exactly one of 'state' (forced) or 'datapoints' (evaluated)")
        return self


def _command(value: Any) -> Any:
    return {"command": value} if isinstance(value, str) else value


class Run(Strict):
    """An operator command (``pushdeploy ...`` without the program name) at this point of virtual time."""

    command: Annotated[str, Field(min_length=1)]
    exit: int | None = Field(default=None, description="the exit code it must end with")
    output_contains: list[str] = Field(default_factory=list, description="texts its output must contain")
    label: Label | None = Field(default=None, alias="as")

    @model_validator(mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        if isinstance(value, dict) and isinstance(value.get("output_contains"), str):
            return {**value, "output_contains": [value["output_contains"]]}
        return value


class Step(Strict):
    """Exactly one of the step kinds."""

    push: Push | None = None
    event: str | None = Field(default=None, description="a JSON file (next to the scenario) delivered as it is")
    alarm: Alarm | None = None
    advance: Minutes | None = Field(default=None, description="minutes (or '90s', '5m', '1h') of virtual time")
    until: Literal["idle"] | None = Field(default=None, description="run until nothing deploys and nothing is queued")
    target: dict[str, Any] | None = Field(
        default=None, description="deep-merged into a target's document ('name' picks it)"
    )
    run: Annotated[Run, BeforeValidator(_command)] | None = None
    tick: Literal["reconcile"] | None = Field(default=None, description="run the reconcile sweep now")

    @model_validator(mode="before")
    @classmethod
    def _exactly_one(cls, value: Any) -> Any:
        if isinstance(value, str) and value in STEP_KINDS:
            raise ValueError(f"'{value}' needs a value, e.g. '{value}: ...'")
        if not isinstance(value, dict) or not value:
            raise ValueError(f"a step is a mapping with one of: {', '.join(STEP_KINDS)}")
        known = [k for k in value if k in STEP_KINDS]
        if len(known) > 1:
            raise ValueError(f"a step has exactly one kind, this one has {', '.join(known)} (make them separate steps)")
        return value

    @property
    def kind(self) -> str:
        return next(k for k in STEP_KINDS if getattr(self, k) is not None)

    @property
    def value(self) -> Any:
        return getattr(self, self.kind)


STEP_KINDS = ("push", "event", "alarm", "advance", "until", "target", "run", "tick")


class Expect(Strict):
    """What must be true when the steps are done. Images are named by tag, ``step-N`` or an ``as:`` label."""

    production_tag: str | None = Field(default=None, description="the first tag of the image production serves")
    production: str | dict[str, str] | None = Field(
        None, description="the image production serves (a reference), or per target: {target: reference}"
    )
    statuses: list[DeploymentStatus] | None = None
    statuses_end_with: list[DeploymentStatus] | None = None
    first_status_in: list[DeploymentStatus] | None = None
    triggers: list[TriggerName] | None = None
    outcomes_include: list[Outcome] = Field(default_factory=list)
    outcome_counts: dict[Outcome, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)
    quarantined: list[str] | None = None
    failed_hook: HookName | None = None
    release_statuses: dict[str, ReleaseStatusName] = Field(default_factory=dict)
    notified: list[NotificationState] = Field(default_factory=list)
    release_reason_contains: dict[str, str] = Field(default_factory=dict)
    hook_invocations: dict[str, dict[HookName, Annotated[int, Field(ge=1)]]] = Field(
        default_factory=dict, description="per tag: how many invocations a hook took (a check that carried on: 2+)"
    )


class SampleService(Strict):
    """How the sample's service deploys (the sample is a CODE_DEPLOY service unless a scenario says otherwise)."""

    controller: Literal["CODE_DEPLOY", "BLUE_GREEN", "LINEAR", "CANARY", "ROLLING"]
    bake_minutes: Annotated[int, Field(ge=0, le=1440)] = 2
    linear_step_percent: Annotated[float, Field(ge=3, le=100)] = 25.0
    linear_step_bake_minutes: Annotated[int, Field(ge=0, le=1440)] = 1
    canary_percent: Annotated[float, Field(ge=0.1, le=100)] = 10.0
    canary_bake_minutes: Annotated[int, Field(ge=0, le=1440)] = 2
    hook_timeout_minutes: Annotated[int, Field(ge=1, le=1440)] | None = None


class ScenarioDocument(Strict):
    name: Annotated[str, Field(min_length=1)] | None = None
    description: str = ""
    service: SampleService | None = Field(
        default=None, description="the sample service's deployment controller (the sample only; else --world)"
    )
    steps: Annotated[list[Step], Field(min_length=1)]
    expect: Expect = Field(default_factory=lambda: Expect.model_validate({}))


KEYS_OF: dict[str, Sequence[str]] = {
    "": tuple(ScenarioDocument.model_fields),
    "step": STEP_KINDS,
    "expect": tuple(Expect.model_fields),
    "service": tuple(SampleService.model_fields),
    **{
        kind: tuple((f.alias or name) for name, f in model.model_fields.items())
        for kind, model in (("push", Push), ("alarm", Alarm), ("run", Run))
    },
}


@dataclass(frozen=True)
class Scenario:
    name: str
    steps: list[Step]
    expect: Expect
    base: Path
    description: str = ""
    path: Path | None = None
    lines: tuple[int, ...] = ()  # the line each step starts on
    service: SampleService | None = None  # the sample's service deploys by this controller

    def references(self) -> dict[str, int]:
        """Names an image can be referred to by -> the number of the push step that made it."""
        names: dict[str, int] = {}
        for number, step in enumerate(self.steps, 1):
            if step.push is not None:
                names[f"step-{number}"] = number
                if step.push.label:
                    names[step.push.label] = number
                if step.push.tag:
                    names[step.push.tag] = number  # a tag names the image it was last pushed with
        return names


def parse(text: str, path: Path, *, known: WorldNames | None = None) -> Scenario:
    """A scenario from its YAML text; every problem at once, as ScenarioError."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ScenarioError([f"{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}"]) from None
    if not isinstance(document, dict):
        raise ScenarioError([f"{path}:1: a scenario is a mapping with 'name', 'steps' and 'expect'"])
    duplicated = duplicate_keys(path, root)
    try:
        parsed = ScenarioDocument.model_validate(document)
    except ValidationError as exc:
        raise ScenarioError(by_line(duplicated + [_problem(path, root, error) for error in exc.errors()])) from None
    if duplicated:
        raise ScenarioError(duplicated)
    lines = tuple(line_of(root, ("steps", i)) for i in range(len(parsed.steps)))
    scenario = Scenario(
        parsed.name or path.stem,
        parsed.steps,
        parsed.expect,
        path.parent,
        parsed.description,
        path,
        lines,
        service=parsed.service,
    )
    problems = _cross_references(scenario, root)
    if known is not None:
        problems += known.check(scenario, root)
    if problems:
        raise ScenarioError(by_line(problems))
    return scenario


def by_line(problems: list[str]) -> list[str]:
    """``file:line: ...`` problems in the order of their lines."""

    def line(problem: str) -> int:
        parts = problem.split(":", 2)
        return int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else 0

    return sorted(problems, key=line)


def duplicate_keys(path: Path, root: Any) -> list[str]:
    """Keys written twice in one mapping (YAML keeps the last one silently)."""
    problems, stack = [], [root]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                if key.value in seen:
                    problems.append(
                        f"{path}:{key.start_mark.line + 1}: duplicate key {key.value!r}: the one above would be "
                        "silently replaced"
                    )
                seen.add(key.value)
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return problems


def _problem(path: Path, root: Any, error: Any) -> str:
    loc = tuple(error["loc"])
    kind, message = error["type"], str(error["msg"])
    if kind == "extra_forbidden":
        key = loc[-1]
        context = _context_of(loc[:-1])
        allowed = KEYS_OF.get(context, ())
        message = f"unknown key {key!r}{suggest(key, allowed)}; allowed: {', '.join(allowed)}"
    elif kind == "missing":
        message = f"{loc[-1]!r} is required"
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return f"{path}:{line_of(root, loc)}: {where_of(loc)}: {message}"


def _context_of(loc: tuple[Any, ...]) -> str:
    if not loc:
        return ""
    if loc[0] == "expect":
        return "expect"
    if loc[0] == "steps" and len(loc) == 2:
        return "step"
    if loc[0] == "steps" and len(loc) >= 3:
        return str(loc[2])
    return ""


def where_of(loc: tuple[Any, ...]) -> str:
    if not loc:
        return "scenario"
    if loc[0] == "steps" and len(loc) >= 2 and isinstance(loc[1], int):
        rest = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc[2:]).lstrip(".")
        return f"step {loc[1] + 1}" + (f" {rest}" if rest else "")
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def line_of(root: Any, loc: Sequence[Any]) -> int:
    """The line (1-based) of the deepest YAML node on ``loc`` that exists."""
    node, line = root, 1
    for part in loc:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            node = None
    if node is not None:
        line = node.start_mark.line + 1
    return line


def _cross_references(scenario: Scenario, root: Any) -> list[str]:
    """Names that must point backwards (same_as) or anywhere (expectations) at a push of this scenario."""
    problems = []
    seen: dict[str, int] = {}
    for number, step in enumerate(scenario.steps, 1):
        if step.push is not None:
            ref = step.push.same_as
            if ref is not None and ref not in seen:
                problems.append(
                    f"{scenario.path}:{line_of(root, ('steps', number - 1, 'push', 'same_as'))}: step {number} push."
                    f"same_as: {ref!r} is no earlier push{suggest(ref, seen)} (a tag, step-N or an 'as:' name)"
                )
            seen[f"step-{number}"] = number
            for name in (step.push.label, step.push.tag):
                if name:
                    seen[name] = number
        if step.event is not None:
            where = f"{scenario.path}:{scenario.lines[number - 1]}: step {number} event"
            event_path = scenario.base / step.event
            if not event_path.is_file():
                problems.append(f"{where}: no file {step.event!r} next to the scenario")
            else:
                try:
                    event = json.loads(event_path.read_text())
                    if not isinstance(event, dict):
                        problems.append(f"{where}: {step.event} is not a JSON object (an EventBridge event)")
                except (ValueError, OSError) as exc:
                    problems.append(f"{where}: {step.event} is not JSON: {exc}")
    expect = scenario.expect
    wanted = expect.production if isinstance(expect.production, dict) else {"": expect.production}
    for target, ref in wanted.items():
        match = STEP_REF.match(ref or "")
        if match and int(match.group(1)) not in scenario.references().values():
            key = ("expect", "production", target) if target else ("expect", "production")
            problems.append(f"{scenario.path}:{line_of(root, key)}: expect.production: {ref!r} is not a push step")
    return problems


@dataclass(frozen=True)
class WorldNames:
    """What the world a scenario runs in has: names a scenario may use."""

    repositories: tuple[str, ...]
    alarms: tuple[str, ...]
    targets: tuple[str, ...]

    def check(self, scenario: Scenario, root: Any) -> list[str]:
        problems = []

        def unknown(kind: str, value: str, names: Sequence[str], loc: tuple[Any, ...]) -> None:
            problems.append(
                f"{scenario.path}:{line_of(root, loc)}: {where_of(loc)}: unknown {kind} {value!r}"
                f"{suggest(value, names)}; this world has: {', '.join(names)}"
            )

        for index, step in enumerate(scenario.steps):
            if step.push and step.push.repository and step.push.repository not in self.repositories:
                unknown("repository", step.push.repository, self.repositories, ("steps", index, "push", "repository"))
            if step.alarm and step.alarm.name not in self.alarms:
                unknown("alarm", step.alarm.name, self.alarms, ("steps", index, "alarm", "name"))
            name = (step.target or {}).get("name")
            if name is not None and name not in self.targets:
                unknown("target", str(name), self.targets, ("steps", index, "target", "name"))
        if isinstance(scenario.expect.production, dict):
            for target in scenario.expect.production:
                if target not in self.targets:
                    unknown("target", target, self.targets, ("expect", "production", target))
        if len(self.targets) > 1:  # a form that means "the only target" is ambiguous here: say which
            for key in ("production", "production_tag"):
                if isinstance(getattr(scenario.expect, key), str):
                    problems.append(
                        f"{scenario.path}:{line_of(root, ('expect', key))}: expect.{key}: this world has "
                        f"{len(self.targets)} targets: name the target, e.g. production: {{{self.targets[-1]}: ...}}"
                    )
            for index, step in enumerate(scenario.steps):
                if step.target is not None and "name" not in step.target:
                    problems.append(
                        f"{scenario.path}:{line_of(root, ('steps', index, 'target'))}: step {index + 1} target: this "
                        f"world has {len(self.targets)} targets: say which with name: ({', '.join(self.targets)})"
                    )
        return problems
