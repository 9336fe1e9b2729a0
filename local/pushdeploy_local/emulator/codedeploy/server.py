"""The CodeDeploy emulator over HTTP, speaking CodeDeploy's JSON protocol (``AWS_ENDPOINT_URL_CODEDEPLOY``).

Requests: ``POST /`` with ``X-Amz-Target: CodeDeploy_20141006.<Operation>`` and a JSON body. Responses:
JSON with timestamps as epoch seconds; errors as HTTP 400 ``{"__type": <code>, "message": ...}``, which
botocore turns into the same ``ClientError`` codes AWS returns.
"""

from __future__ import annotations

import http.server
import json
from datetime import datetime
from typing import Any

from botocore import xform_name
from botocore.exceptions import ClientError

from pushdeploy_local.emulator.codedeploy.backend import CodeDeployEmulator
from pushdeploy_local.emulator.loopback import LoopbackServer

SUPPORTED = {
    "CreateApplication",
    "CreateDeploymentGroup",
    "GetDeploymentGroup",
    "CreateDeploymentConfig",
    "GetDeploymentConfig",
    "CreateDeployment",
    "GetDeployment",
    "GetDeploymentTarget",
    "ListDeployments",
    "StopDeployment",
    "PutLifecycleEventHookExecutionStatus",
    "ContinueDeployment",
}


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    if isinstance(value, set):
        return sorted(value)
    return value


class CodeDeployServer:
    def __init__(self, emulator: CodeDeployEmulator) -> None:
        self.emulator = emulator

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                operation = self.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
                status, payload = 200, {}
                try:
                    if operation not in SUPPORTED:
                        status, payload = (
                            400,
                            {
                                "__type": "UnsupportedOperation",
                                "message": f"the local CodeDeploy does not implement {operation}",
                            },
                        )
                    else:
                        payload = getattr(emulator, xform_name(operation))(**body)
                except ClientError as exc:
                    error = exc.response["Error"]
                    status, payload = 400, {"__type": error["Code"], "message": error["Message"]}
                except TypeError as exc:
                    status, payload = 400, {"__type": "ValidationException", "message": str(exc)}
                data = json.dumps(_encode(payload)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-amzn-RequestId", "local")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return

        self.loopback = LoopbackServer(Handler, "codedeploy-emulator")

    @property
    def url(self) -> str:
        return self.loopback.url

    def close(self) -> None:
        self.loopback.close()
