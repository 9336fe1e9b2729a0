"""pushdeploy.model.taskdefs: cloning a task definition for a new image, the service's state, pruning."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from pushdeploy.errors import TaskDefinitionError
from pushdeploy.model.taskdefs import (
    READ_ONLY_FIELDS,
    container_image,
    family_of,
    registration_from,
    revision_of,
    revisions_to_prune,
    service_state,
)

ARN = "arn:aws:ecs:us-west-2:123456789012:task-definition"
OLD_IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/web@sha256:" + "0" * 64
NEW_IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/web@sha256:" + "1" * 64
SIDECAR_IMAGE = "public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0"

# DescribeTaskDefinition's taskDefinition, as boto3 returns it
TASK_DEFINITION: dict[str, Any] = {
    "taskDefinitionArn": f"{ARN}/web:7",
    "containerDefinitions": [
        {
            "name": "otel",
            "image": SIDECAR_IMAGE,
            "essential": False,
            "portMappings": [],
        },
        {
            "name": "web",
            "image": OLD_IMAGE,
            "essential": True,
            "portMappings": [{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}],
            "environment": [{"name": "STAGE", "value": "prod"}],
        },
    ],
    "family": "web",
    "taskRoleArn": "arn:aws:iam::123456789012:role/web-task",
    "executionRoleArn": "arn:aws:iam::123456789012:role/web-exec",
    "networkMode": "awsvpc",
    "revision": 7,
    "volumes": [],
    "status": "ACTIVE",
    "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.task-iam-role"}],
    "placementConstraints": [],
    "compatibilities": ["EC2", "FARGATE"],
    "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
    "requiresCompatibilities": ["FARGATE"],
    "cpu": "256",
    "memory": "512",
    "registeredAt": datetime(2024, 5, 1, 9, 0, tzinfo=UTC),
    "registeredBy": "arn:aws:sts::123456789012:assumed-role/deployer/session",
}
TAGS = [{"key": "app", "value": "web"}, {"key": "pushdeploy:digest", "value": "sha256:" + "1" * 64}]


def test_registration_drops_the_read_only_fields_and_swaps_the_named_image() -> None:
    # Given the service's current task definition
    # When a registration for the new image of the "web" container is built
    registration = registration_from(TASK_DEFINITION, TAGS, "web", NEW_IMAGE)

    # Then nothing RegisterTaskDefinition refuses is passed
    assert not READ_ONLY_FIELDS & registration.keys()
    # and everything else is passed through
    assert registration["family"] == "web"
    assert registration["runtimePlatform"] == TASK_DEFINITION["runtimePlatform"]
    assert registration["requiresCompatibilities"] == ["FARGATE"]
    # and only the named container gets the new image
    images = {c["name"]: c["image"] for c in registration["containerDefinitions"]}
    assert images == {"otel": SIDECAR_IMAGE, "web": NEW_IMAGE}
    assert registration["containerDefinitions"][1]["environment"] == [{"name": "STAGE", "value": "prod"}]
    assert registration["tags"] == TAGS


def test_registration_without_tags_has_no_tags_key() -> None:
    assert "tags" not in registration_from(TASK_DEFINITION, None, "web", NEW_IMAGE)
    assert "tags" not in registration_from(TASK_DEFINITION, [], "web", NEW_IMAGE)


def test_registration_does_not_mutate_its_input() -> None:
    before = copy.deepcopy(TASK_DEFINITION)
    tags = copy.deepcopy(TAGS)

    registration = registration_from(TASK_DEFINITION, tags, "web", NEW_IMAGE)
    registration["containerDefinitions"][0]["image"] = "changed"
    registration["tags"].append({"key": "x", "value": "y"})

    assert before == TASK_DEFINITION
    assert tags == TAGS


def test_a_missing_container_is_an_error_naming_the_containers() -> None:
    with pytest.raises(TaskDefinitionError) as raised:
        registration_from(TASK_DEFINITION, TAGS, "api", NEW_IMAGE)

    message = str(raised.value)
    assert "container named 'api'" in message
    assert "'otel', 'web'" in message
    assert f"{ARN}/web:7" in message


def test_a_task_definition_without_containers_says_none() -> None:
    with pytest.raises(TaskDefinitionError, match=r"\(containers: none\)"):
        registration_from({"family": "empty"}, None, "web", NEW_IMAGE)


@pytest.mark.parametrize(
    ("arn", "family", "revision"),
    [
        (f"{ARN}/web:12", "web", 12),
        (f"{ARN}/web-api_v2:3", "web-api_v2", 3),
        ("web:5", "web", 5),
        ("web", "web", 0),
        (f"{ARN}/web:latest", "web", 0),
    ],
)
def test_family_and_revision_of(arn: str, family: str, revision: int) -> None:
    assert family_of(arn) == family
    assert revision_of(arn) == revision


def test_the_primary_task_set_serves_production() -> None:
    # Given a blue/green service mid-deployment: a PRIMARY and an ACTIVE (replacement) task set
    service = {
        "serviceName": "web",
        "taskDefinition": f"{ARN}/web:5",
        "desiredCount": 3,
        "taskSets": [
            {"id": "ecs-svc/2", "status": "ACTIVE", "taskDefinition": f"{ARN}/web:8"},
            {"id": "ecs-svc/1", "status": "PRIMARY", "taskDefinition": f"{ARN}/web:7"},
        ],
    }

    # When its state is read
    state = service_state(service, cluster="prod", name="web")

    # Then the PRIMARY set's task definition serves, and every set's is in use
    assert state.task_definition_arn == f"{ARN}/web:7"
    assert state.desired_count == 3
    assert state.task_definitions_in_use == {f"{ARN}/web:7", f"{ARN}/web:8"}
    assert (state.cluster, state.service) == ("prod", "web")


def test_without_task_sets_the_services_own_task_definition_serves() -> None:
    state = service_state({"taskDefinition": f"{ARN}/web:5"}, cluster="prod", name="web")

    assert state.task_definition_arn == f"{ARN}/web:5"
    assert state.task_definitions_in_use == {f"{ARN}/web:5"}
    assert state.desired_count == 0


def test_a_service_without_a_task_definition_is_an_error() -> None:
    with pytest.raises(TaskDefinitionError, match="web in cluster prod"):
        service_state({"taskSets": []}, cluster="prod", name="web")


def test_prune_keeps_the_newest_and_never_a_protected_one() -> None:
    # Given revisions 1..8 of "web" (unordered), and two revisions of another family
    arns = [f"{ARN}/web:{n}" for n in (3, 8, 1, 5, 2, 7, 4, 6)] + [f"{ARN}/api:1", f"{ARN}/api:2"]

    # When pruning keeps three and revision 2 is the known-good one
    prune = revisions_to_prune(arns, "web", keep=3, protected={f"{ARN}/web:2"})

    # Then the rest of "web" goes, newest first, without the protected one or any other family
    assert prune == [f"{ARN}/web:{n}" for n in (5, 4, 3, 1)]


def test_prune_with_fewer_revisions_than_kept_is_nothing() -> None:
    assert revisions_to_prune([f"{ARN}/web:1", f"{ARN}/web:2"], "web", keep=10, protected=set()) == []


def test_prune_orders_revisions_numerically() -> None:
    arns = [f"{ARN}/web:9", f"{ARN}/web:10", f"{ARN}/web:100"]

    assert revisions_to_prune(arns, "web", keep=2, protected=set()) == [f"{ARN}/web:9"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [("web", OLD_IMAGE), ("otel", SIDECAR_IMAGE), (None, SIDECAR_IMAGE)],
)
def test_container_image(name: str | None, expected: str) -> None:
    assert container_image(TASK_DEFINITION, name) == expected


def test_container_image_of_no_containers_is_none() -> None:
    assert container_image({"containerDefinitions": []}, "web") is None
    assert container_image({"containerDefinitions": [{"name": "web"}]}, "web") is None
