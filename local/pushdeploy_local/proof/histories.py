"""Histories: generated sequences of pushes, alarms, time and operator commands, run in the faithful world, and the
release state machine's invariants (design.md section 9) checked after each.

A history is data (:class:`History`): the property test (tests/e2e/test_histories.py) draws them with hypothesis
and shrinks a failing one; ``make chaos`` runs hundreds and counts violations by invariant.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, cast

from pushdeploy import aws, runtime
from pushdeploy.model.releases import UNFINISHED_STATUSES
from pushdeploy.services.reverts import NothingToRollBack, RemedyInProgress

from pushdeploy_local.emulator.ecs_native.backend import _cluster_name, _service_name
from pushdeploy_local.world.apps import Behaviour
from pushdeploy_local.world.world import World

StepKind = Literal["push", "retag", "alarm", "advance", "rollback", "release"]
Controller = Literal["CODE_DEPLOY", "BLUE_GREEN", "LINEAR", "CANARY", "ROLLING"]
INVARIANTS = (
    "production-on-quarantined-digest",
    "remedy-stopped-by-pushdeploy",
    "known-good-quarantined",
    "release-left-unfinished",
    "ended-without-a-reason",
    "push-lost",
    "newest-push-refused-for-an-older-one",
    "two-deployments-at-once",
    "status-differs-from-codedeploy",
    "reverted-without-a-revert",
    "remedy-failed",
)
STATUS_OF = {"Succeeded": ("SUCCEEDED", "REVERTED"), "Failed": ("FAILED",), "Stopped": ("STOPPED",)}
# ECS's own deployments (contracts 8.5): turned round = failed or stopped, as its alarms, circuit breaker, hooks or a
# stop request turned it; STOPPED = a newer UpdateService took over (pushdeploy's supersede)
ECS_STATUS_OF = {
    "SUCCESSFUL": ("SUCCEEDED", "REVERTED"),
    "ROLLBACK_SUCCESSFUL": ("FAILED", "STOPPED"),
    "ROLLBACK_FAILED": ("FAILED", "STOPPED"),
    "STOPPED": ("STOPPED",),
}
NEEDS_A_REASON = ("FAILED", "STOPPED", "SUPERSEDED", "REJECTED", "REFUSED", "START_FAILED", "REVERTED")


@dataclass(frozen=True)
class Step:
    kind: StepKind
    tag: str = ""  # push, retag
    app: Behaviour = "healthy"  # push: how the image behaves
    same_second: bool = False  # push, retag: in the same second as the previous step (EventBridge's resolution)
    deliveries: int = 1  # push, retag: EventBridge delivers at least once
    image: int = 0  # retag: which earlier image (modulo the images pushed so far)
    state: str = "ALARM"  # alarm
    delay: float = 0.0  # alarm: EventBridge delivers it this late (CodeDeploy's own poll may act first)
    minutes: float = 0.0  # advance

    def describe(self) -> str:
        if self.kind == "push":
            extra = " same-second" if self.same_second else ""
            return f"push {self.tag} ({self.app}) x{self.deliveries}{extra}"
        if self.kind == "retag":
            return f"retag image#{self.image} as {self.tag} x{self.deliveries}" + (
                " same-second" if self.same_second else ""
            )
        if self.kind == "alarm":
            return f"alarm -> {self.state}" + (f" (delivered {self.delay:.0f} s late)" if self.delay else "")
        if self.kind == "advance":
            return f"advance {self.minutes:g} min"
        return self.kind


@dataclass(frozen=True)
class History:
    seed: int
    steps: tuple[Step, ...]
    on_busy: str = "queue-latest"  # the target's policy for a push while a deployment runs
    controller: Controller = "CODE_DEPLOY"  # who deploys the target's service: CodeDeploy, or ECS with a strategy

    def describe(self) -> str:
        policy = f" on_busy={self.on_busy}" if self.on_busy != "queue-latest" else ""
        service = f" service={self.controller}" if self.controller != "CODE_DEPLOY" else ""
        return f"seed {self.seed}{policy}{service}: " + "; ".join(step.describe() for step in self.steps)

    @classmethod
    def parse(cls, text: str) -> History:
        """The inverse of :meth:`describe` (defaults may be left out: ``seed 7: push main; advance 10 min``), so a
        history a chaos run reports can be replayed as it is printed."""
        head, _, body = text.partition(":")
        steps = []
        for part in (p.strip() for p in body.split(";") if p.strip()):
            if match := _PUSH.fullmatch(part):
                steps.append(
                    Step(
                        "push",
                        tag=match["tag"],
                        app=cast(Behaviour, match["app"] or "healthy"),
                        deliveries=int(match["n"] or 1),
                        same_second=bool(match["same"]),
                    )
                )
            elif match := _RETAG.fullmatch(part):
                steps.append(
                    Step(
                        "retag",
                        tag=match["tag"],
                        image=int(match["image"]),
                        deliveries=int(match["n"] or 1),
                        same_second=bool(match["same"]),
                    )
                )
            elif match := _ALARM.fullmatch(part):
                steps.append(Step("alarm", state=match["state"], delay=float(match["delay"] or 0)))
            elif match := _ADVANCE.fullmatch(part):
                steps.append(Step("advance", minutes=float(match["minutes"])))
            elif part in ("rollback", "release"):
                steps.append(Step(cast(StepKind, part)))
            else:
                raise ValueError(f"not a history step: {part!r}")
        head, _, controller = head.partition(" service=")
        seed, _, policy = head.removeprefix("seed").strip().partition(" on_busy=")
        return cls(int(seed), tuple(steps), policy or "queue-latest", cast(Controller, controller or "CODE_DEPLOY"))


_SAME = r"(?P<same> same-second)?"
_PUSH = re.compile(r"push (?P<tag>\S+)(?: \((?P<app>[\w-]+)\))?(?: x(?P<n>\d+))?" + _SAME)
_RETAG = re.compile(r"retag image#(?P<image>\d+) as (?P<tag>\S+)(?: x(?P<n>\d+))?" + _SAME)
_ALARM = re.compile(r"alarm -> (?P<state>[A-Z_]+)(?: \(delivered (?P<delay>[\d.]+) s late\))?")
_ADVANCE = re.compile(r"advance (?P<minutes>[\d.]+) min")


@dataclass
class Push:
    event_id: str
    tag: str
    digest: str
    outcome: str = ""
    reason: str = ""


@dataclass
class Observed:
    """What a history did, as the invariants need it."""

    history: History
    pushes: list[Push] = field(default_factory=list)
    stops: list[tuple[str, str]] = field(default_factory=list)  # (deployment id, what it was) pushdeploy stopped
    operator: list[str] = field(default_factory=list)
    violations: list[tuple[str, str]] = field(default_factory=list)  # (invariant, detail)

    @property
    def names(self) -> set[str]:
        return {name for name, _ in self.violations}


def run_history(world: World, history: History) -> Observed:
    """Play ``history`` in a fresh sample world (v1.0.0 live and KNOWN_GOOD), settle, and check the invariants."""
    world.seed = history.seed
    world.reset()
    world.build_sample(service=None if history.controller == "CODE_DEPLOY" else {"controller": history.controller})
    if history.on_busy != "queue-latest":
        world.update_target({"on_busy": history.on_busy})
    observed = Observed(history)
    _record_stops(world, observed)
    images: list[str] = []
    for step in history.steps:
        if step.kind in ("push", "retag"):
            if not step.same_second:
                world.run_for(1 + world.rng.random())  # pushes a moment apart (same-second pairs are not)
            _push(world, step, images, observed)
        elif step.kind == "alarm":
            world.set_alarm(world.spec.alarm, step.state, "set by the history", forced=True, delivery_delay=step.delay)
            world.drain()
        elif step.kind == "advance":
            world.run_for(step.minutes * 60)
        elif step.kind == "rollback":
            observed.operator.append(_operator_rollback(world))
        elif step.kind == "release":
            observed.operator.append(_operator_release(world))
    _settle(world)
    observed.violations = violations(world, observed)
    return observed


def _record_stops(world: World, observed: Observed) -> None:
    """Every deployment pushdeploy stops, with what it was (a remedy or a change): CodeDeploy's StopDeployment; ECS's
    StopServiceDeployment, and an UpdateService that takes over from the deployment in progress (ECS stops it)."""
    emulator, backend = world.emulator, world.native_backend
    stop_deployment = _unwrapped(emulator, "stop_deployment")
    stop_service_deployment = _unwrapped(backend, "stop_service_deployment")
    update_service = _unwrapped(backend, "update_service")

    def kind(deployment_id: str, ecs_rollback: bool = False) -> str:
        release = runtime.services().ledger.release_by_deployment(deployment_id)
        return "remedy" if ecs_rollback or (release is not None and release.is_remedy) else "change"

    def stopping(deploymentId: str, autoRollbackEnabled: bool | None = None) -> dict[str, Any]:
        deployment = emulator.deployments.get(deploymentId) or {}
        observed.stops.append((deploymentId, kind(deploymentId, deployment.get("creator") == "codeDeployRollback")))
        return dict(stop_deployment(deploymentId, autoRollbackEnabled))

    def stopping_on_ecs(serviceDeploymentArn: str, stopType: str = "ROLLBACK") -> dict[str, Any]:
        observed.stops.append((serviceDeploymentArn, kind(serviceDeploymentArn)))
        return dict(stop_service_deployment(serviceDeploymentArn, stopType))

    def updating(params: dict[str, Any], task_definition: str) -> tuple[Any, bool]:
        service = backend.services.get((_cluster_name(params.get("cluster")), _service_name(str(params["service"]))))
        ongoing = service.ongoing() if service is not None else None
        result: tuple[Any, bool] = update_service(params, task_definition)
        if ongoing is not None and ongoing.status == "STOPPED":  # the update took over: ECS stopped it
            rolling_back = ongoing.rollback is not None  # ECS's own rollback is a remedy too
            observed.stops.append((ongoing.arn, kind(ongoing.arn, rolling_back)))
        return result

    emulator.stop_deployment = stopping  # type: ignore[method-assign]
    backend.stop_service_deployment = stopping_on_ecs  # type: ignore[method-assign]
    backend.update_service = updating  # type: ignore[method-assign]


def _unwrapped(api: Any, operation: str) -> Any:
    """The world's own ``operation`` (kept the first time, so histories in one world never stack wrappers)."""
    originals = api.__dict__.setdefault("_unrecorded", {})
    return originals.setdefault(operation, getattr(api, operation))


