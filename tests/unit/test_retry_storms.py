"""alerts.retry_storms: each retry signal on small hand-built frames, its edges, no look-ahead."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.retry_storms import (
    AppMetrics,
    RetryStormSettings,
    detect_retry_storms,
)
from collectors.discovery import (
    AsyncInvokeConfig,
    EventRule,
    EventSourceMapping,
    LambdaFunction,
    Queue,
    RuleTarget,
)
from collectors.schema import EDGES
from tests.unit.store_frames import (
    ACCOUNT,
    APP,
    REGION,
    T0,
    Values,
    fn_arn,
    frame,
    inventory,
    minute,
    queue_arn,
    series,
)

if TYPE_CHECKING:
    from alerts.findings import Finding

pytestmark = pytest.mark.unit


# -- builders ------------------------------------------------------------------------------------


def app_edge(
    function: str,
    dependency: str,
    calls: Values,
    attempts: Values,
    *,
    failures: Values | None = None,
    short: Values | None = None,
    retries: Values | None = None,
    account: str = ACCOUNT,
) -> pd.DataFrame:
    """The application's per-dependency metrics; retries default to attempts - sent calls."""
    short = short if short is not None else [0 if c is not None else None for c in calls]
    if retries is None:
        retries = [
            None if a is None else max(0.0, a - ((c or 0) - (s or 0)))
            for c, a, s in zip(calls, attempts, short, strict=True)
        ]
    failures = failures if failures is not None else [0 if c is not None else None for c in calls]
    dims = {"Function": function, "Dependency": dependency}
    res = f"app:{function}->{dependency}"
    return frame(
        *(
            series(APP, metric, dims, values, resource=res, account=account)
            for metric, values in (
                ("DownstreamCalls", calls),
                ("DownstreamAttempts", attempts),
                ("DownstreamRetries", retries),
                ("DownstreamFailures", failures),
                ("ShortCircuited", short),
            )
        )
    )


def queue_metrics(name: str, sent: Values, received: Values, deleted: Values | None = None):
    dims = {"QueueName": name}
    deleted = deleted if deleted is not None else sent
    return frame(
        series("AWS/SQS", "NumberOfMessagesSent", dims, sent, resource=f"sqs:{name}"),
        series("AWS/SQS", "NumberOfMessagesReceived", dims, received, resource=f"sqs:{name}"),
        series("AWS/SQS", "NumberOfMessagesDeleted", dims, deleted, resource=f"sqs:{name}"),
    )


def rule_metrics(name: str, invocations: Values, retries: Values, *, bus: str | None = None):
    dims = {"RuleName": name, **({"EventBusName": bus} if bus else {})}
    resource = f"events:{bus}/{name}" if bus else f"events:{name}"
    return frame(
        series("AWS/Events", "Invocations", dims, invocations, resource=resource),
        series("AWS/Events", "RetryInvocationAttempts", dims, retries, resource=resource),
    )


def lambda_metrics(
    name: str,
    invocations: Values,
    *,
    errors: Values | None = None,
    async_received: Values | None = None,
    throttles: Values | None = None,
) -> pd.DataFrame:
    dims = {"FunctionName": name}
    parts = [series("AWS/Lambda", "Invocations", dims, invocations, resource=f"lambda:{name}")]
    for metric, values in (
        ("Errors", errors),
        ("AsyncEventsReceived", async_received),
        ("Throttles", throttles),
    ):
        if values is not None:
            parts.append(series("AWS/Lambda", metric, dims, values, resource=f"lambda:{name}"))
    return frame(*parts)


