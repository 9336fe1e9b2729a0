"""Rehearse your own setup: the world built from your targets file (``--targets``) and what targets cannot say
(``--world``).

Per target the world gets what a real account would have before the first push: its repository (shared when two
targets deploy one), a cluster and a CODE_DEPLOY service, a load balancer with a production and a test listener and
two target groups, the CodeDeploy application and deployment group with the target's deployment config and
alarms, and a release live at the start (KNOWN_GOOD). The local apps answer the target's own smoke paths. The
targets file is read by the functions' own model, exactly as ``pushdeploy targets validate|apply`` reads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pushdeploy.model.targets import (
    Target,
    TargetConfigError,
    document_problems,
    parse_targets_document,
    target_entries,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pushdeploy_local.emulator.codedeploy.backend import PREDEFINED_CONFIGS
from pushdeploy_local.rehearsal.scenario import WorldNames, line_of, suggest, where_of
from pushdeploy_local.world.environment import Controller, EnvironmentSpec, WorldSetup


class SetupError(ValueError):
    """Targets or a world file that cannot be rehearsed: every problem, one line each."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AlarmRule(_Strict):
    """A watched alarm: the target's load balancer's 5xx count, with this rule (CloudWatch's names)."""

    threshold: float = 5
    evaluation_periods: Annotated[int, Field(ge=1, le=100)] = 3
    datapoints_to_alarm: Annotated[int, Field(ge=1, le=100)] | None = 2
    period_seconds: Literal[60, 300, 600, 900, 3600] = 60
    statistic: Literal["Sum", "Average", "Maximum", "Minimum"] = "Sum"

    @model_validator(mode="after")
    def _datapoints_fit(self) -> AlarmRule:
        if self.datapoints_to_alarm is not None and self.datapoints_to_alarm > self.evaluation_periods:
            raise ValueError("datapoints_to_alarm must be at most evaluation_periods (CloudWatch refuses it)")
        return self

    def as_put_metric_alarm(self) -> dict[str, Any]:
        rule: dict[str, Any] = {
            "Threshold": self.threshold,
            "EvaluationPeriods": self.evaluation_periods,
            "Period": self.period_seconds,
            "Statistic": self.statistic,
        }
        if self.datapoints_to_alarm is not None:
            rule["DatapointsToAlarm"] = self.datapoints_to_alarm
        return rule


class Linear(_Strict):
    """CodeDeploy's own field names (camelCase), as CreateDeploymentConfig takes them."""

    linearPercentage: Annotated[int, Field(ge=1, le=99)]
    linearInterval: Annotated[int, Field(ge=1, le=2880)]


class Canary(_Strict):
    canaryPercentage: Annotated[int, Field(ge=1, le=99)]
    canaryInterval: Annotated[int, Field(ge=1, le=2880)]


class TrafficRouting(_Strict):
    """A custom deployment config's trafficRoutingConfig, as CreateDeploymentConfig takes it."""

    type: Literal["AllAtOnce", "TimeBasedLinear", "TimeBasedCanary"]
    timeBasedLinear: Linear | None = None
    timeBasedCanary: Canary | None = None

    @model_validator(mode="after")
    def _matching_block(self) -> TrafficRouting:
        wanted = {"TimeBasedLinear": "timeBasedLinear", "TimeBasedCanary": "timeBasedCanary"}.get(self.type)
        given = [k for k in ("timeBasedLinear", "timeBasedCanary") if getattr(self, k) is not None]
        if given != ([wanted] if wanted else []):
            need = f"exactly {wanted}" if wanted else "neither timeBasedLinear nor timeBasedCanary"
            raise ValueError(f"type {self.type} takes {need}")
        return self


