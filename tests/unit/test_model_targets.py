"""pushdeploy.model.targets: target documents validated one by one, and which pushes deploy where."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from pushdeploy.model.events import parse_push_event
from pushdeploy.model.images import ImagePush
from pushdeploy.model.targets import (
    Target,
    TargetCatalog,
    TargetConfigError,
    build_catalog,
    parse_target,
    parse_targets_document,
)
from pydantic import ValidationError

from tests.helpers import load_event

PREFIX = "/pushdeploy/prod/targets/"
WEB: dict[str, Any] = {
    "name": "web",
    "repository": "my-repository-name",  # the repository of AWS's push samples
    "tag_pattern": r"v\d+\.\d+\.\d+",
    "application": "web-app",
    "deployment_group": "web-dg",
    "container_name": "web",
    "container_port": 8080,
}

YAML_TARGET = """
repository: my-repository-name
tag_pattern: "latest"
application: api-app
deployment_group: api-dg
container_name: api
container_port: 9000
on_busy: supersede
checks:
  after_allow_test_traffic:
    requests:
      - path: /healthz
        expect_status: [200, 204]
"""


def doc(**changes: Any) -> dict[str, Any]:
    document = copy.deepcopy(WEB)
    document.update(changes)
    return document


def target(**changes: Any) -> Target:
    return Target.model_validate(doc(**changes))


def sample_push(sample: str) -> ImagePush:
    push = parse_push_event(load_event(sample))
    assert isinstance(push, ImagePush)
    return push


# -- Target validation ---------------------------------------------------------------------------------------------
def test_a_minimal_target_gets_the_documented_defaults() -> None:
    web = target()

    assert web.on_busy == "queue-latest"
    assert web.keep_task_definitions == 10
    assert web.checks.before_install.max_findings == {"CRITICAL": 0}
    assert [r.path for r in web.checks.after_allow_test_traffic.requests] == ["/"]
    assert web.rollback.alarms is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"colour": "blue"}, "colour"),
        ({"tag_pattern": "v(1"}, "tag_pattern"),
        ({"container_port": 0}, "container_port"),
        ({"container_port": 65536}, "container_port"),
        ({"name": "-web"}, "name"),
        ({"name": "w" * 65}, "name"),
        ({"on_busy": "wait"}, "on_busy"),
        ({"keep_task_definitions": 1}, "keep_task_definitions"),
    ],
)
def test_invalid_targets_are_refused_naming_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        target(**changes)

    assert [error["loc"] for error in raised.value.errors()] == [(field,)]


def test_a_smoke_path_must_start_with_a_slash() -> None:
    checks = {"after_allow_test_traffic": {"requests": [{"path": "healthz"}]}}

    with pytest.raises(ValidationError, match="must start with '/'"):
        target(checks=checks)


def test_unknown_keys_are_refused_in_nested_sections_too() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        target(checks={"after_install": {"timeout": 60}})


NATIVE = {k: v for k, v in WEB.items() if k not in ("application", "deployment_group")} | {
    "cluster": "web-cluster",
    "service": "web",
}


def test_a_service_under_ecs_own_controller_is_named_by_cluster_and_service() -> None:
    web = Target.model_validate(NATIVE)

    assert not web.through_codedeploy and (web.cluster, web.service) == ("web-cluster", "web")
    with pytest.raises(ValueError, match="deploys through ECS"):
        _ = web.group


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"cluster": "web-cluster", "service": "web"}, "not both"),
        ({"deployment_group": None}, "application and deployment_group go together"),
        ({"application": None, "deployment_group": None}, "which service?"),
        (
            {"application": None, "deployment_group": None, "cluster": "c", "service": "s", "deployment_config": "X"},
            "shifts traffic by its own deploymentConfiguration",
        ),
    ],
)
def test_a_target_names_exactly_one_way_to_its_service(changes: dict[str, Any], message: str) -> None:
    document = {k: v for k, v in {**WEB, **changes}.items() if v is not None}

    with pytest.raises(ValidationError, match=message):
        Target.model_validate(document)


def test_two_targets_on_one_ecs_service_deploy_neither() -> None:
    again = {**NATIVE, "name": "web-again", "cluster": "arn:aws:ecs:us-west-2:123456789012:cluster/web-cluster"}

    catalog = build_catalog({PREFIX + "web": NATIVE, PREFIX + "web-again": again}, prefix=PREFIX)

    assert catalog.targets == ()
    assert {(e.field, e.reason.split(" '")[0]) for e in catalog.errors} == {("service", "ECS service shared with")}


def test_a_service_event_finds_its_target_by_the_service_arn() -> None:
    catalog = build_catalog({PREFIX + "web": NATIVE, PREFIX + "api": {**WEB, "name": "api"}}, prefix=PREFIX)

    found = catalog.for_service("arn:aws:ecs:us-west-2:123456789012:service/web-cluster/web")

    assert found is not None and found.name == "web"
    assert catalog.for_service("arn:aws:ecs:us-west-2:123456789012:service/other-cluster/web") is None


def test_an_ecs_controlled_target_may_bake_longer_than_codedeploys_hour() -> None:
    # ECS re-invokes a hook that answers IN_PROGRESS until the hook's own timeout (up to 24 hours)
    web = Target.model_validate({**NATIVE, "checks": {"after_allow_traffic": {"bake_seconds": 4 * 3600}}})

    assert web.checks.after_allow_traffic.bake_seconds == 4 * 3600


def test_a_40_minute_bake_is_a_valid_codedeploy_target() -> None:
    # longer than any one invocation of the hook (15 minutes at most): it carries on in the next
    assert (
        target(checks={"after_allow_traffic": {"bake_seconds": 2400}}).checks.after_allow_traffic.bake_seconds == 2400
    )


@pytest.mark.parametrize(
    "checks",
    [
        {"after_allow_traffic": {"bake_seconds": 3301}},
        {"after_install": {"timeout_seconds": 3600}},
        {"before_allow_traffic": {"timeout_seconds": 7200}},
    ],
)
def test_a_check_longer_than_codedeploys_hour_is_refused_not_shortened(checks: dict[str, Any]) -> None:
    with pytest.raises(
        ValidationError, match="CodeDeploy fails a hook that has not reported within 60 minutes"
    ) as raised:
        target(checks=checks)
    assert "at most 3300 s" in str(raised.value)


def test_the_longest_check_codedeploy_allows_is_accepted() -> None:
    assert target(checks={"after_allow_traffic": {"bake_seconds": 3300}})


@pytest.mark.parametrize("port", [1, 80, 65535])
def test_ports_at_the_edges_of_the_range_are_accepted(port: int) -> None:
    assert target(container_port=port).container_port == port


# -- Target.matches ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("v1.2.3", True),
        ("v10.20.30", True),
        ("v1.2.3-rc1", False),  # the whole tag must match, not a prefix
        ("release-v1.2.3", False),  # nor a suffix
        ("latest", False),
        ("", False),
        (None, False),
    ],
)
def test_matches_the_whole_tag(tag: str | None, expected: bool) -> None:
    assert target().matches("my-repository-name", tag) is expected


def test_an_empty_tag_never_matches_even_a_pattern_that_accepts_it() -> None:
    anything = target(tag_pattern=".*")

    assert not anything.matches("my-repository-name", "")
    assert not anything.matches("my-repository-name", None)
    assert anything.matches("my-repository-name", "x")


def test_another_repository_never_matches() -> None:
    assert not target(tag_pattern=".*").matches("other-repository", "v1.2.3")


@pytest.mark.parametrize(
    ("sample", "deploys"),
    [
        ("ecr-image-action-push-semver-tag.json", ["web"]),
        ("ecr-image-action-push.json", ["latest"]),
        ("ecr-image-action-push-empty-tag.json", []),
    ],
)
def test_the_real_push_samples_deploy_to_the_targets_their_tags_match(sample: str, deploys: list[str]) -> None:
    # Given a catalog with a semver target and a "latest" target on the samples' repository
    catalog = TargetCatalog((target(), target(name="latest", tag_pattern="latest", deployment_group="latest-dg")))
    push = sample_push(sample)

    # When the push's repository and tag are matched
    matching = catalog.matching(push.image.repository, push.tag)

    # Then only the targets whose rule accepts the whole tag deploy it
    assert [t.name for t in matching] == deploys


# -- parse_target ----------------------------------------------------------------------------------------------------
def test_parse_target_reads_a_dict_and_takes_the_default_name() -> None:
    document = doc()
    del document["name"]

    parsed = parse_target(document, default_name="web-from-key")

    assert isinstance(parsed, Target)
    assert parsed.name == "web-from-key"


def test_a_name_in_the_document_wins_over_the_default() -> None:
    parsed = parse_target(doc(name="explicit"), default_name="from-key")

    assert isinstance(parsed, Target)
    assert parsed.name == "explicit"


@pytest.mark.parametrize("encode", [json.dumps, lambda d: json.dumps(d).encode()])
def test_parse_target_reads_json_text_and_bytes(encode: Any) -> None:
    parsed = parse_target(encode(doc()), default_name="ignored")

    assert isinstance(parsed, Target)
    assert parsed == target()


def test_parse_target_reads_yaml_text() -> None:
    parsed = parse_target(YAML_TARGET, default_name="api")

    assert isinstance(parsed, Target)
    assert (parsed.name, parsed.on_busy, parsed.container_port) == ("api", "supersede", 9000)
    [request] = parsed.checks.after_allow_test_traffic.requests
    assert (request.path, request.expect_status) == ("/healthz", [200, 204])


def test_an_invalid_document_names_the_target_the_field_and_the_source() -> None:
    # Given a target document with a port out of range (and the group it configures)
    document = doc(name="checkout", container_port=70000)

    # When it is validated
    error = parse_target(document, default_name="key-name", source="/pushdeploy/prod/targets/checkout")

    # Then the error says which target, which field and why, and keeps the group it was meant for
    assert isinstance(error, TargetConfigError)
    assert (error.target, error.field) == ("checkout", "container_port")
    assert "less than or equal to 65535" in error.reason
    assert error.source == "/pushdeploy/prod/targets/checkout"
    assert (error.application, error.deployment_group) == ("web-app", "web-dg")
    assert str(error).startswith("target 'checkout': container_port: ")


def test_a_nested_error_names_the_dotted_path() -> None:
    checks = {"after_allow_test_traffic": {"requests": [{"path": "/"}, {"path": "health"}]}}

    error = parse_target(doc(checks=checks), default_name="web")

    assert isinstance(error, TargetConfigError)
    assert error.field == "checks.after_allow_test_traffic.requests.1.path"
    assert "must start with '/'" in error.reason


def test_an_error_counts_the_other_problems() -> None:
    error = parse_target({"repository": "r"}, default_name="thin")

    assert isinstance(error, TargetConfigError)
    assert error.target == "thin"
    assert "more)" in error.reason
    assert error.application is None


@pytest.mark.parametrize(
    ("document", "reason"),
    [("[1, 2]", "must be an object"), ("- a\n- b", "must be an object"), (42, "must be an object")],
)
def test_a_document_that_is_not_an_object_is_an_error(document: Any, reason: str) -> None:
    error = parse_target(document, default_name="broken")

    assert isinstance(error, TargetConfigError)
    assert (error.target, error.field, error.reason) == ("broken", "(document)", reason)


def test_text_that_is_neither_json_nor_yaml_is_an_error() -> None:
    error = parse_target("repository: [unclosed", default_name="broken")

    assert isinstance(error, TargetConfigError)
    assert error.reason.startswith("neither JSON nor YAML")


# -- build_catalog ---------------------------------------------------------------------------------------------------
def test_build_catalog_keeps_valid_targets_next_to_invalid_ones() -> None:
    # Given three documents under the stack's prefix, one of them invalid
    documents = {
        f"{PREFIX}web": json.dumps({k: v for k, v in WEB.items() if k != "name"}),
        f"{PREFIX}api": YAML_TARGET,
        f"{PREFIX}broken": json.dumps(doc(name="broken", tag_pattern="(", deployment_group="broken-dg")),
    }

    # When the catalog is built
    catalog = build_catalog(documents, prefix=PREFIX)

    # Then the valid ones deploy, named after their keys, and the invalid one is an error of its own
    assert sorted(t.name for t in catalog.targets) == ["api", "web"]
    [error] = catalog.errors
    assert (error.target, error.field, error.source) == ("broken", "tag_pattern", f"{PREFIX}broken")
    assert catalog.error_for("broken") is error
    assert catalog.error_for("web") is None


def test_build_catalog_without_a_prefix_names_targets_after_the_last_path_part() -> None:
    catalog = build_catalog({"/some/where/web": {k: v for k, v in WEB.items() if k != "name"}})

    assert [t.name for t in catalog.targets] == ["web"]


def test_a_name_declared_twice_deploys_neither_and_both_documents_are_named() -> None:
    documents = {f"{PREFIX}a": doc(), f"{PREFIX}b": doc(deployment_group="other-dg")}

    catalog = build_catalog(documents, prefix=PREFIX)

    assert catalog.targets == ()
    first, second = sorted(catalog.errors, key=lambda e: e.source)
    assert (first.target, first.field, first.source) == ("web", "name", f"{PREFIX}a")
    assert f"{PREFIX}b" in first.reason and f"{PREFIX}a" in second.reason
    assert "neither deploys" in first.reason


def test_two_targets_on_one_deployment_group_deploy_neither() -> None:
    documents = {
        f"{PREFIX}staging": doc(name="staging", tag_pattern="^main$"),
        f"{PREFIX}prod": doc(name="prod", tag_pattern=r"^v\d+$"),
        f"{PREFIX}other": doc(name="other", deployment_group="other-dg"),
    }

    catalog = build_catalog(documents, prefix=PREFIX)

    assert [t.name for t in catalog.targets] == ["other"]
    errors = {e.target: e for e in catalog.errors}
    assert set(errors) == {"staging", "prod"}
    assert errors["staging"].field == "deployment_group" and "'prod'" in errors["staging"].reason
    assert "'staging'" in errors["prod"].reason


def test_an_empty_tag_rule_is_an_error() -> None:
    error = parse_target(doc(tag_pattern="  "), default_name="web")

    assert isinstance(error, TargetConfigError) and error.field == "tag_pattern" and "empty" in error.reason


def test_catalog_lookups() -> None:
    api = target(name="api", application="api-app", deployment_group="api-dg")
    catalog = TargetCatalog((target(), api))

    assert catalog.for_deployment_group("api-app", "api-dg") is api
    assert catalog.for_deployment_group("api-app", "web-dg") is None
    assert catalog.by_name("web") == target()
    assert catalog.by_name("nope") is None


# -- parse_targets_document ----------------------------------------------------------------------------------------
def test_a_list_of_targets_is_validated_entry_by_entry() -> None:
    parsed = parse_targets_document([doc(), {"repository": "r"}], source="targets.yaml")

    assert parsed is not None
    assert isinstance(parsed[0], Target)
    assert isinstance(parsed[1], TargetConfigError)
    assert (parsed[1].target, parsed[1].source) == ("#2", "targets.yaml")


def test_a_targets_key_holds_the_list() -> None:
    parsed = parse_targets_document({"targets": [doc()]}, source="t.yaml")

    assert parsed == [target()]


def test_a_mapping_names_each_target_by_its_key() -> None:
    document = {k: v for k, v in WEB.items() if k != "name"}

    parsed = parse_targets_document({"web": document, "api": "not an object"}, source="t.yaml")

    assert parsed is not None
    assert parsed[0] == target()
    assert isinstance(parsed[1], TargetConfigError)
    assert parsed[1].reason == "must be an object"


@pytest.mark.parametrize("document", ["targets", 3, None, {"targets": "web"}])
def test_a_document_of_another_shape_is_none(document: Any) -> None:
    assert parse_targets_document(document, source="t.yaml") is None


def test_a_targets_file_with_two_targets_on_one_group_names_both_entries() -> None:
    parsed = parse_targets_document(
        [doc(name="staging", tag_pattern="^main$"), doc(name="prod"), doc(name="api", deployment_group="api-dg")],
        source="targets.yaml",
    )

    assert parsed is not None
    staging, prod, api = parsed
    assert isinstance(api, Target)
    assert isinstance(staging, TargetConfigError) and "'prod' (targets.yaml entry 2)" in staging.reason
    assert isinstance(prod, TargetConfigError) and "'staging' (targets.yaml entry 1)" in prod.reason


def _service_with_hook(timeout: dict[str, object] | None, function: str = "pushdeploy-ecs-hook") -> dict[str, object]:
    hook: dict[str, object] = {
        "hookTargetArn": f"arn:aws:lambda:us-east-1:123456789012:function:{function}",
        "roleArn": "arn:aws:iam::123456789012:role/invoke",
        "lifecycleStages": ["POST_SCALE_UP", "POST_PRODUCTION_TRAFFIC_SHIFT"],
    }
    if timeout is not None:
        hook["timeoutConfiguration"] = timeout
    return {
        "serviceName": "web",
        "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/web-cluster",
        "deploymentController": {"type": "ECS"},
        "deploymentConfiguration": {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 5, "lifecycleHooks": [hook]},
    }


@pytest.mark.parametrize(
    ("timeout", "function", "found"),
    [
        (None, "pushdeploy-ecs-hook", []),  # ECS's default: 1440 minutes, ROLLBACK
        (
            {"timeoutInMinutes": 30, "action": "ROLLBACK"},
            "pushdeploy-ecs-hook",
            ["checks.after_allow_traffic.bake_seconds"],
        ),
        ({"timeoutInMinutes": 120, "action": "CONTINUE"}, "pushdeploy-ecs-hook", ["service"]),
        ({"timeoutInMinutes": 5, "action": "CONTINUE"}, "someone-elses-hook", []),  # not pushdeploy's checks
        ({"timeoutInMinutes": 120, "action": "CONTINUE"}, "pushdeploy-ecs-hook:live", ["service"]),  # an alias
    ],
)
def test_validate_online_holds_the_checks_against_the_ecs_hooks_timeout(timeout, function, found) -> None:
    from pushdeploy.model.ecs_deployments import ServiceSetup
    from pushdeploy.services.inspection import hook_timeout_problems

    web = Target.model_validate(NATIVE | {"checks": {"after_allow_traffic": {"bake_seconds": 3600}}})
    setup = ServiceSetup.from_api(_service_with_hook(timeout, function))

    problems = hook_timeout_problems(web, setup)

    assert [field for field, _ in problems] == found
    if found == ["checks.after_allow_traffic.bake_seconds"]:
        assert "raise timeoutInMinutes to at least 62" in problems[0][1]
    assert setup.hooks[0].timeout_minutes == (timeout or {}).get("timeoutInMinutes", 1440)
