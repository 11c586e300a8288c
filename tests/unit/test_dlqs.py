"""DLQ rules on small hand-built frames: each rule's edges, and no look-ahead."""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.dlqs import DlqSettings, detect_dlqs

if TYPE_CHECKING:
    from collections.abc import Sequence

    from alerts.findings import Finding

pytestmark = pytest.mark.unit

T0 = pd.Timestamp("2024-06-10 12:00", tz="UTC")
ACCOUNT, REGION = "111111111111", "eu-west-1"
DLQ = "payments-dlq"
DAY = 86_400.0
NAN = float("nan")


def at(minutes: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(seconds=round(minutes * 60, 3))


def _stamps(values: list[pd.Timestamp]) -> pd.Series:
    return pd.Series(pd.to_datetime(values, utc=True)).astype("datetime64[ms, UTC]")


# --- builders -------------------------------------------------------------------------------------


def sqs(
    queue: str = DLQ,
    *,
    visible: Sequence[float] | None = None,
    not_visible: Sequence[float] | None = None,
    sent: Sequence[float] | None = None,
    age: Sequence[float] | None = None,
    start: float = 0,
    account: str = ACCOUNT,
) -> pd.DataFrame:
    """AWS/SQS metric rows, one value per minute from ``start``; NaN = no datapoint."""
    parts = []
    for metric, stat, values in (
        ("ApproximateNumberOfMessagesVisible", "Maximum", visible),
        ("ApproximateNumberOfMessagesNotVisible", "Maximum", not_visible),
        ("NumberOfMessagesSent", "Sum", sent),
        ("ApproximateAgeOfOldestMessage", "Maximum", age),
    ):
        if values is None:
            continue
        minutes = [start + i for i, v in enumerate(values) if not math.isnan(v)]
        parts.append(
            pd.DataFrame(
                {
                    "account": account,
                    "region": REGION,
                    "namespace": "AWS/SQS",
                    "metric": metric,
                    "dimensions": f"QueueName={queue}",
                    "stat": stat,
                    "period_s": 60,
                    "ts": _stamps([at(m) for m in minutes]),
                    "resource": f"sqs:{queue}",
                    "value": [float(v) for v in values if not math.isnan(v)],
                }
            )
        )
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def snapshots(
    rows: list[tuple[float, float]],
    queue: str = DLQ,
    *,
    is_dlq: bool = True,
    age: float | None = None,
    retention_s: float | None = 14 * DAY,
    sources: tuple[str, ...] = (),
    max_receive_count: int | None = None,
    visibility_timeout_s: int | None = None,
    account: str = ACCOUNT,
) -> pd.DataFrame:
    """``queues`` rows: (observed minute, visible)."""
    return pd.DataFrame(
        {
            "account": account,
            "region": REGION,
            "queue": queue,
            "observed_at": _stamps([at(o) for o, _ in rows]),
            "arn": f"arn:aws:sqs:{REGION}:{account}:{queue}",
            "is_dlq": is_dlq,
            "sources": [list(sources)] * len(rows),
            "dlq": None,
            "max_receive_count": max_receive_count,
            "visible": [v for _, v in rows],
            "in_flight": 0,
            "delayed": 0,
            "oldest_age_s": age,
            "retention_s": retention_s,
            "visibility_timeout_s": visibility_timeout_s,
        }
    )


EMPTY = pd.DataFrame()


def detect(
    queues: pd.DataFrame = EMPTY,
    metrics: pd.DataFrame = EMPTY,
    *,
    now: float,
    dlqs: set[tuple[str, str, str]] | None = None,
    **overrides: object,
) -> list[Finding]:
    config = dataclasses.replace(DlqSettings(), **overrides)  # type: ignore[arg-type]
    if dlqs is None and queues.empty:
        dlqs = {(ACCOUNT, REGION, DLQ)}
    return detect_dlqs(queues, metrics, now=at(now), dlqs=dlqs, settings=config)


def of(found: list[Finding], kind: str) -> list[Finding]:
    return [f for f in found if f.kind == kind]


# --- inputs ------------------------------------------------------------------------------------


def test_empty_inputs_give_no_findings() -> None:
    assert detect_dlqs(EMPTY, EMPTY, now=at(5)) == []
    assert detect(now=5) == []
    assert detect(snapshots([]).iloc[0:0], sqs(visible=[]), now=5) == []


def test_only_dlqs_are_judged() -> None:
    metrics = pd.concat([sqs(visible=[0, 0, 5]), sqs("payments", visible=[0, 0, 5])])
    queues = pd.concat(
        [snapshots([(0.5, 0)]), snapshots([(0.5, 0)], queue="payments", is_dlq=False)]
    )
    found = detect_dlqs(queues, metrics, now=at(3))
    assert {f.resource for f in found} == {"sqs:payments-dlq"}
    # The caller's list wins over is_dlq.
    found = detect_dlqs(queues, metrics, now=at(3), dlqs=[(ACCOUNT, REGION, "payments")])
    assert {f.resource for f in found} == {"sqs:payments"}


def test_rows_after_now_are_ignored() -> None:
    assert detect(metrics=sqs(visible=[0, 0, 0, 4]), now=3) == []


def test_settings_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="period_s"):
        DlqSettings(period_s=0)
    with pytest.raises(ValueError, match="expiry_fraction"):
        DlqSettings(expiry_fraction=1.5)


