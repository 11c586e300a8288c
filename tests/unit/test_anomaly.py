"""The anomaly band: robust, seasonal, online, and quiet on noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.anomaly import (
    DEFAULT_THRESHOLD,
    AnomalySettings,
    WatchedMetric,
    detect_anomalies,
    score_frame,
    score_series,
)

pytestmark = pytest.mark.unit

T0 = pd.Timestamp("2026-11-01T00:00Z")


def minutes(n: int, step_s: int = 60) -> pd.DatetimeIndex:
    return pd.date_range(T0, periods=n, freq=pd.Timedelta(seconds=step_s))


def daily(n: int, *, base: float = 100.0, amp: float = 40.0, noise: float = 3.0, seed: int = 1):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return base + amp * np.sin(2 * np.pi * t / 1440) + rng.normal(0, noise, n)


def test_output_shape_and_range() -> None:
    x = daily(3000)
    out = score_series(minutes(3000), x)
    assert list(out.columns) == ["expected", "lower", "upper", "score"]
    assert len(out) == 3000
    assert out["score"].between(0, 1).all()
    assert out["score"].iloc[:100].eq(0).all()  # cold start: nothing judged yet


def test_empty_and_mismatched_inputs() -> None:
    assert score_series([], np.array([])).empty
    with pytest.raises(ValueError, match="3 timestamps for 2 values"):
        score_series(minutes(3), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="sorted"):
        score_series(minutes(3)[::-1], np.array([1.0, 2.0, 3.0]))


def test_noise_alone_stays_below_the_alert_threshold() -> None:
    n = 4 * 1440
    scores = score_series(minutes(n), daily(n, seed=3))["score"]
    assert scores.max() < DEFAULT_THRESHOLD


def test_a_spike_is_caught_and_does_not_widen_the_band() -> None:
    n = 3 * 1440
    x = daily(n)
    x[2000] += 200.0
    out = score_series(minutes(n), x)
    assert out["score"].iloc[2000] >= DEFAULT_THRESHOLD
    # One spike: the band an hour later is as narrow as before it.
    width = (out["upper"] - out["lower"]).to_numpy()
    assert width[2060] < 1.5 * width[1990]
    # A second, identical spike later is still caught.
    y = x.copy()
    y[2300] += 200.0
    assert score_series(minutes(n), y)["score"].iloc[2300] >= DEFAULT_THRESHOLD


def test_a_level_shift_is_caught_then_adopted() -> None:
    n = 2000
    rng = np.random.default_rng(5)
    x = 50 + rng.normal(0, 1.0, n)
    x[1200:] += 15.0
    score = score_series(minutes(n), x)["score"].to_numpy()
    assert score[1200:1203].max() >= DEFAULT_THRESHOLD
    assert score[1400:].max() < DEFAULT_THRESHOLD  # after a while the new level is normal


def test_a_job_that_runs_on_is_caught_though_each_point_looks_like_a_job() -> None:
    """A job spikes the metric for two minutes every 15 (learnt as normal); one that runs on
    for half an hour has no single point higher than usual, but its run is new."""
    n = 1440
    rng = np.random.default_rng(9)
    x = 20 + rng.normal(0, 1.0, n)
    on_schedule = (np.arange(n) % 15) < 2
    x[on_schedule] += 30.0
    quiet = score_series(minutes(n), x)["score"].to_numpy()
    assert quiet[200:].max() < DEFAULT_THRESHOLD  # the schedule is normal
    x[1000:1030] = 50 + rng.normal(0, 1.0, 30)
    score = score_series(minutes(n), x)["score"].to_numpy()
    assert score[1000:1010].max() >= DEFAULT_THRESHOLD
    assert score[:1000].max() < DEFAULT_THRESHOLD


def test_daily_seasonality_is_learnt() -> None:
    """A daily peak that looks like a spike to a local model is expected once days repeat."""
    n = 6 * 1440
    rng = np.random.default_rng(2)
    x = 20 + rng.normal(0, 1.0, n)
    for day in range(6):
        x[day * 1440 + 600 : day * 1440 + 610] += 30.0  # a batch job every day at 10:00
    score = score_series(minutes(n), x)["score"].to_numpy()
    last_day = score[5 * 1440 + 600 : 5 * 1440 + 610]
    assert last_day.max() < DEFAULT_THRESHOLD


def test_gaps_are_not_zeros() -> None:
    n = 2000
    x = daily(n)
    ts = minutes(n)
    keep = np.ones(n, dtype=bool)
    keep[1000:1100] = False  # 100 minutes missing
    out = score_series(ts[keep], x[keep])
    assert len(out) == keep.sum()
    assert out["score"].max() < DEFAULT_THRESHOLD


def test_nan_values_score_zero() -> None:
    x = daily(1500)
    x[1400] = np.nan
    out = score_series(minutes(1500), x)
    assert out["score"].iloc[1400] == 0.0


def test_sparse_counts_judge_bursts_not_single_events() -> None:
    n = 3000
    rng = np.random.default_rng(9)
    x = rng.poisson(0.05, n).astype(float)  # mostly zeros, an event now and then
    quiet = score_series(minutes(n), x)["score"]
    assert quiet.max() < DEFAULT_THRESHOLD
    x[2500] = 12.0
    assert score_series(minutes(n), x)["score"].iloc[2500] >= DEFAULT_THRESHOLD


def test_near_constant_series_ignores_tiny_wiggles() -> None:
    n = 2000
    x = np.full(n, 543.07)
    x[::97] = 543.08  # a rounding flicker
    assert score_series(minutes(n), x)["score"].max() < DEFAULT_THRESHOLD
    x[1800] = 900.0
    assert score_series(minutes(n), x)["score"].iloc[1800] >= DEFAULT_THRESHOLD


def test_five_minute_periods_are_handled() -> None:
    n = 3000
    rng = np.random.default_rng(4)
    x = 10 + 3 * np.sin(2 * np.pi * np.arange(n) / 288) + rng.normal(0, 0.3, n)
    x[2500] += 6
    out = score_series(minutes(n, 300), x)
    assert out["score"].iloc[2500] >= DEFAULT_THRESHOLD
    assert np.delete(out["score"].to_numpy(), range(2495, 2506)).max() < DEFAULT_THRESHOLD


@settings(max_examples=15, deadline=None)
@given(cut=st.integers(min_value=200, max_value=1900), seed=st.integers(0, 1000))
def test_no_look_ahead(cut: int, seed: int) -> None:
    """Appending future data never changes a past score or band."""
    rng = np.random.default_rng(seed)
    n = 2000
    x = daily(n, seed=seed) + np.where(rng.random(n) < 0.01, 50.0, 0.0)
    full = score_series(minutes(n), x)
    part = score_series(minutes(n)[:cut], x[:cut])
    pd.testing.assert_frame_equal(full.iloc[:cut].reset_index(drop=True), part)


def test_deterministic() -> None:
    x = daily(2500)
    a = score_series(minutes(2500), x)
    b = score_series(minutes(2500), x.copy())
    pd.testing.assert_frame_equal(a, b)


def test_score_frame_scores_each_series_on_its_own() -> None:
    n = 1500
    a, b = daily(n, seed=1), daily(n, base=5, amp=1, noise=0.1, seed=2)
    frame = pd.DataFrame(
        {
            "series": ["a"] * n + ["b"] * n,
            "ts": list(minutes(n)) * 2,
            "value": np.concatenate([a, b]),
        }
    ).sample(frac=1.0, random_state=0)
    scored = score_frame(frame, by=["series"])
    alone = score_series(minutes(n), b)
    got = scored[scored["series"] == "b"]["score"].to_numpy()
    np.testing.assert_array_equal(got, alone["score"].to_numpy())


def metric_rows(values: np.ndarray, *, metric: str = "Errors", stat: str = "Sum") -> pd.DataFrame:
    n = len(values)
    return pd.DataFrame(
        {
            "account": "111111111111",
            "region": "us-east-1",
            "namespace": "AWS/Lambda",
            "metric": metric,
            "dimensions": "FunctionName=checkout",
            "stat": stat,
            "period_s": 60,
            "ts": minutes(n),
            "resource": "lambda:checkout",
            "value": values,
        }
    )


def test_detect_anomalies_raises_one_finding_for_a_sustained_burst() -> None:
    rng = np.random.default_rng(1)
    x = rng.poisson(2.0, 2000).astype(float)
    x[1500:1510] = 40.0
    now = T0 + pd.Timedelta(minutes=2000)
    findings = detect_anomalies(metric_rows(x), now=now)
    assert len(findings) == 1
    f = findings[0]
    assert (f.kind, f.resource) == ("anomaly", "lambda:checkout")
    assert f.start == T0 + pd.Timedelta(minutes=1500)
    assert f.end is not None
    assert f.detected_at <= f.start + pd.Timedelta(minutes=2)
    assert f.evidence["metric"] == "Errors"


def test_detect_anomalies_respects_direction_and_watch_list() -> None:
    rng = np.random.default_rng(1)
    x = 100 + rng.normal(0, 2, 2000)
    x[1500:1510] = 0.0  # a drop in errors is good news
    now = T0 + pd.Timedelta(minutes=2000)
    assert detect_anomalies(metric_rows(x), now=now) == []
    both = AnomalySettings(watched=(WatchedMetric("AWS/Lambda", "Errors", "Sum", "both"),))
    assert len(detect_anomalies(metric_rows(x), now=now, settings=both)) == 1
    unwatched = metric_rows(x, metric="ConcurrentExecutions", stat="Maximum")
    assert detect_anomalies(unwatched, now=now, settings=both) == []


def test_missing_minutes_of_count_metrics_are_zeros() -> None:
    """AWS/Lambda publishes Errors only in minutes with invocations: missing means 0."""
    rng = np.random.default_rng(3)
    x = rng.poisson(0.3, 2000).astype(float)
    rows = metric_rows(x)
    rows = rows[rows["value"] > 0]  # as published: only non-zero minutes
    assert detect_anomalies(rows, now=T0 + pd.Timedelta(minutes=2000)) == []
