"""ECS's lifecycle hook for services under ECS's own controller: every stage, answered with hookStatus."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pushdeploy import runtime
from pushdeploy.observability import logger, metrics, traced_handler


@logger.inject_lambda_context(correlation_id_path="resourceArn")
@traced_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    verdict = runtime.services().ecs_hook_runner().handle(event, context.get_remaining_time_in_millis)
    return verdict.response()
