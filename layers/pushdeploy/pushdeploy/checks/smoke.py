"""AfterAllowTestTraffic: HTTP smoke requests through the test listener, with retries and backoff."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from pushdeploy import aws
from pushdeploy.checks import Budget, CheckResult, HookContext
from pushdeploy.model.targets import SmokeChecks, SmokeRequest


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Report 3xx as they are: an expected 301 is a result, not something to follow."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


@dataclass(frozen=True)
class Response:
    status: int | None
    latency_ms: float
    body: str
    error: str | None = None


def base_url(ctx: HookContext) -> str | None:
    """The URL of the test listener (``protocol://lb-dns:port``), or the target's override."""
    override = ctx.target.checks.after_allow_test_traffic.base_url
    if override:
        return override.rstrip("/")
    test_listeners = ctx.rollout.test_listener_arns()
    if not test_listeners:
        return None
    elb = aws.client("elbv2")
    listener = elb.describe_listeners(ListenerArns=[test_listeners[0]])["Listeners"][0]
    lb = elb.describe_load_balancers(LoadBalancerArns=[listener["LoadBalancerArn"]])["LoadBalancers"][0]
    return f"{listener['Protocol'].lower()}://{lb['DNSName']}:{listener['Port']}"


def fetch(url: str, method: str, timeout: float) -> Response:
    request = urllib.request.Request(url, method=method, headers={"User-Agent": "pushdeploy-smoke/1"})  # noqa: S310
    started = time.perf_counter()
    try:
        with _opener.open(request, timeout=timeout) as response:
            body = response.read(65536).decode("utf-8", "replace")
            return Response(response.status, (time.perf_counter() - started) * 1000, body)
    except urllib.error.HTTPError as exc:
        body = exc.read(65536).decode("utf-8", "replace") if exc.fp else ""
        return Response(exc.code, (time.perf_counter() - started) * 1000, body)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Response(None, (time.perf_counter() - started) * 1000, "", f"{type(exc).__name__}: {reason}")


def judge(spec: SmokeRequest, response: Response) -> str | None:
    """None when the response meets the spec, else what was wrong."""
    if response.status is None:
        return f"no response ({response.error})"
    if response.status not in spec.expect_status:
        return f"status {response.status}, expected {spec.expect_status}"
    if response.latency_ms > spec.max_latency_ms:
        return f"latency {response.latency_ms:.0f} ms over {spec.max_latency_ms} ms"
    if spec.body_contains is not None and spec.body_contains not in response.body:
        return f"body does not contain {spec.body_contains!r}"
    return None


def probe(url: str, spec: SmokeRequest, settings: SmokeChecks, budget: Budget) -> CheckResult:
    """Request ``url`` until it meets ``spec`` or the attempts (or the budget) run out."""
    problem: str | None = "not tried"
    response: Response | None = None
    attempt = 0
    for attempt in range(1, settings.attempts + 1):
        timeout = max(0.1, min(settings.timeout_seconds, budget.remaining()))
        response = fetch(url, spec.method, timeout)
        problem = judge(spec, response)
        if problem is None:
            return CheckResult(
                f"smoke {spec.method} {spec.path}",
                True,
                f"{response.status} in {response.latency_ms:.0f} ms (attempt {attempt})",
                value={"status": response.status, "latency_ms": round(response.latency_ms, 1)},
                limit={"status": spec.expect_status, "max_latency_ms": spec.max_latency_ms},
            )
        if attempt < settings.attempts and budget.remaining() > settings.backoff_seconds * 2 ** (attempt - 1):
            budget.wait(settings.backoff_seconds * 2 ** (attempt - 1))
        else:
            break
    value = {"status": response.status, "latency_ms": round(response.latency_ms, 1)} if response else None
    return CheckResult(
        f"smoke {spec.method} {spec.path}",
        False,
        f"{url}: {problem} after {attempt} attempt(s)",
        value=value,
        limit={"status": spec.expect_status, "max_latency_ms": spec.max_latency_ms},
    )


def run(ctx: HookContext) -> list[CheckResult]:
    settings = ctx.target.checks.after_allow_test_traffic
    if not settings.enabled:
        return [CheckResult("smoke", True, "smoke tests are disabled for this target", severity="info")]
    url = base_url(ctx)
    if url is None:
        return [
            CheckResult(
                "smoke", True, "the deployment group has no test listener: nothing to smoke-test", severity="info"
            )
        ]
    return [probe(url + spec.path, spec, settings, ctx.budget) for spec in settings.requests]