def edge_rows(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """``edges`` rows; each dict gives source, target, window (index of 5-min window) and counts."""
    out = []
    for row in rows:
        start = T0 + pd.Timedelta(minutes=5 * row["window"])
        out.append(
            {
                "account": ACCOUNT,
                "region": REGION,
                "source": row["source"],
                "target": row["target"],
                "window_start": start,
                "window_end": start + pd.Timedelta(minutes=5),
                "target_type": row.get("target_type", "remote"),
                "requests": row["requests"],
                "ok": row["requests"] - row.get("faults", 0) - row.get("throttles", 0),
                "errors": 0,
                "throttles": row.get("throttles", 0),
                "faults": row.get("faults", 0),
                "retries": row.get("retries"),
            }
        )
    return pd.DataFrame(out, columns=EDGES.columns)


def function(name: str, *, queues: tuple[str, ...] = (), is_async: bool = False) -> LambdaFunction:
    return LambdaFunction(
        name=name,
        arn=fn_arn(name),
        runtime="python3.12",
        timeout_s=30,
        memory_mb=512,
        tracing_mode="Active",
        reserved_concurrency=None,
        dead_letter_target=None,
        async_config=AsyncInvokeConfig(2, 3600, None, None) if is_async else None,
        event_source_mappings=tuple(
            EventSourceMapping(f"uuid-{q}", queue_arn(q), fn_arn(name), "Enabled", 10, 0, (), None)
            for q in queues
        ),
        tags={},
    )


def queue(name: str, *, visibility_s: int = 30) -> Queue:
    return Queue(
        name=name,
        url=f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}",
        arn=queue_arn(name),
        fifo=False,
        visibility_timeout_s=visibility_s,
        retention_s=345_600,
        delay_s=0,
        dlq_arn=queue_arn(f"{name}-dlq"),
        max_receive_count=3,
        dead_letter_sources=(),
        failure_senders=(),
        attributes={},
        tags={},
    )


def rule(name: str, *targets: str, bus: str = "default") -> EventRule:
    return EventRule(
        name=name,
        arn=f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}",
        event_bus=bus,
        state="ENABLED",
        schedule=None,
        event_pattern="{}",
        targets=tuple(RuleTarget(t.rsplit(":", 1)[-1], t, None, 4, 3600) for t in targets),
        tags={},
    )


NO_EDGES = pd.DataFrame(columns=EDGES.columns)
NO_INVENTORY = inventory()


def detect(
    metrics: pd.DataFrame,
    *,
    now: float,
    edges: pd.DataFrame = NO_EDGES,
    inv: pd.DataFrame = NO_INVENTORY,
    **overrides: Any,
) -> list[Finding]:
    return detect_retry_storms(
        metrics, edges, inv, now=minute(now), settings=RetryStormSettings(**overrides)
    )


def only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, [(f.resource, f.start, f.evidence.get("signal")) for f in findings]
    return findings[0]


# -- sdk retries (application metrics) -----------------------------------------------------------


def test_sdk_retries_exactly_at_both_thresholds_for_two_periods_is_a_storm() -> None:
    # Minute 1 and 2: 6 calls, 9 attempts = 1.5x, 3 retries: both thresholds met exactly.
    metrics = app_edge("checkout", "payment-api", [6, 6, 6, 6, 6], [6, 9, 9, 6, 6])
    found = only(detect(metrics, now=5))
    assert (found.kind, found.resource, found.downstream) == (
        "retry-storm",
        "lambda:checkout",
        "payment-api",
    )
    assert found.start == minute(1)
    assert found.end == minute(3)
    assert found.detected_at == minute(3)  # the end of the second holding minute
    assert found.severity == "low"
    assert found.evidence["signal"] == "sdk-retries"
    assert found.evidence["callers"] == ["checkout"]
    assert found.evidence["peak_amplification"] == 1.5
    assert found.evidence["retries"] == 6


@pytest.mark.parametrize(
    ("calls", "attempts", "retries"),
    [
        (6, 9, 2),  # amplification met, one retry short of the minimum
        (6, 8.9, 3),  # retries met, amplification just below 1.5x
    ],
)
def test_just_below_a_threshold_is_no_storm(calls: float, attempts: float, retries: float) -> None:
    metrics = app_edge(
        "checkout", "payment-api", [calls] * 4, [attempts] * 4, retries=[retries] * 4
    )
    assert detect(metrics, now=4) == []


