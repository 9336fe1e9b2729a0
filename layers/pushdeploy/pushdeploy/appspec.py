"""The ECS AppSpec of a deployment, inline (``revisionType: AppSpecContent``) with its sha256."""

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
    content: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content.encode("utf-8")).hexdigest()

    def revision(self) -> dict[str, Any]:
        return {"revisionType": "AppSpecContent", "appSpecContent": {"content": self.content, "sha256": self.sha256}}


def build_appspec(task_definition_arn: str, container_name: str, container_port: int, hook_prefix: str) -> AppSpec:
    document = {
        "version": 0.0,
        "Resources": [
            {
                "TargetService": {
                    "Type": "AWS::ECS::Service",
                    "Properties": {
                        "TaskDefinition": task_definition_arn,
                        "LoadBalancerInfo": {"ContainerName": container_name, "ContainerPort": container_port},
                    },
                }
            }
        ],
        "Hooks": [{stage: hook_function_name(hook_prefix, stage)} for stage in HOOK_STAGES],
    }
    return AppSpec(json.dumps(document, separators=(",", ":")))


def task_definition_of(appspec: dict[str, Any]) -> str | None:
    """The TaskDefinition of an AppSpec document (keys matched case-insensitively, as CodeDeploy does)."""

    def get(obj: Any, key: str) -> Any:
        if isinstance(obj, dict):
            for k, v in obj.items():
                if k.lower() == key.lower():
                    return v
        return None

    resources = get(appspec, "Resources") or []
    for resource in resources:
        props = get(get(resource, "TargetService"), "Properties")
        arn = get(props, "TaskDefinition")
        if isinstance(arn, str):
            return arn
    return None
