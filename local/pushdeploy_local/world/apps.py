"""Local HTTP apps standing in for the blue and green task sets (one server per task set)."""

from __future__ import annotations

import http.server
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pushdeploy_local.emulator.loopback import LoopbackServer

Behaviour = Literal["healthy", "failing-smoke", "crashing", "slow", "erroring"]
BEHAVIOURS: tuple[Behaviour, ...] = ("healthy", "failing-smoke", "crashing", "slow", "erroring")


@dataclass
class Reply:
    status: int
    body: str
    delay: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()


class LocalApp:
    """An HTTP server whose answers follow its behaviour and its target's smoke paths.

    ``answers`` are the target's smoke requests (path -> the status and body its check expects), kept current by
    the world. ``healthy``: each smoke path answers as its check expects (a 3xx with a Location), anything else
    200. ``failing-smoke``: 500 on every smoke path. ``slow``: every answer takes ``slow_seconds``. ``erroring``:
    smoke paths pass, production traffic and every other path get 503. ``crashing`` never serves (its tasks stop
    before running).
    """

    def __init__(
        self,
        name: str,
        behaviour: Behaviour = "healthy",
        *,
        version: str = "",
        slow_seconds: float = 0.6,
        answers: Mapping[str, tuple[int, str]] | None = None,
    ):
        self.name, self.behaviour, self.version, self.slow_seconds = name, behaviour, version, slow_seconds
        self.answers: Mapping[str, tuple[int, str]] = answers if answers is not None else {}
        self.requests = 0
        app = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _serve(self, with_body: bool) -> None:
                app.requests += 1
                reply = app.reply(self.path)
                if reply.delay:
                    time.sleep(reply.delay)
                self.send_response(reply.status)
                for key, value in reply.headers:
                    self.send_header(key, value)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                if with_body:
                    self.wfile.write(reply.body.encode())

            def do_GET(self) -> None:
                self._serve(True)

            def do_HEAD(self) -> None:
                self._serve(False)

            def log_message(self, *args: Any) -> None:
                return

        self.loopback = LoopbackServer(Handler, f"app-{name}")

    @property
    def url(self) -> str:
        return self.loopback.url

    def reply(self, path: str) -> Reply:
        """The answer to a request for ``path`` (through a listener, or a smoke check)."""
        behaviour = self.behaviour
        if behaviour == "crashing":
            return Reply(502, "task stopped")
        expected = self.answers.get(path.split("?", 1)[0])
        if behaviour == "failing-smoke" and expected is not None:
            return Reply(500, "health check failed: database unreachable")
        if behaviour == "erroring" and expected is None:
            return Reply(503, "upstream error")
        delay = self.slow_seconds if behaviour == "slow" else 0.0
        if expected is None:
            return Reply(200, f"ok {self.name} {self.version}".strip(), delay)
        status, body = expected
        headers = (("Location", "/"),) if 300 <= status < 400 else ()
        return Reply(status, body or f"ok {self.name} {self.version}".strip(), delay, headers)

    def production_reply(self) -> Reply:
        """What a production request (not a smoke path) gets."""
        if self.behaviour in ("crashing", "erroring"):
            return Reply(502 if self.behaviour == "crashing" else 503, "upstream error")
        return Reply(200, "ok", self.slow_seconds if self.behaviour == "slow" else 0.0)

    def close(self) -> None:
        self.loopback.close()


def smoke_answers(document: Mapping[str, Any]) -> dict[str, tuple[int, str]]:
    """path -> (status, body) a healthy image gives each smoke request of a target document: what its check
    expects (the first expected status; the expected body text), read with the target model's own defaults. A
    document whose smoke checks do not parse has none (such a target deploys nothing)."""
    from pushdeploy.model.targets import SmokeChecks
    from pydantic import ValidationError

    try:
        checks = SmokeChecks.model_validate((document.get("checks") or {}).get("after_allow_test_traffic") or {})
    except (ValidationError, AttributeError):
        return {}
    return {r.path.split("?", 1)[0]: (r.expect_status[0], r.body_contains or "") for r in checks.requests}