def test_one_period_short_of_sustained_is_no_storm() -> None:
    metrics = app_edge("checkout", "payment-api", [6, 6, 6, 6], [6, 18, 6, 6])
    assert detect(metrics, now=4) == []
    two = app_edge("checkout", "payment-api", [6, 6, 6, 6], [6, 18, 18, 6])
    assert detect(two, now=4, min_periods=3) == []
    assert len(detect(two, now=4, min_periods=2)) == 1


def test_gaps_up_to_max_gap_are_bridged_and_longer_ones_are_not() -> None:
    # Holding at minutes 0 and 3 (two quiet minutes between).
    metrics = app_edge("checkout", "payment-api", [6] * 6, [18, 6, 6, 18, 6, 6])
    bridged = only(detect(metrics, now=6, max_gap=2))
    assert (bridged.start, bridged.detected_at, bridged.end) == (minute(0), minute(4), minute(4))
    assert bridged.evidence["holding_periods"] == 2
    assert detect(metrics, now=6, max_gap=1) == []


def test_missing_datapoints_count_as_zero_and_break_a_run() -> None:
    # AWS publishes nothing in an idle minute: minute 1 has no rows at all.
    metrics = app_edge("checkout", "payment-api", [6, None, 6], [18, None, 18])
    assert detect(metrics, now=3, max_gap=0) == []
    assert len(detect(metrics, now=3, max_gap=1)) == 1


def test_quiet_week_with_occasional_retries_finds_nothing() -> None:
    rng = np.random.default_rng(7)
    n = 7 * 24 * 60
    calls = rng.poisson(20, n).astype(float)
    retries = np.where(rng.random(n) < 0.02, rng.integers(1, 3, n), 0).astype(float)
    # A few lone bad minutes: 3+ retries at 1.5x and more, but never two close together.
    for i in range(500, n, 997):
        retries[i] = calls[i] * 0.6 + 3
    metrics = app_edge("checkout", "payment-api", list(calls), list(calls + retries))
    assert detect(metrics, now=n) == []


def test_short_circuited_calls_do_not_count_as_sent() -> None:
    # 10 calls, 8 refused by an open breaker: 2 sent, 6 attempts -> 3x, 4 retries.
    metrics = app_edge(
        "checkout", "payment-api", [10, 10, 10], [6, 6, 6], short=[8, 8, 8], retries=[4, 4, 4]
    )
    found = only(detect(metrics, now=3))
    assert found.evidence["peak_amplification"] == 3
    assert found.evidence["short_circuited"] == 24


@pytest.mark.parametrize(
    ("attempts", "severity"),
    [
        (15, "low"),
        (19, "low"),
        (20, "medium"),
        (39, "medium"),
        (40, "high"),
        (79, "high"),
        (80, "critical"),
    ],
)
def test_severity_rises_with_amplification(attempts: float, severity: str) -> None:
    metrics = app_edge("checkout", "payment-api", [10, 10], [attempts, attempts])
    assert only(detect(metrics, now=2)).severity == severity


def test_futile_retries_raise_severity_one_level() -> None:
    calm = app_edge("checkout", "payment-api", [10, 10], [25, 25], failures=[4, 4])
    futile = app_edge("checkout", "payment-api", [10, 10], [25, 25], failures=[5, 5])
    assert only(detect(calm, now=2)).severity == "medium"
    found = only(detect(futile, now=2))
    assert found.severity == "high"
    assert found.evidence["futile"] is True
    assert found.evidence["failures"] == 10


def test_one_odd_low_volume_minute_does_not_set_severity() -> None:
    # Minute 2 sends 1 call with 9 retries (10x); over any two minutes it is under 4x.
    metrics = app_edge("checkout", "payment-api", [10, 10, 1], [30, 20, 10])
    assert only(detect(metrics, now=3)).severity == "medium"


