"""Circuit-breaker rules on small hand-built frames: each rule's edges, and no look-ahead."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.circuits import CircuitSettings, detect_circuits

if TYPE_CHECKING:
    from collections.abc import Sequence

    from alerts.findings import Finding

pytestmark = pytest.mark.unit

T0 = pd.Timestamp("2024-06-10 12:00", tz="UTC")
ACCOUNT, REGION, TABLE = "111111111111", "eu-west-1", "circuit-breakers"
NS = "OrderPipeline/Resilience"


def at(minutes: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(seconds=round(minutes * 60, 3))


def _stamps(values: list[pd.Timestamp | None]) -> pd.Series:
    return pd.Series(pd.to_datetime(values, utc=True)).astype("datetime64[ms, UTC]")


# --- builders -------------------------------------------------------------------------------------


def observations(
    rows: Sequence[tuple[float, str, float | None, float | None]],
    *,
    breaker: str = "payment-api",
    raw_state: str | None = None,
    problem: str | None = None,
) -> pd.DataFrame:
    """Breaker rows: (observed minute, state, last_transition minute, updated_at minute)."""
    return pd.DataFrame(
        {
            "account": ACCOUNT,
            "region": REGION,
            "table": TABLE,
            "breaker": breaker,
            "observed_at": _stamps([at(o) for o, *_ in rows]),
            "state": [s for _, s, _, _ in rows],
            "raw_state": [raw_state if raw_state is not None else s for _, s, _, _ in rows],
            "failure_count": 0,
            "success_count": 0,
            "last_transition": _stamps([None if lt is None else at(lt) for _, _, lt, _ in rows]),
            "updated_at": _stamps([None if u is None else at(u) for _, _, _, u in rows]),
            "problem": [problem if s == "UNKNOWN" else None for _, s, _, _ in rows],
        }
    )


def metric_rows(
    metric: str,
    dimensions: str,
    values: Sequence[float],
    *,
    start: float = 0,
    stat: str = "Maximum",
) -> pd.DataFrame:
    """One value per minute from ``start``; NaN values are left out (no datapoint)."""
    minutes = [start + i for i, v in enumerate(values) if not np.isnan(v)]
    return pd.DataFrame(
        {
            "account": ACCOUNT,
            "region": REGION,
            "namespace": NS,
            "metric": metric,
            "dimensions": dimensions,
            "stat": stat,
            "period_s": 60,
            "ts": _stamps([at(m) for m in minutes]),
            "resource": "x",
            "value": [float(v) for v in values if not np.isnan(v)],
        }
    )


def states(
    values: Sequence[float], *, breaker: str = "payment-api", start: float = 0
) -> pd.DataFrame:
    return metric_rows("CircuitBreakerState", f"Breaker={breaker}", values, start=start)


def failures(
    calls: list[float],
    failed: list[float],
    *,
    dependency: str = "payment-api",
    function: str = "checkout-api",
    start: float = 0,
) -> pd.DataFrame:
    dims = f"Dependency={dependency},Function={function}"
    return pd.concat(
        [
            metric_rows("DownstreamCalls", dims, calls, start=start, stat="Sum"),
            metric_rows("DownstreamFailures", dims, failed, start=start, stat="Sum"),
        ],
        ignore_index=True,
    )


def edges(rows: list[tuple[float, float, int, int]], *, target: str) -> pd.DataFrame:
    """X-Ray edges: (window start minute, window end minute, requests, faults)."""
    return pd.DataFrame(
        {
            "account": ACCOUNT,
            "region": REGION,
            "source": "checkout-api",
            "target": target,
            "window_start": _stamps([at(a) for a, *_ in rows]),
            "window_end": _stamps([at(b) for _, b, _, _ in rows]),
            "requests": [r for *_, r, _ in rows],
            "ok": [r - f for *_, r, f in rows],
            "errors": 0,
            "throttles": 0,
            "faults": [f for *_, f in rows],
        }
    )


EMPTY = pd.DataFrame()


def detect(
    breakers: pd.DataFrame = EMPTY,
    metrics: pd.DataFrame = EMPTY,
    edge_rows: pd.DataFrame = EMPTY,
    *,
    now: float,
    **overrides: object,
) -> list[Finding]:
    config = dataclasses.replace(CircuitSettings(), **overrides)  # type: ignore[arg-type]
    return detect_circuits(breakers, metrics, edge_rows, now=at(now), settings=config)


def of(found: list[Finding], kind: str) -> list[Finding]:
    return [f for f in found if f.kind == kind]


# --- inputs ------------------------------------------------------------------------------------


def test_empty_inputs_give_no_findings() -> None:
    assert detect(now=10) == []
    schema_only = observations([]).iloc[0:0]
    assert detect(schema_only, states([]), edges([], target="x"), now=10) == []


def test_rows_after_now_are_ignored() -> None:
    assert detect(metrics=states([0, 0, 0, 1, 1]), now=3) == []


def test_settings_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="period_s"):
        CircuitSettings(period_s=0)
    with pytest.raises(ValueError, match="state_values"):
        CircuitSettings(state_values={0.0: "SHUT"})


# --- breaker-open ------------------------------------------------------------------------------


def test_open_from_the_metric_starts_at_the_first_open_minute() -> None:
    found = detect(metrics=states([0, 0, 1, 1, 2, 0, 0]), now=7)
    assert [f.kind for f in found] == ["breaker-open"]
    f = found[0]
    assert (f.account, f.region, f.resource, f.downstream) == (
        ACCOUNT,
        REGION,
        "breaker:payment-api",
        "payment-api",
    )
    assert (f.start, f.detected_at, f.end) == (at(2), at(3), at(5))
    assert f.severity == "medium"
    assert f.evidence["cool_down_s"] == 60.0
    assert f.evidence["trips"] == 1


def test_open_at_the_last_data_is_ongoing() -> None:
    (f,) = detect(metrics=states([0, 0, 1, 1, 2]), now=5)
    assert f.end is None
    assert f.ongoing


def test_a_single_observation_credits_the_open_back_to_its_transition() -> None:
    # A backfill holding one observation: OPEN since minute 2, seen at minute 12.5.
    (f,) = detect(observations([(12.5, "OPEN", 2.25, 12.4)]), now=13)
    assert f.kind == "breaker-open"
    assert (f.start, f.detected_at, f.end) == (at(2), at(12.5), None)
    assert f.severity == "high"  # open 10 min at a stretch, cool-down 60 s
    assert f.evidence["overdue"] is True


@pytest.mark.parametrize(("open_for", "severity"), [(3.0, "medium"), (3.01, "high")])
def test_open_longer_than_cool_down_plus_slack_raises_severity(
    open_for: float, severity: str
) -> None:
    # cool-down 60 s + slack 120 s = 180 s: exactly 180 s is not overdue.
    (f,) = detect(observations([(10, "OPEN", 10 - open_for, 10)]), now=10.5)
    assert f.severity == severity
    assert f.evidence["longest_open_s"] == pytest.approx(open_for * 60)


@pytest.mark.parametrize(("minutes", "severity"), [(3, "medium"), (4, "high")])
def test_consecutive_open_minutes_in_the_metric_count_as_open_for(
    minutes: int, severity: str
) -> None:
    (f,) = detect(metrics=states([0] + [1] * minutes + [0]), now=minutes + 2)
    assert f.severity == severity


def test_cool_down_per_breaker() -> None:
    found = detect(metrics=states([0, 1, 1, 1, 1, 0]), now=6, cool_downs={"payment-api": 180.0})
    assert found[0].severity == "medium"
    assert found[0].evidence["cool_down_s"] == 180.0


@pytest.mark.parametrize(("minutes", "severity"), [(14, "medium"), (15, "high")])
def test_a_long_episode_is_high_even_when_it_keeps_probing(minutes: int, severity: str) -> None:
    # OPEN, OPEN, HALF_OPEN cycles: never overdue; 15 min not closed reaches long_open_s.
    values = ([1, 1, 2] * 5)[:minutes]
    (f,) = detect(metrics=states([0, *values, 0]), now=minutes + 2)
    assert f.severity == severity
    assert f.evidence["open_for_s"] == minutes * 60
    assert f.evidence["overdue"] is False


@pytest.mark.parametrize(("gap", "count"), [(9, 1), (10, 2)])
def test_opens_less_than_ten_minutes_apart_are_one_finding(gap: int, count: int) -> None:
    values = [0, 1, 1, 0] + [0] * (gap - 1) + [1, 0, 0]
    found = of(detect(metrics=states(values), now=len(values)), "breaker-open")
    assert len(found) == count
    assert found[0].start == at(1)
    assert found[0].detected_at == at(2)
    if count == 1:
        assert found[0].evidence["trips"] == 2
        assert found[0].end == at(3 + gap + 1)


def test_table_and_metric_combine() -> None:
    # The metric says OPEN for minute 3; the table saw the transition at minute 3.5 first.
    table = observations(
        [(2.5, "CLOSED", None, 2.5), (3.5, "OPEN", 3.25, 3.5), (6.5, "CLOSED", 5.5, 6.5)]
    )
    found = detect(table, states([0, 0, 0, 1, 1, 2, 0]), now=7)
    (f,) = of(found, "breaker-open")
    assert (f.start, f.detected_at, f.end) == (at(3), at(3.5), at(6))


def test_a_hidden_open_between_polls_is_found() -> None:
    # CLOSED, then CLOSED again but its last transition moved: it opened and closed in between.
    table = observations([(1, "CLOSED", None, 1), (1.5, "CLOSED", 1.4, 1.5)])
    (f,) = detect(table, now=2)
    assert f.kind == "breaker-open"
    assert f.start == at(1)
    assert f.detected_at == at(1.5)


def test_downstream_mapping_is_overridable() -> None:
    (f,) = detect(
        metrics=states([0, 1, 0], breaker="pay-cb"), now=3, downstreams={"pay-cb": "payment-api"}
    )
    assert (f.resource, f.downstream) == ("breaker:pay-cb", "payment-api")


def test_value_to_state_mapping_is_overridable() -> None:
    found = detect(
        metrics=states([1, 1, 0, 0, 1]),
        now=5,
        state_values={1.0: "CLOSED", 0.0: "OPEN", 2.0: "HALF_OPEN"},
    )
    assert [(f.kind, f.start, f.end) for f in found] == [("breaker-open", at(2), at(4))]


# --- breaker-flapping --------------------------------------------------------------------------


def trips_at(minutes: list[int], length: int) -> list[float]:
    values = [0.0] * length
    for m in minutes:
        values[m] = 1.0
    return values


def test_flapping_at_the_third_trip_within_the_hour() -> None:
    found = detect(metrics=states(trips_at([0, 20, 40], 45)), now=45)
    (flap,) = of(found, "breaker-flapping")
    assert (flap.start, flap.detected_at, flap.end) == (at(0), at(41), at(41))
    assert flap.evidence["max_trips_in_window"] == 3
    # The first open is caught at once by breaker-open.
    assert [f.detected_at for f in of(found, "breaker-open")] == [at(1), at(21), at(41)]


def test_two_trips_are_not_flapping() -> None:
    assert of(detect(metrics=states(trips_at([0, 20], 45)), now=45), "breaker-flapping") == []


@pytest.mark.parametrize(("third", "flapping"), [(59, True), (60, False)])
def test_flapping_window_edge(third: int, flapping: bool) -> None:
    found = detect(metrics=states(trips_at([0, 30, third], 62)), now=62)
    assert bool(of(found, "breaker-flapping")) is flapping


def test_failed_probes_are_not_trips() -> None:
    # One outage: OPEN, HALF_OPEN, OPEN again ... then CLOSED: one trip.
    found = detect(metrics=states([0, 1, 1, 2, 1, 1, 2, 1, 1, 2, 0]), now=11)
    assert of(found, "breaker-flapping") == []
    assert of(found, "breaker-open")[0].evidence["trips"] == 1


def test_flapping_threshold_is_a_setting() -> None:
    found = detect(metrics=states(trips_at([0, 20], 30)), now=30, flap_min_trips=2)
    (flap,) = of(found, "breaker-flapping")
    assert flap.detected_at == at(21)


# --- breaker-half-open-stuck --------------------------------------------------------------------


@pytest.mark.parametrize(("since", "stuck"), [(10.0, False), (9.99, True)])
def test_half_open_stuck_from_the_table(since: float, stuck: bool) -> None:
    # Seen at minute 20, HALF_OPEN since minute 10: exactly the 10-minute limit is not stuck.
    table = observations([(8, "OPEN", 7, 8), (20, "HALF_OPEN", since, 20)])
    found = of(detect(table, now=21), "breaker-half-open-stuck")
    if not stuck:
        assert found == []
        return
    (f,) = found
    assert (f.start, f.detected_at, f.end) == (at(since), at(20), None)


def test_half_open_stuck_ends_when_it_leaves_half_open() -> None:
    rows = [(float(m), "HALF_OPEN", 0.0, float(m)) for m in range(1, 13)]
    rows.append((13.0, "CLOSED", 12.5, 13.0))
    (f,) = of(detect(observations(rows), now=14), "breaker-half-open-stuck")
    assert (f.start, f.detected_at, f.end) == (at(0), at(11), at(12.5))


@pytest.mark.parametrize(("minutes", "stuck"), [(10, False), (11, True)])
def test_half_open_stuck_from_the_metric_alone(minutes: int, stuck: bool) -> None:
    values = [0] + [2] * minutes + [0]
    found = of(detect(metrics=states(values), now=minutes + 2), "breaker-half-open-stuck")
    if not stuck:
        assert found == []
        return
    (f,) = found
    assert (f.start, f.detected_at, f.end) == (at(1), at(12), at(12))


# --- breaker-stale -----------------------------------------------------------------------------


def heartbeat(
    beats: int, *, until: float, poll: float = 0.5, offset: float = 0.05
) -> list[tuple[float, str, float | None, float | None]]:
    """Polls every ``poll`` minutes up to ``until``; the item refreshed each minute (at
    ``minute + offset``) for the first ``beats`` minutes, then frozen."""
    rows = []
    t = 0.0
    while t <= until + 1e-9:
        last_beat = min(np.floor(t - offset), beats - 1) + offset
        rows.append((round(t, 4), "CLOSED", None, float(last_beat)))
        t += poll
    return [r for r in rows if r[3] >= 0]


def test_stale_after_twice_the_learnt_interval_plus_grace() -> None:
    # Beats at 0.05 ... 9.05 min; then frozen. 140 s after 9.05 is 11.383: the poll at 11.5
    # shows it. start = the refresh due at 10.05.
    table = observations(heartbeat(10, until=20))
    (f,) = of(detect(table, now=20.5), "breaker-stale")
    assert (f.start, f.detected_at, f.end) == (at(10.05), at(11.5), None)
    assert f.evidence["interval_source"] == "learnt"
    assert f.evidence["interval_s"] == pytest.approx(60)
    assert f.evidence["threshold_s"] == pytest.approx(140)
    assert f.downstream is None


@pytest.mark.parametrize(("lag_s", "stale"), [(140, False), (140.5, True)])
def test_stale_threshold_edge(lag_s: float, stale: bool) -> None:
    rows = [(m + 0.1, "CLOSED", None, float(m)) for m in range(5)]
    rows.append((4 + lag_s / 60, "CLOSED", None, 4.0))
    found = of(detect(observations(rows), now=8), "breaker-stale")
    assert bool(found) is stale


def test_stale_needs_enough_refreshes_to_learn_from() -> None:
    # Two spacings only (learn_min_refreshes = 3): even an hour-old stamp is not judged.
    rows = [(0.1, "CLOSED", None, 0.0), (1.1, "CLOSED", None, 1.0), (2.1, "CLOSED", None, 2.0)]
    rows.append((62.0, "CLOSED", None, 2.0))
    assert of(detect(observations(rows), now=63), "breaker-stale") == []


def test_stale_with_a_configured_interval_and_a_single_observation() -> None:
    table = observations([(30, "OPEN", 1, 5)])
    for key in (TABLE, f"{TABLE}/payment-api", "payment-api"):
        (f,) = of(detect(table, now=31, refresh_intervals={key: 60.0}), "breaker-stale")
        assert (f.start, f.detected_at) == (at(6), at(30))
        assert f.evidence["interval_source"] == "configured"
        assert f.evidence["last_state"] == "OPEN"


def test_stale_ends_at_the_next_refresh_and_escalates_after_an_hour() -> None:
    rows = [(m + 0.5, "CLOSED", None, float(m)) for m in range(6)]
    rows += [(m + 0.5, "CLOSED", None, 5.0) for m in range(6, 70)]
    rows.append((70.5, "CLOSED", None, 70.0))
    (f,) = of(detect(observations(rows), now=71), "breaker-stale")
    assert f.start == at(6)
    assert f.detected_at == at(7.5)  # age 150 s > 140 s
    assert f.end == at(70)
    assert f.severity == "high"


def test_items_without_a_timestamp_are_never_stale() -> None:
    rows = [(m, "CLOSED", None, None) for m in range(0, 120, 5)]
    assert of(detect(observations(rows), now=121), "breaker-stale") == []


# --- breaker-unknown ---------------------------------------------------------------------------


def test_unknown_items_are_reported_with_their_raw_text() -> None:
    rows = [(0, "CLOSED", None, 0), (1, "UNKNOWN", None, None), (2, "UNKNOWN", None, None)]
    rows.append((3, "CLOSED", None, 3))
    raw = "<b>tripped</b>"
    table = observations(rows, raw_state=raw, problem="state 'tripped' is not mapped")
    found = detect(table, now=4)
    (f,) = of(found, "breaker-unknown")
    assert (f.start, f.detected_at, f.end, f.severity) == (at(1), at(1), at(3), "medium")
    assert '"<b>tripped</b>"' in f.summary
    assert "state 'tripped' is not mapped" in f.summary
    assert f.evidence["observations"] == 2
    assert of(found, "breaker-open") == []  # an unreadable state is no evidence of anything


def test_unknown_still_at_the_last_observation_is_ongoing() -> None:
    (f,) = detect(observations([(1, "UNKNOWN", None, None)], problem="no state"), now=2)
    assert f.end is None
    assert 'problem "no state"' in f.summary


# --- breaker-masking ---------------------------------------------------------------------------


def masking_case(periods: int, *, ratio: float = 0.6, calls: float = 20) -> list[Finding]:
    n = periods + 2
    closed = states([0] * n)
    calls_v = [calls] * n
    failed = [0.0] + [calls * ratio] * periods + [0.0]
    return detect(metrics=pd.concat([closed, failures(calls_v, failed)]), now=n)


def test_masking_after_five_failing_periods_while_closed() -> None:
    (f,) = of(masking_case(5), "breaker-masking")
    assert (f.start, f.detected_at, f.end) == (at(1), at(6), at(6))
    assert f.severity == "high"
    assert f.downstream == "payment-api"
    assert f.evidence["peak_failure_ratio"] == pytest.approx(0.6)
    assert f.evidence["sources"] == ["metrics"]


def test_masking_one_period_short() -> None:
    assert of(masking_case(4), "breaker-masking") == []


@pytest.mark.parametrize(
    ("ratio", "calls", "masking"),
    [(0.5, 20, True), (0.45, 20, False), (0.6, 10, True), (0.6, 9, False)],
)
def test_masking_thresholds(ratio: float, calls: float, masking: bool) -> None:
    assert bool(of(masking_case(6, ratio=ratio, calls=calls), "breaker-masking")) is masking


def test_no_masking_while_the_breaker_is_open() -> None:
    metrics = pd.concat([states([0, 1, 1, 2, 1, 1, 2, 0]), failures([20] * 8, [15] * 8)])
    assert of(detect(metrics=metrics, now=8), "breaker-masking") == []


def test_masking_from_xray_edges_with_mapped_targets() -> None:
    table = observations([(m + 0.5, "CLOSED", None, m + 0.5) for m in range(12)])
    xray = edges([(0, 5, 100, 5), (5, 10, 100, 80)], target="api.payments.example.com")
    mapping = {"payment-api": ("api.payments.example.com",)}
    (f,) = of(detect(table, edge_rows=xray, now=12, edge_targets=mapping), "breaker-masking")
    assert f.start == at(5)
    assert f.detected_at == at(10)  # the window is known at its end
    assert f.evidence["sources"] == ["edges"]


def test_masking_bridges_a_single_missing_period() -> None:
    failed = [0.0, 15, 15, float("nan"), 15, 15, 15, 0, 0]  # minute 3: no datapoint
    metrics = pd.concat([states([0] * 9), failures([20.0] * 9, failed)])
    (f,) = of(detect(metrics=metrics, now=9), "breaker-masking")
    assert f.start == at(1)
    assert f.detected_at == at(7)


# --- determinism and no look-ahead -------------------------------------------------------------


def test_output_is_sorted_and_independent_of_row_order() -> None:
    metrics = pd.concat(
        [
            states(trips_at([0, 20, 40], 45), breaker="b-two"),
            states([0, 1, 1, 0] + [0] * 41, breaker="a-one"),
        ]
    )
    table = observations([(1, "UNKNOWN", None, None)], breaker="a-one", problem="bad")
    first = detect(table, metrics, now=45)
    shuffled = detect(table, metrics.sample(frac=1.0, random_state=3), now=45)
    assert first == shuffled
    keys = [(f.account, f.region, f.resource, f.kind, f.start) for f in first]
    assert keys == sorted(keys)
    assert {f.resource for f in first} == {"breaker:a-one", "breaker:b-two"}


def world(seed_states: list[int], beats: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A consistent breaker history: the state per minute as the metric (state at the end of
    each minute, known at the minute's end), and polls every 30 s of an item refreshed every
    minute until ``beats``, carrying the last transition."""
    codes = {0: "CLOSED", 1: "OPEN", 2: "HALF_OPEN"}
    metric = states([float(s) for s in seed_states])
    change = [0.0]
    for i in range(1, len(seed_states)):
        change.append(float(i) if seed_states[i] != seed_states[i - 1] else change[-1])
    rows = []
    for half in range(1, 2 * len(seed_states)):
        o = half / 2
        minute = int(np.floor(o))
        state = codes[seed_states[minute]]
        last = None if change[minute] == 0 else change[minute]
        updated = float(min(minute, beats))
        rows.append((o, state, last, updated))
    return observations(rows), metric


