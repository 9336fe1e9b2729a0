"""``pushdeploy rollback TARGET [--to DIGEST|TAG]``: stop the active deployment, or go back to known-good."""

from __future__ import annotations

from pushdeploy.runtime import Services
from pushdeploy.services.reverts import NothingToRollBack, RemedyInProgress

from pushdeploy_cli.answers import BAD_INPUT, FAILED, NOT_FOUND, OK, Answer, CommandError, result_answer
from pushdeploy_cli.connect import target_named


def rollback(services: Services, name: str, *, to: str | None, force: bool = False) -> Answer:
    target = target_named(services, name)
    try:
        result = services.reverts.operator_rollback(target, to=to, force=force)
    except RemedyInProgress as exc:
        raise CommandError(str(exc), FAILED) from exc
    except NothingToRollBack as exc:
        raise CommandError(str(exc), NOT_FOUND if exc.not_found else BAD_INPUT) from exc
    ok = result.outcome in ("rollback-started", "revert-started")
    return result_answer(f"rollback {target.name}", result, OK if ok else FAILED)


def plan(services: Services, name: str, *, to: str | None, force: bool = False) -> str:
    """What the rollback would do, for the confirmation prompt (read-only; the same refusals as the rollback)."""
    target = target_named(services, name)
    try:
        return services.reverts.rollback_plan(target, to=to, force=force)
    except RemedyInProgress as exc:
        raise CommandError(str(exc), FAILED) from exc
    except NothingToRollBack as exc:
        raise CommandError(str(exc), NOT_FOUND if exc.not_found else BAD_INPUT) from exc