def test_finding_names_every_caller_hammering_the_downstream() -> None:
    metrics = frame(
        app_edge("checkout", "payment-api", [10] * 8, [30, 30, 30, 10, 10, 10, 10, 10]),
        app_edge("refunds", "payment-api", [10] * 8, [10, 30, 30, 30, 10, 10, 10, 10]),
        # Storms the same dependency later, after both others ended: not a co-caller.
        app_edge("late", "payment-api", [10] * 8, [10, 10, 10, 10, 10, 10, 30, 30]),
        # Storms another dependency at the same time: not a co-caller either.
        app_edge("other", "inventory-db", [10] * 8, [30, 30, 10, 10, 10, 10, 10, 10]),
    )
    found = detect(metrics, now=8, max_gap=0)
    by_resource = {f.resource: f for f in found}
    assert set(by_resource) == {"lambda:checkout", "lambda:refunds", "lambda:late", "lambda:other"}
    assert by_resource["lambda:checkout"].evidence["callers"] == ["checkout", "refunds"]
    assert by_resource["lambda:refunds"].evidence["callers"] == ["checkout", "refunds"]
    assert by_resource["lambda:late"].evidence["callers"] == ["late"]
    assert by_resource["lambda:other"].downstream == "inventory-db"
    assert "refunds" in by_resource["lambda:checkout"].summary


def test_a_storm_holding_at_the_last_period_is_ongoing() -> None:
    metrics = app_edge("checkout", "payment-api", [10, 10, 10], [10, 30, 30])
    found = only(detect(metrics, now=3))
    assert found.end is None and found.ongoing
    assert found.start == minute(1)


def test_periods_not_ended_by_now_are_ignored() -> None:
    metrics = app_edge("checkout", "payment-api", [10, 10, 10], [10, 30, 30])
    # At 12:02:59 the minute starting 12:02 is still filling: only one holding period is known.
    assert detect(metrics, now=2.99) == []
    assert len(detect(metrics, now=3)) == 1


def test_only_series_with_exactly_the_function_and_dependency_dimensions_are_read() -> None:
    rollup = series(
        APP,
        "DownstreamRetries",
        {"Function": "checkout", "Dependency": "payment-api", "Outcome": "fault"},
        [50, 50],
    )
    attempts = series(
        APP,
        "DownstreamAttempts",
        {"Function": "checkout", "Dependency": "payment-api", "Outcome": "fault"},
        [60, 60],
    )
    assert detect(frame(rollup, attempts), now=2) == []


def test_application_namespace_and_names_are_settings() -> None:
    custom = AppMetrics(
        namespace="Shop/Calls",
        calls="Calls",
        attempts="Attempts",
        retries="Retries",
        failures="Failures",
        short_circuited="Refused",
        function_dimension="Service",
        dependency_dimension="Target",
    )
    dims = {"Service": "checkout", "Target": "payment-api"}
    metrics = frame(
        series("Shop/Calls", "Calls", dims, [10, 10]),
        series("Shop/Calls", "Attempts", dims, [30, 30]),
        series("Shop/Calls", "Retries", dims, [20, 20]),
    )
    found = only(detect(metrics, now=2, app=custom))
    assert (found.resource, found.downstream) == ("lambda:checkout", "payment-api")
    assert detect(metrics, now=2) == []  # the default names do not see it


def test_caller_throttles_are_attached_as_evidence() -> None:
    metrics = frame(
        app_edge("checkout", "payment-api", [10, 10], [30, 30]),
        lambda_metrics("checkout", [10, 10], throttles=[2, 3]),
    )
    assert only(detect(metrics, now=2)).evidence["caller_throttles"] == 5


# -- SQS redeliveries ----------------------------------------------------------------------------


