"""``pushdeploy history TARGET``: a target's releases, newest first."""

from __future__ import annotations

import textwrap

from pushdeploy import clock
from pushdeploy.model.releases import Release
from pushdeploy.runtime import Services

from pushdeploy_cli.answers import Answer
from pushdeploy_cli.connect import target_named


def _duration(release: Release) -> str:
    if not release.started_at or not release.finished_at:
        return ""
    seconds = int((clock.parse(release.finished_at) - clock.parse(release.started_at)).total_seconds())
    return f"{seconds // 60}m{seconds % 60:02d}s"


def _why(release: Release) -> str:
    """The release's reason, and the last thing that happened during it if it was a remedy."""
    if release.incidents:
        return f"{release.reason or ''}; {release.incidents[-1]}".lstrip("; ")
    return release.reason or ""


def history(services: Services, name: str, limit: int) -> Answer:
    target = target_named(services, name)
    # newest first; releases created in the same moment keep the order their pushes were accepted in
    releases = sorted(
        services.inspection.history(target, limit), key=lambda r: (r.created_at, r.order_key), reverse=True
    )
    rows = [
        [
            r.created_at,
            r.tag or "",
            r.digest[:19],
            r.trigger,
            r.status,
            _duration(r),
            (r.commit or {}).get("revision", "")[:12],
            textwrap.shorten(_why(r), width=160, placeholder=" …"),  # at a word, never mid-word
        ]
        for r in releases
    ]
    payload = [
        {
            "release_id": r.release_id,
            "created_at": r.created_at,
            "tag": r.tag,
            "digest": r.digest,
            "trigger": r.trigger,
            "status": r.status,
            "duration": _duration(r),
            "commit": r.commit,
            "reason": r.reason,
            "alarm": r.alarm,
            "deployment_id": r.deployment_id,
            "earlier_deployment_ids": r.earlier_deployment_ids,  # attempts stopped through no fault of its own
            "excluded_alarms": r.excluded_alarms,  # already in ALARM when it started: left out of CodeDeploy's poll
            "incidents": r.incidents,  # during a remedy: alarms still firing, recorded and notified
        }
        for r in releases
    ]
    return Answer(
        f"{target.name}: {len(rows)} release(s), newest first",
        ["created", "tag", "digest", "trigger", "result", "duration", "commit", "reason"],
        rows,
        payload,
    )