# --- dlq-arrivals ------------------------------------------------------------------------------


def test_a_single_message_into_an_empty_dlq() -> None:
    found = detect(metrics=sqs(visible=[0, 0, 0, 1, 1, 1], sent=[0] * 6), now=6)
    (f,) = of(found, "dlq-arrivals")
    assert (f.account, f.region, f.resource, f.downstream) == (ACCOUNT, REGION, f"sqs:{DLQ}", None)
    assert (f.start, f.detected_at, f.end) == (at(3), at(4), at(4))
    assert f.severity == "low"
    assert f.evidence["messages"] == 1
    assert f.evidence["depth_before"] == 0
    assert "1 message arrived" in f.summary
    assert of(found, "dlq-growth") == []  # one step is not sustained growth


def test_a_drained_dlq_that_receives_one_message_still_counts() -> None:
    # Three messages, redriven at minute 2 (depth 0), then one new message at minute 4.
    found = detect(metrics=sqs(visible=[3, 3, 0, 0, 1, 1]), now=6)
    (f,) = of(found, "dlq-arrivals")
    assert (f.start, f.evidence["messages"]) == (at(4), 1)


def test_arrivals_seen_only_as_not_visible() -> None:
    # A reprocessor receives the message within the minute it arrives: visible stays 0.
    found = detect(metrics=sqs(visible=[0, 0, 0], not_visible=[0, 1, 1]), now=3)
    (f,) = of(found, "dlq-arrivals")
    assert f.start == at(1)


def test_messages_being_read_are_not_arrivals() -> None:
    # An operator receives the message (in flight), it becomes visible again: depth constant.
    found = detect(metrics=sqs(visible=[1, 0, 1, 0], not_visible=[0, 1, 0, 1]), now=4)
    assert found == []


def test_sends_count_even_when_the_depth_does_not_rise() -> None:
    found = detect(metrics=sqs(visible=[0, 0, 0], sent=[0, 2, 0]), now=3)
    (f,) = of(found, "dlq-arrivals")
    assert (f.start, f.evidence["messages"]) == (at(1), 2)


def test_depth_already_there_is_not_an_arrival() -> None:
    assert detect(metrics=sqs(visible=[7, 7, 7]), now=3) == []


def test_a_gap_in_the_data_compares_with_the_last_known_depth() -> None:
    found = detect(metrics=sqs(visible=[0, NAN, NAN, 2, 2]), now=5)
    (f,) = of(found, "dlq-arrivals")
    assert (f.start, f.detected_at, f.evidence["messages"]) == (at(3), at(4), 2)


@pytest.mark.parametrize(
    ("count", "severity"),
    [(9, "low"), (10, "medium"), (99, "medium"), (100, "high"), (1000, "critical")],
)
def test_arrival_severity_by_count(count: int, severity: str) -> None:
    (f,) = of(detect(metrics=sqs(visible=[0, count, count]), now=3), "dlq-arrivals")
    assert f.severity == severity


@pytest.mark.parametrize(("gap", "findings"), [(9, 1), (10, 2)])
def test_arrivals_less_than_ten_minutes_apart_are_one_finding(gap: int, findings: int) -> None:
    depth = [0, 1] + [1] * gap + [2, 2]
    found = of(detect(metrics=sqs(visible=depth), now=len(depth)), "dlq-arrivals")
    assert len(found) == findings
    assert found[0].start == at(1)
    assert found[0].detected_at == at(2)
    if findings == 1:
        assert found[0].evidence["messages"] == 2
        assert found[0].end == at(gap + 3)


def test_arrivals_still_coming_at_now_are_ongoing() -> None:
    (f,) = of(detect(metrics=sqs(visible=[0, 1, 2, 3]), now=4), "dlq-arrivals")
    assert f.end is None


