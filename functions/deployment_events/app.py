"""Deployment events: CodeDeploy's and ECS's state changes, the scheduled sweep and a rolling update's due checks ->
ledger, known-good, notify, queue, prune."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pushdeploy import runtime
from pushdeploy.observability import logger, metrics, traced_handler


@logger.inject_lambda_context(correlation_id_path="detail.deploymentId || id")
@traced_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    services = runtime.services()
    results = services.lifecycle.handle(event, services.catalog(), context.invoked_function_arn)
    return {"results": [result.as_dict() for result in results]}
