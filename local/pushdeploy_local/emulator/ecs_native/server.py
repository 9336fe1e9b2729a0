"""The ECS front boto3 reaches through ``AWS_ENDPOINT_URL_ECS``: ECS's JSON 1.1 protocol
(``X-Amz-Target: AmazonEC2ContainerServiceV20141113.<Operation>``).

Services with the ECS deployment controller (the default controller when none is given) are answered with what
:class:`~pushdeploy_local.emulator.ecs_native.backend.NativeEcs` keeps; the service-deployment operations moto lacks
are answered here; every other request goes to moto (``AWS_ENDPOINT_URL``) unchanged, and moto's answer comes back
unchanged. moto still holds the service itself (task definition, counts) so that the calls it answers agree.
Errors are ``{"__type": <exception name>, "message": ...}`` with HTTP 400 (500 for ServerException), as botocore
expects of a JSON 1.1 service.
"""

from __future__ import annotations

import http.server
import json
import urllib.error
import urllib.request
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from pushdeploy_local.emulator.ecs_native.backend import NativeEcs, error
from pushdeploy_local.emulator.loopback import LoopbackServer

TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113."
OWN = {
    "ListServiceDeployments": "list_service_deployments",
    "DescribeServiceDeployments": "describe_service_deployments",
    "DescribeServiceRevisions": "describe_service_revisions",
    "StopServiceDeployment": "stop_service_deployment",
}
FORWARDED_HEADERS = ("Content-Type", "X-Amz-Target", "Authorization", "X-Amz-Date", "X-Amz-Security-Token")
MOTO_UPDATE_KEYS = ("cluster", "service", "taskDefinition", "desiredCount", "forceNewDeployment")


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _native(params: dict[str, Any]) -> bool:
    return str((params.get("deploymentController") or {}).get("type") or "ECS") == "ECS"


class EcsFront:
    def __init__(self, backend: NativeEcs, moto_url: str) -> None:
        self.backend, self.moto_url = backend, moto_url
        front = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k: v for k in FORWARDED_HEADERS if (v := self.headers.get(k))}
                status, body = front.answer(self.headers.get("X-Amz-Target", ""), raw, headers)
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("x-amzn-RequestId", "local-ecs")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        self.loopback = LoopbackServer(Handler, "ecs-front")

    @property
    def url(self) -> str:
        return self.loopback.url

    def close(self) -> None:
        self.loopback.close()

    # -- requests -------------------------------------------------------------------------------------------------
    def answer(self, target: str, raw: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        operation = target.removeprefix(TARGET_PREFIX)
        params = json.loads(raw or b"{}")
        try:
            if operation in OWN:
                return 200, self._json(getattr(self.backend, OWN[operation])(**params))
            if operation == "CreateService" and _native(params):
                return self._create_service(params, raw, headers)
            if operation == "UpdateService" and self.backend.knows(params.get("cluster"), str(params.get("service"))):
                return self._update_service(params, headers)
            if operation == "DescribeServices":
                return self._describe_services(raw, headers)
        except ClientError as exc:
            found = exc.response["Error"]
            code = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400))
            return code, self._json({"__type": found["Code"], "message": found["Message"]})
        except TypeError as exc:  # a parameter the operation does not take
            return 400, self._json({"__type": "InvalidParameterException", "message": str(exc)})
        return self._moto(raw, headers)

    @staticmethod
    def _json(payload: Any) -> bytes:
        return json.dumps(_encode(payload)).encode()

    def _moto(self, raw: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        request = urllib.request.Request(self.moto_url + "/", data=raw, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 - moto on 127.0.0.1
                return int(answer.status), answer.read()
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read()

    def _moto_json(self, operation: str, params: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
        status, body = self._moto(json.dumps(params).encode(), {**headers, "X-Amz-Target": TARGET_PREFIX + operation})
        return status, json.loads(body or b"{}")

    def _create_service(self, params: dict[str, Any], raw: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        status, body = self._moto(raw, headers)
        if status != 200:
            return status, body
        created = json.loads(body)["service"]
        self.backend.create_service(params, created)
        return 200, self._json({"service": self.backend.overlay(created)})

    def _update_service(self, params: dict[str, Any], headers: dict[str, str]) -> tuple[int, bytes]:
        if "deploymentController" in params:  # ECS: the controller of a service cannot change this way
            raise error("UpdateService", "InvalidParameterException", "Cannot update the deployment controller.")
        status, answer = self._moto_json(
            "UpdateService", {k: params[k] for k in MOTO_UPDATE_KEYS if k in params}, headers
        )
        if status != 200:
            return status, json.dumps(answer).encode()
        updated = answer["service"]
        task_definition = self._task_definition_arn(str(updated["taskDefinition"]), headers)
        self.backend.update_service(params, task_definition)
        return 200, self._json({"service": self.backend.overlay({**updated, "taskDefinition": task_definition})})

    def _task_definition_arn(self, reference: str, headers: dict[str, str]) -> str:
        """moto keeps UpdateService's taskDefinition as given (a family, family:revision or ARN); ECS resolves it."""
        if reference.startswith("arn:"):
            return reference
        _, answer = self._moto_json("DescribeTaskDefinition", {"taskDefinition": reference}, headers)
        return str(answer["taskDefinition"]["taskDefinitionArn"])

    def _describe_services(self, raw: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        status, body = self._moto(raw, headers)
        if status != 200:
            return status, body
        answer = json.loads(body)
        answer["services"] = [self.backend.overlay(s) for s in answer.get("services", [])]
        return 200, self._json(answer)
