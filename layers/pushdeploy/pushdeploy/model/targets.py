"""Deployment targets: which pushes deploy where, and how each stage is checked.

A target is a JSON (or YAML) document in SSM Parameter Store under the stack's path prefix
(``/pushdeploy/<stage>/targets/<name>``; read by :mod:`pushdeploy.aws.ssm`). Documents are validated one by
one: a bad one is reported with the target, the field and the reason, and never keeps the valid ones from deploying.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

OnBusyPolicy = Literal["queue-latest", "supersede", "reject"]
Severity = Literal["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED"]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SmokeRequest(_Strict):
    path: str = "/"
    method: Literal["GET", "HEAD"] = "GET"
    expect_status: list[Annotated[int, Field(ge=100, le=599)]] = Field(default_factory=lambda: [200], min_length=1)
    max_latency_ms: Annotated[int, Field(gt=0)] = 2000
    body_contains: str | None = None

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value


def _no_critical_findings() -> dict[Severity, int]:
    return {"CRITICAL": 0}


class BeforeInstallChecks(_Strict):
    architecture: bool = True
    max_findings: dict[Severity, Annotated[int, Field(ge=0)]] = Field(default_factory=_no_critical_findings)
    fail_on_warnings: bool = False


class AfterInstallChecks(_Strict):
    timeout_seconds: Annotated[int, Field(gt=0, le=86_400)] = 600


class SmokeChecks(_Strict):
    enabled: bool = True
    base_url: str | None = None  # overrides the URL derived from the test listener
    requests: list[SmokeRequest] = Field(default_factory=lambda: [SmokeRequest()], min_length=1)
    attempts: Annotated[int, Field(ge=1, le=20)] = 3
    backoff_seconds: Annotated[float, Field(ge=0, le=60)] = 2.0
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 5.0


class BeforeAllowTrafficChecks(_Strict):
    timeout_seconds: Annotated[int, Field(gt=0, le=86_400)] = 300


# A check longer than one invocation carries on in the next; the hook must still report within the controller's
# limit. CodeDeploy: "an hour"; 5 minutes kept for the hand-overs (each up to 90 s late) and the final metrics.
CODEDEPLOY_HOOK_LIMIT_SECONDS = 3600
LONGEST_CODEDEPLOY_CHECK_SECONDS = CODEDEPLOY_HOOK_LIMIT_SECONDS - 300


class AfterAllowTrafficChecks(_Strict):
    bake_seconds: Annotated[int, Field(ge=0, le=86_400)] = 120
    max_5xx_rate: Annotated[float, Field(ge=0, le=1)] = 0.01
    max_latency_ms: Annotated[int, Field(gt=0)] = 2000
    latency_statistic: Literal["p99", "p95", "p90", "p50", "Maximum", "Average"] = "p99"


class Checks(_Strict):
    before_install: BeforeInstallChecks = BeforeInstallChecks()
    after_install: AfterInstallChecks = AfterInstallChecks()
    after_allow_test_traffic: SmokeChecks = SmokeChecks()
    before_allow_traffic: BeforeAllowTrafficChecks = BeforeAllowTrafficChecks()
    after_allow_traffic: AfterAllowTrafficChecks = AfterAllowTrafficChecks()


class RollbackSettings(_Strict):
    alarms: list[str] | None = None  # None: the deployment group's alarms
    watch_minutes_after_success: Annotated[int, Field(ge=0, le=10080)] = 30
    auto_revert: bool = True
    revert_deployment_config: str = "CodeDeployDefault.ECSAllAtOnce"


class NotifySettings(_Strict):
    sns_topic_arn: str | None = None
    slack_webhook_secret_arn: str | None = None


class Target(_Strict):
    name: Annotated[str, Field(pattern=_NAME)]
    repository: Annotated[str, Field(min_length=2, max_length=256)]
    tag_pattern: str
    # A CODE_DEPLOY service is named by its CodeDeploy application and deployment group; a service under ECS's own
    # controller (blue/green, linear, canary or rolling) by its cluster and service. One pair, never both.
    application: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    deployment_group: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    cluster: Annotated[str, Field(min_length=1, max_length=2048)] | None = None
    service: Annotated[str, Field(min_length=1, max_length=2048)] | None = None
    container_name: Annotated[str, Field(min_length=1, max_length=255)]
    container_port: Annotated[int, Field(ge=1, le=65535)]
    deployment_config: str | None = None
    on_busy: OnBusyPolicy = "queue-latest"
    checks: Checks = Checks()
    rollback: RollbackSettings = RollbackSettings()
    keep_task_definitions: Annotated[int, Field(ge=2, le=1000)] = 10
    notify: NotifySettings = NotifySettings()

    @model_validator(mode="after")
    def _one_way_to_deploy(self) -> Target:
        by_group = (self.application, self.deployment_group)
        by_service = (self.cluster, self.service)
        if any(v is not None for v in by_group) and any(v is not None for v in by_service):
            raise ValueError(
                "name either a CodeDeploy application and deployment_group (a service under the CODE_DEPLOY "
                "controller) or a cluster and service (a service under ECS's own controller), not both"
            )
        for pair, names in ((by_group, "application and deployment_group"), (by_service, "cluster and service")):
            if any(v is None for v in pair) and any(v is not None for v in pair):
                raise ValueError(f"{names} go together: name both")
        if self.cluster is not None and self.deployment_config is not None:
            raise ValueError(
                "deployment_config names a CodeDeploy configuration: a service under ECS's own controller shifts "
                "traffic by its own deploymentConfiguration (strategy); leave deployment_config out"
            )
        if all(v is None for v in (*by_group, *by_service)):
            raise ValueError(
                "which service? name its cluster and service (ECS blue/green, linear, canary or rolling), or the "
                "CodeDeploy application and deployment_group it deploys through"
            )
        return self

    @property
    def through_codedeploy(self) -> bool:
        """Deployed by CodeDeploy (its group names the service); otherwise by ECS itself."""
        return self.application is not None

    @property
    def group(self) -> tuple[str, str]:
        """(application, deployment group) of a CodeDeploy target."""
        if self.application is None or self.deployment_group is None:
            raise ValueError(f"target {self.name} deploys through ECS ({self.cluster}/{self.service}), not CodeDeploy")
        return self.application, self.deployment_group

    @field_validator("checks")
    @classmethod
    def _within_the_hook_limit(cls, value: Checks, info: ValidationInfo) -> Checks:
        """A check may outlast an invocation, never the controller's limit for a hook (never silently shortened)."""
        if info.data.get("application") is None:
            return value  # ECS's lifecycle hooks: IN_PROGRESS re-invocations up to the hook's own timeout
        longest = LONGEST_CODEDEPLOY_CHECK_SECONDS
        for name, seconds in (
            ("after_allow_traffic.bake_seconds", value.after_allow_traffic.bake_seconds),
            ("after_install.timeout_seconds", value.after_install.timeout_seconds),
            ("before_allow_traffic.timeout_seconds", value.before_allow_traffic.timeout_seconds),
        ):
            if seconds > longest:
                raise ValueError(
                    f"{name} is {seconds} s, longer than a CodeDeploy lifecycle hook may take: CodeDeploy fails a "
                    f"hook that has not reported within {CODEDEPLOY_HOOK_LIMIT_SECONDS // 60} minutes, so at most "
                    f"{longest} s ({longest // 60} minutes; the rest is kept for hand-overs between invocations)"
                )
        return value

    @field_validator("tag_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("empty: no tag would ever deploy (e.g. ^v\\d+\\.\\d+\\.\\d+$ or ^main$)")
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value

    def matches(self, repository: str, tag: str | None) -> bool:
        """A push deploys here when the repository is ours and the whole tag matches the rule.

        An empty or missing tag never matches (untagged pushes and child manifests are not releases).
        """
        if repository != self.repository or not tag:
            return False
        return re.fullmatch(self.tag_pattern, tag) is not None


@dataclass(frozen=True)
class TargetConfigError:
    """One invalid target document: which target, which field, why."""

    target: str
    field: str
    reason: str
    source: str
    application: str | None = None
    deployment_group: str | None = None

    def __str__(self) -> str:
        return f"target {self.target!r}: {self.field}: {self.reason}"


def _last(value: str) -> str:
    return value.rsplit("/", 1)[-1] if value.startswith("arn:") else value


def service_key(cluster: str | None, service: str | None) -> tuple[str, str]:
    """A service as (cluster name, service name), whether named by names or ARNs."""
    return _last(cluster or ""), _last(service or "")


def _key_of(service_arn: str) -> tuple[str, str]:
    """(cluster, service) of ``arn:aws:ecs:<region>:<account>:service/<cluster>/<service>``."""
    parts = service_arn.split(":service/", 1)[-1].split("/")
    return (parts[0], parts[1]) if len(parts) == 2 else ("", parts[-1])


@dataclass(frozen=True)
class TargetCatalog:
    targets: tuple[Target, ...] = ()
    errors: tuple[TargetConfigError, ...] = field(default=())

    def matching(self, repository: str, tag: str | None) -> list[Target]:
        return [t for t in self.targets if t.matches(repository, tag)]

    def by_name(self, name: str) -> Target | None:
        return next((t for t in self.targets if t.name == name), None)

    def for_deployment_group(self, application: str, deployment_group: str) -> Target | None:
        return next(
            (t for t in self.targets if t.application == application and t.deployment_group == deployment_group),
            None,
        )

    def for_service(self, service_arn: str) -> Target | None:
        """The ECS-controlled target of a service (``arn:...:service/<cluster>/<service>``)."""
        return next(
            (t for t in self.targets if t.cluster and service_key(t.cluster, t.service) == _key_of(service_arn)), None
        )

    def error_for(self, name: str) -> TargetConfigError | None:
        return next((e for e in self.errors if e.target == name), None)


def parse_target(document: Any, *, default_name: str, source: str = "") -> Target | TargetConfigError:
    """Validate one target document (dict, JSON or YAML text)."""
    if isinstance(document, str | bytes):
        try:
            document = json.loads(document)
        except ValueError:
            import yaml

            try:
                document = yaml.safe_load(document)
            except yaml.YAMLError as exc:
                return TargetConfigError(default_name, "(document)", f"neither JSON nor YAML: {exc}", source)
    if not isinstance(document, dict):
        return TargetConfigError(default_name, "(document)", "must be an object", source)
    document = {"name": default_name, **document}
    name = str(document.get("name") or default_name)
    try:
        return Target.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(document)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        application, group = document.get("application"), document.get("deployment_group")
        return TargetConfigError(
            name,
            where,
            first["msg"] + more,
            source,
            application if isinstance(application, str) else None,
            group if isinstance(group, str) else None,
        )


def document_problems(document: Any, *, default_name: str, source: str = "") -> list[TargetConfigError]:
    """Every problem of one target document (not only the first), each naming its field; an unknown key says which
    known key it may have meant. Empty when the document is a valid target."""
    parsed = parse_target(document, default_name=default_name, source=source)
    if isinstance(parsed, Target):
        return []
    if not isinstance(document, dict):
        return [parsed]
    document = {"name": default_name, **document}
    try:
        Target.model_validate(document)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            reason = str(error["msg"]).removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                known = _fields_at(loc[:-1])
                close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
                reason = "unknown key" + (f" (did you mean {close[0]!r}?)" if close else "")
            elif error["type"] == "literal_error":
                allowed = re.findall(r"'([^']*)'", str((error.get("ctx") or {}).get("expected", "")))
                close = difflib.get_close_matches(str(error.get("input")), allowed, n=1, cutoff=0.6)
                reason += f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(
                TargetConfigError(
                    parsed.target,
                    ".".join(str(p) for p in loc) or "(document)",
                    reason,
                    source,
                    parsed.application,
                    parsed.deployment_group,
                )
            )
        return problems
    return [parsed]


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    """The keys a target document allows at ``loc`` (for "did you mean")."""
    model: Any = Target
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part)) if hasattr(model, "model_fields") else None
        if field is None:
            return []
        annotation = field.annotation
        inner = [a for a in getattr(annotation, "__args__", ()) if hasattr(a, "model_fields")]
        model = annotation if hasattr(annotation, "model_fields") else (inner[0] if inner else None)
        if model is None:
            return []
    return list(model.model_fields)


