"""The documented breaker policy, driven through hand-built minutes of outcomes."""

from __future__ import annotations

import pytest

from sandbox.world.breaker_policy import BreakerPolicy, CircuitBreaker
from sandbox.world.model import BreakerState

pytestmark = pytest.mark.unit

C, O, H = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN  # noqa: E741
POLICY = BreakerPolicy(
    window_minutes=5,
    failure_threshold=10,
    failure_rate_threshold=0.5,
    cool_down_s=120,
    probe_requests=5,
)


def drive(minutes: list[tuple[int, int]], policy: BreakerPolicy = POLICY):
    """Each minute offers ``requests``, of which the first ``failures`` admitted ones fail.

    Returns the state at the end of each minute, the admitted counts and the transitions.
    """
    breaker = CircuitBreaker("dep", policy)
    states, admitted, transitions = [], [], []
    for minute, (requests, failures) in enumerate(minutes):
        allowed = breaker.permit(requests)
        failed = min(failures, allowed)
        breaker.record(allowed - failed, failed)
        transition = breaker.end_minute(60.0 * (minute + 1))
        if transition is not None:
            transitions.append(transition)
        states.append(breaker.state)
        admitted.append(allowed)
    return states, admitted, transitions


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        pytest.param([(9, 9)], [C], id="below-the-failure-count-stays-closed"),
        pytest.param([(10, 10)], [O], id="threshold-count-at-full-rate-opens"),
        pytest.param([(20, 10)], [O], id="exactly-threshold-and-exactly-half-opens"),
        pytest.param([(21, 10)], [C], id="rate-just-below-half-stays-closed"),
        pytest.param([(60, 20)], [C], id="many-failures-at-a-low-rate-stay-closed"),
        pytest.param([(2, 2)] * 5, [C, C, C, C, O], id="failures-accumulate-over-the-window"),
        pytest.param(
            [(2, 2), (0, 0), (0, 0), (0, 0), (0, 0), (2, 2), (2, 2), (2, 2), (2, 2)],
            [C] * 9,
            id="failures-older-than-the-window-fall-out",
        ),
    ],
)
def test_closed_opens_on_failure_threshold_over_the_window(minutes, expected):
    states, admitted, _ = drive(minutes)
    assert states == expected
    assert admitted == [r for r, _ in minutes]  # closed admits everything


@pytest.mark.parametrize(
    ("after_open", "expected"),
    [
        pytest.param([(50, 0), (50, 0)], [O, H], id="half-open-once-cool-down-has-passed"),
        pytest.param([(50, 0), (50, 0), (50, 0)], [O, H, C], id="five-good-probes-close-it"),
        pytest.param([(50, 0), (50, 0), (50, 1)], [O, H, O], id="one-failed-probe-reopens"),
        pytest.param(
            [(50, 0), (50, 0), (2, 0), (2, 0), (2, 0)],
            [O, H, H, H, C],
            id="probes-accumulate-over-minutes-until-enough",
        ),
        pytest.param(
            [(0, 0), (0, 0), (0, 0), (0, 0)], [O, H, H, H], id="no-traffic-stays-half-open"
        ),
    ],
)
def test_open_cools_down_then_probes_decide(after_open, expected):
    states, admitted, _ = drive([(10, 10), *after_open])
    assert states[0] is O
    assert states[1:] == expected
    # while OPEN nothing is admitted; HALF_OPEN admits at most the probe budget in total
    open_minutes = [a for a, s in zip(admitted[1:], [O, *states[1:-1]], strict=True) if s is O]
    assert all(a == 0 for a in open_minutes)
    assert sum(a for a, s in zip(admitted[1:], [O, *states[1:-1]], strict=True) if s is H) <= 5


def test_reopening_restarts_the_cool_down():
    states, _, transitions = drive([(10, 10), (9, 0), (9, 0), (9, 9), (9, 0), (9, 0), (9, 0)])
    assert states == [O, O, H, O, O, H, C]
    assert [(t.from_state, t.to_state, t.ts) for t in transitions] == [
        (C, O, 60.0),
        (O, H, 180.0),
        (H, O, 240.0),
        (O, H, 360.0),
        (H, C, 420.0),
    ]


def test_transitions_say_why_and_counters_follow_the_state():
    breaker = CircuitBreaker("payment-api", POLICY)
    breaker.record(5, 12)
    opened = breaker.end_minute(60.0)
    assert opened is not None
    assert opened.reason == "12 failures of 17 requests in 5 min"
    assert (breaker.failure_count, breaker.success_count) == (12, 5)  # what tripped it
    breaker.end_minute(120.0)
    half = breaker.end_minute(180.0)
    assert half is not None
    assert half.reason == "cool-down of 120 s over"
    assert (breaker.failure_count, breaker.success_count) == (0, 0)
    assert breaker.permit(3) == 3
    breaker.record(3, 0)
    assert breaker.end_minute(240.0) is None
    assert (breaker.failure_count, breaker.success_count) == (0, 3)  # probes so far
    assert breaker.permit(10) == 2  # the rest of the probe budget


def test_closing_empties_the_window():
    # the 10 failures that opened it no longer count once it has closed
    states, _, _ = drive([(10, 10), (0, 0), (0, 0), (5, 0), (1, 1)])
    assert states == [O, O, H, C, C]
