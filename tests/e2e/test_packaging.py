"""`pip install <the project>` without extras gives a working `pushdeploy` for real accounts, with no moto.

A fresh virtual environment, the project installed from this checkout as a user would (its declared
dependencies from the package registry), then the commands a user runs first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.helpers import ROOT

TARGETS = """\
targets:
  - name: web
    repository: web
    tag_pattern: '^main$'
    application: web-app
    deployment_group: web-group
    container_name: web
    container_port: 8080
  - name: broken
    repository: web
    tag_pattern: '('
    application: web-app
    deployment_group: web-group
    container_name: web
    container_port: 8080
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("fresh")
    venv.EnvBuilder(with_pip=True).create(home / "venv")
    bin_dir = home / "venv" / "bin"
    subprocess.run(
        [str(bin_dir / "pip"), "install", "--quiet", "--disable-pip-version-check", str(ROOT)],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return bin_dir


def run(bin_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PUSHDEPLOY_", "AWS_", "PYTHONPATH"))}
    return subprocess.run(
        [str(bin_dir / "pushdeploy"), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


@pytest.mark.skipif(sys.version_info < (3, 11), reason="the project needs Python 3.11+")
def test_the_cli_installs_without_moto_and_validates_a_file_offline(installed: Path, tmp_path: Path) -> None:
    no_moto = subprocess.run([str(installed / "python"), "-c", "import moto"], capture_output=True, text=True)
    assert no_moto.returncode != 0 and "No module named 'moto'" in no_moto.stderr

    version = run(installed, "--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("pushdeploy "), version

    path = tmp_path / "targets.yaml"
    path.write_text(TARGETS)
    validated = run(installed, "targets", "validate", str(path), "--output", "json", cwd=tmp_path)
    assert validated.returncode == 2, validated  # one target is invalid: bad input
    assert "Traceback" not in validated.stderr
    answer = json.loads(validated.stdout)
    assert answer["valid"] is False and answer["targets"] == ["broken", "web"]
    problems = {(p["target"], p["field"]) for p in answer["problems"]}
    assert problems == {("broken", "tag_pattern"), ("broken", "deployment_group"), ("web", "deployment_group")}


def test_the_rehearsal_without_its_extra_says_how_to_get_it(installed: Path, tmp_path: Path) -> None:
    answer = run(installed, "rehearse", cwd=tmp_path)
    assert answer.returncode == 2
    assert "pushdeploy[rehearse]" in answer.stderr and "Traceback" not in answer.stderr
