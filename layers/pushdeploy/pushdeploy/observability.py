"""One logger, one metrics object and one tracer for every function (Powertools).

The X-Ray tracer is created on the first invocation, not at import: importing the X-Ray SDK builds a botocore
session and client for its sampler (~100 ms), which an import would pay before the handler even runs.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

SERVICE = "pushdeploy"
METRICS_NAMESPACE = "pushdeploy"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)

__all__ = ["MetricUnit", "count", "logger", "measure_ms", "metrics", "traced_handler", "tracer"]

_tracer: Tracer | None = None
_tracer_lock = threading.Lock()
Handler = TypeVar("Handler", bound=Callable[..., Any])


def tracer() -> Tracer:
    """The process's Powertools Tracer (created on first use)."""
    global _tracer
    with _tracer_lock:
        if _tracer is None:
            from aws_lambda_powertools import Tracer

            _tracer = Tracer(service=SERVICE)
        return _tracer


def traced_handler(handler: Handler) -> Handler:
    """``tracer.capture_lambda_handler``, with the tracer (and X-Ray) set up on the first invocation."""
    traced: list[Callable[..., Any]] = []

    @functools.wraps(handler)
    def run(event: Any, context: Any) -> Any:
        if not traced:
            traced.append(tracer().capture_lambda_handler(handler))
        return traced[0](event, context)

    return run  # type: ignore[return-value]


def count(name: str, **dimensions: str) -> None:
    """Emit one business-event metric (EMF). With dimensions it is written at once, on its own."""
    if not dimensions:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
        return
    from aws_lambda_powertools.metrics import single_metric
    from aws_lambda_powertools.metrics.functions import is_metrics_disabled

    if is_metrics_disabled():
        return
    with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace=METRICS_NAMESPACE) as metric:
        for key, value in dimensions.items():
            metric.add_dimension(name=key, value=value)


def measure_ms(name: str, value: float) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=value)
