"""The five CodeDeploy lifecycle hooks (one module; each function sets PUSHDEPLOY_HOOK_STAGE)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pushdeploy import runtime
from pushdeploy.observability import logger, metrics, traced_handler


@logger.inject_lambda_context(correlation_id_path="DeploymentId")
@traced_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    verdict = (
        runtime.services()
        .hook_runner()
        .handle(event, context.get_remaining_time_in_millis, context.invoked_function_arn)
    )
    return verdict.as_dict()
