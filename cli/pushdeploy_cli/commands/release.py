"""``pushdeploy release TARGET DIGEST``: lift a digest's quarantine."""

from __future__ import annotations

from pushdeploy.runtime import Services
from pushdeploy.services.reverts import NothingToRollBack

from pushdeploy_cli.answers import BAD_INPUT, NOT_FOUND, Answer, CommandError
from pushdeploy_cli.connect import target_named


def release(services: Services, name: str, ref: str) -> Answer:
    """Lift the quarantine of the digest ``ref`` names (a full digest, a unique prefix, or a tag it carried)."""
    target = target_named(services, name)
    try:
        digest = services.reverts.resolve_quarantined(target, ref)
    except NothingToRollBack as exc:
        raise CommandError(str(exc), NOT_FOUND if exc.not_found else BAD_INPUT) from exc
    if not services.reverts.release_quarantine(target, digest):
        raise CommandError(f"{digest} is not quarantined for {target.name}", NOT_FOUND)
    return Answer(
        f"released {digest[:19]} for {target.name}",
        ["target", "digest", "quarantined"],
        [[target.name, digest, "no"]],
        {"target": target.name, "digest": digest, "released": True},
    )
