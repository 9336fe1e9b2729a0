"""Local HTTP apps standing in for the blue and green task sets (one server per task set)."""

from __future__ import annotations

import http.server
import time
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
    """An HTTP server whose answers follow its behaviour.

    ``healthy``: 200 everywhere. ``failing-smoke``: 500 on /health. ``slow``: every answer takes
    ``slow_seconds``. ``erroring``: /health passes (so smoke tests pass) but every other path answers 503,
    which is what production traffic sees. ``crashing`` never serves (its tasks stop before running).
    """

    def __init__(self, name: str, behaviour: Behaviour = "healthy", *, version: str = "", slow_seconds: float = 0.6):
        self.name, self.behaviour, self.version, self.slow_seconds = name, behaviour, version, slow_seconds
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
        behaviour = self.behaviour
        if behaviour == "crashing":
            return Reply(502, "task stopped")
        if path.startswith("/admin"):
            return Reply(301, "", headers=(("Location", "/login"),))
        if behaviour == "failing-smoke" and path.startswith("/health"):
            return Reply(500, "health check failed: database unreachable")
        if behaviour == "erroring" and not path.startswith("/health"):
            return Reply(503, "upstream error")
        delay = self.slow_seconds if behaviour == "slow" else 0.0
        return Reply(200, f"ok {self.name} {self.version}".strip(), delay)

    def close(self) -> None:
        self.loopback.close()
