"""AWS client factory: one client per service per process, adaptive retries, bounded timeouts.

Endpoints come from the standard environment variables (``AWS_ENDPOINT_URL``,
``AWS_ENDPOINT_URL_CODEDEPLOY``, ...), which boto3 honours by itself; that is how the local
rehearsal reaches moto and the CodeDeploy emulator without any code path of its own.

Tests and the local runner may replace a client with :func:`use_client`.
"""

from __future__ import annotations

import threading
from typing import Any

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def client(service: str) -> Any:
    """The process-wide client for ``service`` (created on first use)."""
    existing = _clients.get(service)
    if existing is not None:
        return existing
    with _lock:
        existing = _clients.get(service)
        if existing is None:
            existing = _clients[service] = _new_client(service)
        return existing


def _new_client(service: str) -> Any:
    import boto3  # lazy: keeps cold imports of modules that never call AWS cheap
    from botocore.config import Config

    config = Config(
        retries={"mode": "adaptive", "max_attempts": 5},
        connect_timeout=3,
        read_timeout=10,
        user_agent_extra="pushdeploy",
    )
    return boto3.session.Session().client(service, config=config)  # type: ignore[call-overload]


def use_client(service: str, replacement: Any) -> None:
    """Install ``replacement`` as the client for ``service`` (tests, local runner)."""
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
