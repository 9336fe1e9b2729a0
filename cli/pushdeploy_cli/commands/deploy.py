"""``pushdeploy deploy TARGET --tag|--digest``: deploy an image through the same path as a push."""

from __future__ import annotations

import difflib

from pushdeploy.errors import ImageNotFound
from pushdeploy.model.deployments import ECS_DEFAULT_CONFIGS
from pushdeploy.model.images import DIGEST_RE
from pushdeploy.runtime import Services

from pushdeploy_cli.answers import BAD_INPUT, FAILED, NOT_FOUND, OK, Answer, CommandError, result_answer
from pushdeploy_cli.connect import target_named


def deploy(
    services: Services, name: str, *, tag: str | None, digest: str | None, config: str | None, force: bool
) -> Answer:
    target = target_named(services, name)
    if config:
        if not services.inspection.deployment_config_exists(config):
            close = difflib.get_close_matches(config, ECS_DEFAULT_CONFIGS, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise CommandError(f"no deployment config {config!r}{hint}: nothing was deployed", NOT_FOUND)
        target = target.model_copy(update={"deployment_config": config})
    if digest and not DIGEST_RE.match(digest):
        raise CommandError(f"{digest!r} is not a digest (sha256:<hex>)", BAD_INPUT)
    try:
        result = services.deployer.deploy_image(target, tag=tag, digest=digest, force=force)
    except ImageNotFound as exc:
        raise CommandError(str(exc), NOT_FOUND) from exc
    code = OK if result.outcome in ("deployed", "queued", "superseded") else FAILED
    return result_answer(f"deploy {target.name} {tag or digest}", result, code)
