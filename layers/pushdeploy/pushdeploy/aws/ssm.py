"""SSM Parameter Store: the target documents under the stack's path prefix."""

from __future__ import annotations

from typing import Any

from pushdeploy import aws
from pushdeploy.model.targets import Target, TargetCatalog, build_catalog

_providers: dict[int, Any] = {}


def _ssm_provider(ssm_client: Any) -> Any:
    from aws_lambda_powertools.utilities import parameters

    key = id(ssm_client)
    if key not in _providers:
        _providers.clear()
        _providers[key] = parameters.SSMProvider(boto3_client=ssm_client)
    return _providers[key]


def load_catalog(path: str, *, max_age: int = 60) -> TargetCatalog:
    """Every target under the SSM path prefix, cached for ``max_age`` seconds (Powertools Parameters)."""
    from pushdeploy.observability import logger

    raw = _ssm_provider(aws.client("ssm")).get_multiple(path, max_age=max_age, recursive=True, decrypt=False)
    catalog = build_catalog({path + key: value for key, value in raw.items()}, prefix=path)
    for error in catalog.errors:
        logger.error(
            "invalid target configuration",
            target=error.target,
            field=error.field,
            reason=error.reason,
            parameter=error.source,
        )
    return catalog


def clear_cache() -> None:
    _providers.clear()


def stored_target(name: str) -> str | None:
    """The stored document of one target parameter (None when there is none)."""
    try:
        return str(aws.ssm_client().get_parameter(Name=name)["Parameter"]["Value"])
    except Exception as exc:
        if aws.error_code(exc) != "ParameterNotFound":
            raise
        return None


def put_target(name: str, target: Target) -> None:
    aws.ssm_client().put_parameter(
        Name=name, Value=target.model_dump_json(exclude_defaults=True), Type="String", Overwrite=True
    )
