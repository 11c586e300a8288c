"""Retry storms: retries multiplying the load on a downstream, from every retry signal stored.

A retry storm is a period where a caller sends a downstream noticeably more attempts than it has
work to do, because failed attempts are being repeated, sustained over several periods. Each
signal below is evaluated per period (60 s by default) on a regular UTC grid; AWS count metrics
publish nothing in idle minutes, so missing periods count as 0. A period *holds* when both an
absolute minimum and a ratio are met, so a lone retry in a quiet minute never fires. A finding is
a run of at least ``min_periods`` holding periods (``max_gap`` non-holding periods inside a run
are bridged, and count toward nothing); it starts at the run's first period and is detected at the
end of its ``min_periods``-th holding period, which is all the data it used (online: appending
later data never moves a finding's ``start`` or ``detected_at``). Data for a period that has not
ended by ``now`` is ignored.

Signals (``resource`` / ``downstream`` of the finding; every comparison is inclusive):

``sdk-retries`` (application metrics, EMF, namespace ``OrderPipeline/Resilience`` by default)
    Per ``Function`` x ``Dependency`` series: ``DownstreamRetries >= min_retries`` and
    ``DownstreamAttempts >= amplification_min x sent``, where ``sent = DownstreamCalls -
    ShortCircuited`` (calls an open breaker refused never leave the function). Resource
    ``lambda:<Function>``, downstream ``<Dependency>``; ``evidence["callers"]`` names every
    function storming the same dependency during the run, so the finding names the downstream
    being hammered and who is doing it.
``xray-retries`` (``edges`` table, X-Ray service graph windows, 5 min)
    Per ``source -> target`` edge: ``retries >= edge_min_retries`` and ``requests >=
    amplification_min x (requests - retries)`` (the graph counts every attempt as a request;
    retries come from sampled traces, so this is a lower bound), held for ``edge_min_periods``
    windows. Resource ``lambda:<source>`` when the source is a Lambda function (known from the
    inventory or from a graph node of type ``AWS::Lambda*``), else ``edge:<source>-><target>``;
    downstream ``<target>``. Edges from X-Ray's ``client`` node and self-edges are skipped.
``sqs-redeliveries`` (AWS/SQS)
    ``NumberOfMessagesReceived - NumberOfMessagesSent >= min_retries`` and ``Received >=
    amplification_min x Sent``: messages received again because their consumer failed (or
    outlived the visibility timeout). Resource ``sqs:<queue>``, downstream the consumer function
    from the inventory's event source mappings (None when unknown).
``eventbridge-retries`` (AWS/Events)
    ``RetryInvocationAttempts >= min_retries`` and ``>= events_retry_fraction_min x
    Invocations``. EventBridge retries only deliveries its target refused (throttling, 5xx,
    timeouts), so healthy rules show none; the ratio is lower than ``amplification_min`` for
    that reason. Resource ``events:<rule>``, downstream the rule's (first) Lambda target from the
    inventory (else the target's resource spelling, else None).
``lambda-async-retries`` (AWS/Lambda, functions with an ``AsyncEventsReceived`` series)
    Lambda re-runs a failed asynchronous invocation (twice by default), so retries show as
    ``Invocations > AsyncEventsReceived``: ``Invocations - AsyncEventsReceived >= min_retries``
    and ``Invocations >= amplification_min x AsyncEventsReceived``. Resource ``lambda:<fn>``,
    downstream None (the function itself is re-run; which of its dependencies suffers is the
    ``sdk-retries`` signal's job). A function invoked both synchronously and asynchronously
    inflates ``Invocations``; turn the signal off with ``async_retries=False`` for such accounts.

Severity rises with amplification, the ratio of attempts to the work they carry (attempts per
call, receives per message sent, invocations per event...), taken as the peak over the run of the
ratio of sums over ``min_periods`` consecutive periods (so one odd low-volume minute cannot set
it): below 2x "low" (less than one extra attempt per call); 2x-4x "medium" (a full default SDK
retry budget is being spent: botocore's standard mode makes 3 attempts); 4x-8x "high" (beyond any
single layer's default budget: an aggressive policy, or two layers compounding, e.g. SDK x SQS);
8x and more "critical" (an order of magnitude more load than the traffic; a struggling downstream
cannot recover while it lasts). Severity goes up one level (capped at critical) when the retries
are futile: the downstream keeps failing (``DownstreamFailures >= futile_failure_ratio x sent``;
X-Ray faults plus throttles ``>=`` that share of requests; EventBridge ``FailedInvocations`` or
Lambda ``Errors`` at that share) in some holding period. Throttles of the caller (Lambda
``Throttles``) and of a DynamoDB table named like the dependency are attached as evidence.

Defaults and why: ``min_retries=3`` per minute (one or two retries a minute are the background of
any busy system with transient errors), ``amplification_min=1.5`` (half the work is being done
again), ``min_periods=2`` (one minute can be a blip; two holding minutes in a row are detected
two periods after the start), ``max_gap=3`` (a storm shows in waves, not every minute: Lambda
re-runs a failed async event after about 1 and 2 minutes, a breaker lets probes through every
few minutes, a low-traffic caller has idle minutes; up to three quiet periods between holding
periods do not end it). For SQS the gap also covers the queue's visibility timeout
(``ceil(visibility / period) + 1``, at most ``max_gap_cap``), since a failed message is received
again only when it expires, so redeliveries come in waves that far apart. The X-Ray rule reads
5-minute windows, so one window is already sustained (``edge_min_periods=1``) and
``edge_min_retries=5`` is counted per window. The application namespace, metric and dimension
names are settings (:class:`AppMetrics`) since they are the application's convention.

Measured on the sandbox world (both accounts, a quiet week, the demo week and each single-incident
scenario): every ground-truth ``retry-storm`` and ``function-errors`` incident is found and no
finding appears in the quiet weeks (no minute there even meets both thresholds). Detection is
two periods after the start when the first two holding minutes are adjacent; ground truth starts
an incident at its *first* holding minute even when the second comes minutes later (SQS
redelivery waves, breaker probes), and such incidents are detected at the second holding minute.
``min_periods=1`` detects all at their first minute, at the price of single-minute findings.

The inventory is used for naming only (queue consumers, rule targets, which X-Ray nodes are
functions); the latest snapshot of each resource is used.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from alerts.findings import SEVERITIES, Finding, utc
from alerts.grids import (
    Grid,
    MetricStore,
    epoch_ms,
    grid_for,
    matrices,
    on_grid,
    parse_dimensions,
    per_value,
    resource_matrices,
    resource_rows,
)
from alerts.spans import Run, duration, finding_order, level, number, peak_ratio, runs

if TYPE_CHECKING:
    from collections.abc import Callable

KIND = "retry-storm"
CLIENT_NODE = "client"  # X-Ray's node for the caller of a root service (collectors.xray.CLIENT)


@dataclass(frozen=True, slots=True)
class AppMetrics:
    """Where the application publishes its per-dependency call metrics (EMF), and their names."""

    namespace: str = "OrderPipeline/Resilience"
    calls: str = "DownstreamCalls"  # logical calls the code made
    attempts: str = "DownstreamAttempts"  # HTTP/SDK attempts, first tries plus retries
    retries: str = "DownstreamRetries"
    failures: str = "DownstreamFailures"  # calls that gave up (retries exhausted, or refused)
    short_circuited: str = "ShortCircuited"  # calls an open breaker refused
    function_dimension: str = "Function"
    dependency_dimension: str = "Dependency"
    stat: str = "Sum"


@dataclass(frozen=True, slots=True)
class RetryStormSettings:
    """Thresholds of :func:`detect_retry_storms` (see the module docstring for the reasons)."""

    period_s: int = 60
    min_retries: float = 3.0  # retries (or redeliveries, retry attempts) per period, at least
    amplification_min: float = 1.5  # attempts >= this x the work they carry
    min_periods: int = 2
    max_gap: int = 3
    sqs_gap_from_visibility: bool = True  # a queue's gap covers its visibility timeout
    max_gap_cap: int = 15  # ... up to this many periods
    events_retry_fraction_min: float = 0.1  # EventBridge retry attempts >= this x Invocations
    async_retries: bool = True  # evaluate Lambda async retries (Invocations vs events received)
    edge_min_retries: float = 5.0  # X-Ray retries (sampled) per window, at least
    edge_min_periods: int = 1  # X-Ray windows are 5 min: one is already sustained
    edge_max_gap: int = 0
    severity_amplification: tuple[float, float, float] = (2.0, 4.0, 8.0)
    futile_failure_ratio: float = 0.5
    app: AppMetrics = field(default_factory=AppMetrics)

    def __post_init__(self) -> None:
        if self.period_s <= 0:
            raise ValueError("period_s must be positive")
        if self.min_periods < 1 or self.edge_min_periods < 1:
            raise ValueError("min_periods and edge_min_periods must be at least 1")
        if self.max_gap < 0 or self.edge_max_gap < 0:
            raise ValueError("max_gap and edge_max_gap must not be negative")
        if self.amplification_min < 1.0:
            raise ValueError("amplification_min below 1 would call every minute a storm")
        if list(self.severity_amplification) != sorted(self.severity_amplification):
            raise ValueError("severity_amplification must be ascending")


# -- inventory: names only -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Names:
    """What the inventory says about names: functions, queue consumers, rule targets."""

    functions: frozenset[tuple[str, str, str]]  # (account, region, function)
    consumers: dict[tuple[str, str, str], list[str]]  # (account, region, queue) -> functions
    targets: dict[tuple[str, str, str], list[str]]  # (account, region, rule) -> target names
    visibility_s: dict[tuple[str, str, str], int]  # (account, region, queue) -> timeout


def _latest(inventory: pd.DataFrame) -> pd.DataFrame:
    needed = {"account", "region", "kind", "name", "config"}
    if inventory is None or inventory.empty or not needed <= set(inventory.columns):
        return pd.DataFrame(columns=["account", "region", "kind", "name", "arn", "config"])
    frame = inventory
    if "collected_at" in frame.columns:
        frame = frame.sort_values("collected_at", kind="mergesort")
    return frame.drop_duplicates(["account", "region", "kind", "name"], keep="last")


def _config(text: Any) -> dict[str, Any]:
    if not isinstance(text, str) or not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _arn_target(arn: str) -> tuple[str, str] | None:
    """``(service prefix, name)`` of a Lambda/SQS/Step Functions ARN, e.g. ``("lambda", "fn")``
    (a Lambda version or alias qualifier is dropped)."""
    parts = str(arn).split(":")
    if len(parts) < 6:
        return None
    service = parts[2]
    if service == "lambda" and len(parts) >= 7 and parts[5] == "function":
        return "lambda", parts[6]
    if service == "sqs":
        return "sqs", parts[5]
    if service == "states" and len(parts) >= 7 and parts[5] == "stateMachine":
        return "states", parts[6]
    return None


def _names(inventory: pd.DataFrame) -> _Names:
    latest = _latest(inventory)
    functions: set[tuple[str, str, str]] = set()
    consumers: dict[tuple[str, str, str], list[str]] = {}
    targets: dict[tuple[str, str, str], list[str]] = {}
    visibility: dict[tuple[str, str, str], int] = {}
    for account, region, kind, name, text in zip(
        latest["account"],
        latest["region"],
        latest["kind"],
        latest["name"],
        latest["config"],
        strict=True,
    ):
        where = (str(account), str(region))
        config = _config(text)
        if kind == "lambda":
            functions.add((*where, str(name)))
            for mapping in config.get("event_source_mappings") or ():
                source = _arn_target(str((mapping or {}).get("source_arn", "")))
                if source and source[0] == "sqs":
                    consumers.setdefault((*where, source[1]), []).append(str(name))
        elif kind == "sqs":
            timeout = config.get("visibility_timeout_s")
            if isinstance(timeout, int | float) and timeout > 0:
                visibility[(*where, str(name))] = int(timeout)
        elif kind == "events-rule":
            for target in config.get("targets") or ():
                parsed = _arn_target(str((target or {}).get("arn", "")))
                if parsed is None:
                    continue
                spelled = parsed[1] if parsed[0] == "lambda" else f"{parsed[0]}:{parsed[1]}"
                targets.setdefault((*where, str(name)), []).append(spelled)
    return _Names(
        frozenset(functions),
        {k: sorted(set(v)) for k, v in consumers.items()},
        {k: sorted(set(v), key=lambda t: (":" in t, t)) for k, v in targets.items()},
        visibility,
    )


# -- signals -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Signal:
    """One retry signal evaluated on a grid: per series, what holds and the numbers behind it.

    Arrays are ``(series, period)``. ``attempts / work`` is the amplification; ``retries`` the
    extra attempts; ``futile`` marks periods where the retries kept failing."""

    name: str
    grid: Grid
    keys: pd.DataFrame  # account, region, resource, downstream (+ caller, group for sdk/xray)
    holds: np.ndarray
    attempts: np.ndarray
    work: np.ndarray
    retries: np.ndarray
    futile: np.ndarray
    min_periods: int
    max_gap: int
    describe: Callable[[dict[str, Any]], str]
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # summed over the run
    group: str | None = None  # key column naming the hammered downstream, to list its callers
    gaps: list[int] | None = None  # per-series max_gap, when it differs by series


def call_edges(rows: pd.DataFrame, app: AppMetrics) -> pd.DataFrame:
    """Application metric rows of series with exactly the function and dependency dimensions,
    with ``caller`` and ``downstream`` columns (a roll-up with more dimensions would count
    the same calls twice)."""
    if rows.empty:
        return rows

    def pair(dims: Any) -> tuple[str, str] | None:
        parsed = parse_dimensions(str(dims))
        if set(parsed) != {app.function_dimension, app.dependency_dimension}:
            return None
        return parsed[app.function_dimension], parsed[app.dependency_dimension]

    pairs = per_value(rows["dimensions"], pair)
    keep = np.array([p is not None for p in pairs], dtype=bool)
    kept = pairs[keep]
    return rows[keep].assign(caller=[p[0] for p in kept], downstream=[p[1] for p in kept])


def _sdk_signal(
    store: MetricStore, grid_rows: pd.DataFrame, now: pd.Timestamp, s: RetryStormSettings
) -> _Signal | None:
    app = s.app
    names = (app.calls, app.attempts, app.retries, app.failures, app.short_circuited)
    found = on_grid(
        call_edges(grid_rows, app),
        names,
        now=now,
        period_s=s.period_s,
        keys=("account", "region", "downstream", "caller"),
    )
    if found is None:
        return None
    grid, keys, m = found
    keys = keys.assign(resource="lambda:" + keys["caller"].astype(str))
    sent = np.maximum(m[app.calls] - m[app.short_circuited], 0.0)
    attempts, retries = m[app.attempts], m[app.retries]
    holds = (retries >= s.min_retries) & (attempts >= s.amplification_min * sent)
    futile = (m[app.failures] >= s.min_retries) & (
        m[app.failures] >= s.futile_failure_ratio * np.maximum(sent, 1.0)
    )
    extra = {"failures": m[app.failures], "short_circuited": m[app.short_circuited]}
    extra.update(_caller_throttles(store, keys, grid))

    def describe(e: dict[str, Any]) -> str:
        callers = e["callers"]
        who = f"{e['caller']}" + (
            f" (with {', '.join(c for c in callers if c != e['caller'])})"
            if len(callers) > 1
            else ""
        )
        return (
            f"{who} retrying {e['downstream']}: up to {e['peak_amplification']:g}x attempts per "
            f"call, {e['retries']:g} retries over {e['duration']}"
        )

    return _Signal(
        "sdk-retries",
        grid,
        keys,
        holds,
        attempts,
        sent,
        retries,
        futile,
        s.min_periods,
        s.max_gap,
        describe,
        extra,
        group="downstream",
    )


def _caller_throttles(store: MetricStore, keys: pd.DataFrame, grid: Grid) -> dict[str, np.ndarray]:
    """Lambda ``Throttles`` of each caller, and DynamoDB throttle events of a table named like
    the dependency, aligned with ``keys`` (zeros where absent)."""
    out = {
        "caller_throttles": np.zeros((len(keys), grid.n)),
        "table_throttles": np.zeros((len(keys), grid.n)),
    }
    for name, namespace, metrics, prefix, dimension, column in (
        ("caller_throttles", "AWS/Lambda", ("Throttles",), "lambda", "FunctionName", "resource"),
        (
            "table_throttles",
            "AWS/DynamoDB",
            ("ReadThrottleEvents", "WriteThrottleEvents"),
            "dynamodb",
            "TableName",
            "downstream",
        ),
    ):
        selected = resource_rows(
            store, namespace, metrics, dimension, prefix, period_s=grid.period_s
        )
        if selected.empty:
            continue
        rows = selected.assign(metric="throttles").rename(columns={"resource": "_key"})
        found, m = matrices(rows, ["account", "region", "_key"], ("throttles",), grid)
        if found.empty:
            continue
        lookup = {
            (a, r, k): i
            for i, (a, r, k) in enumerate(
                zip(found["account"], found["region"], found["_key"], strict=True)
            )
        }
        wanted = keys[column] if column == "resource" else prefix + ":" + keys[column].astype(str)
        for row, (a, r, k) in enumerate(zip(keys["account"], keys["region"], wanted, strict=True)):
            index = lookup.get((a, r, k))
            if index is not None:
                out[name][row] = m["throttles"][index]
    return out


def _sqs_signal(
    store: MetricStore, names: _Names, now: pd.Timestamp, s: RetryStormSettings
) -> _Signal | None:
    wanted = ("NumberOfMessagesSent", "NumberOfMessagesReceived", "NumberOfMessagesDeleted")
    found = resource_matrices(
        store, "AWS/SQS", wanted, "QueueName", "sqs", now=now, period_s=s.period_s
    )
    if found is None:
        return None
    grid, keys, m = found
    consumers = [
        names.consumers.get((str(a), str(r), str(res).partition(":")[2]), [])
        for a, r, res in zip(keys["account"], keys["region"], keys["resource"], strict=True)
    ]
    keys = keys.assign(
        downstream=[c[0] if c else None for c in consumers],
        consumers=[list(c) for c in consumers],
    )
    sent, received = m["NumberOfMessagesSent"], m["NumberOfMessagesReceived"]
    redelivered = np.maximum(received - sent, 0.0)
    holds = (received - sent >= s.min_retries) & (received >= s.amplification_min * sent)
    gaps = None
    if s.sqs_gap_from_visibility:
        # A failed message comes back only when its visibility timeout expires, so redeliveries
        # arrive in waves that far apart (plus one period for where the minute boundaries fall).
        gaps = [
            max(
                s.max_gap,
                min(
                    s.max_gap_cap,
                    math.ceil(names.visibility_s.get((a, r, q.partition(":")[2]), 0) / s.period_s)
                    + 1,
                ),
            )
            for a, r, q in zip(keys["account"], keys["region"], keys["resource"], strict=True)
        ]

    def describe(e: dict[str, Any]) -> str:
        consumer = e["downstream"] or "its consumer"
        return (
            f"{e['resource'].partition(':')[2]} redelivering messages to {consumer}: up to "
            f"{e['peak_amplification']:g}x receives per message sent, {e['retries']:g} "
            f"redeliveries over {e['duration']}"
        )

    return _Signal(
        "sqs-redeliveries",
        grid,
        keys,
        holds,
        received,
        sent,
        redelivered,
        np.zeros_like(holds),
        s.min_periods,
        s.max_gap,
        describe,
        {"deleted": m["NumberOfMessagesDeleted"]},
        gaps=gaps,
    )


def _events_signal(
    store: MetricStore, names: _Names, now: pd.Timestamp, s: RetryStormSettings
) -> _Signal | None:
    wanted = ("Invocations", "RetryInvocationAttempts", "FailedInvocations", "InvocationsSentToDlq")
    rows = store.select("AWS/Events", wanted, "Sum", s.period_s)
    if rows.empty:
        return None
    rows = rows[per_value(rows["dimensions"], lambda d: "RuleName" in parse_dimensions(d), bool)]
    if rows.empty:
        return None

    def rule_resource(d: Any) -> str:
        p = parse_dimensions(str(d))
        bus = p.get("EventBusName")
        return "events:" + (f"{bus}/{p['RuleName']}" if bus and bus != "default" else p["RuleName"])

    derived = per_value(rows["dimensions"], rule_resource)
    if "resource" in rows.columns:
        given = per_value(rows["resource"], lambda r: r if isinstance(r, str) and r else "")
        derived = np.where(given != "", given, derived)
    found = on_grid(rows.assign(resource=derived), wanted, now=now, period_s=s.period_s)
    if found is None:
        return None
    grid, keys, m = found
    targets = [
        names.targets.get((str(a), str(r), str(res).partition(":")[2]), [])
        for a, r, res in zip(keys["account"], keys["region"], keys["resource"], strict=True)
    ]
    keys = keys.assign(
        downstream=[t[0] if t else None for t in targets], targets=[list(t) for t in targets]
    )
    invocations, retries = m["Invocations"], m["RetryInvocationAttempts"]
    holds = (retries >= s.min_retries) & (retries >= s.events_retry_fraction_min * invocations)
    failed = m["FailedInvocations"]
    futile = (failed >= s.min_retries) & (
        failed >= s.futile_failure_ratio * np.maximum(invocations, 1.0)
    )

    def describe(e: dict[str, Any]) -> str:
        target = e["downstream"] or "its target"
        return (
            f"EventBridge rule {e['resource'].partition(':')[2]} retrying deliveries to {target}: "
            f"{e['retries']:g} retry attempts over {e['duration']}, up to "
            f"{e['peak_amplification']:g}x attempts per delivery"
        )

    return _Signal(
        "eventbridge-retries",
        grid,
        keys,
        holds,
        invocations + retries,
        invocations,
        retries,
        futile,
        s.min_periods,
        s.max_gap,
        describe,
        {"failed_invocations": failed, "sent_to_dlq": m["InvocationsSentToDlq"]},
    )


def _async_signal(store: MetricStore, now: pd.Timestamp, s: RetryStormSettings) -> _Signal | None:
    wanted = ("Invocations", "AsyncEventsReceived", "Errors", "AsyncEventsDropped")
    rows = resource_rows(store, "AWS/Lambda", wanted, "FunctionName", "lambda", period_s=s.period_s)
    if rows.empty:
        return None
    asynchronous = rows.loc[
        rows["metric"] == "AsyncEventsReceived", ["account", "region", "resource"]
    ].drop_duplicates()
    if asynchronous.empty:
        return None
    found = on_grid(
        rows.merge(asynchronous, on=["account", "region", "resource"]),
        wanted,
        now=now,
        period_s=s.period_s,
    )
    if found is None:
        return None
    grid, keys, m = found
    keys = keys.assign(downstream=None)
    invocations, received = m["Invocations"], m["AsyncEventsReceived"]
    retried = np.maximum(invocations - received, 0.0)
    holds = (invocations - received >= s.min_retries) & (
        invocations >= s.amplification_min * received
    )
    errors = m["Errors"]
    futile = (errors >= s.min_retries) & (
        errors >= s.futile_failure_ratio * np.maximum(invocations, 1.0)
    )

    def describe(e: dict[str, Any]) -> str:
        return (
            f"Lambda re-running asynchronous invocations of {e['resource'].partition(':')[2]}: "
            f"up to {e['peak_amplification']:g}x invocations per event received, "
            f"{e['retries']:g} retries over {e['duration']}"
        )

    return _Signal(
        "lambda-async-retries",
        grid,
        keys,
        holds,
        invocations,
        received,
        retried,
        futile,
        s.min_periods,
        s.max_gap,
        describe,
        {"errors": errors, "dropped": m["AsyncEventsDropped"]},
    )


def _edges_signal(
    edges: pd.DataFrame, names: _Names, now: pd.Timestamp, s: RetryStormSettings
) -> _Signal | None:
    needed = {"account", "region", "source", "target", "window_start", "requests", "retries"}
    if edges is None or edges.empty or not needed <= set(edges.columns):
        return None
    frame = edges[(edges["source"] != CLIENT_NODE) & (edges["source"] != edges["target"])]
    if frame.empty:
        return None
    starts = epoch_ms(frame["window_start"])
    if "window_end" in frame.columns:
        ends = epoch_ms(frame["window_end"].fillna(frame["window_start"]))
        lengths = (ends - starts)[ends > starts]
        window_s = int(pd.Series(lengths).mode().min() // 1000) if len(lengths) else 300
    else:
        window_s = 300
    window_s = max(window_s, 1)
    grid = grid_for(starts, now, window_s)
    if grid is None:
        return None
    columns = ["requests", "retries", "throttles", "faults", "errors"]
    long = []
    for column in columns:
        if column in frame.columns:
            part = frame[["account", "region", "source", "target", "window_start"]].assign(
                metric=column,
                value=pd.to_numeric(frame[column], errors="coerce").to_numpy(
                    dtype=np.float64, na_value=np.nan
                ),
            )
            long.append(part)
    rows = pd.concat(long, ignore_index=True)
    keys, m = matrices(
        rows, ["account", "region", "target", "source"], tuple(columns), grid, time="window_start"
    )
    if keys.empty:
        return None
    lambda_nodes = set(names.functions)
    if "target_type" in frame.columns:
        typed = frame[frame["target_type"].astype(str).str.startswith("AWS::Lambda")]
        lambda_nodes |= set(
            zip(typed["account"], typed["region"], typed["target"].astype(str), strict=True)
        )
    resources = [
        f"lambda:{src}" if (a, r, src) in lambda_nodes else f"edge:{src}->{tgt}"
        for a, r, src, tgt in zip(
            keys["account"], keys["region"], keys["source"], keys["target"], strict=True
        )
    ]
    keys = keys.assign(
        resource=resources, downstream=keys["target"].astype(str), caller=keys["source"]
    )
    requests, retries = m["requests"], m["retries"]
    work = np.maximum(requests - retries, 0.0)
    holds = (retries >= s.edge_min_retries) & (requests >= s.amplification_min * work)
    failing = m["throttles"] + m["faults"]
    futile = (failing >= s.edge_min_retries) & (
        failing >= s.futile_failure_ratio * np.maximum(requests, 1.0)
    )

    def describe(e: dict[str, Any]) -> str:
        callers = e["callers"]
        who = e["caller"] + (
            f" (with {', '.join(c for c in callers if c != e['caller'])})"
            if len(callers) > 1
            else ""
        )
        return (
            f"{who} retrying {e['downstream']} (X-Ray): up to {e['peak_amplification']:g}x "
            f"requests per call, {e['retries']:g} retries in sampled traces over {e['duration']}"
        )

    return _Signal(
        "xray-retries",
        grid,
        keys,
        holds,
        requests,
        work,
        retries,
        futile,
        s.edge_min_periods,
        s.edge_max_gap,
        describe,
        {"throttles": m["throttles"], "faults": m["faults"], "errors": m["errors"]},
        group="downstream",
    )


# -- findings ------------------------------------------------------------------------------------


def _findings(signal: _Signal, s: RetryStormSettings) -> list[Finding]:
    out: list[Finding] = []
    grid, keys = signal.grid, signal.keys
    active = np.flatnonzero(signal.holds.any(axis=1))
    found: dict[int, list[Run]] = {}
    for index in active.tolist():
        gap = signal.max_gap if signal.gaps is None else signal.gaps[index]
        found_runs = runs(signal.holds[index], min_periods=signal.min_periods, max_gap=gap)
        if found_runs:
            found[index] = found_runs
    if not found:
        return out
    # Callers per hammered downstream: rows of one (account, region, downstream).
    group_rows: dict[tuple[Any, ...], list[int]] = {}
    if signal.group is not None:
        for row in found:
            key = (keys.at[row, "account"], keys.at[row, "region"], keys.at[row, signal.group])
            group_rows.setdefault(key, []).append(row)
    for row, row_runs in found.items():
        record = keys.iloc[row]
        for run in row_runs:
            span = slice(run.first, run.last + 1)
            holding = signal.holds[row, span]
            attempts = signal.attempts[row, span]
            work = signal.work[row, span]
            peak = peak_ratio(attempts, work, signal.min_periods)
            rank = level(peak, s.severity_amplification)
            futile = bool(np.any(signal.futile[row, span] & holding))
            if futile:
                rank = min(rank + 1, len(SEVERITIES) - 1)
            start, end, detected = grid.times(run)
            periods = run.last - run.first + 1
            evidence: dict[str, Any] = {
                "signal": signal.name,
                "peak_amplification": number(round(peak, 2)),
                "retries": number(float(signal.retries[row, span].sum())),
                "peak_retries": number(float(signal.retries[row, span].max())),
                "attempts": number(float(attempts.sum())),
                "work": number(float(work.sum())),
                "holding_periods": int(holding.sum()),
                "period_s": grid.period_s,
                "futile": futile,
            }
            for name, values in signal.extra.items():
                evidence[name] = number(float(values[row, span].sum()))
            if signal.group is not None:
                key = (record["account"], record["region"], record[signal.group])
                callers = sorted(
                    {
                        str(keys.at[other, "caller"])
                        for other in group_rows.get(key, [row])
                        if other == row or signal.holds[other, span].any()
                    }
                )
                evidence["callers"] = callers
                evidence["caller"] = str(record["caller"])
            for column in ("consumers", "targets"):
                if column in keys.columns:
                    evidence[column] = list(record[column])
            downstream = record["downstream"]
            downstream = None if downstream is None or pd.isna(downstream) else str(downstream)
            evidence["resource"] = str(record["resource"])
            evidence["downstream"] = downstream
            evidence["duration"] = duration(periods * grid.period_s)
            summary = signal.describe(evidence)
            for transient in ("resource", "downstream", "duration", "caller"):
                evidence.pop(transient, None)
            evidence["thresholds"] = _thresholds(signal.name, s)
            out.append(
                Finding(
                    kind=KIND,
                    account=str(record["account"]),
                    region=str(record["region"]),
                    resource=str(record["resource"]),
                    start=start,
                    end=end,
                    severity=SEVERITIES[rank],
                    summary=summary,
                    downstream=downstream,
                    evidence=evidence,
                    detected_at=detected,
                )
            )
    return out


def _thresholds(signal: str, s: RetryStormSettings) -> dict[str, float | int]:
    if signal == "xray-retries":
        return {
            "min_retries": number(s.edge_min_retries),
            "amplification_min": number(s.amplification_min),
            "min_periods": s.edge_min_periods,
        }
    if signal == "eventbridge-retries":
        return {
            "min_retries": number(s.min_retries),
            "retry_fraction_min": number(s.events_retry_fraction_min),
            "min_periods": s.min_periods,
        }
    return {
        "min_retries": number(s.min_retries),
        "amplification_min": number(s.amplification_min),
        "min_periods": s.min_periods,
    }


def detect_retry_storms(
    metrics: pd.DataFrame,
    edges: pd.DataFrame,
    inventory: pd.DataFrame,
    *,
    now: pd.Timestamp,
    settings: RetryStormSettings = RetryStormSettings(),
) -> list[Finding]:
    """Retry storms in the store's ``metrics`` and ``edges`` up to ``now``, named with help of
    the ``inventory``; one finding per signal, series and run (see the module docstring).
    Sorted by start, then account, region, resource, downstream and signal."""
    s = settings
    now = utc(now)
    names = _names(inventory)
    app = s.app
    store = MetricStore(metrics)
    app_rows = store.select(
        app.namespace,
        (app.calls, app.attempts, app.retries, app.failures, app.short_circuited),
        app.stat,
        s.period_s,
    )
    signals = [
        _sdk_signal(store, app_rows, now, s),
        _edges_signal(edges, names, now, s),
        _sqs_signal(store, names, now, s),
        _events_signal(store, names, now, s),
        _async_signal(store, now, s) if s.async_retries else None,
    ]
    found = [f for signal in signals if signal is not None for f in _findings(signal, s)]
    return sorted(found, key=finding_order)
