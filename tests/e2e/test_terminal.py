"""What a person sees at a terminal: `pushdeploy rehearse --shell` keeps the world up and takes operator commands;
`rollback` asks with exactly what will happen, `deploy --wait` shows a live progress line and the true final status.
Driven through a pseudo-terminal (pexpect), as a person would."""

from __future__ import annotations

import os
import sys

import pytest

from tests.helpers import ROOT

pexpect = pytest.importorskip("pexpect")


def test_rollback_prompt_and_deploy_progress_at_a_terminal():
    session = pexpect.spawn(
        sys.executable,
        ["-m", "pushdeploy_cli", "rehearse", "--seed", "4", "--scenario", "happy-canary", "--quiet", "--shell"],
        cwd=str(ROOT),
        encoding="utf-8",
        timeout=120,
        dimensions=(40, 200),
        env={**os.environ, "COLUMNS": "200", "LINES": "40"},  # what a terminal of that size says (pytest may not)
    )
    try:
        session.expect(r"virtual\]> ")

        session.sendline("rollback sample-app-prod")
        session.expect(r"This will deploy v1\.0\.0 \(sha256:[0-9a-f]{64}\) over v1\.1\.0 on sample-app-prod; ")
        session.expect(r"v1\.1\.0 \(sha256:[0-9a-f]{64}\) will be quarantined\. Proceed\? \[y/N\] ")
        session.sendline("n")
        session.expect("not confirmed: nothing changed")
        session.expect(r"\(exit 2\)")

        session.expect(r"virtual\]> ")
        session.sendline("deploy sample-app-prod --tag v1.0.0 --wait --poll 20")
        session.expect(r"d-\w+ InProgress at \w+: ")  # the live line: status, lifecycle step, hooks so far, traffic
        session.expect(r"deployment d-\w+: Succeeded")
        session.expect(r"\(exit 0\)")

        session.expect(r"virtual\]> ")
        session.sendline("history sample-app-prod --limit 1")  # the world went on: the success is recorded
        session.expect(r"virtual\]> ")
        table = session.before  # a rich table at a terminal: cells may wrap
        assert "v1.0.0" in table and "manual" in table and "SUCCEEDED" in table, table
        session.sendline("advance 2m")
        session.expect(r"now \d\d:\d\d:\d\d virtual")

        session.expect(r"virtual\]> ")
        session.sendline("")
        session.expect(r"rehearsal: 1 passed, 0 failed")
        session.expect(pexpect.EOF)
    finally:
        session.close()
    assert session.exitstatus == 0, session.before