def test_a_snapshot_shows_an_arrival_before_the_metric_minute_ends() -> None:
    metrics = sqs(visible=[0, 0, 1])
    queues = snapshots([(0.5, 0), (1.5, 0), (2.25, 1), (2.75, 1)])
    (f,) = of(detect(queues, metrics, now=3), "dlq-arrivals")
    assert (f.start, f.detected_at) == (at(2), at(2.25))


def test_snapshots_alone_are_enough() -> None:
    queues = snapshots([(0.5, 0), (1.5, 0), (2.5, 2), (3.5, 2)])
    (f,) = of(detect_dlqs(queues, EMPTY, now=at(4)), "dlq-arrivals")
    assert (f.start, f.detected_at, f.evidence["messages"]) == (at(2), at(2.5), 2)


# --- dlq-growth --------------------------------------------------------------------------------


def test_growth_over_three_periods() -> None:
    (f,) = of(detect(metrics=sqs(visible=[0, 2, 4, 6, 6]), now=5), "dlq-growth")
    assert (f.start, f.detected_at, f.end) == (at(1), at(4), at(4))
    assert f.evidence["added"] == 6
    assert f.severity == "medium"


def test_growth_one_period_short_of_sustained() -> None:
    found = detect(metrics=sqs(visible=[0, 2, 4, 4, 4]), now=5)
    assert of(found, "dlq-growth") == []
    assert len(of(found, "dlq-arrivals")) == 1


@pytest.mark.parametrize(("flat", "sustained"), [(2, True), (3, False)])
def test_growth_bridges_short_pauses(flat: int, sustained: bool) -> None:
    depth = [0, 1, 2] + [2] * flat + [3, 3]
    assert bool(of(detect(metrics=sqs(visible=depth), now=len(depth)), "dlq-growth")) is sustained


def test_growth_bursts_less_than_ten_minutes_apart_are_one_finding() -> None:
    depth = [0, 1, 2, 3] + [3] * 5 + [4, 5, 6, 6]
    (f,) = of(detect(metrics=sqs(visible=depth), now=len(depth)), "dlq-growth")
    assert (f.start, f.detected_at, f.end) == (at(1), at(4), at(12))
    assert f.evidence["bursts"] == 2


@pytest.mark.parametrize(("added", "severity"), [(99, "medium"), (100, "high"), (1500, "critical")])
def test_growth_severity_by_messages_added(added: int, severity: str) -> None:
    step = added / 3
    depth = [0, step, 2 * step, 3 * step]
    (f,) = of(detect(metrics=sqs(visible=depth), now=4), "dlq-growth")
    assert f.severity == severity


# --- dlq-expiry --------------------------------------------------------------------------------


def expiring(age_s: list[float], retention_s: float | None, **kw: Any) -> list[Finding]:
    n = len(age_s)
    metrics = sqs(visible=[5] * n, age=age_s)
    queues = snapshots([(0, 5)], retention_s=retention_s)
    return of(detect(queues, metrics, now=n, **kw), "dlq-expiry")


@pytest.mark.parametrize(("fraction", "fires"), [(0.8, True), (0.7999, False)])
def test_expiry_at_eighty_percent_of_a_long_retention(fraction: float, fires: bool) -> None:
    retention = 14 * DAY
    found = expiring([1000, fraction * retention, fraction * retention + 60], retention)
    assert bool(found) is fires
    if fires:
        (f,) = found
        assert (f.start, f.detected_at, f.end) == (at(1), at(2), None)
        assert f.evidence["seconds_until_loss"] == pytest.approx(0.2 * retention - 60)
        assert f.severity == "medium"


def test_expiry_within_a_day_of_loss_for_a_four_day_retention() -> None:
    retention = 4 * DAY  # 80 % would leave 19.2 h: the 24 h horizon comes first
    assert expiring([3 * DAY - 1], retention) == []
    (f,) = expiring([3 * DAY], retention)
    assert f.evidence["threshold_age_s"] == 3 * DAY
    assert f.evidence["seconds_until_loss"] == DAY


def test_expiry_of_a_short_retention_uses_the_fraction_only() -> None:
    assert expiring([600], 3600) == []  # within 24 h of loss, but only 10 min old
    (f,) = expiring([2880], 3600)
    assert f.severity == "critical"
    assert f.evidence["seconds_until_loss"] == 720


@pytest.mark.parametrize(("left_h", "severity"), [(7, "medium"), (6, "high"), (1, "critical")])
def test_expiry_severity_by_time_left(left_h: float, severity: str) -> None:
    retention = 14 * DAY
    (f,) = expiring([retention - left_h * 3600], retention)
    assert f.severity == severity


