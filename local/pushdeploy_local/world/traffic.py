"""The load balancer's part: local listeners forwarding each request by the (moto) listener's weighted rule."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Protocol

from pushdeploy_local.emulator.loopback import LoopbackServer
from pushdeploy_local.world.apps import LocalApp


class Router(Protocol):
    def pick_app(self, listener_arn: str) -> LocalApp | None: ...


@dataclass
class LocalListener:
    """A listener on 127.0.0.1 that forwards each request by the (moto) listener's weighted rule."""

    world: Router
    listener_arn: str
    server: Any = None

    def start(self) -> LocalListener:
        import http.server

        listener = self

        class Proxy(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                app = listener.world.pick_app(listener.listener_arn)
                if app is None:
                    self.send_response(503)
                    self.end_headers()
                    self.wfile.write(b"no healthy target")
                    return
                try:
                    with urllib.request.urlopen(app.url + self.path, timeout=10) as upstream:  # noqa: S310
                        status, body = upstream.status, upstream.read()
                except urllib.error.HTTPError as exc:
                    status, body = exc.code, exc.read()
                self.send_response(status)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        self.server = LoopbackServer(Proxy, f"listener-{self.listener_arn.rsplit('/', 1)[-1]}")
        return self

    @property
    def url(self) -> str:
        return str(self.server.url)

    def close(self) -> None:
        self.server.close()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


urllib.request.install_opener(urllib.request.build_opener(_NoRedirect))