def test_sqs_redeliveries_at_threshold_name_the_consumer_from_the_inventory() -> None:
    # received - sent = 3 and received = 1.5 x sent, two minutes running.
    metrics = queue_metrics("orders", [6, 6, 6, 6], [6, 9, 9, 6])
    inv = inventory(
        functions=[function("order-worker", queues=("orders",))], queues=[queue("orders")]
    )
    found = only(detect(metrics, now=4, inv=inv))
    assert (found.resource, found.downstream) == ("sqs:orders", "order-worker")
    assert (found.start, found.detected_at) == (minute(1), minute(3))
    assert found.evidence["signal"] == "sqs-redeliveries"
    assert found.evidence["consumers"] == ["order-worker"]
    assert found.evidence["retries"] == 6
    assert only(detect(metrics, now=4)).downstream is None  # consumer unknown without inventory


@pytest.mark.parametrize(("sent", "received"), [(6, 8.9), (1, 3)])
def test_sqs_below_either_threshold_is_no_storm(sent: float, received: float) -> None:
    # 8.9 < 1.5 x 6; received - sent = 2 < 3 (though 3x the sends).
    assert detect(queue_metrics("orders", [sent] * 4, [received] * 4), now=4) == []


def test_sqs_backlog_of_zero_sends_with_few_receives_is_no_storm() -> None:
    # One or two receives a minute with nothing sent: under the absolute minimum.
    assert detect(queue_metrics("orders", [0] * 10, [2, 1, 2, 2, 1, 2, 2, 1, 2, 2]), now=10) == []


def test_sqs_redelivery_waves_spaced_by_the_visibility_timeout_are_one_storm() -> None:
    # Failed messages return every 5 minutes (visibility timeout 240 s): waves 4 periods apart.
    received: Values = [20, 5, 5, 5, 5, 20, 5, 5]
    metrics = queue_metrics("orders", [5] * 8, received)
    inv = inventory(
        functions=[function("order-worker", queues=("orders",))],
        queues=[queue("orders", visibility_s=240)],
    )
    found = only(detect(metrics, now=8, inv=inv))
    assert (found.start, found.detected_at) == (minute(0), minute(6))
    assert detect(metrics, now=8) == []  # without the timeout, the default gap of 3 applies
    assert detect(metrics, now=8, inv=inv, sqs_gap_from_visibility=False) == []


# -- EventBridge retries -------------------------------------------------------------------------


def test_eventbridge_retries_at_threshold_name_the_target_function() -> None:
    # 3 retry attempts = the minimum and exactly 10% of 30 invocations.
    metrics = rule_metrics("order-confirmed", [30, 30, 30], [0, 3, 3])
    inv = inventory(
        functions=[function("email-sender", is_async=True)],
        rules=[rule("order-confirmed", fn_arn("email-sender"))],
    )
    found = only(detect(metrics, now=3, inv=inv))
    assert (found.resource, found.downstream) == ("events:order-confirmed", "email-sender")
    assert found.evidence["signal"] == "eventbridge-retries"
    assert found.evidence["targets"] == ["email-sender"]
    assert found.end is None


def test_eventbridge_retries_below_the_fraction_are_no_storm() -> None:
    assert detect(rule_metrics("order-confirmed", [31, 31, 31], [3, 3, 3]), now=3) == []
    assert detect(rule_metrics("order-confirmed", [10, 10, 10], [2, 2, 2]), now=3) == []


def test_eventbridge_rule_on_a_custom_bus_and_all_deliveries_failing() -> None:
    # Nothing delivered (Invocations only counts once an event gives up): all retries.
    metrics = rule_metrics("order-confirmed", [None, None], [12, 12], bus="orders")
    found = only(detect(metrics, now=2))
    assert found.resource == "events:orders/order-confirmed"
    assert found.severity == "critical"  # 24 attempts for no delivery


# -- Lambda async retries ------------------------------------------------------------------------


def test_async_retries_show_as_invocations_above_events_received() -> None:
    metrics = lambda_metrics("email-sender", [10, 15, 15, 10], async_received=[10, 10, 10, 10])
    found = only(detect(metrics, now=4))
    assert (found.resource, found.downstream) == ("lambda:email-sender", None)
    assert found.evidence["signal"] == "lambda-async-retries"
    assert (found.start, found.detected_at) == (minute(1), minute(3))
    assert found.evidence["retries"] == 10


