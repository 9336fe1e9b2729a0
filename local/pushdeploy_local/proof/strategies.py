"""Hypothesis strategies for :mod:`pushdeploy_local.proof.histories`: what on-call life throws at a target.

Services under CodeDeploy and under ECS's own controller (blue/green, linear, canary, rolling); moving (``main``) and
fixed (``v2.N.0``) tags, healthy and bad images, same-second pairs, re-tags of older images, redelivered events, alarms
that fire, clear and arrive late, time passing, and an operator's rollback and release.
"""

from __future__ import annotations

from hypothesis import strategies as st

from pushdeploy_local.proof.histories import History, Step

_tags = st.one_of(st.just("main"), st.integers(0, 40).map(lambda n: f"v2.{n}.0"))

pushes = st.builds(
    Step,
    kind=st.just("push"),
    tag=_tags,
    app=st.sampled_from(("healthy", "healthy", "erroring", "failing-smoke")),
    same_second=st.booleans(),
    deliveries=st.sampled_from((1, 1, 2)),
)
retags = st.builds(
    Step,
    kind=st.just("retag"),
    tag=_tags,
    image=st.integers(0, 6),
    same_second=st.booleans(),
    deliveries=st.sampled_from((1, 2)),
)
alarms = st.builds(
    Step,
    kind=st.just("alarm"),
    state=st.sampled_from(("ALARM", "ALARM", "OK")),
    delay=st.sampled_from((0.0, 0.0, 90.0)),
)
advances = st.builds(Step, kind=st.just("advance"), minutes=st.sampled_from((0.5, 2.0, 4.0, 10.0, 20.0, 35.0)))
operator = st.sampled_from((Step("rollback"), Step("release")))

steps = st.one_of(pushes, pushes, retags, alarms, advances, advances, operator)
histories = st.builds(
    History,
    seed=st.integers(0, 99_999),
    steps=st.lists(steps, min_size=1, max_size=8).map(tuple),
    on_busy=st.sampled_from(("queue-latest", "queue-latest", "supersede", "reject")),
    controller=st.sampled_from(  # about half CodeDeploy, half ECS's own controller with each of its strategies
        ("CODE_DEPLOY", "CODE_DEPLOY", "CODE_DEPLOY", "BLUE_GREEN", "LINEAR", "CANARY", "ROLLING")
    ),
)
