"""The local CodeDeploy's lifecycle engine: AWS's documented ECS blue/green steps, on the virtual clock.

Start -> BeforeInstall -> Install (replacement task set on the second target group) -> AfterInstall ->
AllowTestTraffic (test listener -> replacement) -> AfterAllowTestTraffic -> BeforeAllowTraffic ->
AllowTraffic (production weights per the deployment config: all-at-once, canary, linear) ->
AfterAllowTraffic -> termination wait -> End (original task set removed). Hooks are invoked by function
name and must report within an hour; the group's alarms are polled while the deployment runs; a failure
(or a stop) with auto-rollback creates a rollback deployment (creator ``codeDeployRollback``) that routes
traffic back to the original task set.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from pushdeploy import aws
from pushdeploy.model.appspec import AppSpec, appspec_of_revision
from pushdeploy.model.images import parse_image_uri

from pushdeploy_local.emulator import ecs as ecs_scheduler
from pushdeploy_local.emulator.codedeploy.backend import ACTIVE, HOOK_EVENTS, LIFECYCLE_EVENTS, CodeDeployEmulator
from pushdeploy_local.world.apps import Behaviour, LocalApp
from pushdeploy_local.world.bus import Delivery


class Invoker(Protocol):
    def invoke_async(self, function_name: str, payload: Any, detail_type: str = "") -> Delivery: ...


class EngineWorld(Protocol):
    """What the engine needs of the world around it (the world satisfies it; the engine never imports it)."""

    emulator: CodeDeployEmulator

    @property
    def router(self) -> Invoker: ...

    apps: dict[str, LocalApp]  # target group arn -> the app behind it
    behaviours: dict[str, Behaviour]  # digest -> how the image behaves
    tags: dict[str, str]  # digest -> tag
    answers: dict[str, dict[str, tuple[int, str]]]  # target -> its smoke paths' expected answers

    def environment_of(self, application: str, deployment_group: str) -> Any: ...  # the built environment

    def now(self) -> datetime: ...

    def note(self, kind: str, text: str, deployment: str | None = None) -> None: ...


HOOK_TIMEOUT = timedelta(hours=1)
STEP = timedelta(seconds=5)
PHASES = ("Start", *LIFECYCLE_EVENTS, "TerminationWait", "End")
HOOKS = set(HOOK_EVENTS)


@dataclass
class Run:
    deployment_id: str
    phase: int = 0
    wake_at: datetime | None = None
    original_tg: str | None = None
    replacement_tg: str | None = None
    task_set: dict[str, Any] | None = None
    hook_opened_at: datetime | None = None
    traffic_steps: list[tuple[float, float]] = field(default_factory=list)
    step_until: datetime | None = None
    hook_verdicts: dict[str, str] = field(default_factory=dict)
    next_alarm_poll: datetime | None = None
    install_started: datetime | None = None
    original_task_set: dict[str, Any] | None = None


INSTALL_TIMEOUT = timedelta(minutes=60)  # users report Install waiting "until it times out ... (60 minutes)"
INSTALL_POLL = timedelta(seconds=15)
# CodeDeploy's wording for this is not documented; this is ours, and the code is the documented TIMEOUT.
INSTALL_TIMEOUT_MESSAGE = "The deployment timed out waiting for the replacement task set to reach a steady state"
ALARM_POLL_SECONDS = 60.0  # CodeDeploy checks the group's alarms about once a minute, on its own schedule
ALARM_POLL_JITTER_SECONDS = 15.0
ALARM_ACTIVE_MESSAGE = (
    "One or more alarms have been activated according to the Amazon CloudWatch metrics you selected, and the "
    "affected deployments have been stopped. Activated alarms: {alarms}"
)


class LifecycleEngine:
    def __init__(self, world: EngineWorld, seed: int = 42) -> None:
        self.world = world
        self.runs: dict[str, Run] = {}
        self.seed = seed
        self.rng = random.Random(seed)
        self.install_timeout = INSTALL_TIMEOUT

    def reset(self) -> None:
        self.runs.clear()
        self.rng = random.Random(self.seed)

    @property
    def emulator(self) -> Any:
        return self.world.emulator

    def now(self) -> datetime:
        return self.world.now()

    def active(self) -> bool:
        return any(d["status"] in ACTIVE for d in self.emulator.deployments.values())

    def wake(self, deployment_id: str) -> None:
        """Look at a deployment again now (a hook reported while its run was waiting)."""
        run = self.runs.get(deployment_id)
        if run is not None:
            run.wake_at = None

    def heard(self, verdict: Any) -> None:
        """A hook's answer from an invocation CodeDeploy did not make itself (a continuation; the timeline shows its
        delivery): its reason is the one shown when the hook's status changes."""
        if not isinstance(verdict, dict) or not verdict.get("deployment_id") or not verdict.get("stage"):
            return
        run = self.runs.get(str(verdict["deployment_id"]))
        if run is None:
            return
        run.hook_verdicts[str(verdict["stage"])] = str(verdict.get("reason") or "")

    # -- scheduling ------------------------------------------------------------------------------------------
    def step(self) -> datetime | None:
        """Advance every deployment that is due by one action; return the next wake-up (None: nothing to do)."""
        wakes = []
        for deployment_id, rollback in list(self.emulator.pending_stops.items()):  # a Pending stop takes effect
            self.emulator.complete_stop(deployment_id, rollback)
            self.world.note(
                "lifecycle", f"{deployment_id} stopped (StopDeployment had answered Pending)", deployment_id
            )
            wakes.append(self.now())
        for deployment in sorted(self.emulator.deployments.values(), key=lambda d: d["sequence"]):
            if deployment["status"] not in ACTIVE:
                continue
            run = self.runs.setdefault(deployment["deploymentId"], Run(deployment["deploymentId"]))
            if deployment["creator"] != "codeDeployRollback" and run.phase > 0:
                if run.next_alarm_poll is None:
                    run.next_alarm_poll = self.now() + self._poll_interval()
                if run.next_alarm_poll <= self.now():  # CodeDeploy's own alarm check, whatever pushdeploy does
                    run.next_alarm_poll = self.now() + self._poll_interval()
                    if self._alarm_stop(deployment):
                        wakes.append(self.now())  # its rollback deployment starts at once
                        continue
                wakes.append(run.next_alarm_poll)
            if run.wake_at is not None and run.wake_at > self.now():
                wakes.append(run.wake_at)
                continue
            run.wake_at = None
            if deployment["creator"] == "codeDeployRollback":
                self._rollback(run, deployment)
            else:
                self._advance(run, deployment)
            wakes.append(run.wake_at or self.now())
        return min(wakes) if wakes else None

    def _poll_interval(self) -> timedelta:
        jitter = self.rng.uniform(-ALARM_POLL_JITTER_SECONDS, ALARM_POLL_JITTER_SECONDS)
        return timedelta(seconds=ALARM_POLL_SECONDS + jitter)

    def _later(self, run: Run, delta: timedelta = STEP) -> None:
        run.wake_at = self.now() + delta

    def _event(self, deployment: dict[str, Any], name: str, status: str) -> None:
        for event in deployment["lifecycleEvents"]:
            if event["lifecycleEventName"] == name:
                event["status"] = status
                event.setdefault("startTime", self.now())
                event["endTime"] = self.now()

    # -- a deployment's steps ------------------------------------------------------------------------------------
    def _advance(self, run: Run, deployment: dict[str, Any]) -> None:
        phase = PHASES[run.phase]
        if phase == "Start":
            self.emulator.set_status(run.deployment_id, "InProgress")
            self.world.note(
                "lifecycle", f"{run.deployment_id} started ({deployment['deploymentConfigName']})", run.deployment_id
            )
            self._next(run)
        elif phase in HOOKS:
            self._hook(run, deployment, phase)
        elif phase == "Install":
            self._install(run, deployment)
        elif phase == "AllowTestTraffic":
            test = self._group(deployment)["test"]
            if test and run.replacement_tg:
                self._forward(test, [(run.replacement_tg, 100)])
                self._event(deployment, "AllowTestTraffic", "Succeeded")
                self.world.note("traffic", "test listener -> replacement", run.deployment_id)
            else:
                self._event(deployment, "AllowTestTraffic", "Skipped")
            self._next(run)
        elif phase == "AllowTraffic":
            self._allow_traffic(run, deployment)
        elif phase == "TerminationWait":
            if run.step_until is None:
                minutes = self._group(deployment)["termination_minutes"]
                run.step_until = self.now() + timedelta(minutes=minutes)
                self.world.note(
                    "lifecycle",
                    f"{run.deployment_id} waits {minutes} min before removing the original",
                    run.deployment_id,
                )
            if self.now() >= run.step_until:
                run.step_until = None
                self._next(run)
            else:
                self._later(run, min(timedelta(minutes=1), run.step_until - self.now()))
        elif phase == "End":
            self._end(run, deployment)

    def _next(self, run: Run) -> None:
        run.phase += 1
        self._later(run)

    def _group(self, deployment: dict[str, Any]) -> dict[str, Any]:
        group = self.emulator.groups[(deployment["applicationName"], deployment["deploymentGroupName"])]
        pair = group["loadBalancerInfo"]["targetGroupPairInfoList"][0]
        blue_green = group.get("blueGreenDeploymentConfiguration") or {}
        # a deployment's own alarm and rollback configurations replace the group's (CreateDeployment's
        # overrideAlarmConfiguration and autoRollbackConfiguration)
        alarms = deployment.get("overrideAlarmConfiguration") or group.get("alarmConfiguration") or {}
        rollback = deployment.get("autoRollbackConfiguration") or group.get("autoRollbackConfiguration") or {}
        return {
            "prod": pair["prodTrafficRoute"]["listenerArns"][0],
            "test": ((pair.get("testTrafficRoute") or {}).get("listenerArns") or [None])[0],
            "target_groups": [tg["name"] for tg in pair["targetGroups"]],
            "termination_minutes": (blue_green.get("terminateBlueInstancesOnDeploymentSuccess") or {}).get(
                "terminationWaitTimeInMinutes", 0
            ),
            "alarms": [a["name"] for a in alarms.get("alarms", [])] if alarms.get("enabled") else [],
            "rollback_events": rollback.get("events", []) if rollback.get("enabled") else [],
            "service": group["ecsServices"][0],
        }

    def _hook(self, run: Run, deployment: dict[str, Any], stage: str) -> None:
        group = self._group(deployment)
        if stage == "AfterAllowTestTraffic" and not group["test"]:
            self._event(deployment, stage, "Skipped")
            self._next(run)
            return
        function = self._hook_function(deployment, stage)
        if function is None:
            self._event(deployment, stage, "Skipped")
            self._next(run)
            return
        if run.hook_opened_at is None:
            execution_id = self.emulator.open_hook(run.deployment_id, stage)
            run.hook_opened_at = self.now()
            payload = {"DeploymentId": run.deployment_id, "LifecycleEventHookExecutionId": execution_id}
            delivery = self.world.router.invoke_async(function, payload, f"CodeDeploy lifecycle hook {stage}")
            verdict = delivery.response if isinstance(delivery.response, dict) else {}
            run.hook_verdicts[stage] = str(verdict.get("reason") or delivery.reason)
            if verdict.get("status") == "InProgress":
                self.world.note("hook", f"{stage}: carries on ({verdict.get('reason')})", run.deployment_id)
        status = self.emulator.event_status(run.deployment_id, stage)
        reason = run.hook_verdicts.get(stage, "")
        if status == "Succeeded":
            self.world.note("hook", f"{stage}: Succeeded ({reason})", run.deployment_id)
            run.hook_opened_at = None
            self._next(run)
        elif status == "Failed":
            self.world.note("hook", f"{stage}: Failed ({reason})", run.deployment_id)
            run.hook_opened_at = None
            self._fail(
                run,
                deployment,
                "HOOK_EXECUTION_FAILURE",
                # PutLifecycleEventHookExecutionStatus carries no reason: CodeDeploy never knows the hook's text
                f"The deployment failed because a specified lifecycle hook ({stage}) failed",
                can_roll_back=stage != "BeforeInstall",
            )
        elif self.now() - run.hook_opened_at >= HOOK_TIMEOUT:
            self._event(deployment, stage, "Failed")
            self.world.note("hook", f"{stage}: no status reported within one hour", run.deployment_id)
            self._fail(
                run,
                deployment,
                "TIMEOUT",
                f"The lifecycle hook {stage} did not report within 3600 s",
                can_roll_back=stage != "BeforeInstall",
            )
        else:
            run.wake_at = run.hook_opened_at + HOOK_TIMEOUT

    @staticmethod
    def _appspec(deployment: dict[str, Any]) -> AppSpec:
        appspec = appspec_of_revision(deployment["revision"])
        if appspec is None:
            raise ValueError(f"deployment {deployment['deploymentId']} has no readable AppSpec")
        return appspec

    def _hook_function(self, deployment: dict[str, Any], stage: str) -> str | None:
        return self._appspec(deployment).hook_function(stage)

    def _task_definition(self, deployment: dict[str, Any]) -> str:
        return str(self._appspec(deployment).task_definition_arn)

    def _install(self, run: Run, deployment: dict[str, Any]) -> None:
        """Create the replacement task set, then wait for its steady state (the running count) or the timeout."""
        if run.task_set is None:
            self._create_replacement(run, deployment)
            run.install_started = self.now()
        assert run.task_set is not None and run.install_started is not None
        service = self._group(deployment)["service"]
        task_sets = aws.client("ecs").describe_task_sets(
            cluster=service["clusterName"], service=service["serviceName"], taskSets=[run.task_set["taskSetArn"]]
        )["taskSets"]
        current = task_sets[0] if task_sets else {}
        if int(current.get("runningCount", 0)) >= max(1, int(current.get("computedDesiredCount", 0))):
            self._event(deployment, "Install", "Succeeded")
            self._next(run)
            return
        if self.now() - run.install_started >= self.install_timeout:
            self._event(deployment, "Install", "Failed")
            self.world.note(
                "lifecycle",
                f"Install: the replacement never reached a steady state in {self.install_timeout}",
                run.deployment_id,
            )
            self._fail(run, deployment, "TIMEOUT", INSTALL_TIMEOUT_MESSAGE)
            return
        self._later(run, INSTALL_POLL)

    def _create_replacement(self, run: Run, deployment: dict[str, Any]) -> None:
        group = self._group(deployment)
        service = group["service"]
        described = aws.client("ecs").describe_services(
            cluster=service["clusterName"], services=[service["serviceName"]]
        )["services"][0]
        primary = next(ts for ts in described.get("taskSets", []) if ts["status"] == "PRIMARY")
        run.original_tg = primary["loadBalancers"][0]["targetGroupArn"]
        run.original_task_set = dict(primary)
        by_name = self._target_groups(group["target_groups"])
        run.replacement_tg = next(arn for name, arn in by_name.items() if arn != run.original_tg)
        task_definition = self._task_definition(deployment)
        image = aws.client("ecs").describe_task_definition(taskDefinition=task_definition)["taskDefinition"][
            "containerDefinitions"
        ][0]["image"]
        ref = parse_image_uri(image)
        digest = ref.digest if ref else ""
        behaviour = self.world.behaviours.get(digest, "healthy")
        run.task_set = self.create_task_set(
            task_definition,
            run.replacement_tg,
            behaviour,
            environment=self.world.environment_of(deployment["applicationName"], deployment["deploymentGroupName"]),
            version=self.world.tags.get(digest, ""),
            digest=digest,
        )
        self.world.note(
            "lifecycle",
            f"Install: replacement task set {run.task_set['id']} ({behaviour}) on {run.replacement_tg.split('/')[-2]}",
            run.deployment_id,
        )

    def _target_groups(self, names: list[str]) -> dict[str, str]:
        groups = aws.client("elbv2").describe_target_groups(Names=names)["TargetGroups"]
        return {g["TargetGroupName"]: g["TargetGroupArn"] for g in groups}

    def create_task_set(
        self,
        task_definition: str,
        target_group: str,
        behaviour: Any,
        *,
        environment: Any,
        version: str = "",
        digest: str = "",
    ) -> dict[str, Any]:
        """ECS's side of Install: the task set, its tasks (or their crash), targets, and the app serving them."""
        spec, env = environment.spec, environment
        ecs = aws.client("ecs")
        task_set = ecs.create_task_set(
            cluster=spec.cluster,
            service=spec.service,
            taskDefinition=task_definition,
            launchType="FARGATE",
            networkConfiguration={
                "awsvpcConfiguration": {"subnets": env.subnets, "securityGroups": [env.security_group]}
            },
            loadBalancers=[
                {
                    "targetGroupArn": target_group,
                    "containerName": spec.container_name,
                    "containerPort": spec.container_port,
                }
            ],
            scale={"value": 100, "unit": "PERCENT"},
        )["taskSet"]
        desired = spec.desired_count
        if behaviour == "crashing":
            ecs_scheduler.set_counts(
                spec.region, spec.cluster, spec.service, task_set["id"], desired=desired, running=0
            )
            ecs_scheduler.stop_tasks(
                aws.client("ecs"),
                spec.cluster,
                task_set,
                "Essential container in task exited (exit code 137: "
                "OutOfMemoryError: Container killed due to memory usage)",
                desired,
            )
        else:
            ecs_scheduler.set_counts(
                spec.region, spec.cluster, spec.service, task_set["id"], desired=desired, running=desired
            )
            aws.client("elbv2").register_targets(
                TargetGroupArn=target_group,
                Targets=[
                    {"Id": f"10.20.{i}.{10 + len(self.world.apps)}", "Port": spec.container_port}
                    for i in range(desired)
                ],
            )
        old = self.world.apps.pop(target_group, None)
        if old:
            old.close()
        app = LocalApp(
            target_group.split("/")[-2], behaviour, version=version, answers=self.world.answers.get(spec.target)
        )
        app.digest = digest  # type: ignore[attr-defined]
        self.world.apps[target_group] = app
        return dict(task_set)

    def _forward(self, listener: str, weights: list[tuple[str, float]]) -> None:
        if len(weights) == 1:
            actions: list[dict[str, Any]] = [{"Type": "forward", "TargetGroupArn": weights[0][0]}]
        else:
            actions = [
                {
                    "Type": "forward",
                    "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": tg, "Weight": int(w)} for tg, w in weights]},
                }
            ]
        aws.client("elbv2").modify_listener(ListenerArn=listener, DefaultActions=actions)

    def _allow_traffic(self, run: Run, deployment: dict[str, Any]) -> None:
        group = self._group(deployment)
        if not run.traffic_steps and run.step_until is None:
            run.traffic_steps = self._traffic_plan(deployment["deploymentConfigName"])
        if run.step_until is not None and self.now() < run.step_until:
            self._later(run, min(timedelta(minutes=1), run.step_until - self.now()))
            return
        if not run.traffic_steps:
            run.step_until = None
            self._event(deployment, "AllowTraffic", "Succeeded")
            self._next(run)
            return
        percent, wait_minutes = run.traffic_steps.pop(0)
        assert run.original_tg and run.replacement_tg
        if percent >= 100:
            self._forward(group["prod"], [(run.replacement_tg, 100)])
            self._make_primary(group, run.task_set)  # as ECS shows it right after the shift, before the wait
        else:
            self._forward(group["prod"], [(run.original_tg, 100 - percent), (run.replacement_tg, percent)])
        self.world.note(
            "traffic", f"production: original {100 - percent:g}% / replacement {percent:g}%", run.deployment_id
        )
        run.step_until = self.now() + timedelta(minutes=wait_minutes)
        self._later(run, min(timedelta(minutes=1), timedelta(minutes=wait_minutes)) or STEP)

    def _make_primary(self, group: dict[str, Any], task_set: dict[str, Any] | None) -> None:
        if task_set is None:
            return
        service = group["service"]
        aws.client("ecs").update_service_primary_task_set(
            cluster=service["clusterName"], service=service["serviceName"], primaryTaskSet=task_set["taskSetArn"]
        )

    def _traffic_plan(self, config_name: str) -> list[tuple[float, float]]:
        routing = self.emulator.configs[config_name]["trafficRoutingConfig"]
        if routing["type"] == "TimeBasedCanary":
            canary = routing["timeBasedCanary"]
            return [(float(canary["canaryPercentage"]), float(canary["canaryInterval"])), (100.0, 0.0)]
        if routing["type"] == "TimeBasedLinear":
            linear = routing["timeBasedLinear"]
            step, interval = float(linear["linearPercentage"]), float(linear["linearInterval"])
            plan, percent = [], step
            while percent < 100:
                plan.append((percent, interval))
                percent += step
            return [*plan, (100.0, 0.0)]
        return [(100.0, 0.0)]

    def _alarm_stop(self, deployment: dict[str, Any]) -> bool:
        """CodeDeploy polls the group's alarms while the deployment runs; one in ALARM stops it."""
        group = self._group(deployment)
        if not group["alarms"]:  # none configured, polling disabled, or every alarm overridden away
            return False
        alarms = aws.client("cloudwatch").describe_alarms(AlarmNames=group["alarms"])["MetricAlarms"]
        firing = [a["AlarmName"] for a in alarms if a["StateValue"] == "ALARM"]
        if not firing:
            return False
        self.world.note(
            "lifecycle",
            f"CodeDeploy: alarm {firing[0]} in ALARM, stopping {deployment['deploymentId']}",
            deployment["deploymentId"],
        )
        self.emulator.finish(
            deployment["deploymentId"],
            "Stopped",
            error_code="ALARM_ACTIVE",
            message=ALARM_ACTIVE_MESSAGE.format(alarms=", ".join(firing)),
            rollback="DEPLOYMENT_STOP_ON_ALARM" in group["rollback_events"],
        )
        return True

    def _fail(
        self, run: Run, deployment: dict[str, Any], code: str, message: str, *, can_roll_back: bool = True
    ) -> None:
        """Fail the deployment; roll back if the group says so and it is still possible ("A rollback is not possible
        at this point" during BeforeInstall: nothing was installed)."""
        rollback = can_roll_back and "DEPLOYMENT_FAILURE" in self._group(deployment)["rollback_events"]
        self.emulator.finish(run.deployment_id, "Failed", error_code=code, message=message, rollback=rollback)
        self.world.note(
            "lifecycle",
            f"{run.deployment_id} failed: {code}" + (" (rolling back)" if rollback else ""),
            run.deployment_id,
        )

    def _end(self, run: Run, deployment: dict[str, Any]) -> None:
        group = self._group(deployment)
        service = group["service"]
        ecs = aws.client("ecs")
        described = ecs.describe_services(cluster=service["clusterName"], services=[service["serviceName"]])
        for task_set in described["services"][0].get("taskSets", []):
            if run.task_set and task_set["id"] != run.task_set["id"]:
                ecs.delete_task_set(
                    cluster=service["clusterName"], service=service["serviceName"], taskSet=task_set["id"], force=True
                )
        if run.task_set:
            ecs.update_service_primary_task_set(
                cluster=service["clusterName"],
                service=service["serviceName"],
                primaryTaskSet=run.task_set["taskSetArn"],
            )
        if run.original_tg and run.original_tg in self.world.apps:
            self.world.apps.pop(run.original_tg).close()
        self.emulator.finish(run.deployment_id, "Succeeded")
        self.world.note("lifecycle", f"{run.deployment_id} succeeded; original task set removed", run.deployment_id)

    # -- the rollback deployment ----------------------------------------------------------------------------------
    def _rollback(self, run: Run, deployment: dict[str, Any]) -> None:
        if run.phase == 0:
            self.emulator.set_status(run.deployment_id, "InProgress")
            run.phase = 1
            self._later(run)
            return
        triggering = deployment["rollbackInfo"]["rollbackTriggeringDeploymentId"]
        undone = self.runs.get(triggering) or Run(triggering)
        group = self._group(deployment)
        service = group["service"]
        if undone.original_tg:
            self._forward(group["prod"], [(undone.original_tg, 100)])
            if group["test"]:
                self._forward(group["test"], [(undone.original_tg, 100)])
        self._make_primary(group, undone.original_task_set)  # the original serves again
        if undone.task_set:
            aws.client("ecs").delete_task_set(
                cluster=service["clusterName"],
                service=service["serviceName"],
                taskSet=undone.task_set["id"],
                force=True,
            )
        if undone.replacement_tg and undone.replacement_tg in self.world.apps:
            self.world.apps.pop(undone.replacement_tg).close()
        self.world.note(
            "traffic", "rollback: production and test traffic back on the original task set", run.deployment_id
        )
        self.emulator.finish(run.deployment_id, "Succeeded")
        self.world.note("lifecycle", f"rollback {run.deployment_id} of {triggering} succeeded", run.deployment_id)


__all__ = ["LifecycleEngine", "LocalApp"]
