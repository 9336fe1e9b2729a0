"""The project's own exceptions. Adapters translate botocore errors into these."""

from __future__ import annotations


class PushdeployError(Exception):
    """Base class: every error the domain raises on purpose."""


class ConfigurationError(PushdeployError):
    """The function's environment is incomplete or wrong (a deployment problem, not an event problem)."""


class DeploymentGroupNotFound(PushdeployError):
    pass


class TaskDefinitionError(PushdeployError):
    """The service's current task definition cannot be cloned for this target."""


class DeploymentBusy(PushdeployError):
    """CodeDeploy refused a deployment because the group already runs one."""

    def __init__(self, message: str, active_deployment_id: str | None) -> None:
        super().__init__(message)
        self.active_deployment_id = active_deployment_id


class DeploymentNotFound(PushdeployError):
    pass


class ImageNotFound(PushdeployError):
    """No image in the registry answers to that tag or digest."""


class StackNotFound(PushdeployError):
    """The pushdeploy stack named (for its outputs) does not exist in that account and region."""
