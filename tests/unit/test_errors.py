"""alerts.errors: Lambda function errors and Step Functions execution failures, rule edges."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.errors import ErrorSettings, detect_errors
from collectors.schema import METRICS

pytestmark = pytest.mark.unit

ACCOUNT, REGION = "111111111111", "us-east-1"
T0 = pd.Timestamp("2024-06-10 12:00", tz="UTC")
APP = "OrderPipeline/Resilience"
MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:order-fulfilment"
Values = list[float | None]


def minute(n: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(minutes=n)


def series(
    namespace: str,
    metric: str,
    dimensions: dict[str, str],
    values: Values,
    *,
    resource: str | None = "",
    period: int = 60,
    stat: str = "Sum",
) -> pd.DataFrame:
    """One metric series as store rows; a None value is a period with no datapoint."""
    index = np.array([i for i, v in enumerate(values) if v is not None], dtype=np.int64)
    return pd.DataFrame(
        {
            "account": ACCOUNT,
            "region": REGION,
            "namespace": namespace,
            "metric": metric,
            "dimensions": ",".join(f"{k}={v}" for k, v in sorted(dimensions.items())),
            "stat": stat,
            "period_s": period,
            "ts": pd.DatetimeIndex(T0 + pd.to_timedelta(index * period, unit="s"))
            .as_unit("ms")
            .to_numpy(),
            "resource": resource,
            "value": np.array([values[i] for i in index], dtype=np.float64),
        },
        columns=METRICS.columns,
    )


def frame(*parts: pd.DataFrame) -> pd.DataFrame:
    parts = tuple(p for p in parts if not p.empty)
    if not parts:
        return pd.DataFrame(columns=METRICS.columns)
    return pd.concat(parts, ignore_index=True)


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
