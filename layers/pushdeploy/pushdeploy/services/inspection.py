"""Looking, not touching: what serves production, what is deploying, what waits, a target's history, and a
deployment's true final status (a stop or a rollback is never a success)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from pushdeploy import clock
from pushdeploy.aws import cloudwatch, codedeploy, deployments, ecr, ecs, elbv2
from pushdeploy.errors import DeploymentGroupNotFound, TaskDefinitionError
from pushdeploy.ledger import Ledger
from pushdeploy.model.deployments import ECS_DEFAULT_CONFIGS, Deployment, DeploymentGroup
from pushdeploy.model.ecs_deployments import NATIVE_TRAFFIC_SHIFTING, ServiceSetup
from pushdeploy.model.images import parse_image_uri
from pushdeploy.model.releases import Candidate, KnownGood, Pending, Quarantine, Release
from pushdeploy.model.targets import Target
from pushdeploy.services.ecs_hooks import CHECKS_OF_STAGE


@dataclass(frozen=True)
class Live:
    """What serves a target's production traffic now, and the ledger's release for it (if any)."""

    task_definition_arn: str
    image: str | None
    digest: str | None
    release: Release | None
    group: DeploymentGroup | None  # None: a service under ECS's own controller

    @property
    def tag(self) -> str | None:
        return self.release.tag if self.release else None


@dataclass(frozen=True)
class ActiveDeployment:
    deployment: Deployment
    release: Release | None
    traffic: str | None
    step: str | None = None  # the lifecycle event it is in (GetDeploymentTarget)

    @property
    def hooks(self) -> dict[str, str | None]:
        verdicts = self.release.hooks if self.release else {}
        return {stage: v.get("status") for stage, v in verdicts.items() if isinstance(v, dict)}


@dataclass(frozen=True)
class TargetStatus:
    target: Target
    live: Live
    active: ActiveDeployment | None
    pending: Pending | None
    known_good: KnownGood | None
    quarantined: list[Quarantine] = field(default_factory=list)
    candidate: Candidate | None = None  # succeeded, still inside its watch window (an alarm now reverts it)
    quarantined_tags: dict[str, str] = field(default_factory=dict)  # digest -> the tag its release carried


@dataclass
class Inspection:
    ledger: Ledger

    @staticmethod
    def deployment_config_exists(name: str) -> bool:
        """A CodeDeploy default for ECS, or a custom configuration the account has."""
        return name in ECS_DEFAULT_CONFIGS or codedeploy.deployment_config_exists(name)

    def live(self, target: Target) -> Live:
        group = codedeploy.describe_group(*target.group) if target.through_codedeploy else None
        service = ecs.describe_service(*deployments.service_of(target))
        image = ecs.image_of(service.task_definition_arn, target.container_name)
        ref = parse_image_uri(image or "")
        release = next(
            (
                r
                for r in self.ledger.releases(target.name, limit=50)
                if r.task_definition_arn == service.task_definition_arn and r.status in ("SUCCEEDED", "REVERTED")
            ),
            None,
        )
        return Live(service.task_definition_arn, image, ref.digest if ref else None, release, group)

    def status(self, target: Target) -> TargetStatus:
        live = self.live(target)
        active_ids = deployments.active_deployment_ids(target)
        active = self.progress(deployments.get_deployment(active_ids[0])) if active_ids else None
        quarantined = self.ledger.quarantined(target.name)
        tags = {}
        for q in quarantined:
            release = self.ledger.get_release(target.name, q.release_id) if q.release_id else None
            if release is not None and release.tag:
                tags[q.digest] = release.tag
        return TargetStatus(
            target,
            live,
            active,
            self.ledger.get_pending(target.name),
            self.ledger.known_good(target.name),
            quarantined,
            self.ledger.candidate(target.name),
            tags,
        )

    def online_problems(self, target: Target) -> list[tuple[str, str]]:
        """(field, problem) for what the target names that the account does not have: its deployment group (and
        that it is an ECS blue/green group), its deployment configs, its repository, its alarms."""
        problems: list[tuple[str, str]] = []
        if not target.through_codedeploy:
            return self._online_problems_on_ecs(target)
        try:
            group = codedeploy.describe_group(*target.group, refresh=True)
        except DeploymentGroupNotFound as exc:
            problems.append(("deployment_group", str(exc)))
            group = None
        for field_name, config in (
            ("deployment_config", target.deployment_config),
            ("rollback.revert_deployment_config", target.rollback.revert_deployment_config),
        ):
            if config and not self.deployment_config_exists(config):
                problems.append((field_name, f"no deployment config {config!r} in this account"))
        if not ecr.repository_exists(target.repository):
            problems.append(("repository", f"no ECR repository {target.repository!r} in this account and region"))
        wanted = list(target.rollback.alarms or (group.alarms if group else []))
        missing = sorted(set(wanted) - cloudwatch.existing_alarms(wanted))
        if missing:
            problems.append(("rollback.alarms", f"no such alarm(s): {', '.join(missing)}"))
        return problems

    @staticmethod
    def _online_problems_on_ecs(target: Target) -> list[tuple[str, str]]:
        """A service under ECS's own controller: it exists, ECS drives it (not CodeDeploy), its hooks are wired for a
        blue/green strategy; the repository and alarms exist."""
        problems: list[tuple[str, str]] = []
        cluster, name = str(target.cluster), str(target.service)
        try:
            setup = ecs.service_setup(cluster, name, refresh=True)
        except TaskDefinitionError as exc:
            problems.append(("service", str(exc)))
            setup = None
        if setup is not None and setup.kind in ("CODE_DEPLOY", "EXTERNAL"):
            problems.append(
                (
                    "service",
                    f"{name} uses the {setup.kind} deployment controller, not ECS's own: name its CodeDeploy "
                    "application and deployment_group instead"
                    if setup.kind == "CODE_DEPLOY"
                    else f"{name} uses the EXTERNAL deployment controller, which pushdeploy does not drive",
                )
            )
        elif setup is not None and setup.kind in NATIVE_TRAFFIC_SHIFTING and not setup.hook_functions:
            problems.append(
                (
                    "service",
                    f"{name} ({setup.kind}) has no lifecycle hooks: wire the stack's EcsHookFunctionArn "
                    "(README, services under ECS's own controller) or no check runs",
                )
            )
        if setup is not None:
            problems += hook_timeout_problems(target, setup)
        if not ecr.repository_exists(target.repository):
            problems.append(("repository", f"no ECR repository {target.repository!r} in this account and region"))
        wanted = list(target.rollback.alarms or (setup.alarms if setup else ()))
        missing = sorted(set(wanted) - cloudwatch.existing_alarms(wanted))
        if missing:
            problems.append(("rollback.alarms", f"no such alarm(s): {', '.join(missing)}"))
        return problems

    def progress(self, deployment: Deployment) -> ActiveDeployment:
        """A deployment in flight as a person follows it: its status, the hooks that reported, the traffic."""
        listeners: tuple[str, ...] = ()
        if deployment.application:  # CodeDeploy: the production listener's weights
            listeners = codedeploy.describe_group(
                deployment.application, deployment.deployment_group
            ).prod_listener_arns
        elif ":service-deployment/" in deployment.deployment_id:  # ECS's own: its production listener rule's
            cluster, service = deployment.deployment_id.split(":service-deployment/", 1)[1].split("/")[:2]
            setup = ecs.service_setup(cluster, service)
            listeners = tuple(lb.production_listener_rule for lb in setup.load_balancing if lb.production_listener_rule)
        step = None if deployment.is_terminal else deployments.current_step(deployment)
        return ActiveDeployment(
            deployment,
            self.ledger.release_by_deployment(deployment.deployment_id),
            elbv2.describe_weights(listeners[0]) if listeners else None,
            step,
        )

    def history(self, target: Target, limit: int) -> list[Release]:
        """Newest first."""
        return self.ledger.releases(target.name, limit=limit)

    @staticmethod
    def wait_for(
        deployment_id: str,
        *,
        timeout: float,
        progress: Callable[[Deployment], None] | None = None,
        poll_seconds: float = 5.0,
    ) -> tuple[Deployment, bool]:
        """Poll until the deployment ends or ``timeout`` seconds pass. Returns (its last state, whether it ended)."""
        deadline = clock.now() + timedelta(seconds=timeout)  # the rehearsal's virtual clock when it runs there
        while True:
            deployment = deployments.get_deployment(deployment_id)
            if progress:
                progress(deployment)
            if deployment.is_terminal:
                return deployment, True
            if clock.now() >= deadline:
                return deployment, False
            clock.sleep(poll_seconds)


ECS_HOOK_SUFFIX = "-ecs-hook"  # the template names pushdeploy's ECS hook function <stack>-ecs-hook
CALL_BACK_MARGIN_SECONDS = 120  # re-invocations (every 30 s) and the checks' own conclusion, beyond their duration


def hook_timeout_problems(target: Target, setup: ServiceSetup) -> list[tuple[str, str]]:
    """pushdeploy's ECS hook against the time ECS gives it: a check longer than the hook's timeout never concludes
    (with ROLLBACK every deployment rolls back; with CONTINUE it goes on unchecked), and a hook whose timeout action
    is CONTINUE lets a deployment past a check that never answered (a throttled or failing function)."""
    checks = target.checks
    longest_at = {
        "POST_SCALE_UP": ("after_install.timeout_seconds", checks.after_install.timeout_seconds),
        "PRE_PRODUCTION_TRAFFIC_SHIFT": (
            "before_allow_traffic.timeout_seconds",
            checks.before_allow_traffic.timeout_seconds,
        ),
        "POST_PRODUCTION_TRAFFIC_SHIFT": ("after_allow_traffic.bake_seconds", checks.after_allow_traffic.bake_seconds),
    }
    problems: list[tuple[str, str]] = []
    for hook in setup.hooks:
        if hook.target_type != "AWS_LAMBDA" or not _function_name(hook.target_arn).endswith(ECS_HOOK_SUFFIX):
            continue
        checked = [stage for stage in hook.stages if stage in CHECKS_OF_STAGE]
        if checked and hook.timeout_action == "CONTINUE":
            problems.append(
                (
                    "service",
                    f"{setup.service}'s hook {hook.target_arn} times out with CONTINUE: a check that never answers "
                    f"lets the deployment on unchecked at {', '.join(checked)} (set timeoutConfiguration.action "
                    "ROLLBACK)",
                )
            )
        for stage in checked:
            if stage not in longest_at:
                continue
            field_name, seconds = longest_at[stage]
            if seconds + CALL_BACK_MARGIN_SECONDS > hook.timeout_minutes * 60:
                problems.append(
                    (
                        f"checks.{field_name}",
                        f"{seconds} s at {stage}, but ECS times {setup.service}'s hook out after "
                        f"{hook.timeout_minutes} minute(s) ({hook.timeout_action}): raise timeoutInMinutes to at "
                        f"least {-(-(seconds + CALL_BACK_MARGIN_SECONDS) // 60)} or shorten the check",
                    )
                )
    return problems


def _function_name(arn: str) -> str:
    """``arn:aws:lambda:<region>:<account>:function:<name>[:<alias or version>]`` -> ``<name>``."""
    parts = arn.split(":")
    return parts[6] if len(parts) > 6 and parts[5] == "function" else parts[-1]
