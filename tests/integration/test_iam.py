"""IAM as AWS enforces it, on every handler, with each function's role as template.yaml renders it.

A release's whole life runs under enforcement (push, the five hooks, success, an alarm that reverts, an alarm that
stops): every call is authorized by some statement. Then each statement that authorized something is taken away
in turn, and the same calls are asked again: at least one is denied, with AWS's message naming the function's role,
the action and the resource. So no statement the handlers need can be removed without a test failing.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from pushdeploy import aws, clock
from pushdeploy_local.emulator.ecr import publish_image
from pushdeploy_local.emulator.iam import policy
from pushdeploy_local.world.iam import AccessDenied, Enforcer, Principal

from tests.helpers import ACCOUNT, ledger
from tests.integration.test_hooks import install_replacement, invoke_hook
from tests.integration.test_lifecycle import alarm, deploy, succeed

REPO = "my-repository-name"
STAGES = ("BeforeInstall", "AfterInstall", "AfterAllowTestTraffic", "BeforeAllowTraffic", "AfterAllowTraffic")


def a_release_lifetime(world: Any, codedeploy: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Push, every hook, success, then an alarm inside the watch window (revert), then an alarm mid-deployment."""
    world.put_target(
        {
            **world.target_document(),
            "checks": {
                "after_allow_traffic": {"bake_seconds": 0, "latency_statistic": "Maximum"},
                "after_allow_test_traffic": {"enabled": False},
                "before_allow_traffic": {"timeout_seconds": 1},
                "after_install": {"timeout_seconds": 1},
            },
        }
    )
    first = publish_image(aws.client("ecr"), REPO, "v1.0.0", architectures=("arm64",), as_index=False)
    good = deploy(lambda_context, tag="v1.0.0", digest=first.digest)
    assert good["outcome"] == "deployed", good
    install_replacement(world, good["deployment_id"], codedeploy, running=2)
    for stage in STAGES:
        invoke_hook(stage, good["deployment_id"], codedeploy, monkeypatch)
    succeed(codedeploy, lambda_context, good["deployment_id"])
    release = ledger().release_by_deployment(good["deployment_id"])
    assert release is not None
    ledger().set_known_good(release)

    second = publish_image(aws.client("ecr"), REPO, "v1.1.0", architectures=("arm64",), as_index=False)
    bad = deploy(lambda_context, tag="v1.1.0", digest=second.digest)
    assert len({first.digest, second.digest}) == 2 and bad["outcome"] == "deployed", bad
    succeed(codedeploy, lambda_context, bad["deployment_id"])
    [reverted] = alarm(lambda_context)  # inside the watch window: revert to v1.0.0 (overrideAlarmConfiguration)
    assert reverted["outcome"] == "revert-started", reverted
    succeed(codedeploy, lambda_context, reverted["deployment_id"])

    third = publish_image(aws.client("ecr"), REPO, "v1.2.0", architectures=("arm64",), as_index=False)
    running = deploy(lambda_context, tag="v1.2.0", digest=third.digest)
    assert running["outcome"] == "deployed", running
    created = codedeploy.deployments[running["deployment_id"]]["createTime"]
    clock.use(lambda: created + timedelta(seconds=30))
    try:
        [stopped] = alarm(lambda_context)  # mid-deployment: stop with rollback
    finally:
        clock.reset()
    assert stopped["outcome"] == "rollback-started", stopped


def without(principal: Principal, statement: str) -> Principal:
    """The principal with one statement (by Sid) taken out of its policies."""
    documents = tuple(
        {**document, "Statement": [s for _, s in policy.statements([document]) if _ != statement]}
        for document in principal.documents
    )
    return dataclasses.replace(principal, documents=documents)


def test_a_release_lifetime_is_authorized_and_every_statement_it_used_is_needed(
    world: Any, codedeploy: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch, iam: Enforcer
) -> None:
    a_release_lifetime(world, codedeploy, lambda_context, monkeypatch)

    assert iam.denials == []  # nothing the handlers needed was missing
    assert {grant.function for grant in iam.granted} == {
        "pushdeploy-test-deployer",
        "pushdeploy-test-deployment-events",
        "pushdeploy-test-alarm-rollback",
        *(f"CodeDeployHook_pushdeploy-test-{stage}" for stage in STAGES),
    }
    used = sorted({(grant.function, grant.statement) for grant in iam.granted})
    assert len(used) >= 20, used
    for function, statement in used:  # take each away in turn: some call of that function is now denied
        weakened = without(iam.principals[function], statement)
        denied = [
            g.authorization
            for g in iam.granted
            if g.function == function
            and not g.authorization.on_deny
            and not policy.evaluate(
                weakened.documents, g.authorization.action, g.authorization.resource, g.authorization.context
            ).allowed
        ]
        assert denied, f"{function}: taking {statement} away denied nothing: it is not needed"
        message = str(iam._denied("svc", "Op", weakened, denied[0].action, denied[0].resource, "because"))
        assert function in message and denied[0].action in message and denied[0].resource in message, message


