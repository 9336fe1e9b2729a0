"""The ECS AppSpec of a deployment: built inline (``revisionType: AppSpecContent``) with its sha256, and parsed.

:func:`parse_appspec` is the one parser: every reader of a deployment's revision (hooks, lifecycle, the local
world) goes through it. CodeDeploy accepts JSON or YAML and matches keys case-insensitively; so does this.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

HookStage = Literal["BeforeInstall", "AfterInstall", "AfterAllowTestTraffic", "BeforeAllowTraffic", "AfterAllowTraffic"]
HOOK_STAGES: tuple[HookStage, ...] = (
    "BeforeInstall",
    "AfterInstall",
    "AfterAllowTestTraffic",
    "BeforeAllowTraffic",
    "AfterAllowTraffic",
)


def hook_function_name(prefix: str, stage: HookStage) -> str:
    """``CodeDeployHook_<stack>-<Stage>``: the only names AWSCodeDeployRoleForECSLimited may invoke."""
    return f"{prefix}-{stage}"


@dataclass(frozen=True)
class AppSpec:
    """An AppSpec document: what it deploys, where traffic goes, which function validates each stage."""

    task_definition_arn: str | None
    container_name: str | None = None
    container_port: int | None = None
    hooks: tuple[tuple[str, str], ...] = ()

    @property
    def content(self) -> str:
        """The document as CodeDeploy receives it (compact JSON)."""
        properties: dict[str, Any] = {"TaskDefinition": self.task_definition_arn}
        if self.container_name is not None:
            properties["LoadBalancerInfo"] = {
                "ContainerName": self.container_name,
                "ContainerPort": self.container_port,
            }
        document = {
            "version": 0.0,
            "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": properties}}],
            "Hooks": [{stage: function} for stage, function in self.hooks],
        }
        return json.dumps(document, separators=(",", ":"))

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content.encode("utf-8")).hexdigest()

    def revision(self) -> dict[str, Any]:
        return {"revisionType": "AppSpecContent", "appSpecContent": {"content": self.content, "sha256": self.sha256}}

    def hook_function(self, stage: str) -> str | None:
        return next((function for name, function in self.hooks if name == stage), None)


def build_appspec(task_definition_arn: str, container_name: str, container_port: int, hook_prefix: str) -> AppSpec:
    return AppSpec(
        task_definition_arn,
        container_name,
        container_port,
        tuple((stage, hook_function_name(hook_prefix, stage)) for stage in HOOK_STAGES),
    )


class AppSpecError(ValueError):
    """The text is not an ECS AppSpec document."""


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(k, str) and k.lower() == key.lower():
                return v
    return None


def parse_appspec(content: str) -> AppSpec:
    """Read an AppSpec document (JSON or YAML). Raises :class:`AppSpecError` when it is not one."""
    document: Any
    try:
        document = json.loads(content)
    except ValueError:
        import yaml

        try:
            document = yaml.safe_load(content)
        except yaml.YAMLError as exc:
            raise AppSpecError(f"neither JSON nor YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise AppSpecError("the AppSpec is not an object")
    task_definition: str | None = None
    container_name: str | None = None
    container_port: int | None = None
    resources, hook_entries = _get(document, "Resources") or [], _get(document, "Hooks") or []
    if not isinstance(resources, list) or not isinstance(hook_entries, list):
        raise AppSpecError("Resources and Hooks must be lists")
    for resource in resources:
        properties = _get(_get(resource, "TargetService"), "Properties")
        arn = _get(properties, "TaskDefinition")
        if isinstance(arn, str) and task_definition is None:
            task_definition = arn
            lb_info = _get(properties, "LoadBalancerInfo")
            name, port = _get(lb_info, "ContainerName"), _get(lb_info, "ContainerPort")
            container_name = name if isinstance(name, str) else None
            container_port = int(port) if isinstance(port, int | str) and str(port).isdigit() else None
    hooks: list[tuple[str, str]] = []
    for entry in hook_entries:
        if isinstance(entry, dict):
            hooks += [(str(stage), str(function)) for stage, function in entry.items()]
    return AppSpec(task_definition, container_name, container_port, tuple(hooks))


def appspec_of_revision(revision: dict[str, Any] | None) -> AppSpec | None:
    """The AppSpec inside a CodeDeploy revision (``AppSpecContent`` or ``String``), None when absent or unreadable."""
    revision = revision or {}
    content = (revision.get("appSpecContent") or {}).get("content") or (revision.get("string") or {}).get("content")
    if not content:
        return None
    try:
        return parse_appspec(str(content))
    except AppSpecError:
        return None
