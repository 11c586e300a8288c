"""alerts.errors: Lambda function errors and Step Functions execution failures, rule edges."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.errors import ErrorSettings, detect_errors, poisson_tail
from tests.unit.store_frames import APP, Values, frame, machine_arn, minute, series

pytestmark = pytest.mark.unit

MACHINE_ARN = machine_arn("order-fulfilment")


def function(name: str, invocations: Values, errors: Values, **dims: str) -> pd.DataFrame:
    dimensions = {"FunctionName": name, **dims}
    return frame(
        series("AWS/Lambda", "Invocations", dimensions, invocations, resource=f"lambda:{name}"),
        series("AWS/Lambda", "Errors", dimensions, errors, resource=f"lambda:{name}"),
    )


def machine(started: Values, failed: Values, timed_out: Values | None = None) -> pd.DataFrame:
    dims = {"StateMachineArn": MACHINE_ARN}
    parts = [
        series("AWS/States", "ExecutionsStarted", dims, started, resource=None),
        series("AWS/States", "ExecutionsFailed", dims, failed, resource=None),
    ]
    if timed_out is not None:
        parts.append(series("AWS/States", "ExecutionsTimedOut", dims, timed_out, resource=None))
    return frame(*parts)


def failures(function_name: str, dependency: str, values: Values) -> pd.DataFrame:
    return series(
        APP, "DownstreamFailures", {"Function": function_name, "Dependency": dependency}, values
    )


def detect(metrics: pd.DataFrame, *, now: float, **overrides: object):
    return detect_errors(metrics, now=minute(now), settings=ErrorSettings(**overrides))


def test_errors_exactly_at_count_and_rate_for_two_periods() -> None:
    # 3 errors = the minimum and exactly 5% of 60 invocations.
    found = detect(function("checkout", [60] * 4, [0, 3, 3, 0]), now=4)
    assert len(found) == 1
    f = found[0]
    assert (f.kind, f.resource, f.downstream) == ("function-errors", "lambda:checkout", None)
    assert (f.start, f.end, f.detected_at) == (minute(1), minute(3), minute(3))
    assert f.severity == "low"
    assert f.evidence["errors"] == 6
    assert f.evidence["invocations"] == 120
    assert f.evidence["peak_rate"] == 0.05


@pytest.mark.parametrize(("invocations", "errors"), [(61, 3), (20, 2)])
def test_just_below_rate_or_count_is_nothing(invocations: float, errors: float) -> None:
    # 3 < 5% of 61; 2 errors are 10% but under the minimum count.
    assert detect(function("checkout", [invocations] * 4, [errors] * 4), now=4) == []


def test_one_period_short_of_sustained_is_nothing() -> None:
    assert detect(function("checkout", [60] * 4, [0, 30, 0, 0]), now=4) == []
    two = function("checkout", [60] * 4, [0, 30, 30, 0])
    assert detect(two, now=4, min_periods=3) == []
    assert len(detect(two, now=4)) == 1


def test_gaps_within_max_gap_bridge_and_longer_gaps_do_not() -> None:
    metrics = function("checkout", [60] * 7, [30, 0, 0, 30, 0, 0, 0])
    f = detect(metrics, now=7, max_gap=2)
    assert [(x.start, x.detected_at, x.end) for x in f] == [(minute(0), minute(4), minute(4))]
    assert detect(metrics, now=7, max_gap=1) == []


def test_an_idle_minute_without_datapoints_counts_as_zero() -> None:
    metrics = function("checkout", [10, None, 10], [5, None, 5])
    assert detect(metrics, now=3, max_gap=0) == []
    assert len(detect(metrics, now=3, max_gap=1)) == 1


def test_quiet_week_with_occasional_errors_finds_nothing() -> None:
    rng = np.random.default_rng(3)
    n = 7 * 24 * 60
    invocations = rng.poisson(40, n).astype(float)
    errors = rng.binomial(1, 0.02, n).astype(float) * rng.integers(1, 3, n)
    errors[::1009] = 10  # a lone bad minute now and then
    assert detect(function("checkout", list(invocations), list(errors)), now=n) == []


@pytest.mark.parametrize(
    ("errors", "severity"),
    [(5, "low"), (9, "low"), (10, "medium"), (25, "high"), (49, "high"), (50, "critical")],
)
def test_severity_follows_the_error_rate(errors: float, severity: str) -> None:
    found = detect(function("checkout", [100, 100], [errors, errors]), now=2)
    assert [f.severity for f in found] == [severity]


def test_errors_counted_where_they_end_never_rate_above_one() -> None:
    # Errors in a minute with fewer invocations (retries of earlier events ending now).
    found = detect(function("checkout", [2, 2], [5, 5]), now=2)
    assert found[0].evidence["peak_rate"] == 1.0
    assert found[0].severity == "critical"


def test_ongoing_errors_have_no_end() -> None:
    f = detect(function("checkout", [60] * 3, [0, 9, 9]), now=3)
    assert f[0].end is None and f[0].ongoing


def test_periods_not_ended_by_now_are_ignored() -> None:
    metrics = function("checkout", [60] * 3, [0, 9, 9])
    assert detect(metrics, now=2.5) == []


def test_per_alias_series_are_not_double_counted() -> None:
    alias = function("checkout", [60] * 3, [9] * 3, Resource="checkout:live")
    assert detect(alias, now=3) == []


def test_other_periods_and_statistics_are_not_read() -> None:
    five = function("checkout", [60] * 3, [9] * 3).assign(period_s=300)
    average = function("checkout", [60] * 3, [9] * 3).assign(stat="Average")
    assert detect(frame(five, average), now=20) == []


def test_downstream_is_the_dependency_failing_most_during_the_run() -> None:
    metrics = frame(
        function("checkout", [60] * 4, [0, 9, 9, 0]),
        failures("checkout", "payment-api", [0, 8, 8, 0]),
        failures("checkout", "inventory-db", [0, 1, 1, 0]),
        failures("checkout", "tax-api", [9, 0, 0, 9]),  # failing outside the run
        failures("refunds", "tax-api", [0, 50, 50, 0]),  # another function
    )
    f = detect(metrics, now=4)[0]
    assert f.downstream == "payment-api"
    assert f.evidence["dependency_failures"] == {"inventory-db": 2, "payment-api": 16}
    assert "payment-api" in f.summary


def test_a_couple_of_dependency_failures_do_not_name_a_downstream() -> None:
    metrics = frame(
        function("checkout", [60] * 2, [9, 9]), failures("checkout", "payment-api", [1, 1])
    )
    assert detect(metrics, now=2)[0].downstream is None


def test_execution_failures_count_failed_and_timed_out_executions() -> None:
    # 2 failed + 1 timed out = 3 of 60 started: exactly at both thresholds.
    metrics = machine([60] * 3, [2, 2, 0], timed_out=[1, 1, 0])
    f = detect(metrics, now=3)
    assert [(x.kind, x.resource, x.start, x.detected_at) for x in f] == [
        ("execution-failures", "states:order-fulfilment", minute(0), minute(2))
    ]
    assert f[0].evidence["failures"] == 6
    assert f[0].evidence["timed_out"] == 2
    assert detect(metrics, now=3, count_timed_out=False) == []


def test_executions_failing_with_no_new_starts_still_count() -> None:
    assert len(detect(machine([0, 0], [4, 4]), now=2)) == 1


def test_empty_inputs_find_nothing() -> None:
    assert detect_errors(pd.DataFrame(), now=minute(5)) == []
    assert detect(frame(), now=5) == []


def test_sorted_and_deterministic_whatever_the_row_order() -> None:
    metrics = frame(
        function("b", [60] * 6, [0, 9, 9, 0, 0, 0]),
        function("a", [60] * 6, [0, 0, 0, 9, 9, 0]),
        function("c", [60] * 6, [0, 9, 9, 0, 0, 0]),
        machine([60] * 6, [9, 9, 0, 0, 0, 0]),
    )
    found = detect(metrics, now=6)
    again = detect(metrics.sample(frac=1.0, random_state=1).reset_index(drop=True), now=6)
    assert found == again
    assert [f.resource for f in found] == [
        "states:order-fulfilment",
        "lambda:b",
        "lambda:c",
        "lambda:a",
    ]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    errors=st.lists(st.integers(0, 10), min_size=2, max_size=40),
    failed=st.lists(st.integers(0, 6), min_size=2, max_size=40),
    cut=st.integers(1, 40),
    min_periods=st.integers(1, 3),
    max_gap=st.integers(0, 3),
)
def test_no_look_ahead_property(
    errors: list[int], failed: list[int], cut: int, min_periods: int, max_gap: int
) -> None:
    metrics = frame(
        function("checkout", [40] * len(errors), errors), machine([30] * len(failed), failed)
    )
    n = max(len(errors), len(failed))
    cut = min(cut, n)
    options = {"min_periods": min_periods, "max_gap": max_gap}
    full = detect(metrics, now=n, **options)
    at_cut = detect(metrics, now=cut, **options)
    assert at_cut == detect(metrics[metrics["ts"] < minute(cut)], now=cut, **options)
    past = {(f.resource, f.start, f.detected_at) for f in full if f.detected_at <= minute(cut)}
    assert {(f.resource, f.start, f.detected_at) for f in at_cut} == past


# -- the baseline: each resource judged against its own recent error rate ------------------------

HOURS = 7 * 60  # minutes of history in the baseline tests


def one_in(every: int, n: int = HOURS) -> list[float | None]:
    """One error every ``every`` minutes (from minute ``every - 1``): a steady low error rate."""
    return [1.0 if i % every == every - 1 else 0.0 for i in range(n)]


def with_errors(base: list[float | None], at: int, *values: float) -> list[float | None]:
    out = list(base)
    out[at : at + len(values)] = values
    return out


def resource(kind: str, invocations: Values, errors: Values) -> pd.DataFrame:
    if kind == "function":
        return function("checkout", invocations, errors)
    return machine(invocations, errors)


@pytest.mark.parametrize("kind", ["function", "machine"])
def test_a_one_minute_poisson_blip_on_a_low_traffic_resource_is_no_finding(kind: str) -> None:
    # 40 a minute, 0.2 % failing (one in 480), then 3 of 40 in one minute: 7.5 %, above both
    # thresholds, but one minute in ~12,000 at that baseline (tail probability ~8e-5).
    metrics = resource(kind, [40] * HOURS, with_errors(one_in(12), 400, 3))
    assert detect(metrics, now=HOURS, min_periods=1) == []
    # The rule without a baseline reported it.
    [old] = detect(metrics, now=HOURS, min_periods=1, surprise_p=1.0)
    assert (old.start, old.detected_at) == (minute(400), minute(401))


@pytest.mark.parametrize("kind", ["function", "machine"])
def test_the_same_resource_at_30_percent_for_one_minute_is_found_on_that_minute(kind: str) -> None:
    metrics = resource(kind, [40] * HOURS, with_errors(one_in(12), 400, 12))
    [f] = detect(metrics, now=HOURS, min_periods=1)
    assert (f.start, f.end, f.detected_at) == (minute(400), minute(401), minute(401))
    assert f.evidence["baseline_rate"] == pytest.approx(1 / 480, rel=0.15)
    assert f.evidence["surprise_p"] < 1e-15
    assert f.evidence["thresholds"]["surprise_p"] == 1e-6


def test_a_first_minute_confirmed_by_the_next_one_starts_at_the_first() -> None:
    # The sandbox's payment outage: 3 of 31 (unremarkable alone, ~4e-5), then 2 of 28, which
    # does not hold, but 5 of 59 in the two minutes (~2e-7) confirms the run from its start.
    invocations = with_errors([30.0] * HOURS, 400, 31, 28)
    metrics = function("checkout", invocations, with_errors(one_in(16), 400, 3, 2, 0, 0, 0))
    [f] = detect(metrics, now=HOURS, min_periods=1)
    assert (f.start, f.detected_at, f.end) == (minute(400), minute(402), minute(402))
    assert f.evidence["holding_periods"] == 1
    assert 1e-7 < f.evidence["surprise_p"] < 1e-6


def test_a_chronically_failing_function_is_not_reported_at_every_crossing() -> None:
    # 10 % of 20 invocations fail, minute after minute, for hours: 3 errors (15 %) in some
    # minutes, 0 or 1 in others, so runs of holding minutes start and end all day.
    rng = np.random.default_rng(5)
    errors = rng.binomial(20, 0.10, HOURS).astype(float)
    metrics = function("checkout", [20] * HOURS, list(errors))
    old = detect(metrics, now=HOURS, min_periods=1, surprise_p=1.0)
    assert len(old) >= 20
    found = detect(metrics, now=HOURS, min_periods=1)
    # Judged against the prior at first (0.5 %: a new function failing 10 % is news), then
    # against its own 10 %: nothing once its history outweighs the prior (half an hour here).
    assert found
    assert all(f.start < minute(30) for f in found)
    # A real incident on top still fires on its first minute: 70 % for two minutes (the run
    # may start at a holding minute of the chronic noise just before it).
    incident = with_errors(list(errors), 380, 14, 14)
    [late] = [
        f
        for f in detect(function("checkout", [20] * HOURS, incident), now=HOURS, min_periods=1)
        if f.start >= minute(60)
    ]
    assert minute(376) <= late.start <= minute(380)
    assert late.detected_at == minute(381)


def test_exactly_at_the_surprise_thresholds() -> None:
    # No history: the baseline is the prior, 2**-7 (exact in binary), so 64 invocations expect
    # exactly 0.5 failures and the thresholds can be hit exactly.
    exact = {"prior_rate": 2.0**-7, "prior_invocations": 128.0, "min_periods": 1}
    one = function("checkout", [64], [4])
    p = float(poisson_tail(np.array([4.0]), np.array([0.5]))[0])
    assert len(detect(one, now=1, surprise_p=p, **exact)) == 1
    assert detect(one, now=1, surprise_p=float(np.nextafter(p, 0)), **exact) == []
    # Two holding minutes, judged as sustained only (nothing passes surprise_p=1e-30).
    two = function("checkout", [64, 64], [4, 4])
    q = float(poisson_tail(np.array([8.0]), np.array([1.0]))[0])
    [f] = detect(two, now=2, surprise_p=1e-30, sustained_p=q, **exact)
    assert f.detected_at == minute(2)
    assert (
        detect(two, now=2, surprise_p=1e-30, sustained_p=float(np.nextafter(q, 0)), **exact) == []
    )


def test_cold_start_is_judged_against_the_prior_rate() -> None:
    # A new function (no history): 3 of 40 is ~1e-3 at the prior's 0.5 %, no finding; 12 of 40
    # is a finding on that minute; two minutes exactly at the thresholds confirm as sustained.
    assert detect(function("new", [40], [3]), now=1, min_periods=1) == []
    [f] = detect(function("new", [40], [12]), now=1, min_periods=1)
    assert f.detected_at == minute(1)
    assert f.evidence["baseline_rate"] == 0.005
    [g] = detect(function("new", [60, 60], [3, 3]), now=2, min_periods=1)
    assert (g.start, g.detected_at) == (minute(0), minute(2))


def test_appending_future_data_never_changes_past_findings_with_history() -> None:
    rng = np.random.default_rng(11)
    invocations = rng.poisson(35, HOURS).astype(float)
    errors = rng.poisson(0.004 * invocations).astype(float)
    errors[200:206] = np.round(0.3 * invocations[200:206])  # an incident
    errors[300] = 4  # a blip
    errors[350:420:9] = 5  # waves
    metrics = function("checkout", list(invocations), list(errors))
    full = detect(metrics, now=HOURS, min_periods=1)
    assert full
    for cut in range(195, HOURS, 7):
        at_cut = detect(metrics[metrics["ts"] < minute(cut)], now=cut, min_periods=1)
        past = {(f.resource, f.start, f.detected_at) for f in full if f.detected_at <= minute(cut)}
        assert {(f.resource, f.start, f.detected_at) for f in at_cut} == past, cut


def test_poisson_tail_bounds_the_exact_tail_closely_where_it_is_small() -> None:
    def exact(k: int, mean: float) -> float:
        terms = (i * math.log(mean) - mean - math.lgamma(i + 1) for i in range(k, k + 200))
        return sum(math.exp(t) for t in terms)

    for k, mean in [(3, 0.08), (3, 0.2), (5, 0.6), (12, 0.2), (8, 4.0), (40, 10.0)]:
        bound = float(poisson_tail(np.array([k]), np.array([mean]))[0])
        assert exact(k, mean) <= bound <= exact(k, mean) * (1.25 if mean < k / 2 else 1.7)
    # No failures, or no more than expected: no surprise; failures against nothing expected: 0.
    assert poisson_tail(np.array([0.0, 3.0, 2.0]), np.array([0.5, 5.0, 0.0])).tolist() == [
        1.0,
        1.0,
        0.0,
    ]


@pytest.mark.parametrize(
    "bad",
    [
        {"baseline_window_s": 0},
        {"baseline_lag_s": -1},
        {"prior_rate": 0.0},
        {"prior_invocations": 0.0},
        {"surprise_p": 0.0},
        {"sustained_p": 1.5},
        {"surprise_periods": 0},
    ],
)
def test_invalid_baseline_settings_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ErrorSettings(**bad)
