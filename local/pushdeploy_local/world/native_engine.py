"""Amazon ECS's own deployments (deploymentController ECS), played on the virtual clock: blue/green, linear, canary.

Stages, in order (botocore ``ServiceDeploymentLifecycleStage``; ECS Developer Guide, "Amazon ECS blue/green service
deployments workflow"): RECONCILE_SERVICE (only with more than one ACTIVE revision), PRE_SCALE_UP, SCALE_UP,
POST_SCALE_UP, TEST_TRAFFIC_SHIFT, POST_TEST_TRAFFIC_SHIFT, then PRE_PRODUCTION_TRAFFIC_SHIFT and
PRODUCTION_TRAFFIC_SHIFT (before and at every step for linear and canary), POST_PRODUCTION_TRAFFIC_SHIFT, BAKE_TIME
(``bakeTimeInMinutes``, both revisions running), CLEAN_UP (blue removed), then SUCCESSFUL.

- Production traffic moves on the production listener *rule* (``advancedConfiguration.productionListenerRule``):
  BLUE_GREEN at once; LINEAR by ``stepPercent`` every ``stepBakeTimeInMinutes``; CANARY ``canaryPercent`` for
  ``canaryBakeTimeInMinutes`` then 100 (BOTO ``LinearConfiguration``, ``CanaryConfiguration``). Test traffic moves
  on the test listener rule to the green target group during TEST_TRAFFIC_SHIFT.
- Hooks (ECS Developer Guide, "Lambda hooks for Amazon ECS service deployments"): the hooks of a stage run in
  parallel and "any rollback rolls back the whole deployment"; IN_PROGRESS invokes again after ``callBackDelay``
  (30 s by default) with the returned ``hookDetails`` merged, for the same hook in the same deployment only;
  ``timeoutConfiguration`` (default 1440 minutes, action ROLLBACK; CONTINUE goes on). The payload is
  ``{executionId, lifecycleStage, resourceArn (the service deployment), executionDetails {serviceArn,
  targetServiceRevisionArn, testTrafficWeights, productionTrafficWeights}, hookDetails?}``; the weight maps are empty
  outside the shifting stages (the guide's examples and BLOG's logged event).
- Rollback (a stop with ROLLBACK, a hook that fails or times out, an alarm): ROLLBACK_REQUESTED, then
  ROLLBACK_IN_PROGRESS; production and test traffic go back to the revision rolled back to, and the recurring stages
  (PRODUCTION_TRAFFIC_SHIFT, TEST_TRAFFIC_SHIFT) that had run invoke their hooks again with the target revision at
  weight 0 ("There is no dedicated ROLLBACK lifecycle stage"); green is removed; ROLLBACK_SUCCESSFUL.
- Alarms (``deploymentConfiguration.alarms``): ECS watches them itself from the start of the deployment to the end
  of bake time (ECS Developer Guide, "How CloudWatch alarms detect Amazon ECS deployment failures"); modelled as a
  poll about once a minute with jitter, like CodeDeploy's. An alarm already in ALARM when the deployment starts
  counts. With ``rollback`` false the deployment ends STOPPED (BOTO ``ServiceDeployment.stoppedAt``).
- Events: "ECS Deployment State Change" (ECS Developer Guide, "Amazon ECS service deployment state change
  events"): SERVICE_DEPLOYMENT_IN_PROGRESS "for both initial deployments and rollback deployments", the difference
  only in ``reason``; SERVICE_DEPLOYMENT_COMPLETED "once a service reaches a steady state after a deployment";
  SERVICE_DEPLOYMENT_FAILED "for services with deployment circuit breaker logic turned on". EventBridge delivers at
  least once and in no particular order: each is a little late and some twice (seeded).

Where the documentation is silent (chosen to make the product's life harder, and said so):
- each invocation of a hook gets a new ``executionId``; state between invocations travels in ``hookDetails`` only;
- a hook that fails while the deployment rolls back ends it ROLLBACK_FAILED (traffic is already back on blue);
- the rollback is a deployment of its own in DescribeServices (a new ``ecs-svc/`` id, PRIMARY), and its events carry
  that id: SERVICE_DEPLOYMENT_IN_PROGRESS with the rollback in ``reason``, then SERVICE_DEPLOYMENT_COMPLETED;
- a deployment that a newer UpdateService replaces ends STOPPED without an event of its own;
- tasks of an image whose behaviour is ``crashing`` never start: SCALE_UP waits for them for ever, unless the
  deployment circuit breaker (3 to 200 failed tasks: 0.5 x desired count, BOTO ``ServiceDeploymentCircuitBreaker``)
  trips.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pushdeploy import aws
from pushdeploy.model.images import parse_image_uri

from pushdeploy_local.emulator.ecs_native.backend import NativeEcs
from pushdeploy_local.emulator.ecs_native.model import HookDetail, NativeService, Revision, ServiceDeployment
from pushdeploy_local.world.apps import Behaviour, LocalApp
from pushdeploy_local.world.native_hooks import HookInvoker

STEP = timedelta(seconds=5)
TASK_START = timedelta(seconds=30)  # from SCALE_UP to tasks running and healthy in the target group
ALARM_POLL_SECONDS = 60.0
ALARM_POLL_JITTER_SECONDS = 15.0
DUPLICATE_EVENT_SHARE = 0.25
DEFAULT_HOOK_TIMEOUT_MINUTES = 1440
SHIFTING = ("TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT")


class NativeWorld(Protocol):
    """What the engine needs of the world (the world satisfies it; the engine never imports it)."""

    apps: dict[str, LocalApp]
    behaviours: dict[str, Behaviour]
    tags: dict[str, str]
    answers: dict[str, dict[str, tuple[int, str]]]

    def now(self) -> datetime: ...

    def note(self, kind: str, text: str, deployment: str | None = None) -> None: ...

    def emit(self, event: dict[str, Any], *, delay_seconds: float = 0) -> None: ...

    def native_environment(self, cluster: str, service: str) -> Any: ...  # the built Environment


@dataclass(frozen=True)
class Stage:
    name: str
    percent: float | None = None  # production weight of green this stage moves to
    bake_minutes: float = 0.0  # how long the stage holds before the next (a linear or canary step)


@dataclass
class HookRun:
    index: int  # the hook's position in deploymentConfiguration.lifecycleHooks
    detail: HookDetail
    details: dict[str, Any] | None
    due: datetime


@dataclass
class Run:
    arn: str
    plan: list[Stage]
    index: int = -1
    wake_at: datetime | None = None
    entered: bool = False
    hooks: list[HookRun] = field(default_factory=list)
    hold_until: datetime | None = None
    next_alarm_poll: datetime | None = None
    green_tg: str = ""
    blue_tg: str = ""
    shifted: list[str] = field(default_factory=list)  # the recurring stages that ran (re-invoked on rollback)
    rollback_plan: list[Stage] = field(default_factory=list)
    scale_started: datetime | None = None
    failures: int = 0  # rounds of task launches that failed
    cause: str = "stop request"  # what made it roll back (the rollback event's reason names it)


def plan_of(configuration: dict[str, Any], reconcile: bool) -> list[Stage]:
    """The stages of a blue/green, linear or canary deployment, in order."""
    strategy = configuration.get("strategy")
    if strategy == "LINEAR":
        linear = configuration["linearConfiguration"]
        step, hold = float(linear["stepPercent"]), float(linear["stepBakeTimeInMinutes"])
        percents = [round(step * n, 1) for n in range(1, math.ceil(100 / step)) if step * n < 100]
        steps = [(p, hold) for p in percents] + [(100.0, 0.0)]
    elif strategy == "CANARY":
        canary = configuration["canaryConfiguration"]
        steps = [(float(canary["canaryPercent"]), float(canary["canaryBakeTimeInMinutes"])), (100.0, 0.0)]
    else:
        steps = [(100.0, 0.0)]
    shifts = []
    for percent, hold in steps:
        shifts += [Stage("PRE_PRODUCTION_TRAFFIC_SHIFT", percent), Stage("PRODUCTION_TRAFFIC_SHIFT", percent, hold)]
    return [
        *([Stage("RECONCILE_SERVICE")] if reconcile else []),
        Stage("PRE_SCALE_UP"),
        Stage("SCALE_UP"),
        Stage("POST_SCALE_UP"),
        Stage("TEST_TRAFFIC_SHIFT"),
        Stage("POST_TEST_TRAFFIC_SHIFT"),
        *shifts,
        Stage("POST_PRODUCTION_TRAFFIC_SHIFT"),
        Stage("BAKE_TIME", bake_minutes=float(configuration.get("bakeTimeInMinutes") or 0)),
        Stage("CLEAN_UP"),
    ]


def circuit_breaker_threshold(desired: int) -> int:
    """ "minimum threshold of 3 and a maximum threshold of 200 ... 0.5 * desired task count" (BOTO)."""
    return min(200, max(3, math.ceil(0.5 * desired)))


class NativeEngine:
    def __init__(self, world: NativeWorld, backend: NativeEcs, hooks: HookInvoker, *, seed: int, account: str) -> None:
        self.world, self.backend, self.hooks, self.seed, self.account = world, backend, hooks, seed, account
        self.rng = random.Random(seed + 2)
        self.runs: dict[str, Run] = {}
        self.hook_invocations: list[dict[str, Any]] = []  # every payload sent to a hook (the timeline's evidence)
        self.revision_tgs: dict[str, str] = {}  # revision arn -> the target group its tasks are registered in
        self.registered: dict[str, tuple[str, list[dict[str, Any]]]] = {}  # revision arn -> (tg, its targets)
        self._addresses = 0
        backend.listeners.append(self._heard)

    def reset(self) -> None:
        self.runs.clear()
        self.hook_invocations.clear()
        self.revision_tgs.clear()
        self.registered.clear()
        self._addresses = 0
        self.rng = random.Random(self.seed + 2)

    def now(self) -> datetime:
        return self.world.now()

    def active(self) -> bool:
        return any(d.ongoing for s in self.backend.services.values() for d in s.deployments)

    def _heard(self, kind: str, service: NativeService, deployment: ServiceDeployment) -> None:
        if kind == "rollback-requested" and deployment.arn in self.runs:
            self.runs[deployment.arn].wake_at = None

    @contextlib.contextmanager
    def _unlocked(self) -> Iterator[None]:
        """Let go of the backend while a hook function runs: ECS invokes it and goes on serving API calls, the
        hook's own among them (holding the lock would deadlock the front)."""
        held = 0
        while True:
            try:
                self.backend.lock.release()
            except RuntimeError:  # not (or no longer) held by this thread
                break
            held += 1
        try:
            yield
        finally:
            for _ in range(held):
                self.backend.lock.acquire()

    # -- scheduling ---------------------------------------------------------------------------------------------
    def step(self) -> datetime | None:
        wakes: list[datetime] = []
        with self.backend.lock:
            for service in list(self.backend.services.values()):
                for deployment in list(service.deployments):
                    if not deployment.ongoing:
                        continue
                    wakes.append(self._step(service, deployment))
        return min(wakes) if wakes else None

    def _step(self, service: NativeService, deployment: ServiceDeployment) -> datetime:
        run = self.runs.get(deployment.arn)
        if run is None:
            run = self.runs[deployment.arn] = self._begin(service, deployment)
        polling = deployment.status == "IN_PROGRESS" and run.next_alarm_poll is not None
        if polling and run.next_alarm_poll is not None and run.next_alarm_poll <= self.now():
            run.next_alarm_poll = self.now() + self._poll_interval()
            self._poll_alarms(service, deployment, run)
        if run.wake_at is not None and run.wake_at > self.now():
            return self._earliest(run.wake_at, run.next_alarm_poll)
        run.wake_at = None
        if deployment.status == "ROLLBACK_REQUESTED":
            self._start_rollback(service, deployment, run)
        elif deployment.status == "ROLLBACK_IN_PROGRESS":
            self._advance(service, deployment, run, run.rollback_plan, rolling_back=True)
        elif deployment.status == "IN_PROGRESS":
            self._advance(service, deployment, run, run.plan, rolling_back=False)
        wake = run.wake_at or self.now()
        return self._earliest(wake, run.next_alarm_poll if deployment.status == "IN_PROGRESS" else None)

    @staticmethod
    def _earliest(*moments: datetime | None) -> datetime:
        return min(m for m in moments if m is not None)

    def _poll_interval(self) -> timedelta:
        return timedelta(
            seconds=ALARM_POLL_SECONDS + self.rng.uniform(-ALARM_POLL_JITTER_SECONDS, ALARM_POLL_JITTER_SECONDS)
        )

    def _later(self, run: Run, delta: timedelta = STEP) -> None:
        run.wake_at = self.now() + delta

    # -- the deployment -----------------------------------------------------------------------------------------
    def _begin(self, service: NativeService, deployment: ServiceDeployment) -> Run:
        initial = not deployment.sources
        rolling = service.strategy == "ROLLING"
        plan = (
            [Stage("SCALE_UP"), Stage("CLEAN_UP")] if initial or rolling else plan_of(deployment.configuration, False)
        )
        if not (initial or rolling) and len(service.active_revisions()) > 1:
            plan = plan_of(deployment.configuration, True)
        run = Run(deployment.arn, plan)
        env = self.world.native_environment(service.cluster, service.name)
        primary, alternate = self._target_groups(service)
        serving = {r.arn for r in service.revisions.values() if r.production_weight > 0}
        blue_on_alternate = any(self._revision_tg(service, arn) == alternate for arn in serving)
        run.blue_tg, run.green_tg = (alternate, primary) if blue_on_alternate else (primary, alternate)
        if initial:
            run.green_tg = primary
        self.revision_tgs[deployment.target] = run.green_tg
        if deployment.status == "PENDING":  # a stop while it was PENDING already asked for its rollback: kept
            deployment.status = "IN_PROGRESS"
        deployment.started_at, deployment.updated_at = self.now(), self.now()
        alarms = deployment.configuration.get("alarms") or {}
        if alarms.get("enable"):
            deployment.alarms = {"status": "MONITORING", "alarmNames": list(alarms.get("alarmNames") or [])}
            run.next_alarm_poll = self.now()  # an alarm already in ALARM counts at once
        else:
            deployment.alarms = {"status": "DISABLED"}
        breaker = deployment.configuration.get("deploymentCircuitBreaker") or {}
        deployment.circuit_breaker = (
            {"status": "MONITORING", "failureCount": 0, "threshold": circuit_breaker_threshold(service.desired_count)}
            if breaker.get("enable")
            else {"status": "DISABLED"}
        )
        self.world.note("lifecycle", f"ECS {env.spec.service}: deployment {deployment.ecs_deployment_id} started")
        self._publish(
            service,
            deployment.ecs_deployment_id,
            "SERVICE_DEPLOYMENT_IN_PROGRESS",
            "INFO",
            f"ECS deployment {deployment.ecs_deployment_id} in progress.",
        )
        return run

    def _revision_tg(self, service: NativeService, revision: str) -> str:
        return self.revision_tgs.get(revision) or self._target_groups(service)[0]

    @staticmethod
    def _target_groups(service: NativeService) -> tuple[str, str]:
        """The service's target group and its alternate (a rolling service has one: both are the same)."""
        balancer = service.load_balancers[0]
        primary = str(balancer["targetGroupArn"])
        return primary, str((balancer.get("advancedConfiguration") or {}).get("alternateTargetGroupArn") or primary)

    @staticmethod
    def _rules(service: NativeService) -> tuple[str | None, str | None]:
        """The production and test listener rules ECS moves weights on (none for a rolling service)."""
        advanced = service.load_balancers[0].get("advancedConfiguration") or {}
        return advanced.get("productionListenerRule"), advanced.get("testListenerRule")

    def _advance(
        self, service: NativeService, deployment: ServiceDeployment, run: Run, plan: list[Stage], *, rolling_back: bool
    ) -> None:
        if run.index < 0 or (not run.entered and run.index >= len(plan)):
            run.index = 0
        if run.index >= len(plan):
            return
        stage = plan[run.index]
        if not run.entered:
            deployment.lifecycle_stage = stage.name
            deployment.updated_at = self.now()
            if not self._enter(service, deployment, run, stage, rolling_back):
                return  # the stage is waiting (tasks starting) or the deployment ended
            run.entered = True
            run.hooks = self._hooks_of(deployment, stage.name, run)
        if run.hooks and not self._run_hooks(service, deployment, run, stage, rolling_back):
            return
        if stage.bake_minutes and not rolling_back:
            if run.hold_until is None:
                run.hold_until = self.now() + timedelta(minutes=stage.bake_minutes)
            if self.now() < run.hold_until:
                run.wake_at = min(run.hold_until, self.now() + timedelta(minutes=1))
                return
        run.hold_until, run.entered, run.hooks = None, False, []
        run.index += 1
        if run.index >= len(plan):
            self._finish(service, deployment, run, rolling_back)
            return
        self._later(run, timedelta(0))

    def _enter(
        self, service: NativeService, deployment: ServiceDeployment, run: Run, stage: Stage, rolling_back: bool
    ) -> bool:
        """A stage's own work; False while it waits (and then it is entered again)."""
        target = service.revisions[deployment.target]
        back_to = service.revisions[self.backend.rollback_target(service)] if deployment.sources else None
        production, test = self._rules(service)
        if stage.name == "RECONCILE_SERVICE":
            self._reconcile(service, deployment, run)
        elif stage.name == "SCALE_UP":
            return self._scale_up(service, deployment, run, target)
        elif stage.name == "TEST_TRAFFIC_SHIFT" and back_to is not None:
            moving_to = back_to if rolling_back else target
            if test:
                self._forward(test, [(self._revision_tg(service, moving_to.arn), 100)])
            target.test_weight, back_to.test_weight = (0.0, 100.0) if rolling_back else (100.0, 0.0)
            self.world.note("traffic", f"test traffic -> {'blue' if rolling_back else 'green'}")
            if not rolling_back:
                run.shifted.append(stage.name)
        elif stage.name == "PRODUCTION_TRAFFIC_SHIFT" and back_to is not None and production:
            percent = 0.0 if rolling_back else float(stage.percent or 100)
            self._shift_production(service, production, run, target, back_to, percent)
            if not rolling_back and stage.name not in run.shifted:
                run.shifted.append(stage.name)
        elif stage.name == "CLEAN_UP":
            self._clean_up(service, deployment, run, rolling_back)
        return True

    def _shift_production(
        self, service: NativeService, rule: str, run: Run, target: Revision, blue: Revision, percent: float
    ) -> None:
        blue_tg = self._revision_tg(service, blue.arn)
        weights = [(blue_tg, 100 - percent), (run.green_tg, percent)] if 0 < percent < 100 else []
        self._forward(rule, weights or [(run.green_tg if percent >= 100 else blue_tg, 100)])
        target.production_weight, blue.production_weight = percent, 100 - percent
        self.world.note("traffic", f"production: blue {100 - percent:g}% / green {percent:g}%")

    def _reconcile(self, service: NativeService, deployment: ServiceDeployment, run: Run) -> None:
        """More than one ACTIVE revision: everything but the revision rolled back to (and the new target) is scaled
        in, and production and test traffic go back to that revision before the new deployment starts."""
        keep = self.backend.rollback_target(service)
        production, test = self._rules(service)
        keep_tg = self._revision_tg(service, keep)
        if production:
            self._forward(production, [(keep_tg, 100)])
        if test:
            self._forward(test, [(keep_tg, 100)])
        for revision in service.revisions.values():
            if revision.arn in (keep, deployment.target):
                continue
            self._scale_in(service, revision)
        service.revisions[keep].production_weight = service.revisions[keep].test_weight = 100.0
        run.blue_tg = keep_tg
        run.green_tg = next(tg for tg in self._target_groups(service) if tg != keep_tg)
        self.revision_tgs[deployment.target] = run.green_tg
        deployment.sources = [keep]

    def _register(self, tg: str, revision: Revision, count: int, port: int) -> None:
        """ECS registers a revision's running tasks with its target group ("Amazon ECS automatically registers tasks
        with the appropriate target group based on the deployment stage": ECS developer guide,
        alb-resources-for-blue-green); they report healthy once running."""
        self._addresses += 1
        targets = [{"Id": f"10.99.{self._addresses % 250}.{10 + i}", "Port": port} for i in range(count)]
        aws.client("elbv2").register_targets(TargetGroupArn=tg, Targets=targets)
        self.registered[revision.arn] = (tg, targets)

    def _deregister(self, revision: Revision) -> None:
        tg, targets = self.registered.pop(revision.arn, ("", []))
        if tg and targets:
            aws.client("elbv2").deregister_targets(TargetGroupArn=tg, Targets=targets)

    def _scale_in(self, service: NativeService, revision: Revision) -> None:
        revision.requested = revision.running = revision.pending = 0
        revision.production_weight = revision.test_weight = 0.0
        self._deregister(revision)
        tg = self.revision_tgs.get(revision.arn)
        if tg and tg in self.world.apps and getattr(self.world.apps[tg], "revision", None) == revision.arn:
            self.world.apps.pop(tg).close()

    def _scale_up(self, service: NativeService, deployment: ServiceDeployment, run: Run, target: Revision) -> bool:
        env = self.world.native_environment(service.cluster, service.name)
        digest = self._digest(target.task_definition)
        behaviour = self.world.behaviours.get(digest, "healthy")
        desired = service.desired_count
        rolling = service.strategy == "ROLLING" and bool(deployment.sources)
        if run.scale_started is None:
            run.scale_started = self.now()
            target.requested, target.pending = desired, desired
            if not rolling:  # a rolling update shares one target group: new tasks serve once they run
                self._start_app(env, run.green_tg, behaviour, digest, target.arn)
            self.world.note(
                "lifecycle",
                f"SCALE_UP: {desired} task(s) of {self.world.tags.get(digest, digest[:19])}"
                f" ({behaviour}) on {run.green_tg.split('/')[-2]}",
            )
        if behaviour == "crashing":
            return self._tasks_fail(service, deployment, run, target, env)
        if deployment.sources and self.now() - run.scale_started < TASK_START:  # a first deployment: at once
            run.wake_at = run.scale_started + TASK_START
            return False
        target.running, target.pending = desired, 0
        if target.arn not in self.registered:
            self._register(run.green_tg, target, desired, env.spec.container_port)
        if rolling:  # old tasks stop as new ones run (minimumHealthyPercent 100 keeps them until then)
            self._start_app(env, run.green_tg, behaviour, digest, target.arn)
        if not deployment.sources:  # the service's first deployment: its tasks serve production at once
            production, test = self._rules(service)
            if production:
                self._forward(production, [(run.green_tg, 100)])
            if test:
                self._forward(test, [(run.green_tg, 100)])
            target.production_weight = target.test_weight = 100.0
        return True

    def _tasks_fail(
        self, service: NativeService, deployment: ServiceDeployment, run: Run, target: Revision, env: Any
    ) -> bool:
        """Tasks that stop before running: ECS starts them again; the circuit breaker counts them."""
        from pushdeploy_local.emulator import ecs as ecs_scheduler

        started = run.scale_started or self.now()
        attempts = int((self.now() - started) / TASK_START)
        if attempts > run.failures:
            failed = (attempts - run.failures) * service.desired_count
            run.failures = attempts
            ecs_scheduler.run_and_stop_tasks(
                aws.client("ecs"),
                env.spec.cluster,
                target.task_definition,
                self.backend.deployment_ids.get(target.arn, ""),
                "Essential container in task exited (exit code 137: OutOfMemoryError: Container killed due to "
                "memory usage)",
                service.desired_count,
                env.subnets,
                env.security_group,
            )
            breaker = deployment.circuit_breaker
            if breaker.get("status") == "MONITORING":
                breaker["failureCount"] = int(breaker["failureCount"]) + failed
                if breaker["failureCount"] >= int(breaker["threshold"]):
                    breaker["status"] = "TRIGGERED"
                    self._fail(
                        service,
                        deployment,
                        "circuit breaker",
                        "ECS deployment circuit breaker: tasks failed to start.",
                        rollback=bool((deployment.configuration.get("deploymentCircuitBreaker") or {}).get("rollback")),
                    )
                    return False
        run.wake_at = started + TASK_START * (attempts + 1)
        return False

    def _start_app(self, env: Any, tg: str, behaviour: Behaviour, digest: str, revision: str) -> None:
        old = self.world.apps.pop(tg, None)
        if old:
            old.close()
        app = LocalApp(
            tg.split("/")[-2],
            behaviour,
            version=self.world.tags.get(digest, ""),
            answers=self.world.answers.get(env.spec.target),
        )
        app.digest = digest  # type: ignore[attr-defined]
        app.revision = revision  # type: ignore[attr-defined]
        self.world.apps[tg] = app

    @staticmethod
    def _digest(task_definition: str) -> str:
        image = aws.client("ecs").describe_task_definition(taskDefinition=task_definition)["taskDefinition"][
            "containerDefinitions"
        ][0]["image"]
        ref = parse_image_uri(image)
        return ref.digest if ref and ref.digest else ""

    def _clean_up(self, service: NativeService, deployment: ServiceDeployment, run: Run, rolling_back: bool) -> None:
        keep = self.backend.rollback_target(service) if rolling_back else deployment.target
        for revision in service.revisions.values():
            if revision.arn != keep:
                self._scale_in(service, revision)
        kept = service.revisions[keep]
        kept.production_weight = kept.test_weight = 100.0
        kept.requested = kept.running = service.desired_count

    # -- hooks --------------------------------------------------------------------------------------------------
    def _hooks_of(self, deployment: ServiceDeployment, stage: str, run: Run) -> list[HookRun]:
        if not deployment.sources:
            return []  # a service's first deployment has no blue to protect: no hooks
        found = []
        for index, hook in enumerate(deployment.configuration.get("lifecycleHooks") or []):
            if stage not in (hook.get("lifecycleStages") or []) or hook.get("targetType", "AWS_LAMBDA") != "AWS_LAMBDA":
                continue
            timeout = hook.get("timeoutConfiguration") or {}
            minutes = float(timeout.get("timeoutInMinutes") or DEFAULT_HOOK_TIMEOUT_MINUTES)
            detail = HookDetail(
                hook_id=f"ecs-lambda-{uuid.UUID(int=self.rng.getrandbits(128), version=4).hex}",
                target_arn=str(hook.get("hookTargetArn")),
                status="IN_PROGRESS",
                expires_at=self.now() + timedelta(minutes=minutes),
                timeout_action=str(timeout.get("action") or "ROLLBACK"),
            )
            configured = hook.get("hookDetails")
            found.append(HookRun(index, detail, dict(configured) if isinstance(configured, dict) else None, self.now()))
        deployment.hooks = [h.detail for h in found]
        return found

    def _run_hooks(
        self, service: NativeService, deployment: ServiceDeployment, run: Run, stage: Stage, rolling_back: bool
    ) -> bool:
        """Invoke the stage's hooks that are due; True once every one has succeeded (or timed out with CONTINUE)."""
        hooks = deployment.configuration.get("lifecycleHooks") or []
        for hook_run in run.hooks:
            detail = hook_run.detail
            if detail.status != "IN_PROGRESS":
                continue
            if self.now() >= detail.expires_at:
                detail.status = "TIMED_OUT"
                self.world.note(
                    "hook", f"{stage.name}: {detail.target_arn.split(':')[-1]} timed out ({detail.timeout_action})"
                )
                if detail.timeout_action == "ROLLBACK":
                    return self._hook_failed(service, deployment, stage, "timed out", rolling_back)
                continue
            if hook_run.due > self.now():
                continue
            payload = self._payload(service, deployment, stage, rolling_back, hook_run.details)
            self.hook_invocations.append(payload)
            with self._unlocked():  # the hook calls ECS (DescribeServiceRevisions ...) through the front
                answer = self.hooks.invoke(hooks[hook_run.index], payload)
            name = detail.target_arn.split(":")[-1]
            if answer.status == "SUCCEEDED":
                detail.status = "SUCCEEDED"
                self.world.note("hook", f"{stage.name}: {name} SUCCEEDED")
            elif answer.status == "IN_PROGRESS":
                if answer.details:
                    hook_run.details = {**(hook_run.details or {}), **answer.details}
                hook_run.due = self.now() + timedelta(seconds=answer.callback_seconds)
                self.world.note("hook", f"{stage.name}: {name} IN_PROGRESS (again in {answer.callback_seconds:g} s)")
            else:
                detail.status = "FAILED"
                self.world.note("hook", f"{stage.name}: {name} {answer.status or 'failed'} {answer.error}".rstrip())
                return self._hook_failed(service, deployment, stage, answer.error or "returned FAILED", rolling_back)
        pending = [h for h in run.hooks if h.detail.status == "IN_PROGRESS"]
        if pending:
            run.wake_at = min(min(h.due for h in pending), min(h.detail.expires_at for h in pending))
            return False
        return True

    def _hook_failed(
        self, service: NativeService, deployment: ServiceDeployment, stage: Stage, why: str, rolling_back: bool
    ) -> bool:
        if rolling_back:
            deployment.status = "ROLLBACK_FAILED"
            deployment.status_reason = f"A lifecycle hook failed during the rollback ({stage.name}: {why})."
            deployment.finished_at = deployment.updated_at = self.now()
            self.world.note("lifecycle", f"rollback failed: {deployment.status_reason}")
            return False
        self._fail(
            service, deployment, "lifecycle hook", f"Lifecycle hook failed in {stage.name}: {why}", rollback=True
        )
        return False

    def _payload(
        self,
        service: NativeService,
        deployment: ServiceDeployment,
        stage: Stage,
        rolling_back: bool,
        details: dict[str, Any] | None,
    ) -> dict[str, Any]:
        target = service.revisions[deployment.target]
        blue = self.backend.rollback_target(service)
        test: dict[str, float] = {}
        production: dict[str, float] = {}
        if stage.name == "TEST_TRAFFIC_SHIFT":
            test = {target.arn: target.test_weight, blue: 100 - target.test_weight}
        elif stage.name in ("PRE_PRODUCTION_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT"):
            production = {target.arn: target.production_weight, blue: 100 - target.production_weight}
        payload: dict[str, Any] = {
            "executionId": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "lifecycleStage": stage.name,
            "resourceArn": deployment.arn,
            "executionDetails": {
                "serviceArn": service.arn,
                "targetServiceRevisionArn": target.arn,
                "testTrafficWeights": {k: _number(v) for k, v in test.items()},
                "productionTrafficWeights": {k: _number(v) for k, v in production.items()},
            },
        }
        if details:
            payload["hookDetails"] = dict(details)
        return payload

    # -- alarms -------------------------------------------------------------------------------------------------
    def _poll_alarms(self, service: NativeService, deployment: ServiceDeployment, run: Run) -> None:
        names = list((deployment.configuration.get("alarms") or {}).get("alarmNames") or [])
        if not names or deployment.lifecycle_stage == "CLEAN_UP":
            return
        alarms = aws.client("cloudwatch").describe_alarms(AlarmNames=names)["MetricAlarms"]
        firing = [a["AlarmName"] for a in alarms if a["StateValue"] == "ALARM"]
        if not firing:
            return
        deployment.alarms.update(status="TRIGGERED", triggeredAlarmNames=firing)
        rollback = bool((deployment.configuration.get("alarms") or {}).get("rollback"))
        self.world.note("lifecycle", f"ECS: alarm {', '.join(firing)} in ALARM during {deployment.lifecycle_stage}")
        self._fail(
            service, deployment, "alarm", f"CloudWatch alarm(s) in ALARM: {', '.join(firing)}.", rollback=rollback
        )

    # -- endings ------------------------------------------------------------------------------------------------
    def _fail(
        self, service: NativeService, deployment: ServiceDeployment, cause: str, reason: str, *, rollback: bool
    ) -> None:
        breaker_on = bool((deployment.configuration.get("deploymentCircuitBreaker") or {}).get("enable"))
        if breaker_on:
            self._publish(
                service,
                deployment.ecs_deployment_id,
                "SERVICE_DEPLOYMENT_FAILED",
                "ERROR",
                reason
                if cause == "circuit breaker"
                else f"ECS deployment {deployment.ecs_deployment_id} failed: {reason}",
            )
        if rollback and deployment.sources:
            self.backend.request_rollback(service, deployment, reason)
            self.runs[deployment.arn].wake_at = None
            self.runs[deployment.arn].cause = cause
            return
        deployment.status, deployment.status_reason = "STOPPED", reason
        deployment.stopped_at = deployment.finished_at = deployment.updated_at = self.now()
        self.world.note("lifecycle", f"ECS deployment {deployment.ecs_deployment_id} STOPPED: {reason}")

    def _start_rollback(self, service: NativeService, deployment: ServiceDeployment, run: Run) -> None:
        deployment.status, deployment.updated_at = "ROLLBACK_IN_PROGRESS", self.now()
        back_to = self.backend.rollback_target(service)
        self.backend.deployment_ids[back_to] = str(deployment.rollback_deployment_id)
        cause = run.cause
        self._publish(
            service,
            str(deployment.rollback_deployment_id),
            "SERVICE_DEPLOYMENT_IN_PROGRESS",
            "INFO",
            f"ECS deployment {cause}: rolling back to deploymentId {self._first_id(service, back_to)}.",
        )
        self.world.note("lifecycle", f"ECS deployment {deployment.ecs_deployment_id} rolling back ({cause})")
        run.rollback_plan = [
            Stage(name) for name in ("PRODUCTION_TRAFFIC_SHIFT", "TEST_TRAFFIC_SHIFT") if name in run.shifted
        ]
        run.rollback_plan.append(Stage("CLEAN_UP"))
        run.index, run.entered, run.hooks, run.hold_until = 0, False, [], None
        back = service.revisions[back_to]
        if back.requested == 0:  # blue already scaled in (a rollback after CLEAN_UP began): it starts again
            back.requested = back.running = service.desired_count
        self._restore_task_definition(service, back.task_definition)
        self._later(run, timedelta(0))

    def _first_id(self, service: NativeService, revision: str) -> str:
        return next((d.ecs_deployment_id for d in service.deployments if d.target == revision), "")

    def _restore_task_definition(self, service: NativeService, task_definition: str) -> None:
        """Keep moto's view (and the service's taskDefinition) on the revision that serves again."""
        service.task_definition = task_definition
        from moto.ecs.models import ecs_backends

        backend = ecs_backends[self.account][self.backend.region]
        backend.services[f"{service.cluster}:{service.name}"].task_definition = task_definition

    def _finish(self, service: NativeService, deployment: ServiceDeployment, run: Run, rolling_back: bool) -> None:
        now = self.now()
        deployment.finished_at = deployment.updated_at = now
        deployment.hooks = []
        if deployment.alarms.get("status") == "MONITORING":
            deployment.alarms["status"] = "MONITORING_COMPLETE"
        if deployment.circuit_breaker.get("status") == "MONITORING":
            deployment.circuit_breaker["status"] = "MONITORING_COMPLETE"
        if rolling_back:
            deployment.status = "ROLLBACK_SUCCESSFUL"
            ecs_id = str(deployment.rollback_deployment_id)
        else:
            deployment.status = "SUCCESSFUL"
            service.last_successful = deployment.target
            ecs_id = deployment.ecs_deployment_id
        self.world.note("lifecycle", f"ECS deployment {deployment.ecs_deployment_id} {deployment.status}")
        self._publish(service, ecs_id, "SERVICE_DEPLOYMENT_COMPLETED", "INFO", f"ECS deployment {ecs_id} completed.")

    # -- load balancer and events -------------------------------------------------------------------------------
    @staticmethod
    def _forward(rule: str, weights: list[tuple[str, float]]) -> None:
        groups = [{"TargetGroupArn": tg, "Weight": round(w)} for tg, w in weights]
        aws.client("elbv2").modify_rule(
            RuleArn=rule, Actions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}]
        )

    def _publish(self, service: NativeService, ecs_id: str, name: str, kind: str, reason: str) -> None:
        stamp = self.now().astimezone(UTC)
        event = {
            "version": "0",
            "id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "detail-type": "ECS Deployment State Change",
            "source": "aws.ecs",
            "account": self.account,
            "time": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.backend.region,
            "resources": [service.arn],
            "detail": {
                "eventType": kind,
                "eventName": name,
                "deploymentId": ecs_id,
                "updatedAt": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "reason": reason,
            },
        }
        self.world.emit(event, delay_seconds=self.rng.uniform(0, 3))
        if self.rng.random() < DUPLICATE_EVENT_SHARE:  # at least once: sometimes twice, the same id
            self.world.emit(json.loads(json.dumps(event)), delay_seconds=self.rng.uniform(0, 30))


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value