def test_a_denial_is_raised_as_aws_answers_it(world: Any, codedeploy: Any, lambda_context: Any, iam: Enforcer) -> None:
    deployer = "pushdeploy-test-deployer"
    iam.principals[deployer] = dataclasses.replace(iam.principals[deployer], documents=())  # a role with nothing
    with iam.acting_as(deployer), pytest.raises(AccessDenied) as denied:
        aws.client("ecs").describe_services(cluster="sample-cluster", services=["sample-app"])
    error = denied.value.response["Error"]
    assert error["Code"] == "AccessDeniedException"
    assert error["Message"] == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/pushdeploy-test-DeployerFunctionRole/{deployer} is not "
        "authorized to perform: ecs:DescribeServices on resource: "
        f"arn:aws:ecs:us-west-2:{ACCOUNT}:service/sample-cluster/sample-app because no identity-based policy "
        "allows the ecs:DescribeServices action"
    )


def test_an_image_in_another_regions_registry_is_read_there_and_only_if_the_stack_grants_it(
    world: Any, codedeploy: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch, iam: Enforcer
) -> None:
    import boto3
    from pushdeploy_local.world.iam import render_principals

    from tests.helpers import load_handler, push_event, stack_names

    elsewhere = boto3.client("ecr", region_name="us-east-1")
    elsewhere.create_repository(repositoryName=REPO)
    image = publish_image(elsewhere, REPO, "v7.0.0", architectures=("arm64", "amd64"), as_index=False, seed="east")

    def before_install(tag: str) -> dict[str, Any]:
        event = push_event(tag=tag, digest=image.digest, event_id=f"east-{tag}")
        event["region"] = "us-east-1"
        [started] = load_handler("deployer").lambda_handler(event, lambda_context)["results"]
        assert started["outcome"] in ("deployed", "duplicate"), started
        verdict, _ = invoke_hook("BeforeInstall", started["deployment_id"], codedeploy, monkeypatch)
        codedeploy.finish(started["deployment_id"], "Succeeded")
        return dict(verdict)

    denied = before_install("v7.0.0")
    assert denied["status"] == "Failed"
    assert "ecr:DescribeImages on resource: arn:aws:ecr:us-east-1:" in denied["reason"], denied["reason"]

    iam.principals = render_principals(stack_names(ImageRepositoryArns=f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/*"))
    ledger().drop_claim("sample-app-prod", image.digest)  # deploy the same image again, now that the stack grants it
    granted = before_install("v7.0.1")
    checks = {c["name"]: c for c in granted["checks"]}
    assert checks["image-exists"]["passed"], granted["reason"]


def test_a_slack_secret_under_a_customer_managed_key_needs_kms_decrypt_granted_through_a_parameter(
    world: Any, codedeploy: Any, iam: Enforcer
) -> None:
    from pushdeploy import runtime
    from pushdeploy.model.releases import Release
    from pushdeploy_local.world.iam import render_principals

    from tests.helpers import stack_names

    key = aws.client("kms").create_key(Description="slack webhook secrets")["KeyMetadata"]["Arn"]
    secret = aws.client("secretsmanager").create_secret(
        Name="pushdeploy/slack", SecretString="https://hooks.slack.com/services/T0/B0/x", KmsKeyId=key
    )["ARN"]
    release = Release.new(target="sample-app-prod", digest="sha256:" + "1" * 64, image_uri="-", trigger="push")

    def notify_as_the_deployment_events_function() -> list[str]:
        iam.denials.clear()
        with iam.acting_as("pushdeploy-test-deployment-events"):
            runtime.services().notifier.send(release, "SUCCEEDED", slack_secret_arn=secret)
        return [f"{d.action} {d.resource}" for d in iam.denials]  # a failed notification is swallowed, not hidden

    iam.principals = render_principals(stack_names(TargetSlackSecretArns=secret))
    assert notify_as_the_deployment_events_function() == [f"kms:Decrypt {key}"]

    iam.principals = render_principals(stack_names(TargetSlackSecretArns=secret, SlackSecretKmsKeyArns=key))
    assert notify_as_the_deployment_events_function() == []


@pytest.mark.parametrize("function", ["pushdeploy-test-deployer", "pushdeploy-test-alarm-rollback"])
def test_the_ecs_services_a_stack_may_deploy_are_the_ones_its_pattern_names(function: str) -> None:
    from pushdeploy_local.world.iam import render_principals

    from tests.helpers import REGION, stack_names

    def arn(kind: str, path: str) -> str:
        return f"arn:aws:ecs:{REGION}:{ACCOUNT}:{kind}/{path}"

    def _allows(principal: Principal, action: str, resource: str) -> bool:
        return policy.evaluate(principal.documents, action, resource, {}).allowed

    default = render_principals(stack_names())[function]
    narrowed = render_principals(stack_names(EcsServicePattern="prod-*/web-*"))[function]

    assert _allows(default, "ecs:UpdateService", arn("service", "dev/anything"))
    assert _allows(narrowed, "ecs:UpdateService", arn("service", "prod-eu/web-api"))
    assert _allows(narrowed, "ecs:StopServiceDeployment", arn("service-deployment", "prod-eu/web-api/Abc123"))
    assert not _allows(narrowed, "ecs:UpdateService", arn("service", "dev/web-api"))
    assert not _allows(narrowed, "ecs:UpdateService", arn("service", "prod-eu/billing"))
    assert not _allows(narrowed, "ecs:StopServiceDeployment", arn("service-deployment", "dev/web-api/Abc123"))
