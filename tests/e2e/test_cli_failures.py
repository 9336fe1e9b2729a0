"""The operator CLI with AWS missing or refusing: every failure is one line on stderr (or a JSON object) with the
documented exit code, never a traceback. The CLI runs as a subprocess, as a person runs it."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

NO_NETWORK_SURPRISES = {"AWS_EC2_METADATA_DISABLED": "true", "AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "standard"}


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``pushdeploy`` with no AWS configuration at all, plus ``env``."""
    base = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("AWS_", "PUSHDEPLOY_"))}
    base |= {"AWS_CONFIG_FILE": str(tmp_path / "no-config"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-creds")}
    return subprocess.run(
        [sys.executable, "-m", "pushdeploy_cli", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # no samconfig.toml here
        env=base | NO_NETWORK_SURPRISES | env,
        timeout=120,
        check=False,
    )


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


FAKE_KEYS = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "example"}


def test_no_region_at_all(tmp_path):
    done = run(tmp_path, "status")

    assert done.returncode == 2
    assert one_line(done) == (
        "pushdeploy status: no AWS region: pass --region or set AWS_REGION (or a region in your profile)"
    )


def test_no_credentials(tmp_path):
    done = run(tmp_path, "history", "shop-prod", "--region", "eu-west-1")

    assert done.returncode == 2 and "no AWS credentials: pass --profile" in one_line(done)


def test_a_missing_profile(tmp_path):
    done = run(tmp_path, "status", "--profile", "nobody", "--region", "eu-west-1")

    assert done.returncode == 2 and "AWS profile 'nobody' not found" in one_line(done)


def test_a_region_that_does_not_exist(tmp_path):
    done = run(tmp_path, "status", "--region", "xx-nowhere-9", **FAKE_KEYS)

    assert done.returncode == 1 and "cannot reach AWS in xx-nowhere-9" in one_line(done)


class _Aws(http.server.BaseHTTPRequestHandler):
    """CloudFormation as a locked-down or empty account answers DescribeStacks."""

    answer: tuple[int, str] = (400, "")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status, body = self.answer
        self.send_response(status)
        self.send_header("Content-Type", "text/xml")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        return


def _error(code: str, message: str) -> str:
    return (
        '<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type>'
        f"<Code>{code}</Code><Message>{message}</Message></Error><RequestId>r</RequestId></ErrorResponse>"
    )


@pytest.fixture
def aws() -> Iterator[type[_Aws]]:
    handler = type("Handler", (_Aws,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    yield handler
    server.shutdown()


def test_a_missing_stack(tmp_path, aws):
    aws.answer = (400, _error("ValidationError", "Stack with id pushdeploy-dev does not exist"))

    done = run(
        tmp_path, "status", "--stack", "pushdeploy-dev", "--region", "eu-west-1", AWS_ENDPOINT_URL=aws.url, **FAKE_KEYS
    )

    assert done.returncode == 3
    assert "stack pushdeploy-dev not found" in one_line(done) and "in eu-west-1: pass --stack" in one_line(done)


def test_a_denied_call_names_the_operation(tmp_path, aws):
    aws.answer = (
        403,
        _error(
            "AccessDenied", "User: arn:aws:iam::1:user/me is not authorized to perform: cloudformation:DescribeStacks"
        ),
    )

    done = run(tmp_path, "status", "--region", "eu-west-1", AWS_ENDPOINT_URL=aws.url, **FAKE_KEYS)

    assert done.returncode == 1
    assert one_line(done).startswith("pushdeploy status: not authorized: DescribeStacks: User: arn:aws:iam::1:user/me")


def test_errors_are_json_with_output_json(tmp_path, aws):
    aws.answer = (400, _error("Throttling", "Rate exceeded"))

    done = run(tmp_path, "status", "--output", "json", "--region", "eu-west-1", AWS_ENDPOINT_URL=aws.url, **FAKE_KEYS)

    assert done.returncode == 1 and "Traceback" not in done.stderr
    answer = json.loads(done.stdout)
    assert answer["code"] == 1 and answer["error"].startswith("AWS throttled DescribeStacks after retries")


def test_debug_shows_the_traceback(tmp_path):
    done = run(tmp_path, "--debug", "status")

    assert done.returncode == 1 and "Traceback" in done.stderr and "NoRegionError" in done.stderr


def test_the_stack_comes_from_the_environment_then_samconfig(tmp_path, aws):
    aws.answer = (400, _error("ValidationError", "Stack does not exist"))
    (tmp_path / "samconfig.toml").write_text(
        'version = 0.1\n[dev.global.parameters]\nstack_name = "pushdeploy-dev"\nregion = "eu-central-1"\n'
    )
    common = {"AWS_ENDPOINT_URL": aws.url, **FAKE_KEYS}

    from_samconfig = run(tmp_path, "status", "--config-env", "dev", **common)
    from_environment = run(tmp_path, "status", "--config-env", "dev", PUSHDEPLOY_STACK="from-env", **common)
    default = run(tmp_path, "status", "--region", "eu-west-1", **common)

    assert "stack pushdeploy-dev not found" in one_line(from_samconfig)  # its region came from samconfig too
    assert "stack from-env not found" in one_line(from_environment)
    assert "stack pushdeploy not found" in one_line(default)


def test_the_profiles_region_wins_over_samconfigs(tmp_path, aws):
    aws.answer = (400, _error("ValidationError", "Stack does not exist"))
    (tmp_path / "samconfig.toml").write_text('version = 0.1\n[default.global.parameters]\nregion = "us-west-2"\n')
    (tmp_path / "profiles").write_text(
        "[profile oncall]\nregion = eu-west-1\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = example\n"
    )

    done = run(
        tmp_path,
        "status",
        "--profile",
        "oncall",
        AWS_ENDPOINT_URL=aws.url,
        AWS_CONFIG_FILE=str(tmp_path / "profiles"),
        **FAKE_KEYS,
    )

    assert "stack pushdeploy not found" in one_line(done) and "in eu-west-1:" in one_line(done)
