"""The release state machine's invariants over generated histories, in the faithful world (design.md section 9).

Hypothesis draws histories of pushes, alarms, time and operator commands; each runs in the rehearsal's world
(CodeDeploy's own alarm polls, late and duplicated events, CloudWatch evaluation, IAM enforced), and every invariant
is checked after it. A fixed-seed subset runs here; ``make chaos`` runs at least 500 and prints the counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from pushdeploy_local.proof.histories import History, run_history
from pushdeploy_local.proof.strategies import histories


@pytest.fixture(scope="module")
def world() -> Iterator[Any]:
    import os

    from pushdeploy_local.world.world import World

    environment = dict(os.environ)
    started = World().start()
    yield started
    started.stop()
    os.environ.clear()
    os.environ.update(environment)  # the world's endpoints and names never leak into the next tests


@seed(20261201)
@settings(max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(history=histories)
def test_no_history_breaks_an_invariant(world: Any, history: History) -> None:
    observed = run_history(world, history)

    assert not observed.violations, f"{observed.violations} in {history.describe()}"


LISTED_INCIDENTS = {  # the sequences the release-safety issue lists, as histories the generator may also find
    "flapping-alarm-during-revert": "seed 7: push main; advance 20 min; alarm -> ALARM; advance 0.5 min; "
    "alarm -> OK; alarm -> ALARM; rollback; rollback",
    "supersede-during-revert": "seed 7 on_busy=supersede: push main; advance 20 min; alarm -> ALARM; push v2.3.0",
    "fix-while-alarm-fires": "seed 8: alarm -> ALARM; push v2.1.0; advance 10 min",
    "queued-behind-alarm-rollback": "seed 3: push v2.1.0 (erroring); push v2.2.0; advance 4 min; alarm -> ALARM",
    "codedeploy-polls-first": "seed 5: push main (erroring); advance 2 min; alarm -> ALARM (delivered 90 s late)",
    "same-second-pushes": "seed 9: push main; push main same-second; push v2.4.0 same-second",
    "retag-and-release": "seed 10: push v2.1.0; advance 35 min; retag image#0 as v2.1.1; push v2.2.0 (erroring); "
    "advance 10 min; release; retag image#1 as v2.2.1",
    "duplicates-and-two-tags": "seed 11: push v2.5.0 x2; retag image#0 as main x2 same-second",
    # found by `chaos --histories 500`: a re-tag (ECR keeps its first push time) tied with a later push in one second
    "retag-then-push-in-one-second": "seed 1608 on_busy=supersede: push main (failing-smoke) x2 same-second; "
    "push main (healthy) x2; push main (healthy) x1; advance 4 min; retag image#6 as main x2 same-second; rollback; "
    "push v2.15.0 (healthy) x1 same-second",
    "retried-release-superseded": "seed 49: rollback; advance 0.5 min; retag image#0 as v2.38.0 x2; release; "
    "retag image#3 as main x1 same-second; push main (failing-smoke) x1 same-second; "
    "push v2.16.0 (healthy) x1 same-second; alarm -> ALARM",
    # the same incidents on services ECS deploys itself (the lane keeps one deployment per service)
    "flapping-alarm-during-revert-ecs-blue-green": "seed 7 service=BLUE_GREEN: push main; advance 20 min; "
    "alarm -> ALARM; advance 0.5 min; alarm -> OK; alarm -> ALARM; rollback; rollback",
    "supersede-during-revert-rolling": "seed 7 on_busy=supersede service=ROLLING: push main; advance 20 min; "
    "alarm -> ALARM; push v2.3.0",
    "queued-behind-alarm-rollback-canary": "seed 3 service=CANARY: push v2.1.0 (erroring); push v2.2.0; "
    "advance 4 min; alarm -> ALARM",
    "same-second-pushes-linear": "seed 9 on_busy=supersede service=LINEAR: push main; push main same-second; "
    "push v2.4.0 same-second; advance 2 min; push v2.5.0",
    # found by `chaos --histories 120`: an operator's stop while ECS's deployment was still PENDING (the world let
    # the deployment run on to SUCCESSFUL, a quarantined digest became KNOWN_GOOD)
    "stop-while-pending-ecs-blue-green": "seed 6 service=BLUE_GREEN: retag image#6 as main x1; "
    "alarm -> ALARM (delivered 90 s late); alarm -> ALARM (delivered 90 s late); rollback; "
    "alarm -> OK (delivered 90 s late); rollback",
}


@pytest.mark.parametrize("history", list(LISTED_INCIDENTS.values()), ids=list(LISTED_INCIDENTS))
def test_the_listed_incidents_keep_every_invariant(world: Any, history: str) -> None:
    observed = run_history(world, History.parse(history))

    assert not observed.violations, f"{observed.violations} in {history}"


def test_stops_on_ecs_are_seen_by_the_invariants(world: Any) -> None:
    """The remedy invariant reads every stop pushdeploy sends ECS: an alarm during a canary stops that change."""
    observed = run_history(world, History.parse(LISTED_INCIDENTS["queued-behind-alarm-rollback-canary"]))

    assert [kind for _, kind in observed.stops] == ["change"]
    assert all(":service-deployment/" in deployment for deployment, _ in observed.stops)


def test_a_history_reads_back_as_it_is_printed() -> None:
    history = History.parse(LISTED_INCIDENTS["retag-and-release"])

    assert History.parse(history.describe()) == history
    on_ecs = History.parse(LISTED_INCIDENTS["supersede-during-revert-rolling"])
    assert (on_ecs.controller, on_ecs.on_busy) == ("ROLLING", "supersede")
    assert History.parse(on_ecs.describe()) == on_ecs
    assert history.describe().startswith("seed 10: push v2.1.0 (healthy) x1; advance 35 min; retag image#0 as v2.1.1")