def truncated(
    table: pd.DataFrame, metric: pd.DataFrame, t: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    return (
        table[table["observed_at"] <= t],
        metric[metric["ts"] + pd.Timedelta(seconds=60) <= t],
    )


def confirmed(found: list[Finding], t: pd.Timestamp) -> set[tuple[object, ...]]:
    return {(f.kind, f.resource, f.start, f.detected_at) for f in found if f.detected_at <= t}


segments = st.lists(
    st.tuples(st.sampled_from([0, 0, 1, 2]), st.integers(min_value=1, max_value=14)),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(segments, st.integers(min_value=3, max_value=90), st.data())
def test_no_look_ahead(parts: list[tuple[int, int]], beats: int, data: st.DataObject) -> None:
    """Findings confirmed by t are the same, with the same start and detected_at, whether the
    detector sees the data up to t or everything that came after too."""
    seed_states = [state for state, length in parts for _ in range(length)]
    table, metric = world(seed_states, beats)
    sources = data.draw(st.sampled_from(["both", "metric", "table"]))
    table = table.iloc[0:0] if sources == "metric" else table
    metric = metric.iloc[0:0] if sources == "table" else metric
    n = len(seed_states)
    failing = failures([20.0] * n, [float(12 * (s == 0)) for s in seed_states])
    metric = pd.concat([metric, failing], ignore_index=True)
    full = detect_circuits(table, metric, EMPTY, now=at(n))
    cut = at(data.draw(st.integers(min_value=1, max_value=2 * n)) / 2)
    table_t, metric_t = truncated(table, metric, cut)
    early = detect_circuits(table_t, metric_t, EMPTY, now=cut)
    assert all(f.detected_at <= cut for f in early)
    assert confirmed(early, cut) == confirmed(full, cut)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.sampled_from([0, 1, 2]), min_size=1, max_size=40))
def test_deterministic(seed_states: list[int]) -> None:
    table, metric = world(seed_states, beats=len(seed_states) // 2)
    now = at(len(seed_states))
    assert detect_circuits(table, metric, EMPTY, now=now) == detect_circuits(
        table.copy(), metric.copy(), EMPTY, now=now
    )