def test_async_signal_needs_the_async_series_and_can_be_turned_off() -> None:
    sync_only = lambda_metrics("orders-api", [10, 30, 30, 10])
    assert detect(sync_only, now=4) == []
    metrics = lambda_metrics("email-sender", [10, 30, 30, 10], async_received=[10, 10, 10, 10])
    assert detect(metrics, now=4, async_retries=False) == []


# -- X-Ray edges ---------------------------------------------------------------------------------


def test_xray_edge_retries_at_threshold_in_one_window() -> None:
    # 15 requests of which 5 retries: 10 calls, 1.5x; one 5-minute window is enough.
    edges = edge_rows(
        [
            {
                "source": "checkout",
                "target": "api.pay.example.com",
                "window": 0,
                "requests": 15,
                "retries": 5,
                "faults": 6,
            },
            {
                "source": "checkout",
                "target": "api.pay.example.com",
                "window": 1,
                "requests": 10,
                "retries": 0,
            },
        ]
    )
    inv = inventory(functions=[function("checkout")])
    found = only(detect(frame(), now=10, edges=edges, inv=inv))
    assert (found.resource, found.downstream) == ("lambda:checkout", "api.pay.example.com")
    assert (found.start, found.end, found.detected_at) == (minute(0), minute(5), minute(5))
    assert found.evidence["signal"] == "xray-retries"
    assert found.evidence["period_s"] == 300
    assert found.evidence["faults"] == 6


def test_xray_edges_below_threshold_unended_windows_and_client_edges_are_ignored() -> None:
    edges = edge_rows(
        [
            # 4 retries: one short.
            {"source": "a", "target": "b", "window": 0, "requests": 8, "retries": 4},
            # Retries unknown (no traces): no evidence of retries.
            {"source": "c", "target": "d", "window": 0, "requests": 30, "retries": None},
            # X-Ray's client node.
            {"source": "client", "target": "a", "window": 0, "requests": 30, "retries": 20},
            # The window ends at minute 10, after now.
            {"source": "e", "target": "f", "window": 1, "requests": 30, "retries": 20},
        ]
    )
    assert detect(frame(), now=9, edges=edges) == []


def test_xray_source_spelling_depends_on_whether_it_is_a_function() -> None:
    edges = edge_rows(
        [
            {"source": "worker", "target": "dynamodb", "window": 0, "requests": 30, "retries": 20},
            {
                "source": "gateway",
                "target": "worker",
                "window": 0,
                "requests": 3,
                "retries": 0,
                "target_type": "AWS::Lambda::Function",
            },
            {"source": "nginx", "target": "api", "window": 0, "requests": 30, "retries": 20},
        ]
    )
    resources = {f.resource for f in detect(frame(), now=5, edges=edges)}
    assert resources == {"lambda:worker", "edge:nginx->api"}


# -- inputs, determinism, no look-ahead ----------------------------------------------------------


def test_empty_and_columnless_inputs_find_nothing() -> None:
    empty = pd.DataFrame()
    assert detect_retry_storms(empty, empty, empty, now=minute(10)) == []
    assert detect(frame(), now=10) == []
    assert detect(queue_metrics("orders", [], []), now=10) == []


def test_other_periods_and_statistics_are_not_read() -> None:
    five_minute = app_edge("checkout", "payment-api", [10, 10], [30, 30]).assign(period_s=300)
    average = app_edge("checkout", "payment-api", [10, 10], [30, 30]).assign(stat="Average")
    assert detect(frame(five_minute, average), now=20) == []


