"""``--wait``: a deployment's true final status. A stop or a rollback is a failure, never a success."""

from __future__ import annotations

from collections.abc import Callable

from pushdeploy.model.deployments import Deployment
from pushdeploy.runtime import Services

from pushdeploy_cli.answers import FAILED, OK, TIMED_OUT, Answer


def wait(
    services: Services,
    deployment_id: str,
    *,
    timeout: float,
    progress: Callable[[Deployment], None] | None = None,
    poll_seconds: float = 5.0,
    follow_rollback: bool = False,
) -> Answer:
    deployment, ended = services.inspection.wait_for(
        deployment_id, timeout=timeout, progress=progress, poll_seconds=poll_seconds
    )
    status = deployment.status
    if follow_rollback and ended and status != "Succeeded" and deployment.rollback_deployment_id:
        # a rollback that stopped a deployment succeeded when CodeDeploy's rollback deployment did
        rolled = wait(
            services, deployment.rollback_deployment_id, timeout=timeout, progress=progress, poll_seconds=poll_seconds
        )
        rolled.title = f"deployment {deployment_id}: {status}, rolled back by {deployment.rollback_deployment_id}: " + (
            rolled.payload.get("status", "") if isinstance(rolled.payload, dict) else ""
        )
        return rolled
    if not ended:
        return Answer(
            f"deployment {deployment_id}: still {status} after {timeout:.0f} s (it carries on: follow it with "
            "`pushdeploy status`)",
            ["deployment", "status"],
            [[deployment_id, status]],
            {"deployment_id": deployment_id, "status": status, "timed_out": True},
            TIMED_OUT,
        )
    rolled_back = deployment.rollback_deployment_id
    error = deployment.error_message or ""
    detail = error + (f" (rolled back by {rolled_back})" if rolled_back else "")
    return Answer(
        f"deployment {deployment_id}: {status}",
        ["deployment", "status", "detail"],
        [[deployment_id, status, detail]],
        {
            "deployment_id": deployment_id,
            "status": status,
            "error": error or None,
            "rollback_deployment_id": rolled_back,
        },
        OK if status == "Succeeded" else FAILED,
    )