class TargetWorld(_Strict):
    """What a target document cannot say about the account it deploys to."""

    desired_count: Annotated[int, Field(ge=1, le=20)] = 2
    termination_wait_minutes: Annotated[int, Field(ge=0, le=2880)] = 5
    alarms: list[str] | None = Field(default=None, description="the group's alarms (default: rollback.alarms)")
    live: str = Field(default="v1.0.0", description="the tag of the release serving production at the start")
    controller: Controller | None = Field(
        default=None,
        description="CODE_DEPLOY, or ECS itself: BLUE_GREEN, LINEAR, CANARY, ROLLING (default: CODE_DEPLOY for a "
        "target that names a CodeDeploy group, BLUE_GREEN for one that names its cluster and service)",
    )
    cluster: str | None = None
    service: str | None = None
    deployment_config: str | None = Field(default=None, description="the group's own config (default: the target's)")
    test_listener: bool = True
    bake_minutes: Annotated[int, Field(ge=0, le=1440)] = 2  # ECS: bakeTimeInMinutes
    linear_step_percent: Annotated[float, Field(ge=3, le=100)] = 25.0
    linear_step_bake_minutes: Annotated[int, Field(ge=0, le=1440)] = 1
    canary_percent: Annotated[float, Field(ge=0.1, le=100)] = 10.0
    canary_bake_minutes: Annotated[int, Field(ge=0, le=1440)] = 2
    hook_timeout_minutes: Annotated[int, Field(ge=1, le=1440)] | None = None  # ECS's default: 1440


class WorldFile(_Strict):
    targets: dict[str, TargetWorld] = Field(default_factory=dict)
    alarms: dict[str, AlarmRule] = Field(default_factory=dict)
    deployment_configs: dict[str, TrafficRouting] = Field(
        default_factory=dict, description="name -> CodeDeploy trafficRoutingConfig, for custom configs"
    )


def _read_yaml(path: Path) -> tuple[Any, Any]:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise SetupError([f"{path}: cannot be read: {exc}"]) from None
    try:
        return yaml.safe_load(text), yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise SetupError([f"{where}: neither JSON nor YAML: {getattr(exc, 'problem', None) or exc}"]) from None


def read_world_file(path: Path) -> WorldFile:
    document, root = _read_yaml(path)
    try:
        return WorldFile.model_validate(document or {})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                keys = tuple(WorldFile.model_fields)
                if len(loc) == 3 and loc[0] == "targets":
                    keys = tuple(TargetWorld.model_fields)
                elif len(loc) == 3 and loc[0] == "alarms":
                    keys = tuple(AlarmRule.model_fields)
                message = f"unknown key {loc[-1]!r}{suggest(loc[-1], keys)}; allowed: {', '.join(keys)}"
            problems.append(f"{path}:{line_of(root, loc)}: {where_of(loc)}: {message}")
        raise SetupError(problems) from None


def read_targets(paths: Sequence[Path]) -> list[tuple[Target, dict[str, Any]]]:
    """Every target of every file (the model's target and the document as written), or every problem."""
    found: list[tuple[Target, dict[str, Any]]] = []
    problems: list[str] = []
    for path in paths:
        document, _ = _read_yaml(path)
        parsed = parse_targets_document(document, source=str(path))
        if parsed is None:
            problems.append(f"{path}: not a targets file (a target, a list of targets, 'targets:', or name -> target)")
            continue
        raw = [dict(d) if isinstance(d, dict) else {} for d in target_entries(document) or []]
        for number, (entry, body) in enumerate(zip(parsed, raw, strict=True), 1):
            if isinstance(entry, TargetConfigError):
                every = document_problems(body, default_name=f"#{number}", source=str(path)) or [entry]
                problems += [f"{path}: {problem}" for problem in every]
            else:
                found.append((entry, body))
    names = [t.name for t, _ in found]
    problems += [f"target {n!r} is declared twice" for n in sorted({n for n in names if names.count(n) > 1})]
    groups = [(t.application, t.deployment_group) for t, _ in found]
    problems += [
        f"deployment group {a}/{g} has two targets" for a, g in sorted({x for x in groups if groups.count(x) > 1})
    ]
    if not found and not problems:
        problems.append("no targets in " + ", ".join(str(p) for p in paths))
    if problems:
        raise SetupError(problems)
    return found


