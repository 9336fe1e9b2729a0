"""``pushdeploy rehearse --from-stack STACK``: rehearse production's own configuration on this machine.

Read-only calls, with the operator's credentials, before the local world starts: the stack's outputs (where its
targets live), every valid target document, each target's deployment group (deployment config, alarms, listeners,
termination wait, service), custom deployment configs, the group's alarms (their rules), the service's desired
count and the tag of the image it serves. Nothing is written. The world built from them is the same kind
``--targets``/``--world`` builds; a target the account cannot describe is reported, not guessed.
"""

from __future__ import annotations

from typing import Any

from pushdeploy import aws, runtime
from pushdeploy.model.images import parse_image_uri
from pushdeploy.services.connection import settings_for_stack

from pushdeploy_local.emulator.codedeploy.backend import PREDEFINED_CONFIGS
from pushdeploy_local.rehearsal.own_targets import SetupError, target_spec
from pushdeploy_local.world.environment import WorldSetup

ALARM_RULE_KEYS = ("Threshold", "EvaluationPeriods", "DatapointsToAlarm", "Period", "Statistic")


class StackUnreadable(SetupError):
    """The account could not be read (no credentials or region, no such stack, access denied, ...)."""

    def __init__(self, problems: list[str], kind: str = "failed") -> None:
        super().__init__(problems)
        self.kind = kind


def read_stack(stack: str, *, profile: str | None = None, region: str | None = None) -> WorldSetup:
    """:func:`from_stack`, with AWS's errors as one line, and the process's clients left as they were."""
    from botocore.exceptions import BotoCoreError, ClientError
    from pushdeploy.errors import PushdeployError, StackNotFound
    from pushdeploy.services.connection import explain_failure

    try:
        return from_stack(stack, profile=profile, region=region)
    except StackNotFound as exc:
        raise StackUnreadable([f"{exc} (pass --region or --profile)"], "not-found") from exc
    except PushdeployError as exc:
        raise StackUnreadable([str(exc)], "bad-input") from exc
    except (BotoCoreError, ClientError) as exc:
        message, kind = explain_failure(exc, profile=profile, region=region)
        raise StackUnreadable([message], kind) from exc
    finally:
        aws.configure()  # no profile, the default region: what the local world expects
        runtime.reset()


def from_stack(stack: str, *, profile: str | None = None, region: str | None = None) -> WorldSetup:
    """The world's setup as the deployed stack ``stack`` has it (read-only)."""
    services = runtime.configure(settings_for_stack(stack, profile=profile, region=region))
    catalog = services.catalog()
    problems = [f"stack {stack}: target {error}" for error in catalog.errors]
    codedeploy, cloudwatch, ecs = aws.client("codedeploy"), aws.client("cloudwatch"), aws.client("ecs")
    configs: dict[str, dict[str, Any]] = {}
    specs = []
    for index, target in enumerate(catalog.targets):
        try:
            group = codedeploy.get_deployment_group(
                applicationName=target.application, deploymentGroupName=target.deployment_group
            )["deploymentGroupInfo"]
        except Exception as exc:  # noqa: BLE001 - reported per target: one broken target never hides the others
            problems.append(f"target {target.name!r}: deployment group {target.deployment_group}: {exc}")
            continue
        config = target.deployment_config or group.get("deploymentConfigName") or "CodeDeployDefault.ECSAllAtOnce"
        for name in {config, target.rollback.revert_deployment_config} - set(PREDEFINED_CONFIGS) - set(configs):
            info = codedeploy.get_deployment_config(deploymentConfigName=name)["deploymentConfigInfo"]
            configs[name] = dict(info.get("trafficRoutingConfig") or {"type": "AllAtOnce"})
        alarms = tuple(
            a["name"] for a in (group.get("alarmConfiguration") or {}).get("alarms", []) if a.get("name")
        ) or tuple(target.rollback.alarms or ())
        described = cloudwatch.describe_alarms(AlarmNames=list(alarms))["MetricAlarms"] if alarms else []
        rules = {a["AlarmName"]: {k: a[k] for k in ALARM_RULE_KEYS if k in a} for a in described}
        service_ref = (group.get("ecsServices") or [{}])[0]
        cluster, service = service_ref.get("clusterName", ""), service_ref.get("serviceName", target.name)
        desired, live = _service_state(ecs, cluster, service, target.repository)
        blue_green = group.get("blueGreenDeploymentConfiguration") or {}
        wait = (blue_green.get("terminateBlueInstancesOnDeploymentSuccess") or {}).get("terminationWaitTimeInMinutes")
        pair = ((group.get("loadBalancerInfo") or {}).get("targetGroupPairInfoList") or [{}])[0]
        specs.append(
            target_spec(
                target,
                target.model_dump(mode="json", exclude_unset=True),
                index,
                cluster=cluster or f"{target.name}-cluster",
                service=service,
                deployment_config=config,
                alarms=alarms or (f"{target.name}-5xx",),
                alarm_rules=rules,
                termination_wait_minutes=int(wait or 0),
                desired_count=max(1, desired),
                with_test_listener=bool((pair.get("testTrafficRoute") or {}).get("listenerArns")),
                initial_tag=live,
            )
        )
    if problems or not specs:
        raise SetupError(problems or [f"stack {stack}: no valid targets under {services.settings.targets_path}"])
    return WorldSetup(specs, configs)


def _service_state(ecs: Any, cluster: str, service: str, repository: str) -> tuple[int, str]:
    """(desired count, tag of the image the primary task set serves) of a service; (2, v1.0.0) when unknown."""
    found = ecs.describe_services(cluster=cluster, services=[service]).get("services") or []
    if not found:
        return 2, "v1.0.0"
    primary = next((t for t in found[0].get("taskSets", []) if t.get("status") == "PRIMARY"), None)
    task_definition = primary["taskDefinition"] if primary else found[0].get("taskDefinition")
    desired = int(found[0].get("desiredCount") or 2)
    if not task_definition:
        return desired, "v1.0.0"
    image = ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]["containerDefinitions"][0][
        "image"
    ]
    pinned = parse_image_uri(image)
    if pinned is None:  # not pinned by digest: the tag it names, if any
        return desired, image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else "v1.0.0"
    described = aws.client("ecr").describe_images(repositoryName=repository, imageIds=[{"imageDigest": pinned.digest}])
    tags = (described.get("imageDetails") or [{}])[0].get("imageTags") or []
    return desired, str(tags[0]) if tags else "v1.0.0"