def test_expiry_counts_the_time_spent_in_the_source_queue() -> None:
    retention = 14 * DAY
    age = 0.8 * retention - 200  # 200 s short by itself
    metrics = sqs(visible=[5, 5], age=[age, age])
    queues = pd.concat(
        [
            snapshots([(0, 5)], retention_s=retention, sources=("payments",)),
            snapshots(
                [(0, 0)],
                queue="payments",
                is_dlq=False,
                max_receive_count=5,
                visibility_timeout_s=60,
            ),
        ]
    )
    (f,) = of(detect_dlqs(queues, metrics, now=at(2)), "dlq-expiry")
    assert f.evidence["source_allowance_s"] == 300
    assert f.evidence["sources"] == ["payments"]


def test_expiry_needs_a_retention() -> None:
    age = [12 * DAY]
    assert expiring(age, None) == []
    assert len(expiring(age, None, default_retention_s=14 * DAY)) == 1
    assert len(expiring(age, None, retention={DLQ: 13 * DAY})) == 1
    assert expiring(age, 14 * DAY, retention={DLQ: 100 * DAY}) == []  # the setting wins


def test_expiry_bridges_gaps_and_ends_when_the_old_messages_go() -> None:
    old = 12 * DAY
    found = expiring([old, NAN, NAN, old + 180, 60, 60], 14 * DAY)
    (f,) = found
    assert (f.start, f.end) == (at(0), at(4))


def test_an_empty_dlq_has_no_age_to_worry_about() -> None:
    assert expiring([0, 0], 60) == []


# --- determinism and no look-ahead -------------------------------------------------------------


def test_output_is_sorted_and_independent_of_row_order() -> None:
    metrics = pd.concat(
        [
            sqs(visible=[0, 1, 2, 3, 3]),
            sqs("orders-dlq", visible=[0, 0, 4, 4, 4]),
            sqs(visible=[0, 0, 1, 1, 1], account="222222222222"),
        ]
    )
    dlqs = {(ACCOUNT, REGION, DLQ), (ACCOUNT, REGION, "orders-dlq"), ("222222222222", REGION, DLQ)}
    first = detect_dlqs(EMPTY, metrics, now=at(5), dlqs=dlqs)
    again = detect_dlqs(EMPTY, metrics.sample(frac=1.0, random_state=5), now=at(5), dlqs=dlqs)
    assert first == again
    keys = [(f.account, f.region, f.resource, f.kind, f.start) for f in first]
    assert keys == sorted(keys)
    assert len({f.resource for f in first}) == 2
    assert {f.account for f in first} == {ACCOUNT, "222222222222"}


def queue_world(
    steps: list[int], ages: list[float], with_snapshots: bool
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Depth changing by ``steps`` each minute (never below 0) as the metric, and snapshots
    every 30 s showing the minute's depth."""
    depth = np.maximum(np.cumsum(steps), 0).astype(float)
    n = len(depth)
    metrics = sqs(visible=list(depth), sent=[max(s, 0) / 2 for s in steps], age=ages[:n])
    if not with_snapshots:
        return EMPTY, metrics
    rows = [(half / 2, float(depth[int(half // 2)])) for half in range(2 * n)]
    return snapshots(rows, retention_s=DAY), metrics


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from([0, 0, 0, 1, 2, -1, -5]), min_size=3, max_size=60),
    st.lists(st.floats(min_value=0, max_value=DAY), min_size=60, max_size=60),
    st.booleans(),
    st.data(),
)
def test_no_look_ahead(
    steps: list[int], ages: list[float], with_snapshots: bool, data: st.DataObject
) -> None:
    """Findings confirmed by t are the same, with the same start and detected_at, whether the
    detector sees the data up to t or everything that came after too."""
    queues, metrics = queue_world(steps, ages, with_snapshots)
    dlqs = {(ACCOUNT, REGION, DLQ)}
    n = len(steps)
    config = DlqSettings(default_retention_s=DAY)
    full = detect_dlqs(queues, metrics, now=at(n), dlqs=dlqs, settings=config)
    cut = at(data.draw(st.integers(min_value=1, max_value=2 * n)) / 2)
    queues_t = queues[queues["observed_at"] <= cut] if with_snapshots else queues
    metrics_t = metrics[metrics["ts"] + pd.Timedelta(seconds=60) <= cut]
    early = detect_dlqs(queues_t, metrics_t, now=cut, dlqs=dlqs, settings=config)

    def confirmed(found: list[Finding]) -> set[tuple[object, ...]]:
        return {(f.kind, f.resource, f.start, f.detected_at) for f in found if f.detected_at <= cut}

    assert all(f.detected_at <= cut for f in early)
    assert confirmed(early) == confirmed(full)
