"""`--wait` reports the true final status: a stop or a rollback is a failure for a deploy, and a rollback command
succeeds when CodeDeploy's rollback deployment does."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from pushdeploy.model.deployments import Deployment
from pushdeploy_cli.commands.wait import wait


def services(*answers: Deployment) -> Any:
    pending = list(answers)
    return SimpleNamespace(inspection=SimpleNamespace(wait_for=lambda deployment_id, **_: (pending.pop(0), True)))


STOPPED = Deployment("d-STOPPED", "app", "group", "Stopped", rollback_deployment_id="d-ROLLBACK")
ROLLED_BACK = Deployment("d-ROLLBACK", "app", "group", "Succeeded")


def test_a_deploy_that_was_stopped_is_a_failure():
    answer = wait(services(STOPPED), "d-STOPPED", timeout=60)

    assert answer.code == 1 and "rolled back by d-ROLLBACK" in answer.rows[0][2]


def test_a_rollback_succeeds_when_codedeploys_rollback_deployment_does():
    answer = wait(services(STOPPED, ROLLED_BACK), "d-STOPPED", timeout=60, follow_rollback=True)

    assert answer.code == 0
    assert answer.title == "deployment d-STOPPED: Stopped, rolled back by d-ROLLBACK: Succeeded"