def _push(world: World, step: Step, images: list[str], observed: Observed) -> None:
    if step.kind == "retag" and images:
        digest = images[step.image % len(images)]
        manifest = aws.client("ecr").batch_get_image(
            repositoryName=world.spec.repository, imageIds=[{"imageDigest": digest}]
        )["images"][0]["imageManifest"]
        try:
            aws.client("ecr").put_image(
                repositoryName=world.spec.repository,
                imageManifest=manifest,
                imageTag=step.tag,
                imageManifestMediaType="application/vnd.oci.image.index.v1+json",
            )
        except Exception as exc:
            if aws.error_code(exc) == "ImageAlreadyExistsException":
                return  # ECR refuses a tag the image already has: no push, no event
            raise
    else:
        digest = world.publish(step.tag, step.app)
        images.append(digest)
    event = world.push_event(step.tag, digest)
    push = Push(str(event["id"]), step.tag, digest)
    observed.pushes.append(push)
    for _ in range(max(1, step.deliveries)):
        before = len(world.deliveries)
        world.emit(json.loads(json.dumps(event)))
        world.drain()
        for delivery in world.deliveries[before:]:
            if delivery.function.endswith("Deployer") or "deployer" in delivery.function.lower():
                push.outcome = push.outcome or delivery.outcome
                push.reason = push.reason or delivery.reason


