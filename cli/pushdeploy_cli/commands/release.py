"""``pushdeploy release TARGET DIGEST``: lift a digest's quarantine."""

from __future__ import annotations

from pushdeploy.runtime import Services

from pushdeploy_cli.answers import NOT_FOUND, Answer, CommandError
from pushdeploy_cli.connect import target_named


def release(services: Services, name: str, digest: str) -> Answer:
    target = target_named(services, name)
    if not services.reverts.release_quarantine(target, digest):
        raise CommandError(f"{digest} is not quarantined for {target.name}", NOT_FOUND)
    return Answer(
        f"released {digest[:19]} for {target.name}",
        ["target", "digest", "quarantined"],
        [[target.name, digest, "no"]],
        {"target": target.name, "digest": digest, "released": True},
    )