def mixed_world() -> tuple[pd.DataFrame, pd.DataFrame]:
    metrics = frame(
        app_edge("checkout", "payment-api", [10] * 8, [10, 30, 30, 30, 10, 10, 30, 30]),
        app_edge("refunds", "payment-api", [5] * 8, [5, 5, 15, 15, 15, 5, 5, 5]),
        queue_metrics("orders", [6] * 8, [6, 6, 12, 12, 6, 6, 6, 6]),
        rule_metrics("order-confirmed", [30] * 8, [0, 0, 0, 5, 5, 5, 0, 0]),
        lambda_metrics("email-sender", [10, 10, 20, 20, 10, 10, 10, 10], async_received=[10] * 8),
        series("AWS/Lambda", "Invocations", {"FunctionName": "x"}, [1] * 8, account="2" * 12),
    )
    inv = inventory(
        functions=[function("order-worker", queues=("orders",)), function("checkout")],
        queues=[queue("orders")],
        rules=[rule("order-confirmed", fn_arn("email-sender"))],
    )
    return metrics, inv


def test_findings_are_sorted_and_deterministic_whatever_the_row_order() -> None:
    metrics, inv = mixed_world()
    first = detect(metrics, now=8, inv=inv)
    shuffled = metrics.sample(frac=1.0, random_state=3).reset_index(drop=True)
    again = detect(shuffled, now=8, inv=inv)
    assert first == again
    # checkout's two bursts (minutes 1-3 and 6-7) are two quiet minutes apart: one storm.
    assert [(f.resource, f.evidence["signal"]) for f in first] == [
        ("lambda:checkout", "sdk-retries"),
        ("lambda:email-sender", "lambda-async-retries"),
        ("lambda:refunds", "sdk-retries"),
        ("sqs:orders", "sqs-redeliveries"),
        ("events:order-confirmed", "eventbridge-retries"),
    ]
    starts = [(f.start, f.resource) for f in first]
    assert starts == sorted(starts)


def test_appending_future_data_never_changes_past_findings() -> None:
    metrics, inv = mixed_world()
    for cut in range(1, 9):
        early = detect(metrics[metrics["ts"] < minute(cut)], now=cut, inv=inv)
        late = detect(metrics, now=8, inv=inv)
        assert {(f.resource, f.start, f.detected_at) for f in early} == {
            (f.resource, f.start, f.detected_at) for f in late if f.detected_at <= minute(cut)
        }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    retries=st.lists(st.integers(0, 12), min_size=2, max_size=40),
    received=st.lists(st.integers(0, 15), min_size=2, max_size=40),
    cut=st.integers(1, 40),
    min_periods=st.integers(1, 3),
    max_gap=st.integers(0, 3),
)
def test_no_look_ahead_property(
    retries: list[int], received: list[int], cut: int, min_periods: int, max_gap: int
) -> None:
    metrics = frame(
        app_edge("checkout", "payment-api", [6] * len(retries), [6 + r for r in retries]),
        queue_metrics("orders", [5] * len(received), received),
    )
    n = max(len(retries), len(received))
    cut = min(cut, n)
    options = {"min_periods": min_periods, "max_gap": max_gap, "sqs_gap_from_visibility": False}
    full = detect(metrics, now=n, **options)
    # Data after now is never read: the same frame cut at ``cut`` or seen at ``now=cut``.
    at_cut = detect(metrics, now=cut, **options)
    prefix = detect(metrics[metrics["ts"] < minute(cut)], now=cut, **options)
    assert at_cut == prefix
    past = {(f.resource, f.start, f.detected_at) for f in full if f.detected_at <= minute(cut)}
    assert {(f.resource, f.start, f.detected_at) for f in at_cut} == past
    assert all(f.start < f.detected_at for f in full)


def test_many_resources_over_a_week_run_quickly() -> None:
    rng = np.random.default_rng(1)
    n = 7 * 24 * 60
    parts = []
    for i in range(40):
        calls = rng.poisson(10, n).astype(float)
        parts.append(app_edge(f"fn{i}", f"dep{i % 5}", list(calls), list(calls + 1)))
    metrics = frame(*parts)
    import time

    started = time.perf_counter()
    assert detect(metrics, now=n) == []
    assert time.perf_counter() - started < 15