def _target() -> Any:
    services = runtime.services()
    return services.catalog().targets[0], services


def _operator_rollback(world: World) -> str:
    target, services = _target()
    try:
        result = services.reverts.operator_rollback(target, to=None)
    except (NothingToRollBack, RemedyInProgress) as refused:
        return f"rollback refused: {refused}"
    finally:
        world.drain()
    return f"rollback: {result.outcome}"


def _operator_release(world: World) -> str:
    target, services = _target()
    quarantined = services.ledger.quarantined(target.name)
    if not quarantined:
        return "release: nothing quarantined"
    services.reverts.release_quarantine(target, quarantined[0].digest)
    return f"release {quarantined[0].digest[:19]}"


def _settle(world: World) -> None:
    """The alarm clears, deployments end, watch windows pass and the reconcile sweep runs."""
    world.run_until_idle()
    world.set_alarm(world.spec.alarm, "OK", "the incident is over", forced=True)
    world.run_for(5 * 60)
    world.run_until_idle()
    world.run_for(40 * 60)  # past the 30-minute watch window: candidates are promoted, sweeps run
    world.run_until_idle()


# -- the invariants -----------------------------------------------------------------------------------------------
def violations(world: World, observed: Observed) -> list[tuple[str, str]]:
    ledger = runtime.services().ledger
    name = world.spec.target
    found: list[tuple[str, str]] = []
    quarantined = {q.digest for q in ledger.quarantined(name)}
    releases = ledger.releases(name, limit=200)
    production = world.production()["image"]
    # 1. production never ends on a quarantined digest (no operator forces anything in a generated history)
    if production in quarantined:
        found.append(("production-on-quarantined-digest", production[:19]))
    # 2. pushdeploy never stops a remedy, never quarantines KNOWN_GOOD
    for deployment_id, kind in observed.stops:
        if kind == "remedy":
            found.append(("remedy-stopped-by-pushdeploy", deployment_id))
    known_good = ledger.known_good(name)
    if known_good is not None and known_good.digest in quarantined:
        found.append(("known-good-quarantined", known_good.digest[:19]))
    # 3. every accepted push ends with a verdict and a reason; none lost; the newest is never refused for an older
    for release in releases:
        if release.status in UNFINISHED_STATUSES:
            found.append(("release-left-unfinished", f"{release.tag} {release.status} {release.reason}"))
        elif release.status in NEEDS_A_REASON and not release.reason:
            found.append(("ended-without-a-reason", f"{release.tag} {release.status}"))
    by_event = {r.event_id for r in releases if r.event_id}
    for push in observed.pushes:
        if push.event_id not in by_event and push.outcome not in ("duplicate", "ignored"):
            found.append(("push-lost", f"{push.tag} {push.outcome} {push.reason}"))
    if observed.pushes:
        newest = observed.pushes[-1]
        refused = [r for r in releases if r.event_id == newest.event_id and r.status == "SUPERSEDED"]
        stale = newest.outcome == "superseded" and "newer push" in newest.reason
        if refused or stale:
            found.append(("newest-push-refused-for-an-older-one", f"{newest.tag}: {newest.reason}"))
    # 4. at most one deployment per group (CodeDeploy) or per service (ECS) at any time
    never = datetime.max.replace(tzinfo=UTC)
    codedeploy = sorted(
        (d["createTime"], d.get("completeTime") or never, d["deploymentId"])
        for d in world.emulator.deployments.values()
    )
    per_service = [
        sorted((d.created_at, d.finished_at or d.stopped_at or never, d.arn) for d in service.deployments)
        for service in world.native_backend.services.values()
    ]
    for spans in (codedeploy, *per_service):
        for (_, end, first), (start, _, second) in itertools.pairwise(spans):
            if start < end:
                found.append(("two-deployments-at-once", f"{first} and {second}"))
    # 5. every release's final status matches what happened
    reverted_ids = {r.reverts_release_id for r in releases if r.reverts_release_id}
    on_ecs = {d.arn: d.status for service in world.native_backend.services.values() for d in service.deployments}
    for release in releases:
        deployment = world.emulator.deployments.get(release.deployment_id or "")
        ended = deployment["status"] if deployment is not None else on_ecs.get(release.deployment_id or "")
        expected = STATUS_OF.get(ended or "") or ECS_STATUS_OF.get(ended or "")
        retried = release.deployment_id in release.earlier_deployment_ids  # the release moved on past that attempt
        if expected and release.status not in expected and not retried:
            found.append(("status-differs-from-codedeploy", f"{release.tag} {release.status} vs {ended}"))
        if release.is_remedy and release.status in ("FAILED", "STOPPED"):  # every remedy here goes to a healthy image
            found.append(("remedy-failed", f"{release.trigger} to {release.tag}: {release.reason}"))
        if release.status == "REVERTED" and release.release_id not in reverted_ids:
            found.append(("reverted-without-a-revert", str(release.tag)))
    return found


@dataclass
class Tally:
    histories: int = 0
    deployments: int = 0
    pushes: int = 0
    violations: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def add(self, observed: Observed, world: World) -> None:
        self.histories += 1
        self.pushes += len(observed.pushes)
        self.deployments += len(world.emulator.deployments) + sum(
            len(service.deployments) for service in world.native_backend.services.values()
        )
        for invariant, detail in observed.violations:
            self.violations[invariant] += 1
            self.examples.setdefault(invariant, f"{detail} <- {observed.history.describe()}")