def build_catalog(documents: dict[str, Any], *, prefix: str = "") -> TargetCatalog:
    """Validate every document; keep the valid targets that can coexist, and one error per invalid document."""
    targets: list[tuple[Target, str]] = []
    errors: list[TargetConfigError] = []
    for key in sorted(documents):
        default_name = key[len(prefix) :] if prefix and key.startswith(prefix) else key.rsplit("/", 1)[-1]
        parsed = parse_target(documents[key], default_name=default_name.strip("/"), source=key)
        if isinstance(parsed, Target):
            targets.append((parsed, key))
        else:
            errors.append(parsed)
    kept, conflicts = without_conflicts(targets)
    return TargetCatalog(tuple(kept), (*errors, *conflicts))


def without_conflicts(targets: list[tuple[Target, str]]) -> tuple[list[Target], list[TargetConfigError]]:
    """Targets that cannot coexist deploy neither: two with one name, or two on one deployment group (one push
    would deploy twice and their deployments would fight over the group). Each gets an error naming the others."""
    by_name: dict[str, list[tuple[Target, str]]] = {}
    by_group: dict[tuple[str, str], list[tuple[Target, str]]] = {}
    for target, source in targets:
        by_name.setdefault(target.name, []).append((target, source))
        where = target.group if target.through_codedeploy else service_key(target.cluster, target.service)
        by_group.setdefault(where, []).append((target, source))
    errors: dict[str, TargetConfigError] = {}
    for clash, field_name, what in (
        *((c, "name", "declared more than once") for c in by_name.values() if len(c) > 1),
        *(
            (c, "deployment_group", "deployment group shared with")
            for c in by_group.values()
            if len(c) > 1 and c[0][0].through_codedeploy
        ),
        *(
            (c, "service", "ECS service shared with")
            for c in by_group.values()
            if len(c) > 1 and not c[0][0].through_codedeploy
        ),
    ):
        for target, source in clash:
            others = ", ".join(f"{t.name!r} ({s})" for t, s in clash if s != source or t is not target)
            reason = f"{what} {others}" if field_name != "name" else f"{what}: also in {others}"
            errors.setdefault(
                source,
                TargetConfigError(
                    target.name,
                    field_name,
                    f"{reason}; neither deploys until one is changed",
                    source,
                    target.application,
                    target.deployment_group,
                ),
            )
    kept = [target for target, source in targets if source not in errors]
    return kept, list(errors.values())


