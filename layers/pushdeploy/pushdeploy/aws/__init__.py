"""The adapters over boto3: the only package (with :mod:`pushdeploy.ledger` and :mod:`pushdeploy.checks`) that
calls AWS. One client per service per process, adaptive retries, bounded timeouts.

Endpoints come from the standard environment variables (``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_CODEDEPLOY``,
...), which boto3 honours by itself; that is how the local rehearsal reaches moto and the CodeDeploy emulator
without any code path of its own. A profile and a region can be chosen with :func:`configure` (the CLI does;
nothing writes ``os.environ``). Tests and the local world may replace a client with :func:`use_client`.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_codedeploy import CodeDeployClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ecr import ECRClient
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_ssm import SSMClient

_clients: dict[str, Any] = {}
_lock = threading.Lock()
_session_options: dict[str, str] = {}


def profile_region(profile: str | None) -> str | None:
    """The region a profile (or the default profile / environment) names, if any; None when none does or the
    profile does not exist (the failure is reported where the profile is used)."""
    import boto3

    try:
        return boto3.Session(profile_name=profile).region_name
    except Exception:  # noqa: BLE001 - a missing profile is reported by the call that needs it
        return None


def configure(*, profile: str | None = None, region: str | None = None) -> None:
    """Use this profile and region for every client from now on (existing clients are forgotten if they change)."""
    options = {"profile_name": profile, "region_name": region}
    wanted = {k: v for k, v in options.items() if v}
    with _lock:
        if wanted != _session_options:
            _session_options.clear()
            _session_options.update(wanted)
            _clients.clear()


def client(service: str, *, region: str | None = None) -> Any:
    """The process-wide client for ``service`` (created on first use); in ``region`` when it is another region
    than the default (an image in another region's registry is read there)."""
    if region is not None:
        default = client(service)
        if region != getattr(getattr(default, "meta", None), "region_name", region):
            return _regional(service, region)
        return default
    existing = _clients.get(service)
    if existing is not None:
        return existing
    with _lock:
        existing = _clients.get(service)
        if existing is None:
            existing = _clients[service] = _new_client(service)
        return existing


def _regional(service: str, region: str) -> Any:
    key = f"{service}@{region}"
    with _lock:
        if key not in _clients:
            _clients[key] = _new_client(service, region)
        return _clients[key]


def _new_client(service: str, region: str | None = None) -> Any:
    import boto3  # lazy: keeps cold imports of modules that never call AWS cheap
    from botocore.config import Config

    config = Config(
        retries={"mode": "adaptive", "max_attempts": 5},
        connect_timeout=3,
        read_timeout=10,
        user_agent_extra="pushdeploy",
    )
    options = {**_session_options, **({"region_name": region} if region else {})}
    session = boto3.session.Session(**options)  # type: ignore[arg-type]
    return session.client(service, config=config)  # type: ignore[call-overload]


def use_client(service: str, replacement: Any) -> None:
    """Install ``replacement`` as the client for ``service`` (tests, local world)."""
    with _lock:
        _clients[service] = replacement


def reset_clients() -> None:
    """Forget every cached client (tests switch endpoints or mocks between cases)."""
    with _lock:
        _clients.clear()


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` (empty string for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def error_message(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Message", ""))
    return str(exc)


# -- typed accessors (boto3-stubs under TYPE_CHECKING only: nothing extra at run time) -------------------------------
def codedeploy_client() -> CodeDeployClient:
    return cast("CodeDeployClient", client("codedeploy"))


def ecs_client() -> ECSClient:
    return cast("ECSClient", client("ecs"))


def ecr_client() -> ECRClient:
    return cast("ECRClient", client("ecr"))


def dynamodb_client() -> DynamoDBClient:
    return cast("DynamoDBClient", client("dynamodb"))


def ssm_client() -> SSMClient:
    return cast("SSMClient", client("ssm"))


def sns_client() -> SNSClient:
    return cast("SNSClient", client("sns"))


def cloudwatch_client() -> CloudWatchClient:
    return cast("CloudWatchClient", client("cloudwatch"))


def elbv2_client() -> ElasticLoadBalancingv2Client:
    return cast("ElasticLoadBalancingv2Client", client("elbv2"))
