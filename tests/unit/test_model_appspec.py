"""pushdeploy.model.appspec: the inline AppSpec built for a deployment, and the one parser of AppSpecs."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from pushdeploy.model.appspec import (
    HOOK_STAGES,
    AppSpec,
    AppSpecError,
    appspec_of_revision,
    build_appspec,
    parse_appspec,
)

TASK_DEFINITION = "arn:aws:ecs:us-west-2:123456789012:task-definition/web:42"
PREFIX = "CodeDeployHook_pushdeploy-prod"

YAML_APPSPEC = """
version: 0.0
Resources:
  - TargetService:
      Type: AWS::ECS::Service
      Properties:
        TaskDefinition: "arn:aws:ecs:us-west-2:123456789012:task-definition/web:42"
        LoadBalancerInfo:
          ContainerName: "web"
          ContainerPort: 8080
Hooks:
  - BeforeInstall: "CodeDeployHook_pushdeploy-prod-BeforeInstall"
  - AfterAllowTraffic: "CodeDeployHook_pushdeploy-prod-AfterAllowTraffic"
"""


@pytest.fixture
def built() -> AppSpec:
    return build_appspec(TASK_DEFINITION, "web", 8080, PREFIX)


def test_build_appspec_content_is_an_ecs_appspec(built: AppSpec) -> None:
    document = json.loads(built.content)

    assert document["version"] == 0.0
    [resource] = document["Resources"]
    assert resource["TargetService"]["Type"] == "AWS::ECS::Service"
    assert resource["TargetService"]["Properties"] == {
        "TaskDefinition": TASK_DEFINITION,
        "LoadBalancerInfo": {"ContainerName": "web", "ContainerPort": 8080},
    }
    assert document["Hooks"] == [{stage: f"{PREFIX}-{stage}"} for stage in HOOK_STAGES]
    assert " " not in built.content  # compact


def test_build_appspec_sha256_is_of_the_content(built: AppSpec) -> None:
    assert built.sha256 == hashlib.sha256(built.content.encode()).hexdigest()
    assert built.revision() == {
        "revisionType": "AppSpecContent",
        "appSpecContent": {"content": built.content, "sha256": built.sha256},
    }


def test_a_different_task_definition_has_a_different_sha256(built: AppSpec) -> None:
    other = build_appspec(TASK_DEFINITION.replace(":42", ":43"), "web", 8080, PREFIX)

    assert other.sha256 != built.sha256


def test_without_a_container_the_content_has_no_load_balancer_info() -> None:
    document = json.loads(AppSpec(TASK_DEFINITION).content)

    assert document["Resources"][0]["TargetService"]["Properties"] == {"TaskDefinition": TASK_DEFINITION}
    assert document["Hooks"] == []


def test_build_then_parse_round_trips(built: AppSpec) -> None:
    assert parse_appspec(built.content) == built


@pytest.mark.parametrize("stage", HOOK_STAGES)
def test_hook_function_names_each_stages_function(built: AppSpec, stage: str) -> None:
    assert built.hook_function(stage) == f"{PREFIX}-{stage}"


def test_hook_function_of_an_unknown_stage_is_none(built: AppSpec) -> None:
    assert built.hook_function("ApplicationStop") is None
    assert built.hook_function("beforeinstall") is None


def test_parse_appspec_reads_yaml() -> None:
    spec = parse_appspec(YAML_APPSPEC)

    assert spec.task_definition_arn == TASK_DEFINITION
    assert (spec.container_name, spec.container_port) == ("web", 8080)
    assert spec.hook_function("BeforeInstall") == f"{PREFIX}-BeforeInstall"
    assert spec.hook_function("AfterInstall") is None


def test_parse_appspec_keys_are_case_insensitive() -> None:
    content = json.dumps(
        {
            "VERSION": 0.0,
            "resources": [
                {
                    "targetservice": {
                        "properties": {
                            "taskdefinition": TASK_DEFINITION,
                            "loadBalancerInfo": {"containerName": "api", "CONTAINERPORT": "9000"},
                        }
                    }
                }
            ],
            "hooks": [{"AfterInstall": "fn"}],
        }
    )

    spec = parse_appspec(content)

    assert spec == AppSpec(TASK_DEFINITION, "api", 9000, (("AfterInstall", "fn"),))


def test_parse_appspec_takes_the_first_resource_with_a_task_definition() -> None:
    content = json.dumps(
        {
            "Resources": [
                {"TargetService": {"Properties": {}}},
                {
                    "TargetService": {
                        "Properties": {"TaskDefinition": "first", "LoadBalancerInfo": {"ContainerPort": "x"}}
                    }
                },
                {"TargetService": {"Properties": {"TaskDefinition": "second"}}},
            ]
        }
    )

    spec = parse_appspec(content)

    assert spec.task_definition_arn == "first"
    assert spec.container_port is None  # "x" is not a port


@pytest.mark.parametrize("content", ["[1, 2]", "just words", "42", "- a\n- b\n", "null"])
def test_parse_appspec_refuses_documents_that_are_not_objects(content: str) -> None:
    with pytest.raises(AppSpecError, match="not an object"):
        parse_appspec(content)


def test_parse_appspec_refuses_text_that_is_neither_json_nor_yaml() -> None:
    with pytest.raises(AppSpecError, match="neither JSON nor YAML"):
        parse_appspec("{unbalanced: [")


@pytest.mark.parametrize(
    "revision",
    [
        {"revisionType": "AppSpecContent", "appSpecContent": {"content": YAML_APPSPEC, "sha256": "x"}},
        {"revisionType": "String", "string": {"content": YAML_APPSPEC, "sha256": "x"}},
    ],
)
def test_appspec_of_revision_reads_both_inline_revision_types(revision: dict[str, Any]) -> None:
    spec = appspec_of_revision(revision)

    assert spec is not None
    assert spec.task_definition_arn == TASK_DEFINITION


@pytest.mark.parametrize(
    "revision",
    [
        None,
        {},
        {"revisionType": "S3", "s3Location": {"bucket": "b", "key": "k"}},
        {"revisionType": "AppSpecContent", "appSpecContent": {"content": ""}},
        {"revisionType": "AppSpecContent", "appSpecContent": {"content": "{unbalanced: ["}},
        {"revisionType": "String", "string": {"content": "[1, 2]"}},
    ],
)
def test_appspec_of_revision_is_none_when_absent_or_unreadable(revision: dict[str, Any] | None) -> None:
    assert appspec_of_revision(revision) is None


@pytest.mark.parametrize("content", ["Resources: 5", "Hooks: 5"])
def test_appspec_of_revision_is_none_for_scalar_sections(content: str) -> None:
    assert appspec_of_revision({"revisionType": "String", "string": {"content": content}}) is None