def target_entries(document: Any) -> list[Any] | None:
    """The target documents of a targets file: one target (a mapping with a target's own plain fields, such as its
    name or repository, even when another key is misspelt), a list, ``targets:`` holding either, or a mapping of
    name -> document. None when the file is none of these shapes."""
    if isinstance(document, dict) and "targets" in document:
        document = document["targets"]
    if isinstance(document, dict):
        if any(key in Target.model_fields and not isinstance(value, dict) for key, value in document.items()):
            return [document]
        return [{"name": k, **v} if isinstance(v, dict) else v for k, v in document.items()]
    return document if isinstance(document, list) else None


def parse_targets_document(document: Any, *, source: str) -> list[Target | TargetConfigError] | None:
    """A file of targets (the shapes of :func:`target_entries`). Each entry is validated on its own; None when the
    document is none of these shapes."""
    document = target_entries(document)
    if document is None:
        return None
    parsed = [parse_target(item, default_name=f"#{i + 1}", source=source) for i, item in enumerate(document)]
    entries = [f"{source} entry {i + 1}" for i in range(len(parsed))]
    _, conflicts = without_conflicts([(p, e) for p, e in zip(parsed, entries, strict=True) if isinstance(p, Target)])
    clashing = {error.source: error for error in conflicts}
    return [clashing.get(entry, p) for p, entry in zip(parsed, entries, strict=True)]
