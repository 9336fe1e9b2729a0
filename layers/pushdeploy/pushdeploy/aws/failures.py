"""An AWS SDK failure as one line that says what to do, and its kind (the operator CLI's exit code follows from
the kind: the caller's input, something not found, or a failure). The CLI's one mapping; no traceback."""

from __future__ import annotations

from typing import Any, Literal

Kind = Literal["bad-input", "not-found", "failed"]
BAD_INPUT: Kind = "bad-input"
NOT_FOUND: Kind = "not-found"
FAILED: Kind = "failed"

DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnrecognizedClientException"}
THROTTLED = {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"}
EXPIRED = {"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "InvalidSignatureException"}
MISSING = {
    "ResourceNotFoundException",
    "ParameterNotFound",
    "DeploymentGroupDoesNotExistException",
    "ApplicationDoesNotExistException",
    "DeploymentDoesNotExistException",
    "DeploymentConfigDoesNotExistException",
    "RepositoryNotFoundException",
    "ImageNotFoundException",
    "ClusterNotFoundException",
    "ServiceNotFoundException",
}


def explain(exc: BaseException, *, profile: str | None = None, region: str | None = None) -> tuple[str, Kind]:
    """(one line for the operator, its kind) for ``exc``."""
    from botocore import exceptions as boto

    if isinstance(exc, boto.NoRegionError):
        return "no AWS region: pass --region or set AWS_REGION (or a region in your profile)", BAD_INPUT
    if isinstance(exc, boto.ProfileNotFound):
        return (
            f"AWS profile {profile or exc.kwargs.get('profile')!r} not found: check --profile / AWS_PROFILE",
            BAD_INPUT,
        )
    if isinstance(exc, boto.NoCredentialsError | boto.PartialCredentialsError):
        return (
            "no AWS credentials: pass --profile, set AWS_PROFILE, or run `aws configure` / `aws sso login`",
            BAD_INPUT,
        )
    if isinstance(exc, boto.TokenRetrievalError | boto.SSOTokenLoadError | boto.UnauthorizedSSOTokenError):
        return f"AWS login expired: run `aws sso login` ({exc})", BAD_INPUT
    if isinstance(exc, boto.EndpointConnectionError | boto.ConnectTimeoutError | boto.ReadTimeoutError):
        where = f" in {region}" if region else ""
        return f"cannot reach AWS{where}: {exc} (check --region and the network)", FAILED
    if isinstance(exc, boto.ParamValidationError):
        return f"AWS refused the request's parameters: {_one_line(exc)}", BAD_INPUT
    if isinstance(exc, boto.ClientError):
        return _client_error(exc)
    if isinstance(exc, boto.BotoCoreError):
        return f"AWS SDK error: {_one_line(exc)}", FAILED
    return f"unexpected error: {type(exc).__name__}: {_one_line(exc)} (run with --debug for the traceback)", FAILED


def _client_error(exc: Any) -> tuple[str, Kind]:
    error = exc.response.get("Error", {})
    code, message = str(error.get("Code", "")), _one_line(error.get("Message", ""))
    operation = getattr(exc, "operation_name", "") or "the call"
    if code in DENIED:
        return f"not authorized: {operation}: {message}", FAILED
    if code in THROTTLED:
        return f"AWS throttled {operation} after retries: try again in a minute ({message})", FAILED
    if code in EXPIRED:
        return f"AWS rejected the credentials ({code}): refresh them (`aws sso login`) and retry", BAD_INPUT
    if code in MISSING or code.endswith(("NotFoundException", "DoesNotExistException")):
        return f"not found: {operation}: {message or code}", NOT_FOUND
    if code in ("ValidationError", "ValidationException", "InvalidParameterException"):
        return f"AWS refused {operation}: {message}", BAD_INPUT
    return f"{operation} failed: {code}: {message}", FAILED


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())[:500]
