"""The load balancer's part: local listeners forwarding each request by the (moto) listener's weighted rule."""

from __future__ import annotations

import socket
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


class LoadBalancerDns:
    """On AWS a load balancer's DNS name resolves to the load balancer; here it resolves to the local listener.

    The smoke check derives ``http://<load balancer DNS name>:<listener port>`` from the test listener, as it does
    in production: (name, port) pairs registered here resolve to 127.0.0.1 and the local listener's port; every
    other name resolves as usual.
    """

    def __init__(self) -> None:
        self.names: dict[tuple[str, int], int] = {}
        self._original: Any = None

    def add(self, dns_name: str, port: int, listener_url: str) -> None:
        self.names[(dns_name.lower(), port)] = int(listener_url.rsplit(":", 1)[-1].split("/")[0])

    def install(self) -> None:
        if self._original is not None:
            return
        original = self._original = socket.getaddrinfo
        names = self.names

        def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                local = names.get((str(host).lower(), int(port)))
            except (TypeError, ValueError):
                local = None
            if local is not None:
                return original("127.0.0.1", local, *args, **kwargs)
            return original(host, port, *args, **kwargs)

        socket.getaddrinfo = getaddrinfo

    def uninstall(self) -> None:
        if self._original is not None:
            socket.getaddrinfo = self._original
            self._original = None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


urllib.request.install_opener(urllib.request.build_opener(_NoRedirect))


def rule_weights(rule_arn: str) -> list[tuple[str, float]]:
    """(target group arn, weight) of a listener rule's forward action, as moto stores it."""
    from pushdeploy import aws

    action = aws.client("elbv2").describe_rules(RuleArns=[rule_arn])["Rules"][0]["Actions"][0]
    groups = (action.get("ForwardConfig") or {}).get("TargetGroups")
    if groups:
        return [(str(g["TargetGroupArn"]), float(g.get("Weight", 1))) for g in groups]
    return [(str(action.get("TargetGroupArn", "")), 1.0)]