def load_setup(target_files: Sequence[Path], world_file: Path | None = None) -> WorldSetup:
    """The world for these targets: one environment each (``--world`` fills in what targets cannot say)."""
    targets = read_targets(target_files)
    world = read_world_file(world_file) if world_file else WorldFile()
    problems = [
        f"{world_file}: targets.{name}: no such target in the targets file{suggest(name, [t.name for t, _ in targets])}"
        for name in world.targets
        if name not in {t.name for t, _ in targets}
    ]
    known_configs = set(PREDEFINED_CONFIGS) | set(world.deployment_configs)
    specs = []
    for index, (target, document) in enumerate(targets):
        settings = world.targets.get(target.name, TargetWorld())
        config = settings.deployment_config or target.deployment_config or "CodeDeployDefault.ECSAllAtOnce"
        for used in {config, target.deployment_config, target.rollback.revert_deployment_config} - {None}:
            if used not in known_configs:
                problems.append(
                    f"target {target.name!r}: deployment config {used!r} is neither a CodeDeploy default for ECS"
                    f"{suggest(used, sorted(PREDEFINED_CONFIGS))} nor declared under deployment_configs in --world"
                )
        alarms = tuple(settings.alarms or target.rollback.alarms or [f"{target.name}-5xx"])
        controller = settings.controller or ("CODE_DEPLOY" if target.through_codedeploy else "BLUE_GREEN")
        if target.through_codedeploy != (controller == "CODE_DEPLOY"):
            problems.append(
                f"{world_file}: targets.{target.name}.controller: {controller} does not match the target, which "
                + (
                    "names a CodeDeploy group (its service's controller is CODE_DEPLOY)"
                    if target.through_codedeploy
                    else "names its cluster and service (ECS deploys it: BLUE_GREEN, LINEAR, CANARY or ROLLING)"
                )
            )
        specs.append(
            target_spec(
                target,
                document,
                index,
                cluster=settings.cluster or target.cluster or f"{target.name}-cluster",
                service=settings.service or target.service or target.name,
                deployment_config=config,
                alarms=alarms,
                alarm_rules={a: world.alarms[a].as_put_metric_alarm() for a in alarms if a in world.alarms},
                termination_wait_minutes=settings.termination_wait_minutes,
                desired_count=settings.desired_count,
                with_test_listener=settings.test_listener,
                initial_tag=settings.live,
                controller=controller,
                bake_minutes=settings.bake_minutes,
                linear_step_percent=settings.linear_step_percent,
                linear_step_bake_minutes=settings.linear_step_bake_minutes,
                canary_percent=settings.canary_percent,
                canary_bake_minutes=settings.canary_bake_minutes,
                hook_timeout_minutes=settings.hook_timeout_minutes,
            )
        )
    unknown_alarms = set(world.alarms) - {a for s in specs for a in s.watched_alarms}
    problems += [f"{world_file}: alarms.{a}: no target's group watches it" for a in sorted(unknown_alarms)]
    if problems:
        raise SetupError(problems)
    configs = {name: routing.model_dump(exclude_none=True) for name, routing in world.deployment_configs.items()}
    return WorldSetup(specs, configs)


def target_spec(
    target: Target, document: dict[str, Any], index: int, *, alarms: tuple[str, ...], **account: Any
) -> EnvironmentSpec:
    """One target's environment: the target's own names, and what the account around it has (``account``:
    cluster, service, deployment_config, alarm_rules, termination_wait_minutes, desired_count,
    with_test_listener, initial_tag)."""
    return EnvironmentSpec(
        stage="local",
        repository=target.repository,
        target=target.name,
        tag_pattern=target.tag_pattern,
        container_name=target.container_name,
        container_port=target.container_port,
        application=target.application or target.name,  # a CodeDeploy target's own; unused by ECS's
        deployment_group=target.deployment_group or target.name,
        on_busy=target.on_busy,
        alarm=alarms[0],
        alarms=alarms,
        document=document,
        network=20 + index,
        **account,
    )


def names_of(setup: WorldSetup | None) -> WorldNames:
    """The names a scenario may use in this world (the sample's when ``setup`` is None)."""
    specs = setup.specs if setup else [EnvironmentSpec(stage="local")]
    return WorldNames(
        repositories=tuple(dict.fromkeys(s.repository for s in specs)),
        alarms=tuple(dict.fromkeys(a for s in specs for a in s.watched_alarms)),
        targets=tuple(s.target for s in specs),
    )
