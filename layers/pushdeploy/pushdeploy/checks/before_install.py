"""BeforeInstall: is the release deployable at all? (image, architecture, findings, container, warnings)"""

from __future__ import annotations

from typing import Any

from pushdeploy import aws
from pushdeploy.aws.ecr import inspect_image
from pushdeploy.checks import CheckResult, HookContext, Severity
from pushdeploy.model.images import ECS_TO_OCI_ARCH, ImageRef, parse_image_uri

SEVERITY_ORDER = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED")


def run(ctx: HookContext) -> list[CheckResult]:
    settings = ctx.target.checks.before_install
    task_definition = ctx.task_definition
    results = [_container(ctx, task_definition)]
    container = _find_container(task_definition, ctx.container_name)
    image = parse_image_uri(container.get("image", "")) if container else None
    if container is not None:
        results.append(
            CheckResult(
                "image-pinned-by-digest",
                image is not None,
                f"container {ctx.container_name} runs {container.get('image')}"
                + ("" if image else " (not an ECR image pinned by digest)"),
                value=container.get("image"),
            )
        )
    if image is not None:
        details = _describe_image(image)
        results.append(_exists(image, details))
        if details is not None:
            if settings.architecture:
                results.append(_architecture(image, task_definition))
            results.append(_findings(details, {str(k): v for k, v in settings.max_findings.items()}))
    results.extend(_warnings(ctx, task_definition, container, settings.fail_on_warnings))
    return results


def _find_container(task_definition: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((c for c in task_definition.get("containerDefinitions", []) if c.get("name") == name), None)


def _container(ctx: HookContext, task_definition: dict[str, Any]) -> CheckResult:
    container = _find_container(task_definition, ctx.container_name)
    if container is None:
        names = [c.get("name") for c in task_definition.get("containerDefinitions", [])]
        return CheckResult(
            "container-and-port",
            False,
            f"task definition has no container {ctx.container_name!r} (has {names})",
            value=names,
            limit=ctx.container_name,
        )
    ports = [m.get("containerPort") for m in container.get("portMappings", [])]
    ok = ctx.container_port in ports
    return CheckResult(
        "container-and-port",
        ok,
        f"container {ctx.container_name} maps ports {ports}; the AppSpec routes to {ctx.container_port}",
        value=ports,
        limit=ctx.container_port,
    )


def _describe_image(image: ImageRef) -> dict[str, Any] | None:
    try:
        response = aws.client("ecr", region=image.region).describe_images(
            registryId=image.account, repositoryName=image.repository, imageIds=[{"imageDigest": image.digest}]
        )
    except Exception as exc:
        if aws.error_code(exc) in ("ImageNotFoundException", "RepositoryNotFoundException"):
            return None
        raise
    details = response.get("imageDetails") or []
    return dict(details[0]) if details else None


def _exists(image: ImageRef, details: dict[str, Any] | None) -> CheckResult:
    if details is None:
        return CheckResult("image-exists", False, f"image {image.uri} does not exist in ECR", value="missing")
    status = details.get("imageStatus", "ACTIVE")
    ok = status == "ACTIVE"
    return CheckResult(
        "image-exists", ok, f"image {image.digest} is {status} in {image.repository}", value=status, limit="ACTIVE"
    )


def _architecture(image: ImageRef, task_definition: dict[str, Any]) -> CheckResult:
    wanted_ecs = (task_definition.get("runtimePlatform") or {}).get("cpuArchitecture") or "X86_64"
    wanted = ECS_TO_OCI_ARCH.get(wanted_ecs, wanted_ecs.lower())
    facts = inspect_image(image)
    found = facts.architectures()
    if not found:
        return CheckResult(
            "image-architecture",
            True,
            f"could not read the image's architecture; task definition wants {wanted_ecs}",
            limit=wanted,
            severity="warning",
        )
    ok = wanted in found
    return CheckResult(
        "image-architecture",
        ok,
        f"image is built for {', '.join(facts.platforms)}; task definition runs {wanted_ecs}",
        value=sorted(found),
        limit=wanted,
    )


def _findings(details: dict[str, Any], limits: dict[str, int]) -> CheckResult:
    summary = details.get("imageScanFindingsSummary") or {}
    counts = summary.get("findingSeverityCounts")
    if counts is None:
        status = (details.get("imageScanStatus") or {}).get("status", "no scan")
        return CheckResult(
            "vulnerability-findings", True, f"no scan findings to check ({status})", limit=limits, severity="info"
        )
    over = {sev: counts.get(sev, 0) for sev in SEVERITY_ORDER if sev in limits and counts.get(sev, 0) > limits[sev]}
    if over:
        detail = ", ".join(f"{sev} {n} > {limits[sev]}" for sev, n in over.items())
        return CheckResult(
            "vulnerability-findings", False, f"scan findings over the limit: {detail}", value=counts, limit=limits
        )
    return CheckResult(
        "vulnerability-findings", True, f"scan findings within limits: {counts}", value=counts, limit=limits
    )


def _warnings(
    ctx: HookContext, task_definition: dict[str, Any], container: dict[str, Any] | None, fail_on_warnings: bool
) -> list[CheckResult]:
    severity: Severity = "error" if fail_on_warnings else "warning"
    results = []
    if container is not None and "stopTimeout" not in container:
        results.append(
            CheckResult(
                "stop-timeout",
                False,
                f"container {ctx.container_name} sets no stopTimeout (in-flight requests may be "
                "cut at the default 30 s)",
                severity=severity,
            )
        )
    desired = int(ctx.service().get("desiredCount", 0))
    if desired < 2:
        results.append(
            CheckResult(
                "desired-count",
                False,
                f"service runs {desired} task(s): one failure is an outage",
                value=desired,
                limit=2,
                severity=severity,
            )
        )
    if task_definition.get("networkMode") == "bridge" and container is not None:
        fixed = [m.get("hostPort") for m in container.get("portMappings", []) if m.get("hostPort") not in (None, 0)]
        if fixed:
            results.append(
                CheckResult(
                    "bridge-host-port",
                    False,
                    f"bridge network mode with fixed hostPort {fixed}: blue and green tasks cannot share an instance",
                    value=fixed,
                    limit=0,
                    severity=severity,
                )
            )
    return results
